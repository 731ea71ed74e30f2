"""Local-mode demo catalog (storage/demo_data/catalog.py): ~65 medicines and ~30 lab tests."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.catalog_rows import LabTestRow, MedicineRow, build_lab_test, build_medicine
from storage.catalog_import import upsert_lab_tests, upsert_medicines
from storage.demo_data.catalog import LAB_TESTS, MEDICINES, SAFETY_ADVICE
from storage.tables import lab_tests, medicines


def demo_medicines() -> list[MedicineRow]:
    return [build_medicine(name, composition, manufacturer=manufacturer, uses=list(uses),
                           side_effects=list(side_effects), how_it_works=how_it_works,
                           safety_advice=dict(SAFETY_ADVICE))
            for name, composition, manufacturer, uses, side_effects, how_it_works in MEDICINES]


def demo_lab_tests() -> list[LabTestRow]:
    return [build_lab_test(title, code=code, parameters_count=parameters,
                           price_paise=price * 100, original_price_paise=original * 100)
            for code, title, parameters, price, original in LAB_TESTS]


async def seed_demo_catalog(conn: AsyncConnection) -> None:
    """Fill an empty catalog with the demo rows, in the caller's transaction. Idempotent, and a
    catalog that already has rows (an imported one) is left alone: demo values never overwrite
    real ones such as "COMPLETE BLOOD COUNT; CBC"."""
    if not await conn.scalar(sa.select(sa.exists().select_from(medicines))):
        await upsert_medicines(conn, demo_medicines())
    if not await conn.scalar(sa.select(sa.exists().select_from(lab_tests))):
        await upsert_lab_tests(conn, demo_lab_tests())
