"""Reviews over HTTP: the patient's review of an ended session and the doctor's rating it moves (also
under twenty concurrent reviews), the public list, the doctor's dashboard list, the reply, and the
review reminder with its 24-hour limit."""
from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import uuid

import pytest
import sqlalchemy as sa

from storage.tables import doctors, review_reminders, reviews
from tests import factories
from tests.post_session import API, api, clock, ended_session, error, parties, pushes, rows, tok  # noqa: F401

SESSIONS = f"{API}/connect/sessions"


async def _review(api, tok, patient, session, rating=4.5, comment="Very helpful", via="session"):
    body = {"rating": rating, "comment": comment}
    if via == "session":
        return await api.post(f"{SESSIONS}/{session['id']}/review", json=body, headers=tok("client", patient["id"]))
    return await api.post(f"{API}/reviews", json={**body, "session_id": str(session["id"])},
                          headers=tok("client", patient["id"]))


async def _doctor(db, doctor_id):
    async with db.connect() as conn:
        return dict((await conn.execute(sa.select(doctors).where(doctors.c.id == doctor_id))).mappings().one())


@pytest.mark.parametrize("via", ["session", "body"])
async def test_a_review_moves_the_doctors_rating_and_is_pushed(api, db, tok, via):
    patient, doctor, session = await parties(db)
    resp = await _review(api, tok, patient, session, via=via)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert set(body) == {"id", "connect_session_id", "session_id", "doctor_id", "rating", "comment", "created_at"}
    assert (body["connect_session_id"], body["session_id"], body["doctor_id"], body["rating"], body["comment"]) == (
        str(session["id"]), None, str(doctor["id"]), 4.5, "Very helpful")
    assert body["created_at"] == "2026-03-14T20:00:00Z"
    row = await _doctor(db, doctor["id"])
    assert (row["rating"], row["total_reviews"]) == (4.5, 1)
    [push] = await pushes(db)
    assert (push["event_type"], push["recipient_role"], push["recipient_id"]) == ("review.submitted", "doctor",
                                                                                  doctor["id"])
    assert push["data"]["review_id"] == body["id"] and "Very helpful" not in str(push)
    again = await _review(api, tok, patient, session, via="body" if via == "session" else "session")
    assert again.status == 409 and (await again.json())["code"] == "REVIEW_EXISTS"
    assert (await _doctor(db, doctor["id"]))["total_reviews"] == 1 and len(await pushes(db)) == 1


@pytest.mark.parametrize("status", ["ONGOING", "REQUESTED", "CANCELLED", "EXPIRED"])
async def test_only_an_ended_session_is_reviewed(api, db, tok, status):
    patient, doctor, session = await parties(db, status=status)
    resp = await _review(api, tok, patient, session)
    assert resp.status == 409 and (await resp.json())["code"] == "SESSION_NOT_ENDED"
    assert await rows(db, reviews) == []


@pytest.mark.parametrize(("body", "loc"), [
    ({"rating": 0.5}, ["body", "rating"]), ({"rating": 5.5}, ["body", "rating"]), ({"rating": 4.3}, ["body", "rating"]),
    ({"rating": "good"}, ["body", "rating"]), ({}, ["body", "rating"]),
    ({"rating": 4, "comment": "x" * 2001}, ["body", "comment"]),
])
async def test_bad_reviews_are_422(api, db, tok, body, loc):
    patient, _, session = await parties(db)
    resp = await api.post(f"{SESSIONS}/{session['id']}/review", json=body, headers=tok("client", patient["id"]))
    assert resp.status == 422 and error(await resp.json()) == ("VALIDATION_ERROR", loc)
    resp = await api.post(f"{API}/reviews", json={"rating": 4}, headers=tok("client", patient["id"]))
    assert resp.status == 422 and error(await resp.json()) == ("VALIDATION_ERROR", ["body", "session_id"])


async def test_edges_of_the_scale_and_blank_comments(api, db, tok):
    patient, doctor, _ = await parties(db)
    for rating, comment in ((1.0, "  "), (5, "x" * 2000)):
        session = await ended_session(db, patient, doctor)
        resp = await _review(api, tok, patient, session, rating=rating, comment=comment)
        assert resp.status == 201
        assert (await resp.json())["comment"] == (None if comment.strip() == "" else comment)
    assert (await _doctor(db, doctor["id"]))["rating"] == 3.0


async def test_strangers_get_404(api, db, tok):
    patient, doctor, session = await parties(db)
    stranger = await factories.make_user(db)
    assert (await _review(api, tok, stranger, session)).status == 404
    assert (await _review(api, tok, stranger, session, via="body")).status == 404
    assert (await _review(api, tok, patient, {"id": uuid.uuid4()})).status == 404
    assert await rows(db, reviews) == []


async def test_twenty_concurrent_reviews_of_one_doctor_lose_nothing(api, db, tok):
    doctor = await factories.make_doctor(db, rating=4.8)  # a seeded rating is replaced by the real mean
    ratings = [1.0 + (i % 9) * 0.5 for i in range(20)]
    cases = []
    for _ in ratings:
        patient = await factories.make_user(db)
        cases.append((patient, await ended_session(db, patient, doctor)))
    results = await asyncio.gather(*[_review(api, tok, p, s, rating=r) for (p, s), r in zip(cases, ratings)])
    assert [r.status for r in results] == [201] * 20
    row = await _doctor(db, doctor["id"])
    assert row["total_reviews"] == 20 and row["rating"] == statistics.fmean(ratings)
    # The same session twice at once: one review.
    patient, session = cases[0][0], await ended_session(db, cases[0][0], doctor)
    results = await asyncio.gather(*[_review(api, tok, patient, session, rating=5) for _ in range(5)])
    assert sorted(r.status for r in results) == [201] + [409] * 4
    assert (await _doctor(db, doctor["id"]))["total_reviews"] == 21


async def test_public_list_masks_the_patient_and_shows_the_reply(api, db, tok):
    patient, doctor, session = await parties(db)
    review = await (await _review(api, tok, patient, session)).json()
    await api.post(f"{API}/doctors/me/reviews/{review['id']}/reply", json={"text": "Thank you!"},
                   headers=tok("doctor", doctor["id"]))
    listed = await (await api.get(f"{API}/doctors/{doctor['id']}/reviews")).json()
    [item] = listed["items"]
    assert item["patient_name_masked"] == "User****" + str(patient["id"]).replace("-", "")[-3:]
    assert "Priya" not in str(listed)
    assert (item["rating"], item["reply_text"], item["replied_at"]) == (4.5, "Thank you!", "2026-03-14T20:00:00Z")


async def _reviews_at(db, doctor, specs):
    """Reviews written at given times (rating, created_at, reply) straight into the table."""
    patient = await factories.make_user(db)
    made = []
    for rating, created_at, reply in specs:
        session = await ended_session(db, patient, doctor)
        async with db.begin() as conn:
            made.append(await conn.scalar(sa.insert(reviews).values(
                connect_session_id=session["id"], doctor_id=doctor["id"], patient_id=patient["id"], rating=rating,
                comment=f"{rating}", created_at=created_at, reply_text=reply,
                replied_at=created_at if reply else None).returning(reviews.c.id)))
    return [str(i) for i in made]


async def test_the_doctors_list_filters_sorts_and_pages(api, db, tok):
    doctor = await factories.make_doctor(db)
    utc = dt.timezone.utc
    ids = await _reviews_at(db, doctor, [
        (5.0, dt.datetime(2026, 1, 31, 20, 0, tzinfo=utc), None),       # Feb 1 in Kolkata
        (4.5, dt.datetime(2026, 2, 10, 8, 0, tzinfo=utc), "Thanks"),
        (4.0, dt.datetime(2026, 2, 20, 8, 0, tzinfo=utc), None),
        (2.5, dt.datetime(2026, 3, 1, 8, 0, tzinfo=utc), "Sorry to hear"),
    ])
    await _reviews_at(db, await factories.make_doctor(db), [(1.0, dt.datetime(2026, 2, 11, tzinfo=utc), None)])
    h = tok("doctor", doctor["id"])

    async def listed(query=""):
        resp = await api.get(f"{API}/doctors/me/reviews{query}", headers=h)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    everything = await listed()
    assert (everything["total"], everything["limit"], [i["id"] for i in everything["items"]]) == (4, 10, ids[::-1])
    first = everything["items"][-1]
    assert (first["star"], first["has_reply"], first["connect_session_id"] is not None) == (5, False, True)
    assert [i["id"] for i in (await listed("?rating=4"))["items"]] == [ids[2], ids[1]]  # 4.5 counts as 4 stars
    assert [i["id"] for i in (await listed("?has_reply=true"))["items"]] == [ids[3], ids[1]]
    assert [i["id"] for i in (await listed("?has_reply=false&sort_by=rating_desc"))["items"]] == [ids[0], ids[2]]
    assert [i["id"] for i in (await listed("?sort_by=rating_asc"))["items"]] == [ids[3], ids[2], ids[1], ids[0]]
    assert [i["id"] for i in (await listed("?sort_by=date_asc"))["items"]] == ids
    feb = await listed("?date_from=2026-02-01&date_to=2026-02-28&timezone=Asia/Kolkata")
    assert [i["id"] for i in feb["items"]] == [ids[2], ids[1], ids[0]]
    assert (await listed("?date_from=2026-02-01&date_to=2026-02-28"))["total"] == 2  # UTC days
    assert (await listed("?date_from=2026-02-10T08:00:00Z&date_to=2026-02-20T08:00:00Z"))["total"] == 2
    paged = await listed("?limit=3&offset=3")
    assert (paged["total"], paged["has_more"], [i["id"] for i in paged["items"]]) == (4, False, [ids[0]])
    for query, loc in (("?rating=6", ["query", "rating"]), ("?sort_by=best", ["query", "sort_by"]),
                       ("?date_from=yesterday", ["query", "date_from"]), ("?limit=101", ["query", "limit"]),
                       ("?date_from=2026-03-01&date_to=2026-02-01", ["query", "date_from"])):
        resp = await api.get(f"{API}/doctors/me/reviews{query}", headers=h)
        assert resp.status == 422 and error(await resp.json()) == ("VALIDATION_ERROR", loc), query


async def test_reply_create_update_delete(api, db, tok, clock):
    patient, doctor, session = await parties(db)
    review = await (await _review(api, tok, patient, session)).json()
    path = f"{API}/doctors/me/reviews/{review['id']}/reply"
    h = tok("doctor", doctor["id"])
    assert (await api.put(path, json={"text": "x"}, headers=h)).status == 404
    resp = await api.post(path, json={"text": "  Thank you for your feedback!  "}, headers=h)
    body = await resp.json()
    assert resp.status == 201 and (body["reply_text"], body["has_reply"]) == ("Thank you for your feedback!", True)
    again = await api.post(path, json={"text": "Again"}, headers=h)
    assert again.status == 409 and (await again.json())["code"] == "REPLY_EXISTS"
    clock.advance(3600)
    resp = await api.put(path, json={"text": "Updated reply text here."}, headers=h)
    body = await resp.json()
    assert resp.status == 200 and body["reply_text"] == "Updated reply text here."
    assert (body["replied_at"], body["reply_updated_at"]) == ("2026-03-14T20:00:00Z", "2026-03-14T21:00:00Z")
    replies = await pushes(db, "review.reply")
    assert [(p["recipient_role"], p["recipient_id"]) for p in replies] == [("client", patient["id"])] * 2
    resp = await api.delete(path, headers=h)
    assert resp.status == 204 and await resp.read() == b""
    [row] = await rows(db, reviews)
    assert (row["reply_text"], row["replied_at"]) == (None, None)
    gone = await api.delete(path, headers=h)
    assert gone.status == 404 and (await gone.json())["code"] == "REPLY_NOT_FOUND"
    for text in ("", "   ", "x" * 1001):
        resp = await api.post(path, json={"text": text}, headers=h)
        assert resp.status == 422 and error(await resp.json()) == ("VALIDATION_ERROR", ["body", "text"])
    assert (await api.post(path, json={"text": "x" * 1000}, headers=h)).status == 201


async def test_another_doctors_review_is_404_and_replies_race(api, db, tok):
    patient, doctor, session = await parties(db)
    review = await (await _review(api, tok, patient, session)).json()
    path = f"{API}/doctors/me/reviews/{review['id']}/reply"
    other = tok("doctor", (await factories.make_doctor(db))["id"])
    for method in ("post", "put", "delete"):
        resp = await api.request(method.upper(), path, json={"text": "Mine"}, headers=other)
        assert resp.status == 404 and (await resp.json())["code"] == "REVIEW_NOT_FOUND", method
    results = await asyncio.gather(*[api.post(path, json={"text": f"Reply {n}"}, headers=tok("doctor", doctor["id"]))
                                     for n in range(5)])
    assert sorted(r.status for r in results) == [201] + [409] * 4
    assert len(await pushes(db, "review.reply")) == 1


async def _device(api, tok, patient, token):
    resp = await api.post(f"{API}/devices/tokens", json={"token": token, "platform": "android"},
                          headers=tok("client", patient["id"]))
    assert resp.status == 201


async def test_review_reminder_once_a_day(api, db, tok, clock):
    patient, doctor, session = await parties(db)
    path = f"{API}/doctors/me/sessions/{session['id']}/review-reminder"
    h = tok("doctor", doctor["id"])
    resp = await api.post(path, headers=h)
    assert resp.status == 200 and await resp.json() == {"sent": False, "devices": 0, "event": "review.reminder"}
    assert await rows(db, review_reminders) == []  # nothing sent, nothing counted
    await _device(api, tok, patient, "phone-1")
    await _device(api, tok, patient, "tablet-1")
    results = await asyncio.gather(*[api.post(path, headers=h) for _ in range(4)])
    assert sorted(r.status for r in results) == [200, 429, 429, 429]
    [ok] = [await r.json() for r in results if r.status == 200]
    assert ok == {"sent": True, "devices": 2, "event": "review.reminder"}
    [push] = await pushes(db, "review.reminder")
    assert (push["recipient_role"], push["recipient_id"], push["data"]["session_id"]) == (
        "client", patient["id"], str(session["id"]))
    clock.advance(3600)
    resp = await api.post(path, headers=h)
    assert resp.status == 429 and resp.headers["Retry-After"] == str(23 * 3600)
    assert (await resp.json())["code"] == "REVIEW_REMINDER_RATE_LIMITED"
    clock.advance(23 * 3600)
    assert (await api.post(path, headers=h)).status == 200
    assert len(await pushes(db, "review.reminder")) == 2
    [row] = await rows(db, review_reminders)
    assert row["sent_count"] == 2
    # Once reviewed, no more reminders.
    clock.advance(25 * 3600)
    assert (await _review(api, tok, patient, session)).status == 201
    resp = await api.post(path, headers=h)
    assert resp.status == 409 and (await resp.json())["code"] == "REVIEW_EXISTS"


async def test_review_reminder_needs_the_doctors_ended_session(api, db, tok):
    patient, doctor, ongoing = await parties(db, status="ONGOING")
    h = tok("doctor", doctor["id"])
    resp = await api.post(f"{API}/doctors/me/sessions/{ongoing['id']}/review-reminder", headers=h)
    assert resp.status == 409 and (await resp.json())["code"] == "SESSION_NOT_ENDED"
    ended = await ended_session(db, patient, doctor)
    other = tok("doctor", (await factories.make_doctor(db))["id"])
    for session_id in (ended["id"], uuid.uuid4()):
        resp = await api.post(f"{API}/doctors/me/sessions/{session_id}/review-reminder", headers=other)
        assert resp.status == 404 and (await resp.json())["code"] == "SESSION_NOT_FOUND"
