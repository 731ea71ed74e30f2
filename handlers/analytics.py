"""Analytics of the patient (overview, consultation history) and of the doctor (performance, review
metrics, trends, rating distribution): read-only (services.analytics). The payment analytics are in
handlers/analytics_money.py."""
from __future__ import annotations

from aiohttp import web

from domain.analytics import DateRange, Period
from domain.roles import Role
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import MONEY, doc
from gateway.tx import services
from schemas import examples
from schemas.analytics import (
    MetricsQuery, PerformanceOut, PerformanceQuery, RatingDistributionOut, ReviewMetricsOut, ReviewTrendsOut, TrendsQuery,
    UserOverviewOut, UserSessionItemOut, user_session_item,
)
from schemas.out import page_of
from schemas.common import PageQuery, page, parse_query
from services import analytics as use_cases

routes = web.RouteTableDef()


@routes.get("/analytics/user/overview")
@doc("The patient's overview", tag=MONEY, responses={200: UserOverviewOut}, errors=(404,),
     examples={200: examples.USER_OVERVIEW})
@requires(Role.CLIENT)
async def user_overview(request: web.Request) -> web.Response:
    return json_response(await use_cases.user_overview(services(request.app), principal(request).id))


@routes.get("/analytics/user/sessions")
@doc("The patient's consultations, newest first", tag=MONEY, query=PageQuery,
     responses={200: page_of(UserSessionItemOut)})
@requires(Role.CLIENT)
async def user_sessions(request: web.Request) -> web.Response:
    query = parse_query(request, PageQuery)
    rows, total = await use_cases.user_sessions(services(request.app), principal(request).id, query["limit"],
                                                query["offset"])
    return json_response(page([user_session_item(r) for r in rows], total, query["limit"], query["offset"]))


@routes.get("/analytics/doctor/performance")
@doc("The doctor's performance over a range", tag=MONEY, query=PerformanceQuery, responses={200: PerformanceOut},
     description="Ended sessions (by end time), their minutes and earnings, and the reviews written in the range.")
@requires(Role.DOCTOR)
async def doctor_performance(request: web.Request) -> web.Response:
    query = parse_query(request, PerformanceQuery)
    return json_response(await use_cases.doctor_performance(services(request.app), principal(request).id,
                                                            DateRange(query["date_range"]), query["timezone"]))


@routes.get("/analytics/doctor/reviews/metrics")
@doc("The doctor's review figures", tag=MONEY, query=MetricsQuery, responses={200: ReviewMetricsOut},
     description="`date_from` / `date_to`: a date (a whole local day) or a datetime.")
@requires(Role.DOCTOR)
async def review_metrics(request: web.Request) -> web.Response:
    query = parse_query(request, MetricsQuery)
    return json_response(await use_cases.review_metrics(services(request.app), principal(request).id,
                                                        query["date_from"], query["date_to"], query["timezone"]))


@routes.get("/analytics/doctor/reviews/trends")
@doc("The doctor's reviews per day, week or month", tag=MONEY, query=TrendsQuery, responses={200: ReviewTrendsOut},
     description="Every bucket of the window, empty ones included (at most 366).")
@requires(Role.DOCTOR)
async def review_trends(request: web.Request) -> web.Response:
    query = parse_query(request, TrendsQuery)
    return json_response(await use_cases.review_trends(services(request.app), principal(request).id,
                                                       Period(query["period"]), query["date_from"], query["date_to"],
                                                       query["timezone"]))


@routes.get("/analytics/doctor/reviews/rating-distribution")
@doc("The doctor's reviews per star", tag=MONEY, responses={200: RatingDistributionOut})
@requires(Role.DOCTOR)
async def rating_distribution(request: web.Request) -> web.Response:
    return json_response(await use_cases.rating_distribution(services(request.app), principal(request).id))
