"""Local-mode demo catalog (storage/demo_data/catalog.py): ~65 medicines and ~30 lab tests."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.catalog_rows import build_lab_test, build_medicine
from storage.catalog_import import upsert_lab_tests, upsert_medicines
from storage.demo_data.catalog import LAB_TESTS, MEDICINES, SAFETY_ADVICE


def demo_medicines() -> list:
    return [build_medicine(name, composition, manufacturer=manufacturer, uses=list(uses),
                           side_effects=list(side_effects), how_it_works=how_it_works,
                           safety_advice=dict(SAFETY_ADVICE))
            for name, composition, manufacturer, uses, side_effects, how_it_works in MEDICINES]


def demo_lab_tests() -> list:
    return [build_lab_test(title, code=code, parameters_count=parameters,
                           price_paise=price * 100, original_price_paise=original * 100)
            for code, title, parameters, price, original in LAB_TESTS]


async def seed_demo_catalog(conn: AsyncConnection) -> None:
    """Upsert the demo catalog (idempotent: a second run changes nothing). Runs in the caller's
    transaction."""
    await upsert_medicines(conn, demo_medicines())
    await upsert_lab_tests(conn, demo_lab_tests())
