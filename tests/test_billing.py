"""Billing arithmetic: pure rules, then the real end path at minute boundaries on a frozen clock."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from domain import billing
from domain.errors import BadRequest
from storage.tables import connect_sessions, doctors, wallet_transactions, wallets
from tests import factories

API = "/api/v2"
T0 = dt.datetime(2026, 2, 7, 21, 56, 24, tzinfo=dt.timezone.utc)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("seconds, minutes", [
    (0, 1), (0.5, 1), (59.999999, 1), (60.0, 1), (60.000001, 2), (60.001, 2), (119.9, 2),
    (120, 2), (120.5, 3), (37 * 60 + 7, 38), (3600, 60),
])
def test_billable_minutes_round_up_with_one_minute_minimum(seconds, minutes):
    assert billing.billable_minutes(T0, at(seconds)) == minutes


def test_clock_going_backwards_still_bills_one_minute():
    assert billing.billable_minutes(T0, at(-5)) == 1
    assert billing.elapsed_us(T0, at(-5)) == 0


@pytest.mark.parametrize("balance, charged", [(10_000, 1_000), (1_000, 1_000), (700, 700), (0, 0)])
def test_charge_is_capped_at_the_balance(balance, charged):
    charge = billing.session_charge(T0, at(61), 500, balance)
    assert (charge.minutes, charge.amount, charge.charged) == (2, 1_000, charged)
    assert charge.shortfall == 1_000 - charged
    assert charge.duration_seconds == 61.0


@pytest.mark.parametrize("elapsed, balance, exhausted", [
    (0.5, 2_500, False),     # 1 min = 500 < 2500
    (240, 2_500, False),     # 4 min = 2000
    (240.001, 2_500, True),  # 5 min = 2500: reached
    (10, 500, True),         # the first minute already takes it all
    (10, 499, True),
    (10, 501, False),
])
def test_balance_exhausted_when_accrued_cost_reaches_balance(elapsed, balance, exhausted):
    assert billing.balance_exhausted(T0, at(elapsed), 500, balance) is exhausted


def test_free_sessions_never_exhaust_a_balance():
    assert billing.balance_exhausted(T0, at(3600), 0, 0) is False


def test_prepaid_and_balance_after():
    billing.check_can_prepay(2_500, 500, 5)
    with pytest.raises(BadRequest) as exc:
        billing.check_can_prepay(2_499, 500, 5)
    assert exc.value.code == "INSUFFICIENT_BALANCE"
    assert billing.balance_after(100, -100) == 0
    assert billing.balance_after(100, 50) == 150
    with pytest.raises(BadRequest):
        billing.balance_after(100, -101)


# --- through the API ----------------------------------------------------------------------

async def _ongoing(client, db, auth, clock, *, balance: int, rate: int = 500):
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db, rate_per_minute=rate)
    await factories.make_wallet(db, patient["id"], balance)
    resp = await client.post(f"{API}/connect/sessions", json={"target_doctor_id": str(doctor["id"])},
                             headers=auth("client", patient["id"]))
    assert resp.status == 201, await resp.text()
    sid = (await resp.json())["session_id"]
    resp = await client.post(f"{API}/connect/sessions/{sid}/accept", headers=auth("doctor", doctor["id"]))
    assert resp.status == 200, await resp.text()
    return patient, doctor, sid


@pytest.mark.parametrize("seconds, minutes", [(0.5, 1), (60.0, 1), (60.001, 2), (0, 1)])
async def test_end_bills_at_minute_boundaries(make_client, frozen_clock, db, auth, seconds, minutes):
    client = await make_client(clock=frozen_clock, sweeper_interval=3600)
    patient, doctor, sid = await _ongoing(client, db, auth, frozen_clock, balance=10_000)
    frozen_clock.advance(seconds)
    resp = await client.post(f"{API}/connect/sessions/{sid}/end", headers=auth("doctor", doctor["id"]))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["status"] == "ENDED"
    assert body["billed_minutes"] == minutes and body["billed_amount"] == minutes * 500
    assert body["duration_seconds"] == pytest.approx(seconds, abs=1e-6)
    async with db.connect() as conn:
        balance = await conn.scalar(sa.select(wallets.c.balance).where(wallets.c.user_id == patient["id"]))
        ledger = (await conn.execute(sa.select(wallet_transactions))).mappings().all()
        doc = (await conn.execute(sa.select(doctors).where(doctors.c.id == doctor["id"]))).mappings().one()
    assert balance == 10_000 - minutes * 500
    assert len(ledger) == 1
    row = ledger[0]
    assert (row["kind"], row["reference_type"], row["reference_id"]) == ("session", "connect_session", sid)
    assert row["amount"] == -minutes * 500 and row["balance_after"] == balance
    assert doc["earnings_paise"] == minutes * 500 and doc["total_sessions"] == 1


async def test_end_caps_the_debit_at_the_balance_and_records_the_shortfall(make_client, frozen_clock, db, auth):
    client = await make_client(clock=frozen_clock, sweeper_interval=3600)
    patient, doctor, sid = await _ongoing(client, db, auth, frozen_clock, balance=2_500)
    frozen_clock.advance(10 * 60 + 1)  # 11 minutes = 5500 paise owed, 2500 available
    resp = await client.post(f"{API}/connect/sessions/{sid}/end", headers=auth("client", patient["id"]))
    body = await resp.json()
    assert resp.status == 200
    assert body["billed_minutes"] == 11 and body["billed_amount"] == 2_500
    async with db.connect() as conn:
        balance = await conn.scalar(sa.select(wallets.c.balance).where(wallets.c.user_id == patient["id"]))
        row = (await conn.execute(sa.select(wallet_transactions))).mappings().one()
        earned = await conn.scalar(sa.select(doctors.c.earnings_paise).where(doctors.c.id == doctor["id"]))
        session = (await conn.execute(sa.select(connect_sessions))).mappings().one()
    assert balance == 0 and row["amount"] == -2_500 and row["balance_after"] == 0
    assert "3000 paise unpaid" in row["description"]
    assert earned == 2_500
    # The shortfall stays derivable from the session row: minutes × rate − billed.
    assert session["billed_minutes"] * session["rate_per_minute"] - session["billed_amount"] == 3_000


async def test_free_session_ends_without_a_ledger_row(make_client, frozen_clock, db, auth):
    client = await make_client(clock=frozen_clock, sweeper_interval=3600)
    patient, doctor, sid = await _ongoing(client, db, auth, frozen_clock, balance=0, rate=0)
    frozen_clock.advance(125)
    resp = await client.post(f"{API}/connect/sessions/{sid}/end", headers=auth("client", patient["id"]))
    body = await resp.json()
    assert resp.status == 200 and body["billed_minutes"] == 3 and body["billed_amount"] == 0
    async with db.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(wallet_transactions)) == 0
        assert await conn.scalar(sa.select(doctors.c.total_sessions).where(doctors.c.id == doctor["id"])) == 1
