"""Community pushes through FCM topic messaging, with the REAL firebase-admin client against the local
FCM server (tests/fake_fcm.py): patients' device tokens are subscribed to the community topic by the
push worker (and unsubscribed on logout), and a first publish or a new event is ONE outbox row sent
as ONE topic message, whatever the number of patients."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from domain.community import COMMUNITY_TOPIC
from gateway import keys, push_topics
from storage import push_topics as topic_queue
from storage.tables import device_tokens, notifications
from tests import factories
from tests import test_queue_plans as plans
from tests.audit_rows import audit_rows
from tests.fake_fcm import FakeFcm

ARTICLES = "/api/v2/admin/articles"
EVENTS = "/api/v2/admin/events"
ARTICLE = {"title": "5 Tips for Better Sleep", "excerpt": "Sleep is essential...", "content": "Full article body...",
           "category": "wellness", "author": "Dr. Smith", "image_url": "https://cdn.example.com/sleep.png"}


@pytest.fixture
async def fake_fcm():
    fake = await FakeFcm().start()
    yield fake
    await fake.close()


@pytest.fixture
async def fcm_client(fake_fcm, make_client, frozen_clock, tmp_path):
    return await make_client(clock=frozen_clock, fcm_credentials_file=str(fake_fcm.write_credentials(tmp_path)),
                             fcm_send_url=fake_fcm.send_url)


async def _register(client, auth, role, who_id, token):
    resp = await client.post("/api/v2/devices/tokens", json={"token": token, "platform": "android"},
                             headers=auth(role, who_id))
    assert resp.status == 201


async def _subscribed(db) -> dict[str, bool]:
    async with db.connect() as conn:
        rows = await conn.execute(sa.select(device_tokens.c.token, device_tokens.c.community_subscribed))
        return dict(rows.all())


async def _topic_pushes(db) -> list[dict]:
    async with db.connect() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(notifications).order_by(
            notifications.c.created_at))).mappings().all()]


async def _patients_with_devices(client, db, auth, count: int) -> list[str]:
    tokens = []
    for n in range(count):
        user = await factories.make_user(db)
        tokens.append(f"patient-phone-{n}")
        await _register(client, auth, "client", user["id"], tokens[-1])
    return tokens


async def test_patient_tokens_join_the_topic_and_leave_it_on_logout(fcm_client, fake_fcm, db, auth):
    patient, doctor = await factories.make_user(db), await factories.make_doctor(db)
    await _register(fcm_client, auth, "client", patient["id"], "patient-phone")
    await _register(fcm_client, auth, "doctor", doctor["id"], "doctor-phone")
    await fcm_client.server.app[keys.PUSH].settle()
    assert fake_fcm.subscriptions[COMMUNITY_TOPIC] == {"patient-phone"}  # patients only
    assert await _subscribed(db) == {"patient-phone": True, "doctor-phone": False}
    await _register(fcm_client, auth, "client", patient["id"], "patient-phone")  # app relaunch: nothing to do
    await fcm_client.server.app[keys.PUSH].settle()
    assert fake_fcm.topic_calls["patient-phone"] == 1

    resp = await fcm_client.request("DELETE", "/api/v2/devices/tokens", json={"token": "patient-phone"},
                                    headers=auth("client", patient["id"]))
    assert resp.status == 200
    await fcm_client.server.app[keys.PUSH].settle()
    assert fake_fcm.subscriptions[COMMUNITY_TOPIC] == set()
    assert await _subscribed(db) == {"patient-phone": False, "doctor-phone": False}


async def test_a_failed_subscription_is_retried_and_an_unknown_token_deactivated(fcm_client, fake_fcm, db, auth,
                                                                                  frozen_clock):
    patient = await factories.make_user(db)
    await _register(fcm_client, auth, "client", patient["id"], "flaky-phone")
    await _register(fcm_client, auth, "client", patient["id"], "gone-phone")
    fake_fcm.script_topic("flaky-phone", 503)
    fake_fcm.unregister("gone-phone")
    worker = fcm_client.server.app[keys.PUSH]
    await worker.settle()
    assert await _subscribed(db) == {"flaky-phone": False, "gone-phone": False}
    async with db.connect() as conn:
        active = dict((await conn.execute(sa.select(device_tokens.c.token, device_tokens.c.is_active))).all())
    assert active == {"flaky-phone": True, "gone-phone": False}
    await worker.settle()
    assert fake_fcm.topic_calls["flaky-phone"] == 1  # not due yet
    frozen_clock.advance(push_topics.RETRY_AFTER.total_seconds())
    await worker.settle()
    assert fake_fcm.subscriptions[COMMUNITY_TOPIC] == {"flaky-phone"}
    assert await _subscribed(db) == {"flaky-phone": True, "gone-phone": False}


async def test_the_first_publish_is_one_topic_message_for_every_patient(fcm_client, fake_fcm, db, auth):
    admin = await factories.make_admin(db)
    headers = auth("admin", admin["id"])
    tokens = await _patients_with_devices(fcm_client, db, auth, 3)
    worker = fcm_client.server.app[keys.PUSH]
    await worker.settle()
    assert fake_fcm.subscriptions[COMMUNITY_TOPIC] == set(tokens)

    resp = await fcm_client.post(ARTICLES, headers=headers, json=ARTICLE)  # a draft: no push
    assert resp.status == 201
    article = await resp.json()
    assert article["is_published"] is False and article["published_at"] is None
    assert await _topic_pushes(db) == []

    resp = await fcm_client.patch(f"{ARTICLES}/{article['id']}", headers=headers, json={"is_published": True})
    assert resp.status == 200
    published = await resp.json()
    assert published["is_published"] is True and published["published_at"] is not None
    [push] = await _topic_pushes(db)
    assert (push["topic"], push["recipient_role"], push["recipient_id"]) == (COMMUNITY_TOPIC, None, None)
    assert push["event_type"] == "community.article" and push["body"] == ARTICLE["title"]
    await worker.settle()
    [message] = fake_fcm.topic_messages(COMMUNITY_TOPIC)
    assert message["data"]["type"] == "community.article" and message["data"]["article_id"] == article["id"]
    assert message["notification"]["body"] == ARTICLE["title"]
    assert all(fake_fcm.attempts[t] == 0 for t in tokens)  # no per-device sends: FCM fans the topic out
    assert [p["status"] for p in await _topic_pushes(db)] == ["SENT"]

    # Unpublish and publish again: the date stays, nobody is pushed twice.
    for flag in (False, True):
        resp = await fcm_client.patch(f"{ARTICLES}/{article['id']}", headers=headers, json={"is_published": flag})
        assert resp.status == 200
    assert (await resp.json())["published_at"] == published["published_at"]
    assert len(await _topic_pushes(db)) == 1
    assert [r["action"] for r in await audit_rows(db, target_id=article["id"])] == [
        "article.create", "article.publish", "article.update", "article.publish"]


async def test_an_article_published_at_creation_and_a_new_event_push_once_each(fcm_client, fake_fcm, db, auth):
    headers = auth("admin", (await factories.make_admin(db))["id"])
    await _patients_with_devices(fcm_client, db, auth, 2)
    resp = await fcm_client.post(ARTICLES, headers=headers, json={**ARTICLE, "is_published": True})
    assert resp.status == 201
    resp = await fcm_client.post(EVENTS, headers=headers, json={
        "title": "Health Awareness Webinar", "description": "Join us for...", "event_date": "2030-03-15T10:00:00Z",
        "event_type": "online", "category": "wellness"})
    assert resp.status == 201
    event = await resp.json()
    resp = await fcm_client.patch(f"{EVENTS}/{event['id']}", headers=headers, json={"title": "Renamed webinar"})
    assert resp.status == 200  # an edit is not news
    await fcm_client.server.app[keys.PUSH].settle()
    pushes = await _topic_pushes(db)
    assert [(p["event_type"], p["topic"], p["status"]) for p in pushes] == [
        ("community.article", COMMUNITY_TOPIC, "SENT"), ("community.event", COMMUNITY_TOPIC, "SENT")]
    # One batch, sent concurrently: in either order.
    messages = {m["data"]["type"]: m for m in fake_fcm.topic_messages(COMMUNITY_TOPIC)}
    assert len(fake_fcm.topic_messages(COMMUNITY_TOPIC)) == 2
    assert set(messages) == {"community.article", "community.event"}
    assert messages["community.event"]["data"]["event_id"] == event["id"]
    assert messages["community.event"]["data"]["event_date"] == "2030-03-15T10:00:00Z"


async def test_local_mode_logs_the_topic_push(client, db, auth, caplog):
    caplog.set_level("INFO", logger="gateway.push_worker")
    headers = auth("admin", (await factories.make_admin(db))["id"])
    resp = await client.post(EVENTS, headers=headers, json={
        "title": "Yoga in the park", "description": "Bring a mat", "event_date": "2030-01-01T06:00:00Z",
        "event_type": "in_person"})
    assert resp.status == 201
    await client.server.app[keys.PUSH].settle()
    [push] = await _topic_pushes(db)
    assert push["status"] == "LOGGED"
    assert any(r.getMessage() == "push (local mode, not sent) type=community.event topic=community"
               for r in caplog.records)


async def test_a_failed_write_pushes_nothing_and_records_nothing(client, db, auth):
    headers = auth("admin", (await factories.make_admin(db))["id"])
    resp = await client.patch(f"{ARTICLES}/{uuid.uuid4()}", headers=headers, json={"is_published": True})
    assert resp.status == 404 and (await resp.json())["code"] == "ARTICLE_NOT_FOUND"
    assert await _topic_pushes(db) == [] and await audit_rows(db) == []


async def test_the_subscription_queue_statements_are_key_lookups_in_their_generic_plans(db):
    """Leasing reads only the partial index of tokens with work to do (never the whole table, which
    holds every device ever registered); recording is a primary-key lookup."""
    now = dt.datetime.now(dt.timezone.utc)
    async with db.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        lease = await plans._generic_plan(raw, "topic_lease", topic_queue.LEASE,
                                          f"{plans._literal(now)}, {plans._literal(now)}, 100")
        record = await plans._generic_plan(
            raw, "topic_record", topic_queue.RECORD, "'{00000000-0000-0000-0000-000000000001}'::uuid[], "
            "'{true}'::boolean[], '{true}'::boolean[], '{NULL}'::timestamptz[]")
    for plan, allowed in ((lease, {"ix_device_tokens_community_pending", "device_tokens_pkey"}),
                          (record, {"device_tokens_pkey"})):
        scans = [n for n in plans._nodes(plan) if n.get("Relation Name") == "device_tokens"
                 and n["Node Type"] != "ModifyTable"]
        assert scans and all(n["Node Type"] in ("Index Scan", "Index Only Scan") and n["Index Name"] in allowed
                             for n in scans), plan
    assert any(n.get("Index Name") == "ix_device_tokens_community_pending" for n in plans._nodes(lease)), lease
