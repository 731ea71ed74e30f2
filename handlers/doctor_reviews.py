"""The doctor's review dashboard: their reviews with filters, the reply (POST / PUT / DELETE), and
the review reminder to the patient of an ended session (services.reviews)."""
from __future__ import annotations

from aiohttp import web

from domain import analytics
from domain.reviews import ReviewSort
from domain.roles import Role
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import DASHBOARD, doc
from gateway.tx import services
from schemas.common import UUID_RE, page, parse_body, parse_query, path_uuid
from schemas import examples
from schemas.out import page_of
from schemas.reviews import MyReviewItemOut, MyReviewsQuery, NotificationResultOut, ReplyIn, my_review_item
from services import reviews as use_cases

routes = web.RouteTableDef()
REPLY = "/doctors/me/reviews/{review_id:" + UUID_RE + "}/reply"


@routes.get("/doctors/me/reviews")
@doc("The doctor's reviews, with filters", tag=DASHBOARD, query=MyReviewsQuery,
     responses={200: page_of(MyReviewItemOut)})
@requires(Role.DOCTOR)
async def my_reviews(request: web.Request) -> web.Response:
    query = parse_query(request, MyReviewsQuery)
    start, end = analytics.bounds(query["date_from"], query["date_to"], query["timezone"])
    rows, total = await use_cases.doctor_page(
        services(request.app), principal(request).id, star=query["rating"], has_reply=query["has_reply"],
        start=start, end=end, sort=ReviewSort(query["sort_by"]), limit=query["limit"], offset=query["offset"])
    return json_response(page([my_review_item(r) for r in rows], total, query["limit"], query["offset"]))


@routes.post(REPLY)
@doc("Reply to a review", tag=DASHBOARD, body=ReplyIn, responses={201: MyReviewItemOut}, errors=(404, 409),
     description="1–1000 characters; a reply already there: 409 (use PUT). The patient gets `review.reply`.",
     request_example=examples.REPLY_IN)
@requires(Role.DOCTOR)
async def create_reply(request: web.Request) -> web.Response:
    body = await parse_body(request, ReplyIn)
    row = await use_cases.create_reply(services(request.app), principal(request).id,
                                       path_uuid(request, "review_id"), body["text"])
    return json_response(my_review_item(row), status=201)


@routes.put(REPLY)
@doc("Change the reply", tag=DASHBOARD, body=ReplyIn, responses={200: MyReviewItemOut}, errors=(404,),
     request_example={"text": "Updated reply text here."})
@requires(Role.DOCTOR)
async def update_reply(request: web.Request) -> web.Response:
    body = await parse_body(request, ReplyIn)
    row = await use_cases.update_reply(services(request.app), principal(request).id,
                                       path_uuid(request, "review_id"), body["text"])
    return json_response(my_review_item(row))


@routes.delete(REPLY)
@doc("Delete the reply", tag=DASHBOARD, responses={204: None}, errors=(404,))
@requires(Role.DOCTOR)
async def delete_reply(request: web.Request) -> web.Response:
    await use_cases.delete_reply(services(request.app), principal(request).id, path_uuid(request, "review_id"))
    return web.Response(status=204)


@routes.post("/doctors/me/sessions/{session_id:" + UUID_RE + "}/review-reminder")
@doc("Remind the patient to review an ended session", tag=DASHBOARD, responses={200: NotificationResultOut},
     errors=(404, 409, 429), description="Only for an ENDED session with no review.",
     examples={200: examples.NOTIFICATION})
@requires(Role.DOCTOR)
async def review_reminder(request: web.Request) -> web.Response:
    result = await use_cases.remind(services(request.app), principal(request).id, path_uuid(request, "session_id"))
    return json_response({"sent": result.sent, "devices": result.devices, "event": result.event})
