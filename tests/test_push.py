"""The push worker with the REAL firebase-admin client against a local FCM-speaking server."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from domain import push_payloads
from gateway import keys
from gateway.push_worker import backoff_seconds
from storage import driver, events
from storage.tables import device_tokens, notifications
from tests import factories
from tests.fake_fcm import FakeFcm


@pytest.fixture
async def fake_fcm():
    fake = await FakeFcm().start()
    yield fake
    await fake.close()


@pytest.fixture
async def fcm_client(fake_fcm, make_client, frozen_clock, tmp_path):
    return await make_client(clock=frozen_clock, fcm_credentials_file=str(fake_fcm.write_credentials(tmp_path)),
                             fcm_send_url=fake_fcm.send_url)


async def _register(client, auth, role, who_id, token, platform="android"):
    resp = await client.post("/api/v2/devices/tokens", json={"token": token, "platform": platform},
                             headers=auth(role, who_id))
    assert resp.status == 201


async def _notify(db, role, recipient_id, payload=None) -> uuid.UUID:
    payload = payload or push_payloads.message_new(uuid.uuid4(), uuid.uuid4(), sender_role="client",
                                                   sender_name="Rahul", content_type="text")
    async with factories.app_connection(db) as conn:
        await events.push_after_commit(conn, recipient_role=role, recipient_id=recipient_id,
                                       **payload.outbox_fields())
        return await driver.fetchval(conn, "SELECT id FROM notifications ORDER BY created_at DESC LIMIT 1")


async def _row(db, notification_id):
    async with db.connect() as conn:
        return dict((await conn.execute(sa.select(notifications).where(
            notifications.c.id == notification_id))).mappings().one())


async def _token_active(db, token) -> bool:
    async with db.connect() as conn:
        return await conn.scalar(sa.select(device_tokens.c.is_active).where(device_tokens.c.token == token))


async def test_local_mode_logs_instead_of_sending(client, db, auth, caplog):
    caplog.set_level("INFO", logger="gateway.push_worker")  # armed before the row exists
    user = await factories.make_user(db)
    await _register(client, auth, "client", user["id"], "local-token")
    nid = await _notify(db, "client", user["id"])
    await client.server.app[keys.PUSH].settle()  # whichever of it and the background loop takes the row
    row = await _row(db, nid)
    assert row["status"] == "LOGGED" and row["devices"] == 1 and row["sent_at"] is not None
    assert row["attempts"] == 1
    [logged] = [r.getMessage() for r in caplog.records if r.name == "gateway.push_worker"]
    assert logged == f"push (local mode, not sent) type=message.new recipient=client:{user['id']} devices=1"
    assert "local-token" not in logged and "Rahul" not in logged


async def test_sends_to_every_active_token_with_string_data(fcm_client, fake_fcm, db, auth):
    doctor = await factories.make_doctor(db)
    for token in ("doc-phone", "doc-tablet"):
        await _register(fcm_client, auth, "doctor", doctor["id"], token, platform="ios")
    await _register(fcm_client, auth, "doctor", doctor["id"], "old-phone")
    await fcm_client.request("DELETE", "/api/v2/devices/tokens", json={"token": "old-phone"},
                             headers=auth("doctor", doctor["id"]))
    session_id = uuid.uuid4()
    nid = await _notify(db, "doctor", doctor["id"], push_payloads.session_requested(session_id, "Rahul"))
    # Sent by this call or by the background loop before it (settle waits for a pass in progress);
    # either way exactly once, which the row's attempts and the fake's log below show.
    await fcm_client.server.app[keys.PUSH].settle()
    row = await _row(db, nid)
    assert row["status"] == "SENT" and row["devices"] == 2 and row["attempts"] == 1
    assert sorted(m["token"] for m in fake_fcm.received) == ["doc-phone", "doc-tablet"]
    message = fake_fcm.delivered_to("doc-phone")[0]
    assert message["notification"] == {"title": "New consultation request", "body": "Rahul wants to consult you now"}
    assert message["data"]["type"] == "session.requested"
    assert message["data"]["session_id"] == str(session_id)
    assert message["data"]["notification_id"] == str(nid)
    assert message["android"]["priority"] == "high"
    assert fake_fcm.attempts["old-phone"] == 0
    assert fake_fcm.token_requests == 1  # the SDK's signed-JWT grant against our token endpoint


async def test_unregistered_token_is_deactivated(fcm_client, fake_fcm, db, auth):
    user = await factories.make_user(db)
    await _register(fcm_client, auth, "client", user["id"], "live-token")
    await _register(fcm_client, auth, "client", user["id"], "dead-token")
    fake_fcm.unregister("dead-token")
    nid = await _notify(db, "client", user["id"])
    await fcm_client.server.app[keys.PUSH].settle()
    row = await _row(db, nid)
    assert row["status"] == "SENT" and row["devices"] == 1
    assert await _token_active(db, "live-token") is True
    assert await _token_active(db, "dead-token") is False
    # The next push skips the dead token entirely.
    await _notify(db, "client", user["id"])
    await fcm_client.server.app[keys.PUSH].settle()
    assert fake_fcm.attempts["dead-token"] == 1 and fake_fcm.attempts["live-token"] == 2


async def test_only_unregistered_tokens_means_no_devices(fcm_client, fake_fcm, db, auth):
    user = await factories.make_user(db)
    await _register(fcm_client, auth, "client", user["id"], "gone")
    fake_fcm.unregister("gone")
    nid = await _notify(db, "client", user["id"])
    await fcm_client.server.app[keys.PUSH].settle()
    row = await _row(db, nid)
    assert row["status"] == "NO_DEVICES"
    assert row["last_error"] == "NOT_FOUND: Requested entity was not found."
    assert await _token_active(db, "gone") is False


async def test_recipient_without_devices(fcm_client, fake_fcm, db):
    user = await factories.make_user(db)
    nid = await _notify(db, "client", user["id"])
    await fcm_client.server.app[keys.PUSH].settle()
    assert (await _row(db, nid))["status"] == "NO_DEVICES"
    assert fake_fcm.received == []


async def test_retryable_5xx_is_retried_after_backoff_then_sent(fcm_client, fake_fcm, db, auth, frozen_clock):
    user = await factories.make_user(db)
    await _register(fcm_client, auth, "client", user["id"], "flaky")
    fake_fcm.script("flaky", 503)
    worker = fcm_client.server.app[keys.PUSH]
    nid = await _notify(db, "client", user["id"])
    await worker.settle()
    row = await _row(db, nid)
    assert row["status"] == "PENDING" and row["attempts"] == 1 and "UNAVAILABLE" in row["last_error"]
    assert row["next_attempt_at"] == frozen_clock.now() + dt.timedelta(seconds=worker.base_delay)
    assert fake_fcm.attempts["flaky"] == 1  # the SDK's own retries are off: one HTTP call per attempt
    assert await worker.settle() == 0  # not due yet
    frozen_clock.advance(worker.base_delay)
    assert await worker.settle() == 1
    row = await _row(db, nid)
    assert row["status"] == "SENT" and row["attempts"] == 2 and row["devices"] == 1
    assert fake_fcm.attempts["flaky"] == 2 and len(fake_fcm.delivered_to("flaky")) == 1


async def test_gives_up_after_max_attempts(fcm_client, fake_fcm, db, auth, frozen_clock):
    user = await factories.make_user(db)
    await _register(fcm_client, auth, "client", user["id"], "down")
    fake_fcm.script("down", 500, 503, 500)
    worker = fcm_client.server.app[keys.PUSH]
    worker.max_attempts = 3
    nid = await _notify(db, "client", user["id"])
    for _ in range(3):
        await worker.settle()
        frozen_clock.advance(worker.max_delay)
    row = await _row(db, nid)
    assert row["status"] == "FAILED" and row["attempts"] == 3
    assert fake_fcm.received == [] and fake_fcm.attempts["down"] == 3


def test_backoff_doubles_and_is_capped():
    assert [backoff_seconds(n, 5, 60) for n in (1, 2, 3, 4, 5, 6)] == [5, 10, 20, 40, 60, 60]


async def test_two_workers_send_each_row_once(fake_fcm, make_client, db, auth, frozen_clock, tmp_path):
    creds = str(fake_fcm.write_credentials(tmp_path))
    first = await make_client(clock=frozen_clock, fcm_credentials_file=creds, fcm_send_url=fake_fcm.send_url)
    second = await make_client(clock=frozen_clock, fcm_credentials_file=creds, fcm_send_url=fake_fcm.send_url)
    users = [await factories.make_user(db) for _ in range(20)]
    for n, user in enumerate(users):
        await _register(first, auth, "client", user["id"], f"device-{n}")
    ids = [await _notify(db, "client", user["id"]) for user in users for _ in range(3)]
    workers = [c.server.app[keys.PUSH] for c in (first, second)]
    for w in workers:
        w.batch_size = 7
    await asyncio.gather(*(w.settle() for w in workers), *(w.settle() for w in workers))
    statuses = [(await _row(db, nid))["status"] for nid in ids]
    assert statuses == ["SENT"] * 60
    assert len(fake_fcm.received) == 60
    assert len({m["data"]["notification_id"] for m in fake_fcm.received}) == 60


def test_fcm_data_is_flat_strings_with_type_and_id():
    nid = uuid.uuid4()
    data = push_payloads.fcm_data("review.reply", {
        "review_id": uuid.uuid4(), "rating": 4.5, "count": 3, "urgent": True, "missing": None,
        "tags": ["a", "b"], "type": "spoofed"}, nid)
    assert all(isinstance(v, str) for v in data.values())
    assert data["type"] == "review.reply" and data["notification_id"] == str(nid)
    assert data["rating"] == "4.5" and data["count"] == "3" and data["urgent"] == "true"
    assert data["tags"] == '["a","b"]' and "missing" not in data


def test_payloads_route_the_tap_and_keep_health_details_out():
    session_id, message_id = uuid.uuid4(), uuid.uuid4()
    push = push_payloads.message_new(session_id, message_id, sender_role="doctor", sender_name=None,
                                     content_type="image")
    assert (push.title, push.body) == ("Your doctor", "Your doctor sent you a photo")
    assert push.data == {"type": "message.new", "session_id": str(session_id), "message_id": str(message_id),
                         "sender_role": "doctor", "content_type": "image"}
    video = push_payloads.video_permission(session_id, state="ALLOWED_BY_DOCTOR", consent_round=2,
                                           actor_role="doctor", doctor_name="Dr. Asha")
    assert video.body == "Dr. Asha invited you to turn on your video"
    assert video.data["consent_round"] == "2" and video.data["patient_video_enabled"] == "false"
    ended = push_payloads.session_ended(session_id, recipient_role="client", minutes=3, charged_paise=1500)
    assert ended.body == "Duration 3 min, charged ₹15.00" and ended.data["status"] == "ENDED"
