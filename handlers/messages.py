"""Session messages and receipts (participants only; a foreign session is 404)."""
from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from domain.messages import parse_cursor
from domain.roles import Role
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import MESSAGES as MESSAGES_TAG, doc
from gateway.tx import services
from schemas.common import UUID_RE, parse_body, parse_query, path_uuid
from schemas import examples
from schemas.messages import (
    MessageCreate, MessageListQuery, MessageOut, MessagePageOut, ReceiptBody, message_out, message_page,
)
from schemas.out import UpdatedOut
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
@doc("Send a message (idempotent per client_message_id)", tag=MESSAGES_TAG, body=MessageCreate,
     responses={201: MessageOut, 200: MessageOut}, errors=(404, 409),
     description="201 for a new message; the same client_message_id again: 200 with the original (different "
     "content: 409). The session must be ONGOING (409 otherwise).", request_example=examples.MESSAGE_CREATE)
@requires(Role.CLIENT, Role.DOCTOR)
async def send_message(request: web.Request) -> web.Response:
    """201 new; 200 with the original for a retried client_message_id."""
    body = await parse_body(request, MESSAGE_CREATE)
    sent = await use_cases.send(services(request.app), _caller(request), path_uuid(request, "session_id"), body)
    return json_response(message_out(sent.message), status=201 if sent.created else 200)


@routes.get(MESSAGES)
@doc("A session's messages (cursor pages, oldest first)", tag=MESSAGES_TAG, query=MessageListQuery,
     responses={200: MessagePageOut}, errors=(404,),
     description="`before` / `after`: a message id or an ISO 8601 datetime (exclusive).")
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
@doc("Mark the other party's messages delivered", tag=MESSAGES_TAG, body=ReceiptBody, responses={200: UpdatedOut},
     errors=(404,), description="Sets delivered_at where missing; again: 0.", request_example=examples.RECEIPTS,
     examples={200: examples.UPDATED})
@requires(Role.CLIENT, Role.DOCTOR)
async def mark_delivered(request: web.Request) -> web.Response:
    return await _receipt(request, use_cases.mark_delivered)


@routes.post(MESSAGES + "/read")
@doc("Mark the other party's messages read", tag=MESSAGES_TAG, body=ReceiptBody, responses={200: UpdatedOut},
     errors=(404,), description="Sets read_at on messages already delivered; again: 0.",
     request_example=examples.RECEIPTS, examples={200: examples.UPDATED})
@requires(Role.CLIENT, Role.DOCTOR)
async def mark_read(request: web.Request) -> web.Response:
    return await _receipt(request, use_cases.mark_read)
