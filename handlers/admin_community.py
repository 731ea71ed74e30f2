"""Admin CRUD of community articles and events (writes audited in their use cases)."""
from __future__ import annotations

from aiohttp import web

from domain.roles import Role
from gateway.audit import actor
from gateway.auth import requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import ADMIN, doc
from gateway.tx import services
from schemas import community as schemas
from schemas import examples
from schemas.out import page_of
from schemas.common import UUID_RE, page, parse_body, parse_query, path_uuid
from services import community as use_cases

routes = web.RouteTableDef()
ARTICLE = "/admin/articles/{article_id:" + UUID_RE + "}"
EVENT = "/admin/events/{event_id:" + UUID_RE + "}"


# --- articles --------------------------------------------------------------------------------

@routes.post("/admin/articles")
@doc("Create an article", tag=ADMIN, body=schemas.ArticleCreate, responses={201: schemas.ArticleAdminOut},
     description="Publishing pushes `community.article`.", request_example=examples.ARTICLE_CREATE)
@requires(Role.ADMIN)
async def create_article(request: web.Request) -> web.Response:
    body = await parse_body(request, schemas.ArticleCreate)
    row = await use_cases.create_article(services(request.app), actor(request), body)
    return json_response(schemas.article_admin_out(row), status=201)


@routes.get("/admin/articles")
@doc("Articles, published or not", tag=ADMIN, query=schemas.AdminArticlesQuery,
     responses={200: page_of(schemas.ArticleAdminOut)})
@requires(Role.ADMIN)
async def list_articles(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.AdminArticlesQuery)
    rows, total = await use_cases.admin_articles(services(request.app), is_published=query.get("is_published"),
                                                 category=query.get("category"), limit=query["limit"],
                                                 offset=query["offset"])
    return json_response(page([schemas.article_admin_out(r) for r in rows], total, query["limit"], query["offset"]))


@routes.get(ARTICLE)
@doc("An article", tag=ADMIN, responses={200: schemas.ArticleAdminOut}, errors=(404,))
@requires(Role.ADMIN)
async def get_article(request: web.Request) -> web.Response:
    row = await use_cases.admin_article(services(request.app), path_uuid(request, "article_id"))
    return json_response(schemas.article_admin_out(row))


@routes.patch(ARTICLE)
@doc("Update an article", tag=ADMIN, body=schemas.ArticleUpdate, body_required=False,
     responses={200: schemas.ArticleAdminOut}, errors=(404,))
@requires(Role.ADMIN)
async def update_article(request: web.Request) -> web.Response:
    body = await parse_body(request, schemas.ArticleUpdate, optional=True)
    row = await use_cases.update_article(services(request.app), actor(request), path_uuid(request, "article_id"),
                                         body)
    return json_response(schemas.article_admin_out(row))


@routes.delete(ARTICLE)
@doc("Delete an article", tag=ADMIN, responses={204: None}, errors=(404,))
@requires(Role.ADMIN)
async def delete_article(request: web.Request) -> web.Response:
    await use_cases.delete_article(services(request.app), actor(request), path_uuid(request, "article_id"))
    return web.Response(status=204)


# --- events ----------------------------------------------------------------------------------

@routes.post("/admin/events")
@doc("Create an event", tag=ADMIN, body=schemas.EventCreate, responses={201: schemas.EventAdminOut},
     description="Pushes `community.event`.", request_example=examples.EVENT_CREATE)
@requires(Role.ADMIN)
async def create_event(request: web.Request) -> web.Response:
    body = await parse_body(request, schemas.EventCreate)
    row = await use_cases.create_event(services(request.app), actor(request), body)
    return json_response(schemas.event_admin_out(row), status=201)


@routes.get("/admin/events")
@doc("Events", tag=ADMIN, query=schemas.EventsQuery, responses={200: page_of(schemas.EventAdminOut)})
@requires(Role.ADMIN)
async def list_events(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.EventsQuery)
    rows, total = await use_cases.events_list(services(request.app), event_type=query.get("event_type"),
                                              status=query.get("status"), sort_order=query.get("sort_order"),
                                              limit=query["limit"], offset=query["offset"])
    return json_response(page([schemas.event_admin_out(r) for r in rows], total, query["limit"], query["offset"]))


@routes.get(EVENT)
@doc("An event", tag=ADMIN, responses={200: schemas.EventAdminOut}, errors=(404,))
@requires(Role.ADMIN)
async def get_event(request: web.Request) -> web.Response:
    row = await use_cases.event(services(request.app), path_uuid(request, "event_id"))
    return json_response(schemas.event_admin_out(row))


@routes.patch(EVENT)
@doc("Update an event", tag=ADMIN, body=schemas.EventUpdate, body_required=False,
     responses={200: schemas.EventAdminOut}, errors=(404,))
@requires(Role.ADMIN)
async def update_event(request: web.Request) -> web.Response:
    body = await parse_body(request, schemas.EventUpdate, optional=True)
    row = await use_cases.update_event(services(request.app), actor(request), path_uuid(request, "event_id"), body)
    return json_response(schemas.event_admin_out(row))


@routes.delete(EVENT)
@doc("Delete an event", tag=ADMIN, responses={204: None}, errors=(404,))
@requires(Role.ADMIN)
async def delete_event(request: web.Request) -> web.Response:
    await use_cases.delete_event(services(request.app), actor(request), path_uuid(request, "event_id"))
    return web.Response(status=204)
