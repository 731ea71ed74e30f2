"""Deactivation through /admin/users/{id}/status on one server process takes effect on the other:
REST calls with the account's tokens are refused within the revocation view's bound, a doctor's
request stream held there ends, a patient's session websocket held there closes with 4001
`token_revoked`, refresh is refused; reactivation lets the doctor log in again while the old
tokens stay dead."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from gateway import auth as gateway_auth
from gateway import connections
from tests import factories
from tests.audit_rows import audit_rows
from tests.servers import SseReader

STREAM = "/connect/sessions/requests/stream"
# A held connection is checked against the view every CREDENTIALS_INTERVAL, so it closes at most
# that much after the view has the change (plus scheduling slack on a busy machine).
HELD_BOUND = gateway_auth.STALENESS_BOUND + connections.CREDENTIALS_INTERVAL + 1.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _status(http, server, admin, account_id, is_active: bool) -> None:
    async with http.patch(f"{server.api_url}/admin/users/{account_id}/status", headers=admin,
                          json={"is_active": is_active}) as resp:
        assert resp.status == 200, await resp.text()


async def _first_refused(http, url: str, token: str, since: float) -> float:
    """When (seconds after `since`) the first request that `url` answered 401 with `token` was sent
    (polled every 10 ms, for at most 10 s)."""
    while True:
        sent = time.monotonic()
        async with http.get(url, headers=bearer(token)) as resp:
            if resp.status == 401:
                return sent - since
            assert resp.status in (200, 404), resp.status  # 404: B's handler finds no active doctor yet
        assert time.monotonic() - since < 10, "never refused"
        await asyncio.sleep(0.01)


async def _closed(ws, timeout: float = 10) -> tuple[int | None, str]:
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return ws.close_code, msg.extra


async def test_deactivation_on_one_process_closes_held_connections_on_the_other(servers, db, settings):
    a, b = servers
    admin = bearer(factories.access_token(settings, "admin", (await factories.make_admin(db))["id"]))
    patient, doctor, session = await factories.make_participants(db)
    patient_token = factories.access_token(settings, "client", patient["id"])
    async with aiohttp.ClientSession() as http:
        async with http.post(a.api_url + "/auth/doctor/login",
                             json={"email": doctor["email"], "password": factories.PASSWORD}) as resp:
            assert resp.status == 200
            pair = await resp.json()
        stream = await http.get(b.api_url + STREAM, headers=bearer(pair["access_token"]))
        reader = SseReader(stream)
        assert (await reader.next()).event == "connected"
        ws = await http.ws_connect(f"{b.api_url}/connect/sessions/{session['id']}/ws", headers=bearer(patient_token))
        await ws.send_json({"type": "ping", "id": "before"})
        assert (await ws.receive_json(timeout=5))["type"] == "pong"

        await _status(http, a, admin, doctor["id"], False)
        doctor_answered = time.monotonic()
        await _status(http, a, admin, patient["id"], False)
        answered = time.monotonic()
        doctor_refused = await _first_refused(http, b.api_url + "/doctors/me/profile", pair["access_token"],
                                              doctor_answered)
        patient_refused = await _first_refused(http, b.api_url + "/users/me", patient_token, answered)
        assert doctor_refused < gateway_auth.STALENESS_BOUND and patient_refused < gateway_auth.STALENESS_BOUND, \
            (doctor_refused, patient_refused, b.output())

        with pytest.raises(EOFError):  # the doctor's stream on B ends
            await reader.next(timeout=10)
        stream_ended = time.monotonic() - doctor_answered
        assert await _closed(ws) == (4001, "token_revoked")
        socket_closed = time.monotonic() - answered
        assert stream_ended < HELD_BOUND and socket_closed < HELD_BOUND, (stream_ended, socket_closed, b.output())
        async with http.post(b.api_url + "/auth/refresh", json={"refresh_token": pair["refresh_token"]}) as resp:
            assert resp.status == 401

        # Switched on again: a new login works everywhere; the old tokens stay dead.
        await _status(http, a, admin, doctor["id"], True)
        async with http.post(b.api_url + "/auth/doctor/login",
                             json={"email": doctor["email"], "password": factories.PASSWORD}) as resp:
            assert resp.status == 200
            fresh = await resp.json()
        async with http.get(a.api_url + "/doctors/me/profile", headers=bearer(fresh["access_token"])) as resp:
            assert resp.status == 200
        for server in (a, b):
            async with http.get(server.api_url + "/doctors/me/profile", headers=bearer(pair["access_token"])) as resp:
                assert resp.status == 401
            async with http.get(server.api_url + STREAM, headers=bearer(pair["access_token"])) as resp:
                assert resp.status == 401
        stream.close()
        await ws.close()
    rows = await audit_rows(db, action="user.status.update")
    assert [(r["target_type"], r["changed_fields"]) for r in rows] == [
        ("doctor", ["is_active"]), ("user", ["is_active"]), ("doctor", ["is_active"])]
