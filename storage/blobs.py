"""Blob storage: Azure (SAS) and local disk (HMAC-signed URLs) behind one interface.

Two-phase uploads: `write_url` hands the client a short-lived URL it PUTs raw bytes to (with
`required_headers`), `verify` then reads back what landed (size, content type, first bytes).
DIRECT uploads and server-made files (avatars, PDFs) go through `put_stream` / `put_bytes`.
Downloads are `read_url`s valid `READ_URL_TTL` seconds. Both backends behave the same to a client.
"""
from __future__ import annotations

import abc
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, AsyncIterable, AsyncIterator, Awaitable


from domain.errors import PayloadTooLarge
from domain.files import HEAD_BYTES
from common.clock import Clock

log = logging.getLogger(__name__)
SESSIONS, REPORTS, PRESCRIPTIONS, AVATARS, RECORDINGS = (
    "sessions", "reports", "prescriptions", "avatars", "recordings")
CONTAINERS = (SESSIONS, REPORTS, PRESCRIPTIONS, AVATARS, RECORDINGS)
READ_URL_TTL = 600
WRITE_URL_TTL = 600
CHUNK_BYTES = 64 * 1024
BLOCK_TYPE = {"x-ms-blob-type": "BlockBlob"}


@dataclass(frozen=True)
class BlobInfo:
    size: int
    content_type: str | None
    head: bytes
    metadata: dict[str, str] = field(default_factory=dict)


class BlobStore(abc.ABC):
    kind: str = ""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def expiry(self, ttl: int) -> dt.datetime:
        return self.clock.now() + dt.timedelta(seconds=ttl)

    @staticmethod
    def required_headers(content_type: str) -> dict[str, str]:
        """Headers the client must send with its PUT to a write URL (as Azure's Put Blob wants)."""
        return {**BLOCK_TYPE, "Content-Type": content_type}

    async def start(self) -> None:  # noqa: B027 (optional hook: a store with nothing to prepare)
        """Create missing containers."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections."""

    @abc.abstractmethod
    def write_url(self, container: str, name: str, *, size: int, content_type: str,
                  ttl: int = WRITE_URL_TTL) -> str:
        """A URL the client PUTs the blob's bytes to, valid `ttl` seconds."""

    @abc.abstractmethod
    def read_url(self, container: str, name: str, *, ttl: int = READ_URL_TTL,
                 content_type: str | None = None) -> str:
        """A read-only URL valid `ttl` seconds."""

    @abc.abstractmethod
    async def verify(self, container: str, name: str, *, head_bytes: int = HEAD_BYTES) -> BlobInfo | None:
        """What is stored under the name (size, type, first bytes), or None when nothing is."""

    @abc.abstractmethod
    async def put_stream(self, container: str, name: str, chunks: AsyncIterable[bytes],
                         content_type: str) -> int:
        """Store chunks as one blob (nothing becomes visible if the iterator raises); returns the size."""

    async def put_bytes(self, container: str, name: str, data: bytes, content_type: str) -> int:
        async def one() -> AsyncIterator[bytes]:
            yield data
        return await self.put_stream(container, name, one(), content_type)

    @abc.abstractmethod
    async def soft_delete(self, container: str, name: str) -> None:
        """Mark the blob deleted (kept for retention); no URL is issued for it any more."""

    @abc.abstractmethod
    async def delete(self, container: str, name: str) -> None:
        """Remove the blob; a missing blob is not an error."""


async def limited(chunks: AsyncIterable[bytes], max_bytes: int) -> AsyncIterator[bytes]:
    """Pass chunks through, raising 413 as soon as more than `max_bytes` went by."""
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise PayloadTooLarge(f"File too large: the limit is {max_bytes} bytes", code="FILE_TOO_LARGE")
        yield chunk


async def part_chunks(part: Any, size: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
    """The bytes of a multipart part (aiohttp BodyPartReader), chunk by chunk."""
    while True:
        chunk = await part.read_chunk(size)
        if not chunk:
            return
        yield chunk


async def peek(chunks: AsyncIterable[bytes], n: int = HEAD_BYTES) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first `n` bytes (fewer at EOF) and an iterator that still yields everything."""
    iterator = chunks.__aiter__()
    buffered: list[bytes] = []
    have = 0
    while have < n:
        try:
            chunk = await iterator.__anext__()
        except StopAsyncIteration:
            break
        buffered.append(chunk)
        have += len(chunk)
    head = b"".join(buffered)[:n]

    async def replay() -> AsyncIterator[bytes]:
        for chunk in buffered:
            yield chunk
        async for chunk in iterator:
            yield chunk

    return head, replay()


async def quietly(action: Awaitable[None], what: str) -> None:
    """Blob clean-up after a committed change: a failure is logged, the request still succeeds."""
    try:
        await action
    except Exception as exc:  # the database already says what happened; storage catches up later
        log.warning("blob clean-up failed (%s): %s", what, type(exc).__name__)


def create_store(settings: Any, clock: Clock) -> BlobStore:
    if settings.blob_backend == "azure":
        from storage.blobs_azure import AzureBlobStore
        return AzureBlobStore(settings.azure_storage_connection_string, clock)
    if settings.blob_backend == "local":
        from storage.blobs_local import LocalBlobStore
        return LocalBlobStore(settings.blob_local_dir, settings.blob_signing_secret, settings.base_url, clock)
    raise RuntimeError(f"BLOB_BACKEND must be azure or local, not {settings.blob_backend!r}")
