"""Money rules for sessions and the wallet. Pure functions; amounts are integer paise.

A session bills ceil(duration / 60 s) minutes at its rate, at least one minute once it went
ONGOING. Duration is measured in whole microseconds (what PostgreSQL stores), so 60.001 s is
two minutes and no float rounding can move a boundary.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from domain.errors import BadRequest

_MINUTE_US = 60_000_000


def elapsed_us(started_at: dt.datetime, ended_at: dt.datetime) -> int:
    delta = ended_at - started_at
    return max(0, (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def billable_minutes(started_at: dt.datetime, ended_at: dt.datetime) -> int:
    return max(1, -(-elapsed_us(started_at, ended_at) // _MINUTE_US))


def accrued_cost(started_at: dt.datetime, now: dt.datetime, rate_per_minute: int) -> int:
    """What the session would cost if it ended now."""
    return billable_minutes(started_at, now) * rate_per_minute


def balance_exhausted(started_at: dt.datetime, now: dt.datetime, rate_per_minute: int,
                      balance: int) -> bool:
    """The balance watcher's rule: the accrued cost has reached the wallet balance."""
    return rate_per_minute > 0 and accrued_cost(started_at, now, rate_per_minute) >= balance


def prepaid_required(rate_per_minute: int, minutes: int) -> int:
    return rate_per_minute * minutes


def check_can_prepay(balance: int, rate_per_minute: int, minutes: int) -> None:
    needed = prepaid_required(rate_per_minute, minutes)
    if balance < needed:
        raise BadRequest(f"Wallet balance must cover {minutes} minutes ({needed} paise)",
                         code="INSUFFICIENT_BALANCE")


def balance_after(balance: int, amount: int) -> int:
    """The balance after a signed change; a wallet never goes below zero."""
    result = balance + amount
    if result < 0:
        raise BadRequest("Insufficient wallet balance", code="INSUFFICIENT_BALANCE")
    return result


@dataclass(frozen=True)
class SessionCharge:
    duration_seconds: float
    minutes: int
    amount: int    # full price: minutes × rate
    charged: int   # what the wallet paid: the amount capped at the balance

    @property
    def shortfall(self) -> int:
        return self.amount - self.charged


def session_charge(started_at: dt.datetime, ended_at: dt.datetime, rate_per_minute: int,
                   balance: int) -> SessionCharge:
    minutes = billable_minutes(started_at, ended_at)
    amount = minutes * rate_per_minute
    return SessionCharge(
        duration_seconds=elapsed_us(started_at, ended_at) / 1_000_000,
        minutes=minutes,
        amount=amount,
        charged=max(0, min(amount, balance)),
    )


def session_description(doctor_name: str, charge: SessionCharge) -> str:
    """The wallet ledger line of a consultation."""
    description = f"Consultation with {doctor_name} ({charge.minutes} min)"
    if charge.shortfall:
        description += f"; {charge.shortfall} paise unpaid (balance exhausted)"
    return description
