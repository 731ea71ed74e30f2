"""The admin audit log (append-only).

One row per admin write and per admin read of a patient's data, written in the same transaction as
the write (services.audit). The trigger `audit_log_append_only` refuses UPDATE and DELETE, and a
statement trigger refuses TRUNCATE, for every role, the application's included: the log cannot be
edited through the API's connection, whatever SQL runs on it.

Revision ID: 0012_audit_log
Revises: 0011_auth_revocations
"""
from alembic import op

revision = "0012_audit_log"
down_revision = "0011_auth_revocations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE audit_log (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        actor_id uuid NOT NULL,
        actor_role text NOT NULL,
        action text NOT NULL,
        target_type text NOT NULL,
        target_id text,
        request_id text,
        ip inet,
        changed_fields text[] NOT NULL DEFAULT '{}'::text[],
        created_at timestamptz NOT NULL DEFAULT now()
    )""")
    op.execute("CREATE INDEX ix_audit_log_created ON audit_log (created_at DESC, id DESC)")
    op.execute("CREATE INDEX ix_audit_log_actor ON audit_log (actor_id, created_at DESC)")
    op.execute("CREATE INDEX ix_audit_log_target ON audit_log (target_type, target_id, created_at DESC)")
    op.execute("""
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$""")
    op.execute("""CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
                  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""")
    op.execute("""CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
                  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""")


def downgrade() -> None:
    op.execute("DROP TABLE audit_log")
    op.execute("DROP FUNCTION audit_log_append_only()")
