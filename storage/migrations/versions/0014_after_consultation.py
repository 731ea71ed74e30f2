"""Reviews, replies, follow-ups and their reminders, analytics indexes.

- `reviews.reply_updated_at`: when the doctor last edited the reply (`replied_at` is the first reply).
  The doctor's list index also carries `rating` and `replied_at`, so the review analytics of one doctor
  (metrics, trends, distribution) are index-only scans.
- `review_reminders`: one row per session whose patient a doctor reminded to leave a review; the
  reminder claims it with a conditional upsert (at most one per 24 h, whatever runs concurrently).
- `followups`: `version` (every transition is one UPDATE conditional on the version read, so two
  racing actions cannot both win), `cancelled_by`, and two instants fixed when the schedule is set:
  `past_at` (the follow-up's time, or the end of its day in its zone when it has no time: from then on
  it is past) and `remind_at` (when the reminder job sends `followup.reminder`). At most one open
  follow-up (PENDING_PATIENT, RESCHEDULE_REQUESTED, ACCEPTED) per parent session.
- `connect_sessions`: the ended sessions of a doctor by end time, with what was billed (performance).
- `prescriptions.diagnosis` / `advice`: the provisional diagnosis and advice the Telemedicine Practice
  Guidelines' prescription format asks for.

Revision ID: 0014_after_consultation
Revises: 0013_money
"""
from alembic import op

revision = "0014_after_consultation"
down_revision = "0013_money"
branch_labels = None
depends_on = None

OPEN = "('PENDING_PATIENT','RESCHEDULE_REQUESTED','ACCEPTED')"


def upgrade() -> None:
    op.execute("ALTER TABLE reviews ADD COLUMN reply_updated_at timestamptz")
    op.execute("DROP INDEX ix_reviews_doctor_created")
    op.execute("""CREATE INDEX ix_reviews_doctor_created ON reviews (doctor_id, created_at DESC, id DESC)
                  INCLUDE (rating, replied_at)""")
    op.execute("""
    CREATE TABLE review_reminders (
        session_id uuid PRIMARY KEY REFERENCES connect_sessions(id) ON DELETE CASCADE,
        sent_at timestamptz NOT NULL,
        sent_count integer NOT NULL DEFAULT 1
    )""")

    op.execute("ALTER TABLE followups ADD COLUMN version integer NOT NULL DEFAULT 1")
    op.execute("ALTER TABLE followups ADD COLUMN cancelled_by text")
    op.execute("ALTER TABLE followups ADD CONSTRAINT ck_followups_cancelled_by "
               "CHECK (cancelled_by IS NULL OR cancelled_by IN ('client','doctor'))")
    op.execute("ALTER TABLE followups ADD COLUMN past_at timestamptz")
    op.execute("ALTER TABLE followups ADD COLUMN remind_at timestamptz")
    # Rows written before: the same instants the application computes (reminded an hour before, or
    # at 09:00 of the day when there is no time).
    op.execute("""
    UPDATE followups SET
        past_at = CASE WHEN scheduled_time IS NULL
                       THEN (scheduled_date + 1)::timestamp AT TIME ZONE scheduled_timezone
                       ELSE (scheduled_date + scheduled_time) AT TIME ZONE scheduled_timezone END,
        remind_at = CASE WHEN scheduled_time IS NULL
                         THEN (scheduled_date + time '09:00') AT TIME ZONE scheduled_timezone
                         ELSE (scheduled_date + scheduled_time) AT TIME ZONE scheduled_timezone - interval '1 hour' END""")
    op.execute("ALTER TABLE followups ALTER COLUMN past_at SET NOT NULL")
    op.execute("ALTER TABLE followups ALTER COLUMN remind_at SET NOT NULL")
    op.execute(f"CREATE UNIQUE INDEX uq_followups_parent_open ON followups (parent_session_id) WHERE status IN {OPEN}")
    op.execute("CREATE INDEX ix_followups_patient ON followups (patient_id, past_at)")
    op.execute("CREATE INDEX ix_followups_doctor ON followups (doctor_id, past_at)")
    # Exactly the follow-ups the reminder job still has to look at.
    op.execute("""CREATE INDEX ix_followups_reminder_due ON followups (remind_at)
                  WHERE status = 'ACCEPTED' AND reminder_sent_at IS NULL""")

    op.execute("""CREATE INDEX ix_connect_sessions_doctor_ended ON connect_sessions (doctor_id, ended_at)
                  INCLUDE (billed_minutes, billed_amount) WHERE status = 'ENDED'""")

    op.execute("ALTER TABLE prescriptions ADD COLUMN diagnosis text")
    op.execute("ALTER TABLE prescriptions ADD COLUMN advice text")
    op.execute("ALTER TABLE prescriptions ADD CONSTRAINT ck_prescriptions_diagnosis "
               "CHECK (char_length(diagnosis) <= 500)")
    op.execute("ALTER TABLE prescriptions ADD CONSTRAINT ck_prescriptions_advice CHECK (char_length(advice) <= 2000)")


def downgrade() -> None:
    op.execute("ALTER TABLE prescriptions DROP CONSTRAINT IF EXISTS ck_prescriptions_advice")
    op.execute("ALTER TABLE prescriptions DROP CONSTRAINT IF EXISTS ck_prescriptions_diagnosis")
    op.execute("ALTER TABLE prescriptions DROP COLUMN IF EXISTS advice")
    op.execute("ALTER TABLE prescriptions DROP COLUMN IF EXISTS diagnosis")
    op.execute("DROP INDEX IF EXISTS ix_connect_sessions_doctor_ended")
    for index in ("ix_followups_reminder_due", "ix_followups_doctor", "ix_followups_patient",
                  "uq_followups_parent_open"):
        op.execute(f"DROP INDEX IF EXISTS {index}")
    for column in ("remind_at", "past_at", "cancelled_by", "version"):
        op.execute(f"ALTER TABLE followups DROP COLUMN IF EXISTS {column}")
    op.execute("DROP TABLE IF EXISTS review_reminders")
    op.execute("DROP INDEX IF EXISTS ix_reviews_doctor_created")
    op.execute("CREATE INDEX ix_reviews_doctor_created ON reviews (doctor_id, created_at DESC, id DESC)")
    op.execute("ALTER TABLE reviews DROP COLUMN IF EXISTS reply_updated_at")
