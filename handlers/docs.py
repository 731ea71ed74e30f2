"""The API's documentation, served entirely by the app (no CDN: it works offline).

- /openapi.json: the OpenAPI 3.1 document (gateway.openapi), built once per app;
- /docs: Swagger UI over it, from the npm package swagger-ui-dist (package.json; scripts/system-deps.sh
  runs `npm ci`), its files served from node_modules by /docs/assets/{file};
- /asyncapi.json: the realtime protocol as AsyncAPI 3.0 (gateway.asyncapi); /docs/realtime: that
  document as a page (gateway.asyncapi_html).
"""
from __future__ import annotations

import weakref
from pathlib import Path

from aiohttp import web

from common.jsonutil import dumps
from domain.errors import NotFound, ServiceUnavailable
from gateway import asyncapi, asyncapi_html, keys, openapi
from gateway.openapi_doc import OPERATIONS, PUBLIC, Reply, doc

routes = web.RouteTableDef()
SWAGGER_UI = Path(__file__).resolve().parent.parent / "node_modules" / "swagger-ui-dist"
# The files of swagger-ui-dist the page loads, and their types (nothing else is served from there).
ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript",
          "favicon-32x32.png": "image/png", "favicon-16x16.png": "image/png"}
DOCS, REALTIME = "/api/v2/docs", "/api/v2/docs/realtime"
OPENAPI_JSON, ASYNCAPI_JSON = "/api/v2/openapi.json", "/api/v2/asyncapi.json"
# Documents change only with a deploy: clients and proxies may keep them a minute.
CACHE = {"Cache-Control": "public, max-age=60"}
ASSET_CACHE = {"Cache-Control": "public, max-age=86400"}

PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Allign API v2: docs</title>
<link rel="stylesheet" href="{DOCS}/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="{DOCS}/assets/favicon-32x32.png">
<style>body{{margin:0}}.allign-bar{{font-family:system-ui,sans-serif;padding:.7rem 1.2rem;background:#1b3a57;color:#fff}}
.allign-bar a{{color:#cfe3ff;margin-left:1rem}}</style>
</head><body>
<div class="allign-bar"><strong>Allign API v2</strong>
<a href="{OPENAPI_JSON}">openapi.json</a><a href="{REALTIME}">Realtime: SSE and websocket</a>
<a href="{ASYNCAPI_JSON}">asyncapi.json</a></div>
<div id="swagger-ui"></div>
<script src="{DOCS}/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "{OPENAPI_JSON}", dom_id: "#swagger-ui", deepLinking: true, docExpansion: "list",
  defaultModelsExpandDepth: 0, displayRequestDuration: true, persistAuthorization: true,
  validatorUrl: null  // the default sends the document to validator.swagger.io: never leave the machine
}});
</script>
</body></html>
"""

_ASYNCAPI: weakref.WeakKeyDictionary[web.Application, tuple[bytes, str]] = weakref.WeakKeyDictionary()


def _realtime(app: web.Application) -> tuple[bytes, str]:
    """The AsyncAPI document (JSON) and its page, made once per app (its servers: the app's base URL)."""
    built = _ASYNCAPI.get(app)
    if built is None:
        document = asyncapi.document(app[keys.SETTINGS].base_url)
        built = _ASYNCAPI[app] = (dumps(document), asyncapi_html.render(document))
    return built


@routes.get("/openapi.json")
@doc("This API as an OpenAPI 3.1 document", tag=OPERATIONS, auth=PUBLIC,
     responses={200: Reply("The document", schema={"type": "object"})})
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=openapi.document_bytes(request.app), content_type="application/json", headers=CACHE)


@routes.get("/asyncapi.json")
@doc("The realtime protocol (SSE and websocket) as an AsyncAPI 3.0 document", tag=OPERATIONS, auth=PUBLIC,
     responses={200: Reply("The document", schema={"type": "object"})})
async def asyncapi_json(request: web.Request) -> web.Response:
    return web.Response(body=_realtime(request.app)[0], content_type="application/json", headers=CACHE)


@routes.get("/docs")
@doc("These docs (Swagger UI)", tag=OPERATIONS, auth=PUBLIC,
     responses={200: Reply("An HTML page", schema={"type": "string"}, content_type="text/html")},
     description="503 DOCS_UNAVAILABLE when swagger-ui-dist is not installed (`npm ci`).")
async def docs_page(request: web.Request) -> web.Response:
    if not (SWAGGER_UI / "swagger-ui-bundle.js").is_file():
        raise ServiceUnavailable("Swagger UI is not installed: run `npm ci` (scripts/system-deps.sh does)",
                                 code="DOCS_UNAVAILABLE")
    return web.Response(text=PAGE, content_type="text/html", headers=CACHE)


@routes.get("/docs/realtime")
@doc("The realtime protocol, readable (from /api/v2/asyncapi.json)", tag=OPERATIONS, auth=PUBLIC,
     responses={200: Reply("An HTML page", schema={"type": "string"}, content_type="text/html")})
async def realtime_page(request: web.Request) -> web.Response:
    return web.Response(text=_realtime(request.app)[1], content_type="text/html", headers=CACHE)


@routes.get("/docs/assets/{file:[A-Za-z0-9._-]+}")
@doc("A file of the docs page (Swagger UI's script, style, icons)", tag=OPERATIONS, auth=PUBLIC,
     responses={200: Reply("The file", schema={"type": "string"}, content_type="*/*")}, errors=(404,))
async def docs_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["file"]
    content_type = ASSETS.get(name)
    path = SWAGGER_UI / name
    if content_type is None or not path.is_file():
        raise NotFound("No such docs file")
    response = web.FileResponse(path, headers=ASSET_CACHE)
    response.content_type = content_type
    return response
