"""Azure Blob Storage (or Azurite) with service SAS URLs signed by the account key."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import AsyncIterable

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobSasPermissions, ContentSettings, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient, ExponentialRetry

from domain.errors import ServiceUnavailable
from domain.files import HEAD_BYTES
from common.clock import Clock
from storage.blobs import CONTAINERS, READ_URL_TTL, WRITE_URL_TTL, BlobInfo, BlobStore

log = logging.getLogger(__name__)
# The SDK logs every request and response header at INFO.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
BLOCK_BYTES = 1024 * 1024  # staged block size: the most a streaming upload holds in memory


def parse_connection_string(value: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in value.split(";"))):
        key, sep, val = item.partition("=")
        if sep:
            parts[key.strip()] = val.strip()
    return parts


@contextlib.asynccontextmanager
async def _storage_call():
    """Storage trouble (unreachable, throttled, refused) is a 503 for the client, never a 500."""
    try:
        yield
    except ResourceNotFoundError:
        raise
    except AzureError as exc:
        log.warning("blob storage call failed: %s", type(exc).__name__)
        raise ServiceUnavailable("File storage is temporarily unavailable", code="STORAGE_UNAVAILABLE") from None


class AzureBlobStore(BlobStore):
    kind = "azure"

    def __init__(self, connection_string: str, clock: Clock) -> None:
        super().__init__(clock)
        if not connection_string:
            raise RuntimeError("AZURE_STORAGE_CONNECTION_STRING is required when BLOB_BACKEND=azure")
        parts = parse_connection_string(connection_string)
        self.account_name = parts.get("AccountName", "")
        self.account_key = parts.get("AccountKey", "")
        if not self.account_name or not self.account_key:
            raise RuntimeError("AZURE_STORAGE_CONNECTION_STRING needs AccountName and AccountKey (for SAS)")
        # The SDK's default retries back off for minutes; a request handler cannot wait that long.
        self._service = BlobServiceClient.from_connection_string(
            connection_string, connection_timeout=5, read_timeout=60,
            retry_policy=ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=2, random_jitter_range=1))

    async def _ensure_container(self, container: str) -> None:
        try:
            await self._service.create_container(container)
        except ResourceExistsError:
            pass
        except AzureError as exc:
            # Storage down at boot should not keep the rest of the API from serving.
            log.warning("could not ensure blob container %s: %s", container, type(exc).__name__)

    async def start(self) -> None:
        await asyncio.gather(*(self._ensure_container(c) for c in CONTAINERS))

    async def close(self) -> None:
        await self._service.close()

    def _client(self, container: str, name: str):
        return self._service.get_blob_client(container, name)

    def _sas_url(self, container: str, name: str, permission: BlobSasPermissions, ttl: int, **extra) -> str:
        sas = generate_blob_sas(self.account_name, container, name, account_key=self.account_key,
                                permission=permission, expiry=self.expiry(ttl), **extra)
        return f"{self._client(container, name).url}?{sas}"

    def write_url(self, container: str, name: str, *, size: int, content_type: str,
                  ttl: int = WRITE_URL_TTL) -> str:
        # A SAS cannot bind the size: `complete` verifies it against the declaration instead.
        return self._sas_url(container, name, BlobSasPermissions(create=True, write=True), ttl)

    def read_url(self, container: str, name: str, *, ttl: int = READ_URL_TTL,
                 content_type: str | None = None) -> str:
        extra = {"content_type": content_type} if content_type else {}
        return self._sas_url(container, name, BlobSasPermissions(read=True), ttl, **extra)

    async def verify(self, container: str, name: str, *, head_bytes: int = HEAD_BYTES) -> BlobInfo | None:
        client = self._client(container, name)
        try:
            async with _storage_call():
                props = await client.get_blob_properties()
                head = b""
                if props.size:
                    downloader = await client.download_blob(offset=0, length=min(head_bytes, props.size))
                    head = await downloader.readall()
        except ResourceNotFoundError:
            return None
        return BlobInfo(size=props.size, content_type=props.content_settings.content_type, head=head,
                        metadata=dict(props.metadata or {}))

    async def put_stream(self, container: str, name: str, chunks: AsyncIterable[bytes],
                         content_type: str) -> int:
        # Staged blocks stay invisible until the block list is committed, so an upload cut off
        # midway (oversize, client gone) leaves nothing behind but blocks Azure expires itself.
        client = self._client(container, name)
        block_ids: list[BlobBlock] = []
        pending = bytearray()
        size = 0

        async def stage() -> None:
            block_id = base64.b64encode(f"{len(block_ids):08d}".encode()).decode()
            async with _storage_call():
                await client.stage_block(block_id, bytes(pending), length=len(pending))
            block_ids.append(BlobBlock(block_id=block_id))
            pending.clear()

        async for chunk in chunks:
            size += len(chunk)
            pending.extend(chunk)
            if len(pending) >= BLOCK_BYTES:
                await stage()
        if pending:
            await stage()
        if not block_ids:
            return await self.put_bytes(container, name, b"", content_type)
        async with _storage_call():
            await client.commit_block_list(block_ids, content_settings=ContentSettings(content_type=content_type))
        return size

    async def put_bytes(self, container: str, name: str, data: bytes, content_type: str) -> int:
        async with _storage_call():
            await self._client(container, name).upload_blob(
                data, overwrite=True, content_settings=ContentSettings(content_type=content_type))
        return len(data)

    async def soft_delete(self, container: str, name: str) -> None:
        try:
            async with _storage_call():
                await self._client(container, name).set_blob_metadata(
                    {"deleted_at": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")})
        except ResourceNotFoundError:
            pass

    async def delete(self, container: str, name: str) -> None:
        try:
            async with _storage_call():
                await self._client(container, name).delete_blob(delete_snapshots="include")
        except ResourceNotFoundError:
            pass
