"""The app's route table as tests see it: every (method, canonical path) the router serves, and a
concrete URL for each, so matrix tests (roles, ownership) can walk all routes without a hand list.

`app_routes(app)` flattens `app.router.routes()`, which already includes the routes of sub-apps
(aiohttp iterates a PrefixedSubAppResource as its sub-app's routes, with the prefix applied to their
canonical paths). HEAD routes that aiohttp adds beside a GET (`add_get`) are left out, and so are the
CORS preflight (OPTIONS) routes gateway.cors adds to every resource.

`concrete_path(app, route)` fills each path parameter with a value its regex accepts (UUIDs: a random
uuid4, so the object never exists) and checks, through the router itself, that the URL resolves to
that very route: a new parameter the defaults cannot fill fails loudly instead of hitting a 404 from
the router (which would look like "passed the role check").
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_urldispatcher import AbstractRoute, StaticResource

from gateway.cors import is_preflight

# Values for path parameters that are not ids. A parameter named `id` or `*_id` gets a uuid4.
PARAM_VALUES: dict[str, Callable[[], str]] = {
    "slug": lambda: "no-such-doctor-slug",
    "kind": lambda: "users",                          # /avatars/{kind:users|doctors}/...
    "file": lambda: uuid.uuid4().hex + ".png",        # /avatars/.../{file:[0-9a-f]{32}\.(jpg|png|webp)}
    "container": lambda: "attachments",               # /blobs/{container:[a-z]+}/{name:.+}
    "name": lambda: f"{uuid.uuid4()}/nothing.bin",
    "filename": lambda: "nothing.txt",                # static resources
}

_PARAM = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True)
class RouteInfo:
    method: str        # "GET", "POST", ... ("*" for an any-method route)
    path: str          # canonical path, parameters without their regex: /api/v2/doctors/{doctor_id}
    route: AbstractRoute

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def handler(self):
        return self.route.handler

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _canonical(route: AbstractRoute) -> str:
    resource = route.resource
    assert resource is not None, f"route without a resource: {route!r}"
    if isinstance(resource, StaticResource):
        return resource.canonical.rstrip("/") + "/{filename}"
    return resource.canonical


def app_routes(app: web.Application, *, include_auto_head: bool = False) -> list[RouteInfo]:
    """Every route of `app` (sub-apps included), in registration order."""
    infos: list[RouteInfo] = []
    for route in app.router.routes():
        if not is_preflight(route):
            infos.append(RouteInfo(route.method.upper(), _canonical(route), route))
    if include_auto_head:
        return infos
    gets = {info.path for info in infos if info.method == "GET"}
    return [info for info in infos if not (info.method == "HEAD" and info.path in gets)]


def param_value(name: str) -> str:
    if name == "id" or name.endswith("_id"):
        return str(uuid.uuid4())
    try:
        return PARAM_VALUES[name]()
    except KeyError:
        raise AssertionError(f"no test value for path parameter {{{name}}}: add one to tests/routes.PARAM_VALUES") from None


async def concrete_path(app: web.Application, info: RouteInfo, overrides: Mapping[str, str] | None = None) -> str:
    """A URL path for `info` with every parameter filled (`overrides` first), checked to resolve to it."""
    values = {name: (overrides or {}).get(name) or param_value(name) for name in info.params}
    path = _PARAM.sub(lambda m: values[m.group(1)], info.path)
    method = "GET" if info.method in ("*", "HEAD") else info.method
    match = await app.router.resolve(make_mocked_request(method, path, app=app))
    if match.http_exception is not None or match.route is not info.route:
        raise AssertionError(f"{info}: the filled-in path {path} resolves to {match.route!r} "
                             f"({match.http_exception!r}), not to this route; fix tests/routes.PARAM_VALUES")
    return path


def shape(path: str) -> str:
    """The path with every parameter replaced by `{}`: compares routes whose parameter names differ."""
    return _PARAM.sub("{}", path)
