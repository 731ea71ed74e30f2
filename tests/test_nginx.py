"""deploy/nginx.conf in front of two app processes: the request stream (with Last-Event-ID replay) and a
session's socket pair through the proxy, the request id passed through."""
from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import aiohttp
import pytest

from tests import factories
from tests.servers import ROOT, SseReader, free_port, start_server
from tests.test_ws_processes import recv_type

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-deps.sh installs it)")


def nginx_config(port: int, upstreams: list[int], workdir: Path) -> str:
    """The deployed file with only the listen port, the upstream servers and the paths replaced."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    servers = "".join(f"        server 127.0.0.1:{p};\n" for p in upstreams)
    text, n = re.subn(r"(upstream allign_api \{\n)(?:\s*server [^\n]+\n)+", lambda m: m.group(1) + servers, text)
    assert n == 1
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
    text = text.replace("pid /run/nginx-allign.pid;", f"pid {workdir}/nginx.pid;")
    text = text.replace("error_log /var/log/nginx/allign-error.log warn;", f"error_log {workdir}/error.log warn;")
    temp = "".join(f"    {kind}_temp_path {workdir}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return text.replace("http {\n", "http {\n" + temp, 1)


@contextlib.asynccontextmanager
async def nginx_in_front_of(upstreams: list[int]):
    workdir = Path(tempfile.mkdtemp(prefix="allign-nginx-"))
    port = free_port()
    (workdir / "nginx.conf").write_text(nginx_config(port, upstreams, workdir))
    proc = subprocess.Popen([NGINX, "-c", str(workdir / "nginx.conf"), "-p", str(workdir), "-g", "daemon off; user root;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http, asyncio.timeout(20):
            while True:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(base + "/healthz") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait)
        shutil.rmtree(workdir, ignore_errors=True)


async def test_stream_replay_and_socket_pair_through_nginx(settings, db):
    doctor = await factories.make_doctor(db)
    patients = [await factories.make_user(db) for _ in range(3)]
    for patient in patients:
        await factories.make_wallet(db, patient["id"], 1_000_000)
    d_auth = {"Authorization": "Bearer " + factories.access_token(settings, "doctor", doctor["id"])}

    def p_auth(patient) -> dict:
        return {"Authorization": "Bearer " + factories.access_token(settings, "client", patient["id"])}

    a, b = await start_server(settings), await start_server(settings)
    try:
        async with nginx_in_front_of([a.port, b.port]) as base, aiohttp.ClientSession() as http:
            api = base + "/api/v2"
            async with http.get(base + "/healthz", headers={"X-Request-ID": "trace-me-42"}) as resp:
                assert resp.headers["X-Request-ID"] == "trace-me-42"
            stream_url = api + "/connect/sessions/requests/stream"
            resp = await http.get(stream_url, headers=d_auth)
            stream = SseReader(resp)
            assert (await stream.next()).event == "connected"
            async with http.post(api + "/connect/sessions", headers=p_auth(patients[0]),
                                 json={"target_doctor_id": str(doctor["id"]), "symptoms": ["cough"]}) as created:
                assert created.status == 201, await created.text()
            [first] = await stream.events(1, timeout=10)  # unbuffered: arrives while the stream is open
            assert first.event == "session_requested" and first.id
            resp.close()

            missed = []
            for patient in patients[1:]:  # while the console is away
                async with http.post(api + "/connect/sessions", headers=p_auth(patient),
                                     json={"target_doctor_id": str(doctor["id"]), "symptoms": ["fever"]}) as created:
                    assert created.status == 201
                    missed.append((await created.json())["session_id"])
            resp = await http.get(stream_url, headers={**d_auth, "Last-Event-ID": first.id})
            replay = SseReader(resp)
            connected = await replay.next()
            assert connected.event == "connected" and connected.id == first.id
            got = await replay.events(len(missed), timeout=10)
            assert [m.data["session_id"] for m in got] == missed
            resp.close()

            patient = await factories.make_user(db)
            session = await factories.make_session(db, patient["id"], doctor["id"])
            ws_url = api + f"/connect/sessions/{session['id']}/ws"
            async with http.ws_connect(ws_url, headers=p_auth(patient)) as p_ws, \
                    http.ws_connect(ws_url, headers=d_auth) as d_ws:
                body = {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "Via nginx"}
                await p_ws.send_json({"type": "message.send", "id": "m1", "data": body})
                sent = (await recv_type(p_ws, "ack"))["data"]["message"]
                assert (await recv_type(d_ws, "message.new"))["data"]["content"] == "Via nginx"
                assert sent["content"] == "Via nginx"
    finally:
        await a.stop()
        await b.stop()
