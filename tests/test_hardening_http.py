"""The HTTP surface: aiohttp's protocol errors in the contract's shape, security headers on every
response, CORS (preflights, headers, websocket Origins), /metrics behind METRICS_TOKEN, and local
mode refusing a public HOST with its built-in secrets."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, check_listen_address, load_settings
from tests import factories
from tests.servers import start_server

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = "https://console.allign.in"
SECURITY = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


async def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer (the server closes after a protocol error)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(20):
            raw = await reader.read()
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def _assert_json_error(status: int, headers: dict[str, str], body: bytes, detail: str) -> None:
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"detail": detail, "code": "BAD_REQUEST"}
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
    assert "aiohttp" not in headers["server"].lower() and "python" not in headers["server"].lower()


PROTOCOL_ERRORS = [
    (b"GET /healthz?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "Request line or header too long"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", "Request line or header too long"),
    (b"G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "Invalid HTTP method"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", "Malformed HTTP request"),
]


async def test_protocol_errors_answer_json(client):
    for request, detail in PROTOCOL_ERRORS:
        _assert_json_error(*await _raw(client.server.port, request), detail)
    assert (await client.get("/healthz")).status == 200  # the server is fine


async def test_protocol_errors_answer_json_from_run_py(settings, db):
    """The same through `python run.py` (run_app builds its own runner)."""
    server = await start_server(settings)
    try:
        _assert_json_error(*await _raw(server.port, PROTOCOL_ERRORS[0][0]), PROTOCOL_ERRORS[0][1])
        status, headers, _ = await _raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status == 200 and headers["server"] == "Allign" and headers["x-content-type-options"] == "nosniff"
    finally:
        await server.stop()


async def test_security_headers_on_every_kind_of_response(client, db, auth, settings):
    doctor = await factories.make_doctor(db)
    patient, _, session = await factories.make_participants(db)
    as_patient = auth("client", patient["id"])
    responses = {
        "public": await client.get("/healthz"),
        "error": await client.get("/api/v2/no-such-route"),
        "token": await client.post("/api/v2/auth/doctor/login",
                                   json={"email": doctor["email"], "password": factories.PASSWORD}),
        "authenticated": await client.get("/api/v2/users/me", headers=as_patient),
        "validation": await client.patch("/api/v2/users/me", json={"age": "old"}, headers=as_patient),
        "stream": await client.get("/api/v2/connect/sessions/requests/stream",
                                   params={"access_token": factories.access_token(settings, "doctor", doctor["id"])}),
    }
    assert [responses[k].status for k in ("public", "error", "token", "authenticated", "validation", "stream")] \
        == [200, 404, 200, 200, 422, 200]
    ws = await client.ws_connect(f"/api/v2/connect/sessions/{session['id']}/ws", headers=as_patient)
    try:
        for name, headers in [*((k, r.headers) for k, r in responses.items()), ("websocket", ws._response.headers)]:
            for header, value in SECURITY.items():
                assert headers.get(header) == value, (name, header, dict(headers))
            assert headers["Server"] == "Allign", name
            assert headers["Cache-Control"] == "no-store", (name, headers.get("Cache-Control"))
    finally:
        responses["stream"].close()
        await ws.close()


async def test_cors_preflight_and_headers(make_client):
    client = await make_client(cors_allowed_origins=(CONSOLE,))
    preflight = {"Origin": CONSOLE, "Access-Control-Request-Method": "PATCH",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    resp = await client.options("/api/v2/users/me", headers=preflight)
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert resp.headers["Access-Control-Allow-Methods"] == "PATCH"
    assert set(resp.headers["Access-Control-Allow-Headers"].upper().split(",")) == {"AUTHORIZATION", "CONTENT-TYPE"}
    assert "Access-Control-Allow-Credentials" not in resp.headers  # bearer tokens, never cookies
    # A path with an id, and one of the unprefixed routes.
    for path in ("/api/v2/doctors/00000000-0000-4000-8000-000000000000", "/healthz"):
        assert (await client.options(path, headers={**preflight, "Access-Control-Request-Method": "GET"})).status == 200
    # Refused preflights: another origin, a header not allowed; in the contract's shape, never 405.
    for headers in ({**preflight, "Origin": "https://evil.example"},
                    {**preflight, "Access-Control-Request-Headers": "x-evil"}):
        resp = await client.options("/api/v2/users/me", headers=headers)
        assert resp.status == 403 and (await resp.json())["code"] == "FORBIDDEN"
        assert "Access-Control-Allow-Origin" not in resp.headers
    # Actual requests: the allowed origin gets its headers (X-Request-ID readable); others get none.
    resp = await client.get("/api/v2/users/me", headers={"Origin": CONSOLE})
    assert resp.status == 401
    assert resp.headers["Access-Control-Allow-Origin"] == CONSOLE
    assert "X-Request-ID" in resp.headers["Access-Control-Expose-Headers"].split(",")
    assert "Retry-After" in resp.headers["Access-Control-Expose-Headers"].split(",")
    resp = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers
    assert "Access-Control-Allow-Origin" not in (await client.get("/healthz")).headers


async def test_no_origins_means_no_cross_origin_access(client):
    resp = await client.options("/api/v2/users/me", headers={"Origin": CONSOLE, "Access-Control-Request-Method": "GET"})
    assert resp.status == 403 and (await resp.json())["code"] == "FORBIDDEN"
    assert "Access-Control-Allow-Origin" not in (await client.get("/healthz", headers={"Origin": CONSOLE})).headers


async def test_websocket_origins_follow_the_cors_list(make_client, db, auth):
    patient, _, session = await factories.make_participants(db)
    path = f"/api/v2/connect/sessions/{session['id']}/ws"
    as_patient = auth("client", patient["id"])

    async def status(client, origin: str | None) -> int:
        headers = {**as_patient, **({"Origin": origin} if origin else {})}
        try:
            ws = await client.ws_connect(path, headers=headers)
        except Exception as exc:  # WSServerHandshakeError
            return exc.status  # type: ignore[attr-defined]
        await ws.close()
        return 101

    empty = await make_client()
    own = f"http://127.0.0.1:{empty.server.port}"
    # Empty list: no foreign origin (the default used to accept any); the API's own origin and
    # clients without Origin (apps, servers) still connect.
    assert [await status(empty, o) for o in (CONSOLE, "null", own, None)] == [403, 403, 101, 101]
    listed = await make_client(cors_allowed_origins=(CONSOLE,))
    assert [await status(listed, o) for o in (CONSOLE, CONSOLE + "/", "https://evil.example")] == [101, 101, 403]


def test_cors_configuration():
    settings = load_settings({"CORS_ALLOWED_ORIGINS": " https://Console.Allign.in/ ,http://127.0.0.1:8013"})
    assert settings.cors_allowed_origins == ("https://console.allign.in", "http://127.0.0.1:8013")
    assert load_settings({}).cors_allowed_origins == ()
    for bad in ("*", "null", "https://console.allign.in/app", "console.allign.in"):
        with pytest.raises(ConfigError, match="CORS_ALLOWED_ORIGINS"):
            load_settings({"CORS_ALLOWED_ORIGINS": bad})
    with pytest.raises(ConfigError, match="CORS_ALLOWED_ORIGINS"):
        load_settings({"WS_ALLOWED_ORIGINS": CONSOLE})


async def test_metrics_token(make_client, client):
    assert (await client.get("/metrics")).status == 200  # unset: open (local use)
    guarded = await make_client(metrics_token="s3cret-metrics-token")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-metrics-token"},
                    {"Authorization": "Basic s3cret-metrics-token"}):
        resp = await guarded.get("/metrics", headers=headers)
        assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer", headers
        assert (await resp.json())["code"] == "UNAUTHORIZED"
    resp = await guarded.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
    assert resp.status == 200 and "allign_http_requests_total" in await resp.text()
    assert load_settings({"METRICS_TOKEN": " t0k "}).metrics_token == "t0k"


def test_local_mode_refuses_a_public_host_with_its_builtin_secrets():
    env = {k: v for k, v in os.environ.items()
           if k not in ("ALLIGN_ENV", "JWT_SECRET", "ADMIN_BOOTSTRAP_PASSWORD", "LIVEKIT_API_SECRET",
                        "OTP_TEST_NUMBERS")}
    proc = subprocess.run([sys.executable, "run.py"], env={**env, "HOST": "0.0.0.0"}, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "HOST=0.0.0.0" in line and "JWT_SECRET" in line and "ADMIN_BOOTSTRAP_PASSWORD" in line
    # Loopback is fine; so is a public HOST once every built-in secret is replaced.
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_listen_address(load_settings({"HOST": host}))
    own = {"HOST": "0.0.0.0", "JWT_SECRET": "j" * 40, "ADMIN_BOOTSTRAP_PASSWORD": "a-real-password",
           "LIVEKIT_API_SECRET": "l" * 40, "OTP_TEST_NUMBERS": ""}
    check_listen_address(load_settings(own))
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        check_listen_address(load_settings({**own, "JWT_SECRET": ""}))
    check_listen_address(load_settings({"HOST": "0.0.0.0", "ALLIGN_ENV": "test"}))
