"""Health categories (public list for patients)."""
from __future__ import annotations

from aiohttp import web

from domain.errors import Conflict, NotFound
from domain.profile import is_profile_completed
from gateway import keys
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from schemas.categories import HealthCategoryQuery, category_out
from schemas.common import page, parse_query
from storage import categories
from storage.users import get_user

routes = web.RouteTableDef()


@routes.get("/categories/health")
@requires("client")
async def health_categories(request: web.Request) -> web.Response:
    """Active categories, for a patient whose profile has sex and age (409 PROFILE_INCOMPLETE otherwise)."""
    query = parse_query(request, HealthCategoryQuery())
    async with request.app[keys.DB].connect() as conn:
        user = await get_user(conn, principal(request).id)
        if user is None:
            raise NotFound("User not found", code="USER_NOT_FOUND")
        if not is_profile_completed(user):
            raise Conflict("Complete your profile (sex and age) to see health categories",
                           code="PROFILE_INCOMPLETE")
        rows, total = await categories.categories_page(conn, limit=query["limit"], offset=query["offset"],
                                                       is_active=True)
    return json_response(page([category_out(r) for r in rows], total, query["limit"], query["offset"]))
