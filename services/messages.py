"""Session message use cases: send (a REST POST and a websocket `message.send` alike), the delivered /
read receipts, and the history a participant pages through. Each owns its connection; the rules come
from domain.messages, the rows from storage.messages.

A message, its `message.new` event and its push to the other party are stored together or not at
all; so are a receipt's stamps and its event.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from storage.pool import Connection

from common.jsonutil import isoformat
from domain import messages as rules
from domain import push_payloads
from domain.errors import ValidationFailed
from domain.roles import Role
from domain.sessions import ONGOING
from services.context import Caller, Context, reading, statements
from storage import events, files
from storage import messages as store
from storage.session_access import session_for_participant, session_not_found

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Sender:
    """What a send needs besides the message: the session's parties and the sender's name (for the
    push text). A websocket keeps the one its first send returns and passes it to every later send
    (`known`); whether the session is still ONGOING is checked by each send's write."""
    session_id: uuid.UUID
    role: str
    sender_id: uuid.UUID
    name: str | None
    other_role: Role
    other_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Sent:
    message: Row
    created: bool      # False: a retried client_message_id, answered with the original
    sender: Sender     # for the next send by the same caller in the same session


# --- send ---------------------------------------------------------------------------------

async def send(ctx: Context, caller: Caller, session_id: uuid.UUID, body: dict[str, Any], *,
               known: Sender | None = None) -> Sent:
    """Store a message once per (sender, client_message_id), as a participant of the session (foreign
    → 404); a retry gets the original back, even after the session ended (or its attachment was
    deleted); a new message needs ONGOING.

    Hot path, a new text message in an ONGOING session: two statements (one with `known`, which must
    describe this caller in this session), each committing on its own, no transaction. Everything
    else (attachments, retries, a session not ONGOING, one that just stopped being ONGOING) runs under
    the session's row lock, in a transaction begun on the same connection.
    """
    now = ctx.now()
    async with statements(ctx) as conn:
        if known is None:
            session = await store.send_context(conn, session_id, caller.role, caller.id)
            if session is None:
                raise session_not_found()
            other_role, other_id = rules.other_party(session, caller.role)
            sender = Sender(session_id, caller.role, caller.id, session["sender_name"], other_role, other_id)
            ongoing = session["status"] == ONGOING
        else:
            assert (known.session_id, known.role, known.sender_id) == (session_id, caller.role, caller.id)
            sender, ongoing = known, True  # as far as we know: the write checks
        if body["content_type"] == "text" and ongoing:
            row = await _insert(conn, sender, body["client_message_id"], "text", body["content"], now)
            if row is not None:
                return Sent(row, True, sender)
        locked = await session_for_participant(conn, session_id, caller.role, caller.id, lock=True)
        row, created = await _post(conn, locked, sender, body, now)
    return Sent(row, created, sender)


async def _post(conn: Connection, session: Row, sender: Sender, body: dict[str, Any],
                now: dt.datetime) -> tuple[Row, bool]:
    """A send under the session's row lock (held by the caller's transaction): (row, created)."""
    content_type = body["content_type"]
    attachment_id = rules.attachment_ref(content_type, body["content"])
    content = body["content"] if attachment_id is None else str(attachment_id)  # one spelling for retries
    if session["status"] != ONGOING:
        if existing := await _original(conn, sender, body, content):
            return existing, False
        rules.check_can_send(session["status"])
    if attachment_id is not None:
        try:
            rules.check_attachment(content_type, await files.get_attachment(conn, attachment_id), session["id"])
        except ValidationFailed:
            if existing := await _original(conn, sender, body, content):
                return existing, False
            raise
    row = await _insert(conn, sender, body["client_message_id"], content_type, content, now)
    if row is None:  # a retry (or a concurrent duplicate that committed first)
        existing = await _original(conn, sender, body, content)
        assert existing is not None
        return existing, False
    return row, True


async def _insert(conn: Connection, sender: Sender, client_message_id: uuid.UUID, content_type: str,
                  content: str, now: dt.datetime) -> Row | None:
    """The new message with its `message.new` event and its push to the other party, in one
    statement; None if nothing was stored (session not ONGOING, or client_message_id used)."""
    message: Row = {
        "id": uuid.uuid4(), "session_id": sender.session_id, "sender_id": sender.sender_id,
        "sender_role": rules.party(sender.role), "client_message_id": client_message_id,
        "content_type": content_type, "content": content, "created_at": now,
        "delivered_at": None, "read_at": None,
    }  # the row as it will be inserted: the event carries it
    push = push_payloads.message_new(sender.session_id, message["id"], sender_role=message["sender_role"],
                                     sender_name=sender.name, content_type=content_type)
    return await store.insert(
        conn, message, role=sender.role,
        event=events.event_args(events.session_channel(sender.session_id), "message.new", rules.message_out(message)),
        push=events.push_args(sender.other_role, sender.other_id, **push.outbox_fields()))


async def _original(conn: Connection, sender: Sender, body: dict[str, Any], content: str) -> Row | None:
    """The message stored earlier under this client_message_id (409 if it says something else)."""
    existing = await store.by_client_id(conn, sender.session_id, sender.sender_id, body["client_message_id"])
    if existing:
        rules.check_idempotent_retry(existing, body["content_type"], content)
    return existing


# --- receipts -----------------------------------------------------------------------------

async def mark_delivered(ctx: Context, caller: Caller, session_id: uuid.UUID, message_ids: list[uuid.UUID]) -> int:
    """Stamp delivered_at on the other party's messages among `message_ids`; how many changed."""
    return await _receipt(ctx, caller, session_id, message_ids, rules.DELIVERED)


async def mark_read(ctx: Context, caller: Caller, session_id: uuid.UUID, message_ids: list[uuid.UUID]) -> int:
    """Stamp read_at on the other party's delivered messages among `message_ids`; how many changed."""
    return await _receipt(ctx, caller, session_id, message_ids, rules.READ)


async def _receipt(ctx: Context, caller: Caller, session_id: uuid.UUID, message_ids: list[uuid.UUID],
                   receipt: rules.Receipt) -> int:
    """As a participant of the session (foreign → 404); one statement with its event."""
    now, by = ctx.now(), rules.party(caller.role)
    event = events.event_args(events.session_channel(session_id), receipt.event, {
        "session_id": str(session_id), receipt.column: isoformat(now), "by": by,
    })  # the statement adds "message_ids": what it stamped
    async with statements(ctx) as conn:
        stamped = await store.stamp(conn, session_id, caller.role, caller.id, column=receipt.column,
                                    message_ids=message_ids, own_sender_role=by, at=now, event=event)
    if stamped is None:
        raise session_not_found()
    return len(stamped)


# --- history ------------------------------------------------------------------------------

async def history(ctx: Context, caller: Caller, session_id: uuid.UUID, *, limit: int,
                  before: rules.Cursor | None, after: rules.Cursor | None) -> tuple[list[Row], int, bool]:
    """A participant's page of the session's messages: (rows oldest first, total, has_more), as
    storage.messages.page. A message-id cursor must name a message of this session (else 422)."""
    async with reading(ctx) as conn:
        await session_for_participant(conn, session_id, caller.role, caller.id)
        older = await _position(conn, session_id, before, "before")
        newer = await _position(conn, session_id, after, "after")
        return await store.page(conn, session_id, limit=limit, before=older, after=newer)


async def _position(conn: Connection, session_id: uuid.UUID, cursor: rules.Cursor | None,
                    name: str) -> store.Position | None:
    if cursor is None:
        return None
    if cursor.message_id is None:
        assert cursor.at is not None
        return cursor.at, None  # a point in time: the messages of that instant are on neither side
    position = await store.position(conn, session_id, cursor.message_id)
    if position is None:
        raise ValidationFailed.single("query", name, "No message with this id in this session")
    return position
