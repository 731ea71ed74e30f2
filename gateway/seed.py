"""Local-mode demo data (doctors, categories, catalog, offers), seeded once, idempotently.

Runs at start when `settings.seed_demo_data` (local mode default; never on by default in
production). Several processes may start together: a transaction-scoped advisory lock serialises
them and every insert is ON CONFLICT DO NOTHING, so a second run changes nothing.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, AsyncIterator

from aiohttp import web
from storage.pool import Connection, Pool

from config import LOCAL_ADMIN, Settings
from domain import doctors as rules
from domain.otp import DEMO_WALLET_BALANCE
from domain.money import ist_today
from gateway import keys
from common.passwords import hash_password
from storage import categories, doctors, users, wallet, wallet_offers
from storage.demo_catalog import lock_demo_seed, seed_demo_catalog

log = logging.getLogger(__name__)

DEMO_DOCTOR_PASSWORD = "AllignDemo@2026"

# (first name, full name, speciality, degrees, languages, years, rate paise/min, rating, featured)
DEMO_DOCTORS: tuple[tuple[Any, ...], ...] = (
    ("ankit", "Dr. Ankit Shah", "Urology", ["MBBS", "MS", "MCh"], ["English", "Hindi", "Gujarati"], 12, 500, 4.8, True),
    ("priya", "Dr. Priya Menon", "Dermatology", ["MBBS", "MD"], ["English", "Malayalam", "Hindi"], 9, 400, 4.7, True),
    ("rahul", "Dr. Rahul Verma", "General Medicine", ["MBBS"], ["English", "Hindi"], 6, 200, 4.5, False),
    ("sneha", "Dr. Sneha Iyer", "Gynecology", ["MBBS", "MS"], ["English", "Tamil", "Hindi"], 11, 450, 4.9, True),
    ("arjun", "Dr. Arjun Reddy", "Cardiology", ["MBBS", "MD", "DM"], ["English", "Telugu"], 15, 700, 4.6, False),
    ("kavita", "Dr. Kavita Joshi", "Pediatrics", ["MBBS", "DCH"], ["English", "Marathi", "Hindi"], 8, 300, 4.8, False),
    ("vikram", "Dr. Vikram Singh", "Orthopedics", ["MBBS", "MS"], ["English", "Hindi", "Punjabi"], 14, 550, 4.4, False),
    ("meera", "Dr. Meera Nair", "Psychiatry", ["MBBS", "MD"], ["English", "Malayalam"], 10, 600, 4.9, True),
)
# (title, description, amount paise, bonus paise): recharge packs, valid for a year from the first start.
DEMO_OFFERS = (
    ("Starter Pack", "Recharge ₹500, get ₹50 extra", 50_000, 5_000),
    ("Value Pack", "Recharge ₹1000, get ₹150 extra", 100_000, 15_000),
    ("Family Pack", "Recharge ₹2000, get ₹400 extra", 200_000, 40_000),
)
DEMO_CATEGORIES = (
    ("General Medicine", "Fever, infections and everyday health"),
    ("Urology", "Kidney, bladder and urinary tract"),
    ("Dermatology", "Skin, hair and nails"),
    ("Gynecology", "Women's health and pregnancy"),
    ("Cardiology", "Heart and blood pressure"),
    ("Pediatrics", "Children's health"),
    ("Orthopedics", "Bones, joints and muscles"),
    ("Psychiatry", "Mental health and wellbeing"),
)


def demo_doctor_email(first_name: str) -> str:
    return f"dr.{first_name}@demo.allign.in"


async def _seed_doctors(conn: Connection, password_hash: str) -> None:
    rows = [
        dict(email=demo_doctor_email(first), password_hash=password_hash, full_name=name,
             slug=rules.slug_base(name, speciality), speciality_category=speciality, degrees=degrees,
             languages=languages, years_experience=years, rate_per_minute=rate, rating=rating,
             is_featured=featured, presence_status=rules.ONLINE, registration_number=f"DEMO{i + 1:06d}",
             about_short=f"{speciality} specialist with {years} years of experience (demo profile).")
        for i, (first, name, speciality, degrees, languages, years, rate, rating, featured)
        in enumerate(DEMO_DOCTORS)
    ]
    for row in rows:
        await doctors.insert_demo_doctor(conn, row)


async def _seed_categories(conn: Connection) -> None:
    for name, description in DEMO_CATEGORIES:
        await categories.insert_if_absent(conn, name, description)


async def _seed_demo_wallets(conn: Connection, settings: Settings) -> None:
    """The OTP test numbers get a patient row and a demo balance, only if they have no wallet yet."""
    for phone in settings.otp_test_numbers:
        user_id, has_wallet = await users.demo_patient(conn, phone)
        if has_wallet:
            continue
        await wallet.apply_change(conn, user_id, DEMO_WALLET_BALANCE, "bonus", description="Demo balance",
                                  reference_type="demo_seed", reference_id=str(user_id))


async def _seed_offers(conn: Connection) -> None:
    today = ist_today(dt.datetime.now(dt.timezone.utc))
    for title, description, amount, bonus in DEMO_OFFERS:
        await wallet_offers.insert_demo_offer(conn, title, description, amount, bonus, today,
                                              today + dt.timedelta(days=365))


async def seed_demo_data(engine: Pool, settings: Settings) -> None:
    password_hash = await hash_password(DEMO_DOCTOR_PASSWORD)
    async with engine.begin() as conn:
        await lock_demo_seed(conn)  # one process at a time; the others then find the rows
        await _seed_doctors(conn, password_hash)
        await _seed_categories(conn)
        await _seed_offers(conn)
        await _seed_demo_wallets(conn, settings)
        await seed_demo_catalog(conn)  # fills an empty catalog only


async def demo_seed_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    if settings.seed_demo_data:
        from gateway.startup import STARTUP, Step

        async def seed() -> None:
            await seed_demo_data(app[keys.DB], settings)
            log.info("demo data ready (%d doctors, %d categories)", len(DEMO_DOCTORS), len(DEMO_CATEGORIES))
        await app[STARTUP].run(Step("demo data", seed))  # in the background while PostgreSQL is down
    yield


def login_help(settings: Settings) -> list[str]:
    """Lines printed at start in local mode: how to log in."""
    lines = []
    if settings.otp_test_numbers:
        phone, code = next(iter(settings.otp_test_numbers.items()))
        lines.append(f"patient login: POST /api/v2/auth/verify-otp with phone {phone} and code {code}")
    else:
        lines.append("patient login: POST /api/v2/auth/request-otp; the code is written to this log")
    if settings.admin_bootstrap_username:
        # The built-in local admin's password is no secret; a configured one is never printed.
        local_default = (settings.admin_bootstrap_username, settings.admin_bootstrap_password) == LOCAL_ADMIN
        shown = settings.admin_bootstrap_password if local_default else "(ADMIN_BOOTSTRAP_PASSWORD)"
        lines.append(f"admin login: POST /api/v2/admin/auth/login with {settings.admin_bootstrap_username} / {shown}")
    if settings.seed_demo_data:
        others = ", ".join(demo_doctor_email(d[0]) for d in DEMO_DOCTORS[1:])
        lines.append(f"doctor login: POST /api/v2/auth/doctor/login with {demo_doctor_email(DEMO_DOCTORS[0][0])}"
                     f" / {DEMO_DOCTOR_PASSWORD} (same password: {others})")
    return lines
