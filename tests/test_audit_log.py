"""The admin audit log.

- The route walk: every route an admin token opens (its handler requires the admin role), taken from
  the app's route table, is in ROUTES: a write, or a read of a patient's data, is called with a valid
  request and must leave exactly one audit row (actor, action, target, request id, IP); a read that
  shows no patient data says why in NOT_AUDITED. A route missing from both fails, so a new admin
  endpoint cannot forget its audit row. Entries of other issues' routes not served yet are skipped
  until the app serves them (then they are walked like the rest).
- Append-only: UPDATE, DELETE and TRUNCATE on audit_log fail on the application's own connection.
- GET /admin/audit-log: filters, newest first, pages.
"""
from __future__ import annotations

import datetime as dt
import itertools
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import asyncpg
import pytest
import sqlalchemy as sa

from common.clock import FrozenClock
from domain.roles import Role
from gateway import keys
from storage import driver
from storage.tables import audit_log
from tests import factories
from tests.audit_rows import audit_rows
from tests.routes import app_routes, shape

P = "/api/v2"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
_PARAM = re.compile(r"\{[^}]+\}")
_names = itertools.count(1)


@dataclass
class Call:
    """How to call one route: its path values in order, the body, and the audit row's target id
    (None: the id of what the call created, from the response)."""
    values: list[str] = field(default_factory=list)
    json: Any = None
    target_id: str | None = None


class Arrange:
    """Rows a call needs, made through the API where an admin would make them (their own audit rows
    are written before the call is measured)."""

    def __init__(self, client, db, headers) -> None:
        self.client, self.db, self.headers = client, db, headers

    async def patient(self) -> str:
        user = await factories.make_user(self.db)
        await factories.make_wallet(self.db, user["id"], 10_000)
        return str(user["id"])

    async def doctor(self) -> str:
        return str((await factories.make_doctor(self.db))["id"])

    async def created(self, path: str, body: dict[str, Any]) -> str:
        resp = await self.client.post(P + path, headers=self.headers, json=body)
        assert resp.status == 201, (path, await resp.text())
        return (await resp.json())["id"]

    async def category(self) -> str:
        return await self.created("/admin/categories", {"name": f"Category {next(_names)}"})

    async def article(self) -> str:
        return await self.created("/admin/articles", ARTICLE)

    async def event(self) -> str:
        return await self.created("/admin/events", EVENT)

    async def offer(self) -> str:
        return await self.created("/admin/wallet-offers", OFFER)


ARTICLE = {"title": "5 Tips for Better Sleep", "excerpt": "Sleep is essential...", "content": "Full article body..."}
EVENT = {"title": "Health Awareness Webinar", "description": "Join us for...", "event_date": "2030-03-15T10:00:00Z"}
OFFER = {"title": "Starter Pack", "amount": 500.00, "bonus_amount": 50.00, "valid_from": "2026-02-01",
         "valid_until": "2030-03-01"}
DOCTOR = {"full_name": "Dr. Audit Case", "password": "s3cret-pass", "speciality_category": "Urology",
          "rate_per_minute": 500}


def _doctor_body() -> dict[str, Any]:
    return {**DOCTOR, "email": f"audit{next(_names)}@example.com"}


async def _none(a: Arrange) -> Call:
    return Call()


def _on(make: Callable[[Arrange], Awaitable[str]], json: Any = None) -> Callable[[Arrange], Awaitable[Call]]:
    """A call on one existing row (the path's one id), audited against that row."""
    async def arrange(a: Arrange) -> Call:
        target = await make(a)
        return Call([target], json, target)
    return arrange


def _create(body: Callable[[], Any]) -> Callable[[Arrange], Awaitable[Call]]:
    async def arrange(a: Arrange) -> Call:
        return Call(json=body())
    return arrange


@dataclass(frozen=True)
class Audited:
    action: str | None       # None: any action name (a route another issue owns and names)
    target_type: str | None  # None: any
    arrange: Callable[[Arrange], Awaitable[Call]]
    list_target: bool = False  # a list: no single target (target_id NULL)


# (method, path with `{}` for each parameter) → how to call it and what it must record. Writes and
# reads of a patient's data; the routes of other issues too (skipped until served).
ROUTES: dict[tuple[str, str], Audited] = {
    # Accounts (this issue)
    ("GET", P + "/admin/users"): Audited("user.list", "user", _none, list_target=True),
    ("GET", P + "/admin/users/{}"): Audited("user.read", "user", _on(Arrange.patient)),
    ("PATCH", P + "/admin/users/{}"): Audited("user.update", "user", _on(Arrange.patient, {"age": 31})),
    ("PATCH", P + "/admin/users/{}/status"): Audited("user.status.update", "user",
                                                     _on(Arrange.patient, {"is_active": False})),
    # Money
    ("POST", P + "/admin/users/{}/wallet/adjustments"): Audited(
        "wallet.adjustment.create", "user", _on(Arrange.patient, {"amount": -500, "reason": "refund reversal"})),
    ("POST", P + "/admin/wallet-offers"): Audited("wallet_offer.create", "wallet_offer", _create(lambda: OFFER)),
    ("PATCH", P + "/admin/wallet-offers/{}"): Audited("wallet_offer.update", "wallet_offer",
                                                      _on(Arrange.offer, {"title": "Renamed pack"})),
    ("DELETE", P + "/admin/wallet-offers/{}"): Audited("wallet_offer.delete", "wallet_offer", _on(Arrange.offer)),
    # Patient analytics for the admin (issue 13): PHI reads.
    ("GET", P + "/admin/users/{}/analytics/overview"): Audited(None, None, _on(Arrange.patient)),
    ("GET", P + "/admin/users/{}/analytics/sessions"): Audited(None, None, _on(Arrange.patient)),
    # Categories
    ("POST", P + "/admin/categories"): Audited("category.create", "category",
                                               _create(lambda: {"name": f"Category {next(_names)}"})),
    ("PATCH", P + "/admin/categories/{}"): Audited("category.update", "category",
                                                   _on(Arrange.category, {"is_active": False})),
    ("DELETE", P + "/admin/categories/{}"): Audited("category.delete", "category", _on(Arrange.category)),
    # Doctors (admin writes outside /admin)
    ("POST", P + "/doctors"): Audited("doctor.create", "doctor", _create(_doctor_body)),
    ("POST", P + "/doctors/"): Audited("doctor.create", "doctor", _create(_doctor_body)),
    ("PATCH", P + "/doctors/{}"): Audited("doctor.update", "doctor", _on(Arrange.doctor, {"is_featured": True})),
    # Community
    ("POST", P + "/admin/articles"): Audited("article.create", "article", _create(lambda: ARTICLE)),
    ("PATCH", P + "/admin/articles/{}"): Audited("article.publish", "article",
                                                 _on(Arrange.article, {"is_published": True})),
    ("DELETE", P + "/admin/articles/{}"): Audited("article.delete", "article", _on(Arrange.article)),
    ("POST", P + "/admin/events"): Audited("event.create", "event", _create(lambda: EVENT)),
    ("PATCH", P + "/admin/events/{}"): Audited("event.update", "event", _on(Arrange.event, {"title": "Renamed"})),
    ("DELETE", P + "/admin/events/{}"): Audited("event.delete", "event", _on(Arrange.event)),
}

# Admin reads that show no patient's data, and why they are not recorded.
NOT_AUDITED: dict[tuple[str, str], str] = {
    ("GET", P + "/admin/auth/me"): "the admin's own profile",
    ("GET", P + "/admin/audit-log"): "the log itself: names of fields, never their values",
    ("GET", P + "/admin/categories"): "catalogue data",
    ("GET", P + "/admin/categories/{}"): "catalogue data",
    ("GET", P + "/admin/wallet-offers"): "catalogue data",
    ("GET", P + "/admin/wallet-offers/{}"): "catalogue data",
    ("GET", P + "/admin/articles"): "public content and drafts of it",
    ("GET", P + "/admin/articles/{}"): "public content and drafts of it",
    ("GET", P + "/admin/events"): "public content",
    ("GET", P + "/admin/events/{}"): "public content",
}
# Routes of other issues, listed above before they exist: skipped while not served.
NOT_YET_SERVED_OK = {
    ("GET", P + "/admin/users/{}/analytics/overview"), ("GET", P + "/admin/users/{}/analytics/sessions"),
    ("POST", P + "/admin/wallet-offers"), ("PATCH", P + "/admin/wallet-offers/{}"),
    ("DELETE", P + "/admin/wallet-offers/{}"), ("GET", P + "/admin/wallet-offers"),
    ("GET", P + "/admin/wallet-offers/{}"),
}


def _fill(path: str, values: list[str]) -> str:
    """`path` with its parameters replaced by `values`, in order."""
    remaining = iter(values)
    return _PARAM.sub(lambda _: next(remaining), path)


def _admin_routes(app) -> list:
    return [info for info in app_routes(app)
            if Role.ADMIN in (getattr(info.handler, "__allign_roles__", None) or ())]


async def _max_audit_id(db) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.coalesce(sa.func.max(audit_log.c.id), 0))))


async def test_every_admin_write_and_phi_read_leaves_one_audit_row(client, db, auth):
    admin = await factories.make_admin(db)
    headers = auth("admin", admin["id"])
    arrange = Arrange(client, db, headers)
    routes = _admin_routes(client.server.app)
    served = {(info.method, shape(info.path)) for info in routes}
    assert ("PATCH", P + "/admin/users/{}/status") in served and ("POST", P + "/doctors") in served  # the walk sees them
    problems: list[str] = []
    for key in sorted((set(ROUTES) | set(NOT_AUDITED)) - served - NOT_YET_SERVED_OK):
        problems.append(f"{key[0]} {key[1]} is listed but not served (or no longer needs an admin token)")
    for info in routes:
        key = (info.method, shape(info.path))
        case = ROUTES.get(key)
        if case is None:
            if key in NOT_AUDITED and info.method not in WRITES:
                continue
            problems.append(f"{info}: an admin route without an entry in ROUTES (a write or a read of patient "
                            "data must be audited; a read that shows none goes in NOT_AUDITED, with the reason)")
            continue
        call = await case.arrange(arrange)
        url = _fill(info.path, call.values)
        request_id = f"audit-walk-{uuid.uuid4().hex[:12]}"
        after = await _max_audit_id(db)
        resp = await client.request(info.method, url, json=call.json, headers={**headers, "X-Request-ID": request_id})
        if not 200 <= resp.status < 300:
            problems.append(f"{info}: a valid request answered {resp.status}: {(await resp.text())[:200]}")
            continue
        rows = [r for r in await audit_rows(db) if r["id"] > after]
        if len(rows) != 1:
            problems.append(f"{info}: {len(rows)} audit rows, expected exactly one")
            continue
        [row] = rows
        target = call.target_id
        if target is None and not case.list_target:
            target = (await resp.json())["id"]
        expected = {"actor_id": admin["id"], "actor_role": "admin", "request_id": request_id, "ip": "127.0.0.1",
                    "action": case.action or row["action"], "target_type": case.target_type or row["target_type"],
                    "target_id": target if not case.list_target else None}
        got = {**{k: row[k] for k in expected}, "ip": str(row["ip"]) if row["ip"] else None}
        if got != expected:
            problems.append(f"{info}: audit row {got}, expected {expected}")
    if problems:
        pytest.fail("audit walk:\n  " + "\n  ".join(problems), pytrace=False)


async def test_audit_log_refuses_update_delete_and_truncate_on_the_apps_connection(client, db, auth):
    admin = await factories.make_admin(db)
    resp = await client.post(P + "/admin/categories", headers=auth("admin", admin["id"]), json={"name": "Skin"})
    assert resp.status == 201
    [before] = await audit_rows(db)
    app_pool = client.server.app[keys.DB]  # the application's own connections, its role
    for sql in ("UPDATE audit_log SET action = 'nothing'", "DELETE FROM audit_log",
                "UPDATE audit_log SET changed_fields = '{}' WHERE id = (SELECT max(id) FROM audit_log)",
                "TRUNCATE audit_log"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            async with app_pool.begin() as conn:
                await driver.execute(conn, sql)
    assert await audit_rows(db) == [before]


async def test_a_write_that_fails_records_nothing_and_its_values_never_appear(client, db, auth):
    headers = auth("admin", (await factories.make_admin(db))["id"])
    user = await factories.make_user(db)
    await factories.make_wallet(db, user["id"], 100)
    assert (await client.post(P + "/admin/categories", headers=headers, json={"name": "Skin"})).status == 201
    assert (await client.post(P + "/admin/categories", headers=headers, json={"name": "SKIN"})).status == 409
    resp = await client.post(f"{P}/admin/users/{user['id']}/wallet/adjustments", headers=headers,
                             json={"amount": -1000, "reason": "too much"})
    assert resp.status == 400
    assert [r["action"] for r in await audit_rows(db)] == ["category.create"]

    doctor = await factories.make_doctor(db)
    resp = await client.patch(f"{P}/doctors/{doctor['id']}", headers=headers,
                              json={"password": "n3w-secret-pass", "rate_per_minute": 700})
    assert resp.status == 200
    [row] = await audit_rows(db, target_type="doctor")
    assert row["action"] == "doctor.password.update" and row["changed_fields"] == ["password", "rate_per_minute"]
    assert "n3w-secret-pass" not in repr(row)  # the names of the fields, never their values


async def test_the_log_is_filtered_newest_first_and_paginated(make_client, db, auth):
    clock = FrozenClock(dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.timezone.utc))
    client = await make_client(clock=clock)
    first, second = await factories.make_admin(db), await factories.make_admin(db)
    ids = []
    for n, who in enumerate([first, second, first]):
        resp = await client.post(P + "/admin/categories", headers=auth("admin", who["id"]), json={"name": f"C{n}"})
        ids.append((await resp.json())["id"])
        clock.advance(86400)
    resp = await client.delete(f"{P}/admin/categories/{ids[0]}", headers=auth("admin", second["id"]))
    assert resp.status == 204
    headers = auth("admin", first["id"])

    async def log(**query) -> dict:
        resp = await client.get(P + "/admin/audit-log", headers=headers, params={k: str(v) for k, v in query.items()})
        assert resp.status == 200, await resp.text()
        return await resp.json()

    everything = await log()
    assert [(r["action"], r["target_id"]) for r in everything["items"]] == [
        ("category.delete", ids[0]), ("category.create", ids[2]), ("category.create", ids[1]),
        ("category.create", ids[0])]
    newest = everything["items"][0]
    assert set(newest) == {"id", "actor_id", "actor_role", "action", "target_type", "target_id", "request_id", "ip",
                           "changed_fields", "created_at"}
    assert newest["actor_id"] == str(second["id"]) and newest["created_at"] == "2026-01-13T09:00:00Z"
    assert newest["ip"] == "127.0.0.1" and newest["request_id"]
    assert everything["items"][1]["changed_fields"] == ["description", "is_active", "name"]

    assert [r["target_id"] for r in (await log(actor_id=first["id"]))["items"]] == [ids[2], ids[0]]
    assert (await log(action="category.delete"))["total"] == 1
    assert [r["action"] for r in (await log(target_type="category", target_id=ids[0]))["items"]] == [
        "category.delete", "category.create"]
    assert (await log(target_type="doctor"))["items"] == []
    window = await log(date_from="2026-01-11T00:00:00Z", date_to="2026-01-13T00:00:00Z")
    assert [r["target_id"] for r in window["items"]] == [ids[2], ids[1]]
    page = await log(limit=3, offset=3)
    assert (page["total"], page["has_more"], len(page["items"])) == (4, False, 1)
    assert (await log(limit=3))["has_more"] is True
    for bad in ({"actor_id": "nobody"}, {"date_from": "yesterday"}, {"limit": 0},
                {"date_from": "2026-01-12T00:00:00Z", "date_to": "2026-01-11T00:00:00Z"}):
        resp = await client.get(P + "/admin/audit-log", headers=headers, params=bad)
        assert resp.status == 422, bad
    assert len(await audit_rows(db)) == 4  # reading the log is not itself recorded
