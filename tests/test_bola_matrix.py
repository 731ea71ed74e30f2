"""BOLA matrix over the route table: every route with an object id in its path, called on a real
object by its owners, another patient, another doctor, an admin and no token (tests/bola_table.py
says what each gets; tests/bola_objects.py builds the objects).

For each route, against a freshly built object:
- every refused call (401/403/404) first, each followed by a snapshot of the whole database (every
  table but the workers' outbox, as one hash per table) and of the object's blobs: a refused call must
  change nothing. 401 carries `WWW-Authenticate: Bearer`, every refusal the contract's
  `{"detail", "code"}`, a bare 403 is WRONG_ROLE (the role check comes before any lookup);
- a 404 must not say more than a missing object's: the same call with the object's id replaced by a
  random one (for a stranger, also with every id replaced) answers the very same status and body;
- "own parent, foreign child": a route with a session id and a child id (report, attachment,
  recording) is also called by each caller whose role passes, with a session of its own that is not
  the object's (see bola_objects.Parties.cross) and the object's child id: 404, nothing changed;
- then each allowed caller, on an object of its own for a write (so each meets the object in the
  state the table names): the exact status of the table, so an owner's 404 (object missing, or an
  ownership check that refuses its owner) fails; where the table says `returns`, the answer names
  the object and its new state.

A route with a path parameter that the table does not list fails
`test_every_route_with_an_object_id_is_in_the_table`, naming it (a parameter that names no object
anyone owns, such as a static file of the docs page, is listed in NOT_OBJECTS with the reason).
Routes that take an object id in the body or query are listed by hand (BODY_ID_CASES) and run
through the same matrix.

The matrix runs in groups (one app and one set of strangers each) so a failure names its area.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
import sqlalchemy as sa

from gateway.app import create_app
from services.payments import new_order_id
from tests import bola_objects as o
from tests.bola_table import (
    BEARER_CALLERS, BODY_ID_CASES, DOCTOR, NOT_OBJECTS, OTHER_DOCTOR, OTHER_PATIENT, OWNERS, PATIENT, ROLE_OF, SIGNED,
    SIGNED_CALLERS, SIGNED_OTHER, TABLE, Case, Expect, resolve,
)
from tests.role_table import P, S
from tests.routes import RouteInfo, app_routes, concrete_path

REFUSED = (401, 403, 404)
# "Own parent, foreign child": the session each caller brings along, one of its own that is not the
# object's (bola_objects.Parties.cross): the owning patient's ended session with the other doctor, the
# owning doctor's with the other patient; each stranger brings that same session from its side.
OWN_PARENT = {PATIENT: "other_doctor", DOCTOR: "other_patient", OTHER_PATIENT: "other_patient",
              OTHER_DOCTOR: "other_doctor"}


def _status(want: Expect) -> int:
    return want if isinstance(want, int) else want[0]


def _is_id(name: str) -> bool:
    return name == "id" or name.endswith("_id")


def _missing_id_probes(info: RouteInfo, caller: str) -> list[list[str]]:
    """Which path ids to replace by random ones to get "missing" to compare a 404 with: the route's own
    object (its last id); for a stranger, also every id (a foreign parent vs a missing one). An owner
    may know the parent (its own session), so only the child is compared for it."""
    ids = [name for name in info.params if _is_id(name)]
    probes = [ids[-1:]] if ids else []
    if len(ids) > 1 and caller not in OWNERS:
        probes.append(ids)
    return probes


def group_of(path: str) -> str:
    """The matrix's group of a route (one test each)."""
    if path.startswith(S):
        tail = path[len(S):]
        if tail.startswith(("/attachments", "/reports", "/recordings")):
            return "session-files"
        if tail.startswith(("/prescription", "/lab-tests", "/review", "/followup")):
            return "after-consultation"
        return "sessions"
    if path.startswith(P + "/connect/"):
        return "sessions"
    if path.startswith((P + "/attachments", "/blobs", P + "/avatars")):
        return "files"
    if path.startswith((P + "/followups", P + "/reviews", P + "/doctors/me/")):
        return "after-consultation"
    if path.startswith(P + "/admin/"):
        return "admin"
    return "public-and-payments"


GROUPS = ("sessions", "session-files", "files", "after-consultation", "admin", "public-and-payments")


# --- the table against the app and itself ---------------------------------------------------------

def table_problems(routes: list[RouteInfo]) -> list[str]:
    """Routes with a path parameter missing from TABLE (named, with what to add), and stale rows."""
    with_ids = {info.key: info for info in routes if info.params}
    served = {info.key for info in routes}
    problems = [
        f"{method} {path} has {', '.join('{' + p + '}' for p in with_ids[(method, path)].params)} in its path but "
        f"no row in tests/bola_table.py TABLE: add one saying what the owner(s), another patient, another doctor, "
        f"an admin and no token get (and a setup in tests/bola_objects.py that builds a real object)"
        for method, path in sorted(set(with_ids) - set(TABLE) - set(NOT_OBJECTS))
    ]
    problems += [f"{method} {path} is in TABLE but the app no longer serves it (or its path has no parameter)"
                 for method, path in sorted(set(TABLE) - set(with_ids))]
    problems += [f"{method} {path} is in NOT_OBJECTS but the app no longer serves it (or its path has no parameter)"
                 for method, path in sorted(set(NOT_OBJECTS) - set(with_ids))]
    problems += [f"{method} {path} is in both TABLE and NOT_OBJECTS" for method, path in sorted(set(TABLE) & set(NOT_OBJECTS))]
    problems += [f"BODY_ID_CASES: {method} {path} is not served" for method, path, _, _ in BODY_ID_CASES
                 if (method, path) not in served]
    problems += [f"{method} {path}: no matrix group" for method, path in TABLE if group_of(path) not in GROUPS]
    return problems


def test_every_route_with_an_object_id_is_in_the_table(settings):
    problems = table_problems(app_routes(create_app(settings)))  # assembled, not started: only the router is read
    if problems:
        pytest.fail("route table vs BOLA TABLE:\n  " + "\n  ".join(problems), pytrace=False)


def test_a_new_route_with_an_id_is_named(settings):
    """The gate above works: a route added with an id in its path (and one whose parameter is not an
    `_id`, such as a slug) is reported by name."""
    app = create_app(settings)

    async def handler(request):
        raise AssertionError("never called")

    app.router.add_get("/api/v2/prescriptions/{prescription_id}", handler)
    app.router.add_delete("/api/v2/doctors/slug/{slug}", handler)
    problems = table_problems(app_routes(app))
    assert len(problems) == 2, problems
    assert problems[0].startswith("DELETE /api/v2/doctors/slug/{slug} has {slug} in its path but no row in "
                                  "tests/bola_table.py TABLE"), problems
    assert problems[1].startswith("GET /api/v2/prescriptions/{prescription_id} has {prescription_id} in its path"), problems


def _all_cases() -> list[tuple[str, Case]]:
    return ([(f"{m} {p}", case) for (m, p), case in TABLE.items()]
            + [(f"{m} {p} ({label})", case) for m, p, label, case in BODY_ID_CASES])


def test_the_table_is_complete_and_says_why():
    problems = []
    for label, case in _all_cases():
        callers = set(SIGNED_CALLERS if case.signed else BEARER_CALLERS)
        if set(case.expect) != callers:
            problems.append(f"{label}: expectations for {sorted(case.expect)}, want exactly {sorted(callers)}")
            continue
        statuses = {caller: _status(want) for caller, want in case.expect.items()}
        if all(status in REFUSED for status in statuses.values()):
            problems.append(f"{label}: nobody gets through, so nothing shows the object was reachable")
        public = len(set(statuses.values())) == 1
        for caller in OWNERS:
            if statuses[caller] == 404 and not case.why:
                problems.append(f"{label}: the owner {caller} gets 404 without a reason (`why`)")
        for caller in (OTHER_PATIENT, OTHER_DOCTOR):
            if statuses[caller] not in REFUSED and not public and not case.why:
                problems.append(f"{label}: {caller} (a stranger) gets {statuses[caller]} without a reason (`why`)")
    if problems:
        pytest.fail("BOLA TABLE:\n  " + "\n  ".join(problems), pytrace=False)


# --- the matrix ---------------------------------------------------------------------------------

@dataclass
class Result:
    status: int
    headers: Any
    payload: Any


class Matrix:
    def __init__(self, world: o.World) -> None:
        self.w = world
        self.failures: list[str] = []
        self._snapshot_sql: Any = None

    async def prepare(self) -> None:
        async with self.w.db.connect() as conn:
            names = sorted((await conn.execute(sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).scalars().all())
        tables = [name for name in names if name not in o.BACKGROUND_TABLES]
        self._snapshot_sql = sa.text("SELECT " + ", ".join(
            f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{name}\" t) AS \"{name}\""
            for name in tables))

    async def snapshot(self, objects: o.Objects) -> dict[str, Any]:
        async with self.w.db.connect() as conn:
            state = dict((await conn.execute(self._snapshot_sql)).mappings().one())
        for container, name in objects.blobs:
            info = await self.w.blobs.verify(container, name)
            state[f"blob {container}/{name}"] = None if info is None else info.size
        return state

    async def unchanged(self, what: str, objects: o.Objects, before: dict[str, Any]) -> dict[str, Any]:
        after = await self.snapshot(objects)
        changed = sorted(key for key in after if after[key] != before.get(key))
        if changed:
            self.failures.append(f"{what}: refused, yet changed {', '.join(changed)}")
        return after

    def subject(self, caller: str, objects: o.Objects) -> uuid.UUID:
        if caller == PATIENT:
            return objects.parties.patient["id"]
        if caller == DOCTOR:
            return objects.parties.doctor["id"]
        return self.w.ids[caller]

    async def call(self, caller: str, case: Case, method: str, path: str, objects: o.Objects) -> Result:
        headers = dict(case.headers)
        if caller in ROLE_OF:
            headers.update(self.w.headers(ROLE_OF[caller], self.subject(caller, objects)))
        params = dict(resolve(case.query, objects) or {})
        if caller == SIGNED:
            params.update(parse_qsl(objects.signed or ""))
        elif caller == SIGNED_OTHER:
            params.update(parse_qsl(objects.signed_other or ""))
        if case.ws:
            try:
                ws = await self.w.client.ws_connect(path, headers=headers, params=params)
            except aiohttp.WSServerHandshakeError as exc:
                refused = await self._request(method, path, headers, params, {})  # the refusal's body
                if refused.status != exc.status:
                    self.failures.append(f"GET {path} as {caller}: handshake {exc.status} but plain GET {refused.status}")
                return Result(exc.status, exc.headers or {}, refused.payload)
            await ws.close()
            return Result(101, {}, None)
        kwargs: dict[str, Any] = {}
        if case.body is not None:
            kwargs["json"] = resolve(case.body, objects)
        elif case.form is not None:
            kwargs["data"] = resolve(case.form, objects)
        elif case.raw is not None:
            kwargs["data"] = case.raw
        return await self._request(method, path, headers, params, kwargs)

    async def _request(self, method: str, path: str, headers: dict[str, str], params: dict[str, str],
                       kwargs: dict[str, Any]) -> Result:
        async with self.w.client.request(method, path, headers=headers, params=params, allow_redirects=False,
                                         **kwargs) as resp:
            raw = await resp.read()
            try:
                payload = await resp.json(content_type=None) if raw else None
            except ValueError:
                payload = raw[:120]
            return Result(resp.status, resp.headers, payload)

    def check(self, what: str, want: Expect, result: Result, *, signed: bool) -> None:
        status, code = (want, None) if isinstance(want, int) else want
        if status == 403 and code is None and not signed:
            code = "WRONG_ROLE"
        wanted = f"{status}" + (f" {code}" if code else "")
        if result.status != status:
            self.failures.append(f"{what}: expected {wanted}, got {result.status} {_short(result.payload)}")
            return
        if status not in REFUSED:
            return
        payload = result.payload
        if not (isinstance(payload, dict) and set(payload) == {"detail", "code"} and isinstance(payload["detail"], str)):
            self.failures.append(f"{what}: {status} without the error shape {{detail, code}}: {_short(payload)}")
        elif code and payload["code"] != code:
            self.failures.append(f"{what}: expected {wanted}, got {status} {payload['code']}")
        if status == 401 and not str(result.headers.get("WWW-Authenticate", "")).startswith("Bearer"):
            self.failures.append(f"{what}: 401 without WWW-Authenticate: Bearer")

    async def path_for(self, info: RouteInfo | None, path: str, objects: o.Objects, **overrides: str) -> str:
        if info is None:
            return path
        missing = [name for name in info.params if name not in objects.params and name not in overrides]
        assert not missing, f"{info}: setup {objects} gives no {missing}"
        values = {name: overrides.get(name) or objects.params[name] for name in info.params}
        return await concrete_path(self.w.app, info, values)

    async def run(self, label: str, method: str, path: str, info: RouteInfo | None, case: Case) -> None:
        order = SIGNED_CALLERS if case.signed else BEARER_CALLERS
        refused = [caller for caller in order if _status(case.expect[caller]) in REFUSED]
        allowed = [caller for caller in order if caller not in refused]
        objects = await case.setup(self.w)
        url = await self.path_for(info, path, objects)
        state = await self.snapshot(objects)

        for caller in refused:
            what = f"{label} as {caller}"
            result = await self.call(caller, case, method, url, objects)
            self.check(what, case.expect[caller], result, signed=case.signed)
            state = await self.unchanged(what, objects, state)
            if _status(case.expect[caller]) == 404 and info is not None:
                for ids in _missing_id_probes(info, caller):
                    random_ids = {name: new_order_id() if name == "order_id" else str(uuid.uuid4()) for name in ids}
                    missing = await self.call(caller, case, method,
                                              await self.path_for(info, path, objects, **random_ids), objects)
                    if (missing.status, missing.payload) != (result.status, result.payload):
                        self.failures.append(
                            f"{what}: the object answers {result.status} {_short(result.payload)} but with "
                            f"{'/'.join(ids)} missing {missing.status} {_short(missing.payload)}: the difference "
                            f"reveals that it exists")
                    state = await self.unchanged(f"{what} (random {'/'.join(ids)})", objects, state)

        if info is not None and "session_id" in info.params and sum(map(_is_id, info.params)) > 1:
            for caller, stranger in OWN_PARENT.items():
                if case.expect[caller] in (401, 403):
                    continue  # refused by role before any lookup
                what = f"{label} as {caller} with a session of its own and the object's child id"
                own = str(objects.parties.cross[stranger])
                result = await self.call(caller, case, method, await self.path_for(info, path, objects, session_id=own),
                                         objects)
                self.check(what, 404, result, signed=case.signed)
                state = await self.unchanged(what, objects, state)

        for n, caller in enumerate(allowed):
            if n and method != "GET":  # each writer meets the object as the setup left it
                objects = await case.setup(self.w)
                url = await self.path_for(info, path, objects)
            result = await self.call(caller, case, method, url, objects)
            what = f"{label} as {caller}" + (f" ({case.why})" if case.why else "")
            self.check(what, case.expect[caller], result, signed=case.signed)
            wanted = resolve(case.returns, objects) or {}
            shown = {key: result.payload.get(key) for key in wanted} if isinstance(result.payload, dict) else None
            if wanted and result.status == _status(case.expect[caller]) and shown != wanted:
                self.failures.append(f"{what}: answered {shown}, expected {wanted}")


def _short(payload: Any) -> str:
    text = repr(payload)
    return text if len(text) <= 240 else text[:240] + "..."


@pytest.mark.parametrize("group", GROUPS)
async def test_bola_matrix(group, client, db, settings):
    world = o.World(client, db, settings)
    await world.start()
    matrix = Matrix(world)
    await matrix.prepare()
    routes = {info.key: info for info in app_routes(client.server.app)}
    ran = 0
    for (method, path), case in TABLE.items():
        if group_of(path) == group and (method, path) in routes:  # unserved: the table test says so
            await matrix.run(f"{method} {path}", method, path, routes[(method, path)], case)
            ran += 1
    for method, path, label, case in BODY_ID_CASES:
        if group_of(path) == group and (method, path) in routes:
            await matrix.run(f"{method} {path} [{label} in the body/query]", method, path, None, case)
            ran += 1
    assert ran, f"no route in group {group}"
    if matrix.failures:
        pytest.fail(f"{len(matrix.failures)} BOLA-matrix mismatches (route as caller: ...):\n  "
                    + "\n  ".join(matrix.failures), pytrace=False)


async def test_foreign_ids_in_the_body_of_an_own_session(client, db, settings):
    """A path naming the caller's own session does not open another session's objects named in the
    body or query: receipts stamp nothing of them, a message cannot carry another session's file, a
    history cursor cannot point into another session. Nothing changes."""
    world = o.World(client, db, settings)
    await world.start()
    matrix = Matrix(world)
    await matrix.prepare()
    undelivered = await o.with_messages(delivered=False)(world)
    delivered = await o.with_messages(delivered=True)(world)
    attachment = await o.attachment_uploaded(world)
    # The strangers' own ONGOING session (money in the wallet: the sweeper ends a session that has none).
    await o.factories.make_wallet(db, world.ids["other_patient"], 1_000_000)
    own = await o.factories.make_session(db, world.ids["other_patient"], world.ids["other_doctor"], status="ONGOING")
    base = f"{P}/connect/sessions/{own['id']}/messages"
    probes = [
        ("other_patient", "POST", base + "/delivered", {"json": {"message_ids": undelivered["message_ids"]}}, 200,
         {"updated": 0}),
        ("other_doctor", "POST", base + "/delivered", {"json": {"message_ids": undelivered["message_ids"]}}, 200,
         {"updated": 0}),
        ("other_patient", "POST", base + "/read", {"json": {"message_ids": delivered["message_ids"]}}, 200,
         {"updated": 0}),
        ("other_doctor", "POST", base + "/read", {"json": {"message_ids": delivered["message_ids"]}}, 200,
         {"updated": 0}),
        ("other_patient", "POST", base, {"json": {"client_message_id": str(uuid.uuid4()), "content_type": "image",
                                                  "content": attachment["attachment_id"]}}, 422, ["body", "content"]),
        ("other_doctor", "GET", base, {"params": {"before": undelivered["message_ids"][0]}}, 422, ["query", "before"]),
        ("other_patient", "GET", base, {"params": {"after": delivered["message_ids"][1]}}, 422, ["query", "after"]),
    ]
    state = await matrix.snapshot(undelivered)
    for caller, method, path, kwargs, want, shows in probes:
        what = f"{method} {path.replace(str(own['id']), '{own session}')} as {caller} with {kwargs}"
        headers = world.headers(ROLE_OF[caller], world.ids[caller])
        async with client.request(method, path, headers=headers, **kwargs) as resp:
            payload = await resp.json(content_type=None)
            # A 422 names the field that refers to nothing of this session (`shows` = its loc).
            shown = [error["loc"] for error in payload["detail"]] if want == 422 and resp.status == 422 else payload
            if resp.status != want or shown != ([shows] if want == 422 else shows):
                matrix.failures.append(f"{what}: expected {want} {shows}, got {resp.status} {_short(payload)}")
        state = await matrix.unchanged(what, undelivered, state)
    if matrix.failures:
        pytest.fail("foreign ids in the body:\n  " + "\n  ".join(matrix.failures), pytrace=False)
