"""REST handlers, one module per domain of the contract. Each exposes `routes` (paths without /api/v2)."""
from handlers import (
    admin_categories,
    admin_wallet,
    attachments,
    auth,
    avatars,
    blob_local,
    catalogs,
    categories,
    clinical,
    devices,
    doctor_dashboard,
    doctors,
    health,
    messages,
    recordings,
    reports,
    session_stream,
    session_ws,
    sessions,
    users,
    video,
    wallet,
    webhooks,
)

MODULES = [
    health, auth, users, doctors, doctor_dashboard, categories, catalogs, sessions, session_stream,
    wallet, admin_wallet, admin_categories, messages, session_ws, video, devices, attachments, avatars, reports,
    recordings, clinical,
    webhooks, blob_local,
]
