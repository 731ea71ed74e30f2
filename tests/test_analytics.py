"""Analytics over HTTP: the patient's overview and history, the doctor's performance by range in a
zone, review metrics, trends (every bucket, weeks from Monday across a month end, in a zone), the
rating distribution, and the admin's audited view of a patient. The clock is frozen at 2026-03-14
20:00 UTC: Saturday in UTC, already Sunday the 15th in Kolkata."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from storage.tables import audit_log, followups, reviews
from tests import factories
from tests.post_session import API, api, clock, ended_session, error, tok  # noqa: F401

UTC = dt.timezone.utc
ANALYTICS = f"{API}/analytics"


def _at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


async def _review(db, session, rating, created_at, reply=None):
    async with db.begin() as conn:
        await conn.execute(sa.insert(reviews).values(
            connect_session_id=session["id"], doctor_id=session["doctor_id"], patient_id=session["patient_id"],
            rating=rating, created_at=created_at, reply_text=reply, replied_at=created_at if reply else None))


@pytest.fixture
async def practice(db):
    """A doctor's ended sessions around the range edges (minutes, paise), three reviewed."""
    doctor = await factories.make_doctor(db)
    patient = await factories.make_user(db)
    ended = {
        "A": (_at(2026, 3, 14, 19, 0), 10),    # today in UTC and (the 15th, 00:30) in Kolkata
        "B": (_at(2026, 3, 14, 10, 0), 20),    # today in UTC; yesterday in Kolkata
        "C": (_at(2026, 3, 10, 9, 0), 5),      # this week (from Monday the 9th)
        "D": (_at(2026, 3, 2, 9, 0), 1),       # this month
        "E": (_at(2026, 1, 15, 9, 0), 3),      # this year
        "F": (_at(2025, 12, 31, 20, 0), 7),    # 2026-01-01 01:30 in Kolkata: this year there only
    }
    sessions = {}
    for name, (at, minutes) in ended.items():
        sessions[name] = await ended_session(db, patient, doctor, ended_at=at, billed_minutes=minutes,
                                             billed_amount=minutes * 500)
    await ended_session(db, patient, doctor, status="ONGOING")
    await ended_session(db, patient, await factories.make_doctor(db), ended_at=_at(2026, 3, 14, 12, 0))
    await _review(db, sessions["A"], 5.0, _at(2026, 3, 14, 19, 10), reply="Thanks")
    await _review(db, sessions["B"], 3.5, _at(2026, 3, 14, 10, 10))
    await _review(db, sessions["E"], 4.0, _at(2026, 1, 15, 9, 10))
    return doctor


@pytest.mark.parametrize(("date_range", "zone", "expected"), [
    ("today", "UTC", (2, 30, 15000, 4.25, 2)),
    ("today", "Asia/Kolkata", (1, 10, 5000, 5.0, 1)),
    ("week", "UTC", (3, 35, 17500, 4.25, 2)),
    ("week", "Asia/Kolkata", (3, 35, 17500, 4.25, 2)),
    ("month", "Asia/Kolkata", (4, 36, 18000, 4.25, 2)),
    ("year", "UTC", (5, 39, 19500, 4.17, 3)),
    ("year", "Asia/Kolkata", (6, 46, 23000, 4.17, 3)),
    ("all_time", "UTC", (6, 46, 23000, 4.17, 3)),
])
async def test_doctor_performance_by_range_in_a_zone(api, tok, practice, date_range, zone, expected):
    resp = await api.get(f"{ANALYTICS}/doctor/performance?date_range={date_range}&timezone={zone}",
                         headers=tok("doctor", practice["id"]))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["total_sessions"], body["total_minutes"], body["total_earnings"], body["average_rating"],
            body["total_reviews"]) == expected
    assert (body["date_range"], body["timezone"]) == (date_range, zone)


async def test_performance_defaults_and_bounds(api, tok, practice):
    h = tok("doctor", practice["id"])
    body = await (await api.get(f"{ANALYTICS}/doctor/performance", headers=h)).json()
    assert (body["date_range"], body["timezone"], body["start"], body["end"]) == ("all_time", "UTC", None, None)
    body = await (await api.get(f"{ANALYTICS}/doctor/performance?date_range=month&timezone=Asia/Kolkata",
                                headers=h)).json()
    assert (body["start"], body["end"]) == ("2026-02-28T18:30:00Z", "2026-03-31T18:30:00Z")
    for query, loc in (("?date_range=decade", ["query", "date_range"]), ("?timezone=Nowhere/Else", ["query", "timezone"])):
        resp = await api.get(f"{ANALYTICS}/doctor/performance{query}", headers=h)
        assert resp.status == 422 and error(await resp.json()) == ("VALIDATION_ERROR", loc)


async def test_a_doctor_without_anything(api, db, tok):
    h = tok("doctor", (await factories.make_doctor(db))["id"])
    body = await (await api.get(f"{ANALYTICS}/doctor/performance?date_range=today", headers=h)).json()
    assert (body["total_sessions"], body["total_minutes"], body["total_earnings"], body["average_rating"]) == (0, 0, 0, None)
    body = await (await api.get(f"{ANALYTICS}/doctor/reviews/rating-distribution", headers=h)).json()
    assert body == {"distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}, "total_reviews": 0}
    body = await (await api.get(f"{ANALYTICS}/doctor/reviews/metrics", headers=h)).json()
    assert (body["total_reviews"], body["average_rating"], body["reply_rate"]) == (0, None, 0.0)


async def test_review_metrics(api, tok, practice):
    h = tok("doctor", practice["id"])
    body = await (await api.get(f"{ANALYTICS}/doctor/reviews/metrics", headers=h)).json()
    assert {k: body[k] for k in ("total_reviews", "average_rating", "replied_count", "unreplied_count", "reply_rate")} == {
        "total_reviews": 3, "average_rating": 4.17, "replied_count": 1, "unreplied_count": 2, "reply_rate": 33.3}
    body = await (await api.get(f"{ANALYTICS}/doctor/reviews/metrics?date_from=2026-03-01&date_to=2026-03-14",
                                headers=h)).json()
    assert (body["total_reviews"], body["average_rating"], body["reply_rate"]) == (2, 4.25, 50.0)
    body = await (await api.get(f"{ANALYTICS}/doctor/reviews/metrics?date_from=2026-03-15&timezone=Asia/Kolkata",
                                headers=h)).json()
    assert (body["total_reviews"], body["start"]) == (1, "2026-03-14T18:30:00Z")
    body = await (await api.get(f"{ANALYTICS}/doctor/reviews/metrics?date_to=2026-03-14T10:10:00Z", headers=h)).json()
    assert body["total_reviews"] == 2  # an instant given as the end is included
    resp = await api.get(f"{ANALYTICS}/doctor/reviews/metrics?date_from=2026-03-10&date_to=2026-03-01", headers=h)
    assert resp.status == 422 and error(await resp.json()) == ("VALIDATION_ERROR", ["query", "date_from"])


async def test_trends_by_day_keep_empty_days(api, tok, practice):
    body = await (await api.get(f"{ANALYTICS}/doctor/reviews/trends?period=day&date_from=2026-03-11"
                                "&date_to=2026-03-15&timezone=Asia/Kolkata", headers=tok("doctor", practice["id"]))).json()
    assert body["period"] == "day" and body["timezone"] == "Asia/Kolkata"
    assert [(b["period_start"], b["count"], b["average_rating"]) for b in body["buckets"]] == [
        ("2026-03-11", 0, None), ("2026-03-12", 0, None), ("2026-03-13", 0, None),
        ("2026-03-14", 1, 3.5), ("2026-03-15", 1, 5.0)]  # A was written at 00:40 on the 15th in Kolkata
    assert body["buckets"][0]["period_end"] == "2026-03-11"


async def test_trends_default_windows(api, tok, practice):
    h = tok("doctor", practice["id"])
    days = await (await api.get(f"{ANALYTICS}/doctor/reviews/trends", headers=h)).json()
    assert len(days["buckets"]) == 30 and days["buckets"][-1]["period_start"] == "2026-03-14"
    assert days["buckets"][-1]["count"] == 2 and sum(b["count"] for b in days["buckets"]) == 2
    months = await (await api.get(f"{ANALYTICS}/doctor/reviews/trends?period=month", headers=h)).json()
    assert [b["period_start"] for b in months["buckets"]][:2] == ["2025-04-01", "2025-05-01"]
    assert [(b["period_start"], b["count"]) for b in months["buckets"] if b["count"]] == [
        ("2026-01-01", 1), ("2026-03-01", 2)]
    assert months["buckets"][-1]["period_end"] == "2026-03-31" and len(months["buckets"]) == 12


async def test_a_week_bucket_across_a_month_end(api, db, tok):
    doctor = await factories.make_doctor(db)
    patient = await factories.make_user(db)
    for at, rating in ((_at(2026, 1, 30, 9, 0), 5.0), (_at(2026, 2, 1, 10, 0), 4.0), (_at(2026, 2, 1, 20, 0), 2.0),
                       (_at(2026, 2, 3, 9, 0), 3.0)):
        await _review(db, await ended_session(db, patient, doctor), rating, at)
    h = tok("doctor", doctor["id"])
    query = "?period=week&date_from=2026-01-26&date_to=2026-02-08"
    utc = await (await api.get(f"{ANALYTICS}/doctor/reviews/trends{query}", headers=h)).json()
    assert [(b["period_start"], b["period_end"], b["count"], b["average_rating"]) for b in utc["buckets"]] == [
        ("2026-01-26", "2026-02-01", 3, 3.67), ("2026-02-02", "2026-02-08", 1, 3.0)]
    # 2026-02-01 20:00 UTC is Monday 01:30 in Kolkata: the next week there.
    ist = await (await api.get(f"{ANALYTICS}/doctor/reviews/trends{query}&timezone=Asia/Kolkata", headers=h)).json()
    assert [(b["period_start"], b["count"]) for b in ist["buckets"]] == [("2026-01-26", 2), ("2026-02-02", 2)]
    for bad, loc in (("?period=year", ["query", "period"]), ("?period=day&date_from=2024-01-01", ["query", "date_from"])):
        resp = await api.get(f"{ANALYTICS}/doctor/reviews/trends{bad}", headers=h)
        assert resp.status == 422 and error(await resp.json()) == ("VALIDATION_ERROR", loc), bad


async def test_rating_distribution_counts_half_stars_below(api, db, tok):
    doctor = await factories.make_doctor(db)
    patient = await factories.make_user(db)
    for rating in (1.0, 1.5, 4.5, 5.0, 5.0):
        await _review(db, await ended_session(db, patient, doctor), rating, _at(2026, 3, 1, 9, 0))
    body = await (await api.get(f"{ANALYTICS}/doctor/reviews/rating-distribution",
                                headers=tok("doctor", doctor["id"]))).json()
    assert body == {"distribution": {"1": 2, "2": 0, "3": 0, "4": 1, "5": 2}, "total_reviews": 5}


@pytest.fixture
async def patient_history(db):
    patient = await factories.make_user(db, height_cm=170, weight_kg=68.5)
    first, second = await factories.make_doctor(db, full_name="Dr. One"), await factories.make_doctor(db)
    s1 = await ended_session(db, patient, first, ended_at=_at(2026, 3, 1, 10, 0))
    await ended_session(db, patient, first, ended_at=_at(2026, 3, 5, 10, 0))
    await ended_session(db, patient, second, ended_at=_at(2026, 3, 9, 10, 0))
    await ended_session(db, patient, second, status="CANCELLED", requested_at=_at(2026, 3, 10, 10, 0))
    async with db.begin() as conn:
        await conn.execute(sa.insert(followups).values(
            parent_session_id=s1["id"], doctor_id=first["id"], patient_id=patient["id"],
            scheduled_date=dt.date(2026, 3, 20), past_at=_at(2026, 3, 20, 18, 30), remind_at=_at(2026, 3, 20, 3, 30)))
    other = await factories.make_user(db)
    await ended_session(db, other, first)
    return patient, first


async def test_user_overview_and_sessions(api, tok, patient_history):
    patient, first = patient_history
    h = tok("client", patient["id"])
    assert await (await api.get(f"{ANALYTICS}/user/overview", headers=h)).json() == {
        "sessions_count": 3, "followups_count": 1, "bmi": 23.7, "doctors_consulted_count": 2}
    page = await (await api.get(f"{ANALYTICS}/user/sessions?limit=2", headers=h)).json()
    assert (page["total"], page["limit"], page["offset"], page["has_more"]) == (4, 2, 0, True)
    assert [i["status"] for i in page["items"]] == ["CANCELLED", "ENDED"]
    last = (await (await api.get(f"{ANALYTICS}/user/sessions?limit=2&offset=2", headers=h)).json())["items"][-1]
    assert (last["doctor"]["full_name"], last["doctor"]["id"], last["billed_amount"], last["billed_minutes"]) == (
        "Dr. One", str(first["id"]), 19000, 38)
    assert (last["duration_seconds"], last["duration_display"], last["has_review"]) == (2227.0, "37m 7s", False)
    assert last["doctor"]["avatar_url"].startswith("http")


async def test_admin_reads_of_a_patient_are_audited(api, db, tok, patient_history):
    patient, _ = patient_history
    admin = await factories.make_admin(db)
    h = tok("admin", admin["id"])
    overview = await api.get(f"{API}/admin/users/{patient['id']}/analytics/overview", headers=h)
    assert overview.status == 200 and (await overview.json())["sessions_count"] == 3
    sessions = await api.get(f"{API}/admin/users/{patient['id']}/analytics/sessions?limit=1", headers=h)
    body = await sessions.json()
    assert sessions.status == 200 and (body["total"], len(body["items"])) == (4, 1)
    async with db.connect() as conn:
        logged = (await conn.execute(sa.select(audit_log).order_by(audit_log.c.id))).mappings().all()
    assert [(r["actor_id"], r["actor_role"], r["action"], r["target_type"], r["target_id"]) for r in logged] == [
        (admin["id"], "admin", "user.analytics.overview.read", "user", str(patient["id"])),
        (admin["id"], "admin", "user.analytics.sessions.read", "user", str(patient["id"]))]
    assert all(r["request_id"] and r["changed_fields"] == [] for r in logged)
    for kind in ("overview", "sessions"):
        missing = await api.get(f"{API}/admin/users/{admin['id']}/analytics/{kind}", headers=h)
        assert missing.status == 404 and (await missing.json())["code"] == "USER_NOT_FOUND"
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(audit_log)) == 2


async def test_patients_see_only_their_own(api, db, tok, patient_history):
    stranger = await factories.make_user(db)
    h = tok("client", stranger["id"])
    assert await (await api.get(f"{ANALYTICS}/user/overview", headers=h)).json() == {
        "sessions_count": 0, "followups_count": 0, "bmi": None, "doctors_consulted_count": 0}
    assert (await (await api.get(f"{ANALYTICS}/user/sessions", headers=h)).json())["total"] == 0
