"""The admin's view of a patient's analytics (overview, consultation history): reads of a patient's
data, so each is recorded in the audit log (services.analytics)."""
from __future__ import annotations

from aiohttp import web

from domain.roles import Role
from gateway.audit import actor
from gateway.auth import requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import ADMIN, doc
from gateway.tx import services
from schemas.analytics import UserOverviewOut, UserSessionItemOut, user_session_item
from schemas.out import page_of
from schemas.common import UUID_RE, PageQuery, page, parse_query, path_uuid
from services import analytics as use_cases

routes = web.RouteTableDef()
USER = "/admin/users/{user_id:" + UUID_RE + "}/analytics"


@routes.get(USER + "/overview")
@doc("A patient's overview (audited)", tag=ADMIN, responses={200: UserOverviewOut}, errors=(404,))
@requires(Role.ADMIN)
async def overview(request: web.Request) -> web.Response:
    row = await use_cases.admin_user_overview(services(request.app), actor(request), path_uuid(request, "user_id"))
    return json_response(row)


@routes.get(USER + "/sessions")
@doc("A patient's consultations (audited)", tag=ADMIN, query=PageQuery, responses={200: page_of(UserSessionItemOut)},
     errors=(404,))
@requires(Role.ADMIN)
async def sessions(request: web.Request) -> web.Response:
    query = parse_query(request, PageQuery)
    rows, total = await use_cases.admin_user_sessions(services(request.app), actor(request),
                                                      path_uuid(request, "user_id"), query["limit"], query["offset"])
    return json_response(page([user_session_item(r) for r in rows], total, query["limit"], query["offset"]))
