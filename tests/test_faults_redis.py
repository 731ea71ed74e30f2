"""Redis goes away (a private redis-server that the test kills; never the machine's).

- REST does not wait on it: after the first failure the client's circuit breaker (storage.redis_breaker)
  fails every Redis call at once, and only its probe connects again; counted here at a TCP proxy in
  front of Redis, as connection attempts (not wall time: robust on a busy machine);
- logged-out and deactivated tokens stay refused (the revocation view is fed by PostgreSQL);
- OTP sends stay limited, on every process, by the fallback limiter and the database's spacing of
  a phone's codes (the paid SMS channel is never open);
- events committed meanwhile wait in the outbox and reach the sockets in order once Redis is back
  (streams: tests/test_stream_redis_restart.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
import sqlalchemy as sa

from gateway import keys
from gateway.auth import REVOCATIONS, STALENESS_BOUND
from storage.redis import breaker_of
from storage.tables import users
from tests import factories
from tests.servers import SseReader, start_redis
from tests.sms_gateway import new_phone, otp_client, sms_gateway  # noqa: F401  (fixtures)
from tests.test_stream import STREAM
from tests.test_ws_processes import recv_type

ME = "/api/v2/users/me"
REQUEST_OTP = "/api/v2/auth/request-otp"


class CountingProxy:
    """A TCP forwarder in front of Redis that counts the connections the app opens: each one is a
    connection attempt, whether Redis is there to take it or not."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.attempts = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()
        self.url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.url = f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/0"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.attempts += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            dst.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._pipes, return_exceptions=True)


@pytest.fixture
async def private_redis():
    redis = await start_redis()
    yield redis
    await redis.stop()


@pytest.fixture
async def proxy(private_redis):
    counting = CountingProxy(private_redis.port)
    await counting.start()
    yield counting
    await counting.stop()


def bearer(settings, role: str, subject: uuid.UUID) -> dict[str, str]:
    return {"Authorization": "Bearer " + factories.access_token(settings, role, subject)}


async def eventually(check, timeout: float = 10.0):
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def test_rest_makes_no_redis_connection_attempts_while_redis_is_down(make_client, private_redis, proxy,
                                                                           db, settings):
    client = await make_client(redis_url=proxy.url, otp_rate_per_ip=10_000, otp_rate_per_phone=10_000)
    app = client.server.app
    breaker = breaker_of(app[keys.REDIS])
    patient, doctor = await factories.make_user(db), await factories.make_doctor(db)
    await factories.make_wallet(db, patient["id"], 10_000_000)
    session = await factories.make_session(db, patient["id"], doctor["id"])
    p_auth, d_auth = bearer(settings, "client", patient["id"]), bearer(settings, "doctor", doctor["id"])
    messages = f"/api/v2/connect/sessions/{session['id']}/messages"
    p_ws = await client.ws_connect(f"/api/v2/connect/sessions/{session['id']}/ws", headers=p_auth)
    d_ws = await client.ws_connect(f"/api/v2/connect/sessions/{session['id']}/ws", headers=d_auth)

    async def mixed_round() -> str:
        """Five requests, four of which use Redis when it is up: a rate limit, the relay's wake-up
        and publish, a stream's start position, a typing indicator."""
        assert (await client.get(ME, headers=p_auth)).status == 200
        assert (await client.post(REQUEST_OTP, json={"phone": new_phone()})).status == 202
        resp = await client.post(messages, headers=p_auth, json={
            "client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "hi"})
        assert resp.status == 201, await resp.text()
        stream = await client.get(STREAM, headers=d_auth)
        assert stream.status == 200 and (await SseReader(stream).next()).event == "connected"
        stream.close()
        await p_ws.send_json({"type": "typing", "data": {"is_typing": True}})
        return (await resp.json())["id"]

    for _ in range(3):
        sent = await mixed_round()
        assert (await recv_type(d_ws, "message.new"))["data"]["id"] == sent
    assert not breaker.is_open

    await private_redis.stop()
    before, probes = proxy.attempts, breaker.probes
    during = [await mixed_round() for _ in range(40)]  # 200 requests, 160 of which would use Redis
    made = proxy.attempts - before
    # The first failures (the listener's socket, the command that found Redis gone) open the
    # breaker; after that only its probe connects, one attempt each, whatever the request count.
    assert made <= (breaker.probes - probes) + 3, (made, breaker.probes - probes)
    assert breaker.is_open
    # Tokens are still checked against a current view of the revocation log (PostgreSQL-fed).
    view = app[REVOCATIONS]
    assert view.current() and view.age() <= STALENESS_BOUND

    await private_redis.start()
    await eventually(lambda: _true(not breaker.is_open))
    # What was committed meanwhile waited in the outbox and arrives now, in commit order, once each.
    got = []
    async with asyncio.timeout(15):
        while len(got) < len(during):
            frame = await recv_type(d_ws, "message.new")
            got.append(frame["data"]["id"])
    assert got == during
    for ws in (p_ws, d_ws):
        await ws.close()


async def _true(value: bool) -> bool:
    return value


async def test_logged_out_and_deactivated_tokens_stay_refused_while_redis_is_down(make_client, private_redis, db,
                                                                                  settings):
    client = await make_client(redis_url=private_redis.url)
    app = client.server.app
    pair = await (await client.post("/api/v2/auth/verify-otp", json={"phone": "+919999999999",
                                                                     "code": "123456"})).json()
    login = {"Authorization": "Bearer " + pair["access_token"]}
    other = await factories.make_user(db)
    other_auth = bearer(settings, "client", other["id"])
    assert (await client.get(ME, headers=login)).status == 200
    assert (await client.get(ME, headers=other_auth)).status == 200

    await private_redis.stop()
    assert (await client.post("/api/v2/auth/logout", headers=login)).status == 200
    resp = await client.get(ME, headers=login)
    assert resp.status == 401 and (await resp.json())["code"] == "TOKEN_REVOKED"
    async with db.begin() as conn:  # an operator's SQL: the revocation log's trigger records it
        await conn.execute(sa.update(users).where(users.c.id == other["id"]).values(is_active=False))

    async def refused() -> bool:
        resp = await client.get(ME, headers=other_auth)
        return resp.status == 401 and (await resp.json())["code"] == "ACCOUNT_INACTIVE"
    await eventually(refused, timeout=STALENESS_BOUND + 2)
    view = app[REVOCATIONS]
    assert view.current() and view.age() <= STALENESS_BOUND
    metrics = await (await client.get("/metrics")).text()
    assert "allign_auth_revocation_view_age_seconds" in metrics and "allign_redis_circuit_open 1.0" in metrics


async def test_otp_sends_stay_limited_on_every_process_while_redis_is_down(otp_client, sms_gateway, private_redis,
                                                                          settings):
    limits = {"redis_url": private_redis.url, "otp_rate_per_phone": 3, "otp_rate_per_ip": 4}
    first, second = await otp_client(**limits), await otp_client(**limits)  # two processes' worth of state
    phones = [new_phone() for _ in range(5)]
    assert (await first.post(REQUEST_OTP, json={"phone": phones[0]})).status == 202  # counted in Redis

    await private_redis.stop()
    # The same phone again at once: refused on any process (the database spaces its codes:
    # window / limit = 300 s), though its in-process count would allow it.
    for client in (first, second):
        resp = await client.post(REQUEST_OTP, json={"phone": phones[0]})
        assert resp.status == 429, await resp.text()
        assert 200 <= int(resp.headers["Retry-After"]) <= 300
    # Other phones from one address: the first process's fallback counts on from what Redis last
    # said (1 of 4), plus the refused retry above (2): two more, then 429.
    statuses = [(await first.post(REQUEST_OTP, json={"phone": p})).status for p in phones[1:4]]
    assert statuses == [202, 202, 429]
    resp = await second.post(REQUEST_OTP, json={"phone": phones[1]})  # sent by the first process
    assert resp.status == 429
    assert sorted(m["to"] for m in sms_gateway.messages) == sorted(phones[:3])
    # No connection attempt per request: the breaker answered for Redis.
    assert breaker_of(first.server.app[keys.REDIS]).is_open

    await private_redis.start()  # empty: its counts start again
    await eventually(lambda: _true(not breaker_of(first.server.app[keys.REDIS]).is_open))
    assert (await first.post(REQUEST_OTP, json={"phone": phones[4]})).status == 202
    assert len(sms_gateway.messages) == 4


def test_the_fallback_limiter_refuses_when_it_cannot_count():
    from domain.errors import ServiceUnavailable
    from gateway.ratelimit import FallbackLimiter, Limit
    now = [0.0]
    limiter = FallbackLimiter(share=2, max_keys=2, now=lambda: now[0])
    limit = Limit("otp-ip", "x", max_hits=5, window=60)
    assert [limiter.hit("a", limit) for _ in range(3)] == [0, 0, 60]  # 5 // 2 processes = 2 each
    limiter.observe("b", 4, 30_000)  # Redis said: 4 hits, 30 s left
    assert limiter.hit("b", limit) == 30
    with pytest.raises(ServiceUnavailable):  # no room to count a third subject: refused
        limiter.hit("c", limit)
    now[0] = 61.0  # a's window is over, b's too: room again
    assert limiter.hit("c", limit) == 0
