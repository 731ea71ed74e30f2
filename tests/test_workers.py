"""`python run.py serve --workers N`: N processes on one port (SO_REUSEPORT), a dead worker replaced,
SIGTERM draining all of them; and the realtime paths through that one port."""
from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import aiohttp

from tests import factories
from tests.servers import SseReader, start_server
from tests.test_ws_processes import recv_type


def children(pid: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def listening_pids(port: int) -> set[int]:
    """Processes holding a listening TCP socket on `port` (from /proc: no tools needed)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(fields[9])
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.add(int(entry.name))
                    break
        except OSError:
            continue
    return pids


async def workers_listening(supervisor: int, port: int, count: int, timeout: float = 30.0) -> set[int]:
    """Wait until the supervisor has `count` children and each of them listens on the port."""
    async with asyncio.timeout(timeout):
        while True:
            workers = children(supervisor)
            if len(workers) == count and listening_pids(port) == workers:
                return workers
            await asyncio.sleep(0.1)


async def test_workers_share_one_port_a_dead_one_is_replaced_and_sigterm_drains_all(settings, db):
    server = await start_server(settings, env_overrides={"WORKERS": "2"}, ready_timeout=40)
    try:
        first = await workers_listening(server.pid, server.port, 2)
        assert server.pid not in listening_pids(server.port)  # the supervisor serves nothing itself
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        async with asyncio.timeout(10):  # reaped by the supervisor (until then it is still its child)
            while victim in children(server.pid):
                await asyncio.sleep(0.05)
        replaced = await workers_listening(server.pid, server.port, 2)
        assert victim not in replaced and len(replaced & first) == 1
        async with aiohttp.ClientSession() as http:
            for _ in range(20):  # new connections each time: both workers answer
                async with http.get(server.base_url + "/healthz", headers={"Connection": "close"}) as resp:
                    assert resp.status == 200
        assert await server.stop(timeout=20) == 0
        assert all(not Path(f"/proc/{pid}").exists() for pid in replaced)
    finally:
        await server.stop()


async def test_streams_and_sockets_through_one_port_served_by_two_workers(settings, db):
    """Each connection lands on either worker (the kernel picks): whichever process a patient's request
    reaches, the doctor's stream and the other side's socket get the event."""
    doctor = await factories.make_doctor(db)
    patients = [await factories.make_user(db) for _ in range(6)]
    for patient in patients:
        await factories.make_wallet(db, patient["id"], 1_000_000)
    d_auth = {"Authorization": "Bearer " + factories.access_token(settings, "doctor", doctor["id"])}
    server = await start_server(settings, env_overrides={"WORKERS": "2"}, ready_timeout=40)
    try:
        await workers_listening(server.pid, server.port, 2)
        async with aiohttp.ClientSession() as http:
            resp = await http.get(server.api_url + "/connect/sessions/requests/stream", headers=d_auth)
            stream = SseReader(resp)
            assert (await stream.next()).event == "connected"
            created = []
            for patient in patients:
                p_auth = {"Authorization": "Bearer " + factories.access_token(settings, "client", patient["id"]),
                          "Connection": "close"}
                async with http.post(server.api_url + "/connect/sessions", headers=p_auth, json={
                        "target_doctor_id": str(doctor["id"]), "symptoms": ["cough"]}) as answer:
                    assert answer.status == 201, await answer.text()
                    created.append((await answer.json())["session_id"])
            got = await stream.events(len(created), timeout=15)
            assert [m.data["session_id"] for m in got] == created
            resp.close()

            # Socket pairs, each side on its own connection (so on either worker).
            for _ in range(4):
                patient = await factories.make_user(db)
                session = await factories.make_session(db, patient["id"], doctor["id"])
                path = f"{server.api_url}/connect/sessions/{session['id']}/ws"
                p_auth = {"Authorization": "Bearer " + factories.access_token(settings, "client", patient["id"])}
                async with http.ws_connect(path, headers=p_auth) as p_ws, http.ws_connect(path, headers=d_auth) as d_ws:
                    body = {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "Hi"}
                    await p_ws.send_json({"type": "message.send", "id": "m1", "data": body})
                    sent = (await recv_type(p_ws, "ack"))["data"]["message"]
                    assert (await recv_type(d_ws, "message.new"))["data"]["id"] == sent["id"]
    finally:
        await server.stop(timeout=20)
