"""Session messages and receipts (participants only; a foreign session is 404)."""
from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from domain.messages import parse_cursor
from domain.roles import Role
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import services
from schemas.common import UUID_RE, parse_body, parse_query, path_uuid
from schemas.messages import MessageCreate, MessageListQuery, ReceiptBody, message_out, message_page
from services import messages as use_cases
from services.context import Caller

routes = web.RouteTableDef()
MESSAGES = "/connect/sessions/{session_id:" + UUID_RE + "}/messages"
MESSAGE_CREATE = MessageCreate()  # schemas keep no state between loads; building one costs more than loading
RECEIPT_BODY = ReceiptBody()


def _caller(request: web.Request) -> Caller:
    who = principal(request)
    return Caller(who.role, who.id)


@routes.post(MESSAGES)
@requires(Role.CLIENT, Role.DOCTOR)
async def send_message(request: web.Request) -> web.Response:
    """201 new; 200 with the original for a retried client_message_id."""
    body = await parse_body(request, MESSAGE_CREATE)
    sent = await use_cases.send(services(request.app), _caller(request), path_uuid(request, "session_id"), body)
    return json_response(message_out(sent.message), status=201 if sent.created else 200)


@routes.get(MESSAGES)
@requires(Role.CLIENT, Role.DOCTOR)
async def list_messages(request: web.Request) -> web.Response:
    query = parse_query(request, MessageListQuery)
    before, after = parse_cursor(query["before"], "before"), parse_cursor(query["after"], "after")
    rows, total, has_more = await use_cases.history(services(request.app), _caller(request),
                                                    path_uuid(request, "session_id"), limit=query["limit"],
                                                    before=before, after=after)
    return json_response(message_page(rows, total=total, limit=query["limit"], has_more=has_more))


Mark = Callable[..., Awaitable[int]]


async def _receipt(request: web.Request, mark: Mark) -> web.Response:
    body = await parse_body(request, RECEIPT_BODY)
    updated = await mark(services(request.app), _caller(request), path_uuid(request, "session_id"),
                         body["message_ids"])
    return json_response({"updated": updated})


@routes.post(MESSAGES + "/delivered")
@requires(Role.CLIENT, Role.DOCTOR)
async def mark_delivered(request: web.Request) -> web.Response:
    return await _receipt(request, use_cases.mark_delivered)


@routes.post(MESSAGES + "/read")
@requires(Role.CLIENT, Role.DOCTOR)
async def mark_read(request: web.Request) -> web.Response:
    return await _receipt(request, use_cases.mark_read)
