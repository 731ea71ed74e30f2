"""The patient's review of an ended consultation: POST /connect/sessions/{id}/review and POST /reviews
(the same with the session in the body) → 201 ReviewOut (services.reviews)."""
from __future__ import annotations

import uuid

from aiohttp import web

from domain.roles import Role
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import POST_SESSION, doc
from gateway.tx import services
from schemas.common import UUID_RE, parse_body, path_uuid
from schemas import examples
from schemas.reviews import ReviewCreate, ReviewIn, ReviewOut, review_out
from services import reviews as use_cases
from services.context import Caller

routes = web.RouteTableDef()


async def _submit(request: web.Request, session_id: uuid.UUID, body: dict) -> web.Response:
    who = principal(request)
    row = await use_cases.submit(services(request.app), Caller(who.role, who.id), session_id, body["rating"],
                                 body["comment"])
    return json_response(review_out(row), status=201)


@routes.post("/connect/sessions/{session_id:" + UUID_RE + "}/review")
@doc("Review an ended consultation (patient)", tag=POST_SESSION, body=ReviewIn, responses={201: ReviewOut},
     errors=(404, 409), description="Once per session (409 again); rating 1.0–5.0 in steps of 0.5.",
     request_example=examples.REVIEW_IN, examples={201: examples.REVIEW})
@requires(Role.CLIENT)
async def review_session(request: web.Request) -> web.Response:
    body = await parse_body(request, ReviewIn)
    return await _submit(request, path_uuid(request, "session_id"), body)


@routes.post("/reviews")
@doc("Review a consultation by its session id (patient)", tag=POST_SESSION, body=ReviewCreate,
     responses={201: ReviewOut}, errors=(404, 409), description="Updates the doctor's rating; the doctor gets "
     "`review.submitted`.", request_example=examples.REVIEW_CREATE, examples={201: examples.REVIEW})
@requires(Role.CLIENT)
async def create_review(request: web.Request) -> web.Response:
    body = await parse_body(request, ReviewCreate)
    return await _submit(request, body["session_id"], body)
