"""Recordings: LiveKit egress over Twirp (a local server speaking the protocol), and its webhooks."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid

import jwt
import pytest
import sqlalchemy as sa
from aiohttp import web
from google.protobuf.json_format import MessageToJson, Parse
from livekit import api
from livekit.protocol import egress as proto
from livekit.protocol.webhook import WebhookEvent

from gateway import keys
from storage.blobs import RECORDINGS
from storage.tables import recordings
from tests.azurite import files_client, get_url, make_files_client, session_parties, store_kind  # noqa: F401

KEY, SECRET = "devkey", "local-livekit-secret-at-least-32-chars"


class FakeEgress:
    """LiveKit's Egress service as far as we use it: Twirp over HTTP, protobuf binary or JSON."""

    def __init__(self) -> None:
        self.started: list[proto.RoomCompositeEgressRequest] = []
        self.stopped: list[str] = []
        self.active: set[str] = set()
        self.fail_with: int | None = None
        self.start_delay = 0.0

    def _parse(self, request: web.Request, raw: bytes, message):
        if request.content_type == "application/json":
            return Parse(raw.decode(), message)
        message.ParseFromString(raw)
        return message

    def _reply(self, request: web.Request, message) -> web.Response:
        if request.content_type == "application/json":
            return web.Response(text=MessageToJson(message), content_type="application/json")
        return web.Response(body=message.SerializeToString(), content_type="application/protobuf")

    def _authorized(self, request: web.Request) -> bool:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer=KEY)
        except jwt.PyJWTError:
            return False
        return bool(claims.get("video", {}).get("roomRecord"))

    async def handle(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"code": "unauthenticated", "msg": "invalid token"}, status=401)
        if self.fail_with:
            return web.json_response({"code": "unavailable", "msg": "no egress workers"}, status=self.fail_with)
        raw = await request.read()
        method = request.match_info["method"]
        if method == "StartRoomCompositeEgress":
            await asyncio.sleep(self.start_delay)
            req = self._parse(request, raw, proto.RoomCompositeEgressRequest())
            self.started.append(req)
            egress_id = f"EG_{uuid.uuid4().hex[:12]}"
            self.active.add(egress_id)
            return self._reply(request, proto.EgressInfo(egress_id=egress_id, room_name=req.room_name,
                                                         status=proto.EGRESS_STARTING))
        if method == "StopEgress":
            req = self._parse(request, raw, proto.StopEgressRequest())
            if req.egress_id not in self.active:
                return web.json_response({"code": "failed_precondition", "msg": "egress not active"}, status=412)
            self.active.discard(req.egress_id)
            self.stopped.append(req.egress_id)
            return self._reply(request, proto.EgressInfo(egress_id=req.egress_id, status=proto.EGRESS_ENDING))
        return web.json_response({"code": "bad_route", "msg": method}, status=404)


@pytest.fixture
async def livekit(aiohttp_server):
    fake = FakeEgress()
    app = web.Application()
    app.router.add_post("/twirp/livekit.Egress/{method}", fake.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    fake.url = f"http://127.0.0.1:{server.port}"
    return fake


def _signed(event: WebhookEvent, secret: str = SECRET) -> tuple[str, dict[str, str]]:
    body = MessageToJson(event)
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    token = api.AccessToken(KEY, secret).with_sha256(digest).to_jwt()
    return body, {"Authorization": token, "Content-Type": "application/webhook+json"}


def _ended(egress_id: str, filename: str, status=proto.EGRESS_COMPLETE, error: str = "") -> WebhookEvent:
    info = proto.EgressInfo(egress_id=egress_id, status=status, error=error)
    if status == proto.EGRESS_COMPLETE:
        info.file_results.append(proto.FileInfo(filename=filename, location=f"https://blob/{filename}",
                                                size=4096, duration=61_500_000_000))
    return WebhookEvent(event="egress_ended", egress_info=info, id="EV_1")


async def test_recording_start_stop_webhook_and_download(make_files_client, store_kind, livekit, db, auth):
    client = await make_files_client(store_kind, livekit_url=livekit.url)
    patient, doctor, session, *_ = await session_parties(db)
    base = f"/api/v2/connect/sessions/{session['id']}/recordings"
    resp = await client.post(base, headers=auth("doctor", doctor["id"]))
    assert resp.status == 201, await resp.text()
    rec = await resp.json()
    assert rec["status"] == "STARTING" and rec["egress_id"].startswith("EG_")
    sent = livekit.started[0]
    assert sent.room_name == f"cn-{session['id']}"
    output = sent.file_outputs[0]
    assert output.filepath == f"sessions/{session['id']}/recordings/{rec['id']}.mp4"
    assert output.HasField("azure") == (store_kind == "azure")
    if store_kind == "azure":
        assert output.azure.container_name == "recordings" and output.azure.account_name == "devstoreaccount1"
    # Idempotent: the patient asking again gets the same recording.
    resp = await client.post(base, headers=auth("client", patient["id"]))
    assert resp.status == 200 and (await resp.json())["id"] == rec["id"] and len(livekit.started) == 1

    started = WebhookEvent(event="egress_updated", id="EV_0",
                           egress_info=proto.EgressInfo(egress_id=rec["egress_id"], status=proto.EGRESS_ACTIVE))
    body, headers = _signed(started)
    assert (await client.post("/api/v2/webhooks/livekit", data=body, headers=headers)).status == 200
    listed = await (await client.get(base, headers=auth("client", patient["id"]))).json()
    assert listed["items"][0]["status"] == "ACTIVE" and "download_url" not in listed["items"][0]

    resp = await client.post(f"{base}/{rec['id']}/stop", headers=auth("client", patient["id"]))
    assert resp.status == 200 and (await resp.json())["status"] == "STOPPING"
    assert livekit.stopped == [rec["egress_id"]]
    assert (await client.post(f"{base}/{rec['id']}/stop", headers=auth("doctor", doctor["id"]))).status == 200

    # The egress uploads the file; then LiveKit says it ended.
    store = client.server.app[keys.BLOBS]
    await store.put_bytes(RECORDINGS, output.filepath, b"\0\0\0\x18ftypmp42" + b"m" * 4000, "video/mp4")
    body, headers = _signed(_ended(rec["egress_id"], output.filepath))
    resp = await client.post("/api/v2/webhooks/livekit", data=body, headers=headers)
    assert resp.status == 200 and (await resp.json())["handled"] is True
    listed = await (await client.get(base, headers=auth("doctor", doctor["id"]))).json()
    item = listed["items"][0]
    assert item["status"] == "COMPLETED" and item["duration_seconds"] == 61.5 and item["size_bytes"] == 4096
    status, data = await get_url(item["download_url"])
    assert status == 200 and data.startswith(b"\0\0\0\x18ftyp")
    # A new recording can start once the previous one is over.
    resp = await client.post(base, headers=auth("doctor", doctor["id"]))
    assert resp.status == 201 and (await resp.json())["id"] != rec["id"]


async def test_webhook_signature_is_checked(make_files_client, livekit, db, auth):
    client = await make_files_client("local", livekit_url=livekit.url)
    patient, doctor, session, *_ = await session_parties(db)
    rec = await (await client.post(f"/api/v2/connect/sessions/{session['id']}/recordings",
                                   headers=auth("doctor", doctor["id"]))).json()
    event = _ended(rec["egress_id"], "x.mp4", status=proto.EGRESS_FAILED, error="no publishers")
    body, headers = _signed(event, secret="another-secret-that-is-long-enough-123")
    assert (await client.post("/api/v2/webhooks/livekit", data=body, headers=headers)).status == 401
    body, headers = _signed(event)
    tampered = body.replace("EGRESS_FAILED", "EGRESS_COMPLETE")
    assert (await client.post("/api/v2/webhooks/livekit", data=tampered, headers=headers)).status == 401
    assert (await client.post("/api/v2/webhooks/livekit", data=body)).status == 401
    async with db.connect() as conn:
        assert (await conn.execute(sa.select(recordings.c.status))).scalar_one() == "STARTING"
    resp = await client.post("/api/v2/webhooks/livekit", data=body, headers=headers)
    assert resp.status == 200
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(recordings))).mappings().one()
    assert row["status"] == "FAILED" and row["error"] == "no publishers" and row["ended_at"] is not None
    # A final state is final: a late "active" update changes nothing.
    late = WebhookEvent(event="egress_updated",
                        egress_info=proto.EgressInfo(egress_id=rec["egress_id"], status=proto.EGRESS_ACTIVE))
    body, headers = _signed(late)
    assert (await (await client.post("/api/v2/webhooks/livekit", data=body, headers=headers)).json())["handled"] is False
    body, headers = _signed(_ended("EG_unknown", "y.mp4"))
    assert (await client.post("/api/v2/webhooks/livekit", data=body, headers=headers)).status == 200


async def test_recording_rules(make_files_client, livekit, db, auth):
    client = await make_files_client("local", livekit_url=livekit.url)
    patient, doctor, session, stranger, other_doctor = await session_parties(db, status="ENDED")
    base = f"/api/v2/connect/sessions/{session['id']}/recordings"
    resp = await client.post(base, headers=auth("doctor", doctor["id"]))
    assert resp.status == 409 and (await resp.json())["code"] == "SESSION_NOT_ONGOING"
    _, _, requested, *_ = await session_parties(db, status="REQUESTED")
    assert (await client.post(f"/api/v2/connect/sessions/{requested['id']}/recordings",
                              headers=auth("client", requested["patient_id"]))).status == 409
    # Strangers see nothing.
    _, doctor2, ongoing, *_ = await session_parties(db)
    rec = await (await client.post(f"/api/v2/connect/sessions/{ongoing['id']}/recordings",
                                   headers=auth("doctor", doctor2["id"]))).json()
    ob = f"/api/v2/connect/sessions/{ongoing['id']}/recordings"
    for who in (auth("client", stranger["id"]), auth("doctor", other_doctor["id"])):
        for call in (client.post(ob, headers=who), client.get(ob, headers=who),
                     client.post(f"{ob}/{rec['id']}/stop", headers=who)):
            assert (await call).status == 404
    assert (await client.post(f"{base}/{rec['id']}/stop", headers=auth("doctor", doctor["id"]))).status == 404
    # LiveKit down: 503, and the attempt is recorded as failed so a retry can start afresh.
    livekit.fail_with = 503
    _, doctor3, third, *_ = await session_parties(db)
    resp = await client.post(f"/api/v2/connect/sessions/{third['id']}/recordings", headers=auth("doctor", doctor3["id"]))
    assert resp.status == 503 and (await resp.json())["code"] == "RECORDING_UNAVAILABLE"
    livekit.fail_with = None
    resp = await client.post(f"/api/v2/connect/sessions/{third['id']}/recordings", headers=auth("doctor", doctor3["id"]))
    assert resp.status == 201
    async with db.connect() as conn:
        states = (await conn.execute(sa.select(recordings.c.status).where(
            recordings.c.session_id == third["id"]).order_by(recordings.c.created_at))).scalars().all()
    assert states == ["FAILED", "STARTING"]


async def test_concurrent_starts_make_one_egress(make_files_client, livekit, db, auth):
    client = await make_files_client("local", livekit_url=livekit.url)
    livekit.start_delay = 0.05
    patient, doctor, session, *_ = await session_parties(db)
    base = f"/api/v2/connect/sessions/{session['id']}/recordings"
    responses = await asyncio.gather(*(client.post(base, headers=auth(role, who)) for role, who in
                                       [("client", patient["id"]), ("doctor", doctor["id"])] * 3))
    assert sorted(r.status for r in responses) == [200] * 5 + [201]
    assert len({(await r.json())["id"] for r in responses}) == 1
    assert len(livekit.started) == 1
