"""The admin console's view of accounts: patients (users) and doctors in one newest-first list, and a
patient's activity switch (SQL text on the driver). A doctor's row is read and written through
storage.doctors; a patient's profile through storage.users."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage import driver
from storage.pool import Connection
from storage.tables import users

Row = dict[str, Any]
_USER_FIELDS = ", ".join(c.name for c in users.c)

# Both account tables as one: the columns the console's list shows. Doctors have no phone.
_ACCOUNTS = """
SELECT id, 'client' AS role, full_name, email, phone, is_active, created_at FROM users
UNION ALL
SELECT id, 'doctor' AS role, full_name, email, NULL AS phone, is_active, created_at FROM doctors"""
# $1 role (NULL: both), $2 is_active (NULL: both), $3 a LIKE pattern on name or email (NULL: no
# text filter), $4 a LIKE pattern on the phone's digits (NULL: the name/email pattern alone).
# Phones are E.164 ("+" and digits), so a run of digits is a substring of the stored text.
_WHERE = """($1::text IS NULL OR role = $1) AND ($2::boolean IS NULL OR is_active = $2)
    AND ($3::text IS NULL OR full_name ILIKE $3 OR email ILIKE $3 OR phone LIKE $4::text)"""
_COUNT = f"SELECT count(*) FROM ({_ACCOUNTS}) AS accounts WHERE {_WHERE}"
_PAGE = f"""SELECT * FROM ({_ACCOUNTS}) AS accounts WHERE {_WHERE}
ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6"""
_ROLE_OF = """SELECT 'client' FROM users WHERE id = $1
UNION ALL SELECT 'doctor' FROM doctors WHERE id = $1 LIMIT 1"""
_SET_ACTIVE = f"UPDATE users SET is_active = $2, updated_at = $3 WHERE id = $1 RETURNING {_USER_FIELDS}"


def contains(q: str) -> str:
    """A LIKE pattern matching `q` anywhere, its wildcards taken literally (backslash escapes)."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def accounts_page(conn: Connection, *, role: str | None, is_active: bool | None, q: str | None,
                        phone_digits: str | None, limit: int, offset: int) -> tuple[list[Row], int]:
    """Patients and doctors, newest first; `q` matches name or email anywhere, and `phone_digits`
    (when given) a patient's phone."""
    where = (role, is_active, contains(q) if q else None, contains(phone_digits) if q and phone_digits else None)
    total = await driver.fetchval(conn, _COUNT, *where)
    rows = await driver.fetch(conn, _PAGE, *where, limit, offset)
    return [dict(r) for r in rows], int(total or 0)


async def role_of(conn: Connection, account_id: uuid.UUID) -> str | None:
    """'client' or 'doctor' for an account the console manages, None for any other id."""
    return await driver.fetchval(conn, _ROLE_OF, account_id)


async def set_user_active(conn: Connection, user_id: uuid.UUID, is_active: bool,
                          now: dt.datetime) -> Row | None:
    """Switch a patient on or off (a trigger logs the change for every process's token check)."""
    row = await driver.fetchrow(conn, _SET_ACTIVE, user_id, is_active, now, begin=True)
    return dict(row) if row else None
