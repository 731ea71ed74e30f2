"""Local-mode demo data: seeded at start, idempotent (twice, or two processes at once), login help."""
from __future__ import annotations

import asyncio
import dataclasses

import sqlalchemy as sa

from common.passwords import verify_password
from gateway.seed import DEMO_DOCTOR_PASSWORD, DEMO_DOCTORS, DEMO_WALLET_BALANCE, login_help, seed_demo_data
from storage.tables import doctors, health_categories, users, wallet_transactions, wallets
from tests.factories import make_user, make_wallet


async def _counts(db) -> dict[str, int]:
    async with db.connect() as conn:
        return {t.name: await conn.scalar(sa.select(sa.func.count()).select_from(t))
                for t in (doctors, health_categories, users, wallets, wallet_transactions)}


async def test_seed_twice_gives_the_same_rows(db, settings, pool):
    await seed_demo_data(pool, settings)
    first = await _counts(db)
    assert first["doctors"] == len(DEMO_DOCTORS) == 8
    assert first["health_categories"] == 8
    assert first["users"] == first["wallets"] == first["wallet_transactions"] == len(settings.otp_test_numbers) == 2
    await seed_demo_data(pool, settings)
    assert await _counts(db) == first


async def test_two_processes_seeding_at_once(db, settings, pool):
    await asyncio.gather(seed_demo_data(pool, settings), seed_demo_data(pool, settings), seed_demo_data(pool, settings))
    counts = await _counts(db)
    assert counts["doctors"] == 8 and counts["health_categories"] == 8 and counts["wallet_transactions"] == 2


async def test_demo_doctors_are_online_and_can_log_in(client, db, settings, pool):
    await seed_demo_data(pool, settings)
    async with db.connect() as conn:
        rows = (await conn.execute(sa.select(doctors))).mappings().all()
    assert {r["presence_status"] for r in rows} == {"ONLINE"}
    assert len({r["speciality_category"] for r in rows}) == 8
    ankit = next(r for r in rows if r["email"] == "dr.ankit@demo.allign.in")
    assert ankit["slug"] == "dr-ankit-shah-urology"
    assert await verify_password(ankit["password_hash"], DEMO_DOCTOR_PASSWORD)
    resp = await client.post("/api/v2/auth/doctor/login",
                             json={"email": "dr.ankit@demo.allign.in", "password": DEMO_DOCTOR_PASSWORD})
    assert resp.status == 200, await resp.text()
    token = (await resp.json())["access_token"]
    profile = await client.get("/api/v2/doctors/me/profile", headers={"Authorization": f"Bearer {token}"})
    assert (await profile.json())["email"] == "dr.ankit@demo.allign.in"


async def test_demo_wallet_only_when_none_exists(db, settings, pool):
    phones = list(settings.otp_test_numbers)
    existing = await make_user(db, phone=phones[0])
    await make_wallet(db, existing["id"], 500)
    await seed_demo_data(pool, settings)
    async with db.connect() as conn:
        balances = dict((await conn.execute(
            sa.select(users.c.phone, wallets.c.balance).join(wallets, wallets.c.user_id == users.c.id))).all())
        ledger = (await conn.execute(sa.select(wallet_transactions))).mappings().all()
    assert balances == {phones[0]: 500, phones[1]: DEMO_WALLET_BALANCE}
    assert [(t["amount"], t["balance_after"], t["kind"]) for t in ledger] == \
        [(DEMO_WALLET_BALANCE, DEMO_WALLET_BALANCE, "bonus")]


async def test_no_test_numbers_no_demo_patients(db, settings, pool):
    await seed_demo_data(pool, dataclasses.replace(settings, otp_test_numbers={}))
    counts = await _counts(db)
    assert counts["users"] == 0 and counts["wallets"] == 0 and counts["doctors"] == 8


async def test_app_start_seeds_only_when_enabled(make_client, db):
    client = await make_client(seed_demo_data=True)
    listed = await (await client.get("/api/v2/doctors/", params={"limit": 100})).json()
    assert len(listed) == 8
    search = await (await client.get("/api/v2/doctors/search", params={"q": "ankt"})).json()
    assert search[0]["full_name"] == "Dr. Ankit Shah"


async def test_app_start_without_seeding_leaves_the_database_empty(client, db):
    assert await (await client.get("/api/v2/doctors/")).json() == []


def test_login_help_keeps_its_lines_and_names_a_doctor(settings):
    lines = login_help(dataclasses.replace(settings, seed_demo_data=True, admin_bootstrap_username="root"))
    assert lines[0].startswith("patient login: POST /api/v2/auth/verify-otp with phone +919999999999")
    assert lines[1] == "admin login: POST /api/v2/admin/auth/login with root / (ADMIN_BOOTSTRAP_PASSWORD)"
    assert "dr.ankit@demo.allign.in" in lines[2] and DEMO_DOCTOR_PASSWORD in lines[2]
    assert "/api/v2/auth/doctor/login" in lines[2]
    local = login_help(dataclasses.replace(settings, admin_bootstrap_username="admin",
                                           admin_bootstrap_password="allign-local-admin"))
    assert "admin login: POST /api/v2/admin/auth/login with admin / allign-local-admin" in local
    quiet = login_help(dataclasses.replace(settings, seed_demo_data=False, otp_test_numbers={}))
    assert quiet == ["patient login: POST /api/v2/auth/request-otp; the code is written to this log"]
