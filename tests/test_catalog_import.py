"""`python run.py import-catalog`: idempotent upserts, bad rows with line numbers, real data, demo seed."""
from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa

from storage.catalog_import import import_file
from storage.demo_catalog import seed_demo_catalog
from storage.demo_data.catalog import LAB_TESTS, MEDICINES
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
# The real catalog data lives beside the project (../shared/data), in CI too; never skipped silently.
SHARED = ROOT.parent / "shared" / "data"
MEDICINE_HEADER = ("Medicine Name,Composition,Uses,Side_effects,Manufacturer,Excellent Review %,"
                   "Average Review %,Poor Review %")


def write_csv(path: Path, lines: list[str], *, bom: bool = True, newline: str = "\r\n") -> Path:
    path.write_bytes((("\ufeff" if bom else "") + newline.join(lines) + newline).encode())
    return path


def run_cli(settings, kind: str, path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "ALLIGN_ENV": "test"}
    return subprocess.run([sys.executable, "run.py", "import-catalog", kind, str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


async def scalar(db, sql: str, **params):
    async with db.connect() as conn:
        return (await conn.execute(sa.text(sql), params)).scalar()


async def test_medicines_import_end_to_end_is_idempotent_and_reports_bad_rows(settings, db, tmp_path):
    rows = [
        MEDICINE_HEADER,
        'Augmentin 625 Duo Tablet,Amoxycillin  (500mg) +  Clavulanic Acid (125mg),Treatment of Bacterial '
        'infections,Vomiting Nausea Diarrhea,Glaxo SmithKline Pharmaceuticals Ltd,47,35,18',
        ',Paracetamol (650mg),Pain relief,,Micro Labs Ltd,1,2,3',                          # line 3: no name
        'Azee 500 Tablet,Azithromycin (500mg),Treatment of Bacterial infections,Nausea,Cipla Ltd,41,44,15',
        'Allegra Suspension Raspberry &amp; Vanilla,Fexofenadine (30mg/5ml),"Treatment of Sneezing and runny '
        'nose due to allergiesTreatment of Allergic conditions",Headache Drowsiness,Sanofi India Ltd,30,40,30',
        'Azee 500 Tablet,Azithromycin (500mg),Treatment of Bacterial infections,Nausea,Cipla Ltd,37,38,25',  # repeat
        'Azee 500 Tablet,Azithromycin (250mg),Treatment of Bacterial infections,Nausea,Cipla Ltd,50,30,20',  # other product
        'Broken Tablet,Zinc (20mg),Uses,Effects,Maker,lots,1,1',                          # line 8: bad review %
        'Short Row Tablet,Zinc (20mg)',                                                    # line 9: 2 columns
    ]
    path = write_csv(tmp_path / "medicines.csv", rows)
    result = await asyncio.to_thread(run_cli, settings, "medicines", path)
    assert result.returncode == 0, result.stderr
    assert "line 3: skipped: name is empty" in result.stderr
    assert "line 8: skipped: excellent review % 'lots' is not a number" in result.stderr
    assert "line 9: skipped: expected 8 columns, found 2" in result.stderr
    assert "8 rows read, 4 inserted, 0 updated, 0 unchanged, 1 repeated" in result.stdout
    assert "3 bad rows skipped" in result.stdout
    assert await scalar(db, "SELECT count(*) FROM medicines") == 4
    assert await scalar(db, "SELECT count(*) FROM medicines WHERE name = 'Azee 500 Tablet'") == 2
    # The later of two identical products wins.
    assert await scalar(db, "SELECT review_excellent_pct FROM medicines WHERE name = 'Azee 500 Tablet' "
                            "AND composition = 'Azithromycin (500mg)'") == 37
    async with db.connect() as conn:
        allegra = (await conn.execute(sa.text(
            "SELECT * FROM medicines WHERE name_normalized = 'allegra suspension raspberry & vanilla'"))).mappings().one()
    assert allegra["form"] == "suspension"
    assert allegra["uses"] == ["Sneezing and runny nose due to allergies", "Allergic conditions"]
    assert allegra["side_effects"] == ["Headache", "Drowsiness"]
    assert await scalar(db, "SELECT count(*) FROM medicine_salts") == 5
    assert await scalar(db, "SELECT string_agg(salt_normalized, ',' ORDER BY salt_normalized) "
                            "FROM medicine_salt_names") == "amoxycillin,azithromycin,clavulanic acid,fexofenadine"

    # Again: nothing changes, nothing duplicates.
    again = await asyncio.to_thread(run_cli, settings, "medicines", path)
    assert again.returncode == 0
    assert "0 inserted, 0 updated, 4 unchanged, 1 repeated" in again.stdout
    assert await scalar(db, "SELECT count(*) FROM medicines") == 4

    # A changed field updates the row in place (same id), and updated_at moves.
    before = await scalar(db, "SELECT updated_at FROM medicines WHERE name = 'Augmentin 625 Duo Tablet'")
    rows[1] = rows[1].replace("Glaxo SmithKline Pharmaceuticals Ltd", "GSK India")
    write_csv(path, rows)
    changed = await asyncio.to_thread(run_cli, settings, "medicines", path)
    assert "0 inserted, 1 updated, 3 unchanged" in changed.stdout
    assert await scalar(db, "SELECT count(*) FROM medicines") == 4
    assert await scalar(db, "SELECT manufacturer FROM medicines WHERE name = 'Augmentin 625 Duo Tablet'") == "GSK India"
    assert await scalar(db, "SELECT updated_at FROM medicines WHERE name = 'Augmentin 625 Duo Tablet'") > before


async def test_lab_tests_import_parses_prices_parameters_and_aliases(settings, db, tmp_path):
    path = write_csv(tmp_path / "labs.csv", [
        '"title","parameter","originalPrice","updatedPrice"',
        '"COMPLETE BLOOD COUNT; CBC","20 Parameter(s) Covered","₹240","₹240"',
        '"KIDNEY DIALYSIS PANEL","53 Parameter(s) Covered","₹2,450","₹1,650"',
        '"BROKEN PRICE","1 Parameter(s) Covered","₹abc","₹100"',
        '"HEPATITIS B SURFACE ANTIGEN; HBsAg; AUSTRALIA ANTIGEN","1 Parameter(s) Covered","₹500","₹450"',
    ], bom=False, newline="\n")
    result = await asyncio.to_thread(run_cli, settings, "lab-tests", path)
    assert result.returncode == 0, result.stderr
    assert "line 4: skipped: price '₹abc' is not like ₹1,240" in result.stderr
    assert "4 rows read, 3 inserted" in result.stdout
    async with db.connect() as conn:
        rows = {r["name"]: r for r in (await conn.execute(sa.text("SELECT * FROM lab_tests"))).mappings()}
    panel = rows["KIDNEY DIALYSIS PANEL"]
    assert (panel["price_paise"], panel["original_price_paise"], panel["parameters_count"]) == (165000, 245000, 53)
    assert panel["code"] is None and panel["provider"] == "lal_pathlabs"
    assert rows["HEPATITIS B SURFACE ANTIGEN; HBsAg; AUSTRALIA ANTIGEN"]["aliases"] == ["HBsAg", "AUSTRALIA ANTIGEN"]
    assert await scalar(db, "SELECT count(*) FROM lab_test_aliases") == 3
    again = await asyncio.to_thread(run_cli, settings, "lab-tests", path)
    assert "0 inserted, 0 updated, 3 unchanged" in again.stdout
    assert await scalar(db, "SELECT count(*) FROM lab_tests") == 3


async def test_unreadable_files_fail_without_loading(settings, db, tmp_path):
    missing_column = write_csv(tmp_path / "wrong.csv", ["Name,Price", "Dolo,10"])
    result = await asyncio.to_thread(run_cli, settings, "medicines", missing_column)
    assert result.returncode == 1
    assert "missing column(s) medicine name, composition" in result.stderr
    result = await asyncio.to_thread(run_cli, settings, "lab-tests", tmp_path / "absent.csv")
    assert result.returncode == 1
    assert "No such file" in result.stderr
    assert await scalar(db, "SELECT count(*) FROM medicines") == 0


async def test_a_failing_batch_loads_nothing(settings, db, tmp_path):
    # The check constraint rejects a negative price: the whole file is one transaction.
    path = write_csv(tmp_path / "labs.csv", ['"title","parameter","originalPrice","updatedPrice"',
                                             '"GOOD","1","₹10","₹10"'])
    async with db.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE lab_tests ADD CONSTRAINT test_no_good CHECK (name <> 'GOOD')"))
    try:
        err = io.StringIO()
        with pytest.raises(asyncpg.IntegrityConstraintViolationError):  # asyncpg's, as the importer runs on it
            await import_file(settings.database_url, "lab-tests", str(path), err=err)
        assert await scalar(db, "SELECT count(*) FROM lab_tests") == 0
    finally:
        async with db.begin() as conn:
            await conn.execute(sa.text("ALTER TABLE lab_tests DROP CONSTRAINT test_no_good"))


def shared_file(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.fail(f"real catalog data missing: {path} (the project expects ../shared/data beside it)")
    return path


async def test_real_lab_tests_file(settings, db, client):
    report = await import_file(settings.database_url, "lab-tests", str(shared_file("lab_tests.csv")),
                               err=io.StringIO())
    assert (report.rows_read, report.bad_rows, report.repeated) == (1846, 0, 5)
    assert await scalar(db, "SELECT count(*) FROM lab_tests") == 1841
    assert await scalar(db, "SELECT price_paise FROM lab_tests WHERE name = 'COMPLETE BLOOD COUNT; CBC'") == 24000
    resp = await client.get("/api/v2/lab-tests/catalog/search", params={"q": "cbc", "limit": 3})
    assert "COMPLETE BLOOD COUNT; CBC" in [item["name"] for item in await resp.json()]


async def test_real_medicines_file(settings, db, client):
    report = await import_file(settings.database_url, "medicines", str(shared_file("medicines_india.csv")),
                               err=io.StringIO())
    # 11,825 rows; 324 repeat an earlier product (name and composition); none is malformed.
    assert (report.rows_read, report.bad_rows, report.repeated, report.counts.inserted) == (11825, 0, 324, 11501)
    assert await scalar(db, "SELECT count(*) FROM medicines WHERE form = 'other'") < 11501 * 0.03
    resp = await client.get("/api/v2/medicines/search", params={"q": "augmntin", "limit": 5})
    assert any(item["name"].startswith("Augmentin") for item in await resp.json())


async def test_demo_catalog_seed_is_idempotent(client, db):
    for _ in range(2):
        async with factories.app_connection(db) as conn:
            await seed_demo_catalog(conn)
    assert await scalar(db, "SELECT count(*) FROM medicine_salts") > len(MEDICINES)
    assert await scalar(db, "SELECT count(*) FROM medicines") == len(MEDICINES)
    assert await scalar(db, "SELECT count(*) FROM lab_tests") == len(LAB_TESTS)
    assert await scalar(db, "SELECT count(*) FROM medicines WHERE form = 'other'") == 0
    resp = await client.get("/api/v2/medicines/search", params={"q": "amoxyclav", "limit": 5})
    assert [item["name"] for item in await resp.json()][:2] == ["Amoxyclav 375 Tablet", "Amoxyclav 625 Tablet"]
    resp = await client.get("/api/v2/lab-tests/catalog/search", params={"q": "Z04"})
    assert [item["code"] for item in await resp.json()] == ["Z045", "Z044", "Z046"]  # shorter name first
    resp = await client.get("/api/v2/lab-tests/catalog/search", params={"q": "CBC"})
    assert (await resp.json())[0]["name"] == "Complete Blood Count; CBC"


async def test_demo_catalog_leaves_an_imported_catalog_alone(settings, db, tmp_path):
    path = write_csv(tmp_path / "labs.csv", ['"title","parameter","originalPrice","updatedPrice"',
                                             '"COMPLETE BLOOD COUNT; CBC","20 Parameter(s) Covered","₹240","₹240"'])
    await import_file(settings.database_url, "lab-tests", str(path), err=io.StringIO())
    async with factories.app_connection(db) as conn:
        await seed_demo_catalog(conn)
    assert await scalar(db, "SELECT count(*) FROM lab_tests") == 1
    assert await scalar(db, "SELECT code FROM lab_tests") is None  # not the demo's code
    assert await scalar(db, "SELECT count(*) FROM medicines") == len(MEDICINES)  # that one was empty


async def test_line_numbers_count_physical_lines_and_progress_is_reported(settings, db, tmp_path, monkeypatch):
    import storage.catalog_import as catalog_import

    monkeypatch.setattr(catalog_import, "PROGRESS_EVERY", 2)
    path = write_csv(tmp_path / "medicines.csv", [
        MEDICINE_HEADER,
        'Azee 500 Tablet,Azithromycin (500mg),"Treatment of Bacterial\r\ninfections",Nausea,Cipla Ltd,41,44,15',
        '',                                                                   # line 4: blank, ignored
        'Dolo 650 Tablet,Paracetamol (650mg),Fever,Nausea,Micro Labs Ltd,50,150,0',  # line 5: bad
        'Crocin Advance Tablet,Paracetamol (500mg),Fever,Nausea,GSK,40,40,20',
    ])
    err = io.StringIO()
    report = await import_file(settings.database_url, "medicines", str(path), err=err)
    assert "line 5: skipped: average review % 150 is outside 0–100" in err.getvalue()
    assert "medicines: 2 rows read..." in err.getvalue()
    assert (report.rows_read, report.bad_rows, report.counts.inserted) == (3, 1, 2)
    assert await scalar(db, "SELECT uses FROM medicines WHERE name = 'Azee 500 Tablet'") == [
        "Bacterial infections"]
