"""Local-mode demo rows: the catalog (storage/demo_data/catalog.py, ~65 medicines and ~30 lab
tests), and the lock that serialises processes seeding at once (gateway.seed)."""
from __future__ import annotations

from storage.pool import Connection

from domain.catalog_rows import LabTestRow, MedicineRow, build_lab_test, build_medicine
from storage import driver
from storage.catalog_import import upsert_lab_tests, upsert_medicines
from storage.demo_data.catalog import LAB_TESTS, MEDICINES, SAFETY_ADVICE

_SEED_LOCK = 48_151_623  # pg_advisory_xact_lock key shared by every process (fits int4)
_LOCK = "SELECT pg_advisory_xact_lock($1)"
_HAS_MEDICINES = "SELECT EXISTS (SELECT 1 FROM medicines)"
_HAS_LAB_TESTS = "SELECT EXISTS (SELECT 1 FROM lab_tests)"


def demo_medicines() -> list[MedicineRow]:
    return [build_medicine(name, composition, manufacturer=manufacturer, uses=list(uses),
                           side_effects=list(side_effects), how_it_works=how_it_works,
                           safety_advice=dict(SAFETY_ADVICE))
            for name, composition, manufacturer, uses, side_effects, how_it_works in MEDICINES]


def demo_lab_tests() -> list[LabTestRow]:
    return [build_lab_test(title, code=code, parameters_count=parameters,
                           price_paise=price * 100, original_price_paise=original * 100)
            for code, title, parameters, price, original in LAB_TESTS]


async def lock_demo_seed(conn: Connection) -> None:
    """Wait for any other process seeding; held until the caller's transaction ends."""
    await driver.execute(conn, _LOCK, _SEED_LOCK, begin=True)


async def seed_demo_catalog(conn: Connection) -> None:
    """Fill an empty catalog with the demo rows, in the caller's transaction. Idempotent, and a
    catalog that already has rows (an imported one) is left alone: demo values never overwrite
    real ones such as "COMPLETE BLOOD COUNT; CBC"."""
    if not await driver.fetchval(conn, _HAS_MEDICINES, begin=True):
        await upsert_medicines(conn, demo_medicines())
    if not await driver.fetchval(conn, _HAS_LAB_TESTS, begin=True):
        await upsert_lab_tests(conn, demo_lab_tests())
