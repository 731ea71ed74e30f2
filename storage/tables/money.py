"""Wallet offers and payment orders (schema: migration 0013)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from storage.tables.base import created_at, metadata, updated_at, uuid_pk

wallet_offers = sa.Table(
    "wallet_offers", metadata,
    uuid_pk(),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("amount", sa.BigInteger, nullable=False),           # paise paid
    sa.Column("bonus_amount", sa.BigInteger, nullable=False, server_default=sa.text("0")),  # paise on top
    sa.Column("valid_from", sa.Date, nullable=False),             # IST calendar days, inclusive
    sa.Column("valid_until", sa.Date, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    created_at(),
    updated_at(),
    sa.CheckConstraint("amount > 0", name="amount"),
    sa.CheckConstraint("bonus_amount >= 0", name="bonus_amount"),
    sa.CheckConstraint("valid_from <= valid_until", name="validity"),
)
sa.Index("ix_wallet_offers_valid", wallet_offers.c.valid_until, wallet_offers.c.valid_from,
         postgresql_where=wallet_offers.c.is_active)

payment_orders = sa.Table(
    "payment_orders", metadata,
    sa.Column("id", sa.Text, primary_key=True),                   # our order id, sent to Cashfree
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("provider", sa.Text, nullable=False),               # cashfree | local
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("bonus_amount", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("offer_id", UUID(as_uuid=True), sa.ForeignKey("wallet_offers.id")),
    sa.Column("status", sa.Text, nullable=False, server_default="PENDING"),
    sa.Column("payment_session_id", sa.Text, nullable=False),
    sa.Column("provider_order_id", sa.Text),                      # Cashfree's cf_order_id
    sa.Column("provider_payment_id", sa.Text),                    # the successful cf_payment_id
    sa.Column("paid_amount", sa.BigInteger),                      # what the provider reported paid
    sa.Column("failure_reason", sa.Text),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=False),  # reconciliation claim
    sa.Column("settled_at", sa.DateTime(timezone=True)),
    created_at(),
    updated_at(),
    sa.CheckConstraint("amount >= 100", name="amount"),
    sa.CheckConstraint("bonus_amount >= 0", name="bonus_amount"),
    sa.CheckConstraint("status IN ('PENDING','PAID','FAILED','AMOUNT_MISMATCH')", name="status"),
)
sa.Index("ix_payment_orders_user", payment_orders.c.user_id, payment_orders.c.created_at.desc())
sa.Index("ix_payment_orders_offer", payment_orders.c.offer_id,
         postgresql_where=payment_orders.c.offer_id.is_not(None))
sa.Index("ix_payment_orders_due", payment_orders.c.next_check_at,
         postgresql_where=payment_orders.c.status == "PENDING")
