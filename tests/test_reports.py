"""Patient reports on a session, on both blob backends."""
from __future__ import annotations

from urllib.parse import urlencode

import sqlalchemy as sa

from storage.tables import notifications, session_reports
from tests.azurite import (  # noqa: F401
    PDF_BYTES, PNG_BYTES, files_client, get_url, make_files_client, put_url, session_parties, store_kind,
)


def _init_path(session_id, **params) -> str:
    query = {"original_filename": "blood_report.pdf", "mime_type": "application/pdf",
             "size_bytes": len(PDF_BYTES), **params}
    return f"/api/v2/connect/sessions/{session_id}/reports/init?{urlencode(query)}"


async def test_report_lifecycle(files_client, db, auth):
    patient, doctor, session, *_ = await session_parties(db, status="ENDED")
    p, d = auth("client", patient["id"]), auth("doctor", doctor["id"])
    base = f"/api/v2/connect/sessions/{session['id']}/reports"
    resp = await files_client.post(_init_path(session["id"]), headers=p)
    assert resp.status == 201, await resp.text()
    init = await resp.json()
    assert set(init) >= {"report_id", "sas_url", "required_headers", "container_name", "blob_name"}
    assert init["container_name"] == "reports"
    assert init["required_headers"] == {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/pdf"}
    assert init["blob_name"].startswith(f"sessions/{session['id']}/reports/")
    assert init["blob_name"].endswith("_blood_report.pdf")

    assert await put_url(init["sas_url"], PDF_BYTES, init["required_headers"]) == 201
    resp = await files_client.post(f"{base}/{init['report_id']}/complete", json={}, headers=p)
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"report_id": init["report_id"], "status": "UPLOADED",
                                 "verified_size_bytes": len(PDF_BYTES), "verified_mime_type": "application/pdf"}
    assert (await files_client.post(f"{base}/{init['report_id']}/complete", headers=p)).status == 200
    async with db.connect() as conn:
        pushes = (await conn.execute(sa.select(notifications).where(
            notifications.c.event_type == "report.uploaded"))).mappings().all()
    assert [(x["recipient_role"], x["recipient_id"]) for x in pushes] == [("doctor", doctor["id"])]
    assert pushes[0]["data"]["report_id"] == init["report_id"]

    listed = await (await files_client.get(base + "?include_download_url=true", headers=d)).json()
    assert listed["total"] == 1 and listed["has_more"] is False
    item = listed["items"][0]
    assert item["id"] == init["report_id"] and item["original_filename"] == "blood_report.pdf"
    assert item["uploader_user_id"] == str(patient["id"]) and item["size_bytes"] == len(PDF_BYTES)
    assert await get_url(item["download_url"]) == (200, PDF_BYTES)

    detail = await (await files_client.get(f"{base}/{init['report_id']}", headers=d)).json()
    assert detail["report_id"] == init["report_id"] and detail["expires_in"] == 600
    assert await get_url(detail["download_url"]) == (200, PDF_BYTES)

    resp = await files_client.delete(f"{base}/{init['report_id']}", headers=d)
    assert resp.status == 403
    resp = await files_client.delete(f"{base}/{init['report_id']}", headers=p)
    assert resp.status == 200
    deleted = await resp.json()
    assert deleted["status"] == "DELETED" and deleted["deleted_at"].endswith("Z")
    assert (await files_client.get(f"{base}/{init['report_id']}", headers=d)).status == 404
    assert (await (await files_client.get(base, headers=p)).json())["total"] == 0
    assert (await files_client.delete(f"{base}/{init['report_id']}", headers=p)).status == 404


async def test_report_rules(make_files_client, store_kind, db, auth):
    client = await make_files_client(store_kind)
    patient, doctor, session, *_ = await session_parties(db, status="REQUESTED")
    p = auth("client", patient["id"])
    assert (await client.post(_init_path(session["id"]), headers=auth("doctor", doctor["id"]))).status == 403
    resp = await client.post(_init_path(session["id"], mime_type="image/webp"), headers=p)
    assert resp.status == 422 and (await resp.json())["detail"][0]["loc"] == ["query", "mime_type"]
    assert (await client.post(_init_path(session["id"], size_bytes=10 * 1024 * 1024 + 1), headers=p)).status == 413
    assert (await client.post(_init_path(session["id"], size_bytes=0), headers=p)).status == 422
    resp = await client.post(f"/api/v2/connect/sessions/{session['id']}/reports/init", headers=p)
    assert resp.status == 422
    # JPEG accepted; a PNG uploaded against it is refused at complete, as is a short upload.
    init = await (await client.post(_init_path(session["id"], mime_type="image/jpeg", original_filename="x.jpg",
                                               size_bytes=len(PNG_BYTES)), headers=p)).json()
    await put_url(init["sas_url"], PNG_BYTES, init["required_headers"])
    resp = await client.post(f"/api/v2/connect/sessions/{session['id']}/reports/{init['report_id']}/complete",
                             headers=p)
    assert resp.status == 400 and (await resp.json())["code"] == "CONTENT_TYPE_MISMATCH"
    init = await (await client.post(_init_path(session["id"]), headers=p)).json()
    await put_url(init["sas_url"], PDF_BYTES[:-5], init["required_headers"])
    resp = await client.post(f"/api/v2/connect/sessions/{session['id']}/reports/{init['report_id']}/complete",
                             headers=p)
    assert resp.status == 400 and (await resp.json())["code"] == "SIZE_MISMATCH"
    # A pending report is the uploader's business only.
    resp = await client.get(f"/api/v2/connect/sessions/{session['id']}/reports/{init['report_id']}",
                            headers=auth("doctor", doctor["id"]))
    assert resp.status == 404
    resp = await client.get(f"/api/v2/connect/sessions/{session['id']}/reports/{init['report_id']}", headers=p)
    assert resp.status == 409
    async with db.connect() as conn:
        assert set((await conn.execute(sa.select(session_reports.c.status))).scalars()) == {"PENDING"}


async def test_strangers_get_404_on_every_report_endpoint(make_files_client, store_kind, db, auth):
    client = await make_files_client(store_kind)
    patient, doctor, session, stranger, other_doctor = await session_parties(db)
    p = auth("client", patient["id"])
    init = await (await client.post(_init_path(session["id"]), headers=p)).json()
    await put_url(init["sas_url"], PDF_BYTES, init["required_headers"])
    assert (await client.post(f"/api/v2/connect/sessions/{session['id']}/reports/{init['report_id']}/complete",
                              headers=p)).status == 200
    base = f"/api/v2/connect/sessions/{session['id']}/reports"
    s = auth("client", stranger["id"])
    for call in (client.post(_init_path(session["id"]), headers=s),
                 client.post(f"{base}/{init['report_id']}/complete", headers=s),
                 client.get(base, headers=s), client.get(f"{base}/{init['report_id']}", headers=s),
                 client.delete(f"{base}/{init['report_id']}", headers=s)):
        resp = await call
        assert resp.status == 404, (resp.method, resp.url)
    o = auth("doctor", other_doctor["id"])
    for call in (client.get(base, headers=o), client.get(f"{base}/{init['report_id']}", headers=o),
                 client.delete(f"{base}/{init['report_id']}", headers=o)):
        resp = await call
        assert resp.status == 404, (resp.method, resp.url)
    # A report id from another session is not found through this one.
    _, _, other_session, *_ = await session_parties(db)
    resp = await client.get(f"/api/v2/connect/sessions/{other_session['id']}/reports/{init['report_id']}",
                            headers=auth("client", other_session["patient_id"]))
    assert resp.status == 404
