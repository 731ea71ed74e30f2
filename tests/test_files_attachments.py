"""Session attachments and general attachments, on both blob backends (Azurite and local)."""
from __future__ import annotations

import uuid

import aiohttp
import pytest
import sqlalchemy as sa

from storage.tables import attachments, event_outbox, notifications
from tests.azurite import (  # noqa: F401
    PDF_BYTES, PNG_BYTES, files_client, get_url, make_files_client, put_url, session_parties, store_kind,
)


def _init_body(**overrides):
    return {"filename": "xray_report.pdf", "content_type": "application/pdf", "size_bytes": len(PDF_BYTES),
            **overrides}


def _form(file_bytes: bytes, filename: str = "scan.pdf", content_type: str = "application/pdf", **fields):
    form = aiohttp.FormData()
    for key, value in fields.items():
        form.add_field(key, str(value))
    form.add_field("file", file_bytes, filename=filename, content_type=content_type)
    return form


async def test_session_attachment_two_phase_upload(files_client, db, auth):
    patient, doctor, session, *_ = await session_parties(db)
    base = f"/api/v2/connect/sessions/{session['id']}/attachments"
    resp = await files_client.post(base, json=_init_body(), headers=auth("client", patient["id"]))
    assert resp.status == 201, await resp.text()
    init = await resp.json()
    assert init["status"] == "PENDING" and init["upload_mode"] == "SAS"
    assert init["required_headers"] == {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/pdf"}
    # Not uploaded yet: nothing listed, complete refuses.
    listed = await (await files_client.get(base, headers=auth("doctor", doctor["id"]))).json()
    assert listed["total"] == 0
    resp = await files_client.post(f"{base}/{init['id']}/complete", json={}, headers=auth("client", patient["id"]))
    assert resp.status == 409 and (await resp.json())["code"] == "UPLOAD_NOT_FOUND"

    assert await put_url(init["upload_url"], PDF_BYTES, init["required_headers"]) == 201
    resp = await files_client.post(f"{base}/{init['id']}/complete", json={}, headers=auth("client", patient["id"]))
    assert resp.status == 200, await resp.text()
    done = await resp.json()
    assert done["status"] == "UPLOADED" and done["size_bytes"] == len(PDF_BYTES)
    # A repeated complete is harmless and announces nothing new.
    resp = await files_client.post(f"{base}/{init['id']}/complete", headers=auth("client", patient["id"]))
    assert resp.status == 200

    async with db.connect() as conn:
        events = (await conn.execute(sa.select(event_outbox).where(
            event_outbox.c.event_type == "message.attachment"))).mappings().all()
        pushes = (await conn.execute(sa.select(notifications).where(
            notifications.c.event_type == "message.attachment"))).mappings().all()
    assert len(events) == 1 and events[0]["channel"] == f"session:{session['id']}"
    assert events[0]["data"]["id"] == init["id"] and events[0]["data"]["filename"] == "xray_report.pdf"
    assert [(p["recipient_role"], p["recipient_id"]) for p in pushes] == [("doctor", doctor["id"])]
    assert pushes[0]["data"]["attachment_id"] == init["id"] and pushes[0]["data"]["sender_role"] == "client"
    assert pushes[0]["body"] == f"{patient['full_name']} shared a file"  # never the filename

    listed = await (await files_client.get(base + "?include_download_url=true",
                                           headers=auth("doctor", doctor["id"]))).json()
    assert listed["total"] == 1 and listed["has_more"] is False
    item = listed["items"][0]
    assert item["uploader_role"] == "client" and item["expires_in"] == 600
    assert await get_url(item["download_url"]) == (200, PDF_BYTES)
    without = await (await files_client.get(base, headers=auth("client", patient["id"]))).json()
    assert "download_url" not in without["items"][0]


async def test_direct_mode_streams_through_the_app(files_client, db, auth):
    patient, doctor, session, *_ = await session_parties(db, status="ENDED")
    base = f"/api/v2/connect/sessions/{session['id']}/attachments"
    resp = await files_client.post(base, json=_init_body(upload_mode="direct"), headers=auth("doctor", doctor["id"]))
    init = await resp.json()
    assert resp.status == 201 and init["upload_mode"] == "DIRECT"
    assert init["upload_url"].endswith(f"/api/v2/attachments/{init['id']}/upload")
    # The wrong content for the declared type is refused before anything is stored.
    resp = await files_client.post(f"/api/v2/attachments/{init['id']}/upload", data=_form(PNG_BYTES),
                                   headers=auth("doctor", doctor["id"]))
    assert resp.status == 400 and (await resp.json())["code"] == "CONTENT_TYPE_MISMATCH"
    # More than declared is cut off.
    resp = await files_client.post(f"/api/v2/attachments/{init['id']}/upload",
                                   data=_form(PDF_BYTES + b"more"), headers=auth("doctor", doctor["id"]))
    assert resp.status == 413
    async with aiohttp.ClientSession() as http:  # the absolute URL works as handed out
        async with http.post(init["upload_url"], data=_form(PDF_BYTES), headers=auth("doctor", doctor["id"])) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["status"] == "UPLOADED"
    resp = await files_client.post(f"/api/v2/attachments/{init['id']}/upload", data=_form(PDF_BYTES),
                                   headers=auth("doctor", doctor["id"]))
    assert resp.status == 409
    listed = await (await files_client.get(base + "?include_download_url=1",
                                           headers=auth("client", patient["id"]))).json()
    assert await get_url(listed["items"][0]["download_url"]) == (200, PDF_BYTES)


async def test_complete_refuses_what_does_not_match_the_declaration(files_client, db, auth):
    patient, _, session, *_ = await session_parties(db)
    base = f"/api/v2/connect/sessions/{session['id']}/attachments"
    headers = auth("client", patient["id"])

    async def upload(declared: dict, data: bytes) -> aiohttp.ClientResponse:
        init = await (await files_client.post(base, json=_init_body(**declared), headers=headers)).json()
        put_headers = {"x-ms-blob-type": "BlockBlob", "Content-Type": init["content_type"]}
        assert await put_url(init["upload_url"], data, put_headers) == 201
        return await files_client.post(f"{base}/{init['id']}/complete", headers=headers)

    resp = await upload({"size_bytes": len(PDF_BYTES) + 10}, PDF_BYTES)
    assert resp.status == 400 and (await resp.json())["code"] == "SIZE_MISMATCH"
    resp = await upload({"size_bytes": len(PNG_BYTES)}, PNG_BYTES)  # a PNG declared as PDF
    assert resp.status == 400 and (await resp.json())["code"] == "CONTENT_TYPE_MISMATCH"
    resp = await upload({"content_type": "image/png", "filename": "a.png", "size_bytes": len(PNG_BYTES)}, PNG_BYTES)
    assert resp.status == 200
    async with db.connect() as conn:
        statuses = sorted((await conn.execute(sa.select(attachments.c.status))).scalars().all())
    assert statuses == ["PENDING", "PENDING", "UPLOADED"]


@pytest.mark.parametrize("body, status, where", [
    ({"size_bytes": 0}, 422, "size_bytes"),
    ({"size_bytes": -5}, 422, "size_bytes"),
    ({"size_bytes": 10 * 1024 * 1024 + 1}, 413, None),
    ({"content_type": "application/x-msdownload"}, 422, "content_type"),
    ({"filename": ""}, 422, "filename"),
    ({"size_bytes": "12"}, 422, "size_bytes"),
    ({"upload_mode": "FTP"}, 422, "upload_mode"),
])
async def test_init_validation(make_files_client, db, auth, body, status, where):
    client = await make_files_client("local")
    patient, _, session, *_ = await session_parties(db)
    resp = await client.post(f"/api/v2/connect/sessions/{session['id']}/attachments", json=_init_body(**body),
                             headers=auth("client", patient["id"]))
    assert resp.status == status
    if where:
        assert (await resp.json())["detail"][0]["loc"] == ["body", where]


async def test_filename_is_sanitised(make_files_client, db, auth):
    client = await make_files_client("local")
    patient, _, session, *_ = await session_parties(db)
    resp = await client.post(f"/api/v2/connect/sessions/{session['id']}/attachments",
                             json=_init_body(filename="../../etc/pa\x07ss\u202ewd\n" + "x" * 300 + ".pdf"),
                             headers=auth("client", patient["id"]))
    out = await resp.json()
    assert resp.status == 201
    assert out["filename"].startswith("passwdx") and out["filename"].endswith(".pdf")
    assert len(out["filename"]) <= 150 and "/" not in out["filename"] and "\x07" not in out["filename"]
    async with db.connect() as conn:
        blob = (await conn.execute(sa.select(attachments.c.blob_name))).scalar_one()
    assert ".." not in blob and blob.startswith(f"sessions/{session['id']}/attachments/")


async def test_general_attachments_scopes_and_one_shot(files_client, db, auth):
    patient, doctor, session, stranger, _ = await session_parties(db)
    p, d = auth("client", patient["id"]), auth("doctor", doctor["id"])
    # PROFILE: the owner's own space.
    resp = await files_client.post("/api/v2/attachments/init", headers=p, json={
        "scope_type": "PROFILE", "filename": "id.png", "content_type": "image/png", "size_bytes": len(PNG_BYTES)})
    init = await resp.json()
    assert resp.status == 201 and init["scope_id"] == str(patient["id"]) and init["session_id"] is None
    assert await put_url(init["upload_url"], PNG_BYTES, init["required_headers"]) == 201
    assert (await files_client.post(f"/api/v2/attachments/{init['id']}/complete", headers=p)).status == 200
    profile = await (await files_client.get("/api/v2/attachments?scope_type=PROFILE&include_download_url=true",
                                            headers=p)).json()
    assert [i["id"] for i in profile["items"]] == [init["id"]]
    assert await get_url(profile["items"][0]["download_url"]) == (200, PNG_BYTES)
    resp = await files_client.get(f"/api/v2/attachments?scope_type=PROFILE&scope_id={patient['id']}",
                                  headers=auth("client", stranger["id"]))
    assert resp.status == 404
    # SESSION scope needs scope_id.
    resp = await files_client.post("/api/v2/attachments/init", headers=p, json={
        "scope_type": "SESSION", "filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 10})
    assert resp.status == 422 and (await resp.json())["detail"][0]["loc"] == ["body", "scope_id"]
    # One-shot multipart into the session: the doctor sees it, and it is announced.
    resp = await files_client.post("/api/v2/attachments", headers=d, data=_form(
        PDF_BYTES, filename="rx notes.pdf", content_type="application/octet-stream",
        scope_type="SESSION", scope_id=session["id"]))
    assert resp.status == 201, await resp.text()
    shot = await resp.json()
    assert shot["status"] == "UPLOADED" and shot["content_type"] == "application/pdf"
    assert shot["size_bytes"] == len(PDF_BYTES) and shot["upload_mode"] == "DIRECT"
    listed = await (await files_client.get(
        f"/api/v2/attachments?scope_type=SESSION&scope_id={session['id']}&include_download_url=true&limit=1",
        headers=p)).json()
    assert listed["total"] == 1 and await get_url(listed["items"][0]["download_url"]) == (200, PDF_BYTES)
    # Same items on the session's own list.
    same = await (await files_client.get(f"/api/v2/connect/sessions/{session['id']}/attachments", headers=p)).json()
    assert [i["id"] for i in same["items"]] == [shot["id"]]
    # Only the owner deletes; the other participant gets 404.
    assert (await files_client.delete(f"/api/v2/attachments/{shot['id']}", headers=p)).status == 404
    resp = await files_client.delete(f"/api/v2/attachments/{shot['id']}", headers=d)
    assert resp.status == 204
    assert (await files_client.delete(f"/api/v2/attachments/{shot['id']}", headers=d)).status == 404
    listed = await (await files_client.get(
        f"/api/v2/attachments?scope_type=SESSION&scope_id={session['id']}", headers=p)).json()
    assert listed["total"] == 0


async def test_one_shot_rules(make_files_client, store_kind, db, auth):
    client = await make_files_client(store_kind, max_upload_bytes=64 * 1024)
    patient, _, session, *_ = await session_parties(db)
    p = auth("client", patient["id"])
    big = PDF_BYTES + b"1" * 70 * 1024
    resp = await client.post("/api/v2/attachments", headers=p, data=_form(big, scope_type="PROFILE"))
    assert resp.status == 413
    resp = await client.post("/api/v2/attachments", headers=p,
                             data=_form(b"MZ\x90\x00 not allowed", content_type="application/octet-stream",
                                        scope_type="PROFILE"))
    assert resp.status == 422
    resp = await client.post("/api/v2/attachments", headers=p,
                             data=_form(PNG_BYTES, content_type="application/pdf", scope_type="PROFILE"))
    assert resp.status == 400 and (await resp.json())["code"] == "CONTENT_TYPE_MISMATCH"
    form = aiohttp.FormData()  # the file before the scope: the scope is not known in time
    form.add_field("file", PDF_BYTES, filename="a.pdf", content_type="application/pdf")
    form.add_field("scope_type", "PROFILE")
    assert (await client.post("/api/v2/attachments", headers=p, data=form)).status == 422
    resp = await client.post("/api/v2/attachments", headers=p, json={"scope_type": "PROFILE"})
    assert resp.status == 422
    async with db.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(attachments))).scalar_one() == 0


async def test_report_and_recording_scopes_follow_their_session(make_files_client, store_kind, db, auth):
    from storage.tables import recordings
    client = await make_files_client(store_kind)
    patient, doctor, session, stranger, _ = await session_parties(db)
    async with db.begin() as conn:
        rec_id = (await conn.execute(sa.insert(recordings).values(
            session_id=session["id"], room_name=f"cn-{session['id']}", status="COMPLETED",
            started_by_role="doctor", started_by_id=doctor["id"], container="recordings",
            blob_name="x.mp4").returning(recordings.c.id))).scalar_one()
    body = {"scope_type": "RECORDING", "scope_id": str(rec_id), "filename": "transcript.pdf",
            "content_type": "application/pdf", "size_bytes": 100}
    assert (await client.post("/api/v2/attachments/init", json=body, headers=auth("doctor", doctor["id"]))).status == 201
    resp = await client.post("/api/v2/attachments/init", json=body, headers=auth("client", stranger["id"]))
    assert resp.status == 404
    body["scope_id"] = str(uuid.uuid4())
    assert (await client.post("/api/v2/attachments/init", json=body, headers=auth("doctor", doctor["id"]))).status == 404


async def test_strangers_get_404_on_every_attachment_endpoint(make_files_client, store_kind, db, auth):
    client = await make_files_client(store_kind)
    patient, doctor, session, stranger, other_doctor = await session_parties(db)
    p = auth("client", patient["id"])
    base = f"/api/v2/connect/sessions/{session['id']}/attachments"
    init = await (await client.post(base, json=_init_body(), headers=p)).json()
    await put_url(init["upload_url"], PDF_BYTES, init["required_headers"])
    for who in (auth("client", stranger["id"]), auth("doctor", other_doctor["id"])):
        calls = [
            client.post(base, json=_init_body(), headers=who),
            client.post(f"{base}/{init['id']}/complete", headers=who),
            client.get(base, headers=who),
            client.post("/api/v2/attachments/init", headers=who, json={**_init_body(), "scope_type": "SESSION",
                                                                     "scope_id": str(session["id"])}),
            client.post(f"/api/v2/attachments/{init['id']}/complete", headers=who),
            client.post(f"/api/v2/attachments/{init['id']}/upload", data=_form(PDF_BYTES), headers=who),
            client.post("/api/v2/attachments", data=_form(PDF_BYTES, scope_type="SESSION", scope_id=session["id"]),
                        headers=who),
            client.get(f"/api/v2/attachments?scope_type=SESSION&scope_id={session['id']}", headers=who),
            client.delete(f"/api/v2/attachments/{init['id']}", headers=who),
        ]
        for call in calls:
            resp = await call
            assert resp.status == 404, (resp.method, resp.url, resp.status)
    # And the owner can still complete: nothing above changed the row.
    assert (await client.post(f"{base}/{init['id']}/complete", headers=p)).status == 200
    assert (await client.get(base)).status == 401


async def test_storage_refusing_us_is_a_503(make_files_client, db, auth):
    from tests.azurite import DEV_KEY, azurite_connection_string
    wrong_key = azurite_connection_string().replace(DEV_KEY, "A" * 86 + "==")
    client = await make_files_client("azure", azure_storage_connection_string=wrong_key)
    patient, _, session, *_ = await session_parties(db)
    base = f"/api/v2/connect/sessions/{session['id']}/attachments"
    init = await (await client.post(base, json=_init_body(), headers=auth("client", patient["id"]))).json()
    assert await put_url(init["upload_url"], PDF_BYTES, init["required_headers"]) == 403
    resp = await client.post(f"{base}/{init['id']}/complete", headers=auth("client", patient["id"]))
    assert resp.status == 503 and (await resp.json())["code"] == "STORAGE_UNAVAILABLE"
    resp = await client.post("/api/v2/attachments", headers=auth("client", patient["id"]),
                             data=_form(PDF_BYTES, scope_type="PROFILE"))
    assert resp.status == 503
