"""CORS for every route (aiohttp-cors), from CORS_ALLOWED_ORIGINS. The same list guards websocket
Origins (gateway.ws.check_origin); SSE needs nothing more than these headers.

`setup` runs once over the whole router after every handler module has added its routes: each
resource gets aiohttp-cors's preflight (OPTIONS) route, so a preflight is answered 200 for an
allowed origin and 403 otherwise (with an empty list: always 403), never 405. Clients authenticate
with bearer tokens, never cookies: no credentials mode, and `Authorization` is an allowed header.
"""
from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import AbstractRoute

import aiohttp_cors

# Request headers a browser client may send beyond the safelisted ones (Last-Event-ID: an
# EventSource's reconnect).
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-Request-ID", "Last-Event-ID")
# Response headers its scripts may read beyond the safelisted ones.
EXPOSED_HEADERS = ("X-Request-ID", "Retry-After", "WWW-Authenticate")
PREFLIGHT_MAX_AGE = 600  # seconds a browser may reuse a preflight's answer


def setup(app: web.Application, origins: tuple[str, ...]) -> None:
    options = aiohttp_cors.ResourceOptions(allow_headers=ALLOWED_HEADERS, expose_headers=EXPOSED_HEADERS,
                                           allow_methods="*", max_age=PREFLIGHT_MAX_AGE)
    cors = aiohttp_cors.setup(app, defaults={origin: options for origin in origins})
    for resource in list(app.router.resources()):
        if any(route.method in (hdrs.METH_OPTIONS, hdrs.METH_ANY) for route in resource):
            continue  # answers OPTIONS itself (aiohttp-cors would refuse it)
        cors.add(resource)
    _skip_without_origin(app)


def _skip_without_origin(app: web.Application) -> None:
    """aiohttp-cors's response hook (just appended) looks up the route's configuration on every
    response; most requests (apps, servers) carry no Origin, and for them it does nothing anyway."""
    hook = app.on_response_prepare[-1]
    assert getattr(hook, "__module__", "").startswith("aiohttp_cors"), hook

    async def with_origin_only(request: web.Request, response: web.StreamResponse) -> None:
        if hdrs.ORIGIN in request.headers:
            await hook(request, response)

    app.on_response_prepare[-1] = with_origin_only


def is_preflight(route: AbstractRoute) -> bool:
    """An OPTIONS route `setup` added (route tables in tests leave them out, like automatic HEADs)."""
    return route.method == hdrs.METH_OPTIONS and getattr(route.handler, "__module__", "").startswith("aiohttp_cors")
