"""Password logins: looking up doctors and admins by what they type, and the admin's own profile
(SQL text on the driver)."""
from __future__ import annotations

import uuid
from typing import Any

from storage.pool import Connection

from storage import driver

Row = dict[str, Any]
ADMIN_PROFILE_FIELDS = "id, username, email, full_name, is_active, created_at"

_DOCTOR_BY_EMAIL = "SELECT id, password_hash, is_active FROM doctors WHERE lower(email) = $1"
# An admin signs in with the username or the email; a username match wins over an email match.
_ADMIN_BY_LOGIN = """SELECT id, password_hash, is_active FROM admins
WHERE username = $1 OR lower(email) = $2
ORDER BY CASE WHEN username = $1 THEN 0 ELSE 1 END LIMIT 1"""
_ADMIN_PROFILE = f"SELECT {ADMIN_PROFILE_FIELDS} FROM admins WHERE id = $1"


async def doctor_by_email(conn: Connection, email: str) -> Row | None:
    """id, password_hash, is_active of the doctor with this email (any case)."""
    row = await driver.fetchrow(conn, _DOCTOR_BY_EMAIL, email.lower())
    return dict(row) if row else None


async def admin_by_login(conn: Connection, login: str) -> Row | None:
    """id, password_hash, is_active of the admin with this username, else with this email (any case)."""
    row = await driver.fetchrow(conn, _ADMIN_BY_LOGIN, login, login.lower())
    return dict(row) if row else None


async def admin_profile(conn: Connection, admin_id: uuid.UUID) -> Row | None:
    row = await driver.fetchrow(conn, _ADMIN_PROFILE, admin_id)
    return dict(row) if row else None
