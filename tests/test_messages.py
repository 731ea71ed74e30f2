"""POST/GET /connect/sessions/{id}/messages and the delivered/read receipts."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from storage.tables import event_outbox, messages, notifications
from tests import factories


@pytest.fixture
async def app_client(make_client, frozen_clock):
    return await make_client(clock=frozen_clock)


@pytest.fixture
async def pair(db):
    return await factories.make_participants(db)


def url(session, suffix=""):
    return f"/api/v2/connect/sessions/{session['id']}/messages{suffix}"


def text(body="Hello doctor", cid=None):
    return {"client_message_id": str(cid or uuid.uuid4()), "content_type": "text", "content": body}


async def _events(db, event_type=None):
    async with db.connect() as conn:
        q = sa.select(event_outbox).order_by(event_outbox.c.id)
        if event_type:
            q = q.where(event_outbox.c.event_type == event_type)
        return [dict(r) for r in (await conn.execute(q)).mappings()]


async def _count(db, table, *where):
    async with db.connect() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where))


async def test_send_text_stores_publishes_and_pushes(app_client, db, auth, pair, frozen_clock):
    patient, doctor, session = pair
    cid = uuid.uuid4()
    resp = await app_client.post(url(session), json=text("I have a question.", cid), headers=auth("client", patient["id"]))
    assert resp.status == 201
    body = await resp.json()
    assert body["session_id"] == str(session["id"]) and body["sender_id"] == str(patient["id"])
    assert body["sender_role"] == "patient" and body["client_message_id"] == str(cid)
    assert body["content_type"] == "text" and body["content"] == "I have a question."
    assert body["created_at"] == frozen_clock.now().isoformat().replace("+00:00", "Z")
    assert body["delivered_at"] is None and body["read_at"] is None
    [event] = await _events(db, "message.new")
    assert event["channel"] == f"session:{session['id']}" and event["data"]["id"] == body["id"]
    async with db.connect() as conn:
        push = (await conn.execute(sa.select(notifications))).mappings().one()
    assert push["recipient_role"] == "doctor" and push["recipient_id"] == doctor["id"]
    assert push["event_type"] == "message.new" and push["title"] == "Rahul Sharma"
    assert "question" not in push["body"]  # no health details in pushes
    assert push["data"]["message_id"] == body["id"] and push["data"]["session_id"] == str(session["id"])


async def test_retry_returns_original_and_conflicting_reuse_is_409(app_client, db, auth, pair):
    patient, doctor, session = pair
    cid = uuid.uuid4()
    first = await app_client.post(url(session), json=text("Hello", cid), headers=auth("client", patient["id"]))
    again = await app_client.post(url(session), json=text("Hello", cid), headers=auth("client", patient["id"]))
    assert first.status == 201 and again.status == 200
    assert (await again.json())["id"] == (await first.json())["id"]
    other = await app_client.post(url(session), json=text("Something else", cid), headers=auth("client", patient["id"]))
    assert other.status == 409 and (await other.json())["code"] == "IDEMPOTENCY_CONFLICT"
    # The id is scoped per sender: the doctor may use the same one.
    mine = await app_client.post(url(session), json=text("Hello", cid), headers=auth("doctor", doctor["id"]))
    assert mine.status == 201
    assert await _count(db, messages) == 2
    assert len(await _events(db, "message.new")) == 2
    assert await _count(db, notifications) == 2


async def test_concurrent_retries_store_one_message(app_client, db, auth, pair):
    patient, _, session = pair
    body = text("Only once", uuid.uuid4())
    responses = await asyncio.gather(*(app_client.post(url(session), json=body, headers=auth("client", patient["id"]))
                                       for _ in range(20)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 19 + [201]
    assert len({(await r.json())["id"] for r in responses}) == 1
    assert await _count(db, messages) == 1
    assert len(await _events(db, "message.new")) == 1


@pytest.mark.parametrize("status", ["REQUESTED", "ENDED", "CANCELLED"])
async def test_sending_needs_an_ongoing_session(app_client, db, auth, status):
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    session = await factories.make_session(db, patient["id"], doctor["id"], status=status)
    resp = await app_client.post(url(session), json=text(), headers=auth("client", patient["id"]))
    assert resp.status == 409 and (await resp.json())["code"] == "SESSION_NOT_ONGOING"
    assert await _count(db, messages) == 0


async def test_retry_after_the_session_ended_still_returns_the_original(app_client, db, auth, pair):
    patient, _, session = pair
    body = text("Sent just before the end")
    first = await app_client.post(url(session), json=body, headers=auth("client", patient["id"]))
    async with db.begin() as conn:
        await conn.execute(sa.text("UPDATE connect_sessions SET status='ENDED', ended_at=now() WHERE id=:id"),
                           {"id": session["id"]})
    again = await app_client.post(url(session), json=body, headers=auth("client", patient["id"]))
    assert again.status == 200 and (await again.json())["id"] == (await first.json())["id"]


async def test_outsiders_get_404_and_admins_403(app_client, db, auth, pair):
    patient, _, session = pair
    stranger = await factories.make_user(db)
    other_doctor = await factories.make_doctor(db)
    admin = await factories.make_admin(db)
    await app_client.post(url(session), json=text(), headers=auth("client", patient["id"]))
    for headers in (auth("client", stranger["id"]), auth("doctor", other_doctor["id"])):
        assert (await app_client.post(url(session), json=text(), headers=headers)).status == 404
        assert (await app_client.get(url(session), headers=headers)).status == 404
        resp = await app_client.post(url(session, "/delivered"), json={"message_ids": [str(uuid.uuid4())]},
                                     headers=headers)
        assert resp.status == 404
    assert (await app_client.get(url(session), headers=auth("admin", admin["id"]))).status == 403
    assert (await app_client.get(url(session))).status == 401
    missing = {"id": uuid.uuid4()}
    assert (await app_client.get(url(missing), headers=auth("client", patient["id"]))).status == 404
    assert (await app_client.get("/api/v2/connect/sessions/not-a-uuid/messages",
                                 headers=auth("client", patient["id"]))).status == 404
    assert await _count(db, messages) == 1


@pytest.mark.parametrize("body, field", [
    ({"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "x" * 4001}, "content"),
    ({"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "   "}, "content"),
    ({"client_message_id": str(uuid.uuid4()), "content_type": "video", "content": "hi"}, "content_type"),
    ({"client_message_id": "not-a-uuid", "content_type": "text", "content": "hi"}, "client_message_id"),
    ({"content_type": "text", "content": "hi"}, "client_message_id"),
    ({"client_message_id": str(uuid.uuid4()), "content_type": "image", "content": "https://x.test/a.png"}, "content"),
    ({"client_message_id": str(uuid.uuid4()), "content_type": "file", "content": str(uuid.uuid4())}, "content"),
])
async def test_invalid_bodies_are_422(app_client, db, auth, pair, body, field):
    patient, _, session = pair
    resp = await app_client.post(url(session), json=body, headers=auth("client", patient["id"]))
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"] == ["body", field]
    assert await _count(db, messages) == 0


async def test_text_at_the_limit_is_accepted(app_client, auth, pair):
    patient, _, session = pair
    resp = await app_client.post(url(session), json=text("x" * 4000), headers=auth("client", patient["id"]))
    assert resp.status == 201


async def _attachment(db, session, owner, content_type, *, status="UPLOADED", deleted=False):
    from storage.tables.files import attachments
    async with db.begin() as conn:
        return await conn.scalar(sa.insert(attachments).values(
            owner_role="client", owner_id=owner["id"], scope_type="SESSION", scope_id=session["id"],
            session_id=session["id"], filename="x", content_type=content_type, size_bytes=10, status=status,
            container="sessions", blob_name=f"s/{uuid.uuid4()}",
            deleted_at=dt.datetime.now(dt.timezone.utc) if deleted else None,
        ).returning(attachments.c.id))


async def test_attachment_messages_need_an_uploaded_file_of_this_session(app_client, db, auth, pair):
    patient, doctor, session = pair
    headers = auth("client", patient["id"])
    photo = await _attachment(db, session, patient, "image/jpeg")
    pdf = await _attachment(db, session, patient, "application/pdf")
    voice = await _attachment(db, session, patient, "audio/mp4")
    pending = await _attachment(db, session, patient, "image/png", status="PENDING")
    deleted = await _attachment(db, session, patient, "image/png", status="DELETED", deleted=True)
    other_session = await factories.make_session(db, (await factories.make_user(db))["id"], doctor["id"])
    foreign = await _attachment(db, other_session, patient, "image/png")

    def msg(kind, att):
        return {"client_message_id": str(uuid.uuid4()), "content_type": kind, "content": str(att)}

    for kind, att in (("image", photo), ("file", pdf), ("audio", voice), ("file", photo)):
        resp = await app_client.post(url(session), json=msg(kind, att), headers=headers)
        assert resp.status == 201, (kind, await resp.text())
        assert (await resp.json())["content"] == str(att)
    for kind, att in (("image", pdf), ("audio", photo), ("image", pending), ("image", deleted), ("image", foreign)):
        resp = await app_client.post(url(session), json=msg(kind, att), headers=headers)
        assert resp.status == 422, (kind, att)
    assert await _count(db, messages) == 4


async def _send_many(client, session, headers, n, clock=None, step=0.0):
    ids = []
    for i in range(n):
        resp = await client.post(url(session), json=text(f"m{i}"), headers=headers)
        assert resp.status == 201
        ids.append((await resp.json())["id"])
        if clock is not None and step:
            clock.advance(step)
    return ids


async def test_cursor_pages_with_identical_timestamps(app_client, auth, pair):
    patient, _, session = pair
    headers = auth("client", patient["id"])
    ids = await _send_many(app_client, session, headers, 7)  # frozen clock: all at one instant

    async def get(**params):
        resp = await app_client.get(url(session), params=params, headers=headers)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    page = await get(limit=3)
    assert [m["id"] for m in page["items"]] == ids[4:7]
    assert page["has_more"] is True and page["total"] == 7 and page["limit"] == 3
    page = await get(limit=3, before=page["before_cursor"])
    assert [m["id"] for m in page["items"]] == ids[1:4] and page["has_more"] is True
    page = await get(limit=3, before=page["before_cursor"])
    assert [m["id"] for m in page["items"]] == ids[:1] and page["has_more"] is False
    forward = await get(limit=4, after=ids[0])
    assert [m["id"] for m in forward["items"]] == ids[1:5] and forward["has_more"] is True
    forward = await get(limit=4, after=forward["after_cursor"])
    assert [m["id"] for m in forward["items"]] == ids[5:] and forward["has_more"] is False
    window = await get(after=ids[1], before=ids[5])
    assert [m["id"] for m in window["items"]] == ids[2:5]
    assert len((await get())["items"]) == 7


async def test_datetime_cursors_as_in_the_reference(app_client, auth, pair, frozen_clock):
    patient, _, session = pair
    headers = auth("client", patient["id"])
    start = frozen_clock.now()
    ids = await _send_many(app_client, session, headers, 5, clock=frozen_clock, step=1.0)
    third = (start + dt.timedelta(seconds=2)).isoformat().replace("+00:00", "Z")
    resp = await app_client.get(url(session), params={"before": third}, headers=headers)
    assert [m["id"] for m in (await resp.json())["items"]] == ids[:2]
    resp = await app_client.get(url(session), params={"after": third}, headers=headers)
    assert [m["id"] for m in (await resp.json())["items"]] == ids[3:]
    ist = (start + dt.timedelta(seconds=2)).astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
    resp = await app_client.get(url(session) + "?after=" + ist.isoformat(), headers=headers)  # "+" unencoded
    assert [m["id"] for m in (await resp.json())["items"]] == ids[3:]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"before": "yesterday"},
                                    {"after": str(uuid.uuid4())}])
async def test_bad_queries_are_422(app_client, auth, pair, params):
    patient, _, session = pair
    resp = await app_client.get(url(session), params=params, headers=auth("client", patient["id"]))
    assert resp.status == 422


async def test_receipts_only_on_the_other_partys_messages(app_client, db, auth, pair, frozen_clock):
    patient, doctor, session = pair
    p_headers, d_headers = auth("client", patient["id"]), auth("doctor", doctor["id"])
    from_patient = await _send_many(app_client, session, p_headers, 3)
    from_doctor = await _send_many(app_client, session, d_headers, 1)

    async def receipt(kind, ids, headers):
        resp = await app_client.post(url(session, f"/{kind}"), json={"message_ids": ids}, headers=headers)
        assert resp.status == 200, await resp.text()
        return (await resp.json())["updated"]

    assert await receipt("read", from_patient[:1], d_headers) == 0  # read needs delivered first
    assert await receipt("delivered", from_patient[:2] + from_doctor, d_headers) == 2  # own message ignored
    assert await receipt("delivered", from_patient[:2], d_headers) == 0  # idempotent
    assert await receipt("delivered", from_patient, p_headers) == 0  # the sender cannot receipt its own
    frozen_clock.advance(3)
    assert await receipt("read", from_patient, d_headers) == 2  # the third was never delivered
    assert await receipt("read", from_patient, d_headers) == 0
    assert await receipt("delivered", [str(uuid.uuid4())], d_headers) == 0
    async with db.connect() as conn:
        rows = {str(r["id"]): r for r in (await conn.execute(sa.select(messages))).mappings()}
    assert rows[from_patient[0]]["read_at"] == rows[from_patient[0]]["delivered_at"] + dt.timedelta(seconds=3)
    assert rows[from_patient[2]]["delivered_at"] is None and rows[from_doctor[0]]["delivered_at"] is None
    delivered = await _events(db, "message.delivered")
    assert len(delivered) == 1
    assert sorted(delivered[0]["data"]["message_ids"]) == sorted(from_patient[:2])
    assert delivered[0]["data"]["by"] == "doctor" and delivered[0]["data"]["delivered_at"]
    [read] = await _events(db, "message.read")
    assert sorted(read["data"]["message_ids"]) == sorted(from_patient[:2]) and read["data"]["read_at"]
    # The sender sees the receipts on GET.
    page = await (await app_client.get(url(session), headers=p_headers)).json()
    first = next(m for m in page["items"] if m["id"] == from_patient[0])
    assert first["delivered_at"] and first["read_at"]


@pytest.mark.parametrize("body", [{"message_ids": []}, {"message_ids": ["msg-uuid-1"]}, {},
                                  {"message_ids": [str(uuid.uuid4()) for _ in range(501)]}])
async def test_receipt_bodies_are_validated(app_client, auth, pair, body):
    _, doctor, session = pair
    resp = await app_client.post(url(session, "/delivered"), json=body, headers=auth("doctor", doctor["id"]))
    assert resp.status == 422
