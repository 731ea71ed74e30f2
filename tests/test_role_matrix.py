"""Role matrix over the whole route table.

EXPECTED below is written from ../shared/spec/CONTRACT.md (roles per endpoint), not from the code.
Every route the app serves must be in it and every entry must still be served; then, for each route:

- protected (a set of roles): no token → 401 + `WWW-Authenticate: Bearer` + `{"detail", "code"}`;
  a valid token of each role outside the set → 403 `WRONG_ROLE`; a token of each role inside the set
  → anything but 401/403 (and not a 5xx). Path ids are random uuid4s: the role check comes before any
  lookup, so an allowed role typically gets 404/422 and a refused one 403 without touching data.
- OPTIONAL (`optional_auth`): no token and each role's token → not 401/403; a malformed token → 401.
- PUBLIC: no token, each role's token and a malformed token → not 401/403 (the header is ignored).
- SIGNED (webhooks, local blob URLs): authenticated by a signature, never by a bearer token, so an
  unsigned request is refused (401/403) with or without a user's token.

POST/PUT/PATCH carry the body `{}`: a handler that parsed its body before checking the role would
answer 422 instead of 403 and fail here. The websocket is probed the way a client opens it
(`ws_connect`, which sees the refusal as WSServerHandshakeError), and once more as a plain GET to
check the error body (it refuses before the upgrade, as plain HTTP).

One test walks everything and reports every mismatch at once (one line each), rather than one
test per route: a single app and three users keep it to a couple of seconds.
"""
from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from gateway.app import create_app
from gateway.auth import optional_auth
from tests import factories
from tests.routes import RouteInfo, app_routes, concrete_path, shape

CLIENT, DOCTOR, ADMIN = "client", "doctor", "admin"
ROLES = (CLIENT, DOCTOR, ADMIN)
C = frozenset({CLIENT})
D = frozenset({DOCTOR})
A = frozenset({ADMIN})
CD = frozenset({CLIENT, DOCTOR})          # "participant", "either", "both"
ANY = frozenset(ROLES)                    # "any role" (any valid token)
PUBLIC = "public"                         # no token needed; a token is ignored
OPTIONAL = "optional"                     # "auth optional": anonymous or any role; a bad token is 401
SIGNED = "signed"                         # a signature in the URL/headers, not a bearer token

P = "/api/v2"
S = P + "/connect/sessions/{session_id}"

# (method, canonical path) → allowed roles | PUBLIC | OPTIONAL | SIGNED. From CONTRACT.md.
EXPECTED: dict[tuple[str, str], frozenset[str] | str] = {
    # Operations (outside /api/v2). The contract names METRICS_TOKEN without defining it; /metrics
    # takes no bearer token either way.
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,

    # Auth
    ("POST", P + "/auth/request-otp"): PUBLIC,
    ("POST", P + "/auth/verify-otp"): PUBLIC,
    ("POST", P + "/auth/doctor/login"): PUBLIC,
    ("POST", P + "/auth/refresh"): PUBLIC,
    ("POST", P + "/auth/logout"): ANY,
    ("POST", P + "/admin/auth/login"): PUBLIC,
    ("GET", P + "/admin/auth/me"): A,

    # Users (client)
    ("GET", P + "/users/me"): C,
    ("PATCH", P + "/users/me"): C,
    ("POST", P + "/users/me/avatar"): C,
    ("DELETE", P + "/users/me/avatar"): C,

    # Doctors: discovery ("auth optional; a client token fills is_favourite"). The contract writes
    # /doctors/; the app serves it with and without the slash, both listed.
    ("GET", P + "/doctors/search"): OPTIONAL,
    ("GET", P + "/doctors"): OPTIONAL,
    ("GET", P + "/doctors/"): OPTIONAL,
    ("GET", P + "/doctors/all_doctors_list"): OPTIONAL,
    ("GET", P + "/doctors/slug/{slug}"): OPTIONAL,
    ("GET", P + "/doctors/{doctor_id}"): OPTIONAL,
    ("GET", P + "/doctors/{doctor_id}/reviews"): OPTIONAL,
    ("POST", P + "/doctors"): A,
    ("POST", P + "/doctors/"): A,
    ("PATCH", P + "/doctors/{doctor_id}"): A,

    # Doctors: dashboard, presence, settings (doctor); favourites (client)
    ("GET", P + "/doctors/me/overview"): D,
    ("GET", P + "/doctors/me/sessions"): D,
    ("GET", P + "/doctors/me/sessions/recent"): D,
    ("PUT", P + "/doctors/me/online"): D,
    ("PUT", P + "/doctors/me/presence"): D,
    ("PATCH", P + "/doctors/me/availability"): D,
    ("GET", P + "/doctors/me/profile"): D,
    ("PATCH", P + "/doctors/me/profile"): D,
    ("POST", P + "/doctors/me/avatar"): D,
    ("DELETE", P + "/doctors/me/avatar"): D,
    ("GET", P + "/doctors/favourites"): C,
    ("POST", P + "/doctors/{doctor_id}/favourite"): C,

    # Avatar images: not in the contract; the target of the `avatar_url` that UserOut/DoctorOut hand
    # out, shown to the other party and in public listings (a redirect to a signed blob URL).
    ("GET", P + "/avatars/{kind}/{owner_id}/{file}"): PUBLIC,

    # Connect Now: sessions
    ("POST", P + "/connect/sessions"): C,
    ("GET", P + "/connect/sessions/requests"): D,
    ("GET", P + "/connect/sessions/requests/stream"): D,
    ("GET", S): CD,
    ("POST", S + "/accept"): D,
    ("POST", S + "/reject"): D,
    ("POST", S + "/end"): CD,
    ("GET", S + "/token"): CD,

    # Messages and the session websocket (participants)
    ("POST", S + "/messages"): CD,
    ("GET", S + "/messages"): CD,
    ("POST", S + "/messages/delivered"): CD,
    ("POST", S + "/messages/read"): CD,
    ("GET", S + "/ws"): CD,

    # Video permission and call sessions
    ("GET", S + "/video-permission"): CD,
    ("POST", S + "/video-permission/allow"): D,
    ("POST", S + "/video-permission/accept"): C,
    ("POST", S + "/video-permission/decline"): C,
    ("POST", S + "/video-permission/toggle"): C,
    ("POST", S + "/video-permission/revoke"): CD,
    ("POST", P + "/connect/call-sessions"): CD,
    ("GET", P + "/connect/call-sessions/{call_id}"): CD,

    # Files. Session attachments: participants. Reports: the patient uploads (init, complete), both
    # read; DELETE is "uploader only (doctor → 403)", which the contract's conventions present as an
    # ownership rule on an existing report (the one 403 instead of 404), not a role rule: both roles
    # pass the role check, and the ownership test covers the doctor's 403. General attachments:
    # "owner or session participant" (profiles and sessions belong to patients and doctors).
    ("POST", S + "/attachments"): CD,
    ("POST", S + "/attachments/{attachment_id}/complete"): CD,
    ("GET", S + "/attachments"): CD,
    ("POST", S + "/reports/init"): C,
    ("POST", S + "/reports/{report_id}/complete"): C,
    ("GET", S + "/reports"): CD,
    ("GET", S + "/reports/{report_id}"): CD,
    ("DELETE", S + "/reports/{report_id}"): CD,
    ("POST", P + "/attachments/init"): CD,
    ("POST", P + "/attachments/{attachment_id}/upload"): CD,
    ("POST", P + "/attachments/{attachment_id}/complete"): CD,
    ("POST", P + "/attachments"): CD,
    ("GET", P + "/attachments"): CD,
    ("DELETE", P + "/attachments/{attachment_id}"): CD,
    ("POST", S + "/recordings"): CD,
    ("POST", S + "/recordings/{recording_id}/stop"): CD,
    ("GET", S + "/recordings"): CD,
    ("POST", P + "/webhooks/livekit"): SIGNED,
    # Local blob store (BLOB_BACKEND=local): stands in for Azure SAS URLs; HMAC-signed, expiring URLs,
    # wrong signature/expiry/method → 403. No bearer token opens them.
    ("PUT", "/blobs/{container}/{name}"): SIGNED,
    ("GET", "/blobs/{container}/{name}"): SIGNED,

    # Post-session: prescriptions and lab tests (doctor writes, participants read)
    ("POST", S + "/prescription"): D,
    ("GET", S + "/prescription"): CD,
    ("PUT", S + "/prescription"): D,
    ("GET", S + "/prescription/pdf"): CD,
    ("POST", S + "/lab-tests"): D,
    ("GET", S + "/lab-tests"): CD,
    ("PUT", S + "/lab-tests"): D,

    # Devices and push
    ("POST", P + "/devices/tokens"): ANY,
    ("DELETE", P + "/devices/tokens"): ANY,

    # Catalogs (public)
    ("GET", P + "/medicines/search"): PUBLIC,
    ("GET", P + "/medicines/{medicine_id}"): PUBLIC,
    ("GET", P + "/lab-tests/catalog/search"): PUBLIC,
    ("GET", P + "/lab-tests/catalog/{test_id}"): PUBLIC,

    # Categories, wallet
    ("GET", P + "/categories/health"): C,
    ("GET", P + "/wallet"): C,
    ("GET", P + "/wallet/transactions"): C,

    # Admin
    ("POST", P + "/admin/users/{user_id}/wallet/adjustments"): A,
    ("POST", P + "/admin/categories"): A,
    ("GET", P + "/admin/categories"): A,
    ("GET", P + "/admin/categories/{category_id}"): A,
    ("PATCH", P + "/admin/categories/{category_id}"): A,
    ("DELETE", P + "/admin/categories/{category_id}"): A,
}

# Contract endpoints the app does not serve yet, with their contract roles ({} = any parameter
# name). Not a failure here; when one appears in the app, the "missing from EXPECTED" failure quotes
# this entry so moving it into EXPECTED is a copy.
NOT_YET_SERVED: dict[tuple[str, str], frozenset[str] | str] = {
    ("GET", P + "/doctors/me/reviews"): D,
    ("POST", P + "/doctors/me/reviews/{}/reply"): D,
    ("PUT", P + "/doctors/me/reviews/{}/reply"): D,
    ("DELETE", P + "/doctors/me/reviews/{}/reply"): D,
    ("POST", P + "/doctors/me/sessions/{}/review-reminder"): D,
    ("POST", P + "/connect/sessions/{}/followup"): D,
    ("GET", P + "/connect/sessions/{}/followup"): CD,
    ("POST", P + "/connect/sessions/{}/review"): C,
    ("POST", P + "/reviews"): C,
    ("POST", P + "/followups"): D,
    ("GET", P + "/followups"): CD,
    ("GET", P + "/followups/{}"): CD,
    ("POST", P + "/followups/{}/respond"): C,
    ("POST", P + "/followups/{}/reschedule-response"): D,
    ("POST", P + "/followups/{}/cancel"): CD,
    ("GET", P + "/community/articles"): PUBLIC,
    ("GET", P + "/community/articles/{}"): PUBLIC,
    ("GET", P + "/community/events"): PUBLIC,
    ("GET", P + "/community/events/{}"): PUBLIC,
    ("GET", P + "/wallet/offers"): PUBLIC,
    ("POST", P + "/payments/cashfree/orders"): C,
    ("GET", P + "/payments/cashfree/orders/{}/verify"): C,
    ("POST", P + "/payments/cashfree/webhook"): SIGNED,
    ("GET", P + "/analytics/user/overview"): C,
    ("GET", P + "/analytics/user/sessions"): C,
    ("GET", P + "/analytics/user/orders"): C,
    ("GET", P + "/analytics/user/recharges"): C,
    ("GET", P + "/analytics/doctor/performance"): D,
    ("GET", P + "/analytics/doctor/reviews/metrics"): D,
    ("GET", P + "/analytics/doctor/reviews/trends"): D,
    ("GET", P + "/analytics/doctor/reviews/rating-distribution"): D,
    ("GET", P + "/admin/users"): A,
    ("GET", P + "/admin/users/{}"): A,
    ("PATCH", P + "/admin/users/{}"): A,
    ("PATCH", P + "/admin/users/{}/status"): A,
    ("GET", P + "/admin/users/{}/analytics/overview"): A,
    ("GET", P + "/admin/users/{}/analytics/sessions"): A,
    **{(method, P + f"/admin/{kind}{suffix}"): A
       for kind in ("wallet-offers", "articles", "events")
       for method, suffix in (("POST", ""), ("GET", ""), ("GET", "/{}"), ("PATCH", "/{}"), ("DELETE", "/{}"))},
    ("GET", P + "/admin/audit-log"): A,
    ("GET", P + "/openapi.json"): PUBLIC,
    ("GET", P + "/docs"): PUBLIC,
    ("GET", P + "/asyncapi.json"): PUBLIC,
}

# Routes whose role depends on the query: "favourites flags need a client token (401 without)".
QUERY_CASES: list[tuple[str, str, str, frozenset[str]]] = [
    ("GET", P + path, query, C)
    for path in ("/doctors", "/doctors/")
    for query in ("favourites_only=true", "favourites_first=true")
]

WEBSOCKETS = {("GET", S + "/ws")}


def _describe(rule: frozenset[str] | str) -> str:
    return rule if isinstance(rule, str) else "{" + ", ".join(sorted(rule)) + "}"


def _served(client) -> list[RouteInfo]:
    return app_routes(client.server.app)


# --- the table against the app ---------------------------------------------------------------

def test_every_route_is_in_the_expected_table(settings):
    routes = app_routes(create_app(settings))  # assembled, not started: only the router is read
    served = {info.key for info in routes}
    assert len(served) == len(routes), f"a (method, path) served twice: {sorted(str(r) for r in routes)}"
    problems = []
    for info in routes:
        if info.key in EXPECTED:
            continue
        hint = NOT_YET_SERVED.get((info.method, shape(info.path)))
        problems.append(
            f"{info} is served but not in EXPECTED: add it with its CONTRACT.md role"
            + (f" (NOT_YET_SERVED lists it as {_describe(hint)}: move it)" if hint is not None else "")
        )
    for key in sorted(set(EXPECTED) - served):
        problems.append(f"{key[0]} {key[1]} is in EXPECTED but the app no longer serves it")
    for method, path, query, _ in QUERY_CASES:
        if (method, path) not in served:
            problems.append(f"QUERY_CASES: {method} {path}?{query} is not served")
    if problems:
        pytest.fail("route table vs EXPECTED:\n  " + "\n  ".join(problems), pytrace=False)


def test_declared_roles_match_expected(settings):
    """The decorators agree with the table (the behaviour test below is the real check; this one names
    the decorator to change)."""
    optional_code = optional_auth(lambda request: None).__code__
    problems = []
    for info in app_routes(create_app(settings)):
        rule = EXPECTED.get(info.key)
        if rule is None:
            continue  # reported by test_every_route_is_in_the_expected_table
        declared = getattr(info.handler, "__allign_roles__", None)
        is_optional = getattr(info.handler, "__code__", None) is optional_code
        if info.key in WEBSOCKETS:
            if declared is not None:
                problems.append(f"{info}: websocket handler unexpectedly decorated with requires{declared}")
            continue  # authenticates inside the handler; checked by behaviour only
        if isinstance(rule, frozenset):
            if declared is None:
                problems.append(f"{info}: expected @requires({_describe(rule)}), handler has no role check")
            elif (frozenset(declared) or ANY) != rule:
                problems.append(f"{info}: @requires{tuple(declared)} but the contract says {_describe(rule)}")
        elif rule == OPTIONAL:
            if not is_optional:
                problems.append(f"{info}: expected @optional_auth, handler is "
                                + (f"@requires{tuple(declared)}" if declared is not None else "not wrapped"))
        elif declared is not None or is_optional:
            problems.append(f"{info}: expected {rule} (no bearer auth), handler is "
                            + (f"@requires{tuple(declared)}" if declared is not None else "@optional_auth"))
    if problems:
        pytest.fail("declared roles vs EXPECTED:\n  " + "\n  ".join(problems), pytrace=False)


# --- behaviour -------------------------------------------------------------------------------

class Matrix:
    def __init__(self, client, settings, subjects: dict[str, uuid.UUID]) -> None:
        self.client = client
        self.settings = settings
        self.subjects = subjects
        self.failures: list[str] = []

    def token(self, role: str) -> str:
        # A fresh token (new jti) per request: logout revokes the one it is called with.
        return factories.access_token(self.settings, role, self.subjects[role])

    async def http(self, method: str, url: str, token: str | None) -> tuple[int, Any, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = {} if method in ("POST", "PUT", "PATCH") else None
        async with self.client.request(method, url, headers=headers, json=body, allow_redirects=False) as resp:
            if resp.content_type == "text/event-stream":
                resp.close()  # an open stream: the status is all we need
                return resp.status, resp.headers, None
            raw = await resp.read()
            try:
                payload = await resp.json(content_type=None) if raw else None
            except ValueError:
                payload = raw[:120]
            return resp.status, resp.headers, payload

    async def websocket(self, url: str, token: str | None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            ws = await self.client.ws_connect(url, headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status, exc.headers or {}
        await ws.close()
        return 101, {}

    def fail(self, what: str, expected: str, status: int, payload: Any = None) -> None:
        got = f"{status}" + (f" {payload}" if payload is not None else "")
        self.failures.append(f"{what}: expected {expected}, got {got}")

    def check_error(self, what: str, status: int, headers, payload, *, want: int, code: str | None = None) -> None:
        if status != want:
            return self.fail(what, f"{want}" + (f" {code}" if code else ""), status, payload)
        if not (isinstance(payload, dict) and set(payload) == {"detail", "code"}
                and isinstance(payload["detail"], str) and isinstance(payload["code"], str)):
            return self.fail(what, f'{want} with body {{"detail": str, "code": str}}', status, payload)
        if code and payload["code"] != code:
            self.fail(what, f"{want} {code}", status, payload)
        if want == 401 and not headers.get("WWW-Authenticate", "").startswith("Bearer"):
            self.fail(what, "401 with WWW-Authenticate: Bearer",
                      status, f"WWW-Authenticate={headers.get('WWW-Authenticate')!r}")

    def check_let_through(self, what: str, status: int, payload) -> None:
        if status in (401, 403):
            self.fail(what, "not refused (anything but 401/403)", status, payload)
        elif status >= 500:
            self.fail(what, "not refused and no server error", status, payload)

    async def protected(self, method: str, url: str, allowed: frozenset[str], label: str) -> None:
        status, headers, payload = await self.http(method, url, None)
        self.check_error(f"{label} without a token", status, headers, payload, want=401)
        for role in ROLES:
            status, headers, payload = await self.http(method, url, self.token(role))
            what = f"{label} as {role}"
            if role in allowed:
                self.check_let_through(what, status, payload)
            else:
                self.check_error(what, status, headers, payload, want=403, code="WRONG_ROLE")

    async def websocket_route(self, url: str, allowed: frozenset[str], label: str) -> None:
        status, headers = await self.websocket(url, None)
        if status != 401 or not headers.get("WWW-Authenticate", "").startswith("Bearer"):
            self.fail(f"{label} ws_connect without a token", "handshake refused 401 + WWW-Authenticate: Bearer",
                      status, f"WWW-Authenticate={headers.get('WWW-Authenticate')!r}")
        # The refusal comes before the upgrade, as plain HTTP: its body follows the error shape.
        status, headers, payload = await self.http("GET", url, None)
        self.check_error(f"{label} plain GET without a token", status, headers, payload, want=401)
        for role in ROLES:
            status, _ = await self.websocket(url, self.token(role))
            what = f"{label} ws_connect as {role}"
            if role in allowed:
                # A random session id: 404 before the upgrade, past the role check.
                if status in (401, 403) or status >= 500:
                    self.fail(what, "not refused (anything but 401/403)", status)
            else:
                if status != 403:
                    self.fail(what, "handshake refused 403", status)
                status, headers, payload = await self.http("GET", url, self.token(role))
                self.check_error(f"{label} plain GET as {role}", status, headers, payload, want=403, code="WRONG_ROLE")

    async def open_route(self, method: str, url: str, rule: str, label: str) -> None:
        status, _, payload = await self.http(method, url, None)
        if rule == SIGNED:
            if status not in (401, 403):
                self.fail(f"{label} unsigned, without a token", "401/403 (signature required)", status, payload)
        else:
            self.check_let_through(f"{label} without a token", status, payload)
        for role in ROLES:
            status, _, payload = await self.http(method, url, self.token(role))
            what = f"{label} as {role}"
            if rule == SIGNED:
                if status not in (401, 403):
                    self.fail(f"{what} (bearer token, unsigned)", "401/403: a user's token must not open it",
                              status, payload)
            else:
                self.check_let_through(what, status, payload)
        if rule == OPTIONAL:  # a bad token is not taken for anonymous: the client must refresh
            status, headers, payload = await self.http(method, url, "not-a-jwt")
            self.check_error(f"{label} with a malformed token", status, headers, payload, want=401)
        elif rule == PUBLIC:  # apps that attach a stale token to every call must still get in
            status, _, payload = await self.http(method, url, "not-a-jwt")
            self.check_let_through(f"{label} with a malformed token", status, payload)


async def test_role_matrix(client, db, settings):
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    admin = await factories.make_admin(db)
    matrix = Matrix(client, settings, {CLIENT: patient["id"], DOCTOR: doctor["id"], ADMIN: admin["id"]})
    app = client.server.app

    for info in _served(client):
        rule = EXPECTED.get(info.key)
        if rule is None:
            continue  # reported by test_every_route_is_in_the_expected_table
        url = await concrete_path(app, info)
        label = f"{info} (EXPECTED {_describe(rule)})"
        if info.key in WEBSOCKETS:
            await matrix.websocket_route(url, rule, label)
        elif isinstance(rule, frozenset):
            await matrix.protected(info.method, url, rule, label)
        else:
            await matrix.open_route(info.method, url, rule, label)
    for method, path, query, allowed in QUERY_CASES:
        await matrix.protected(method, f"{path}?{query}", allowed, f"{method} {path}?{query} (EXPECTED {_describe(allowed)})")

    if matrix.failures:
        pytest.fail(f"{len(matrix.failures)} role-matrix mismatches (route (EXPECTED roles) as who: ...):\n  "
                    + "\n  ".join(matrix.failures), pytrace=False)
