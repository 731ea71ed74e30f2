"""Admin CRUD of health categories."""
from __future__ import annotations

from aiohttp import web

from domain.roles import Role
from gateway import keys
from gateway.audit import actor
from gateway.auth import requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import ADMIN, doc
from gateway.tx import services
from schemas import examples
from schemas.categories import AdminCategoryQuery, CategoryCreate, CategoryOut, CategoryUpdate, category_out
from schemas.out import page_of
from schemas.common import UUID_RE, page, parse_body, parse_query, path_uuid
from services import categories as use_cases
from storage import categories

routes = web.RouteTableDef()
CATEGORY = "/admin/categories/{category_id:" + UUID_RE + "}"


@routes.post("/admin/categories")
@doc("Create a health category", tag=ADMIN, body=CategoryCreate, responses={201: CategoryOut}, errors=(409,),
     request_example=examples.CATEGORY_CREATE)
@requires(Role.ADMIN)
async def create_category(request: web.Request) -> web.Response:
    body = await parse_body(request, CategoryCreate)
    row = await use_cases.create(services(request.app), actor(request), body)
    return json_response(category_out(row), status=201)


@routes.get("/admin/categories")
@doc("Health categories", tag=ADMIN, query=AdminCategoryQuery, responses={200: page_of(CategoryOut)})
@requires(Role.ADMIN)
async def list_categories(request: web.Request) -> web.Response:
    query = parse_query(request, AdminCategoryQuery)
    async with request.app[keys.DB].connect() as conn:
        rows, total = await categories.categories_page(conn, limit=query["limit"], offset=query["offset"],
                                                       is_active=query.get("is_active"), q=query.get("q"))
    return json_response(page([category_out(r) for r in rows], total, query["limit"], query["offset"]))


@routes.get(CATEGORY)
@doc("A health category", tag=ADMIN, responses={200: CategoryOut}, errors=(404,))
@requires(Role.ADMIN)
async def get_category(request: web.Request) -> web.Response:
    async with request.app[keys.DB].connect() as conn:
        row = await categories.get_category(conn, path_uuid(request, "category_id"))
    if row is None:
        raise use_cases.not_found()
    return json_response(category_out(row))


@routes.patch(CATEGORY)
@doc("Update a health category", tag=ADMIN, body=CategoryUpdate, body_required=False,
     responses={200: CategoryOut}, errors=(404, 409), request_example={"is_active": False})
@requires(Role.ADMIN)
async def update_category(request: web.Request) -> web.Response:
    body = await parse_body(request, CategoryUpdate, optional=True)
    row = await use_cases.update(services(request.app), actor(request), path_uuid(request, "category_id"), body)
    return json_response(category_out(row))


@routes.delete(CATEGORY)
@doc("Delete a health category", tag=ADMIN, responses={204: None}, errors=(404, 409))
@requires(Role.ADMIN)
async def delete_category(request: web.Request) -> web.Response:
    await use_cases.delete(services(request.app), actor(request), path_uuid(request, "category_id"))
    return web.Response(status=204)
