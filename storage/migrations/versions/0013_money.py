"""Wallet offers and Cashfree payment orders.

`wallet_offers`: admin-managed recharge packs (pay `amount`, get `bonus_amount` on top), integer
paise, valid on IST calendar days `valid_from`..`valid_until`.

`payment_orders`: one row per top-up order, keyed by the order id we generate and send to Cashfree.
The row is written only once Cashfree has accepted the order, so a provider failure leaves nothing
that could be credited. PENDING → PAID | FAILED | AMOUNT_MISMATCH by conditional UPDATEs; the credit
itself is the wallet ledger's, referenced by the order id (uq_wallet_transactions_reference makes it
once). `next_check_at` is the reconciliation job's claim: a process takes due rows with SKIP LOCKED
and moves the time forward, so several processes never ask Cashfree about the same order at once.

Revision ID: 0013_money
Revises: 0012_audit_log
"""
from alembic import op

revision = "0013_money"
down_revision = "0012_audit_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE wallet_offers (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        title text NOT NULL,
        description text,
        amount bigint NOT NULL,
        bonus_amount bigint NOT NULL DEFAULT 0,
        valid_from date NOT NULL,
        valid_until date NOT NULL,
        is_active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_wallet_offers_amount CHECK (amount > 0),
        CONSTRAINT ck_wallet_offers_bonus_amount CHECK (bonus_amount >= 0),
        CONSTRAINT ck_wallet_offers_validity CHECK (valid_from <= valid_until)
    )""")
    op.execute("CREATE INDEX ix_wallet_offers_valid ON wallet_offers (valid_until, valid_from) WHERE is_active")
    op.execute("""
    CREATE TABLE payment_orders (
        id text PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id),
        provider text NOT NULL,
        amount bigint NOT NULL,
        bonus_amount bigint NOT NULL DEFAULT 0,
        offer_id uuid REFERENCES wallet_offers(id),
        status text NOT NULL DEFAULT 'PENDING',
        payment_session_id text NOT NULL,
        provider_order_id text,
        provider_payment_id text,
        paid_amount bigint,
        failure_reason text,
        expires_at timestamptz NOT NULL,
        next_check_at timestamptz NOT NULL,
        settled_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_payment_orders_amount CHECK (amount >= 100),
        CONSTRAINT ck_payment_orders_bonus_amount CHECK (bonus_amount >= 0),
        CONSTRAINT ck_payment_orders_status CHECK (status IN ('PENDING','PAID','FAILED','AMOUNT_MISMATCH'))
    )""")
    op.execute("CREATE INDEX ix_payment_orders_user ON payment_orders (user_id, created_at DESC)")
    op.execute("CREATE INDEX ix_payment_orders_offer ON payment_orders (offer_id) WHERE offer_id IS NOT NULL")
    op.execute("CREATE INDEX ix_payment_orders_due ON payment_orders (next_check_at) WHERE status = 'PENDING'")


def downgrade() -> None:
    op.execute("DROP TABLE payment_orders")
    op.execute("DROP TABLE wallet_offers")
