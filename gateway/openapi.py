"""The OpenAPI 3.1 document of the app (GET /api/v2/openapi.json), generated with apispec's
MarshmallowPlugin from the route table and what each handler declares:

- `@doc(...)` (gateway.openapi_doc): summary, tag, the request body and query schemas the handler
  parses with, the response shapes (schemas/out.py and the OutSchemas of schemas/<domain>.py);
- `@requires(...)` (`__allign_roles__`, gateway.auth): bearer security, 401 with WWW-Authenticate,
  403 for the other roles; `@optional_auth`: anonymous or any token (a bad one is 401);
- the route's pattern: path parameters (`{id:regex}` → `{id}`, with a uuid format or the regex).

Built once per app on first use (the route table is fixed once the app runs) and kept with the app.
A route without `@doc` is left out and logged; tests/test_openapi.py fails on it.
"""
from __future__ import annotations

import logging
import re
import weakref
from typing import Any, Iterator

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import AbstractRoute
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import Schema

from common.jsonutil import dumps
from gateway.auth import optional_auth
from gateway.cors import is_preflight
from gateway.openapi_doc import PUBLIC, SIGNED, TAGS, AnyOf, Body, Doc, Reply, doc_of
from schemas.common import UUID_RE

log = logging.getLogger(__name__)
TITLE = "Allign API v2"
VERSION = "2.0.0"
DESCRIPTION = """The Allign telemedicine platform's API. JSON in and out; ids are UUIDs; datetimes are
ISO 8601 in UTC with `Z`; money is always an integer number of **paise** (1 INR = 100 paise), except the
admin wallet-offer body, which takes INR decimals.

Authenticate with `Authorization: Bearer <access_token>` (POST /api/v2/auth/verify-otp,
/auth/doctor/login or /admin/auth/login). Roles: `client` (patient), `doctor`, `admin`: a valid token
of another role is 403, another user's object is 404.

Errors are `{"detail": "...", "code": "MACHINE_CODE"}`; a 422 has `detail` as a list of
`{"loc", "msg", "type"}`. 401 carries `WWW-Authenticate: Bearer`, 429 and 503 `Retry-After`. Every
response carries `X-Request-ID` (yours echoed, or generated).

The realtime protocol (the doctor's SSE request stream, the session websocket's frames and close
codes) is described in [/api/v2/asyncapi.json](/api/v2/asyncapi.json), readable at
[/api/v2/docs/realtime](/api/v2/docs/realtime)."""

# Optional auth is recognised by its wrapper's code (gateway.auth.optional_auth keeps no marker).
_OPTIONAL_CODE = optional_auth(lambda request: None).__code__  # type: ignore[arg-type,return-value]
_PARAM = re.compile(r"\{([^}]+)\}")
_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 101: "Switching Protocols",
                302: "Found (a redirect)", 303: "See Other"}

ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object", "required": ["detail", "code"],
        "properties": {"detail": {"type": "string", "description": "Human readable message"},
                       "code": {"type": "string", "description": "Machine code, e.g. NOT_FOUND, WRONG_ROLE"}},
    },
    "ValidationErrorItem": {
        "type": "object", "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {"type": "array", "items": {"type": ["string", "integer"]},
                    "description": "Where: starts with `body`, `query` or `path`, then field names and list indexes"},
            "msg": {"type": "string"},
            "type": {"type": "string", "description": "missing, value_error, int_parsing, json_invalid, ..."},
        },
    },
    "ValidationError": {
        "type": "object", "required": ["detail", "code"],
        "properties": {"detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationErrorItem"}},
                       "code": {"type": "string", "enum": ["VALIDATION_ERROR"]}},
    },
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
HEADERS: dict[str, dict[str, Any]] = {
    "WWWAuthenticate": {"description": "`Bearer`", "required": True, "schema": {"type": "string"}},
    "RetryAfter": {"description": "Seconds to wait before trying again", "required": True,
                   "schema": {"type": "string", "pattern": "^[0-9]+$"}},
    "RetryAfterOptional": {"description": "Seconds to wait before trying again (when known)",
                           "schema": {"type": "string", "pattern": "^[0-9]+$"}},
}
_WWW = {"headers": {"WWW-Authenticate": {"$ref": "#/components/headers/WWWAuthenticate"}}}
# status → (component name, description, extra, example)
ERRORS: dict[int, tuple[str, str, dict[str, Any], dict[str, Any]]] = {
    400: ("BadRequest", "Invalid input or a business rule (e.g. INSUFFICIENT_BALANCE)", {},
          {"detail": "Wallet balance too low for 5 minutes with this doctor", "code": "INSUFFICIENT_BALANCE"}),
    401: ("Unauthorized", "Missing, malformed, expired or revoked token (or a bad signature)", _WWW,
          {"detail": "Not authenticated", "code": "UNAUTHORIZED"}),
    403: ("Forbidden", "A valid token of a role this route does not serve (WRONG_ROLE), or not allowed", {},
          {"detail": "This action is not allowed for your role", "code": "WRONG_ROLE"}),
    404: ("NotFound", "No such object, or it belongs to someone else", {},
          {"detail": "Session not found", "code": "SESSION_NOT_FOUND"}),
    409: ("Conflict", "The object's state does not allow this (or a duplicate)", {},
          {"detail": "Session is ENDED", "code": "SESSION_ALREADY_ENDED"}),
    413: ("PayloadTooLarge", "Body or file too large", {},
          {"detail": "File too large: the limit is 10485760 bytes", "code": "FILE_TOO_LARGE"}),
    415: ("UnsupportedMediaType", "Expected another Content-Type", {},
          {"detail": "Expected application/json, got text/csv", "code": "UNSUPPORTED_MEDIA_TYPE"}),
    422: ("ValidationError", "Invalid input: `detail` lists each problem", {},
          {"detail": [{"loc": ["body", "phone"], "msg": "Field required", "type": "missing"}],
           "code": "VALIDATION_ERROR"}),
    429: ("TooManyRequests", "Rate limited", {"headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}},
          {"detail": "Too many OTP requests; try again later", "code": "RATE_LIMITED"}),
    503: ("ServiceUnavailable", "The database or an outside service is unavailable; try again",
          {"headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfterOptional"}}},
          {"detail": "Database temporarily unavailable", "code": "DATABASE_UNAVAILABLE"}),
}
SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "An access token from the login endpoints"},
    "accessTokenQuery": {"type": "apiKey", "in": "query", "name": "access_token",
                         "description": "The access token in the URL, for clients that cannot set headers "
                                        "(EventSource, browser websockets)"},
}


def _route_infos(app: web.Application) -> Iterator[tuple[str, str, AbstractRoute]]:
    """(METHOD, canonical path, route) of every route, without CORS preflights and automatic HEADs."""
    routes = [r for r in app.router.routes() if not is_preflight(r) and r.method != hdrs.METH_ANY]
    gets = {r.resource.canonical for r in routes if r.method == hdrs.METH_GET and r.resource is not None}
    for route in routes:
        resource = route.resource
        if resource is None or (route.method == hdrs.METH_HEAD and resource.canonical in gets):
            continue
        yield route.method, resource.canonical, route


def undocumented(app: web.Application) -> list[str]:
    """Routes whose handler has no `@doc` (the document leaves them out)."""
    return [f"{method} {path}" for method, path, route in _route_infos(app) if doc_of(route.handler) is None]


def _groups(pattern: str) -> dict[str, str]:
    """{name: regex} of the named groups of a route's compiled pattern."""
    out: dict[str, str] = {}
    for match in re.finditer(r"\(\?P<(\w+)>", pattern):
        depth, i = 1, match.end()
        while depth and i < len(pattern):
            char = pattern[i]
            if char == "\\":
                i += 2
                continue
            depth += {"(": 1, ")": -1}.get(char, 0)
            i += 1
        out[match.group(1)] = pattern[match.end():i - 1]
    return out


def _path_parameters(route: AbstractRoute, path: str) -> list[dict[str, Any]]:
    names = _PARAM.findall(path)
    if not names:
        return []
    info = route.resource.get_info() if route.resource is not None else {}
    regexes = _groups(info["pattern"].pattern) if "pattern" in info else {}
    params = []
    for name in names:
        regex = regexes.get(name, "[^{}/]+")
        if regex == UUID_RE:
            schema: dict[str, Any] = {"type": "string", "format": "uuid"}
        elif regex == "[^{}/]+":
            schema = {"type": "string", "pattern": "^[^/]+$"}
        else:
            schema = {"type": "string", "pattern": f"^(?:{regex})$"}
        params.append({"in": "path", "name": name, "required": True, "schema": schema})
    return params


def _schema(shape: Any) -> Any:
    """A response/body shape of `@doc` → what apispec resolves (a schema class stays a class)."""
    if isinstance(shape, list):
        return {"type": "array", "items": _schema(shape[0])}
    if isinstance(shape, AnyOf):
        return {"anyOf": [_schema(s) for s in shape.schemas]}
    return shape


def _content(content_type: str, schema: Any, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {}
    if schema is not None:
        media["schema"] = _schema(schema)
    if example is not None:
        media["example"] = example
    return {content_type: media}


def _response(status: int, shape: Any, example: Any) -> dict[str, Any]:
    if isinstance(shape, Reply):
        out: dict[str, Any] = {"description": shape.description or _STATUS_TEXT.get(status, "")}
        if shape.content_type is not None:
            out["content"] = _content(shape.content_type, shape.schema, shape.example or example)
        if shape.headers:
            out["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                              for name, text in shape.headers.items()}
        return out
    out = {"description": _STATUS_TEXT.get(status, str(status))}
    if shape is not None:
        out["content"] = _content("application/json", shape, example)
    return out


def _auth(handler: Any, described: Doc) -> tuple[str, tuple[str, ...]]:
    """("roles", roles) | ("optional", ()) | ("public", ()) | ("signed", ())."""
    if described.auth in (PUBLIC, SIGNED):
        return described.auth, ()
    if isinstance(described.auth, tuple):
        return "roles", described.auth
    roles = getattr(handler, "__allign_roles__", None)
    if roles is not None:
        return "roles", tuple(str(r) for r in roles)
    if getattr(handler, "__code__", None) is _OPTIONAL_CODE:
        return "optional", ()
    return PUBLIC, ()


def _operation(method: str, path: str, route: AbstractRoute, described: Doc, used_ids: set[str]) -> dict[str, Any]:
    handler = route.handler
    module = getattr(handler, "__module__", "").rpartition(".")[2]
    operation_id = f"{module}_{getattr(handler, '__name__', 'handler')}"
    if operation_id in used_ids:  # one handler on two paths (/doctors and /doctors/)
        operation_id += "_trailing_slash" if path.endswith("/") else f"_{method.lower()}"
    used_ids.add(operation_id)
    op: dict[str, Any] = {"tags": [described.tag], "summary": described.summary, "operationId": operation_id}
    parameters: list[dict[str, Any]] = _path_parameters(route, path)
    if described.query is not None:
        parameters.append({"in": "query", "schema": described.query})
    parameters.extend(described.parameters)
    if parameters:
        op["parameters"] = parameters
    if described.body is not None:
        if isinstance(described.body, Body):
            content = _content(described.body.content_type, described.body.schema, described.request_example)
        else:
            content = _content("application/json", described.body, described.request_example)
        op["requestBody"] = {"required": described.body_required, "content": content}
        if isinstance(described.body, Body) and described.body.description:
            op["requestBody"]["description"] = described.body.description

    kind, roles = _auth(handler, described)
    notes = []
    errors = set(described.errors) | {503}
    query_token = [{"accessTokenQuery": []}] if described.query_token else []
    if kind == "roles":
        op["security"] = [{"bearerAuth": []}, *query_token]
        op["x-roles"] = list(roles) or ["client", "doctor", "admin"]
        notes.append(f"**Roles:** {', '.join(roles) if roles else 'any role'}.")
        errors |= {401, 403} if roles else {401}
    elif kind == "optional":
        op["security"] = [{}, {"bearerAuth": []}]
        notes.append("**Auth optional:** anonymous, or any valid token (a malformed one is 401).")
        errors.add(401)
    elif kind == SIGNED:
        op["security"] = []
        notes.append("**Signed:** authenticated by a signature, not by a bearer token.")
    else:
        op["security"] = []
        notes.append("**Public.**")
    if parameters or described.body is not None:
        errors.add(422)
    if described.body is not None and not isinstance(described.body, Body):
        errors.add(415)  # a JSON body sent as another Content-Type (schemas.common.parse_body)
    if described.description:
        notes.append(described.description)
    op["description"] = "\n\n".join(notes)

    responses: dict[str, Any] = {}
    for status, shape in sorted(described.responses.items()):
        responses[str(status)] = _response(status, shape, described.examples.get(status))
    for status in sorted(errors):
        if str(status) not in responses:
            responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    responses["default"] = {"description": "Any other error, in the contract's shape",
                            "content": {"application/json": {"schema": _ERROR_REF}}}
    op["responses"] = responses
    return op


class _Names:
    """Component names: a schema class's own name; a second class of the same name gets its module's."""

    def __init__(self) -> None:
        self.by_class: dict[type, str] = {}
        self.taken: set[str] = set()

    def __call__(self, schema: Any) -> str:
        cls = resolve_schema_cls(schema)
        cls = cls[0] if isinstance(cls, list) else cls
        name = self.by_class.get(cls)
        if name is None:
            name = cls.__name__
            if name in self.taken:
                name = f"{cls.__module__.rpartition('.')[2]}_{name}"
            self.by_class[cls] = name
            self.taken.add(name)
        return name


def build(app: web.Application) -> dict[str, Any]:
    spec = APISpec(title=TITLE, version=VERSION, openapi_version="3.1.0",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_Names())],
                   info={"description": DESCRIPTION},
                   tags=[{"name": name, "description": text} for name, text in TAGS])
    for name, schema in ERROR_SCHEMAS.items():
        spec.components.schema(name, schema)
    for name, header in HEADERS.items():
        spec.components.header(name, header)
    for status, (name, text, extra, example) in ERRORS.items():
        ref = "ValidationError" if status == 422 else "Error"
        spec.components.response(name, {"description": text, **extra, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{ref}"}, "example": example}}})
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    used_ids: set[str] = set()
    missing = []
    for method, path, route in _route_infos(app):
        described = doc_of(route.handler)
        if described is None:
            missing.append(f"{method} {path}")
            continue
        spec.path(path=path, operations={method.lower(): _operation(method, path, route, described, used_ids)})
    if missing:
        log.warning("routes without @doc, left out of the OpenAPI document: %s", ", ".join(missing))
    return spec.to_dict()


_DOCUMENTS: weakref.WeakKeyDictionary[web.Application, bytes] = weakref.WeakKeyDictionary()


def document_bytes(app: web.Application) -> bytes:
    """The app's document as JSON, built on first use and kept with the app."""
    body = _DOCUMENTS.get(app)
    if body is None:
        body = _DOCUMENTS[app] = dumps(build(app))
    return body


def schema_components(*schemas: type[Schema]) -> dict[str, Any]:
    """JSON Schemas of these OutSchemas (and what they nest), as `components.schemas` names them:
    the AsyncAPI document describes its payloads with the very shapes the REST answers use."""
    spec = APISpec(title=TITLE, version=VERSION, openapi_version="3.1.0",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_Names())])
    for schema in schemas:
        if schema.__name__ not in spec.components.schemas:  # not already in, as another one's nested shape
            spec.components.schema(schema.__name__, schema=schema)
    return spec.to_dict()["components"]["schemas"]
