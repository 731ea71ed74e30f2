"""The public community: published articles and events. Lists may be cached a minute by clients and
proxies (they are the same for everyone)."""
from __future__ import annotations

from aiohttp import web

from gateway.jsonutil import json_response
from gateway.openapi_doc import MONEY, PUBLIC, Reply, doc
from gateway.tx import services
from schemas import community as schemas
from schemas.out import page_of
from schemas.common import UUID_RE, page, parse_query, path_uuid
from services import community as use_cases

routes = web.RouteTableDef()
PUBLIC_CACHE = {"Cache-Control": "public, max-age=60"}


@routes.get("/community/articles")
@doc("Published articles", tag=MONEY, auth=PUBLIC, query=schemas.ArticlesQuery,
     responses={200: Reply("Without the body (`content`)", page_of(schemas.ArticleListItemOut), headers=PUBLIC_CACHE)})
async def list_articles(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.ArticlesQuery)
    rows, total = await use_cases.published_articles(services(request.app), category=query.get("category"),
                                                     sort_by=query["sort_by"], sort_order=query.get("sort_order"),
                                                     limit=query["limit"], offset=query["offset"])
    items = [schemas.article_out(r, with_content=False) for r in rows]
    return json_response(page(items, total, query["limit"], query["offset"]), headers=PUBLIC_CACHE)


@routes.get("/community/articles/{article_id:" + UUID_RE + "}")
@doc("A published article", tag=MONEY, auth=PUBLIC, responses={200: Reply("", schemas.ArticleOut, headers=PUBLIC_CACHE)},
     errors=(404,))
async def get_article(request: web.Request) -> web.Response:
    row = await use_cases.published_article(services(request.app), path_uuid(request, "article_id"))
    return json_response(schemas.article_out(row), headers=PUBLIC_CACHE)


@routes.get("/community/events")
@doc("Community events", tag=MONEY, auth=PUBLIC, query=schemas.EventsQuery,
     responses={200: Reply("", page_of(schemas.EventOut), headers=PUBLIC_CACHE)})
async def list_events(request: web.Request) -> web.Response:
    query = parse_query(request, schemas.EventsQuery)
    rows, total = await use_cases.events_list(services(request.app), event_type=query.get("event_type"),
                                              status=query.get("status"), sort_order=query.get("sort_order"),
                                              limit=query["limit"], offset=query["offset"])
    items = [schemas.event_out(r) for r in rows]
    return json_response(page(items, total, query["limit"], query["offset"]), headers=PUBLIC_CACHE)


@routes.get("/community/events/{event_id:" + UUID_RE + "}")
@doc("A community event", tag=MONEY, auth=PUBLIC, responses={200: Reply("", schemas.EventOut, headers=PUBLIC_CACHE)},
     errors=(404,))
async def get_event(request: web.Request) -> web.Response:
    row = await use_cases.event(services(request.app), path_uuid(request, "event_id"))
    return json_response(schemas.event_out(row), headers=PUBLIC_CACHE)
