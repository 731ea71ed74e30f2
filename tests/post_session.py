"""Shared pieces of the after-consultation tests (reviews, follow-ups, analytics): an app on a clock
frozen at a fixed instant, tokens minted at that instant, parties with an ended session, and the
outbox rows a test asserts.

    from tests.post_session import api, clock, tok  # noqa: F401  (fixtures)
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from common.clock import FrozenClock
from storage.tables import notifications
from tests import factories

API = "/api/v2"
# 2026-03-14 20:00 UTC = 2026-03-15 01:30 in Kolkata: the zone's today is UTC's tomorrow.
START = dt.datetime(2026, 3, 14, 20, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def api(make_client, clock):
    return await make_client(clock=clock, followup_reminder_interval=3600, sweeper_interval=3600)


@pytest.fixture
def tok(settings, clock):
    """tok(role, id) → headers with an access token minted at the frozen clock's start, valid 60 days."""

    def headers(role: str, subject_id: uuid.UUID) -> dict[str, str]:
        token = factories.access_token(settings, role, subject_id, ttl=60 * 86_400, now=START)
        return {"Authorization": f"Bearer {token}"}

    return headers


async def ended_session(db, patient: dict, doctor: dict, *, status: str = "ENDED", **values: Any) -> dict:
    at = values.pop("ended_at", START - dt.timedelta(hours=1))
    defaults: dict[str, Any] = {"requested_at": at - dt.timedelta(minutes=40), "expires_at": at,
                                "started_at": at - dt.timedelta(minutes=37)}
    if status == "ENDED":
        defaults.update(ended_at=at, duration_seconds=37 * 60 + 7, billed_minutes=38, billed_amount=38 * 500)
    elif status != "ONGOING":
        defaults["started_at"] = None
    return await factories.make_session(db, patient["id"], doctor["id"], status=status, **{**defaults, **values})


async def parties(db, status: str = "ENDED") -> tuple[dict, dict, dict]:
    patient = await factories.make_user(db, full_name="Priya Verma")
    doctor = await factories.make_doctor(db, full_name="Dr. Ankit Shah")
    return patient, doctor, await ended_session(db, patient, doctor, status=status)


async def pushes(db, event_type: str | None = None) -> list[dict]:
    query = sa.select(notifications).order_by(notifications.c.created_at, notifications.c.id)
    if event_type is not None:
        query = query.where(notifications.c.event_type == event_type)
    async with db.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


async def rows(db, table: sa.Table, *where: Any) -> list[dict]:
    async with db.connect() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(table).where(*where))).mappings().all()]


def error(body: dict) -> tuple[Any, Any]:
    """(code, first loc) of an error body."""
    detail = body.get("detail")
    return body.get("code"), detail[0]["loc"] if isinstance(detail, list) else None
