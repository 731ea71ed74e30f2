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

import logging

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from gateway import keys
from gateway.auth import principal, requires
from gateway.bus import SLOW_CONSUMER, SubscriptionClosed, parse_event_id
from gateway.jsonutil import dumps_str
from storage.events import doctor_requests_channel
from storage.session_requests import pending_requests

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def _last_event_id(request: web.Request) -> int | None:
    return parse_event_id(request.headers.get("Last-Event-ID") or request.query.get("last_event_id"))


@routes.get("/connect/sessions/requests/stream")
@requires("doctor", allow_query_token=True)
async def request_stream(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings = app[keys.SETTINGS]
    doctor_id = principal(request).id
    after = _last_event_id(request)
    async with app[keys.BUS].subscribe(doctor_requests_channel(doctor_id), after=after, transport="sse") as sub:
        with app[keys.STREAMS].track(request, "sse", subject=doctor_id) as conn:
            conn.on_close(sub.close)  # client gone or shutdown: stop waiting for events
            sub.add_close_callback(lambda reason: reason == SLOW_CONSUMER and conn.abort())
            resp = EventSourceResponse(ping_interval=settings.sse_ping_interval)
            await resp.prepare(request)
            try:
                async with resp:
                    await _stream(request, resp, sub, doctor_id, snapshot=after is None or not sub.recovered)
            except (ConnectionError, SubscriptionClosed) as exc:
                log.info("request stream of doctor %s closed: %s", doctor_id, getattr(exc, "reason", "client gone"))
            return resp


async def _stream(request: web.Request, resp: EventSourceResponse, sub, doctor_id, *, snapshot: bool) -> None:
    settings = request.app[keys.SETTINGS]
    start_id = str(sub.start_position)
    await resp.send(dumps_str({"doctor_id": doctor_id}), id=start_id, event="connected",
                    retry=settings.sse_retry_ms)
    shown: set[str] = set()
    if snapshot:
        async with request.app[keys.DB].connect() as conn:
            items = await pending_requests(conn, doctor_id)
        for item in items:
            shown.add(str(item["session_id"]))
            await resp.send(dumps_str(item), id=start_id, event="session_requested")
    async for event in sub:
        if event.type == "session_requested" and str(event.data.get("session_id")) in shown:
            await resp.write(f"id: {event.id}\r\n\r\n".encode())
            continue
        await resp.send(dumps_str(event.data), id=event.id or None, event=event.type)
