"""The session websocket: GET /connect/sessions/{id}/ws, for the session's two participants.

Server → client frames (`{"type", "data", "id"}`, id = bus event id for durable events):
`message.new`, `message.delivered`, `message.read`, `message.attachment`, `video.permission`,
`session.ended` (then the server closes with 1000), `typing` (from the other party), and replies
`pong`, `ack`, `error` (id null, the client's frame id in `data.ref`).
Client → server: `ping`, `typing` {is_typing}, `message.send` (the POST body), `message.delivered` /
`message.read` {message_ids}, `resume` {last_event_id}.

A message sent on a socket is answered there by its `ack` (which carries the stored message), not
by its `message.new` echo; the sender's other sockets (other devices) do get the `message.new`.
Everything arrives through the event bus, so the two participants may sit on different processes.
Resuming (`?last_event_id=` or a `resume` frame): inside the bus history the missed events are
replayed; further back (or for a session that is over) the database fills in: the messages since
then (with their current receipts) and the current video permission, as frames carrying the
subscription's start position as id, so the client's cursor moves on. Clients deduplicate by id
(and messages by message id), as the bus guarantee says.

Closing: session over 1000 "session_ended"; slow client 4008 "slow_consumer"; 10 bad frames 1008;
token expired or logged out 4001 "token_expired" / "token_revoked";
server shutdown (SIGTERM) 1012 "shutdown": reconnect at once with the last event id, another
process serves; bus or database trouble 1013 with the reason. Heartbeat pings (settings.ws_heartbeat)
close a client that stops answering.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import time
import uuid
from typing import Any

import asyncpg
from aiohttp import WSMsgType, web

from common.jsonutil import isoformat
from common.tasks import stop_task
from domain.errors import ApiError, Forbidden
from domain.messages import party
from domain.roles import Role
from domain.sessions import TERMINAL
from gateway import keys
from gateway import ws as wsu
from gateway.auth import Principal, authenticate
from gateway.bus import SHUTDOWN, SLOW_CONSUMER, SlowConsumer, Subscription, parse_event_id
from gateway.connections import TOKEN_EXPIRED, TOKEN_REVOKED
from gateway.openapi_doc import MESSAGES, Reply, doc, header, query_param
from gateway.tx import services
from schemas.common import UUID_RE, load, path_uuid
from schemas.messages import MessageCreate, ReceiptBody, message_out
from schemas.video import permission_out
from services import messages as message_use_cases
from services.context import Caller
from storage import messages as message_store
from storage.events import session_channel
from storage.pool import DatabaseUnavailable, PoolTimeout
from storage.session_access import session_for_participant

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

CLIENT_TYPES = frozenset({"ping", "typing", "message.send", "message.delivered", "message.read", "resume"})
DB_REPLAY_LIMIT = 500
DB_REPLAY_MARGIN = dt.timedelta(seconds=2)  # clock skew between the app and PostgreSQL
TYPING_INTERVAL = 1.0                         # same-state typing frames relayed at most this often
ACKED_LIMIT = 256
MESSAGE_CREATE = MessageCreate()  # schemas keep no state between loads; building one costs more than loading


@routes.get("/connect/sessions/{session_id:" + UUID_RE + "}/ws")
@doc("The session websocket", tag=MESSAGES, auth=(Role.CLIENT, Role.DOCTOR), query_token=True,
     parameters=(query_param("last_event_id", "Resume after this event id"),
                 header("Sec-WebSocket-Protocol", "`bearer, <access token>`: the token as a subprotocol", required=False)),
     responses={101: Reply("Switching Protocols: JSON frames `{type, data, id}` both ways, described with the close "
                           "codes in /api/v2/asyncapi.json (readable at /api/v2/docs/realtime).", content_type=None)},
     errors=(400, 404), description="Refusals come before the upgrade, as plain HTTP: 401, 403 (role or "
     "Origin not allowed), 404 (not a participant).")
async def session_ws(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings = app[keys.SETTINGS]
    wsu.check_origin(request, settings.cors_allowed_origins)
    token, via_subprotocol = wsu.credentials(request)
    who = await authenticate(request, token)
    if who.role not in (Role.CLIENT, Role.DOCTOR):
        raise Forbidden("This action is not allowed for your role", code="WRONG_ROLE")
    session_id = path_uuid(request, "session_id")
    async with app[keys.DB].connect() as conn:
        await session_for_participant(conn, session_id, who.role, who.id)
    after = parse_event_id(request.query.get("last_event_id") or request.headers.get("Last-Event-ID"))
    return await SessionSocket(request, who, session_id, via_subprotocol).run(after)


def _close_for(reason: str | None) -> tuple[int, str, bool]:
    """(code, reason, abort) for a subscription the bus closed."""
    if reason == SLOW_CONSUMER:
        return wsu.SLOW_CONSUMER_CODE, SLOW_CONSUMER, True
    if reason == SHUTDOWN:
        return wsu.SERVICE_RESTART, SHUTDOWN, False
    return wsu.TRY_AGAIN_LATER, reason or "closed", False


class SessionSocket:
    def __init__(self, request: web.Request, who: Principal, session_id: uuid.UUID, via_subprotocol: bool) -> None:
        self.request = request
        self.app = request.app
        self.who = who
        self.party = party(who.role)
        self.session_id = session_id
        self.channel = session_channel(session_id)
        self.ws = wsu.make_response(heartbeat=self.app[keys.SETTINGS].ws_heartbeat, subprotocol=via_subprotocol)
        # Highest bus position sent on this socket: a `resume` re-reads history after its id, and
        # durable events come in position order, so anything at or below it was sent already.
        self._sent_upto = 0
        self.bad_frames = 0
        self._pump: asyncio.Task | None = None
        self._closing: asyncio.Task | None = None
        self._typing: tuple[bool | None, float] = (None, 0.0)
        self._sender: message_use_cases.Sender | None = None  # from the first send, for every later send
        # Bus position this socket has passed (its subscription's start, then each event taken off
        # it): where a `resume` without an id goes on from.
        self._cursor: int | None = None
        # client_message_ids acknowledged on this socket: their message.new echo is not sent back
        # here (the ack carried the message); the sender's other devices still get it.
        self._acked: collections.deque[str] | None = None  # made at the first ack (memory per idle socket)

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self, after: int | None) -> web.WebSocketResponse:
        # Subscribe before the handshake completes: an event committed once the client holds an open
        # socket is after the subscription's start, so it is delivered (live or from history).
        first = self.app[keys.BUS].subscribe(self.channel, after=after, transport="ws")
        try:
            await first.__aenter__()
            await self.ws.prepare(self.request)
            with self.app[keys.STREAMS].track(self.request, "ws", subject=self.who.id, principal=self.who) as conn:
                conn.on_close(self._on_connection_closed)
                self._start_pump(after, first)
                try:
                    await self._read()
                finally:
                    await self._stop_pump()
                    if self._closing is not None:
                        await asyncio.shield(self._closing)
                    else:
                        await wsu.close(self.ws, wsu.NORMAL, "closed")
        finally:
            await first.__aexit__(None, None, None)  # idempotent: the pump may have left it already
        return self.ws

    def _finish(self, code: int, reason: str, abort: bool = False) -> None:
        """Close the socket once, from any task or callback (never inside the pump it may cancel)."""
        if self._closing is None:
            log.info("session ws %s (%s) closing: %s", self.session_id, self.party, reason)
            self._closing = asyncio.create_task(
                wsu.close(self.ws, code, reason, abort=self.request if abort else None))

    def _on_connection_closed(self, reason: str) -> None:
        if reason in (TOKEN_EXPIRED, TOKEN_REVOKED):
            self._finish(wsu.AUTH_ENDED_CODE, reason)  # reconnect with a fresh token
        elif reason == SHUTDOWN:
            self._finish(wsu.SERVICE_RESTART, reason)  # reconnect at once: another process serves
        else:
            self._finish(wsu.GOING_AWAY, reason, abort=True)

    def _start_pump(self, after: int | None, opened: Subscription | None = None) -> None:
        self._pump = asyncio.create_task(self._run_pump(after, opened), name=f"ws-pump:{self.session_id}")

    async def _stop_pump(self) -> None:
        if self._pump is not None:
            await stop_task(self._pump)
            self._pump = None

    # --- server → client ----------------------------------------------------------------------

    async def _send(self, type_: str, data: Any, id_: str | None = None) -> None:
        await self.ws.send_str(wsu.frame(type_, data, id_))

    async def _run_pump(self, after: int | None, opened: Subscription | None) -> None:
        try:
            if opened is not None:
                try:
                    await self._pump_events(after, opened)
                finally:  # leave the subscription opened before the handshake (no exit stack: memory)
                    await opened.__aexit__(None, None, None)
            else:
                async with self.app[keys.BUS].subscribe(self.channel, after=after, transport="ws") as sub:
                    await self._pump_events(after, sub)
        except SlowConsumer:
            self._finish(*_close_for(SLOW_CONSUMER))
        except (ConnectionError, RuntimeError):
            pass  # the socket is closing or the client went away: the reader notices
        except asyncio.CancelledError:
            raise
        except (DatabaseUnavailable, PoolTimeout) as exc:  # a resume while PostgreSQL is down
            log.warning("session ws %s: event pump cannot read the database (%s)", self.session_id, exc)
            self._finish(wsu.TRY_AGAIN_LATER, "database_unavailable")
        except Exception:
            log.exception("session ws %s: event pump failed", self.session_id)
            self._finish(wsu.TRY_AGAIN_LATER, "unavailable")

    async def _pump_events(self, after: int | None, sub: Subscription) -> None:
        sub.add_close_callback(lambda reason: self._finish(*_close_for(reason)))
        start_id = str(sub.start_position)
        if self._cursor is None:
            self._cursor = sub.start_position
        if await self._session_over(after, sub, start_id):
            return
        async for event in sub:
            if event.seq is not None:
                self._cursor = event.seq  # filtered or sent: either way the client is past it
            if event.type == "typing" and event.data.get("from") == self.party:
                continue  # our own typing indicator
            if event.type == "message.new" and self._is_own_ack(event.data):
                continue
            if event.seq is not None:
                if event.seq <= self._sent_upto:
                    continue  # already sent before a `resume` restarted the subscription
                self._sent_upto = event.seq
            await self._send(event.type, event.data, event.id or None)
            if event.type == "session.ended":
                self._finish(wsu.NORMAL, "session_ended")
                return
        self._finish(*_close_for(sub.close_reason))

    async def _session_over(self, after: int | None, sub: Subscription, start_id: str) -> bool:
        """Read the session now that the subscription runs (a later end arrives as an event); replay
        from the database what the bus history no longer holds; say whether it has ended. (A
        method of its own, so that the row is not kept for the socket's lifetime.)"""
        async with self.app[keys.DB].connect() as conn:
            session = dict(await session_for_participant(conn, self.session_id, self.who.role, self.who.id))
        over = session["status"] in TERMINAL
        if after is not None and (over or not sub.recovered):
            await self._replay_from_db(after, start_id, session)
        if over:
            await self._send("session.ended", _ended(session), start_id)
            self._finish(wsu.NORMAL, "session_ended")
        return over

    async def _replay_from_db(self, after: int, start_id: str, session: dict[str, Any]) -> None:
        """The client's cursor is older than the bus history: messages since then, current state."""
        async with self.app[keys.DB].connect() as conn:
            point = await message_store.event_time(conn, after)
            if point is not None:
                rows = await message_store.since(conn, self.session_id, point - DB_REPLAY_MARGIN, DB_REPLAY_LIMIT)
            else:  # unknown or pruned id: the newest messages
                rows, _, _ = await message_store.page(conn, self.session_id, limit=DB_REPLAY_LIMIT,
                                                      before=None, after=None)
        for row in rows:
            await self._send("message.new", message_out(row), start_id)
        await self._send("video.permission", permission_out(session), start_id)

    def _is_own_ack(self, message: dict[str, Any]) -> bool:
        if message.get("sender_id") != str(self.who.id):
            return False
        try:
            if self._acked is None:
                return False
            self._acked.remove(message.get("client_message_id"))
        except ValueError:
            return False
        return True

    # --- client → server ----------------------------------------------------------------------

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            try:
                client_frame = wsu.parse(msg, CLIENT_TYPES)
            except wsu.FrameError as exc:
                await self._bad_frame(exc)
                continue
            try:
                await self._dispatch(client_frame)
            except ApiError as exc:
                detail = getattr(exc, "errors", None) or exc.detail
                await self._reply_error(client_frame.ref, exc.status, exc.code, detail)
            except (ConnectionError, RuntimeError):
                return
            except PoolTimeout:
                await self._reply_error(client_frame.ref, 503, "DATABASE_UNAVAILABLE", "Database busy, try again")
            except (DatabaseUnavailable, asyncpg.QueryCanceledError):
                await self._reply_error(client_frame.ref, 503, "DATABASE_UNAVAILABLE",
                                        "Database temporarily unavailable, try again")
            except Exception:
                log.exception("session ws %s: %s failed", self.session_id, client_frame.type)
                await self._reply_error(client_frame.ref, 500, "INTERNAL_ERROR", "Internal server error")

    async def _reply_error(self, ref: Any, status: int, code: str, detail: Any) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._send("error", {"ref": ref, "status": status, "code": code, "detail": detail})

    async def _bad_frame(self, exc: wsu.FrameError) -> None:
        self.bad_frames += 1
        await self._reply_error(None, 400, exc.code, exc.detail)
        if self.bad_frames >= wsu.MAX_BAD_FRAMES:
            self._finish(wsu.POLICY_VIOLATION, "too_many_bad_frames")

    async def _dispatch(self, f: wsu.ClientFrame) -> None:
        if f.type == "ping":
            await self._send("pong", {"ref": f.ref, "server_time": isoformat(self.app[keys.CLOCK].now())})
        elif f.type == "typing":
            await self._relay_typing(bool(f.data.get("is_typing", True)))
        elif f.type == "message.send":
            body = load(MESSAGE_CREATE, f.data, "data")
            sent = await message_use_cases.send(services(self.app), Caller(self.who.role, self.who.id),
                                                self.session_id, body, known=self._sender)
            self._sender = sent.sender
            if sent.created:
                if self._acked is None:
                    self._acked = collections.deque(maxlen=ACKED_LIMIT)
                self._acked.append(str(sent.message["client_message_id"]))
            await self._send("ack", {"ref": f.ref, "status": 201 if sent.created else 200,
                                     "message": message_out(sent.message)})
        elif f.type in ("message.delivered", "message.read"):
            body = load(ReceiptBody, f.data, "data")
            mark = message_use_cases.mark_delivered if f.type == "message.delivered" else message_use_cases.mark_read
            updated = await mark(services(self.app), Caller(self.who.role, self.who.id), self.session_id,
                                 body["message_ids"])
            await self._send("ack", {"ref": f.ref, "status": 200, "updated": updated})
        elif f.type == "resume":
            await self._stop_pump()
            # Without a usable id, go on from where this socket was: the restart loses nothing.
            after = parse_event_id(str(f.data.get("last_event_id") or ""))
            self._start_pump(after if after is not None else self._cursor)

    async def _relay_typing(self, is_typing: bool) -> None:
        last_state, last_at = self._typing
        now = time.monotonic()
        if last_state == is_typing and now - last_at < TYPING_INTERVAL:
            return
        self._typing = (is_typing, now)
        await self.app[keys.BUS].publish_ephemeral(self.channel, "typing", {
            "session_id": str(self.session_id), "from": self.party, "is_typing": is_typing})


def _ended(session: dict[str, Any]) -> dict[str, Any]:
    return {"session_id": str(session["id"]), "status": session["status"], "ended_by": session["ended_by"],
            "reason": session["end_reason"], "ended_at": isoformat(session["ended_at"])}
