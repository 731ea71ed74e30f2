"""Follow-ups over HTTP: scheduling, reading, the patient's response, the doctor's answer to a
proposal, cancelling; the pushes to the other party; strangers (404); races between actions; time
zones. The clock is frozen at 2026-03-14 20:00 UTC (already the 15th in Kolkata)."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import sqlalchemy as sa

from storage.tables import followups
from tests import factories
from tests.post_session import API, START, api, clock, ended_session, error, parties, pushes, rows, tok  # noqa: F401

SESSIONS = f"{API}/connect/sessions"
FOLLOWUPS = f"{API}/followups"


async def _schedule(api, tok, doctor, session, **body):
    body = {"scheduled_date": "2026-03-20", "scheduled_time": "10:30:00", **body}
    return await api.post(f"{SESSIONS}/{session['id']}/followup", json=body, headers=tok("doctor", doctor["id"]))


async def _scheduled(api, tok, doctor, session, **body) -> dict:
    resp = await _schedule(api, tok, doctor, session, **body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _act(api, tok, role, who, followup_id, verb, body=None):
    return await api.post(f"{FOLLOWUPS}/{followup_id}/{verb}", json=body or {}, headers=tok(role, who["id"]))


async def test_the_doctor_schedules_and_the_patient_is_pushed(api, db, tok):
    patient, doctor, session = await parties(db)
    created = await _scheduled(api, tok, doctor, session)
    assert created["status"] == "PENDING_PATIENT" and created["parent_session_id"] == str(session["id"])
    assert (created["scheduled_date"], created["scheduled_time"], created["scheduled_timezone"]) == (
        "2026-03-20", "10:30:00", "Asia/Kolkata")
    assert created["scheduled_at"] == "2026-03-20T05:00:00Z"  # 10:30 in Kolkata
    assert created["doctor"]["full_name"] == "Dr. Ankit Shah" and created["patient"]["name"] == "Priya Verma"
    assert created["doctor_id"] == str(doctor["id"]) and created["patient_id"] == str(patient["id"])
    [row] = await rows(db, followups)
    assert row["past_at"] == dt.datetime(2026, 3, 20, 5, 0, tzinfo=dt.timezone.utc)
    assert row["remind_at"] == dt.datetime(2026, 3, 20, 4, 0, tzinfo=dt.timezone.utc)
    [push] = await pushes(db)
    assert (push["event_type"], push["recipient_role"], push["recipient_id"]) == (
        "followup.scheduled", "client", patient["id"])
    assert push["data"]["followup_id"] == created["id"] and push["data"]["scheduled_date"] == "2026-03-20"
    assert "20 Mar 2026 at 10:30" in push["body"]
    for role, who in (("client", patient), ("doctor", doctor)):
        for path in (f"{SESSIONS}/{session['id']}/followup", f"{FOLLOWUPS}/{created['id']}"):
            resp = await api.get(path, headers=tok(role, who["id"]))
            assert resp.status == 200 and await resp.json() == created


async def test_post_followups_takes_the_session_in_the_body_and_defaults_to_kolkata(api, db, tok):
    patient, doctor, session = await parties(db, status="ONGOING")
    for path in (FOLLOWUPS, FOLLOWUPS + "/"):
        resp = await api.post(path, json={"parent_session_id": str(session["id"]), "scheduled_date": "2026-03-15"},
                              headers=tok("doctor", doctor["id"]))
        if path == FOLLOWUPS:
            assert resp.status == 201, await resp.text()
            body = await resp.json()
            assert body["scheduled_timezone"] == "Asia/Kolkata" and body["scheduled_time"] is None
            assert body["scheduled_at"] is None
        else:  # the session has its open follow-up now
            assert resp.status == 409 and (await resp.json())["code"] == "FOLLOWUP_EXISTS"
    [row] = await rows(db, followups)
    assert row["remind_at"] == dt.datetime(2026, 3, 15, 3, 30, tzinfo=dt.timezone.utc)  # 09:00 in Kolkata
    assert row["past_at"] == dt.datetime(2026, 3, 15, 18, 30, tzinfo=dt.timezone.utc)


async def test_today_in_kolkata_while_utc_is_still_yesterday(api, db, tok):
    assert START.date() == dt.date(2026, 3, 14)
    patient, doctor, session = await parties(db)
    resp = await _schedule(api, tok, doctor, session, scheduled_date="2026-03-14", scheduled_time=None)
    assert resp.status == 422 and error(await resp.json()) == ("VALIDATION_ERROR", ["body", "scheduled_date"])
    # The same date is today in UTC.
    utc = await _scheduled(api, tok, doctor, session, scheduled_date="2026-03-14", scheduled_time=None,
                           scheduled_timezone="UTC")
    assert utc["scheduled_timezone"] == "UTC"
    await _act(api, tok, "doctor", doctor, utc["id"], "cancel")
    # Today in Kolkata (01:30 there): accepted.
    today = await _scheduled(api, tok, doctor, session, scheduled_date="2026-03-15", scheduled_time=None)
    assert today["scheduled_date"] == "2026-03-15"


@pytest.mark.parametrize(("body", "loc"), [
    ({"scheduled_date": "2026-03-13"}, ["body", "scheduled_date"]),
    ({"scheduled_date": "2026-03-15", "scheduled_time": "01:00:00"}, ["body", "scheduled_time"]),  # gone at 01:30
    ({"scheduled_date": "2026-03-20", "scheduled_timezone": "Mars/Olympus"}, ["body", "scheduled_timezone"]),
    ({"scheduled_date": "2026-02-30"}, ["body", "scheduled_date"]),
    ({"scheduled_date": "2026-03-20", "scheduled_time": "25:00"}, ["body", "scheduled_time"]),
    ({"scheduled_time": "10:00:00"}, ["body", "scheduled_date"]),
])
async def test_invalid_schedules_are_422(api, db, tok, body, loc):
    _, doctor, session = await parties(db)
    resp = await api.post(f"{SESSIONS}/{session['id']}/followup", json={"scheduled_time": None, **body},
                          headers=tok("doctor", doctor["id"]))
    assert resp.status == 422 and error(await resp.json()) == ("VALIDATION_ERROR", loc)
    assert await rows(db, followups) == [] and await pushes(db) == []


@pytest.mark.parametrize("status", ["REQUESTED", "CANCELLED", "REJECTED", "EXPIRED"])
async def test_only_an_ongoing_or_ended_session_gets_a_follow_up(api, db, tok, status):
    patient, doctor, session = await parties(db, status=status)
    resp = await _schedule(api, tok, doctor, session)
    assert resp.status == 409 and (await resp.json())["code"] == "INVALID_SESSION_STATE"


async def test_strangers_get_404_on_every_id(api, db, tok):
    patient, doctor, session = await parties(db)
    created = await _scheduled(api, tok, doctor, session)
    other_patient = await factories.make_user(db)
    other_doctor = await factories.make_doctor(db)
    assert (await _schedule(api, tok, other_doctor, session)).status == 404
    resp = await api.post(FOLLOWUPS, json={"parent_session_id": str(session["id"]), "scheduled_date": "2026-03-20"},
                          headers=tok("doctor", other_doctor["id"]))
    assert resp.status == 404
    for role, who in (("client", other_patient), ("doctor", other_doctor)):
        h = tok(role, who["id"])
        assert (await api.get(f"{FOLLOWUPS}/{created['id']}", headers=h)).status == 404
        assert (await api.get(f"{SESSIONS}/{session['id']}/followup", headers=h)).status == 404
        assert (await _act(api, tok, role, who, created["id"], "cancel")).status == 404
        listed = await (await api.get(FOLLOWUPS, headers=h)).json()
        assert listed["total"] == 0 and listed["items"] == []
    assert (await _act(api, tok, "client", other_patient, created["id"], "respond", {"action": "accept"})).status == 404
    resp = await _act(api, tok, "doctor", other_doctor, created["id"], "reschedule-response", {"accept": True})
    assert resp.status == 404 and (await resp.json())["code"] == "FOLLOWUP_NOT_FOUND"
    [row] = await rows(db, followups)
    assert row["status"] == "PENDING_PATIENT" and row["version"] == 1


async def test_one_open_follow_up_per_session_even_under_concurrency(api, db, tok):
    _, doctor, session = await parties(db)
    results = await asyncio.gather(*[_schedule(api, tok, doctor, session, scheduled_date=f"2026-03-{20 + i}")
                                     for i in range(6)])
    assert sorted(r.status for r in results) == [201] + [409] * 5
    assert len(await rows(db, followups)) == 1 and len(await pushes(db, "followup.scheduled")) == 1
    [first] = [await r.json() for r in results if r.status == 201]
    # A closed one no longer counts; the session's follow-up is then the open one.
    assert (await _act(api, tok, "doctor", doctor, first["id"], "cancel", {"reason": "Wrong date"})).status == 200
    second = await _scheduled(api, tok, doctor, session, scheduled_date="2026-04-01")
    shown = await (await api.get(f"{SESSIONS}/{session['id']}/followup", headers=tok("doctor", doctor["id"]))).json()
    assert shown["id"] == second["id"]


async def test_accept_then_cancel_pushes_the_other_party(api, db, tok):
    patient, doctor, session = await parties(db)
    created = await _scheduled(api, tok, doctor, session)
    resp = await _act(api, tok, "client", patient, created["id"], "respond", {"action": "accept"})
    assert resp.status == 200 and (await resp.json())["status"] == "ACCEPTED"
    [accepted] = await pushes(db, "followup.accepted")
    assert (accepted["recipient_role"], accepted["recipient_id"]) == ("doctor", doctor["id"])
    assert accepted["data"]["status"] == "ACCEPTED"
    resp = await _act(api, tok, "doctor", doctor, created["id"], "cancel", {"reason": "Away that week"})
    body = await resp.json()
    assert resp.status == 200 and (body["status"], body["cancelled_by"], body["cancel_reason"]) == (
        "CANCELLED", "doctor", "Away that week")
    [cancelled] = await pushes(db, "followup.cancelled")
    assert (cancelled["recipient_role"], cancelled["recipient_id"]) == ("client", patient["id"])
    again = await _act(api, tok, "client", patient, created["id"], "cancel")
    assert again.status == 409 and (await again.json())["code"] == "INVALID_TRANSITION"


async def test_reject_is_final(api, db, tok):
    patient, doctor, session = await parties(db)
    created = await _scheduled(api, tok, doctor, session)
    resp = await _act(api, tok, "client", patient, created["id"], "respond", {"action": "reject"})
    assert resp.status == 200 and (await resp.json())["status"] == "REJECTED"
    assert [(p["recipient_role"], p["recipient_id"]) for p in await pushes(db, "followup.rejected")] == [
        ("doctor", doctor["id"])]
    for role, who, verb, body in (("client", patient, "respond", {"action": "accept"}),
                                  ("client", patient, "cancel", {}), ("doctor", doctor, "cancel", {}),
                                  ("doctor", doctor, "reschedule-response", {"accept": True})):
        resp = await _act(api, tok, role, who, created["id"], verb, body)
        assert resp.status == 409 and (await resp.json())["code"] == "INVALID_TRANSITION", (role, verb)


async def test_reschedule_accepted_moves_the_date_to_the_proposal(api, db, tok):
    patient, doctor, session = await parties(db)
    created = await _scheduled(api, tok, doctor, session)
    resp = await _act(api, tok, "client", patient, created["id"], "respond",
                      {"action": "reschedule", "proposed_date": "2026-03-22", "proposed_time": "15:00:00"})
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "RESCHEDULE_REQUESTED"
    assert (body["proposed_date"], body["proposed_time"], body["scheduled_date"]) == (
        "2026-03-22", "15:00:00", "2026-03-20")
    [asked] = await pushes(db, "followup.reschedule_requested")
    assert (asked["recipient_role"], asked["recipient_id"]) == ("doctor", doctor["id"])
    assert "22 Mar 2026 at 15:00" in asked["body"]
    # RESCHEDULE_REQUESTED → CANCELLED is not a transition of the contract.
    assert (await _act(api, tok, "client", patient, created["id"], "cancel")).status == 409
    resp = await _act(api, tok, "doctor", doctor, created["id"], "reschedule-response", {"accept": True})
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "ACCEPTED"
    assert (body["scheduled_date"], body["scheduled_time"], body["proposed_date"]) == ("2026-03-22", "15:00:00", None)
    [row] = await rows(db, followups)
    assert row["past_at"] == dt.datetime(2026, 3, 22, 9, 30, tzinfo=dt.timezone.utc)
    assert row["remind_at"] == dt.datetime(2026, 3, 22, 8, 30, tzinfo=dt.timezone.utc)
    [moved] = await pushes(db, "followup.rescheduled")
    assert (moved["recipient_role"], moved["recipient_id"]) == ("client", patient["id"])


async def test_reschedule_declined_goes_back_to_the_patient(api, db, tok):
    patient, doctor, session = await parties(db)
    created = await _scheduled(api, tok, doctor, session)
    await _act(api, tok, "client", patient, created["id"], "respond",
               {"action": "reschedule", "proposed_date": "2026-03-25"})
    resp = await _act(api, tok, "doctor", doctor, created["id"], "reschedule-response", {"accept": False})
    body = await resp.json()
    assert resp.status == 200 and (body["status"], body["scheduled_date"], body["proposed_date"]) == (
        "PENDING_PATIENT", "2026-03-20", None)
    assert [p["recipient_id"] for p in await pushes(db, "followup.reschedule_declined")] == [patient["id"]]
    resp = await _act(api, tok, "client", patient, created["id"], "respond", {"action": "accept"})
    assert (await resp.json())["scheduled_date"] == "2026-03-20"


@pytest.mark.parametrize(("body", "loc"), [
    ({"action": "reschedule"}, ["body", "proposed_date"]),
    ({"action": "reschedule", "proposed_date": "2026-03-14"}, ["body", "proposed_date"]),  # yesterday in Kolkata
    ({"action": "maybe"}, ["body", "action"]),
    ({}, ["body", "action"]),
])
async def test_bad_responses_are_422(api, db, tok, body, loc):
    patient, doctor, session = await parties(db)
    created = await _scheduled(api, tok, doctor, session)
    resp = await _act(api, tok, "client", patient, created["id"], "respond", body)
    assert resp.status == 422 and error(await resp.json()) == ("VALIDATION_ERROR", loc)
    assert (await rows(db, followups))[0]["status"] == "PENDING_PATIENT"


async def test_wrong_roles_and_wrong_states(api, db, tok):
    patient, doctor, session = await parties(db)
    created = await _scheduled(api, tok, doctor, session)
    assert (await _act(api, tok, "doctor", doctor, created["id"], "respond", {"action": "accept"})).status == 403
    assert (await _act(api, tok, "client", patient, created["id"], "reschedule-response", {"accept": True})).status == 403
    resp = await _act(api, tok, "doctor", doctor, created["id"], "reschedule-response", {"accept": True})
    assert resp.status == 409 and (await resp.json())["code"] == "INVALID_TRANSITION"
    await _act(api, tok, "client", patient, created["id"], "respond", {"action": "accept"})
    resp = await _act(api, tok, "client", patient, created["id"], "respond", {"action": "reschedule",
                                                                              "proposed_date": "2026-03-28"})
    assert resp.status == 409


async def test_racing_actions_one_wins(api, db, tok):
    patient, doctor, session = await parties(db)
    for n in range(8):
        created = await _scheduled(api, tok, doctor, session, scheduled_date=f"2026-04-{n + 1:02d}")
        accept = _act(api, tok, "client", patient, created["id"], "respond", {"action": "accept"})
        cancel = _act(api, tok, "doctor", doctor, created["id"], "cancel")
        first, second = await asyncio.gather(accept, cancel)
        statuses = sorted((first.status, second.status))
        final = (await rows(db, followups, followups.c.id == created["id"]))[0]
        if statuses == [200, 409]:
            winner = "ACCEPTED" if first.status == 200 else "CANCELLED"
            assert final["status"] == winner and final["version"] == 2
        else:  # accepted first, then cancelled: ACCEPTED → CANCELLED is a transition too
            assert statuses == [200, 200] and final["status"] == "CANCELLED" and final["version"] == 3
        if final["status"] != "CANCELLED":
            await _act(api, tok, "doctor", doctor, created["id"], "cancel")
    # Five identical actions at once: one wins.
    created = await _scheduled(api, tok, doctor, session, scheduled_date="2026-05-01")
    results = await asyncio.gather(*[_act(api, tok, "client", patient, created["id"], "respond", {"action": "accept"})
                                     for _ in range(5)])
    assert sorted(r.status for r in results) == [200] + [409] * 4
    assert len([p for p in await pushes(db, "followup.accepted") if p["data"]["followup_id"] == created["id"]]) == 1


async def _waiting_on_locks(db, count: int) -> None:
    """Until `count` other backends of the test database wait for a lock."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        async with db.connect() as conn:
            waiting = await conn.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"))
        if waiting >= count:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{waiting} waiting"
        await asyncio.sleep(0.01)


async def test_two_actions_that_read_the_same_state_cannot_both_win(api, db, tok):
    """Both requests read PENDING_PATIENT and reach their UPDATE while the test holds the row; once it
    lets go, the first writes and the second finds the version changed."""
    patient, doctor, session = await parties(db)
    created = await _scheduled(api, tok, doctor, session)
    async with db.connect() as holder:
        await holder.execute(sa.text("SELECT 1 FROM followups WHERE id = :id FOR UPDATE"), {"id": created["id"]})
        accept = asyncio.ensure_future(_act(api, tok, "client", patient, created["id"], "respond", {"action": "accept"}))
        cancel = asyncio.ensure_future(_act(api, tok, "doctor", doctor, created["id"], "cancel"))
        await _waiting_on_locks(db, 2)
        await holder.rollback()
    results = [await accept, await cancel]
    assert sorted(r.status for r in results) == [200, 409]
    [loser] = [r for r in results if r.status == 409]
    assert (await loser.json())["code"] == "INVALID_TRANSITION"
    [row] = await rows(db, followups)
    assert row["version"] == 2 and row["status"] == ("ACCEPTED" if results[0].status == 200 else "CANCELLED")
    assert len(await pushes(db)) == 2  # scheduled + the winner's


async def test_list_filters_and_pages(api, db, tok, clock):
    patient, doctor, _ = await parties(db)
    ids = {}
    for day in ("2026-03-15", "2026-03-18", "2026-04-02"):
        session = await ended_session(db, patient, doctor)
        ids[day] = (await _scheduled(api, tok, doctor, session, scheduled_date=day, scheduled_time=None))["id"]
    await _act(api, tok, "client", patient, ids["2026-03-18"], "respond", {"action": "accept"})
    other = await factories.make_user(db)
    await _scheduled(api, tok, doctor, await ended_session(db, other, doctor))
    clock.advance(2 * 86_400)  # 2026-03-16 20:00 UTC: the 15th is past in Kolkata
    p, d = tok("client", patient["id"]), tok("doctor", doctor["id"])

    async def listed(headers, query=""):
        resp = await api.get(f"{FOLLOWUPS}{query}", headers=headers)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    everything = await listed(p)
    assert everything["total"] == 3 and [i["id"] for i in everything["items"]] == [
        ids["2026-04-02"], ids["2026-03-18"], ids["2026-03-15"]]
    assert (await listed(d))["total"] == 4
    upcoming = await listed(p, "?upcoming=true")
    assert [i["id"] for i in upcoming["items"]] == [ids["2026-03-18"], ids["2026-04-02"]]  # soonest first
    assert [i["id"] for i in (await listed(p, "?past=true"))["items"]] == [ids["2026-03-15"]]
    assert [i["id"] for i in (await listed(p, "?status=ACCEPTED"))["items"]] == [ids["2026-03-18"]]
    assert (await listed(p, "?status=PENDING_PATIENT&upcoming=true"))["total"] == 1
    paged = await listed(p, "?limit=2&offset=0")
    assert (paged["total"], paged["limit"], paged["offset"], paged["has_more"], len(paged["items"])) == (3, 2, 0, True, 2)
    last = await listed(p, "/?limit=2&offset=2")
    assert (last["has_more"], [i["id"] for i in last["items"]]) == (False, [ids["2026-03-15"]])
    for query, loc in (("?upcoming=true&past=true", ["query", "past"]), ("?status=DONE", ["query", "status"]),
                       ("?limit=0", ["query", "limit"])):
        resp = await api.get(f"{FOLLOWUPS}{query}", headers=p)
        assert resp.status == 422 and error(await resp.json()) == ("VALIDATION_ERROR", loc)


async def test_a_session_without_a_follow_up(api, db, tok):
    patient, doctor, session = await parties(db)
    resp = await api.get(f"{SESSIONS}/{session['id']}/followup", headers=tok("client", patient["id"]))
    assert resp.status == 404 and (await resp.json())["code"] == "FOLLOWUP_NOT_FOUND"
