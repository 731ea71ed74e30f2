"""Medicine and lab-test typeahead search (three phases) and details, over HTTP."""
from __future__ import annotations

from tests import factories

import uuid

import pytest

from domain.catalog_rows import build_lab_test, build_medicine
from storage.catalog_import import upsert_lab_tests, upsert_medicines

MEDICINES = "/api/v2/medicines/search"
LAB_TESTS = "/api/v2/lab-tests/catalog/search"


async def load(db, medicines=(), lab_tests=()):
    """Insert catalog rows through the same upserts the importer uses; returns {name: id}."""
    medicine_rows = [build_medicine(name, composition) for name, composition in medicines]
    lab_rows = [build_lab_test(title, code=code, price_paise=price) for title, code, price in lab_tests]
    async with db.connect() as conn:  # the importer's own kind of connection: plain asyncpg
        raw = (await conn.get_raw_connection()).driver_connection
        async with raw.transaction():
            await upsert_medicines(raw, medicine_rows)
            await upsert_lab_tests(raw, lab_rows)
    return {row.name: str(row.id) for row in [*medicine_rows, *lab_rows]}


async def names(client, path, q, **params):
    resp = await client.get(path, params={"q": q, **params})
    assert resp.status == 200, await resp.text()
    return [item["name"] for item in await resp.json()]


async def test_phases_rank_prefix_then_contains_then_fuzzy(client, db):
    await load(db, [
        ("Amoxyclv Forte Tablet", "Vitamin C (500mg)"),         # fuzzy only (a typo of the query)
        ("Novamox Amoxyclav Kid Tablet", "Vitamin C (500mg)"),  # contains only
        ("Amoxyclav Duo 1000 Tablet", "Vitamin C (500mg)"),     # prefix, longer name
        ("Amoxyclav 625 Tablet", "Vitamin C (500mg)"),          # prefix
        ("Amoxyclav 375 Tablet", "Vitamin C (500mg)"),          # prefix, same length: by name
        ("Dolo 650 Tablet", "Paracetamol (650mg)"),             # unrelated
    ])
    assert await names(client, MEDICINES, "amoxyclav") == [
        "Amoxyclav 375 Tablet", "Amoxyclav 625 Tablet", "Amoxyclav Duo 1000 Tablet",
        "Novamox Amoxyclav Kid Tablet", "Amoxyclv Forte Tablet"]
    # Each phase only fills what is left of the limit.
    assert await names(client, MEDICINES, "amoxyclav", limit=2) == ["Amoxyclav 375 Tablet", "Amoxyclav 625 Tablet"]
    assert await names(client, MEDICINES, "amoxyclav", limit=4) == [
        "Amoxyclav 375 Tablet", "Amoxyclav 625 Tablet", "Amoxyclav Duo 1000 Tablet", "Novamox Amoxyclav Kid Tablet"]


async def test_typo_finds_the_medicine(client, db):
    await load(db, [("Amoxyclav 625 Tablet", "Amoxycillin (500mg) + Clavulanic Acid (125mg)"),
                    ("Azithral 500 Tablet", "Azithromycin (500mg)")])
    resp = await client.get(MEDICINES, params={"q": "amoxyclv", "limit": 5})
    assert resp.status == 200
    body = await resp.json()
    assert body[0]["name"] == "Amoxyclav 625 Tablet"
    assert set(body[0]) == {"id", "name", "form", "provider"}
    assert (body[0]["form"], body[0]["provider"]) == ("tablet", "1mg")
    assert "Azithral 500 Tablet" not in [item["name"] for item in body]


async def test_salt_and_generic_name_match_after_brand_names(client, db):
    await load(db, [
        ("Dolo 650 Tablet", "Paracetamol (650mg)"),
        ("Combiflam Tablet", "Ibuprofen (400mg) + Paracetamol (325mg)"),
        ("Paracip 500 Tablet", "Paracetamol (500mg)"),
        ("Genericart Paracetamol 650mg Tablet", "Paracetamol (650mg)"),
        ("Augmentin 625 Duo Tablet", "Amoxycillin (500mg) + Clavulanic Acid (125mg)"),
    ])
    # Phase 1: the name prefix first, then the salt prefix (shorter names first).
    assert await names(client, MEDICINES, "para") == [
        "Paracip 500 Tablet", "Dolo 650 Tablet", "Combiflam Tablet", "Genericart Paracetamol 650mg Tablet"]
    # A second salt of a combination is found by prefix too.
    assert await names(client, MEDICINES, "clavulanic") == ["Augmentin 625 Duo Tablet"]
    assert await names(client, MEDICINES, "Amoxycillin") == ["Augmentin 625 Duo Tablet"]
    # Phase 2: a name containing the query before salts containing it.
    assert await names(client, MEDICINES, "cetamol") == [
        "Genericart Paracetamol 650mg Tablet", "Dolo 650 Tablet", "Combiflam Tablet", "Paracip 500 Tablet"]
    # Phase 3: a misspelt salt.
    assert set(await names(client, MEDICINES, "paracetmol")) == {
        "Genericart Paracetamol 650mg Tablet", "Dolo 650 Tablet", "Combiflam Tablet", "Paracip 500 Tablet"}


async def test_no_duplicates_across_phases(client, db):
    # Each of these matches "amox" in several phases (name prefix, salt prefix, name contains, fuzzy).
    await load(db, [("Amoxyclav 625 Tablet", "Amoxycillin (500mg) + Clavulanic Acid (125mg)"),
                    ("Mox 500 Capsule", "Amoxycillin (500mg)"),
                    ("Novamox 250 Syrup", "Amoxycillin (250mg/5ml)"),
                    ("Amoxil Amoxycillin Kid Tablet", "Amoxycillin (125mg) + Amoxycillin (125mg)")])
    for q in ("amox", "amoxycillin", "amoxycilin", "moxi"):
        resp = await client.get(MEDICINES, params={"q": q, "limit": 25})
        ids = [item["id"] for item in await resp.json()]
        assert len(ids) == len(set(ids)), q
    assert await names(client, MEDICINES, "amox", limit=25) == [
        "Amoxyclav 625 Tablet", "Amoxil Amoxycillin Kid Tablet", "Mox 500 Capsule", "Novamox 250 Syrup"]


async def test_like_wildcards_are_literal(client, db):
    await load(db, [("Betadine 10% Solution", "Povidone Iodine (10% w/v)"),
                    ("Alpha X1Y Tablet", "Zinc (20mg)"),
                    ("Abc Tablet", "Zinc (20mg)")])
    assert await names(client, MEDICINES, "%%") == []
    assert await names(client, MEDICINES, "x%y") == []      # unescaped, "%" would match the "1"
    assert await names(client, MEDICINES, "a_c") == []      # unescaped, "_" would match the "b"
    assert (await names(client, MEDICINES, "10%"))[0] == "Betadine 10% Solution"
    assert await names(client, MEDICINES, "e 10% s") == ["Betadine 10% Solution"]


@pytest.mark.parametrize("params, where", [
    ({}, "q"), ({"q": "a"}, "q"), ({"q": "  a  "}, "q"), ({"q": "x" * 101}, "q"),
    ({"q": "dolo", "limit": "0"}, "limit"), ({"q": "dolo", "limit": "26"}, "limit"),
    ({"q": "dolo", "limit": "ten"}, "limit"),
])
@pytest.mark.parametrize("path", [MEDICINES, LAB_TESTS])
async def test_query_constraints_are_422(client, path, params, where):
    resp = await client.get(path, params=params)
    assert resp.status == 422
    body = await resp.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["detail"][0]["loc"] == ["query", where]


async def test_limit_bounds_and_default(client, db):
    await load(db, [(f"Dolo {n} Tablet", f"Paracetamol ({n}mg)") for n in range(100, 130)])
    assert len(await names(client, MEDICINES, "dolo")) == 10
    assert len(await names(client, MEDICINES, "dolo", limit=25)) == 25
    assert len(await names(client, MEDICINES, "dolo", limit=1)) == 1
    assert len(await names(client, MEDICINES, "x" * 100)) == 0


async def test_medicine_detail(client, db):
    ids = await load(db, [("Amoxyclav 625 Tablet", "Amoxycillin (500mg) + Clavulanic Acid (125mg)")])
    resp = await client.get(f"/api/v2/medicines/{ids['Amoxyclav 625 Tablet']}")
    assert resp.status == 200
    body = await resp.json()
    assert body["id"] == ids["Amoxyclav 625 Tablet"]
    assert (body["name"], body["form"], body["provider"]) == ("Amoxyclav 625 Tablet", "tablet", "1mg")
    assert body["salts"] == ["Amoxycillin", "Clavulanic Acid"]
    assert body["generic_name"] == "Amoxycillin + Clavulanic Acid"
    for key in ("product_introduction", "uses", "how_it_works", "safety_advice", "source_url", "created_at",
                "updated_at", "manufacturer", "side_effects", "reviews"):
        assert key in body
    assert body["product_introduction"].startswith("Amoxyclav 625 Tablet contains Amoxycillin (500mg)")
    assert body["created_at"].endswith("Z")


async def test_unknown_or_malformed_ids_are_404(client, db):
    for path in (f"/api/v2/medicines/{uuid.uuid4()}", "/api/v2/medicines/not-a-uuid",
                 f"/api/v2/lab-tests/catalog/{uuid.uuid4()}", "/api/v2/lab-tests/catalog/12345"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert (await resp.json())["code"] == "NOT_FOUND"


async def test_lab_tests_by_name_alias_code_then_contains_then_fuzzy(client, db):
    ids = await load(db, lab_tests=[
        ("Erythrocyte Sedimentation Rate; ESR", "H002", 10000),
        ("ESR, Westergren", None, 12000),
        ("Blood ESR Panel", None, 30000),
        ("Thyroid Profile, Free", "Z045", 75000),
        ("Thyroid, Comprehensive Panel", "Z120", 140000),
        ("Thyriod Antibodies Panel", None, 90000),
    ])
    # Name prefix and alias prefix are both phase 1 (shorter first), contains is phase 2.
    assert await names(client, LAB_TESTS, "esr") == [
        "ESR, Westergren", "Erythrocyte Sedimentation Rate; ESR", "Blood ESR Panel"]
    # Code by prefix.
    resp = await client.get(LAB_TESTS, params={"q": "z04"})
    assert await resp.json() == [{"id": ids["Thyroid Profile, Free"], "name": "Thyroid Profile, Free",
                                  "code": "Z045", "provider": "lal_pathlabs"}]
    # Fuzzy comes after the exact matches.
    assert await names(client, LAB_TESTS, "thyroid") == [
        "Thyroid Profile, Free", "Thyroid, Comprehensive Panel", "Thyriod Antibodies Panel"]


async def test_lab_test_detail(client, db):
    ids = await load(db, lab_tests=[("COMPLETE BLOOD COUNT; CBC", None, 24000)])
    resp = await client.get(f"/api/v2/lab-tests/catalog/{ids['COMPLETE BLOOD COUNT; CBC']}")
    assert resp.status == 200
    body = await resp.json()
    assert body["name"] == "COMPLETE BLOOD COUNT; CBC"
    assert body["aliases"] == ["CBC"]
    assert body["code"] is None
    assert (body["price"], body["original_price"]) == (24000, 24000)
    assert body["provider"] == "lal_pathlabs"
    assert set(body) >= {"id", "parameters_count", "created_at", "updated_at"}


async def test_lost_database_connections_are_never_a_500(client, db):
    assert (await client.get("/api/v2/medicines/search", params={"q": "zz"})).status == 200
    await factories.answers_after_backends_die(
        db, lambda: client.get("/api/v2/medicines/search", params={"q": "zz"}), 200)
