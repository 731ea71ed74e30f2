"""The money rules (domain.money) and the INR amounts on Cashfree's wire: exact in ₹0.01 steps, no float."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from domain.errors import BadRequest, ValidationFailed
from domain.money import (
    AMOUNT_MISMATCH, FAILED, PAID, PENDING, GatewayReport, Outcome, can_move, cashfree_report, check_offer,
    check_validity, expired_report, inr_text, inr_to_paise, ist_today, paise_to_inr, rupees, settlement,
)
from integrations.cashfree import NewOrder, cashfree_phone, create_order_body, parse_webhook
from integrations.cashfree import _dumps as wire_json  # the bytes Cashfree receives


def test_every_paise_amount_round_trips_through_inr():
    for paise in range(0, 1_000_01):  # ₹0.00 … ₹1000.00 in ₹0.01 steps
        text = inr_text(paise)
        assert inr_to_paise(text) == paise and inr_to_paise(Decimal(text)) == paise
        assert text == f"{paise // 100}.{paise % 100:02d}"
    assert inr_text(10_000_000) == "100000.00" and paise_to_inr(1) == Decimal("0.01")
    assert rupees(50_050) == "₹500.50"


@pytest.mark.parametrize("value, paise", [
    ("0.01", 1), ("0.1", 10), ("19.99", 1999), ("500", 50_000), (500, 50_000), ("500.00", 50_000),
    (Decimal("0.07"), 7), (" 1.10 ", 110), ("1e2", 10_000), (Decimal("-2.50"), -250),
])
def test_inr_to_paise_is_exact(value, paise):
    assert inr_to_paise(value) == paise


@pytest.mark.parametrize("value", ["0.001", "19.999", Decimal("0.005"), 0.1, 19.99, True, "abc", "NaN", "Infinity", ""])
def test_inr_to_paise_refuses_what_it_cannot_convert_exactly(value):
    with pytest.raises(ValueError):
        inr_to_paise(value)


def test_amounts_go_to_cashfree_as_exact_two_decimal_numbers():
    for paise, text in ((100, "1.00"), (12_345, "123.45"), (1_999, "19.99"), (10_000_000, "100000.00"), (7, "0.07")):
        order = NewOrder("cf_order_x", paise, "u", "+919876543210", None, "https://h/w",
                         dt.datetime(2026, 2, 7, 9, 0, tzinfo=dt.timezone.utc))
        raw = wire_json(create_order_body(order))
        assert f'"order_amount": {text},' in raw
        assert json.loads(raw, parse_float=Decimal)["order_amount"] == Decimal(text)
    body = create_order_body(order)
    assert body["order_expiry_time"] == "2026-02-07T14:30:00+05:30" and "customer_name" not in body["customer_details"]


def test_webhook_amounts_are_read_as_decimals():
    raw = b'{"type":"PAYMENT_SUCCESS_WEBHOOK","data":{"order":{"order_id":"o1"},"payment":{"payment_amount":170.10,' \
          b'"payment_status":"SUCCESS","cf_payment_id":12}}}'
    event = parse_webhook(raw)
    assert (event.type, event.order_id, event.payment_amount, event.payment_id) == (
        "PAYMENT_SUCCESS_WEBHOOK", "o1", 17_010, "12")
    assert parse_webhook(b'{"data":{"payment":{"payment_amount":1.001}}}').payment_amount is None
    assert parse_webhook(b"[1]").type == "" and parse_webhook(b"\xff").order_id is None


def test_phones_for_cashfree():
    assert cashfree_phone("+918090839108") == "8090839108"
    assert cashfree_phone("+14155550100") == "+14155550100"


def test_order_transitions():
    assert can_move(PENDING, PAID) and can_move(FAILED, PAID) and can_move(PENDING, FAILED)
    assert can_move(PENDING, AMOUNT_MISMATCH) and can_move(FAILED, AMOUNT_MISMATCH)
    for final in (PAID, AMOUNT_MISMATCH):
        assert not any(can_move(final, target) for target in (PENDING, PAID, FAILED, AMOUNT_MISMATCH))
    assert not can_move(FAILED, FAILED) and not can_move(PAID, PENDING)


def test_settlement_checks_the_amount():
    assert settlement(GatewayReport(Outcome.PAID, 50_000), 50_000) is PAID
    assert settlement(GatewayReport(Outcome.PAID, 49_999), 50_000) is AMOUNT_MISMATCH
    assert settlement(GatewayReport(Outcome.PAID, None), 50_000) is AMOUNT_MISMATCH
    assert settlement(GatewayReport(Outcome.FAILED), 50_000) is FAILED
    assert settlement(GatewayReport(Outcome.ACTIVE), 50_000) is None


@pytest.mark.parametrize("status, payments, outcome", [
    ("ACTIVE", [], Outcome.ACTIVE),
    ("PAID", [], Outcome.PAID),
    ("ACTIVE", [{"status": "SUCCESS", "amount": 100, "payment_id": "p"}], Outcome.PAID),  # order status lags
    ("EXPIRED", [], Outcome.FAILED),
    ("TERMINATED", [], Outcome.FAILED),
    ("TERMINATION_REQUESTED", [], Outcome.ACTIVE),
    ("ACTIVE", [{"status": "FAILED"}], Outcome.FAILED),
    ("ACTIVE", [{"status": "USER_DROPPED"}], Outcome.FAILED),
    ("ACTIVE", [{"status": "PENDING"}, {"status": "FAILED"}], Outcome.ACTIVE),  # the latest attempt is in flight
    ("ACTIVE", [{"status": "FAILED"}, {"status": "SUCCESS", "amount": 100}], Outcome.PAID),
])
def test_what_cashfree_says(status, payments, outcome):
    assert cashfree_report(status, 100, payments).outcome is outcome


def test_an_active_order_long_past_expiry_has_failed():
    expires = dt.datetime(2026, 2, 7, 10, 0, tzinfo=dt.timezone.utc)
    grace = dt.timedelta(minutes=10)
    assert expired_report(expires + dt.timedelta(minutes=9), expires, grace) is None
    assert expired_report(expires + grace, expires, grace).outcome is Outcome.FAILED


def test_the_ist_calendar_day():
    assert ist_today(dt.datetime(2026, 3, 1, 18, 29, tzinfo=dt.timezone.utc)) == dt.date(2026, 3, 1)
    assert ist_today(dt.datetime(2026, 3, 1, 18, 30, tzinfo=dt.timezone.utc)) == dt.date(2026, 3, 2)


def test_offer_applicability():
    today = dt.date(2026, 3, 2)
    offer = {"amount": 50_000, "bonus_amount": 5_000, "is_active": True,
             "valid_from": dt.date(2026, 3, 2), "valid_until": dt.date(2026, 3, 2)}
    assert check_offer(offer, 50_000, today) == 5_000
    for args in ((offer, 50_001, today), (offer, 50_000, dt.date(2026, 3, 3)), (offer, 50_000, dt.date(2026, 3, 1)),
                 ({**offer, "is_active": False}, 50_000, today), (None, 50_000, today)):
        with pytest.raises(BadRequest) as raised:
            check_offer(*args)
        assert raised.value.code == "OFFER_NOT_APPLICABLE"
    check_validity(today, today)
    with pytest.raises(ValidationFailed):
        check_validity(today, today - dt.timedelta(days=1))
