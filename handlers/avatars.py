"""Avatar uploads for patients and doctors.

The image (JPEG/PNG/WebP by its bytes, ≤ 2 MB) is streamed into the avatars container. The
profile keeps a stable app URL, /api/v2/avatars/..., that redirects to a fresh short-lived read
URL, so the link in a profile never expires while the storage stays private.
"""
from __future__ import annotations

import re
import uuid

from aiohttp import web

from domain.avatars import system_avatar_url
from domain.errors import NotFound, ValidationFailed
from domain.files import AVATAR_MAX_BYTES, AVATAR_TYPES, EXTENSIONS, sniff_type
from gateway import keys
from gateway.resources import blob_store
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import transaction
from schemas.common import UUID_RE
from schemas.files import multipart_until_file
from storage import blobs, files
from storage.blobs import AVATARS
from storage.tables import doctors, users

routes = web.RouteTableDef()
_KINDS = {"client": ("users", users), "doctor": ("doctors", doctors)}
_STABLE_PATH = re.compile(r"/api/v2/avatars/((?:users|doctors)/" + UUID_RE + r"/[0-9a-f]{32}\.(?:jpg|png|webp))$")


def _blob_of(url: str | None) -> str | None:
    """The blob behind one of our stable avatar URLs (None for anything else)."""
    match = _STABLE_PATH.search(url or "")
    return match.group(1) if match else None


async def _upload(request: web.Request) -> web.Response:
    who = principal(request)
    kind, table = _KINDS[who.role]
    _, part = await multipart_until_file(request)
    head, chunks = await blobs.peek(blobs.part_chunks(part))
    content_type = sniff_type(head, AVATAR_TYPES)
    if content_type is None:
        raise ValidationFailed.single("body", "file", "Avatar must be a JPEG, PNG or WebP image",
                                      "unsupported_image")
    blob_name = f"{kind}/{who.id}/{uuid.uuid4().hex}.{EXTENSIONS[content_type]}"
    store = blob_store(request.app)
    await store.put_stream(AVATARS, blob_name, blobs.limited(chunks, AVATAR_MAX_BYTES), content_type)
    url = f"{request.app[keys.SETTINGS].base_url}/api/v2/avatars/{blob_name}"
    async with transaction(request.app) as conn:
        before = await files.replace_avatar(conn, table, who.id, url=url, now=request.app[keys.CLOCK].now())
    if before is None:
        await blobs.quietly(store.delete(AVATARS, blob_name), "orphan avatar")
        raise NotFound("Account not found")
    if old := _blob_of(before["avatar_url"]):
        await blobs.quietly(store.delete(AVATARS, old), "old avatar")
    return json_response({"avatar_url": url, "avatar_source": "user"})


async def _remove(request: web.Request) -> web.Response:
    who = principal(request)
    _, table = _KINDS[who.role]
    async with transaction(request.app) as conn:
        before = await files.replace_avatar(conn, table, who.id, url=None, now=request.app[keys.CLOCK].now())
    if before is None:
        raise NotFound("Account not found")
    if old := _blob_of(before["avatar_url"]):
        await blobs.quietly(blob_store(request.app).delete(AVATARS, old), "old avatar")
    return json_response({"avatar_url": system_avatar_url(who.id, before.get("sex")), "avatar_source": "system"})


@routes.post("/doctors/me/avatar")
@requires("doctor")
async def upload_doctor_avatar(request: web.Request) -> web.Response:
    return await _upload(request)


@routes.delete("/doctors/me/avatar")
@requires("doctor")
async def delete_doctor_avatar(request: web.Request) -> web.Response:
    return await _remove(request)


@routes.post("/users/me/avatar")
@requires("client")
async def upload_user_avatar(request: web.Request) -> web.Response:
    return await _upload(request)


@routes.delete("/users/me/avatar")
@requires("client")
async def delete_user_avatar(request: web.Request) -> web.Response:
    return await _remove(request)


@routes.get("/avatars/{kind:users|doctors}/{owner_id:" + UUID_RE + "}/{file:[0-9a-f]{32}\\.(?:jpg|png|webp)}")
async def avatar_redirect(request: web.Request) -> web.Response:
    """Public: avatars are shown to the other party and in listings; the random name is the key."""
    info = request.match_info
    url = blob_store(request.app).read_url(AVATARS, f"{info['kind']}/{info['owner_id']}/{info['file']}")
    raise web.HTTPFound(url, headers={"Cache-Control": "private, max-age=300"})
