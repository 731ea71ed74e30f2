"""A prescription's provisional diagnosis and advice (the Telemedicine Practice Guidelines' format):
optional, limited, kept by a replacement only when sent again, and printed on the PDF."""
from __future__ import annotations

import io
import re

import pypdf
import pytest

from tests import factories
from tests.azurite import get_url, make_files_client  # noqa: F401

RX = {"medications": [{"name": "Azithromycin 500mg", "dosage": "1 tablet daily", "duration": "3 days"}],
      "notes": "Review if fever persists",
      "diagnosis": "Acute pharyngitis (provisional)",
      "advice": "Warm saline gargles, plenty of fluids, rest for two days"}


def _text(pdf: bytes) -> str:
    raw = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return re.sub(r"\s+", " ", raw)


async def _parties(db):
    patient = await factories.make_user(db, full_name="Priya Verma", age=34, sex="female")
    doctor = await factories.make_doctor(db, full_name="Dr. Ankit Shah")
    return patient, doctor, await factories.make_session(db, patient["id"], doctor["id"], status="ENDED")


async def test_diagnosis_and_advice_are_stored_shown_and_printed(make_files_client, db, auth):
    client = await make_files_client("local")
    patient, doctor, session = await _parties(db)
    base = f"/api/v2/connect/sessions/{session['id']}/prescription"
    resp = await client.post(base, json=RX, headers=auth("doctor", doctor["id"]))
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert (created["diagnosis"], created["advice"], created["notes"]) == (RX["diagnosis"], RX["advice"], RX["notes"])
    shown = await (await client.get(base, headers=auth("client", patient["id"]))).json()
    assert (shown["diagnosis"], shown["advice"]) == (RX["diagnosis"], RX["advice"])
    link = await (await client.get(base + "/pdf", headers=auth("client", patient["id"]))).json()
    _, pdf = await get_url(link["download_url"])
    text = _text(pdf)
    for expected in ("Provisional diagnosis", RX["diagnosis"], "Advice", RX["advice"], "Azithromycin 500mg",
                     "Notes", RX["notes"]):
        assert expected in text, expected
    # Diagnosis before the medicines, advice after them.
    assert text.index(RX["diagnosis"]) < text.index("Azithromycin 500mg") < text.index(RX["advice"])

    # A replacement without them clears them (a full replacement, as for notes), and the PDF follows.
    resp = await client.put(base, json={"medications": RX["medications"]}, headers=auth("doctor", doctor["id"]))
    replaced = await resp.json()
    assert resp.status == 200 and (replaced["diagnosis"], replaced["advice"], replaced["version"]) == (None, None, 2)
    link = await (await client.get(base + "/pdf", headers=auth("doctor", doctor["id"]))).json()
    _, pdf = await get_url(link["download_url"])
    text = _text(pdf)
    assert "Provisional diagnosis" not in text and RX["advice"] not in text and "Azithromycin 500mg" in text


@pytest.mark.parametrize(("field", "limit"), [("diagnosis", 500), ("advice", 2000)])
async def test_limits(client, db, auth, field, limit):
    patient, doctor, session = await _parties(db)
    base = f"/api/v2/connect/sessions/{session['id']}/prescription"
    too_long = {**RX, field: "x" * (limit + 1)}
    resp = await client.post(base, json=too_long, headers=auth("doctor", doctor["id"]))
    body = await resp.json()
    assert resp.status == 422 and body["detail"][0]["loc"] == ["body", field]
    resp = await client.post(base, json={**RX, field: "x" * limit}, headers=auth("doctor", doctor["id"]))
    assert resp.status == 201 and len((await resp.json())[field]) == limit
    blank = await client.put(base, json={**RX, field: "   "}, headers=auth("doctor", doctor["id"]))
    assert (await blank.json())[field] is None
