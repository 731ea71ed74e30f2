"""Avatar use cases for patients and doctors: upload (replacing the previous one) and removal.

The image (JPEG/PNG/WebP by its bytes, ≤ 2 MB) is streamed into the avatars container under a new
random name; the profile keeps a stable app URL (domain.avatars.stable_url) that the app redirects to
a fresh short-lived read URL. The replaced blob is deleted after the commit. The blob store is passed in.
"""
from __future__ import annotations

import uuid
from typing import AsyncIterable

from domain import avatars as rules
from domain.errors import NotFound
from domain.files import AVATAR_MAX_BYTES
from services.context import Caller, Context, transaction
from storage import blobs, files
from storage.blobs import AVATARS, BlobStore


def _no_account() -> NotFound:
    return NotFound("Account not found")


async def upload(ctx: Context, store: BlobStore, caller: Caller, chunks: AsyncIterable[bytes]) -> str:
    """Store the image and make it the caller's avatar; its stable URL."""
    head, stream = await blobs.peek(chunks)
    content_type = rules.image_type(head)
    blob_name = rules.blob_name(caller.role, caller.id, content_type, uuid.uuid4())
    await store.put_stream(AVATARS, blob_name, blobs.limited(stream, AVATAR_MAX_BYTES), content_type)
    url = rules.stable_url(ctx.settings.base_url, blob_name)
    async with transaction(ctx) as conn:
        before = await files.lock_avatar(conn, caller.role, caller.id)
        if before is not None:
            await files.set_avatar(conn, caller.role, caller.id, source=rules.USER_SOURCE, url=url, now=ctx.now())
    if before is None:
        await blobs.quietly(store.delete(AVATARS, blob_name), "orphan avatar")
        raise _no_account()
    if old := rules.blob_of(before["avatar_url"]):
        await blobs.quietly(store.delete(AVATARS, old), "old avatar")
    return url


async def remove(ctx: Context, store: BlobStore, caller: Caller) -> str:
    """Back to the system avatar; its URL."""
    async with transaction(ctx) as conn:
        before = await files.lock_avatar(conn, caller.role, caller.id)
        if before is not None:
            await files.set_avatar(conn, caller.role, caller.id, source=rules.SYSTEM_SOURCE, url=None, now=ctx.now())
    if before is None:
        raise _no_account()
    if old := rules.blob_of(before["avatar_url"]):
        await blobs.quietly(store.delete(AVATARS, old), "old avatar")
    return rules.system_avatar_url(caller.id, before["sex"])
