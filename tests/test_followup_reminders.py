"""The follow-up reminder job: when it reminds (FOLLOWUP_REMINDER_BEFORE, 09:00 local without a time),
whom (accepted follow-ups only, not past ones), and exactly once: three apps on one frozen clock with
their background loops running and one restarting, and three real server processes with one killed
and started again. A follow-up whose time moves is reminded again for its new time."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import uuid

import sqlalchemy as sa

from common.clock import FrozenClock
from gateway.followup_reminders import remind_once
from storage.tables import connect_sessions, followups
from tests import factories
from tests.post_session import API, api, clock, ended_session, parties, pushes, rows, tok  # noqa: F401
from tests.servers import start_server

FOLLOWUPS = f"{API}/followups"
UTC = dt.timezone.utc


async def _accepted(api, tok, patient, doctor, session, **body) -> dict:
    body = {"scheduled_date": "2026-03-20", "scheduled_time": "10:30:00", **body}
    resp = await api.post(f"{API}/connect/sessions/{session['id']}/followup", json=body,
                          headers=tok("doctor", doctor["id"]))
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    resp = await api.post(f"{FOLLOWUPS}/{created['id']}/respond", json={"action": "accept"},
                          headers=tok("client", patient["id"]))
    assert resp.status == 200
    return created


def _to(clock: FrozenClock, instant: dt.datetime) -> None:
    clock.advance((instant - clock.now()).total_seconds())


async def test_reminded_an_hour_before_once(api, db, tok, clock):
    patient, doctor, session = await parties(db)
    created = await _accepted(api, tok, patient, doctor, session)  # 10:30 in Kolkata = 05:00 UTC
    app = api.server.app
    _to(clock, dt.datetime(2026, 3, 20, 3, 59, 59, tzinfo=UTC))
    assert await remind_once(app) == 0
    _to(clock, dt.datetime(2026, 3, 20, 4, 0, tzinfo=UTC))
    assert await remind_once(app) == 1
    [push] = await pushes(db, "followup.reminder")
    assert (push["recipient_role"], push["recipient_id"]) == ("client", patient["id"])
    assert push["data"]["followup_id"] == created["id"] and push["data"]["scheduled_time"] == "10:30:00"
    assert "Dr. Ankit Shah" in push["body"] and "20 Mar 2026 at 10:30" in push["body"]
    assert await remind_once(app) == 0
    clock.advance(1800)
    assert await remind_once(app) == 0 and len(await pushes(db, "followup.reminder")) == 1
    [row] = await rows(db, followups)
    assert row["reminder_sent_at"] == dt.datetime(2026, 3, 20, 4, 0, tzinfo=UTC)
    shown = await (await api.get(f"{FOLLOWUPS}/{created['id']}", headers=tok("client", patient["id"]))).json()
    assert shown["reminder_sent_at"] == "2026-03-20T04:00:00Z"


async def test_a_day_without_a_time_is_reminded_at_nine_in_its_zone(api, db, tok, clock):
    patient, doctor, session = await parties(db)
    await _accepted(api, tok, patient, doctor, session, scheduled_date="2026-03-16", scheduled_time=None,
                    scheduled_timezone="America/New_York")  # 09:00 EDT = 13:00 UTC
    _to(clock, dt.datetime(2026, 3, 16, 12, 59, tzinfo=UTC))
    assert await remind_once(api.server.app) == 0
    clock.advance(60)
    assert await remind_once(api.server.app) == 1


async def test_the_setting_moves_the_reminder(make_client, db, tok, clock):
    api = await make_client(clock=clock, followup_reminder_before=15 * 60, followup_reminder_interval=3600)
    patient, doctor, session = await parties(db)
    await _accepted(api, tok, patient, doctor, session)
    [row] = await rows(db, followups)
    assert row["remind_at"] == dt.datetime(2026, 3, 20, 4, 45, tzinfo=UTC)
    _to(clock, dt.datetime(2026, 3, 20, 4, 44, tzinfo=UTC))
    assert await remind_once(api.server.app) == 0
    clock.advance(60)
    assert await remind_once(api.server.app) == 1


async def test_only_accepted_follow_ups_that_are_still_ahead(api, db, tok, clock):
    patient, doctor, _ = await parties(db)
    headers_d, headers_p = tok("doctor", doctor["id"]), tok("client", patient["id"])
    made = {}
    for name in ("pending", "cancelled", "late", "past"):
        session = await ended_session(db, patient, doctor)
        resp = await api.post(f"{API}/connect/sessions/{session['id']}/followup", headers=headers_d,
                              json={"scheduled_date": "2026-03-20", "scheduled_time": "10:30:00"})
        made[name] = (await resp.json())["id"]
    for name in ("cancelled", "past"):
        await api.post(f"{FOLLOWUPS}/{made[name]}/respond", json={"action": "accept"}, headers=headers_p)
    await api.post(f"{FOLLOWUPS}/{made['cancelled']}/cancel", json={}, headers=headers_p)
    _to(clock, dt.datetime(2026, 3, 20, 5, 0, tzinfo=UTC))  # the time itself: past
    await api.post(f"{FOLLOWUPS}/{made['late']}/respond", json={"action": "accept"}, headers=headers_p)
    assert await remind_once(api.server.app) == 0  # "past" is claimed and marked, not pushed
    assert await pushes(db, "followup.reminder") == []
    by_id = {r["id"]: r for r in await rows(db, followups)}
    assert by_id[uuid.UUID(made["past"])]["reminder_sent_at"] is not None
    assert by_id[uuid.UUID(made["pending"])]["reminder_sent_at"] is None
    assert by_id[uuid.UUID(made["cancelled"])]["reminder_sent_at"] is None
    # Accepted inside its reminder window, before its time: reminded at the next pass.
    session = await ended_session(db, patient, doctor)
    resp = await api.post(f"{API}/connect/sessions/{session['id']}/followup", headers=headers_d,
                          json={"scheduled_date": "2026-03-20", "scheduled_time": "11:00:00"})  # 05:30 UTC
    soon = (await resp.json())["id"]
    await api.post(f"{FOLLOWUPS}/{soon}/respond", json={"action": "accept"}, headers=headers_p)
    assert await remind_once(api.server.app) == 1
    assert [p["data"]["followup_id"] for p in await pushes(db, "followup.reminder")] == [soon]


async def test_a_follow_up_moved_after_its_reminder_is_reminded_again(api, db, tok, clock):
    """Under the contract's transitions a date moves only from RESCHEDULE_REQUESTED, before any
    reminder; a follow-up reminded for a time it no longer has (a row carried over from v1) is
    reminded again for its new time once the move is accepted."""
    patient, doctor, session = await parties(db)
    created = await _accepted(api, tok, patient, doctor, session)
    _to(clock, dt.datetime(2026, 3, 20, 4, 30, tzinfo=UTC))
    assert await remind_once(api.server.app) == 1
    async with db.begin() as conn:  # the v1 row: asked to move after its reminder went out
        await conn.execute(sa.update(followups).where(followups.c.id == uuid.UUID(created["id"])).values(
            status="RESCHEDULE_REQUESTED", proposed_date=dt.date(2026, 3, 21), proposed_time=dt.time(16, 0)))
    resp = await api.post(f"{FOLLOWUPS}/{created['id']}/reschedule-response", json={"accept": True},
                          headers=tok("doctor", doctor["id"]))
    assert resp.status == 200 and (await resp.json())["reminder_sent_at"] is None
    assert await remind_once(api.server.app) == 0
    _to(clock, dt.datetime(2026, 3, 21, 9, 30, tzinfo=UTC))  # 15:00 in Kolkata: an hour before 16:00
    assert await remind_once(api.server.app) == 1
    reminders = await pushes(db, "followup.reminder")
    assert [(p["data"]["scheduled_date"], p["data"]["scheduled_time"]) for p in reminders] == [
        ("2026-03-20", "10:30:00"), ("2026-03-21", "16:00:00")]


async def _insert_accepted(db, patient, doctor, count: int, remind_at: dt.datetime, past_at: dt.datetime) -> set:
    """`count` accepted follow-ups (one per ended session: one open follow-up per session), arranged
    in two statements."""
    sessions = [uuid.uuid4() for _ in range(count)]
    ended = past_at - dt.timedelta(days=2)
    async with db.begin() as conn:
        await conn.execute(sa.insert(connect_sessions), [
            {"id": s, "patient_id": patient["id"], "doctor_id": doctor["id"], "status": "ENDED", "rate_per_minute": 500,
             "room_name": f"cn-{s}", "requested_at": ended, "expires_at": ended, "started_at": ended,
             "ended_at": ended} for s in sessions])
        ids = set((await conn.execute(sa.insert(followups).returning(followups.c.id), [
            {"parent_session_id": s, "doctor_id": doctor["id"], "patient_id": patient["id"], "status": "ACCEPTED",
             "scheduled_date": past_at.date(), "scheduled_time": past_at.time(), "scheduled_timezone": "UTC",
             "past_at": past_at, "remind_at": remind_at} for s in sessions])).scalars().all())
    return ids


async def _all_reminded(db, ids: set, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with db.connect() as conn:
            left = await conn.scalar(sa.select(sa.func.count()).where(
                followups.c.id.in_(ids), followups.c.reminder_sent_at.is_(None)))
        if not left:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{left} follow-ups never reminded"
        await asyncio.sleep(0.02)


async def _exactly_once(db, ids: set) -> None:
    sent = [uuid.UUID(p["data"]["followup_id"]) for p in await pushes(db, "followup.reminder")]
    wanted = [i for i in sent if i in ids]
    assert len(wanted) == len(ids) and set(wanted) == ids


async def test_three_apps_and_a_restart_remind_each_once(make_client, db, clock):
    patient, doctor, _ = await parties(db)

    async def app():
        return await make_client(clock=clock, followup_reminder_interval=0.005, sweeper_interval=3600)

    apps = [await app() for _ in range(3)]
    waves = []
    for wave in range(3):
        now = clock.now()
        ids = await _insert_accepted(db, patient, doctor, 120, now + dt.timedelta(minutes=30 * wave + 1),
                                     now + dt.timedelta(days=1))
        clock.advance(30 * 60 * wave + 60)
        await _all_reminded(db, ids)
        waves.append(ids)
        await apps[wave].close()  # a process going away (its job cancelled mid-loop) and coming back
        apps[wave] = await app()
    for ids in waves:
        await _exactly_once(db, ids)
    assert len(await pushes(db, "followup.reminder")) == 360


async def test_three_server_processes_one_killed_and_restarted(settings, db):
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    env = {"FOLLOWUP_REMINDER_INTERVAL": "0.02", "LOG_LEVEL": "WARNING"}
    servers = [await start_server(settings, env_overrides=env) for _ in range(3)]
    try:
        now = dt.datetime.now(UTC)
        first = await _insert_accepted(db, patient, doctor, 150, now - dt.timedelta(minutes=1),
                                       now + dt.timedelta(minutes=30))
        os.kill(servers[0].pid, signal.SIGKILL)  # mid-pass or not: whatever it claimed and did not commit is rolled back
        await _all_reminded(db, first)
        await servers[0].stop()
        servers[0] = await start_server(settings, env_overrides=env)
        second = await _insert_accepted(db, patient, doctor, 150, dt.datetime.now(UTC) - dt.timedelta(seconds=1),
                                        dt.datetime.now(UTC) + dt.timedelta(minutes=30))
        await _all_reminded(db, second)
        # A claim commits with its pushes: once every row is marked, every push is there, and no
        # marked row is claimed again.
        await _exactly_once(db, first)
        await _exactly_once(db, second)
        assert len(await pushes(db, "followup.reminder")) == 300
    finally:
        for server in servers:
            await server.stop()

