"""Azure Blob Storage (or Azurite) with service SAS URLs signed by the account key."""
from __future__ import annotations

import base64
import logging
from typing import AsyncIterable

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobSasPermissions, ContentSettings, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient

from domain.files import HEAD_BYTES
from gateway.clock import Clock
from storage.blobs import CONTAINERS, READ_URL_TTL, WRITE_URL_TTL, BlobInfo, BlobStore

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
        self._service = BlobServiceClient.from_connection_string(connection_string)

    async def start(self) -> None:
        for container in CONTAINERS:
            try:
                await self._service.create_container(container)
            except ResourceExistsError:
                pass

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
        await client.commit_block_list(block_ids, content_settings=ContentSettings(content_type=content_type))
        return size

    async def put_bytes(self, container: str, name: str, data: bytes, content_type: str) -> int:
        await self._client(container, name).upload_blob(
            data, overwrite=True, content_settings=ContentSettings(content_type=content_type))
        return len(data)

    async def soft_delete(self, container: str, name: str) -> None:
        try:
            await self._client(container, name).set_blob_metadata(
                {"deleted_at": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")})
        except ResourceNotFoundError:
            pass

    async def delete(self, container: str, name: str) -> None:
        try:
            await self._client(container, name).delete_blob(delete_snapshots="include")
        except ResourceNotFoundError:
            pass
