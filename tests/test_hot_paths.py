"""The hot write paths on the asyncpg driver (storage.driver, gateway.tx.statements): statements join
SQLAlchemy's transaction, one-statement writes are all-or-nothing, events carry exactly what was
stored, and a dead connection is still a 503 followed by recovery."""
from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from gateway import keys
from gateway.auth import sync
from gateway.tx import services, statements, transaction
from services import messages as message_use_cases
from services.context import Caller
from storage import driver
from storage.pool import DatabaseUnavailable
from storage import messages as message_store
from storage.events import publish_after_commit
from storage.tables import event_outbox, messages, notifications, users
from tests import factories

MESSAGES = "/api/v2/connect/sessions/{}/messages"


@pytest.fixture
async def pair(db):
    return await factories.make_participants(db)


async def _count(db, table, *where) -> int:
    async with db.connect() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(table).where(*where))


def _text(body: str = "Hello") -> dict:
    return {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": body}


async def test_statements_in_a_transaction_share_it_and_roll_back_together(client, db):
    app = client.server.app
    with pytest.raises(RuntimeError):
        async with transaction(app) as conn:
            txid = await driver.fetchval(conn, "SELECT txid_current()")
            await publish_after_commit(conn, "test:rollback", "ping", {})
            assert await driver.fetchval(conn, "SELECT txid_current()") == txid
            assert await driver.fetchval(conn, "SELECT count(*) FROM event_outbox") == 1
            raise RuntimeError("roll back")
    assert await _count(db, event_outbox) == 0


async def test_outbox_writes_never_commit_alone(client, db):
    """publish_after_commit begins a transaction on a connection without one; leaving the block
    without committing it rolls it back."""
    async with client.server.app[keys.DB].connect() as conn:
        await publish_after_commit(conn, "test:uncommitted", "ping", {})
        assert conn.in_transaction()
    assert await _count(db, event_outbox) == 0


async def _name_and_age(db, user_id) -> tuple:
    async with db.connect() as other:
        row = (await other.execute(sa.select(users).where(users.c.id == user_id))).mappings().one()
    return row["full_name"], row["age"]


async def test_statements_commit_alone_and_a_begun_transaction_at_the_end(client, db):
    app, user = client.server.app, await factories.make_user(db, full_name="Before")
    async with statements(app) as conn:
        await driver.execute(conn, "UPDATE users SET full_name = 'Alone' WHERE id = $1", user["id"])
        assert (await _name_and_age(db, user["id"]))[0] == "Alone"  # committed already
        await driver.execute(conn, "UPDATE users SET age = 41 WHERE id = $1", user["id"], begin=True)
        await driver.execute(conn, "UPDATE users SET full_name = 'Together' WHERE id = $1", user["id"])
        assert await _name_and_age(db, user["id"]) == ("Alone", 30)  # not yet: in the open transaction
    assert await _name_and_age(db, user["id"]) == ("Together", 41)
    with pytest.raises(RuntimeError):
        async with statements(app) as conn:
            await driver.execute(conn, "UPDATE users SET age = 99 WHERE id = $1", user["id"], begin=True)
            await driver.execute(conn, "UPDATE users SET full_name = 'Lost' WHERE id = $1", user["id"])
            raise RuntimeError("roll back")
    assert await _name_and_age(db, user["id"]) == ("Together", 41)


@pytest.mark.parametrize("via", ["post", "ws"])
async def test_the_event_carries_exactly_the_stored_message(client, db, auth, pair, via):
    patient, doctor, session = pair
    headers = auth("client", patient["id"])
    if via == "post":
        resp = await client.post(MESSAGES.format(session["id"]), json=_text("Exactly"), headers=headers)
        assert resp.status == 201
        sent = await resp.json()
    else:
        ws = await client.ws_connect(f"/api/v2/connect/sessions/{session['id']}/ws", headers=headers)
        await ws.send_json({"type": "message.send", "id": 1, "data": _text("Exactly")})
        async with asyncio.timeout(5):
            while (frame := await ws.receive_json())["type"] != "ack":
                pass
        await ws.close()
        assert frame["data"]["status"] == 201
        sent = frame["data"]["message"]
    async with db.connect() as conn:
        [event] = (await conn.execute(sa.select(event_outbox))).mappings().all()
        [stored] = (await conn.execute(sa.select(messages))).mappings().all()
        [push] = (await conn.execute(sa.select(notifications))).mappings().all()
    assert event["channel"] == f"session:{session['id']}" and event["event_type"] == "message.new"
    assert event["data"] == sent
    assert sent["id"] == str(stored["id"]) and sent["content"] == stored["content"] == "Exactly"
    assert (push["recipient_role"], push["recipient_id"], push["title"]) == ("doctor", doctor["id"], "Rahul Sharma")
    assert push["data"]["message_id"] == sent["id"]


async def test_sends_racing_the_end_are_stored_with_their_event_and_push_or_refused(client, db, auth, pair):
    """Every stored message has its event and its push; the rest are refused with 409."""
    patient, doctor, session = pair
    await factories.make_wallet(db, patient["id"], 100_000)
    p, d = auth("client", patient["id"]), auth("doctor", doctor["id"])

    async def send(n: int) -> int:
        resp = await client.post(MESSAGES.format(session["id"]), json=_text(f"m{n}"), headers=p if n % 2 else d)
        return resp.status

    async def end() -> int:
        await asyncio.sleep(0.01)
        return (await client.post(f"/api/v2/connect/sessions/{session['id']}/end", json={}, headers=d)).status

    *statuses, ended = await asyncio.gather(*(send(n) for n in range(40)), end())
    assert ended == 200 and set(statuses) <= {201, 409}
    stored = await _count(db, messages)
    assert stored == statuses.count(201)
    assert await _count(db, event_outbox, event_outbox.c.event_type == "message.new") == stored
    assert await _count(db, notifications, notifications.c.event_type == "message.new") == stored


@pytest.mark.parametrize("route", ["requests", "message"])
async def test_dead_connections_are_503_or_replaced_never_500(client, db, auth, pair, route):
    patient, doctor, session = pair
    doctor_headers = auth("doctor", doctor["id"])

    async def call():
        if route == "requests":
            return await client.get("/api/v2/connect/sessions/requests", headers=doctor_headers)
        return await client.post(MESSAGES.format(session["id"]), json=_text(), headers=auth("client", patient["id"]))

    # The pool holds a connection now (a read: no relay or push worker runs to find the dead one first).
    assert (await client.get("/api/v2/connect/sessions/requests", headers=doctor_headers)).status == 200
    await factories.answers_after_backends_die(db, call, 200 if route == "requests" else 201)


async def test_a_send_on_a_connection_that_died_is_database_unavailable(client, db, pair):
    """The connection dies while checked out: DatabaseUnavailable (answered 503 by the API) and the
    next checkout works."""
    app, (patient, _, session) = client.server.app, pair

    def body() -> dict:
        return {"client_message_id": uuid.uuid4(), "content_type": "text", "content": "Hello"}

    with pytest.raises(DatabaseUnavailable):
        async with statements(app) as conn:
            assert await driver.fetchval(conn, "SELECT 1") == 1
            await factories.terminate_other_backends(db)
            # A send's first statement (services.messages.send runs it on a connection of its own).
            await message_store.send_context(conn, session["id"], "client", patient["id"])
    sent = await message_use_cases.send(services(app), Caller("client", patient["id"]), session["id"], body())
    assert sent.created and await _count(db, messages) == 1


async def test_a_token_already_accepted_is_still_refused_when_expired_deactivated_or_logged_out(
        make_client, db, auth, frozen_clock):
    """Authentication remembers verified token signatures; everything else is checked on every request
    (against the revocation view, current within 1 s of any change)."""
    client = await make_client(clock=frozen_clock)
    user = await factories.make_user(db)
    # Minted at the frozen clock's now (not the wall clock, which has moved on while the app started).
    token = factories.access_token(client.server.app[keys.SETTINGS], "client", user["id"], now=frozen_clock.now())
    headers = {"Authorization": f"Bearer {token}"}
    me = "/api/v2/users/me"
    assert (await client.get(me, headers=headers)).status == 200
    async with db.begin() as conn:
        await conn.execute(sa.update(users).where(users.c.id == user["id"]).values(is_active=False))
    await sync(client.server.app)  # an operator's SQL reaches the revocation view within 1 s; here: at once
    resp = await client.get(me, headers=headers)
    assert resp.status == 401 and (await resp.json())["code"] == "ACCOUNT_INACTIVE"
    async with db.begin() as conn:
        await conn.execute(sa.update(users).where(users.c.id == user["id"]).values(is_active=True))
    await sync(client.server.app)
    assert (await client.get(me, headers=headers)).status == 200
    frozen_clock.advance(30 * 60)
    resp = await client.get(me, headers=headers)
    assert resp.status == 401 and (await resp.json())["code"] == "TOKEN_EXPIRED"
    frozen_clock.advance(-60)
    assert (await client.post("/api/v2/auth/logout", headers=headers)).status == 200
    resp = await client.get(me, headers=headers)
    assert resp.status == 401 and (await resp.json())["code"] == "TOKEN_REVOKED"
