"""Role matrix over the whole route table.

EXPECTED (tests/role_table.py) is written from ../shared/spec/CONTRACT.md (roles per endpoint), not from the code.
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
from tests.role_table import (
    ADMIN, ANY, CLIENT, DOCTOR, EXPECTED, NOT_YET_SERVED, OPTIONAL, PUBLIC, QUERY_CASES, ROLES, SIGNED, WEBSOCKETS,
)
from tests.routes import RouteInfo, app_routes, concrete_path, shape


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
