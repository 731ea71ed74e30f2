"""Session messages in the database, with their events and pushes written in the caller's transaction.

Order within a session is (created_at, seq); sends lock the session row, so seq order is also
commit order inside one session, which is what a reconnecting websocket relies on.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.messages import message_out
from domain import messages as rules
from domain import push_payloads
from domain.errors import ValidationFailed
from common.jsonutil import dumps, isoformat, loads
from storage import driver, events, files
from storage.session_access import participant_sql, session_for_participant, session_not_found
from storage.tables import doctors, messages, users

M = messages


def _json(data: Any) -> Any:
    return loads(dumps(data))


async def _find(conn: AsyncConnection, session_id: uuid.UUID, sender_id: uuid.UUID,
                client_message_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(M).where(
        M.c.session_id == session_id, M.c.sender_id == sender_id,
        M.c.client_message_id == client_message_id))).mappings().first()
    return dict(row) if row else None


_NAMED_IN = {"client": users, "doctor": doctors}  # where each sender role's display name lives


def _name_of(role: str, subject_id: Any):
    table = _NAMED_IN[role]
    return sa.select(table.c.full_name).where(table.c.id == subject_id).scalar_subquery()


async def participant_name(conn: AsyncConnection, role: str, subject_id: uuid.UUID) -> str | None:
    return await conn.scalar(sa.select(_name_of(role, subject_id)))


def _insert_statement(role: str):
    """The send's INSERT, built once per sender role (building it per call costs more than running it)."""
    return (
        pg_insert(M).values({c: sa.bindparam(f"v_{c}") for c in (
            "session_id", "sender_id", "sender_role", "client_message_id", "content_type", "content", "created_at")})
        .on_conflict_do_nothing(index_elements=[M.c.session_id, M.c.sender_id, M.c.client_message_id])
        .returning(M, _name_of(role, sa.bindparam("v_sender_id")).label("sender_name"))
    )


_INSERT = {role: _insert_statement(role) for role in ("client", "doctor")}


async def _original(conn: AsyncConnection, session_id: uuid.UUID, sender_id: uuid.UUID,
                    body: dict[str, Any], content: str) -> dict[str, Any] | None:
    """The message stored earlier under this client_message_id (409 if it says something else)."""
    existing = await _find(conn, session_id, sender_id, body["client_message_id"])
    if existing:
        rules.check_idempotent_retry(existing, body["content_type"], content)
    return existing


async def post(conn: AsyncConnection, session: dict[str, Any], *, role: str, sender_id: uuid.UUID,
               body: dict[str, Any], now: dt.datetime) -> tuple[dict[str, Any], bool]:
    """Store a message once per (sender, client_message_id): (row, created).

    A retry returns the original even after the session ended (or its attachment was deleted);
    a new message needs ONGOING. `session` must have been read with a row lock in this transaction.
    (`send` is the entry point: it takes this path for everything but a new text message.)
    """
    content_type = body["content_type"]
    attachment_id = rules.attachment_ref(content_type, body["content"])
    content = body["content"] if attachment_id is None else str(attachment_id)  # one spelling for retries
    if session["status"] != "ONGOING":
        if existing := await _original(conn, session["id"], sender_id, body, content):
            return existing, False
        rules.check_can_send(session["status"])
    if attachment_id is not None:
        try:
            rules.check_attachment(content_type, await files.get_attachment(conn, attachment_id), session["id"])
        except ValidationFailed:
            if existing := await _original(conn, session["id"], sender_id, body, content):
                return existing, False
            raise
    row = (await conn.execute(_INSERT[role], {
        "v_session_id": session["id"], "v_sender_id": sender_id, "v_sender_role": rules.party(role),
        "v_client_message_id": body["client_message_id"], "v_content_type": content_type, "v_content": content,
        "v_created_at": now,
    })).mappings().first()
    if row is None:  # a retry (or a concurrent duplicate that committed first)
        existing = await _original(conn, session["id"], sender_id, body, content)
        assert existing is not None
        return existing, False
    row = dict(row)
    sender_name = row.pop("sender_name")
    await events.publish_after_commit(conn, events.session_channel(session["id"]), "message.new",
                                      _json(message_out(row)))
    other_role, other_id = rules.other_party(session, role)
    payload = push_payloads.message_new(session["id"], row["id"], sender_role=rules.party(role),
                                        sender_name=sender_name, content_type=content_type)
    await events.push_after_commit(conn, recipient_role=other_role, recipient_id=other_id,
                                   **payload.outbox_fields())
    return row, True


# --- the hot send -------------------------------------------------------------------------

_MESSAGE_FIELDS = ", ".join(c.name for c in M.c)


def _send_statements(role: str) -> tuple[str, str]:
    """(read, write) of a text send by `role`, as SQL text on the driver (see storage.driver).

    read: the session if the sender takes part in it, with the sender's name (for the push text).
    write: one statement that locks the session row if it is still ONGOING, inserts the message
    unless its client_message_id was used, and writes the event and the push of the message it
    inserted: all of it or nothing. The lock is held until the statement commits, so seq order is
    commit order within a session, as with `post`.
    """
    participant = participant_sql(role, "s", 2)
    read = (f"SELECT s.id, s.status, s.patient_id, s.doctor_id, "
            f"(SELECT full_name FROM {_NAMED_IN[role].name} WHERE id = $2) AS sender_name "
            f"FROM connect_sessions s WHERE s.id = $1 AND {participant}")
    write = f"""
WITH s AS (
    SELECT s.id FROM connect_sessions s WHERE s.id = $1 AND {participant} AND s.status = 'ONGOING' FOR UPDATE
), m AS (
    INSERT INTO messages (id, session_id, sender_id, sender_role, client_message_id, content_type, content, created_at)
    SELECT $3::uuid, s.id, $2::uuid, $4::text, $5::uuid, $6::text, $7::text, $8::timestamptz FROM s
    ON CONFLICT (session_id, sender_id, client_message_id) DO NOTHING
    RETURNING {_MESSAGE_FIELDS}
), event AS ({events.event_insert_from("m", 9)}
), push AS ({events.push_insert_from("m", 12)}
)
SELECT * FROM m"""
    return read, write


_SEND = {role: _send_statements(role) for role in _NAMED_IN}


@dataclasses.dataclass(frozen=True)
class Sender:
    """What a text send needs besides the message: the session's parties and the sender's name (for
    the push text). A websocket reads it once and passes it to every send; whether the session is
    still ONGOING is checked by each send's write."""
    session_id: uuid.UUID
    role: str
    sender_id: uuid.UUID
    name: str | None
    other_role: str
    other_id: uuid.UUID


async def sender(conn: AsyncConnection, session_id: uuid.UUID, *, role: str, sender_id: uuid.UUID) -> Sender:
    """The sending participant of a session (foreign → 404)."""
    return _sender(await _read_session(conn, session_id, role, sender_id), role, sender_id)


async def _read_session(conn: AsyncConnection, session_id: uuid.UUID, role: str, sender_id: uuid.UUID):
    session = await driver.fetchrow(conn, _SEND[role][0], session_id, sender_id)
    if session is None:
        raise session_not_found()
    return session


def _sender(session, role: str, sender_id: uuid.UUID) -> Sender:
    other_role, other_id = rules.other_party(session, role)
    return Sender(session["id"], role, sender_id, session["sender_name"], other_role, other_id)


async def send(conn: AsyncConnection, session_id: uuid.UUID, *, role: str, sender_id: uuid.UUID,
               body: dict[str, Any], now: dt.datetime, known: Sender | None = None) -> tuple[dict[str, Any], bool]:
    """Send a message as a participant of the session (foreign → 404): (row, created), as `post`.

    Hot path, a new text message in an ONGOING session: one statement (two without `known`, which
    must describe this sender in this session) that commits on its own (`gateway.tx.statements`), no
    transaction. Everything else (attachments, retries, a session not ONGOING, one that just stopped
    being ONGOING) goes through `post` under the session's row lock, in a transaction begun on `conn`.
    """
    if known is None:
        session = await _read_session(conn, session_id, role, sender_id)
        ongoing = session["status"] == "ONGOING"
        known = _sender(session, role, sender_id)
    else:
        assert (known.session_id, known.role, known.sender_id) == (session_id, role, sender_id)
        ongoing = True  # as far as we know: the write checks
    if body["content_type"] == "text" and ongoing:
        message = {"id": uuid.uuid4(), "session_id": session_id, "sender_id": sender_id,
                   "sender_role": rules.party(role), "client_message_id": body["client_message_id"],
                   "content_type": "text", "content": body["content"], "created_at": now,
                   "delivered_at": None, "read_at": None}  # the row as inserted: the event carries it
        push = push_payloads.message_new(session_id, message["id"], sender_role=message["sender_role"],
                                         sender_name=known.name, content_type="text")
        row = await driver.fetchrow(
            conn, _SEND[role][1], session_id, sender_id, message["id"], message["sender_role"],
            message["client_message_id"], "text", message["content"], now,
            *events.event_args(events.session_channel(session_id), "message.new", message_out(message)),
            *events.push_args(known.other_role, known.other_id, **push.outbox_fields()))
        if row is not None:
            events.mark_pending(conn, events=True, pushes=True)
            return dict(row), True
    locked = await session_for_participant(conn, session_id, role, sender_id, lock=True)
    return await post(conn, locked, role=role, sender_id=sender_id, body=body, now=now)


async def _receipt(conn: AsyncConnection, session_id: uuid.UUID, role: str, message_ids: list[uuid.UUID],
                   now: dt.datetime, *, column: str) -> int:
    """Stamp `column` on the other party's messages among `message_ids` that lack it."""
    query = sa.update(M).where(M.c.session_id == session_id, M.c.id.in_(message_ids),
                               M.c.sender_role != rules.party(role), M.c[column].is_(None))
    if column == "read_at":
        query = query.where(M.c.delivered_at.is_not(None))
    updated = [r for r in (await conn.execute(query.values({column: now}).returning(M.c.id))).scalars()]
    if updated:
        event = "message.delivered" if column == "delivered_at" else "message.read"
        await events.publish_after_commit(conn, events.session_channel(session_id), event, {
            "session_id": str(session_id), "message_ids": [str(i) for i in updated],
            column: isoformat(now), "by": rules.party(role),
        })
    return len(updated)


async def mark_delivered(conn: AsyncConnection, session_id: uuid.UUID, role: str, message_ids: list[uuid.UUID],
                         now: dt.datetime) -> int:
    return await _receipt(conn, session_id, role, message_ids, now, column="delivered_at")


async def mark_read(conn: AsyncConnection, session_id: uuid.UUID, role: str, message_ids: list[uuid.UUID],
                    now: dt.datetime) -> int:
    return await _receipt(conn, session_id, role, message_ids, now, column="read_at")


# --- reading ------------------------------------------------------------------------------

async def _bound(conn: AsyncConnection, session_id: uuid.UUID, cursor: rules.Cursor, name: str):
    """(created_at, seq) of a message-id cursor; 422 if it is not a message of this session."""
    row = (await conn.execute(sa.select(M.c.created_at, M.c.seq).where(
        M.c.session_id == session_id, M.c.id == cursor.message_id))).first()
    if row is None:
        raise ValidationFailed.single("query", name, "No message with this id in this session")
    return sa.tuple_(sa.literal(row.created_at, sa.DateTime(timezone=True)), sa.literal(row.seq, sa.BigInteger))


async def _condition(conn: AsyncConnection, session_id: uuid.UUID, cursor: rules.Cursor, name: str, *,
                     older: bool):
    order_key = sa.tuple_(M.c.created_at, M.c.seq)
    if cursor.message_id is not None:
        bound = await _bound(conn, session_id, cursor, name)
        return order_key < bound if older else order_key > bound
    return M.c.created_at < cursor.at if older else M.c.created_at > cursor.at


async def page(conn: AsyncConnection, session_id: uuid.UUID, *, limit: int, before: rules.Cursor | None,
               after: rules.Cursor | None) -> tuple[list[dict[str, Any]], int, bool]:
    """(rows oldest first, total in session, has_more in the paging direction).

    With `after`: the first `limit` messages after it (catching up). Otherwise the last `limit`
    messages before `before` (or the newest), i.e. scrolling back through history.
    """
    query = sa.select(M).where(M.c.session_id == session_id)
    if before is not None:
        query = query.where(await _condition(conn, session_id, before, "before", older=True))
    if after is not None:
        query = query.where(await _condition(conn, session_id, after, "after", older=False))
        query = query.order_by(M.c.created_at, M.c.seq)
    else:
        query = query.order_by(M.c.created_at.desc(), M.c.seq.desc())
    rows = [dict(r) for r in (await conn.execute(query.limit(limit + 1))).mappings()]
    has_more = len(rows) > limit
    rows = rows[:limit]
    if after is None:
        rows.reverse()
    total = await conn.scalar(sa.select(sa.func.count()).select_from(M).where(M.c.session_id == session_id))
    return rows, total or 0, has_more


async def event_time(conn: AsyncConnection, event_id: int) -> dt.datetime | None:
    """When the bus event `event_id` was written (None once the outbox row is pruned)."""
    return await conn.scalar(sa.text("SELECT created_at FROM event_outbox WHERE event_id = :id"), {"id": event_id})


async def since(conn: AsyncConnection, session_id: uuid.UUID, after: dt.datetime, limit: int) -> list[dict[str, Any]]:
    """Messages created after `after`, oldest first (a websocket resuming beyond the bus history)."""
    rows = await conn.execute(sa.select(M).where(M.c.session_id == session_id, M.c.created_at > after)
                              .order_by(M.c.created_at, M.c.seq).limit(limit))
    return [dict(r) for r in rows.mappings()]
