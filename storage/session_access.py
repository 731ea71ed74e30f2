"""Who may touch a session: the one place that decides participant access (foreign → 404)."""
from __future__ import annotations

import uuid
from typing import Any

from storage.pool import Connection

from domain.errors import NotFound
from storage import driver
from storage.tables import connect_sessions

# The column naming the caller in the sessions of each role; other roles take part in none.
_PARTICIPANT_COLUMN = {"client": "patient_id", "doctor": "doctor_id"}


def participant_sql(role: str, alias: str, param: int) -> str:
    """SQL text: the session `alias` has the subject $`param` as its `role` participant. Only for the
    participant roles (others take part in no session: look the role up before building a statement)."""
    return f"{alias}.{_PARTICIPANT_COLUMN[role]} = ${param}"


def session_not_found() -> NotFound:
    return NotFound("Session not found", code="SESSION_NOT_FOUND")


# Every request on a session starts here: SQL text on the driver (see storage.driver).
_COLUMNS = ", ".join(f"s.{c.name}" for c in connect_sessions.c)
_SELECT = {(role, lock): f"SELECT {_COLUMNS} FROM connect_sessions s WHERE s.id = $1 AND "
                        f"{participant_sql(role, 's', 2)}{' FOR UPDATE' if lock else ''}"
           for role in _PARTICIPANT_COLUMN for lock in (False, True)}


async def session_for_participant(conn: Connection, session_id: uuid.UUID, role: str,
                                  subject_id: uuid.UUID, *, lock: bool = False) -> dict[str, Any]:
    """The session row if the caller is its patient or doctor, else NotFound (never reveal it exists).

    `lock=True` takes a row lock (SELECT ... FOR UPDATE) for a state change in the caller's
    transaction (begun here if the connection has none, as SQLAlchemy's autobegin would).
    """
    query = _SELECT.get((role, lock))
    row = await driver.fetchrow(conn, query, session_id, subject_id, begin=lock) if query else None
    if row is None:
        raise session_not_found()
    return dict(row)
