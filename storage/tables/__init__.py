"""All tables, one module per domain. Import tables from here."""
from storage.tables.base import metadata
from storage.tables.accounts import (
    admins, auth_revocations, auth_revocations_id_seq, otp_codes, refresh_tokens, users,
)
from storage.tables.audit import audit_log
from storage.tables.community import community_articles, community_events
from storage.tables.catalogs import (
    lab_test_aliases, lab_tests, medicine_names, medicine_salt_names, medicine_salts, medicines,
)
from storage.tables.doctors import (
    doctor_search_fields, doctor_search_terms, doctors, favourites, health_categories, review_reminders, reviews,
)
from storage.tables.events import event_bus_seq, event_outbox, notifications
from storage.tables.files import (
    attachments, lab_test_recommendations, prescriptions, recordings, session_reports,
)
from storage.tables.messaging import call_sessions, device_tokens, messages
from storage.tables.money import payment_orders, wallet_offers
from storage.tables.sessions import connect_sessions, followups, wallet_transactions, wallets

__all__ = [
    "metadata", "audit_log", "admins", "auth_revocations", "auth_revocations_id_seq", "otp_codes", "refresh_tokens", "users",
    "doctors", "favourites",
    "health_categories", "reviews", "review_reminders", "doctor_search_terms", "doctor_search_fields",
    "event_bus_seq", "event_outbox", "notifications", "connect_sessions", "followups", "wallet_transactions", "wallets",
    "messages", "call_sessions", "device_tokens", "wallet_offers", "payment_orders",
    "medicines", "medicine_names", "medicine_salts", "medicine_salt_names", "lab_tests", "lab_test_aliases",
    "attachments", "session_reports", "recordings", "prescriptions", "lab_test_recommendations",
    "community_articles", "community_events",
]
