"""The doctor's request stream (SSE): GET /connect/sessions/requests/stream.

Order on the wire: `connected`, then (on a fresh connect, or when the client's Last-Event-ID is
outside the bus history) one `session_requested` per pending request, then live
`session_requested` / `session_request_removed`. With a Last-Event-ID inside the history, the
missed events are replayed instead of the snapshot.

Ids: `connected` and the snapshot carry the position the subscription started at (the bus tip),
live and replayed events their bus id; resuming after any of them misses nothing. A live
`session_requested` already sent in the snapshot goes out as an id-only message: the client's
cursor moves, nothing is dispatched twice. When the process stops (SIGTERM) the stream ends with a
`retry:` of at most a second, so EventSource reconnects at once, with its Last-Event-ID, to another.

The access token may come in `?access_token=` (EventSource cannot set headers): nothing here logs
the URL, and run.py runs without an access log.
"""
from __future__ import annotations

import asyncio
import logging
import random
import socket
import uuid

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from common.jsonutil import dumps_str
from domain.roles import Role
from gateway import keys
from gateway.auth import principal, requires
from gateway.bus import SHUTDOWN, SLOW_CONSUMER, Subscription, SubscriptionClosed, parse_event_id
from gateway.openapi_doc import SESSIONS, Reply, doc, header, query_param
from storage.events import doctor_requests_channel
from storage.session_requests import pending_requests

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
PING = b": ping\r\n\r\n"
NOTHING_SHOWN: frozenset[str] = frozenset()
HUNG_PEER_TIMEOUT_MS = 120_000  # as aiohttp-sse: the kernel drops a peer that acknowledges nothing
SHUTDOWN_RETRY_MS = (50, 1000)  # the `retry` sent as a stopping process ends its streams


class RequestStream(EventSourceResponse):
    """aiohttp-sse's response (headers, event formatting) without its ping task: the handler pings
    between events itself, so an idle stream costs one task, not two."""

    async def prepare(self, request: web.BaseRequest):
        if self.prepared:
            return self._payload_writer
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None and hasattr(socket, "TCP_USER_TIMEOUT") and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, HUNG_PEER_TIMEOUT_MS)
        writer = await web.StreamResponse.prepare(self, request)
        self.enable_chunked_encoding()
        return writer


def _last_event_id(request: web.Request) -> int | None:
    return parse_event_id(request.headers.get("Last-Event-ID") or request.query.get("last_event_id"))


@routes.get("/connect/sessions/requests/stream")
@doc("The doctor's request stream (Server-Sent Events)", tag=SESSIONS, query_token=True,
     parameters=(header("Last-Event-ID", "Resume after this event id (EventSource sends it on reconnect)", required=False),
                 query_param("last_event_id", "The same, for clients that cannot set headers")),
     responses={200: Reply("`text/event-stream`: `connected` {doctor_id}, one `session_requested` per pending "
                           "request, then live `session_requested` / `session_request_removed`; a comment ping every "
                           "15 s; every event has an `id` to resume from. Events: /api/v2/asyncapi.json.",
                           schema={"type": "string"}, content_type="text/event-stream")},
     description="EventSource cannot set headers: the token may come as `?access_token=`.")
@requires(Role.DOCTOR, allow_query_token=True)
async def request_stream(request: web.Request) -> web.StreamResponse:
    app = request.app
    doctor_id = principal(request).id
    after = _last_event_id(request)
    async with app[keys.BUS].subscribe(doctor_requests_channel(doctor_id), after=after, transport="sse") as sub:
        with app[keys.STREAMS].track(request, "sse", subject=doctor_id, principal=principal(request)) as conn:
            conn.on_close(sub.close)  # client gone or shutdown: stop waiting for events
            sub.add_close_callback(lambda reason: reason == SLOW_CONSUMER and conn.abort())
            # Read before the headers go out (after subscribing: nothing falls between the two), so
            # PostgreSQL being down answers 503 DATABASE_UNAVAILABLE instead of a stream cut short.
            pending = await _pending(request, doctor_id) if after is None or not sub.recovered else None
            resp = RequestStream()
            await resp.prepare(request)
            try:
                await _stream(request, resp, sub, doctor_id, pending)
                if sub.close_reason == SHUTDOWN:
                    # This process stops: have EventSource come back at once (to another process),
                    # spread over a second so a thousand consoles do not arrive together.
                    await resp.write(b"retry: %d\r\n\r\n" % random.randint(*SHUTDOWN_RETRY_MS))
            except (ConnectionError, SubscriptionClosed) as exc:
                log.info("request stream of doctor %s closed: %s", doctor_id, getattr(exc, "reason", "client gone"))
            return resp


async def _stream(request: web.Request, resp: RequestStream, sub: Subscription, doctor_id: uuid.UUID,
                  pending: list[dict] | None) -> None:
    settings = request.app[keys.SETTINGS]
    start_id = str(sub.start_position)
    await resp.send(dumps_str({"doctor_id": doctor_id}), id=start_id, event="connected",
                    retry=settings.sse_retry_ms)
    shown = await _send_snapshot(resp, pending, start_id) if pending else NOTHING_SHOWN
    loop = asyncio.get_running_loop()
    interval = settings.sse_ping_interval
    next_ping = loop.time() + interval
    while True:
        try:
            event = await sub.get(timeout=max(0.0, next_ping - loop.time()))
        except StopAsyncIteration:
            return
        if loop.time() >= next_ping:
            await resp.write(PING)
            next_ping = loop.time() + interval
        if event is None:
            continue
        if event.type == "session_requested" and str(event.data.get("session_id")) in shown:
            await resp.write(f"id: {event.id}\r\n\r\n".encode())  # cursor only, already shown
            continue
        await resp.send(dumps_str(event.data), id=event.id or None, event=event.type)


async def _pending(request: web.Request, doctor_id: uuid.UUID) -> list[dict]:
    async with request.app[keys.DB].connect() as conn:
        return list(await pending_requests(conn, doctor_id))


async def _send_snapshot(resp: RequestStream, items: list[dict], start_id: str) -> frozenset[str]:
    """One `session_requested` per pending request; returns their session ids."""
    for item in items:
        await resp.send(dumps_str(item), id=start_id, event="session_requested")
    return frozenset(str(item["session_id"]) for item in items)
