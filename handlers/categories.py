"""Health categories (public list for patients)."""
from __future__ import annotations

from aiohttp import web

from domain.roles import Role
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import MONEY, doc
from gateway.tx import services
from schemas.categories import CategoryOut, HealthCategoryQuery, category_out
from schemas.common import page, parse_query
from schemas.out import page_of
from services import categories as use_cases

routes = web.RouteTableDef()


@routes.get("/categories/health")
@doc("Active health categories", tag=MONEY, query=HealthCategoryQuery, responses={200: page_of(CategoryOut)},
     errors=(409,), description="For a patient whose profile has sex and age (409 PROFILE_INCOMPLETE otherwise).")
@requires(Role.CLIENT)
async def health_categories(request: web.Request) -> web.Response:
    """Active categories, for a patient whose profile has sex and age (409 PROFILE_INCOMPLETE otherwise)."""
    query = parse_query(request, HealthCategoryQuery)
    rows, total = await use_cases.for_patient(services(request.app), principal(request).id,
                                              limit=query["limit"], offset=query["offset"])
    return json_response(page([category_out(r) for r in rows], total, query["limit"], query["offset"]))
