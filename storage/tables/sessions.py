"""Connect sessions, follow-ups and the wallet ledger (schema: migrations 0002, 0003)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from storage.tables.base import created_at, metadata, updated_at, uuid_pk

SESSION_STATUSES = ("REQUESTED", "ONGOING", "ENDED", "REJECTED", "EXPIRED", "CANCELLED")

connect_sessions = sa.Table(
    "connect_sessions", metadata,
    uuid_pk(),
    sa.Column("patient_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("doctor_id", UUID(as_uuid=True), sa.ForeignKey("doctors.id"), nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="REQUESTED"),
    sa.Column("category", sa.Text),
    sa.Column("symptoms", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("active_treatment", sa.Text),
    sa.Column("medical_history", sa.Text),
    sa.Column("rate_per_minute", sa.Integer, nullable=False),
    sa.Column("room_name", sa.Text, nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("ended_by", sa.Text),
    sa.Column("end_reason", sa.Text),
    sa.Column("end_note", sa.Text),
    sa.Column("duration_seconds", sa.Float),
    sa.Column("billed_minutes", sa.Integer),
    sa.Column("billed_amount", sa.BigInteger),
    sa.Column("video_permission_state", sa.Text, nullable=False, server_default="NOT_ALLOWED"),
    sa.Column("patient_video_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("consent_round", sa.Integer, nullable=False, server_default="0"),
    created_at(),
    updated_at(),
    sa.CheckConstraint("status IN ('REQUESTED','ONGOING','ENDED','REJECTED','EXPIRED','CANCELLED')", name="status"),
    sa.CheckConstraint("video_permission_state IN "
                       "('NOT_ALLOWED','ALLOWED_BY_DOCTOR','VIDEO_ON','VIDEO_OFF','DECLINED_BY_PATIENT')",
                       name="video"),
)
# One active (REQUESTED/ONGOING) session per patient, enforced by the database (and the arbiter of
# the new-request INSERT's ON CONFLICT, storage.sessions).
sa.Index("uq_connect_sessions_patient_active", connect_sessions.c.patient_id, unique=True,
         postgresql_where=connect_sessions.c.status.in_(("REQUESTED", "ONGOING")))
sa.Index("ix_connect_sessions_doctor", connect_sessions.c.doctor_id, connect_sessions.c.status,
         connect_sessions.c.requested_at)
sa.Index("ix_connect_sessions_patient", connect_sessions.c.patient_id, connect_sessions.c.requested_at)
sa.Index("ix_connect_sessions_expiry", connect_sessions.c.expires_at,
         postgresql_where=connect_sessions.c.status == "REQUESTED")
# Dashboard: "sessions started today" per doctor.
sa.Index("ix_connect_sessions_doctor_started", connect_sessions.c.doctor_id, connect_sessions.c.started_at,
         postgresql_where=connect_sessions.c.started_at.is_not(None))
# Doctor performance: a doctor's ended sessions by end time, with what was billed (migration 0014).
sa.Index("ix_connect_sessions_doctor_ended", connect_sessions.c.doctor_id, connect_sessions.c.ended_at,
         postgresql_include=["billed_minutes", "billed_amount"], postgresql_where=connect_sessions.c.status == "ENDED")

followups = sa.Table(
    "followups", metadata,
    uuid_pk(),
    sa.Column("parent_session_id", UUID(as_uuid=True), sa.ForeignKey("connect_sessions.id"), nullable=False),
    sa.Column("doctor_id", UUID(as_uuid=True), sa.ForeignKey("doctors.id"), nullable=False),
    sa.Column("patient_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="PENDING_PATIENT"),
    sa.Column("scheduled_date", sa.Date, nullable=False),
    sa.Column("scheduled_time", sa.Time),
    sa.Column("scheduled_timezone", sa.Text, nullable=False, server_default="Asia/Kolkata"),
    sa.Column("proposed_date", sa.Date),
    sa.Column("proposed_time", sa.Time),
    sa.Column("cancel_reason", sa.Text),
    sa.Column("reminder_sent_at", sa.DateTime(timezone=True)),
    created_at(),
    updated_at(),
    # Migration 0014: every transition is conditional on the version it read; `past_at` (its time, or
    # the end of its day without one) and `remind_at` are fixed whenever the schedule is set.
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("cancelled_by", sa.Text),
    sa.Column("past_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("remind_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('PENDING_PATIENT','ACCEPTED','REJECTED','RESCHEDULE_REQUESTED','CANCELLED')",
                       name="status"),
    sa.CheckConstraint("cancelled_by IS NULL OR cancelled_by IN ('client','doctor')", name="cancelled_by"),
)
sa.Index("ix_followups_parent", followups.c.parent_session_id)
# One open follow-up per parent session (migration 0014).
sa.Index("uq_followups_parent_open", followups.c.parent_session_id, unique=True,
         postgresql_where=followups.c.status.in_(("PENDING_PATIENT", "RESCHEDULE_REQUESTED", "ACCEPTED")))
sa.Index("ix_followups_patient", followups.c.patient_id, followups.c.past_at)
sa.Index("ix_followups_doctor", followups.c.doctor_id, followups.c.past_at)
# Exactly the follow-ups the reminder job still has to look at.
sa.Index("ix_followups_reminder_due", followups.c.remind_at,
         postgresql_where=sa.and_(followups.c.status == "ACCEPTED", followups.c.reminder_sent_at.is_(None)))

wallets = sa.Table(
    "wallets", metadata,
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("balance", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    updated_at(),
    sa.CheckConstraint("balance >= 0", name="non_negative"),
)

wallet_transactions = sa.Table(
    "wallet_transactions", metadata,
    uuid_pk(),
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),  # signed: credits > 0, debits < 0
    sa.Column("kind", sa.Text, nullable=False),  # recharge | bonus | session | adjustment | refund
    sa.Column("balance_after", sa.BigInteger, nullable=False),
    sa.Column("reference_type", sa.Text),
    sa.Column("reference_id", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("created_by", UUID(as_uuid=True)),
    created_at(),
    sa.CheckConstraint("amount <> 0", name="amount"),
    sa.CheckConstraint("kind IN ('recharge','bonus','session','adjustment','refund')", name="kind"),
)
sa.Index("ix_wallet_transactions_user", wallet_transactions.c.user_id, wallet_transactions.c.created_at.desc())
# A session is billed once, a payment credited once: one ledger row per (kind, reference).
sa.Index("uq_wallet_transactions_reference", wallet_transactions.c.kind, wallet_transactions.c.reference_type,
         wallet_transactions.c.reference_id, unique=True,
         postgresql_where=wallet_transactions.c.reference_id.is_not(None))
