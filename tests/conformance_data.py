"""What tests/test_conformance.py runs schemathesis against: the app served on 127.0.0.1 from a thread
of its own (so schemathesis, which is synchronous, can call it while the app's loop keeps serving),
local stand-ins for the outside services it calls (Cashfree, LiveKit's egress), and real accounts
and objects to aim the generated requests at.

- `LiveApp`: one app (gateway.app.create_app on the test database and Redis) with its fakes, its own
  event loop in a daemon thread; `live.run(coro)` runs a coroutine there (arranging rows, calling
  the API through `live.world.api`).
- `Home`: a patient, a doctor and an admin with a history (an ended consultation with messages, a
  prescription, lab tests, a review and its reply, a follow-up, a report; wallet credit, a top-up
  order, a favourite, a device; public catalog rows, categories, offers, articles, events), so the
  operations without an object id answer real, non-empty lists and profiles.
- `callers(...)`: who calls an operation, chosen from its documented roles: each role it allows, the
  role's token, and for a route with an object id the path parameters of an object the caller owns,
  built by the BOLA matrix's setups (tests/bola_objects.py, tests/bola_table.py) in the state the
  route acts on; public routes are called without a token, optional-auth ones both ways, signed
  ones with the signature handed out for the object (or a webhook signed as its sender signs it);
  each caller with one known-good request (`Valid`: the BOLA table's body for the object, a right
  password, a real id in the body) so every operation is also seen answering a success.
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import hashlib
import json
import os
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Coroutine, TypeVar
from urllib.parse import parse_qsl

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from livekit import api as livekit_api
from schemathesis.core import NOT_SET

from common.clock import Clock
from config import Settings, load_settings
from gateway import keys
from gateway.app import create_app
from storage.sa_engine import create_engine
from storage.tables import messages
from tests import bola_objects as o
from tests import factories
from tests.azurite import PDF_BYTES, PNG_BYTES
from tests.bola_table import (
    ADMIN, ANON, BODY_ID_CASES, DOCTOR, PATIENT, ROLE_OF, SIGNED, TABLE, _png_form, _scoped_png_form,
    resolve,
)
from tests.bola_table import Case as TableCase
from tests.fake_cashfree import CLIENT_ID, CLIENT_SECRET, FakeCashfree
from tests.role_table import EXPECTED, OPTIONAL, PUBLIC
from tests.role_table import SIGNED as SIGNED_RULE
from tests.test_recordings import KEY as LIVEKIT_KEY
from tests.test_recordings import SECRET as LIVEKIT_SECRET
from tests.test_recordings import FakeEgress

T = TypeVar("T")
P = "/api/v2"
CASHFREE_WEBHOOK = ("POST", P + "/payments/cashfree/webhook")
LIVEKIT_WEBHOOK = ("POST", P + "/webhooks/livekit")
CASHFREE_OPERATIONS = frozenset({("POST", P + "/payments/cashfree/orders"),
                                 ("GET", P + "/payments/cashfree/orders/{order_id}/verify"), CASHFREE_WEBHOOK})


def conformance_settings(database_url: str, redis_url: str, test_numbers: str, **overrides: Any) -> Settings:
    """The test settings (as tests/conftest.py `settings`), with a Redis prefix of the module's own."""
    base = load_settings({"ALLIGN_ENV": "test", "OTP_TEST_NUMBERS": test_numbers})
    return dataclasses.replace(
        base, database_url=database_url, redis_url=redis_url,
        redis_prefix=f"test:{os.getpid()}:conformance:{uuid.uuid4().hex[:8]}:", db_pool_size=5,
        apply_migrations=False, seed_demo_data=False, blob_local_dir=tempfile.mkdtemp(prefix="allign-blobs-"),
        **overrides)


async def _serve(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


class LiveApp:
    """The app on 127.0.0.1 in a thread of its own, with a fake LiveKit egress and (when `cashfree`) a
    fake Cashfree it is configured to use instead of the local checkout."""

    def __init__(self, settings: Settings, *, cashfree: bool = False) -> None:
        self.settings = settings
        self.cashfree: FakeCashfree | None = FakeCashfree() if cashfree else None
        self.egress = FakeEgress()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="conformance-app", daemon=True)
        self._servers: list[TestServer] = []
        self.client: TestClient
        self.db: Any = None
        self.world: o.World
        self.base_url = ""

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, *, empty_tables: bool) -> None:
        self._thread.start()
        self.run(self._start(empty_tables))

    async def _start(self, empty_tables: bool) -> None:
        self.db = create_engine(self.settings.database_url, pool_size=2)
        if empty_tables:
            await _empty_tables(self.db)
        egress_app = web.Application()
        egress_app.router.add_post("/twirp/livekit.Egress/{method}", self.egress.handle)
        egress = await _serve(egress_app)
        self._servers.append(egress)
        overrides: dict[str, Any] = {"livekit_url": f"http://127.0.0.1:{egress.port}"}
        if self.cashfree is not None:
            cashfree = await _serve(self.cashfree.app())
            self._servers.append(cashfree)
            self.cashfree.base_url = str(cashfree.make_url("")).rstrip("/")
            overrides.update(cashfree_client_id=CLIENT_ID, cashfree_client_secret=CLIENT_SECRET,
                             cashfree_base_url=self.cashfree.api_root, cashfree_timeout=2.0)
        self.settings = dataclasses.replace(self.settings, **overrides)
        self.client = TestClient(TestServer(create_app(self.settings, clock=Clock()), host="127.0.0.1"))
        await self.client.start_server()
        self.base_url = str(self.client.make_url("")).rstrip("/")
        self.world = o.World(self.client, self.db, self.settings)
        await self.world.start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.run(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    async def _stop(self) -> None:
        if self.cashfree is not None:
            self.cashfree.release()
        if hasattr(self, "client"):  # started
            redis = self.client.server.app[keys.REDIS]
            async for key in redis.scan_iter(match=self.settings.redis_prefix + "*", count=500):
                await redis.delete(key)
            await self.client.close()
        for server in self._servers:
            await server.close()
        if self.db is not None:
            await self.db.dispose()

    def token(self, role: str, subject: uuid.UUID) -> dict[str, str]:
        return {"Authorization": f"Bearer {factories.access_token(self.settings, role, subject)}"}


async def _empty_tables(engine: Any) -> None:
    """As tests/conftest.py `db` does before each test: the run starts from the same empty tables."""
    async with engine.begin() as conn:
        names = (await conn.execute(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"
        ))).scalars().all()
        await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        await conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " CASCADE"))


@dataclass
class Home:
    """The accounts the operations without an object id are called as, with a history."""
    patient: dict[str, Any]
    doctor: dict[str, Any]
    admin_id: uuid.UUID
    session_id: str = ""
    ids: dict[str, str] = field(default_factory=dict)


async def build_home(live: LiveApp) -> Home:
    w = live.world
    parties, session = await w.parties("ENDED")
    home = Home(parties.patient, parties.doctor, w.ids["admin"], session_id=str(session["id"]))
    patient, doctor, admin = parties.patient["id"], parties.doctor["id"], w.ids["admin"]
    base = f"{P}/connect/sessions/{session['id']}"
    for sender_id, role in ((patient, "patient"), (doctor, "doctor")):
        await w.insert(messages, session_id=session["id"], sender_id=sender_id, sender_role=role,
                       client_message_id=uuid.uuid4(), content_type="text", content=f"hello from the {role}",
                       delivered_at=dt.datetime.now(dt.timezone.utc))
    await w.api("doctor", doctor, "POST", f"{base}/prescription", expect=201, json=o.PRESCRIPTION)
    await w.api("doctor", doctor, "POST", f"{base}/lab-tests", expect=201, json=o.LAB_TESTS)
    review = await w.api("client", patient, "POST", f"{base}/review", expect=201, json={"rating": 4.5, "comment": "Kind"})
    await w.api("doctor", doctor, "POST", f"{P}/doctors/me/reviews/{review['id']}/reply", expect=201,
                json={"text": "Thank you"})
    followup = await w.api("doctor", doctor, "POST", f"{base}/followup", expect=201,
                           json={"scheduled_date": o.in_two_days(), "scheduled_time": "10:30:00"})
    report = await w.api("client", patient, "POST", f"{base}/reports/init", expect=201, params={
        "original_filename": "blood.pdf", "mime_type": "application/pdf", "size_bytes": str(len(PDF_BYTES))})
    await w.blobs.put_bytes("reports", report["blob_name"], PDF_BYTES, "application/pdf")
    await w.api("client", patient, "POST", f"{base}/reports/{report['report_id']}/complete", expect=200)
    await w.api("admin", admin, "POST", f"{P}/admin/users/{patient}/wallet/adjustments", expect=201,
                json={"amount": 5000, "reason": "Goodwill credit"})
    await w.api("client", patient, "POST", f"{P}/payments/cashfree/orders", expect=201, json={"amount": 50000})
    await w.api("client", patient, "POST", f"{P}/doctors/{doctor}/favourite", expect=200, json={"action": "add"})
    await w.api("client", patient, "POST", f"{P}/devices/tokens", expect=201,
                json={"token": f"fcm-{uuid.uuid4().hex}", "platform": "android"})
    # The doctor's queue: another patient waiting.
    other = await factories.make_user(w.db, full_name="Waiting Patient")
    await factories.make_session(w.db, other["id"], doctor, status="REQUESTED")
    for setup in (o.category, o.offer, o.article, o.event, o.medicine, o.lab_test):
        objects = await setup(w)
        home.ids.update(objects.params)
    home.ids.update(followup_id=str(followup["id"]), review_id=str(review["id"]), report_id=report["report_id"])
    return home


@dataclass
class Valid:
    """A request the operation's rules accept (a real id in the body, a right password...): sent once
    before the generated ones, so each operation is also seen answering a success."""
    body: Any = NOT_SET
    query: dict[str, str] | None = None
    media_type: str | None = None


@dataclass
class Caller:
    """One way an operation is called: who (`name`), with which headers, and fixed parts of the request
    (the path parameters of an object the caller owns, the signature of a signed URL); `sign`, for a
    webhook, signs each generated body as its sender would (→ headers, and the raw body to send)."""
    name: str
    headers: dict[str, str] = field(default_factory=dict)
    path_parameters: dict[str, str] | None = None
    query: dict[str, str] | None = None
    sign: Callable[[Any], tuple[bytes, dict[str, str]]] | None = None
    valid: Valid | None = None


def _role_callers(live: LiveApp, roles: frozenset[str], accounts: dict[str, uuid.UUID]) -> list[Caller]:
    return [Caller(role, live.token(role, accounts[role])) for role in ("client", "doctor", "admin") if role in roles]


def callers(live: LiveApp, home: Home, method: str, path: str) -> list[Caller]:
    """Who calls this operation (see the module docstring). The first caller also runs the negative cases."""
    key = (method, path)
    rule = EXPECTED[key]
    accounts = {"client": home.patient["id"], "doctor": home.doctor["id"], "admin": home.admin_id}
    if key == ("POST", P + "/auth/logout"):
        # Logging out revokes the caller's login: fresh accounts, not the ones every other operation uses.
        fresh = live.run(_fresh_accounts(live))
        return _role_callers(live, frozenset(rule), fresh)
    if key == CASHFREE_WEBHOOK:
        return [Caller("cashfree", sign=_cashfree_signature)] if live.cashfree is not None else [Caller("anonymous")]
    if key == LIVEKIT_WEBHOOK:
        return [Caller("livekit", sign=_livekit_signature)]
    if key in VALID:
        return live.run(VALID[key](live, home))
    case = TABLE.get(key) or BODY_ID.get(key)
    if case is None:
        if rule == PUBLIC or rule == SIGNED_RULE:
            return [Caller("anonymous")]
        if rule == OPTIONAL:
            return [Caller("anonymous"), *_role_callers(live, frozenset({"client"}), accounts)]
        assert isinstance(rule, frozenset), key
        return _role_callers(live, rule, accounts)
    return _table_callers(live, path, case)


def _table_callers(live: LiveApp, path: str, case: TableCase) -> list[Caller]:
    """The BOLA matrix's object for this route, called by each caller its table lets succeed, with the
    table's valid request."""
    objects = live.run(case.setup(live.world))
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    params = {name: str(objects.params[name]) for name in names} or None
    owners = {PATIENT: objects.parties.patient["id"], DOCTOR: objects.parties.doctor["id"], ADMIN: live.world.ids["admin"]}
    valid = _valid_of(case, objects)
    out = []
    for who in (PATIENT, DOCTOR, ADMIN, ANON):
        want = case.expect.get(who)
        status = want if isinstance(want, int) else want[0] if want else 999
        if status < 400:
            headers = {} if who == ANON else live.token(ROLE_OF[who], owners[who])
            out.append(Caller(who, {**headers, **case.headers}, params, valid=valid))
    if case.signed:
        query = dict(parse_qsl(objects.signed or ""))
        out.append(Caller(SIGNED, dict(case.headers), params, query=query,
                          valid=dataclasses.replace(valid, query={**query, **(valid.query or {})})))
    assert out, f"{path}: no caller the table allows"
    return out


def _valid_of(case: TableCase, objects: o.Objects) -> Valid:
    """The table's body (JSON, form or raw bytes) and query, as schemathesis sends them."""
    query = resolve(case.query, objects)
    if case.raw is not None:
        return Valid(case.raw, query, "application/octet-stream")
    if case.form is _png_form:
        return Valid({"file": PNG_BYTES}, query, "multipart/form-data")
    if case.form is _scoped_png_form:
        return Valid({"scope_type": "SESSION", "scope_id": objects["session_id"], "file": PNG_BYTES}, query,
                     "multipart/form-data")
    if case.form is not None:
        return Valid(resolve(case.form, objects), query, "application/x-www-form-urlencoded")
    body = resolve(case.body, objects)
    return Valid(NOT_SET if body is None else body, query, None if body is None else "application/json")


# Routes that take an object id in the body or query (the BOLA matrix's hand list): the first case of each.
BODY_ID: dict[tuple[str, str], TableCase] = {}
for _method, _path, _, _case in BODY_ID_CASES:
    BODY_ID.setdefault((_method, _path), _case)
BODY_ID[("POST", P + "/followups/")] = BODY_ID[("POST", P + "/followups")]  # the same handler, with the slash


async def _forget_login_failures(live: LiveApp) -> None:
    """The password-login throttle counts failures per IP, and every request here comes from
    127.0.0.1: the generated wrong passwords of one login operation must not lock out the next one's
    known-good login (tests/test_hardening_login.py tests the throttle itself)."""
    redis = live.client.server.app[keys.REDIS]
    async for key in redis.scan_iter(match=live.settings.redis_prefix + "login:*", count=500):
        await redis.delete(key)


async def _logins(live: LiveApp, home: Home) -> list[Caller]:
    await _forget_login_failures(live)
    return [Caller("anonymous", valid=Valid({"email": home.doctor["email"], "password": factories.PASSWORD}))]


async def _admin_login(live: LiveApp, home: Home) -> list[Caller]:
    await _forget_login_failures(live)
    admin = await factories.make_admin(live.db)
    return [Caller("anonymous", valid=Valid({"username": admin["username"], "password": factories.PASSWORD}))]


async def _refresh(live: LiveApp, home: Home) -> list[Caller]:
    await _forget_login_failures(live)
    doctor = await factories.make_doctor(live.db)
    async with live.client.post(f"{P}/auth/doctor/login", json={"email": doctor["email"],
                                                                 "password": factories.PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()
        pair = await resp.json()
    return [Caller("anonymous", valid=Valid({"refresh_token": pair["refresh_token"]}))]


async def _request_otp(live: LiveApp, home: Home) -> list[Caller]:
    return [Caller("anonymous", valid=Valid({"phone": "+919999999998"}))]


async def _verify_otp(live: LiveApp, home: Home) -> list[Caller]:
    return [Caller("anonymous", valid=Valid({"phone": "+919999999999", "code": "123456", "name": "Asha"}))]


async def _new_doctor(live: LiveApp, home: Home) -> list[Caller]:
    body = {"full_name": "Dr. Meera Iyer", "email": f"meera.{uuid.uuid4().hex[:8]}@allign.test",
            "password": "s3cur3-passw0rd", "speciality_category": "General Medicine", "rate_per_minute": 800,
            "degrees": ["MBBS", "MD"], "languages": ["English", "Tamil"], "years_experience": 12}
    return [Caller("admin", live.token("admin", home.admin_id), valid=Valid(body))]


async def _new_session(live: LiveApp, home: Home) -> list[Caller]:
    """A patient with money and no active session, an online doctor."""
    patient = await factories.make_user(live.db)
    await factories.make_wallet(live.db, patient["id"], 1_000_000)
    doctor = await factories.make_doctor(live.db)
    body = {"target_doctor_id": str(doctor["id"]), "category": "General Medicine", "symptoms": ["fever"]}
    return [Caller("client", live.token("client", patient["id"]), valid=Valid(body))]


async def _docs_asset(live: LiveApp, home: Home) -> list[Caller]:
    return [Caller("anonymous", path_parameters={"file": "swagger-ui.css"}, valid=Valid())]


VALID: dict[tuple[str, str], Callable[[LiveApp, Home], Coroutine[Any, Any, list[Caller]]]] = {
    ("POST", P + "/auth/request-otp"): _request_otp,
    ("POST", P + "/auth/verify-otp"): _verify_otp,
    ("POST", P + "/auth/doctor/login"): _logins,
    ("POST", P + "/admin/auth/login"): _admin_login,
    ("POST", P + "/auth/refresh"): _refresh,
    ("POST", P + "/doctors"): _new_doctor,
    ("POST", P + "/doctors/"): _new_doctor,
    ("POST", P + "/connect/sessions"): _new_session,
    ("GET", P + "/docs/assets/{file}"): _docs_asset,
}


async def _fresh_accounts(live: LiveApp) -> dict[str, uuid.UUID]:
    return {"client": (await factories.make_user(live.db))["id"],
            "doctor": (await factories.make_doctor(live.db))["id"],
            "admin": (await factories.make_admin(live.db))["id"]}


def _raw(body: Any) -> bytes:
    """The bytes a generated body is sent as (negative cases may be bytes already)."""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def _cashfree_signature(body: Any) -> tuple[bytes, dict[str, str]]:
    raw = _raw(body)
    timestamp = str(int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000))
    return raw, {"Content-Type": "application/json", "x-webhook-timestamp": timestamp,
                 "x-webhook-signature": FakeCashfree.sign(raw, timestamp)}


def _livekit_signature(body: Any) -> tuple[bytes, dict[str, str]]:
    raw = _raw(body)
    digest = base64.b64encode(hashlib.sha256(raw).digest()).decode()
    token = livekit_api.AccessToken(LIVEKIT_KEY, LIVEKIT_SECRET).with_sha256(digest).to_jwt()
    return raw, {"Authorization": token, "Content-Type": "application/webhook+json"}


def cashfree_callers(live: LiveApp, home: Home, method: str, path: str) -> list[Caller]:
    """The Cashfree operations on the app wired to the fake Cashfree: the patient (an order of theirs
    to verify), and Cashfree's signed webhook."""
    if (method, path) == CASHFREE_WEBHOOK:
        return [Caller("cashfree", sign=_cashfree_signature)]
    patient = home.patient["id"]
    params = None
    if "{order_id}" in path:
        order = live.run(live.world.api("client", patient, "POST", f"{P}/payments/cashfree/orders", expect=201,
                                        json={"amount": 50000}))
        params = {"order_id": order["order_id"]}
    return [Caller("cashfree client", live.token("client", patient), params)]
