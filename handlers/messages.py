"""Session messages and receipts (participants only; a foreign session is 404)."""
from __future__ import annotations

from aiohttp import web

from domain.messages import parse_cursor
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import statements, transaction
from schemas.common import UUID_RE, parse_body, parse_query, path_uuid
from schemas.messages import MessageCreate, MessageListQuery, ReceiptBody, message_out, message_page
from storage import messages as store
from storage.session_access import session_for_participant

routes = web.RouteTableDef()
MESSAGES = "/connect/sessions/{session_id:" + UUID_RE + "}/messages"
MESSAGE_CREATE = MessageCreate()  # schemas keep no state between loads; building one costs more than loading


@routes.post(MESSAGES)
@requires("client", "doctor")
async def send_message(request: web.Request) -> web.Response:
    """201 new; 200 with the original for a retried client_message_id."""
    body = await parse_body(request, MESSAGE_CREATE)
    who = principal(request)
    async with statements(request.app) as conn:
        row, created = await store.send(conn, path_uuid(request, "session_id"), role=who.role, sender_id=who.id,
                                        body=body, now=request.app[keys.CLOCK].now())
    return json_response(message_out(row), status=201 if created else 200)


@routes.get(MESSAGES)
@requires("client", "doctor")
async def list_messages(request: web.Request) -> web.Response:
    query = parse_query(request, MessageListQuery())
    before, after = parse_cursor(query["before"], "before"), parse_cursor(query["after"], "after")
    who = principal(request)
    async with request.app[keys.DB].connect() as conn:
        session = await session_for_participant(conn, path_uuid(request, "session_id"), who.role, who.id)
        rows, total, has_more = await store.page(conn, session["id"], limit=query["limit"], before=before,
                                                 after=after)
    return json_response(message_page(rows, total=total, limit=query["limit"], has_more=has_more))


async def _receipt(request: web.Request, mark) -> web.Response:
    body = await parse_body(request, ReceiptBody())
    who = principal(request)
    async with transaction(request.app) as conn:
        session = await session_for_participant(conn, path_uuid(request, "session_id"), who.role, who.id)
        updated = await mark(conn, session["id"], who.role, body["message_ids"], request.app[keys.CLOCK].now())
    return json_response({"updated": updated})


@routes.post(MESSAGES + "/delivered")
@requires("client", "doctor")
async def mark_delivered(request: web.Request) -> web.Response:
    return await _receipt(request, store.mark_delivered)


@routes.post(MESSAGES + "/read")
@requires("client", "doctor")
async def mark_read(request: web.Request) -> web.Response:
    return await _receipt(request, store.mark_read)
