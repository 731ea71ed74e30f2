"""The prescription PDF: what it says (extracted with pypdf), how it looks (pdftoppm), and its cache."""
from __future__ import annotations

import asyncio
import io
import re
import subprocess
import unicodedata

import pypdf
import sqlalchemy as sa
from PIL import Image

from gateway import keys
from integrations import prescription_pdf
from storage.blobs import PRESCRIPTIONS
from storage.tables import prescriptions
from tests import factories
from tests.azurite import files_client, get_url, make_files_client, store_kind  # noqa: F401

HINDI_NOTE = "खाना खाने के बाद लें"
RX = {"medications": [
    {"name": "Amoxicillin 500mg", "dosage": "1 tablet 3x daily", "duration": "7 days",
     "instructions": f"Take after meals ({HINDI_NOTE})"},
    {"name": "Pantoprazole 40mg", "dosage": "1 tablet before breakfast", "duration": "14 days"},
], "notes": "Complete the full course. Estimated cost ₹350 at a Jan Aushadhi store."}


def _text(pdf: bytes) -> str:
    """Page text as a reader would search it: NFC, no control characters, single spaces.

    Shaped Devanagari clusters are written as several glyphs; the ones after a cluster's first
    carry no Unicode of their own, and pypdf shows their raw codes as control characters.
    """
    raw = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    cleaned = "".join(ch for ch in unicodedata.normalize("NFC", raw) if unicodedata.category(ch) != "Cc" or ch == "\n")
    return re.sub(r"\s+", " ", cleaned)


async def _parties(db, status="ENDED"):
    patient = await factories.make_user(db, full_name="Priya Verma", age=34, sex="female")
    doctor = await factories.make_doctor(db, full_name="Dr. Ankit Shah", degrees=["MBBS", "MD (General Medicine)"],
                                         registration_number="MCI-778899")
    session = await factories.make_session(db, patient["id"], doctor["id"], status=status)
    return patient, doctor, session


async def test_prescription_pdf_carries_what_the_guidelines_require(files_client, db, auth):
    patient, doctor, session = await _parties(db)
    base = f"/api/v2/connect/sessions/{session['id']}/prescription"
    assert (await files_client.post(base, json=RX, headers=auth("doctor", doctor["id"]))).status == 201
    resp = await files_client.get(base + "/pdf", headers=auth("client", patient["id"]))
    assert resp.status == 200, await resp.text()
    link = await resp.json()
    assert link["expires_in"] == 600 and link["generated_at"].endswith("Z")
    status, pdf = await get_url(link["download_url"])
    assert status == 200 and pdf.startswith(b"%PDF-")
    text = _text(pdf)
    for expected in ("Allign", "Dr. Ankit Shah", "MBBS, MD (General Medicine)", "MCI-778899", "Priya Verma",
                     "34 years", "Female", "Amoxicillin 500mg", "1 tablet 3x daily", "7 days",
                     f"Take after meals ({HINDI_NOTE})", "Pantoprazole 40mg", "1 tablet before breakfast", "14 days",
                     "Complete the full course. Estimated cost ₹350 at a Jan Aushadhi store.",
                     "Telemedicine Practice Guidelines", str(session["id"])):
        assert expected in text, expected
    assert re.search(r"\b\d{1,2} [A-Z][a-z]+ 20\d\d\b", text)  # the date


async def test_pdf_page_renders_with_ink(make_files_client, db, auth, tmp_path):
    client = await make_files_client("local")
    patient, doctor, session = await _parties(db, status="ONGOING")
    base = f"/api/v2/connect/sessions/{session['id']}/prescription"
    await client.post(base, json=RX, headers=auth("doctor", doctor["id"]))
    link = await (await client.get(base + "/pdf", headers=auth("doctor", doctor["id"]))).json()
    _, pdf = await get_url(link["download_url"])
    (tmp_path / "rx.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", "-singlefile", str(tmp_path / "rx.pdf"),
                    str(tmp_path / "page")], check=True, timeout=60)
    page = Image.open(tmp_path / "page.png").convert("L")
    assert page.size[0] > 300 and page.size[1] > 400
    dark = sum(1 for value in page.getdata() if value < 128)
    assert dark > 2000, "page 1 is (nearly) blank"
    # The Devanagari and ₹ glyphs are drawn from embedded fonts, not as missing-glyph boxes.
    fonts = {str(f["/BaseFont"]) for p in pypdf.PdfReader(io.BytesIO(pdf)).pages
             for f in p["/Resources"]["/Font"].values()}
    assert any("DejaVuSans" in f for f in fonts) and any("NotoSansDevanagari" in f for f in fonts)


async def test_pdf_is_cached_until_the_prescription_changes(files_client, db, auth):
    patient, doctor, session = await _parties(db)
    base = f"/api/v2/connect/sessions/{session['id']}/prescription"
    d, p = auth("doctor", doctor["id"]), auth("client", patient["id"])
    await files_client.post(base, json=RX, headers=d)
    first = await (await files_client.get(base + "/pdf", headers=p)).json()
    again = await (await files_client.get(base + "/pdf", headers=d)).json()
    assert again["generated_at"] == first["generated_at"]
    async with db.connect() as conn:
        row = (await conn.execute(sa.select(prescriptions))).mappings().one()
    old_blob = row["pdf_blob"]
    assert old_blob.endswith("-v1.pdf") and row["pdf_version"] == 1
    store = files_client.server.app[keys.BLOBS]
    assert (await store.verify(PRESCRIPTIONS, old_blob)).head.startswith(b"%PDF-")
    assert (await (await files_client.get(base, headers=p)).json())["pdf_generated_at"] == first["generated_at"]

    changed = {"medications": [{"name": "Cetirizine 10mg", "dosage": "1 tablet at night", "duration": "5 days"}]}
    assert (await files_client.put(base, json=changed, headers=d)).status == 200
    assert (await (await files_client.get(base, headers=p)).json())["pdf_generated_at"] is None
    assert await store.verify(PRESCRIPTIONS, old_blob) is None  # the stale PDF is gone
    fresh = await (await files_client.get(base + "/pdf", headers=p)).json()
    assert fresh["generated_at"] > first["generated_at"]
    text = _text((await get_url(fresh["download_url"]))[1])
    assert "Cetirizine 10mg" in text and "Amoxicillin" not in text and "(version 2)" in text


async def test_concurrent_first_requests_generate_once(make_files_client, store_kind, db, auth):
    client = await make_files_client(store_kind)
    patient, doctor, session = await _parties(db)
    base = f"/api/v2/connect/sessions/{session['id']}/prescription"
    await client.post(base, json=RX, headers=auth("doctor", doctor["id"]))
    who = [auth("client", patient["id"]), auth("doctor", doctor["id"])] * 3
    responses = await asyncio.gather(*(client.get(base + "/pdf", headers=h) for h in who))
    assert {r.status for r in responses} == {200}
    assert len({(await r.json())["generated_at"] for r in responses}) == 1


async def test_pdf_access_and_state_rules(make_files_client, db, auth, tmp_path, monkeypatch):
    client = await make_files_client("local")
    patient, doctor, session = await _parties(db, status="ONGOING")
    base = f"/api/v2/connect/sessions/{session['id']}/prescription"
    assert (await client.get(base + "/pdf", headers=auth("client", patient["id"]))).status == 404
    await client.post(base, json=RX, headers=auth("doctor", doctor["id"]))
    stranger = await factories.make_user(db)
    other_doctor = await factories.make_doctor(db)
    assert (await client.get(base + "/pdf", headers=auth("client", stranger["id"]))).status == 404
    assert (await client.get(base + "/pdf", headers=auth("doctor", other_doctor["id"]))).status == 404
    requested = await factories.make_session(db, stranger["id"], doctor["id"], status="REQUESTED")
    resp = await client.get(f"/api/v2/connect/sessions/{requested['id']}/prescription/pdf",
                            headers=auth("client", stranger["id"]))
    assert resp.status == 409
    # Without the fonts: a clear 503 naming the packages, not a 500.
    monkeypatch.setattr(prescription_pdf, "FONT_DIRS", (tmp_path,))
    prescription_pdf.font_paths.cache_clear()
    try:
        resp = await client.get(base + "/pdf", headers=auth("client", patient["id"]))
        body = await resp.json()
        assert resp.status == 503 and body["code"] == "PDF_FONTS_MISSING" and "fonts-noto-core" in body["detail"]
    finally:
        prescription_pdf.font_paths.cache_clear()
