"""CORS as a browser meets it: headless Chromium on pages served from other local origins.

A doctor console served from an allowed origin logs in with `fetch` (a preflighted JSON POST, reading
the exposed X-Request-ID), opens an EventSource on the request stream (token in the query), accepts
the request with `fetch` and an Authorization header, opens the session's WebSocket and receives the
patient's message. A page from an origin that is not in CORS_ALLOWED_ORIGINS, given the same token,
gets nothing: its fetch fails, its EventSource fails for good, its WebSocket is refused.
"""
from __future__ import annotations

import json
import uuid

from aiohttp import web

from tests import factories
from tests.browser import chromium, chromium_or_skip

PAGE = """<!doctype html>
<meta charset="utf-8"><title>console</title>
<script>
window.log = [];
const API = new URLSearchParams(location.search).get("api") + "/api/v2";
function note(...entry) { window.log.push(entry); }
function seen(kind) { return window.log.filter(entry => entry[0] === kind); }
async function login(email, password) {
  try {
    const r = await fetch(API + "/auth/doctor/login", {method: "POST",
      headers: {"Content-Type": "application/json", "X-Request-ID": "console-login"},
      body: JSON.stringify({email, password})});
    const body = await r.json();
    window.token = body.access_token;
    note("login", r.status, r.headers.get("X-Request-ID"));
  } catch (e) { note("login_failed", String(e)); }
}
function listen(token) {
  const es = new EventSource(API + "/connect/sessions/requests/stream?access_token=" + encodeURIComponent(token));
  es.onopen = () => note("sse_open");
  es.onerror = () => note("sse_error", es.readyState);
  es.addEventListener("session_requested", e => note("session_requested", JSON.parse(e.data)));
  window.es = es;
}
async function accept(id, token) {
  try {
    const r = await fetch(API + "/connect/sessions/" + id + "/accept",
                          {method: "POST", headers: {"Authorization": "Bearer " + token}});
    note("accept", r.status);
  } catch (e) { note("accept_failed", String(e)); }
}
function connect(id, token) {
  const ws = new WebSocket(API.replace(/^http/, "ws") + "/connect/sessions/" + id + "/ws?access_token="
                           + encodeURIComponent(token));
  ws.onopen = () => note("ws_open");
  ws.onmessage = e => note("frame", JSON.parse(e.data));
  ws.onerror = () => note("ws_error");
  ws.onclose = e => note("ws_closed", e.code);
}
</script>
<p>console</p>
"""


async def _page_server(aiohttp_server) -> str:
    """A static console page on its own port: its own origin."""
    app = web.Application()

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app.router.add_get("/console.html", page)
    server = await aiohttp_server(app, host="127.0.0.1")
    return f"http://127.0.0.1:{server.port}"


async def test_console_from_allowed_origin_and_nothing_for_others(aiohttp_server, make_client, db, auth):
    chromium_or_skip()
    allowed, foreign = await _page_server(aiohttp_server), await _page_server(aiohttp_server)
    client = await make_client(cors_allowed_origins=(allowed,))
    api = f"http://127.0.0.1:{client.server.port}"
    doctor = await factories.make_doctor(db)
    patient = await factories.make_user(db)
    await factories.make_wallet(db, patient["id"], 100_000)
    patient_auth = auth("client", patient["id"])

    async with chromium() as browser:
        console = await browser.open(f"{allowed}/console.html?api={api}")
        other = await browser.open(f"{foreign}/console.html?api={api}")

        # Log in with fetch: preflighted JSON, the echoed X-Request-ID readable (exposed).
        await console.evaluate(f"login({doctor['email']!r}, {factories.PASSWORD!r})")
        assert await console.evaluate("seen('login')") == [["login", 200, "console-login"]]
        token = await console.evaluate("window.token")
        await other.evaluate(f"login({doctor['email']!r}, {factories.PASSWORD!r})")
        assert [entry[0] for entry in await other.evaluate("window.log")] == ["login_failed"]

        # The request stream: open for the console; failed for good (CLOSED, no retry) for the other.
        await console.evaluate(f"listen({token!r})")
        await other.evaluate(f"listen({token!r})")
        await console.wait_for("seen('sse_open').length === 1")
        await other.wait_for("seen('sse_error').length >= 1 && window.es.readyState === EventSource.CLOSED")

        created = await client.post("/api/v2/connect/sessions", headers=patient_auth,
                                    json={"target_doctor_id": str(doctor["id"]), "category": "Urology"})
        assert created.status == 201, await created.text()
        session_id = (await created.json())["session_id"]
        [[_, item]] = await console.wait_for("seen('session_requested').length && seen('session_requested')")
        assert item["session_id"] == session_id and item["category"] == "Urology"

        # Accept with an Authorization header (preflighted), then the session's websocket.
        await console.evaluate(f"accept({session_id!r}, {token!r})")
        assert await console.evaluate("seen('accept')") == [["accept", 200]]
        await console.evaluate(f"connect({session_id!r}, {token!r})")
        await other.evaluate(f"connect({session_id!r}, {token!r})")
        await console.wait_for("seen('ws_open').length === 1")
        await other.wait_for("seen('ws_closed').length === 1")

        sent = await client.post(f"/api/v2/connect/sessions/{session_id}/messages", headers=patient_auth,
                                 json={"client_message_id": str(uuid.uuid4()), "content_type": "text",
                                       "content": "Namaste doctor"})
        assert sent.status == 201, await sent.text()
        frames = await console.wait_for(
            "seen('frame').filter(e => e[1].type === 'message.new').map(e => e[1]).length"
            " && seen('frame').filter(e => e[1].type === 'message.new').map(e => e[1])")
        assert [f["data"]["content"] for f in frames] == ["Namaste doctor"]

        # The foreign page: nothing came through, by any of the three ways.
        log = await other.evaluate("window.log")
        kinds = [entry[0] for entry in log]
        assert not {"login", "sse_open", "session_requested", "ws_open", "frame"} & set(kinds), json.dumps(log)
        assert ["ws_closed", 1006] in log
