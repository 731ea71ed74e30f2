"""REST handlers, one module per domain of the contract. Each exposes `routes` (paths without /api/v2)."""
from handlers import (
    admin, attachments, auth, catalogs, categories, clinical, devices, doctor_dashboard, doctors,
    health, messages, recordings, reports, session_stream, session_ws, sessions, users, video, wallet,
    webhooks,
)

MODULES = [
    health, auth, users, doctors, doctor_dashboard, categories, catalogs, sessions, session_stream,
    wallet, admin, messages, session_ws, video, devices, attachments, reports, recordings, clinical,
    webhooks,
]
