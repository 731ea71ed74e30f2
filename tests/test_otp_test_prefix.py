"""OTP_TEST_PREFIX + OTP_TEST_CODE: every number with the prefix logs in with the fixed code (load
tests log in thousands of simulated patients), sends no SMS, starts with the demo balance; never in
production."""
from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from config import ConfigError, load_settings
from domain.otp import DEMO_WALLET_BALANCE
from storage.tables import otp_codes, users, wallet_transactions, wallets

API = "/api/v2/auth"


async def test_every_number_with_the_prefix_logs_in_with_the_code(make_client, db):
    client = await make_client(otp_test_prefix="+9199", otp_test_code="424242")
    phones = [f"+91990000{n:04d}" for n in range(40)]  # more than the per-IP OTP limit allows
    answers = await asyncio.gather(*(client.post(f"{API}/request-otp", json={"phone": p}) for p in phones))
    assert [a.status for a in answers] == [202] * len(phones)
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(otp_codes)) == 0  # nothing sent or stored
    for phone in phones[:3]:
        resp = await client.post(f"{API}/verify-otp", json={"phone": phone, "code": "424242"})
        assert resp.status == 200 and (await resp.json())["access_token"]
    again = await client.post(f"{API}/verify-otp", json={"phone": phones[0], "code": "424242"})
    assert again.status == 200  # reusable, like the listed test numbers
    wrong = await client.post(f"{API}/verify-otp", json={"phone": phones[3], "code": "111111"})
    assert wrong.status == 401 and (await wrong.json())["code"] == "INVALID_OTP"
    outside = await client.post(f"{API}/verify-otp", json={"phone": "+919812345678", "code": "424242"})
    assert outside.status == 401  # a real number still needs its real code
    async with db.connect() as conn:
        balances = dict((await conn.execute(
            sa.select(users.c.phone, wallets.c.balance).join(wallets, wallets.c.user_id == users.c.id))).all())
        credits = (await conn.execute(sa.select(wallet_transactions.c.kind, sa.func.count())
                                      .group_by(wallet_transactions.c.kind))).all()
    assert balances == {phone: DEMO_WALLET_BALANCE for phone in phones[:3]}
    assert credits == [("bonus", 3)]  # once per patient, not per login


def test_the_prefix_needs_its_code_and_never_runs_in_production():
    base = {"OTP_TEST_PREFIX": "+9199", "OTP_TEST_CODE": "424242"}
    assert load_settings(base).otp_test_prefix == "+9199"
    for broken in ({"OTP_TEST_PREFIX": "+9199"}, {"OTP_TEST_CODE": "424242"}, {**base, "OTP_TEST_PREFIX": "9199"},
                   {**base, "OTP_TEST_CODE": "12345"}):
        with pytest.raises(ConfigError):
            load_settings(broken)
    with pytest.raises(ConfigError, match="production refuses"):
        load_settings({**base, "ALLIGN_ENV": "production", "JWT_SECRET": "x" * 40,
                       "DATABASE_URL": "postgresql://db/allign", "REDIS_URL": "redis://cache"})
