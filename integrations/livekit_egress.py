"""LiveKit Egress (Twirp, via livekit-api): room-composite recordings of a session's room.

With the Azure blob backend the egress uploads the MP4 straight into the `recordings`
container; with the local backend it writes wherever the egress server is configured to.
Webhooks (`egress_started` / `egress_updated` / `egress_ended`) are verified here too.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from livekit import api
from livekit.api.egress_service import EgressService
from livekit.protocol import egress as proto

from config import Settings
from storage.blobs import RECORDINGS
from storage.blobs_azure import parse_connection_string

log = logging.getLogger(__name__)
TIMEOUT = aiohttp.ClientTimeout(total=15)

_STATUS = {
    proto.EGRESS_STARTING: "STARTING",
    proto.EGRESS_ACTIVE: "ACTIVE",
    proto.EGRESS_ENDING: "STOPPING",
    proto.EGRESS_COMPLETE: "COMPLETED",
    proto.EGRESS_FAILED: "FAILED",
    proto.EGRESS_ABORTED: "FAILED",
}
WEBHOOK_EVENTS = ("egress_started", "egress_updated", "egress_ended")


class EgressUnavailable(Exception):
    """LiveKit could not be reached or refused with a server error."""


class EgressRejected(Exception):
    """LiveKit answered with a client error (e.g. the egress already ended)."""


class EgressClient:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _file_output(self, filepath: str) -> proto.EncodedFileOutput:
        output = proto.EncodedFileOutput(file_type=proto.MP4, filepath=filepath)
        if self._settings.blob_backend == "azure":
            parts = parse_connection_string(self._settings.azure_storage_connection_string)
            output.azure.CopyFrom(proto.AzureBlobUpload(account_name=parts.get("AccountName", ""),
                                                        account_key=parts.get("AccountKey", ""),
                                                        container_name=RECORDINGS))
        return output

    async def _call(self, method: str, request: Any) -> proto.EgressInfo:
        settings = self._settings
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
                service = EgressService(http, settings.livekit_url, settings.livekit_api_key,
                                            settings.livekit_api_secret, failover=False)
                return await getattr(service, method)(request)
        except api.ServerError as exc:
            if exc.status < 500:
                raise EgressRejected(f"{exc.code}: {exc.message}") from exc
            log.warning("livekit egress %s failed: %s", method, exc)
            raise EgressUnavailable(str(exc)) from exc
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            log.warning("livekit egress %s unreachable: %s", method, exc)
            raise EgressUnavailable(str(exc)) from exc

    async def start_room_composite(self, room_name: str, filepath: str) -> proto.EgressInfo:
        request = proto.RoomCompositeEgressRequest(room_name=room_name, layout="speaker",
                                                   file_outputs=[self._file_output(filepath)])
        return await self._call("start_room_composite_egress", request)

    async def stop(self, egress_id: str) -> proto.EgressInfo:
        return await self._call("stop_egress", proto.StopEgressRequest(egress_id=egress_id))


def recording_values(info: proto.EgressInfo) -> dict[str, Any]:
    """Our recording columns from LiveKit's view of an egress."""
    files = list(info.file_results) or ([info.file] if info.HasField("file") else [])
    status = _STATUS.get(info.status)
    if info.status == proto.EGRESS_LIMIT_REACHED:  # stopped at the time limit: the file is still good
        status = "COMPLETED" if files else "FAILED"
    values: dict[str, Any] = {"status": status or "FAILED"}
    if files and (files[0].filename or files[0].location):
        first = files[0]
        # The file lands at the filepath we asked for (blob_name); LiveKit's location is kept as reported.
        values.update(file_location=first.location or first.filename,
                      size_bytes=first.size or None,
                      duration_seconds=(first.duration / 1e9) if first.duration else None)
    if info.error and values["status"] == "FAILED":
        values["error"] = info.error[:500]
    return values


def verify_webhook(settings: Settings, body: str, authorization: str):
    """The WebhookEvent if the token was signed with our API secret over this very body; else raises."""
    token = authorization[7:] if authorization.lower().startswith("bearer ") else authorization
    receiver = api.WebhookReceiver(api.TokenVerifier(settings.livekit_api_key, settings.livekit_api_secret))
    return receiver.receive(body, token)
