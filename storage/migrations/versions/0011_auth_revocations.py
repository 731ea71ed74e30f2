"""Revocations as an ordered log: what every server process's in-memory view of revoked access tokens
and inactive accounts is built from (gateway.auth: authentication then costs no round trip).

`auth_revocations` holds one row per fact:

- `token`    ref = an access token's jti (logout), until that token's expiry;
- `family`   ref = a login's family id (logout, refresh-token reuse, password change): every access
             token carrying it (`fam` claim) is refused, until the last of them has expired;
- `subject`  ref = an account id, `role`: tokens of that account issued before `not_before` are
             refused (password change; a deleted account, for a day);
- `inactive` / `active`: ref = an account id, `role`: its `is_active` changed (written by triggers on
             users, doctors and admins, whatever wrote the change: the API, an operator's SQL).

Ids become visible in id order: every insert takes one transaction-level advisory lock before it
draws its id (trigger `auth_revocations_in_order`), so a writer's id is larger than every id
committed before it and no smaller id can commit after it. A reader that has seen id N has seen
everything up to N; the processes poll `id > N` (gateway.auth.RevocationView). Revocations are rare
(logout, reuse, admin changes), so the one lock is never contended in practice; it is taken by the
insert, so a transaction should write its revocations last.

Also `ix_users_inactive`: the view's full load lists inactive accounts without reading all users.

Revision ID: 0011_auth_revocations
Revises: 0010_no_outbox_notify
"""
from alembic import op

revision = "0011_auth_revocations"
down_revision = "0010_no_outbox_notify"
branch_labels = None
depends_on = None

REVOCATION_LOCK = 4714262109912711538  # "AllignAr"; gateway.bus_relay's leader lock is "AllignBv"
ACCOUNT_TABLES = (("users", "client"), ("doctors", "doctor"), ("admins", "admin"))


def upgrade() -> None:
    op.execute("CREATE SEQUENCE auth_revocations_id_seq AS bigint")
    op.execute("""
    CREATE TABLE auth_revocations (
        id bigint PRIMARY KEY,
        kind text NOT NULL,
        ref uuid NOT NULL,
        role text,
        not_before timestamptz,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ck_auth_revocations_kind CHECK (kind IN ('token', 'family', 'subject', 'inactive', 'active'))
    )""")
    op.execute("CREATE INDEX ix_auth_revocations_ref ON auth_revocations (ref)")
    op.execute("CREATE INDEX ix_auth_revocations_expires_at ON auth_revocations (expires_at)")
    op.execute("CREATE INDEX ix_users_inactive ON users (id) WHERE NOT is_active")
    op.execute(f"""
    CREATE FUNCTION auth_revocations_in_order() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock({REVOCATION_LOCK});
        NEW.id := nextval('auth_revocations_id_seq');
        RETURN NEW;
    END $$""")
    op.execute("""CREATE TRIGGER auth_revocations_in_order BEFORE INSERT ON auth_revocations
                  FOR EACH ROW EXECUTE FUNCTION auth_revocations_in_order()""")
    op.execute("""
    CREATE FUNCTION account_access_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO auth_revocations (kind, ref, role, not_before, expires_at)
            VALUES ('subject', OLD.id, TG_ARGV[0], now() + interval '1 day', now() + interval '1 day');
        ELSE
            INSERT INTO auth_revocations (kind, ref, role, expires_at)
            VALUES (CASE WHEN NEW.is_active THEN 'active' ELSE 'inactive' END, NEW.id, TG_ARGV[0],
                    now() + interval '1 hour');
        END IF;
        RETURN NULL;
    END $$""")
    for table, role in ACCOUNT_TABLES:
        op.execute(f"""CREATE TRIGGER {table}_access_insert AFTER INSERT ON {table} FOR EACH ROW
                       WHEN (NOT NEW.is_active) EXECUTE FUNCTION account_access_changed('{role}')""")
        op.execute(f"""CREATE TRIGGER {table}_access_update AFTER UPDATE OF is_active ON {table} FOR EACH ROW
                       WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active)
                       EXECUTE FUNCTION account_access_changed('{role}')""")
        op.execute(f"""CREATE TRIGGER {table}_access_delete AFTER DELETE ON {table} FOR EACH ROW
                       EXECUTE FUNCTION account_access_changed('{role}')""")


def downgrade() -> None:
    for table, _ in ACCOUNT_TABLES:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_access_{event} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS account_access_changed()")
    op.execute("DROP INDEX IF EXISTS ix_users_inactive")
    op.execute("DROP TABLE IF EXISTS auth_revocations")
    op.execute("DROP FUNCTION IF EXISTS auth_revocations_in_order()")
    op.execute("DROP SEQUENCE IF EXISTS auth_revocations_id_seq")
