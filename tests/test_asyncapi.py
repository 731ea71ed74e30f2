"""The realtime protocol written down (gateway.asyncapi, GET /api/v2/asyncapi.json, /api/v2/docs/realtime).

- the document is valid AsyncAPI 3.0 (the JSON Schema of @asyncapi/specs, installed by `npm ci`) and
  every $ref in it resolves;
- it names every client frame the socket accepts (handlers/session_ws.CLIENT_TYPES) and every close
  code of gateway.ws (the contract's 4001/4008/1008/1000/1012 among them);
- served, and rendered as a page that shows every frame and close code;
- real traffic matches it: the events of a doctor's stream and the frames of a session's socket, both
  ways, each an instance of its message's payload schema.
"""
from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

from gateway import asyncapi, ws
from handlers.session_ws import CLIENT_TYPES
from tests import factories
from tests.openapi_conformance import _FORMATS
from tests.servers import SseReader

SPECS = Path(__file__).resolve().parents[1] / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
STREAM = "/api/v2/connect/sessions/requests/stream"


@pytest.fixture
def document() -> dict[str, Any]:
    return asyncapi.document("http://127.0.0.1:8000")


def test_document_is_valid_asyncapi_3(document):
    if not SPECS.is_file():
        pytest.skip("@asyncapi/specs is not installed (npm ci; scripts/system-deps.sh runs it)")
    root = json.loads(SPECS.read_text())
    resources = [(root["$id"], DRAFT7.create_resource(root))]
    resources += [(uri, DRAFT7.create_resource(schema)) for uri, schema in root["definitions"].items()]
    validator = Draft7Validator(root, registry=Registry().with_resources(resources))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(document)]
    assert not errors, "\n".join(errors)


def _refs(node: Any):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_reference_resolves(document):
    for ref in set(_refs(document)):
        assert ref.startswith("#/"), ref
        node: Any = document
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
            node = node[part]


def test_every_client_frame_and_close_code_is_named(document):
    messages = document["components"]["messages"]
    assert set(asyncapi.CLIENT_FRAMES) == CLIENT_TYPES
    for type_ in CLIENT_TYPES:
        payload = messages[f"client.{type_}"]["payload"]
        assert payload["properties"]["type"]["const"] == type_
        assert f"client.{type_}" in document["channels"]["sessionSocket"]["messages"]
        operation = document["operations"]["receive_" + type_.replace(".", "_")]
        assert operation["action"] == "receive"
    replies = document["operations"]["receive_message_send"]["reply"]["messages"]
    assert {r["$ref"].rsplit("/", 1)[1] for r in replies} == {"server.ack", "server.error"}
    constants = {name: value for name, value in vars(ws).items()
                 if isinstance(value, int) and not isinstance(value, bool) and 1000 <= value <= 4999}
    assert set(constants.values()) >= {1000, 1008, 1012, 4001, 4008}  # the contract's
    named = {row["code"] for row in document["channels"]["sessionSocket"]["x-close-codes"]}
    assert named == set(constants.values()), {n: v for n, v in constants.items() if v not in named}
    sse = document["channels"]["requestStream"]["messages"]
    assert set(sse) == {"connected", "session_requested", "session_request_removed"}


async def test_served_and_rendered(client, settings):
    resp = await client.get("/api/v2/asyncapi.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    assert await resp.json() == json.loads(json.dumps(asyncapi.document(settings.base_url)))
    page = await client.get("/api/v2/docs/realtime")
    assert page.status == 200 and page.content_type == "text/html"
    text = await page.text()
    for type_ in CLIENT_TYPES:
        assert f"id='frame-client-{type_}'" in text
    for type_ in asyncapi.SERVER_FRAMES:
        assert f"id='frame-server-{type_}'" in text
    for code in asyncapi.CLOSE_CODES:
        assert f"id='close-{code}'" in text
    for event in asyncapi.SSE_EVENTS:
        assert f"id='event-{event}'" in text
    assert "<script" not in text and "http://" not in text.replace("http://127.0.0.1:8000", "")


class Frames:
    """Checks payloads against the document's messages and records which it saw."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.seen: set[str] = set()

    def check(self, key: str, value: Any) -> None:
        message = self.document["components"]["messages"].get(key)
        assert message is not None, f"{key} is not in the document: {value}"
        root = {"components": self.document["components"], "allOf": [message["payload"]]}
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
                  for e in Draft202012Validator(root, format_checker=_FORMATS).iter_errors(value)]
        assert not errors, f"{key} {json.dumps(value)[:400]}:\n" + "\n".join(errors)
        self.seen.add(key)

    async def send(self, sock: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
        self.check(f"client.{frame['type']}", frame)
        await sock.send_json(frame)

    async def receive(self, sock: aiohttp.ClientWebSocketResponse, type_: str) -> dict[str, Any]:
        """Frames up to the first of `type_`, each checked."""
        async with asyncio.timeout(10):
            while True:
                msg = await sock.receive()
                assert msg.type == aiohttp.WSMsgType.TEXT, msg
                frame = msg.json()
                self.check(f"server.{frame['type']}", frame)
                if frame["type"] == type_:
                    return frame


async def test_real_events_and_frames_match_the_document(client, db, auth, document):
    frames = Frames(document)
    doctor = await factories.make_doctor(db)
    patient = await factories.make_user(db)
    await factories.make_wallet(db, patient["id"], 100_000)
    as_patient, as_doctor = auth("client", patient["id"]), auth("doctor", doctor["id"])

    # The request stream: connected, a live request, its removal on accept.
    stream = await client.get(STREAM, headers=as_doctor)
    assert stream.status == 200
    reader = SseReader(stream)
    connected = await reader.next()
    frames.check("sse.connected", connected.data)
    created = await client.post("/api/v2/connect/sessions", headers=as_patient,
                                json={"target_doctor_id": str(doctor["id"]), "category": "Urology"})
    assert created.status == 201, await created.text()
    session_id = (await created.json())["session_id"]
    requested = await reader.next()
    assert requested.event == "session_requested" and requested.id.isdigit()
    frames.check("sse.session_requested", requested.data)
    assert (await client.post(f"/api/v2/connect/sessions/{session_id}/accept", headers=as_doctor)).status == 200
    removed = await reader.next()
    assert removed.event == "session_request_removed"
    frames.check("sse.session_request_removed", removed.data)
    stream.close()

    # The session's socket, both parties.
    path = f"/api/v2/connect/sessions/{session_id}/ws"
    mine = await client.ws_connect(path, headers=as_patient)
    theirs = await client.ws_connect(path, headers=as_doctor)
    await frames.send(mine, {"type": "ping", "id": "p-1"})
    assert (await frames.receive(mine, "pong"))["data"]["ref"] == "p-1"
    await frames.send(mine, {"type": "typing", "data": {"is_typing": True}})
    await frames.receive(theirs, "typing")
    await frames.send(mine, {"type": "message.send", "id": 7, "data": {
        "client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "Namaste"}})
    ack = await frames.receive(mine, "ack")
    assert ack["data"]["ref"] == 7 and ack["data"]["status"] == 201
    new = await frames.receive(theirs, "message.new")
    await frames.send(theirs, {"type": "message.delivered", "id": "d", "data": {"message_ids": [new["data"]["id"]]}})
    assert (await frames.receive(theirs, "ack"))["data"] == {"ref": "d", "status": 200, "updated": 1}
    await frames.receive(mine, "message.delivered")
    await frames.send(theirs, {"type": "message.read", "data": {"message_ids": [new["data"]["id"]]}})
    await frames.receive(mine, "message.read")
    await mine.send_json({"type": "message.send", "id": "bad", "data": {"content_type": "text"}})  # invalid
    invalid = await frames.receive(mine, "error")
    assert invalid["data"]["status"] == 422 and isinstance(invalid["data"]["detail"], list)
    await mine.send_str("{not json")
    assert (await frames.receive(mine, "error"))["data"]["ref"] is None
    allowed = await client.post(f"/api/v2/connect/sessions/{session_id}/video-permission/allow", headers=as_doctor)
    assert allowed.status == 200
    permission = await frames.receive(mine, "video.permission")
    # Resuming: a new socket from the message's id gets what followed it again; `resume` on a socket
    # that has it all sends nothing twice (and the socket goes on).
    again = await client.ws_connect(f"{path}?last_event_id={new['id']}", headers=as_patient)
    assert (await frames.receive(again, "video.permission"))["id"] == permission["id"]
    await again.close()
    await frames.send(mine, {"type": "resume", "data": {"last_event_id": new["id"]}})
    await frames.send(mine, {"type": "ping", "id": 2})
    assert (await frames.receive(mine, "pong"))["data"]["ref"] == 2
    ended = await client.post(f"/api/v2/connect/sessions/{session_id}/end", headers=as_patient)
    assert ended.status == 200
    await frames.receive(theirs, "session.ended")
    async with asyncio.timeout(10):
        while (await theirs.receive()).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            pass
    assert theirs.close_code == ws.NORMAL
    await mine.close()

    assert {f"client.{t}" for t in CLIENT_TYPES} <= frames.seen
    assert {f"server.{t}" for t in ("pong", "ack", "error", "typing", "message.new", "message.delivered",
                                    "message.read", "video.permission", "session.ended")} <= frames.seen
