"""Avatar uploads for doctors and patients, on both blob backends."""
from __future__ import annotations

import aiohttp
import sqlalchemy as sa

from gateway import keys
from storage.blobs import AVATARS
from storage.tables import doctors, users
from tests import factories
from tests.azurite import PNG_BYTES, files_client, make_files_client, store_kind  # noqa: F401

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"j" * 3000
WEBP = b"RIFF\x00\x10\x00\x00WEBPVP8 " + b"w" * 1000


def _form(data: bytes, filename: str = "me.png", content_type: str = "image/png") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type=content_type)
    return form


async def _fetch(url: str) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            return resp.status, await resp.read(), resp.headers.get("Content-Type", "")


async def test_doctor_avatar_upload_replace_and_delete(files_client, db, auth):
    doctor = await factories.make_doctor(db)
    headers = auth("doctor", doctor["id"])
    resp = await files_client.post("/api/v2/doctors/me/avatar", data=_form(PNG_BYTES), headers=headers)
    assert resp.status == 200, await resp.text()
    first = (await resp.json())["avatar_url"]
    assert first.startswith(str(files_client.make_url("/api/v2/avatars/doctors/")))
    assert await _fetch(first) == (200, PNG_BYTES, "image/png")  # the stable URL redirects to a signed one
    redirect = await files_client.get(first.split(str(files_client.make_url("")))[-1], allow_redirects=False)
    assert redirect.status == 302 and "sig=" in redirect.headers["Location"]
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(doctors).where(doctors.c.id == doctor["id"]))).mappings().one()
    assert row["avatar_source"] == "user" and row["avatar_url"] == first

    resp = await files_client.post("/api/v2/doctors/me/avatar", data=_form(WEBP, "me.webp", "image/webp"),
                                   headers=headers)
    second = (await resp.json())["avatar_url"]
    assert resp.status == 200 and second != first and second.endswith(".webp")
    store = files_client.server.app[keys.BLOBS]
    assert await store.verify(AVATARS, first.split("/api/v2/avatars/")[1]) is None  # the old one is gone
    assert (await _fetch(second))[1] == WEBP

    resp = await files_client.delete("/api/v2/doctors/me/avatar", headers=headers)
    body = await resp.json()
    assert resp.status == 200 and body["avatar_source"] == "system"
    assert body["avatar_url"].startswith("https://api.dicebear.com/")
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(doctors).where(doctors.c.id == doctor["id"]))).mappings().one()
    assert row["avatar_source"] == "system" and row["avatar_url"] is None
    assert await store.verify(AVATARS, second.split("/api/v2/avatars/")[1]) is None


async def test_patient_avatar(files_client, db, auth):
    patient = await factories.make_user(db, sex="female")
    headers = auth("client", patient["id"])
    resp = await files_client.post("/api/v2/users/me/avatar", data=_form(JPEG, "me.jpg", "image/jpeg"),
                                   headers=headers)
    url = (await resp.json())["avatar_url"]
    assert resp.status == 200 and "/api/v2/avatars/users/" in url and url.endswith(".jpg")
    assert (await _fetch(url))[1] == JPEG
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(users).where(users.c.id == patient["id"]))).mappings().one()
    assert (row["avatar_source"], row["avatar_url"]) == ("user", url)
    resp = await files_client.delete("/api/v2/users/me/avatar", headers=headers)
    assert (await resp.json())["avatar_source"] == "system"
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(users).where(users.c.id == patient["id"]))).mappings().one()
    assert (row["avatar_source"], row["avatar_url"]) == ("system", None)


async def test_avatar_rules(make_files_client, store_kind, db, auth):
    client = await make_files_client(store_kind)
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    p, d = auth("client", patient["id"]), auth("doctor", doctor["id"])
    # Type by content, not by what the client claims.
    resp = await client.post("/api/v2/users/me/avatar", data=_form(b"%PDF-1.4 not an image", "x.png"), headers=p)
    assert resp.status == 422 and (await resp.json())["detail"][0]["loc"] == ["body", "file"]
    big = PNG_BYTES + b"0" * (2 * 1024 * 1024)
    assert (await client.post("/api/v2/doctors/me/avatar", data=_form(big), headers=d)).status == 413
    exactly = PNG_BYTES + b"0" * (2 * 1024 * 1024 - len(PNG_BYTES))
    assert (await client.post("/api/v2/doctors/me/avatar", data=_form(exactly), headers=d)).status == 200
    assert (await client.post("/api/v2/users/me/avatar", json={"file": "x"}, headers=p)).status == 422
    form = aiohttp.FormData()
    form.add_field("other", "x")
    assert (await client.post("/api/v2/users/me/avatar", data=form, headers=p)).status == 422
    # Roles: each account type has its own endpoint.
    assert (await client.post("/api/v2/users/me/avatar", data=_form(PNG_BYTES), headers=d)).status == 403
    assert (await client.delete("/api/v2/doctors/me/avatar", headers=p)).status == 403
    assert (await client.post("/api/v2/users/me/avatar", data=_form(PNG_BYTES))).status == 401
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(users).where(users.c.id == patient["id"]))).mappings().one()
    assert row["avatar_source"] == "system"
