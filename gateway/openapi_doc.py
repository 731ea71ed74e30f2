"""What the OpenAPI document says about a route, written on its handler: `@doc(...)`.

    @routes.post("/connect/sessions")
    @doc("Request a consultation", tag=SESSIONS, body=SessionCreate, responses={201: SessionCreatedOut},
         errors=(400, 404, 409))
    @requires(Role.CLIENT)
    async def create_session(request): ...

The decorator only stores a `Doc` on the handler (as `gateway.auth.requires` stores
`__allign_roles__`); gateway.openapi reads both when it builds the document. Roles become bearer
security with 401 (WWW-Authenticate) and 403 answers; `body` and `query` are the very marshmallow
schemas the handler parses with; `responses` maps a status to its shape:
- a marshmallow schema class (the JSON answer), `[Schema]` (a bare JSON array of it), `AnyOf(A, B)`;
- `None`: no body (204);
- `Reply(...)`: anything else (another content type, headers, a raw JSON Schema, an example).
`errors` lists the contract's error answers the route can give beyond those every route has (401/403
from its roles, 422 when it takes input, 503 while the database is unreachable).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

H = TypeVar("H", bound=Callable[..., Any])
DOC_ATTRIBUTE = "__allign_doc__"

# Tags: the sections of CONTRACT.md, in its order (name, description).
AUTH = "Auth"
USERS = "Users (client)"
DISCOVERY = "Doctors — discovery"
DASHBOARD = "Doctors — dashboard, presence, settings"
SESSIONS = "Connect Now v2 — sessions"
MESSAGES = "Connect Now v2 — messages and the session websocket"
VIDEO = "Connect Now v2 — video permission and call sessions"
FILES = "Files: session attachments, reports, general attachments, recordings"
POST_SESSION = "Post-session: follow-ups, prescriptions, lab tests, reviews"
DEVICES = "Devices and push"
CATALOGS = "Catalogs (public)"
MONEY = "Categories, community, wallet, payments, analytics"
ADMIN = "Admin (admin role)"
OPERATIONS = "Operations"
TAGS: tuple[tuple[str, str], ...] = (
    (AUTH, "Patient OTP login, doctor and admin password logins, token refresh and logout."),
    (USERS, "The patient's own profile and avatar."),
    (DISCOVERY, "Search, list and view doctors. Auth optional: a patient token fills `is_favourite`."),
    (DASHBOARD, "The doctor's overview, session history, presence, availability, profile, reviews; "
                "patients' favourites."),
    (SESSIONS, "Requesting, answering and ending a consultation; the doctor's request stream (SSE, "
               "described in /api/v2/asyncapi.json)."),
    (MESSAGES, "Messages and receipts; the session websocket (frames in /api/v2/asyncapi.json)."),
    (VIDEO, "The patient's video permission (doctor allows, patient consents) and call sessions."),
    (FILES, "Two-phase uploads to blob storage (a write URL, then complete), reports, recordings."),
    (POST_SESSION, "Prescriptions and their PDF, lab-test recommendations, reviews, follow-ups."),
    (DEVICES, "Push notification device tokens."),
    (CATALOGS, "Medicine and lab-test typeahead search and details (public reference data)."),
    (MONEY, "Health categories, community, wallet, offers, Cashfree payments, analytics."),
    (ADMIN, "The admin console: accounts, wallet adjustments, categories, offers, community, audit log."),
    (OPERATIONS, "Probes, metrics, this documentation."),
)

# `auth=` values for routes without `@requires`.
PUBLIC = "public"   # no token; one sent is ignored
SIGNED = "signed"   # authenticated by a signature (webhooks, signed URLs), never by a bearer token


@dataclass(frozen=True)
class AnyOf:
    """An answer that is one of these shapes (e.g. a doctor as the public or as an admin sees it)."""
    schemas: tuple[Any, ...]

    def __init__(self, *schemas: Any) -> None:
        object.__setattr__(self, "schemas", schemas)


@dataclass(frozen=True)
class Reply:
    """A response beyond 'JSON of this schema': `schema` as for `responses` (or a raw JSON Schema
    dict), `content_type` None for no body, `headers` {name: description}."""
    description: str = ""
    schema: Any = None
    content_type: str | None = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    example: Any = None


@dataclass(frozen=True)
class Body:
    """A request body that is not JSON of a marshmallow schema (multipart, form, raw bytes)."""
    content_type: str
    schema: Any
    description: str = ""


@dataclass(frozen=True)
class Doc:
    summary: str
    tag: str
    description: str = ""
    body: Any = None              # marshmallow schema class, or Body
    body_required: bool = True
    query: Any = None             # marshmallow schema class of the query string
    responses: Mapping[int, Any] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    auth: Any = None              # None: from the handler's roles; PUBLIC, SIGNED, or a tuple of roles
    query_token: bool = False     # also `?access_token=` (EventSource, websockets)
    parameters: tuple[dict[str, Any], ...] = ()  # extra raw OpenAPI parameters (headers, ...)
    request_example: Any = None
    examples: Mapping[int, Any] = field(default_factory=dict)


def doc(summary: str, *, tag: str, description: str = "", body: Any = None, body_required: bool = True,
        query: Any = None, responses: Mapping[int, Any] | None = None, errors: tuple[int, ...] = (),
        auth: Any = None, query_token: bool = False, parameters: tuple[dict[str, Any], ...] = (),
        request_example: Any = None, examples: Mapping[int, Any] | None = None) -> Callable[[H], H]:
    """Attach the route's OpenAPI description to its handler (see the module docstring)."""
    described = Doc(summary=summary, tag=tag, description=description, body=body, body_required=body_required,
                    query=query, responses=dict(responses or {200: None}), errors=tuple(errors), auth=auth,
                    query_token=query_token, parameters=tuple(parameters), request_example=request_example,
                    examples=dict(examples or {}))

    def decorate(handler: H) -> H:
        setattr(handler, DOC_ATTRIBUTE, described)
        return handler

    return decorate


def doc_of(handler: Any) -> Doc | None:
    return getattr(handler, DOC_ATTRIBUTE, None)


def header(name: str, description: str, *, required: bool = True) -> dict[str, Any]:
    """A request header parameter (webhook signatures, Last-Event-ID)."""
    return {"in": "header", "name": name, "description": description, "required": required,
            "schema": {"type": "string"}}


def query_param(name: str, description: str, schema: dict[str, Any] | None = None, *,
                required: bool = False) -> dict[str, Any]:
    """A query parameter no marshmallow schema parses (signatures of signed URLs, stream cursors)."""
    return {"in": "query", "name": name, "description": description, "required": required,
            "schema": schema or {"type": "string"}}


def multipart(properties: Mapping[str, dict[str, Any]], required: tuple[str, ...], description: str = "") -> Body:
    return Body("multipart/form-data", {"type": "object", "properties": dict(properties), "required": list(required)},
                description)


FILE_PART = {"type": "string", "format": "binary", "description": "The file (sent after the other fields)"}
