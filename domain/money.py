"""Money rules: INR ↔ paise, payment order states, what a gateway report means, offer applicability.

Amounts are integer paise everywhere inside the platform. INR decimals exist only at two edges: the
admin's wallet-offer body and Cashfree's API (`order_amount`, `payment_amount`). Conversions go
through `Decimal` and are exact: a value with more than two decimals is refused, never rounded, and
no float is involved (JSON bodies carrying INR are parsed with `parse_float=Decimal`).

Order states: PENDING → PAID | FAILED | AMOUNT_MISMATCH. FAILED → PAID | AMOUNT_MISMATCH as well:
Cashfree lets a customer retry inside the same order after a failed attempt, so a success that
arrives after a failure must still be credited (once: the ledger reference is the order id).
PAID and AMOUNT_MISMATCH are final.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from domain.errors import BadRequest, ValidationFailed

IST = ZoneInfo("Asia/Kolkata")
PAISE_PER_RUPEE = 100
_CENT = Decimal("0.01")
MIN_ORDER_PAISE = 100                 # ₹1, Cashfree's minimum order amount
MAX_ORDER_PAISE = 10_000_000          # ₹1,00,000 per top-up
# Ledger kinds and the reference that makes a payment's credit happen once.
RECHARGE, BONUS = "recharge", "bonus"
ORDER_REFERENCE = "payment_order"


# --- INR ↔ paise ------------------------------------------------------------------------------

def inr_to_paise(value: Decimal | int | str) -> int:
    """An INR amount with at most two decimals → paise, exactly. ValueError otherwise (floats too)."""
    if isinstance(value, (bool, float)):
        raise ValueError("INR amounts are Decimal, int or str, never float")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError("not a finite amount")
    paise = amount * PAISE_PER_RUPEE
    if paise != paise.to_integral_value():
        raise ValueError("INR amounts have at most two decimals")
    return int(paise)


def paise_to_inr(paise: int) -> Decimal:
    """Paise → INR with exactly two decimals (50050 → Decimal('500.50'))."""
    return (Decimal(int(paise)) / PAISE_PER_RUPEE).quantize(_CENT)


def inr_text(paise: int) -> str:
    """Paise → the INR string shown to admins and sent to Cashfree ("500.50")."""
    return str(paise_to_inr(paise))


def rupees(paise: int) -> str:
    """Paise → "₹500.50" for notification texts."""
    return f"₹{inr_text(paise)}"


# --- calendar ---------------------------------------------------------------------------------

def ist_today(now: dt.datetime) -> dt.date:
    """The calendar day in India at `now` (offers are valid on IST days)."""
    return now.astimezone(IST).date()


# --- order states -----------------------------------------------------------------------------

class OrderStatus(StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    FAILED = "FAILED"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"


PENDING, PAID, FAILED = OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.FAILED
AMOUNT_MISMATCH = OrderStatus.AMOUNT_MISMATCH
# target → the states it may be reached from (the conditional UPDATE's WHERE).
TRANSITIONS: dict[OrderStatus, tuple[OrderStatus, ...]] = {
    PAID: (PENDING, FAILED),
    AMOUNT_MISMATCH: (PENDING, FAILED),
    FAILED: (PENDING,),
}
FINAL = frozenset((PAID, AMOUNT_MISMATCH))


def can_move(current: OrderStatus | str, target: OrderStatus) -> bool:
    return OrderStatus(current) in TRANSITIONS.get(target, ())


class Outcome(StrEnum):
    """What the payment gateway says about an order."""
    PAID = "PAID"          # paid in full (or so it says: the amount is checked)
    ACTIVE = "ACTIVE"      # still payable: nothing to do yet
    FAILED = "FAILED"      # expired, terminated, or the payment failed / was abandoned


@dataclass(frozen=True, slots=True)
class GatewayReport:
    outcome: Outcome
    paid_amount: int | None = None       # paise, for PAID
    payment_id: str | None = None
    reason: str | None = None            # why FAILED, for support ("EXPIRED", "USER_DROPPED", ...)


def settlement(report: GatewayReport, order_amount: int) -> OrderStatus | None:
    """The state a report moves an order to (None: leave it as it is)."""
    if report.outcome is Outcome.PAID:
        return PAID if report.paid_amount == order_amount else AMOUNT_MISMATCH
    if report.outcome is Outcome.FAILED:
        return FAILED
    return None


def expired_report(now: dt.datetime, expires_at: dt.datetime, grace: dt.timedelta) -> GatewayReport | None:
    """An order the gateway still calls active long after its expiry is failed (Cashfree expires
    orders itself; the local gateway never does)."""
    if now >= expires_at + grace:
        return GatewayReport(Outcome.FAILED, reason="EXPIRED")
    return None


# Cashfree's order and payment statuses (API 2023-08-01) → an outcome.
_FAILED_ORDER_STATES = {"EXPIRED", "TERMINATED"}
_FAILED_PAYMENT_STATES = {"FAILED", "USER_DROPPED", "CANCELLED", "VOID"}


def cashfree_report(order_status: str, order_amount: int | None,
                    payments: Iterable[Mapping[str, Any]]) -> GatewayReport:
    """Cashfree's view of an order (its status, amount in paise, and its payments as
    {payment_id, status, amount (paise)}, newest first) → a report.

    A SUCCESS payment means paid even if the order's status lags; otherwise a PAID order is paid
    at its order amount. An active order whose latest attempt failed counts as failed (a later
    success can still move it to PAID).
    """
    attempts = list(payments)
    success = next((p for p in attempts if p.get("status") == "SUCCESS"), None)
    if success is not None:
        return GatewayReport(Outcome.PAID, success.get("amount"), success.get("payment_id"))
    status = (order_status or "").upper()
    if status == "PAID":
        return GatewayReport(Outcome.PAID, order_amount)
    if status in _FAILED_ORDER_STATES:
        return GatewayReport(Outcome.FAILED, reason=status)
    if attempts and attempts[0].get("status") in _FAILED_PAYMENT_STATES:
        return GatewayReport(Outcome.FAILED, reason=str(attempts[0]["status"]))
    return GatewayReport(Outcome.ACTIVE)


# --- offers -----------------------------------------------------------------------------------

def check_validity(valid_from: dt.date, valid_until: dt.date) -> None:
    """An offer's days run forward (both inclusive): 422 on valid_until otherwise."""
    if valid_from > valid_until:
        raise ValidationFailed.single("body", "valid_until", "valid_until must not be before valid_from")


def offer_available(offer: Mapping[str, Any], today: dt.date) -> bool:
    """Active and valid on this IST calendar day (both ends inclusive)."""
    return bool(offer["is_active"]) and offer["valid_from"] <= today <= offer["valid_until"]


def check_offer(offer: Mapping[str, Any] | None, amount: int, today: dt.date) -> int:
    """The bonus (paise) the offer adds to an order of `amount` paise; 400 OFFER_NOT_APPLICABLE
    unless the offer exists, is available today and the amount is exactly its pack amount."""
    if offer is None or not offer_available(offer, today):
        raise BadRequest("This offer is not available", code="OFFER_NOT_APPLICABLE")
    if amount != offer["amount"]:
        raise BadRequest(f"This offer applies to a recharge of exactly {rupees(offer['amount'])}",
                         code="OFFER_NOT_APPLICABLE")
    return int(offer["bonus_amount"])
