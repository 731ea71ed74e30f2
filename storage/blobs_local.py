"""Blobs as files under one directory, served by the app itself (handlers/blob_local.py).

URLs carry an HMAC signature over (permission, container, name, expiry, size limit, type) and
behave like Azure SAS URLs: a tampered, expired or wrong-permission URL is refused (403).
Layout: <root>/data/<container>/<name> and <root>/meta/<container>/<name>.json.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import uuid
from pathlib import Path
from typing import AsyncIterable
from urllib.parse import quote, urlencode

from common.signatures import same_secret
from domain.errors import Forbidden, NotFound
from domain.files import HEAD_BYTES
from common.clock import Clock
from storage.blobs import CONTAINERS, READ_URL_TTL, WRITE_URL_TTL, BlobInfo, BlobStore

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/]{0,1023}$")
READ, WRITE = "r", "cw"


def valid_name(container: str, name: str) -> bool:
    if container not in CONTAINERS or not _NAME.match(name):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


class LocalBlobStore(BlobStore):
    kind = "local"

    def __init__(self, root: str, secret: str, base_url: str, clock: Clock) -> None:
        super().__init__(clock)
        self.root = Path(root).resolve()
        self._secret = secret.encode()
        self.base_url = base_url.rstrip("/")

    async def start(self) -> None:
        def make_dirs() -> None:
            for part in ("data", "meta"):
                for container in CONTAINERS:
                    (self.root / part / container).mkdir(parents=True, exist_ok=True)
            (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(make_dirs)

    # --- paths and signatures -------------------------------------------------------------

    def _paths(self, container: str, name: str) -> tuple[Path, Path]:
        if not valid_name(container, name):
            raise NotFound("Blob not found", code="BLOB_NOT_FOUND")
        return self.root / "data" / container / name, self.root / "meta" / container / (name + ".json")

    def signature(self, perm: str, container: str, name: str, expires: int, size: str, ctype: str) -> str:
        message = "\n".join((perm, container, name, str(expires), size, ctype)).encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _url(self, perm: str, container: str, name: str, ttl: int, size: str, ctype: str) -> str:
        expires = int(self.expiry(ttl).timestamp())
        query = {"sp": perm, "se": str(expires)}
        if size:
            query["sz"] = size
        if ctype:
            query["rsct"] = ctype
        query["sig"] = self.signature(perm, container, name, expires, size, ctype)
        return f"{self.base_url}/blobs/{container}/{quote(name)}?{urlencode(query)}"

    def write_url(self, container: str, name: str, *, size: int, content_type: str,
                  ttl: int = WRITE_URL_TTL) -> str:
        self._paths(container, name)
        return self._url(WRITE, container, name, ttl, str(size), "")

    def read_url(self, container: str, name: str, *, ttl: int = READ_URL_TTL,
                 content_type: str | None = None) -> str:
        self._paths(container, name)
        return self._url(READ, container, name, ttl, "", content_type or "")

    def check_url(self, perm: str, container: str, name: str, query: dict[str, str]) -> dict[str, str]:
        """Validate a presented URL for `perm` (403 like a bad SAS); returns its signed parameters."""
        try:
            expires = int(query.get("se", ""))
        except ValueError:
            raise Forbidden("Signature invalid", code="AUTHENTICATION_FAILED") from None
        size, ctype = query.get("sz", ""), query.get("rsct", "")
        expected = self.signature(query.get("sp", ""), container, name, expires, size, ctype)
        if not same_secret(expected, query.get("sig", "")):
            raise Forbidden("Signature invalid", code="AUTHENTICATION_FAILED")
        if query.get("sp") != perm:
            raise Forbidden("This URL does not allow this operation", code="AUTHORIZATION_PERMISSION_MISMATCH")
        if self.clock.now().timestamp() > expires:
            raise Forbidden("This URL has expired", code="AUTHENTICATION_FAILED")
        return {"size": size, "content_type": ctype}

    # --- reads ----------------------------------------------------------------------------

    def _read_meta(self, meta_path: Path) -> dict:
        try:
            return json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return {}

    async def verify(self, container: str, name: str, *, head_bytes: int = HEAD_BYTES) -> BlobInfo | None:
        data_path, meta_path = self._paths(container, name)

        def read() -> BlobInfo | None:
            try:
                with open(data_path, "rb") as fh:
                    head = fh.read(head_bytes)
                    size = os.fstat(fh.fileno()).st_size
            except FileNotFoundError:
                return None
            meta = self._read_meta(meta_path)
            return BlobInfo(size=size, content_type=meta.get("content_type"), head=head,
                            metadata={k: str(v) for k, v in meta.get("metadata", {}).items()})
        return await asyncio.to_thread(read)

    async def open_for_read(self, container: str, name: str) -> tuple[Path, str]:
        """(file path, stored content type) for the download handler; NotFound when absent."""
        data_path, meta_path = self._paths(container, name)
        exists = await asyncio.to_thread(data_path.is_file)
        if not exists:
            raise NotFound("Blob not found", code="BLOB_NOT_FOUND")
        meta = await asyncio.to_thread(self._read_meta, meta_path)
        return data_path, meta.get("content_type") or "application/octet-stream"

    # --- writes ---------------------------------------------------------------------------

    async def put_stream(self, container: str, name: str, chunks: AsyncIterable[bytes],
                         content_type: str) -> int:
        data_path, meta_path = self._paths(container, name)
        tmp = self.root / "tmp" / uuid.uuid4().hex
        fh = await asyncio.to_thread(open, tmp, "wb")
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                await asyncio.to_thread(fh.write, chunk)
            await asyncio.to_thread(fh.close)

            def publish() -> None:
                data_path.parent.mkdir(parents=True, exist_ok=True)
                meta_path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, data_path)
                meta_path.write_text(json.dumps({"content_type": content_type, "metadata": {}}))
            await asyncio.to_thread(publish)
        except BaseException:
            fh.close()
            tmp.unlink(missing_ok=True)
            raise
        return size

    async def soft_delete(self, container: str, name: str) -> None:
        _, meta_path = self._paths(container, name)

        def mark() -> None:
            meta = self._read_meta(meta_path)
            meta.setdefault("metadata", {})["deleted_at"] = self.clock.now().isoformat()
            if meta_path.parent.is_dir():
                meta_path.write_text(json.dumps(meta))
        await asyncio.to_thread(mark)

    async def delete(self, container: str, name: str) -> None:
        data_path, meta_path = self._paths(container, name)

        def remove() -> None:
            data_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
        await asyncio.to_thread(remove)
