"""A websocket client that stops reading is cut off with close code 4008 "slow_consumer"."""
from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from gateway import keys
from gateway.tx import transaction
from storage.events import publish_after_commit, session_channel
from tests import factories


def _small_receive_buffer(addr_info):
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family, type_, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


@pytest.fixture
async def slow_client(make_client):
    return await make_client(send_queue_size=4)


async def test_client_that_stops_reading_is_closed_with_a_named_reason(slow_client, db, settings):
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    session = await factories.make_session(db, patient["id"], doctor["id"])
    app = slow_client.server.app
    token = factories.access_token(settings, "client", patient["id"])
    url = slow_client.make_url(f"/api/v2/connect/sessions/{session['id']}/ws?access_token={token}")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(socket_factory=_small_receive_buffer)) as http:
        # Subscribed before the handshake completes: every event committed from here on is for it.
        ws = await http.ws_connect(url, autoping=False, autoclose=False, max_msg_size=0)
        # ~12 MB of events, far more than the socket buffers: the server's writer blocks and the
        # subscription's bounded queue (4) overflows.
        big = "x" * 100_000
        for n in range(120):
            async with transaction(app) as conn:
                await publish_after_commit(conn, session_channel(session["id"]), "message.attachment",
                                           {"n": n, "padding": big})
        registry = app[keys.METRICS].registry
        async with asyncio.timeout(10):
            while not registry.get_sample_value("allign_slow_consumers_total", {"transport": "ws"}):
                await asyncio.sleep(0.05)
        # Now read everything that was buffered: the last thing on the wire is the close frame.
        received = 0
        async with asyncio.timeout(10):
            while True:
                msg = await ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    received += 1
                    continue
                break
        assert msg.type == aiohttp.WSMsgType.CLOSE, msg
        assert (msg.data, msg.extra) == (4008, "slow_consumer")
        assert 0 < received < 120
    assert app[keys.STREAMS].count("ws") == 0
