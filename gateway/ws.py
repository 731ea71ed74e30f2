"""Websocket plumbing shared by websocket endpoints: credentials, origin check, frames, closing.

Frames are JSON objects `{"type", "data", "id"}` both ways. Server → client: `id` is the bus event
id (the resume cursor) for durable events and null for everything else (pong, ack, error, typing).
Client → server: `id` is the client's own reference, echoed back as `data.ref` in the reply.

Everything that can refuse a connection does so BEFORE the upgrade, as plain HTTP (401/403/404),
so a browser or mobile client sees a status code instead of an opaque close.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from domain.errors import Forbidden, Unauthorized
from gateway.auth import bearer_token
from common.jsonutil import dumps_str

log = logging.getLogger(__name__)

BEARER_PROTOCOL = "bearer"
MAX_FRAME_BYTES = 64 * 1024          # larger client frames get an error frame
HARD_FRAME_LIMIT = 4 * MAX_FRAME_BYTES  # beyond this aiohttp closes with 1009 before we see it
MAX_BAD_FRAMES = 10
CLOSE_TIMEOUT = 3.0                  # how long a close waits for the client's close frame

# Close codes (RFC 6455 and the application range).
NORMAL, GOING_AWAY, POLICY_VIOLATION, TRY_AGAIN_LATER = 1000, 1001, 1008, 1013
SERVICE_RESTART = 1012  # this process is stopping (SIGTERM): reconnect at once, another one serves
SLOW_CONSUMER_CODE = 4008
AUTH_ENDED_CODE = 4001  # the token the socket was opened with expired or was revoked


def credentials(request: web.Request) -> tuple[str, bool]:
    """(access token, whether it came as a subprotocol) from the header, `?access_token=`, or
    `Sec-WebSocket-Protocol: bearer, <token>` (browsers cannot set headers on a websocket)."""
    token = bearer_token(request, allow_query=True)
    if token:
        return token, False
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    if len(offered) >= 2 and offered[0].lower() == BEARER_PROTOCOL:
        return offered[1], True
    raise Unauthorized()


def check_origin(request: web.Request, allowed: tuple[str, ...]) -> None:
    """Browsers send Origin; a page from a foreign site must not ride on a user's token. Accepted: no
    Origin (native apps, servers), the API's own host, or one of `allowed` (CORS_ALLOWED_ORIGINS,
    normalized by config: lower case, no trailing slash)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    origin = origin.lower().rstrip("/")
    if origin not in allowed and origin.partition("://")[2] != request.host.lower():
        raise Forbidden("Origin not allowed", code="ORIGIN_NOT_ALLOWED")


def make_response(*, heartbeat: float, subprotocol: bool) -> web.WebSocketResponse:
    # No permessage-deflate: chat frames are small, and a zlib context per socket costs ~300 KB.
    return web.WebSocketResponse(heartbeat=heartbeat or None, protocols=(BEARER_PROTOCOL,) if subprotocol else (),
                                 compress=False, max_msg_size=HARD_FRAME_LIMIT, timeout=CLOSE_TIMEOUT)


def frame(type_: str, data: Any, id_: str | None = None) -> str:
    return dumps_str({"type": type_, "data": data, "id": id_})


class FrameError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class ClientFrame:
    type: str
    data: dict[str, Any]
    ref: Any  # the client's `id`, echoed in replies


def parse(msg: Any, known_types: frozenset[str]) -> ClientFrame:
    """One client message → ClientFrame, or FrameError (answered with an `error` frame)."""
    if msg.type == WSMsgType.BINARY:
        raise FrameError("BINARY_NOT_SUPPORTED", "Send JSON text frames")
    raw = msg.data
    if len(raw) > MAX_FRAME_BYTES:
        raise FrameError("FRAME_TOO_LARGE", f"Frames are limited to {MAX_FRAME_BYTES} bytes")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FrameError("INVALID_JSON", "Frame is not valid JSON") from None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise FrameError("INVALID_FRAME", 'A frame is an object {"type", "data", "id"}')
    data = value.get("data") if value.get("data") is not None else {}
    if not isinstance(data, dict):
        raise FrameError("INVALID_FRAME", "`data` must be an object")
    if value["type"] not in known_types:
        raise FrameError("UNKNOWN_TYPE", f"Unknown frame type {value['type'][:40]!r}")
    ref = value.get("id")
    if not isinstance(ref, (str, int)) or isinstance(ref, bool):
        ref = None
    return ClientFrame(value["type"], data, ref)


async def close(ws: web.WebSocketResponse, code: int, reason: str, *,
                abort: web.Request | None = None) -> None:
    """Close with `code` and `reason`. `abort=request`: the client may not be reading at all, so
    do not wait for it; give the buffered frames (the close frame last) CLOSE_TIMEOUT to reach it,
    then drop the TCP connection."""
    if not ws.closed:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT + 1):
                await ws.close(code=code, message=reason.encode()[:120], drain=abort is None)
    transport = abort.transport if abort is not None else None
    if transport is not None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_TIMEOUT
        while not transport.is_closing() or transport.get_write_buffer_size():
            if loop.time() > deadline:
                break
            await asyncio.sleep(0.05)
        transport.abort()
