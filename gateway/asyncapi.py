"""The realtime protocol as an AsyncAPI 3.0 document (GET /api/v2/asyncapi.json): the doctor's request
stream (SSE) and the session websocket, frames in both directions, acks, errors and close codes.

Written as data here, from what handlers/session_stream.py and handlers/session_ws.py send and accept;
payloads that REST answers share (a message, a pending request, an attachment, the video permission)
are the very OutSchemas of schemas/, converted by gateway.openapi.schema_components. The operations
are the server's: it *sends* the stream's events and the server frames, and *receives* client frames
(each with its reply). tests/test_asyncapi.py checks the document against AsyncAPI's JSON Schema and
that it names every client frame the socket accepts (CLIENT_FRAMES = session_ws.CLIENT_TYPES) and
every close code of gateway.ws.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gateway import ws
from gateway.openapi import schema_components
from schemas.files import AttachmentOut
from schemas.messages import MessageCreate, MessageOut, ReceiptBody
from schemas.sessions import RequestItemOut
from schemas.video import VideoPermissionOut

STREAM_PATH = "/connect/sessions/requests/stream"
SOCKET_PATH = "/connect/sessions/{session_id}/ws"
API_PREFIX = "/api/v2"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: tuple[str, ...], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": properties}


UUID = {"type": "string", "format": "uuid"}
DATETIME = {"type": "string", "format": "date-time"}
PARTY = {"type": "string", "enum": ["patient", "doctor"]}
REF = {"type": ["string", "integer", "null"], "description": "The `id` of the client frame this answers"}
EVENT_ID = {"type": "string", "pattern": "^[0-9]+$",
            "description": "The bus position: send it back as Last-Event-ID / last_event_id / resume to miss nothing"}

# --- the doctor's request stream (SSE) -------------------------------------------------------

SSE_EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "connected": ("First event: the stream is subscribed. Its `id` is the position the stream starts at; it "
                  "carries `retry` (milliseconds EventSource waits before reconnecting).",
                  _obj(("doctor_id",), doctor_id=UUID)),
    "session_requested": ("A request waiting for this doctor: on connect one per pending request (oldest first, "
                          "with the start position as id), then each new one live. The item shape of GET "
                          "/connect/sessions/requests.", _ref("RequestItemOut")),
    "session_request_removed": ("A pending request is gone: accepted, rejected, cancelled or expired.",
                                _obj(("session_id", "status"), session_id=UUID,
                                     status={"type": "string", "enum": ["ONGOING", "REJECTED", "CANCELLED", "EXPIRED"]})),
}

# --- the session websocket ---------------------------------------------------------------------

# client frame type → (summary, data schema, the server frames that answer it)
CLIENT_FRAMES: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "ping": ("Keep-alive and clock: answered by `pong`.", {"type": "object"}, ("pong",)),
    "typing": ("Typing indicator, relayed to the other party (not stored; the same state at most once a second).",
               {"type": "object", "properties": {"is_typing": {"type": "boolean", "default": True}}}, ()),
    "message.send": ("Send a message: the body of POST .../messages, with the same idempotency. Answered by "
                     "`ack` (status 201, or 200 with the original for a repeated client_message_id) or `error`; "
                     "the other party gets `message.new`.", _ref("MessageCreate"), ("ack", "error")),
    "message.delivered": ("Mark the other party's messages delivered (as POST .../messages/delivered); `ack` "
                          "carries `updated`.", _ref("ReceiptBody"), ("ack", "error")),
    "message.read": ("Mark the other party's delivered messages read; `ack` carries `updated`.",
                     _ref("ReceiptBody"), ("ack", "error")),
    "resume": ("Replay what this socket missed after `last_event_id` (without one: from where the socket is). "
               "Inside the bus history the events are replayed; further back the database fills in the messages "
               "since then and the current video permission.",
               {"type": "object", "properties": {"last_event_id": {"type": ["string", "integer"]}}}, ()),
}

_ACK_SEND = _obj(("ref", "status", "message"), ref=REF, status={"type": "integer", "enum": [200, 201]},
                 message=_ref("MessageOut"))
_ACK_RECEIPT = _obj(("ref", "status", "updated"), ref=REF, status={"type": "integer", "enum": [200]},
                    updated={"type": "integer"})
_VALIDATION = {"type": "array", "items": _obj(("loc", "msg", "type"), loc={"type": "array", "items": {
    "type": ["string", "integer"]}}, msg={"type": "string"}, type={"type": "string"})}

# server frame type → (summary, data schema, whether its `id` is a bus position or null)
SERVER_FRAMES: dict[str, tuple[str, dict[str, Any], bool]] = {
    "message.new": ("A message in the session (the other party's, and the sender's own on their other "
                    "devices; the socket that sent it gets its `ack` instead).", _ref("MessageOut"), True),
    "message.delivered": ("The other party received these messages.",
                          _obj(("session_id", "delivered_at", "by", "message_ids"), session_id=UUID, delivered_at=DATETIME,
                               by=PARTY, message_ids={"type": "array", "items": UUID}), True),
    "message.read": ("The other party read these messages.",
                     _obj(("session_id", "read_at", "by", "message_ids"), session_id=UUID, read_at=DATETIME, by=PARTY,
                          message_ids={"type": "array", "items": UUID}), True),
    "message.attachment": ("An attachment of the session was uploaded.", _ref("AttachmentOut"), True),
    "video.permission": ("The patient's video permission changed (live events also say how), or its current "
                         "state after a database resume.", _ref("VideoPermissionEvent"), True),
    "session.ended": ("The consultation is over; the server then closes with 1000.",
                      _obj(("session_id", "ended_by", "reason", "ended_at"), session_id=UUID,
                           ended_by={"type": ["string", "null"]}, reason={"type": ["string", "null"]},
                           ended_at={"type": ["string", "null"], "format": "date-time"},
                           status={"type": "string"}, duration_seconds={"type": ["number", "null"]},
                           billed_amount={"type": ["integer", "null"], "description": "Paise"}), True),
    "typing": ("The other party is (not) typing.",
               _obj(("session_id", "from", "is_typing"), session_id=UUID, is_typing={"type": "boolean"},
                    **{"from": PARTY}), False),
    "pong": ("Answer to `ping`.", _obj(("ref", "server_time"), ref=REF, server_time=DATETIME), False),
    "ack": ("A client frame was done: for `message.send` the stored message, for receipts how many changed.",
            {"oneOf": [_ACK_SEND, _ACK_RECEIPT]}, False),
    "error": ("A client frame failed (`ref` null for a frame that could not be read: bad JSON, unknown type, "
              "too large). `status` and `code` as the REST error would have them; 10 unreadable frames close "
              "the socket with 1008.",
              _obj(("ref", "status", "code", "detail"), ref=REF, status={"type": "integer"},
                   code={"type": "string", "examples": ["VALIDATION_ERROR", "UNKNOWN_TYPE", "INVALID_JSON"]},
                   detail={"oneOf": [{"type": "string"}, _VALIDATION]}), False),
}

# code → (the reason the server sends, what it means, what a client does)
CLOSE_CODES: dict[int, tuple[str, str, str]] = {
    ws.NORMAL: ("session_ended", "The consultation is over (after `session.ended`), or the server closed normally.",
                "Do not reconnect."),
    ws.GOING_AWAY: ("(varies)", "The connection was dropped by the server's bookkeeping.", "Reconnect with last_event_id."),
    ws.POLICY_VIOLATION: ("too_many_bad_frames", "Policy: too many unreadable frames (abuse).",
                          "Fix the client; a bad Origin is refused before the upgrade with 403."),
    ws.SERVICE_RESTART: ("shutdown", "This server process is stopping.",
                         "Reconnect at once with last_event_id: another process serves."),
    ws.TRY_AGAIN_LATER: ("unavailable / database_unavailable", "The event bus or the database is in trouble.",
                         "Reconnect after a short backoff with last_event_id."),
    ws.AUTH_ENDED_CODE: ("token_expired / token_revoked", "The token the socket was opened with expired or was "
                         "revoked (logout, deactivation).", "Refresh the token, then reconnect."),
    ws.SLOW_CONSUMER_CODE: ("slow_consumer", "The client did not read its frames fast enough.",
                            "Reconnect with last_event_id; read promptly."),
}


def _frame_payload(type_: str, data: dict[str, Any], *, client: bool, durable: bool = False) -> dict[str, Any]:
    if client:
        id_schema: dict[str, Any] = {"type": ["string", "integer"], "description": "Your reference, echoed as `data.ref`"}
    elif durable:
        id_schema = EVENT_ID
    else:
        id_schema = {"type": "null", "description": "Not a bus event: nothing to resume from"}
    if client:  # a frame without `data` (or with null) counts as `{}`: needed only where it holds fields
        required = ["type", "data"] if "$ref" in data else ["type"]
        data = data if "$ref" in data else {**data, "type": ["object", "null"]}
    else:
        required = ["type", "data", "id"]
    return {"type": "object", "required": required, "properties": {
        "type": {"type": "string", "const": type_}, "data": data, "id": id_schema}}


def _messages() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """components.messages, the stream channel's and the socket channel's message refs."""
    components: dict[str, Any] = {}
    stream: dict[str, Any] = {}
    socket: dict[str, Any] = {}
    for name, (summary, data) in SSE_EVENTS.items():
        key = f"sse.{name}"
        components[key] = {"name": name, "title": f"event: {name}", "summary": summary,
                           "contentType": "text/event-stream", "payload": data,
                           "description": f"On the wire: `event: {name}`, `id: <position>`, `data: <JSON below>`."}
        stream[name] = {"$ref": f"#/components/messages/{key}"}
    for name, (summary, data, _replies) in CLIENT_FRAMES.items():
        key = f"client.{name}"
        components[key] = {"name": name, "title": f"client → server: {name}", "summary": summary,
                           "payload": _frame_payload(name, data, client=True)}
        socket[key] = {"$ref": f"#/components/messages/{key}"}
    for name, (summary, data, durable) in SERVER_FRAMES.items():
        key = f"server.{name}"
        components[key] = {"name": name, "title": f"server → client: {name}", "summary": summary,
                           "payload": _frame_payload(name, data, client=False, durable=durable)}
        socket[key] = {"$ref": f"#/components/messages/{key}"}
    return components, stream, socket


def _servers(base_url: str) -> dict[str, Any]:
    parts = urlsplit(base_url)
    secure = parts.scheme == "https"
    host = parts.netloc or "127.0.0.1:8000"
    security = [{"$ref": "#/components/securitySchemes/bearer"}, {"$ref": "#/components/securitySchemes/queryToken"}]
    return {
        "http": {"host": host, "protocol": "https" if secure else "http", "pathname": API_PREFIX,
                 "description": "The API, for the request stream (Server-Sent Events)", "security": security},
        "websocket": {"host": host, "protocol": "wss" if secure else "ws", "pathname": API_PREFIX,
                      "description": "The API's websockets", "security": [
                          *security, {"$ref": "#/components/securitySchemes/subprotocolToken"}]},
    }


STREAM_DESCRIPTION = """`GET /api/v2/connect/sessions/requests/stream` with `Accept: text/event-stream`, a doctor's token
in `Authorization: Bearer` or (EventSource cannot set headers) `?access_token=`. Order on the wire: `connected`,
then one `session_requested` per pending request, then live `session_requested` / `session_request_removed`.
A comment line `: ping` every 15 s keeps proxies from closing an idle stream.

Every event has an `id`. A reconnect with `Last-Event-ID` (EventSource sends it by itself; or
`?last_event_id=`) replays what was missed while that id is inside the bus history; further back, the
snapshot of pending requests is sent again instead. When the server process stops, the stream ends with a
`retry:` under a second so EventSource reconnects at once, to another process. Works across processes: any
process holding the doctor's stream delivers the event."""

SOCKET_DESCRIPTION = """`GET /api/v2/connect/sessions/{session_id}/ws` for the session's patient and doctor. The token by
`Authorization: Bearer`, `?access_token=`, or the subprotocols `bearer, <token>`. Refusals come before the
upgrade as plain HTTP: 401, 403 (another role, or an Origin not in CORS_ALLOWED_ORIGINS), 404.

Frames are JSON text `{"type", "data", "id"}` both ways. Server frames carry as `id` the bus position of a
durable event (resume from it) and null otherwise; client frames carry the client's own `id`, echoed as
`data.ref` in the reply (`ack`, `error`, `pong`). Clients de-duplicate by `id` (and messages by their id).

Resume: connect with `?last_event_id=` (or `Last-Event-ID`), or send `resume`. Inside the bus history the
missed events are replayed; further back (or for a session that is over) the database fills in the messages
since then, with their current receipts, and the current video permission, as frames whose id is the
subscription's start. A session already over gets `session.ended` and the close 1000.

Close codes: see `x-close-codes` of this channel."""


def document(base_url: str) -> dict[str, Any]:
    components, stream_messages, socket_messages = _messages()
    schemas = schema_components(MessageCreate, ReceiptBody, MessageOut, AttachmentOut, VideoPermissionOut,
                                RequestItemOut)
    # The REST shape, and how it changed (live events only: a database resume sends the state alone).
    permission = schemas["VideoPermissionOut"]
    schemas["VideoPermissionEvent"] = {**permission, "properties": {
        **permission["properties"], "previous_state": {"type": "string"}, "action": {"type": "string"},
        "changed_by": PARTY, "changed_at": DATETIME}}
    operations: dict[str, Any] = {
        "sendRequestEvents": {
            "action": "send", "channel": {"$ref": "#/channels/requestStream"}, "title": "Request stream events",
            "summary": "The server sends a doctor the requests meant for them.",
            "messages": [{"$ref": f"#/channels/requestStream/messages/{name}"} for name in SSE_EVENTS],
        },
        "sendSessionEvents": {
            "action": "send", "channel": {"$ref": "#/channels/sessionSocket"}, "title": "Server frames",
            "summary": "What the server sends on a session's socket.",
            "messages": [{"$ref": f"#/channels/sessionSocket/messages/server.{name}"} for name in SERVER_FRAMES],
        },
    }
    for name, (summary, _data, replies) in CLIENT_FRAMES.items():
        operation: dict[str, Any] = {
            "action": "receive", "channel": {"$ref": "#/channels/sessionSocket"}, "title": f"Client frame {name}",
            "summary": summary, "messages": [{"$ref": f"#/channels/sessionSocket/messages/client.{name}"}],
        }
        if replies:
            operation["reply"] = {"channel": {"$ref": "#/channels/sessionSocket"},
                                  "messages": [{"$ref": f"#/channels/sessionSocket/messages/server.{r}"} for r in replies]}
        operations["receive_" + name.replace(".", "_")] = operation
    return {
        "asyncapi": "3.0.0",
        "id": "urn:allign:api:v2:realtime",
        "info": {"title": "Allign API v2: realtime", "version": "2.0.0",
                 "description": "The doctor's request stream (Server-Sent Events) and the session websocket. "
                                "Operations are the server's: it sends events and server frames, and receives "
                                "client frames. REST: /api/v2/openapi.json."},
        "defaultContentType": "application/json",
        "servers": _servers(base_url),
        "channels": {
            "requestStream": {"address": STREAM_PATH, "title": "The doctor's request stream (SSE)",
                              "servers": [{"$ref": "#/servers/http"}], "description": STREAM_DESCRIPTION,
                              "messages": stream_messages},
            "sessionSocket": {"address": SOCKET_PATH, "title": "The session websocket",
                              "servers": [{"$ref": "#/servers/websocket"}], "description": SOCKET_DESCRIPTION,
                              "parameters": {"session_id": {"description": "The connect session's id (a UUID)"}},
                              "messages": socket_messages,
                              "bindings": {"ws": {"bindingVersion": "0.1.0", "query": {
                                  "type": "object", "properties": {
                                      "access_token": {"type": "string", "description": "The access token"},
                                      "last_event_id": {"type": "string", "description": "Resume after this id"}}}}},
                              "x-close-codes": [{"code": code, "reason": reason, "meaning": meaning, "client": action}
                                                for code, (reason, meaning, action) in sorted(CLOSE_CODES.items())]},
        },
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "`Authorization: Bearer <access token>`"},
                "queryToken": {"type": "httpApiKey", "in": "query", "name": "access_token",
                               "description": "The access token in the URL (EventSource, browser websockets)"},
                "subprotocolToken": {"type": "httpApiKey", "in": "header", "name": "Sec-WebSocket-Protocol",
                                     "description": "The subprotocols `bearer, <access token>`"},
            },
        },
    }
