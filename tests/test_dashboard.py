"""Doctor dashboard: overview metrics ("today" in a time zone), session history filters, recent sessions."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from common.clock import FrozenClock
from storage.tables import connect_sessions, followups
from tests.factories import make_doctor, make_user

API = "/api/v2/doctors/me"
UTC = dt.timezone.utc
# 00:30 UTC on 8 Feb = 06:00 in Asia/Kolkata on 8 Feb.
NOW = dt.datetime(2026, 2, 8, 0, 30, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 2, day, hour, minute, tzinfo=UTC)


async def add_session(db, doctor, status, *, requested_at, started_at=None, ended_at=None, expires_at=None,
                      duration_seconds=None, patient=None, category="Urology"):
    patient = patient or await make_user(db)
    session_id = uuid.uuid4()
    async with db.begin() as conn:
        await conn.execute(sa.insert(connect_sessions).values(
            id=session_id, patient_id=patient["id"], doctor_id=doctor["id"], status=status, category=category,
            rate_per_minute=500, room_name=f"cn-{session_id}", requested_at=requested_at,
            expires_at=expires_at or requested_at + dt.timedelta(minutes=30), started_at=started_at,
            ended_at=ended_at, duration_seconds=duration_seconds, symptoms=["back pain"]))
    return session_id


async def add_followup(db, session_id, doctor, patient_id):
    async with db.begin() as conn:
        await conn.execute(sa.insert(followups).values(
            parent_session_id=session_id, doctor_id=doctor["id"], patient_id=patient_id,
            scheduled_date=dt.date(2026, 2, 20), past_at=dt.datetime(2026, 2, 20, 18, 30, tzinfo=dt.timezone.utc),
            remind_at=dt.datetime(2026, 2, 20, 3, 30, tzinfo=dt.timezone.utc)))


@pytest.fixture
async def dashboard(make_client, db, auth):
    """A doctor with sessions around midnight UTC (= early morning in Kolkata)."""
    doctor = await make_doctor(db, full_name="Dr. Ankit Shah", earnings_paise=12345)
    other = await make_doctor(db)
    patient_a = await make_user(db, full_name="Test Patient", sex="male", age=28)
    ids = {
        # ENDED, started 23:30 UTC on 7 Feb = 05:00 IST on 8 Feb.
        "A": await add_session(db, doctor, "ENDED", requested_at=at(7, 23, 25), started_at=at(7, 23, 30),
                               ended_at=at(7, 23, 30) + dt.timedelta(seconds=2227.4), duration_seconds=2227.4,
                               patient=patient_a),
        # ENDED, started 18:00 UTC on 7 Feb = 23:30 IST on 7 Feb: yesterday everywhere.
        "B": await add_session(db, doctor, "ENDED", requested_at=at(7, 17, 55), started_at=at(7, 18),
                               ended_at=at(7, 18, 5), duration_seconds=300),
        "C": await add_session(db, doctor, "ONGOING", requested_at=at(8, 0, 5), started_at=at(8, 0, 10)),
        "D": await add_session(db, doctor, "REQUESTED", requested_at=at(8, 0, 20)),
        # Still stored REQUESTED but past its expiry: counts as missed (EXPIRED), not pending.
        "E": await add_session(db, doctor, "REQUESTED", requested_at=at(7, 23, 40), expires_at=at(8, 0, 10)),
        "F": await add_session(db, doctor, "REJECTED", requested_at=at(8, 0, 4)),
        "G": await add_session(db, doctor, "EXPIRED", requested_at=at(6, 10)),
        "H": await add_session(db, doctor, "CANCELLED", requested_at=at(8, 0, 1)),
    }
    await add_session(db, other, "REJECTED", requested_at=at(8, 0, 6))
    await add_followup(db, ids["A"], doctor, patient_a["id"])
    client = await make_client(clock=FrozenClock(NOW))
    return client, doctor, ids, auth("doctor", doctor["id"])


async def test_overview_today_in_kolkata_and_utc(dashboard):
    client, doctor, _, headers = dashboard
    resp = await client.get(f"{API}/overview", params={"timezone": "Asia/Kolkata"}, headers=headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    # A (23:30 UTC yesterday) is "today" in Kolkata; E was requested at 05:10 IST today.
    assert body["metrics"] == {"todays_sessions": 2, "ongoing": 1, "pending": 1, "missed": 2}
    assert body["availability"] == {"is_online": True, "presence_status": "ONLINE", "chat_enabled": True,
                                    "call_enabled": True}
    assert body["doctor"]["id"] == str(doctor["id"]) and body["doctor"]["name"] == "Dr. Ankit Shah"
    assert body["doctor"]["total_earnings"] == 12345

    utc = await (await client.get(f"{API}/overview", headers=headers)).json()
    assert utc["metrics"] == {"todays_sessions": 1, "ongoing": 1, "pending": 1, "missed": 1}
    la = await (await client.get(f"{API}/overview", params={"timezone": "America/Los_Angeles"},
                                 headers=headers)).json()
    # 16:30 on 7 Feb in LA: B (10:00), A (15:30) and C (16:10) all started "today".
    assert la["metrics"]["todays_sessions"] == 3


async def test_overview_rejects_unknown_timezone(dashboard):
    client, _, _, headers = dashboard
    for tz in ("Mars/Olympus", "Asia", "../../etc/passwd", "", "utc"):
        resp = await client.get(f"{API}/overview", params={"timezone": tz}, headers=headers)
        assert resp.status == 422, tz
        assert (await resp.json())["detail"][0]["loc"] == ["query", "timezone"]


async def test_dashboard_needs_a_doctor(client, db, auth):
    user = await make_user(db)
    for path in ("/overview", "/sessions", "/sessions/recent", "/profile"):
        assert (await client.get(API + path)).status == 401, path
        assert (await client.get(API + path, headers=auth("client", user["id"]))).status == 403, path


async def _session_ids(client, headers, **params):
    resp = await client.get(f"{API}/sessions", params=params, headers=headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return [i["session_id"] for i in body["items"]], body


async def test_sessions_filters(dashboard):
    client, _, ids, headers = dashboard
    sid = {k: str(v) for k, v in ids.items()}
    everything, body = await _session_ids(client, headers)
    # Newest request first; only this doctor's sessions.
    assert everything == [sid[k] for k in ("D", "C", "F", "H", "E", "A", "B", "G")]
    assert body["total"] == 8 and body["offset"] == 0 and body["limit"] == 50 and body["has_more"] is False
    assert (await _session_ids(client, headers, status="all"))[0] == everything
    assert (await _session_ids(client, headers, status="REQUESTED"))[0] == [sid["D"]]
    assert (await _session_ids(client, headers, status="ONGOING"))[0] == [sid["C"]]
    assert (await _session_ids(client, headers, status="ENDED"))[0] == [sid["A"], sid["B"]]
    assert (await _session_ids(client, headers, status="ended"))[0] == [sid["A"], sid["B"]]
    assert (await _session_ids(client, headers, has_followup="true"))[0] == [sid["A"]]
    assert sid["A"] not in (await _session_ids(client, headers, has_followup="false"))[0]
    assert (await _session_ids(client, headers, status="ENDED", has_followup="false"))[0] == [sid["B"]]
    # Dates bound requested_at (UTC unless a timezone is given).
    assert (await _session_ids(client, headers, from_date="2026-02-08"))[0] == [sid[k] for k in "DCFH"]
    assert (await _session_ids(client, headers, to_date="2026-02-06"))[0] == [sid["G"]]
    assert (await _session_ids(client, headers, from_date="2026-02-07", to_date="2026-02-07"))[0] == \
        [sid[k] for k in "EAB"]
    kolkata = (await _session_ids(client, headers, from_date="2026-02-08", to_date="2026-02-08",
                                  timezone="Asia/Kolkata"))[0]
    assert kolkata == [sid[k] for k in "DCFHEA"]


async def test_sessions_item_shape_and_paging(dashboard):
    client, _, ids, headers = dashboard
    page1, body = await _session_ids(client, headers, skip=0, limit=3)
    assert len(page1) == 3 and body["has_more"] is True and body["total"] == 8
    page3, body = await _session_ids(client, headers, skip=6, limit=3)
    assert len(page3) == 2 and body["offset"] == 6 and body["has_more"] is False
    _, body = await _session_ids(client, headers, status="ENDED")
    item = body["items"][0]
    assert item["session_id"] == str(ids["A"]) and item["status"] == "ENDED"
    assert item["has_followup"] is True and item["duration_display"] == "37m 7s"
    assert item["started_at"] == "2026-02-07T23:30:00Z" and item["category"] == "Urology"
    assert item["patient"]["name"] == "Test Patient" and item["patient"]["gender"] == "male"
    assert item["patient"]["age"] == 28 and item["patient"]["avatar_url"].startswith("https://api.dicebear.com/")
    assert "phone" not in item["patient"]
    all_items = (await _session_ids(client, headers))[1]["items"]
    assert {i["session_id"]: i["status"] for i in all_items}[str(ids["E"])] == "EXPIRED"


async def test_sessions_validation(dashboard):
    client, _, _, headers = dashboard
    for params in ({"status": "EXPIRED_SOON"}, {"limit": 0}, {"limit": 101}, {"skip": -1},
                   {"from_date": "08-02-2026"}, {"from_date": "2026-02-09", "to_date": "2026-02-08"},
                   {"has_followup": "sometimes"}, {"timezone": "Nowhere/City"}):
        resp = await client.get(f"{API}/sessions", params=params, headers=headers)
        assert resp.status == 422, params


async def test_recent_sessions(dashboard):
    client, _, ids, headers = dashboard
    resp = await client.get(f"{API}/sessions/recent", params={"limit": 10, "timezone": "Asia/Kolkata"},
                            headers=headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    items = body["items"]
    assert [i["session_id"] for i in items] == [str(ids[k]) for k in "CAB"]
    assert body["total"] == 3
    ongoing, ended = items[0], items[1]
    assert ongoing["status"] == "ONGOING" and ongoing["duration_display"] == "20m 0s"  # clock frozen at 00:30
    assert ongoing["ended_at"] is None
    assert ended["duration_display"] == "37m 7s" and ended["ended_at"] == "2026-02-08T00:07:07.400000Z"
    assert ended["started_at_local"] == "2026-02-08T05:00:00+05:30"
    assert set(ended["patient"]) >= {"id", "name", "gender", "age", "avatar_url"}
    limited = await (await client.get(f"{API}/sessions/recent", params={"limit": 1}, headers=headers)).json()
    assert [i["session_id"] for i in limited["items"]] == [str(ids["C"])] and limited["has_more"] is True
    for params in ({"limit": 0}, {"limit": 101}, {"timezone": "Bogus/Zone"}):
        assert (await client.get(f"{API}/sessions/recent", params=params, headers=headers)).status == 422
