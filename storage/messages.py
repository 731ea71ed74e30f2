"""Session message rows: the send's read and its one-statement write (message, event and push
together), receipts, and the reads of the history. SQL text on the driver (storage.driver), prepared
once per connection. Who may send what when, and who is told, live in domain.messages and
services.messages.

Order within a session is (created_at, seq); a send locks the session row until it commits, so seq
order is also commit order inside one session, which is what a reconnecting websocket relies on.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from storage.pool import Connection

from domain.sessions import ONGOING
from storage import driver, events
from storage.session_access import participant_sql
from storage.tables import messages

Row = dict[str, Any]
# A place in a session's order, exclusive: (created_at, seq). A point in time has no seq (None):
# the row comparison is then unknown for messages of that very instant, which are left out either way.
Position = tuple[dt.datetime, int | None]

_FIELDS = ", ".join(c.name for c in messages.c)
# Where each sender role's display name lives (for the push text).
_NAMES = {"client": "users", "doctor": "doctors"}


# --- send ---------------------------------------------------------------------------------

# The session, if the sender takes part in it, with the sender's name.
_SEND_CONTEXT = {
    role: (f"SELECT s.id, s.status, s.patient_id, s.doctor_id, "
           f"(SELECT full_name FROM {table} WHERE id = $2) AS sender_name "
           f"FROM connect_sessions s WHERE s.id = $1 AND {participant_sql(role, 's', 2)}")
    for role, table in _NAMES.items()
}


async def send_context(conn: Connection, session_id: uuid.UUID, role: str,
                       sender_id: uuid.UUID) -> Row | None:
    """id, status, patient_id, doctor_id and sender_name of the session; None if the sender takes no
    part in it."""
    query = _SEND_CONTEXT.get(role)
    row = await driver.fetchrow(conn, query, session_id, sender_id) if query else None
    return dict(row) if row else None


# One statement: lock the session row if the sender takes part in it and it is still ONGOING, insert
# the message unless its client_message_id was used, and write the event and the push of the message
# it inserted: all of it or nothing. The lock is held until commit (its own, or the transaction's it
# joins), so seq order is commit order within a session.
_INSERT = {
    role: f"""
WITH s AS (
    SELECT s.id FROM connect_sessions s
    WHERE s.id = $1 AND {participant_sql(role, 's', 2)} AND s.status = '{ONGOING}' FOR UPDATE
), m AS (
    INSERT INTO messages (id, session_id, sender_id, sender_role, client_message_id, content_type, content, created_at)
    SELECT $3::uuid, s.id, $2::uuid, $4::text, $5::uuid, $6::text, $7::text, $8::timestamptz FROM s
    ON CONFLICT (session_id, sender_id, client_message_id) DO NOTHING
    RETURNING {_FIELDS}
), event AS ({events.event_insert_from("m", 9)}
), push AS ({events.push_insert_from("m", 12)}
)
SELECT * FROM m"""
    for role in _NAMES
}


async def insert(conn: Connection, message: Row, *, role: str, event: tuple[Any, ...],
                 push: tuple[Any, ...]) -> Row | None:
    """Store `message` (its id, session_id, sender_id, sender_role, client_message_id, content_type,
    content, created_at) sent by `role` with its event (`events.event_args`) and push
    (`events.push_args`), in one statement; None if nothing was stored: the session is not (or no
    longer) ONGOING, the sender takes no part in it, or the client_message_id was used already."""
    row = await driver.fetchrow(
        conn, _INSERT[role], message["session_id"], message["sender_id"], message["id"], message["sender_role"],
        message["client_message_id"], message["content_type"], message["content"], message["created_at"],
        *event, *push)
    if row is None:
        return None
    events.mark_pending(conn, events=True, pushes=True)
    return dict(row)


_BY_CLIENT_ID = (f"SELECT {_FIELDS} FROM messages "
                 "WHERE session_id = $1 AND sender_id = $2 AND client_message_id = $3")


async def by_client_id(conn: Connection, session_id: uuid.UUID, sender_id: uuid.UUID,
                       client_message_id: uuid.UUID) -> Row | None:
    """The message this sender stored under `client_message_id` in the session, if any."""
    row = await driver.fetchrow(conn, _BY_CLIENT_ID, session_id, sender_id, client_message_id)
    return dict(row) if row else None


# --- receipts -----------------------------------------------------------------------------

# One statement per (role, stamp): stamp the messages among $3 of the session that the other party
# sent ($5: the caller's own sender_role) and that lack the stamp (reading needs delivery first), and
# write one event naming them (the event data $8 with their ids added), if any. `found` says whether
# the caller takes part in the session at all.
def _receipt_statement(role: str, column: str) -> str:
    delivered_first = " AND delivered_at IS NOT NULL" if column == "read_at" else ""
    return f"""
WITH s AS (
    SELECT s.id FROM connect_sessions s WHERE s.id = $1 AND {participant_sql(role, 's', 2)}
), m AS (
    UPDATE messages SET {column} = $4
    WHERE session_id = (SELECT id FROM s) AND id = ANY($3::uuid[]) AND sender_role <> $5
      AND {column} IS NULL{delivered_first}
    RETURNING id
), event AS (
    INSERT INTO event_outbox (channel, event_type, data)
    SELECT $6::text, $7::text, $8::jsonb || jsonb_build_object('message_ids', jsonb_agg(m.id::text))
    FROM m HAVING count(*) > 0
)
SELECT EXISTS (SELECT 1 FROM s) AS found, ARRAY(SELECT id FROM m) AS ids"""


RECEIPT_COLUMNS = ("delivered_at", "read_at")
_RECEIPT = {(role, column): _receipt_statement(role, column) for role in _NAMES for column in RECEIPT_COLUMNS}


async def stamp(conn: Connection, session_id: uuid.UUID, role: str, subject_id: uuid.UUID, *,
                column: str, message_ids: list[uuid.UUID], own_sender_role: str, at: dt.datetime,
                event: tuple[str, str, str]) -> list[uuid.UUID] | None:
    """Set `column` (delivered_at | read_at) to `at` on the messages among `message_ids` not sent as
    `own_sender_role` that lack it, with `event` (`events.event_args`; `message_ids` is added to its
    data) if any changed, in one statement. The ids stamped; None if the caller takes no part in the
    session."""
    query = _RECEIPT.get((role, column))
    if query is None:
        return None
    row = await driver.fetchrow(conn, query, session_id, subject_id, message_ids, at, own_sender_role, *event)
    assert row is not None
    if not row["found"]:
        return None
    ids = list(row["ids"])
    if ids:
        events.mark_pending(conn, events=True)
    return ids


# --- reading ------------------------------------------------------------------------------

_POSITION = "SELECT created_at, seq FROM messages WHERE session_id = $1 AND id = $2"


async def position(conn: Connection, session_id: uuid.UUID, message_id: uuid.UUID) -> Position | None:
    """Where a message of this session stands in its order; None if it is not one of them."""
    row = await driver.fetchrow(conn, _POSITION, session_id, message_id)
    return (row["created_at"], row["seq"]) if row else None


_SELECT = f"SELECT {_FIELDS} FROM messages WHERE session_id = $1"
_OLDER = "(created_at, seq) < ($3::timestamptz, $4::bigint)"
_NEWER_FIRST = "(created_at, seq) > ($3::timestamptz, $4::bigint)"
_NEWER_SECOND = "(created_at, seq) > ($5::timestamptz, $6::bigint)"
_OLDEST_FIRST = "ORDER BY created_at, seq LIMIT $2"
_NEWEST_FIRST = "ORDER BY created_at DESC, seq DESC LIMIT $2"
# (with before, with after) → the page: with `after` the oldest first (catching up), otherwise the
# newest first (scrolling back).
_PAGE = {
    (False, False): f"{_SELECT} {_NEWEST_FIRST}",
    (True, False): f"{_SELECT} AND {_OLDER} {_NEWEST_FIRST}",
    (False, True): f"{_SELECT} AND {_NEWER_FIRST} {_OLDEST_FIRST}",
    (True, True): f"{_SELECT} AND {_OLDER} AND {_NEWER_SECOND} {_OLDEST_FIRST}",
}
_COUNT = "SELECT count(*) FROM messages WHERE session_id = $1"


async def page(conn: Connection, session_id: uuid.UUID, *, limit: int, before: Position | None = None,
               after: Position | None = None) -> tuple[list[Row], int, bool]:
    """(rows oldest first, total in session, has_more in the paging direction).

    With `after`: the first `limit` messages after it (catching up). Otherwise the last `limit`
    messages before `before` (or the newest), i.e. scrolling back through history.
    """
    bounds = [*(before or ()), *(after or ())]
    rows = [dict(r) for r in await driver.fetch(
        conn, _PAGE[(before is not None, after is not None)], session_id, limit + 1, *bounds)]
    has_more = len(rows) > limit
    rows = rows[:limit]
    if after is None:
        rows.reverse()
    total = await driver.fetchval(conn, _COUNT, session_id)
    return rows, int(total or 0), has_more


_EVENT_TIME = "SELECT created_at FROM event_outbox WHERE event_id = $1"


async def event_time(conn: Connection, event_id: int) -> dt.datetime | None:
    """When the bus event `event_id` was written (None once the outbox row is pruned)."""
    return await driver.fetchval(conn, _EVENT_TIME, event_id)


_SINCE = f"{_SELECT} AND created_at > $2 ORDER BY created_at, seq LIMIT $3"


async def since(conn: Connection, session_id: uuid.UUID, after: dt.datetime, limit: int) -> list[Row]:
    """Messages created after `after`, oldest first (a websocket resuming beyond the bus history)."""
    return [dict(r) for r in await driver.fetch(conn, _SINCE, session_id, after, limit)]
