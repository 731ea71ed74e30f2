"""The doctor's request stream (SSE): GET /connect/sessions/requests/stream.

Order on the wire: `connected`, then (on a fresh connect, or when the client's Last-Event-ID is
outside the bus history) one `session_requested` per pending request, then live
`session_requested` / `session_request_removed`. With a Last-Event-ID inside the history, the
missed events are replayed instead of the snapshot.

Ids: `connected` and the snapshot carry the position the subscription started at (the bus tip),
live and replayed events their bus id; resuming after any of them misses nothing. A live
`session_requested` already sent in the snapshot goes out as an id-only message: the client's
cursor moves, nothing is dispatched twice.

The access token may come in `?access_token=` (EventSource cannot set headers): nothing here logs
the URL, and run.py runs without an access log.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import uuid

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from common.jsonutil import dumps_str
from domain.roles import Role
from gateway import keys
from gateway.auth import principal, requires
from gateway.bus import SLOW_CONSUMER, Subscription, SubscriptionClosed, parse_event_id
from storage.events import doctor_requests_channel
from storage.session_requests import pending_requests

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
PING = b": ping\r\n\r\n"
NOTHING_SHOWN: frozenset[str] = frozenset()
HUNG_PEER_TIMEOUT_MS = 120_000  # as aiohttp-sse: the kernel drops a peer that acknowledges nothing


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
@requires(Role.DOCTOR, allow_query_token=True)
async def request_stream(request: web.Request) -> web.StreamResponse:
    app = request.app
    doctor_id = principal(request).id
    after = _last_event_id(request)
    async with app[keys.BUS].subscribe(doctor_requests_channel(doctor_id), after=after, transport="sse") as sub:
        with app[keys.STREAMS].track(request, "sse", subject=doctor_id, principal=principal(request)) as conn:
            conn.on_close(sub.close)  # client gone or shutdown: stop waiting for events
            sub.add_close_callback(lambda reason: reason == SLOW_CONSUMER and conn.abort())
            resp = RequestStream()
            await resp.prepare(request)
            try:
                await _stream(request, resp, sub, doctor_id, snapshot=after is None or not sub.recovered)
            except (ConnectionError, SubscriptionClosed) as exc:
                log.info("request stream of doctor %s closed: %s", doctor_id, getattr(exc, "reason", "client gone"))
            return resp


async def _stream(request: web.Request, resp: RequestStream, sub: Subscription, doctor_id: uuid.UUID, *,
                  snapshot: bool) -> None:
    settings = request.app[keys.SETTINGS]
    start_id = str(sub.start_position)
    await resp.send(dumps_str({"doctor_id": doctor_id}), id=start_id, event="connected",
                    retry=settings.sse_retry_ms)
    shown = await _send_snapshot(request, resp, doctor_id, start_id) if snapshot else NOTHING_SHOWN
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


async def _send_snapshot(request: web.Request, resp: RequestStream, doctor_id: uuid.UUID, start_id: str) -> frozenset[str]:
    """One `session_requested` per pending request; returns their session ids."""
    async with request.app[keys.DB].connect() as conn:
        items = await pending_requests(conn, doctor_id)
    for item in items:
        await resp.send(dumps_str(item), id=start_id, event="session_requested")
    return frozenset(str(item["session_id"]) for item in items) if items else NOTHING_SHOWN
