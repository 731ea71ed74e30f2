"""Avatar uploads for patients and doctors: parse, then services.avatars.

The image (JPEG/PNG/WebP by its bytes, ≤ 2 MB) is streamed into the avatars container. The
profile keeps a stable app URL, /api/v2/avatars/..., that redirects to a fresh short-lived read
URL, so the link in a profile never expires while the storage stays private.
"""
from __future__ import annotations

from aiohttp import web

from domain.avatars import SYSTEM_SOURCE, USER_SOURCE
from domain.roles import Role
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import DASHBOARD, FILE_PART, PUBLIC, USERS, Reply, doc, multipart
from gateway.resources import blob_store
from gateway.tx import services
from schemas.common import UUID_RE
from schemas.files import multipart_until_file
from schemas.users import AvatarOut
from services import avatars as use_cases
from services.context import Caller
from storage import blobs
from storage.blobs import AVATARS

routes = web.RouteTableDef()
AVATAR_BODY = multipart({"file": FILE_PART}, ("file",), "JPEG, PNG or WebP (by content), at most 2 MB")


def _caller(request: web.Request) -> Caller:
    who = principal(request)
    return Caller(who.role, who.id)


async def _upload(request: web.Request) -> web.Response:
    caller = _caller(request)
    _, part = await multipart_until_file(request)
    url = await use_cases.upload(services(request.app), blob_store(request.app), caller, blobs.part_chunks(part))
    return json_response({"avatar_url": url, "avatar_source": USER_SOURCE})


async def _remove(request: web.Request) -> web.Response:
    url = await use_cases.remove(services(request.app), blob_store(request.app), _caller(request))
    return json_response({"avatar_url": url, "avatar_source": SYSTEM_SOURCE})


@routes.post("/doctors/me/avatar")
@doc("Upload the doctor's avatar", tag=DASHBOARD, body=AVATAR_BODY, responses={200: AvatarOut},
     errors=(404, 413))
@requires(Role.DOCTOR)
async def upload_doctor_avatar(request: web.Request) -> web.Response:
    return await _upload(request)


@routes.delete("/doctors/me/avatar")
@doc("Back to the system avatar (doctor)", tag=DASHBOARD, responses={200: AvatarOut}, errors=(404,))
@requires(Role.DOCTOR)
async def delete_doctor_avatar(request: web.Request) -> web.Response:
    return await _remove(request)


@routes.post("/users/me/avatar")
@doc("Upload the patient's avatar", tag=USERS, body=AVATAR_BODY, responses={200: AvatarOut},
     errors=(404, 413))
@requires(Role.CLIENT)
async def upload_user_avatar(request: web.Request) -> web.Response:
    return await _upload(request)


@routes.delete("/users/me/avatar")
@doc("Back to the system avatar (patient)", tag=USERS, responses={200: AvatarOut}, errors=(404,))
@requires(Role.CLIENT)
async def delete_user_avatar(request: web.Request) -> web.Response:
    return await _remove(request)


@routes.get("/avatars/{kind:users|doctors}/{owner_id:" + UUID_RE + "}/{file:[0-9a-f]{32}\\.(?:jpg|png|webp)}")
@doc("An avatar image (the `avatar_url` of profiles)", tag=USERS, auth=PUBLIC,
     responses={302: Reply("To a short-lived read URL of the image", content_type=None,
                           headers={"Location": "The image's read URL"})}, errors=(404,))
async def avatar_redirect(request: web.Request) -> web.Response:
    """Public: avatars are shown to the other party and in listings; the random name is the key."""
    info = request.match_info
    url = blob_store(request.app).read_url(AVATARS, f"{info['kind']}/{info['owner_id']}/{info['file']}")
    raise web.HTTPFound(url, headers={"Cache-Control": "private, max-age=300"})
