"""A token is checked when a websocket or an SSE stream opens; the connection is closed once that
token expires or is revoked by a logout, never before, and never for somebody else's logout."""
from __future__ import annotations

import aiohttp
import pytest

from gateway import connections, keys
from tests import factories
from tests.servers import SseReader
from tests.test_ws_session import expect_close, recv_type, ws_path

STREAM = "/api/v2/connect/sessions/requests/stream"
LOGOUT = "/api/v2/auth/logout"


@pytest.fixture(autouse=True)
def _quick_denylist_checks(monkeypatch):
    monkeypatch.setattr(connections, "CREDENTIALS_INTERVAL", 0.2)  # read when each app's reaper starts


@pytest.fixture
async def pair(db):
    return await factories.make_participants(db)


def bearer(settings, role, subject_id, **kw) -> dict[str, str]:
    return {"Authorization": f"Bearer {factories.access_token(settings, role, subject_id, **kw)}"}


async def test_a_socket_closes_when_its_token_expires(make_client, settings, frozen_clock, pair):
    client = await make_client(clock=frozen_clock)
    patient, doctor, session = pair
    minted = frozen_clock.now()
    ws = await client.ws_connect(ws_path(session), headers=bearer(settings, "client", patient["id"], now=minted))
    other = await client.ws_connect(ws_path(session), headers=bearer(
        settings, "doctor", doctor["id"], now=minted, ttl=settings.access_token_ttl + 600))
    frozen_clock.advance(settings.access_token_ttl - 5)
    await ws.send_json({"type": "ping", "id": "still-valid"})
    assert (await recv_type(ws, "pong"))["data"]["ref"] == "still-valid"
    frozen_clock.advance(5)
    code, reason = await expect_close(ws)
    assert (code, reason) == (4001, "token_expired")
    await other.send_json({"type": "ping", "id": "longer-token"})  # its token has 10 more minutes
    assert (await recv_type(other, "pong"))["data"]["ref"] == "longer-token"
    await other.close()


async def test_a_socket_closes_after_its_user_logs_out_and_only_that_socket(client, settings, pair):
    patient, doctor, session = pair
    patient_headers = bearer(settings, "client", patient["id"])
    ws = await client.ws_connect(ws_path(session), headers=patient_headers)
    doctor_ws = await client.ws_connect(ws_path(session), headers=bearer(settings, "doctor", doctor["id"]))
    assert (await client.post(LOGOUT, headers=patient_headers)).status == 200
    assert await expect_close(ws) == (4001, "token_revoked")
    await doctor_ws.send_json({"type": "ping", "id": "p"})
    assert (await recv_type(doctor_ws, "pong"))["data"]["ref"] == "p"
    await doctor_ws.close()
    # Reconnecting with the revoked token is refused before the upgrade.
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(ws_path(session), headers=patient_headers)
    assert refused.value.status == 401


async def test_a_request_stream_ends_when_its_token_expires(make_client, settings, frozen_clock, db):
    client = await make_client(clock=frozen_clock)
    doctor = await factories.make_doctor(db)
    resp = await client.get(STREAM, headers=bearer(settings, "doctor", doctor["id"], now=frozen_clock.now()))
    reader = SseReader(resp)
    assert (await reader.next()).event == "connected"
    frozen_clock.advance(settings.access_token_ttl)
    with pytest.raises(EOFError):
        await reader.next(timeout=5)
    assert client.server.app[keys.STREAMS].count("sse") == 0


async def test_a_request_stream_ends_after_logout_and_another_console_stays(client, settings, db):
    doctor = await factories.make_doctor(db)
    first_console = bearer(settings, "doctor", doctor["id"])
    second_console = bearer(settings, "doctor", doctor["id"])
    first = SseReader(await client.get(STREAM, headers=first_console))
    second = SseReader(await client.get(STREAM, headers=second_console))
    assert (await first.next()).event == (await second.next()).event == "connected"
    assert (await client.post(LOGOUT, headers=first_console)).status == 200
    with pytest.raises(EOFError):
        await first.next(timeout=5)
    assert client.server.app[keys.STREAMS].count("sse") == 1
    second.response.close()
