"""Cashfree's webhook: the signature over the raw body and the timestamp (milliseconds), replays,
what each event type does, and what is acknowledged without change."""
from __future__ import annotations

import datetime as dt

import pytest

from tests import factories
from tests.fake_cashfree import CLIENT_SECRET, cashfree, cashfree_client  # noqa: F401
from tests.test_payments import WEBHOOK, create_order, ledger, order_row, pushes


def _ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


async def test_a_success_webhook_credits_once_and_a_replay_changes_nothing(cashfree_client, cashfree, db, auth):
    client = await cashfree_client()
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user, amount=25_050))["order_id"]
    raw, headers = cashfree.webhook("PAYMENT_SUCCESS_WEBHOOK", order_id, amount="250.50")
    for _ in range(3):  # Cashfree's retries and a replayed copy: same bytes, same signature
        resp = await client.post(WEBHOOK, data=raw, headers=headers)
        assert resp.status == 200 and await resp.json() == {"received": True, "handled": True}
    row = await order_row(db, order_id)
    assert row["status"] == "PAID" and row["paid_amount"] == 25_050
    [credit] = await ledger(db, user["id"])
    assert (credit["kind"], credit["amount"], credit["reference_id"]) == ("recharge", 25_050, order_id)
    assert [p["event_type"] for p in await pushes(db, user["id"])] == ["payment.success"]


@pytest.mark.parametrize("forgery", ["wrong_secret", "tampered_body", "no_signature", "no_timestamp",
                                     "bad_timestamp", "other_timestamp", "stale", "future"])
async def test_a_bad_or_stale_webhook_is_401_and_changes_nothing(cashfree_client, cashfree, db, auth, forgery,
                                                                 frozen_clock):
    client = await cashfree_client(clock=frozen_clock)
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user))["order_id"]
    now = frozen_clock.now()
    secret = "not-the-secret" if forgery == "wrong_secret" else CLIENT_SECRET
    sent_at = {"stale": now - dt.timedelta(minutes=5, seconds=1),
               "future": now + dt.timedelta(minutes=5, seconds=1)}.get(forgery, now)
    raw, headers = cashfree.webhook("PAYMENT_SUCCESS_WEBHOOK", order_id, timestamp_ms=_ms(sent_at), secret=secret)
    if forgery == "tampered_body":
        raw = raw.replace(b'"payment_status":"SUCCESS"', b'"payment_status":"SUCCESS" ')
    elif forgery == "no_signature":
        del headers["x-webhook-signature"]
    elif forgery == "no_timestamp":
        del headers["x-webhook-timestamp"]
    elif forgery == "bad_timestamp":
        headers["x-webhook-timestamp"] = "yesterday"
    elif forgery == "other_timestamp":  # a captured signature with a fresh timestamp
        headers["x-webhook-timestamp"] = str(int(headers["x-webhook-timestamp"]) + 1)
    resp = await client.post(WEBHOOK, data=raw, headers=headers)
    assert resp.status == 401
    assert (await resp.json())["code"] == "INVALID_WEBHOOK_SIGNATURE"
    assert (await order_row(db, order_id))["status"] == "PENDING"
    assert await ledger(db, user["id"]) == [] and await pushes(db, user["id"]) == []


async def test_the_timestamp_window_is_five_minutes(cashfree_client, cashfree, db, auth, frozen_clock):
    client = await cashfree_client(clock=frozen_clock)
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user))["order_id"]
    raw, headers = cashfree.webhook("PAYMENT_SUCCESS_WEBHOOK", order_id,
                                    timestamp_ms=_ms(frozen_clock.now() - dt.timedelta(minutes=4, seconds=59)))
    assert (await client.post(WEBHOOK, data=raw, headers=headers)).status == 200
    assert (await order_row(db, order_id))["status"] == "PAID"
    frozen_clock.advance(2)  # the same delivery, replayed past the window
    assert (await client.post(WEBHOOK, data=raw, headers=headers)).status == 401


@pytest.mark.parametrize("event, status", [("PAYMENT_FAILED_WEBHOOK", "FAILED"),
                                           ("PAYMENT_USER_DROPPED_WEBHOOK", "USER_DROPPED")])
async def test_failed_and_dropped_webhooks_fail_the_order(cashfree_client, cashfree, db, auth, event, status):
    client = await cashfree_client()
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user))["order_id"]
    raw, headers = cashfree.webhook(event, order_id, payment_status=status)
    resp = await client.post(WEBHOOK, data=raw, headers=headers)
    assert resp.status == 200 and (await resp.json())["handled"] is True
    row = await order_row(db, order_id)
    assert (row["status"], row["failure_reason"]) == ("FAILED", status)
    [push] = await pushes(db, user["id"])
    assert push["event_type"] == "payment.failed" and push["data"]["order_id"] == order_id
    # The customer retries in the same checkout and pays: the late success is credited.
    raw, headers = cashfree.webhook("PAYMENT_SUCCESS_WEBHOOK", order_id)
    assert (await client.post(WEBHOOK, data=raw, headers=headers)).status == 200
    assert (await order_row(db, order_id))["status"] == "PAID"
    assert len(await ledger(db, user["id"])) == 1


async def test_a_failure_after_payment_changes_nothing(cashfree_client, cashfree, db, auth):
    client = await cashfree_client()
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user))["order_id"]
    for event, status in (("PAYMENT_SUCCESS_WEBHOOK", "SUCCESS"), ("PAYMENT_FAILED_WEBHOOK", "FAILED")):
        raw, headers = cashfree.webhook(event, order_id, payment_status=status)
        assert (await client.post(WEBHOOK, data=raw, headers=headers)).status == 200
    assert (await order_row(db, order_id))["status"] == "PAID"
    assert [p["event_type"] for p in await pushes(db, user["id"])] == ["payment.success"]


async def test_a_webhook_amount_other_than_the_orders_is_a_mismatch(cashfree_client, cashfree, db, auth):
    client = await cashfree_client()
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user, amount=50_000))["order_id"]
    raw, headers = cashfree.webhook("PAYMENT_SUCCESS_WEBHOOK", order_id, amount="499.99")
    assert (await client.post(WEBHOOK, data=raw, headers=headers)).status == 200
    row = await order_row(db, order_id)
    assert (row["status"], row["paid_amount"]) == ("AMOUNT_MISMATCH", 49_999)
    assert await ledger(db, user["id"]) == []


@pytest.mark.parametrize("case", ["unknown_order", "unknown_type", "not_json", "no_order"])
async def test_what_we_do_not_act_on_is_acknowledged(cashfree_client, cashfree, db, auth, case):
    client = await cashfree_client()
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user))["order_id"]
    if case == "unknown_order":
        raw, headers = cashfree.webhook("PAYMENT_SUCCESS_WEBHOOK", "cf_order_" + "0" * 32, amount="500.00")
    elif case == "unknown_type":
        raw, headers = cashfree.webhook("REFUND_STATUS_WEBHOOK", order_id)
    else:
        raw = b"not json at all" if case == "not_json" else b'{"type":"PAYMENT_SUCCESS_WEBHOOK","data":{}}'
        timestamp = headers_ts = str(_ms(dt.datetime.now(dt.timezone.utc)))
        headers = {"Content-Type": "application/json", "x-webhook-timestamp": headers_ts,
                   "x-webhook-signature": cashfree.sign(raw, timestamp)}
    resp = await client.post(WEBHOOK, data=raw, headers=headers)
    assert resp.status == 200 and await resp.json() == {"received": True, "handled": False}
    assert (await order_row(db, order_id))["status"] == "PENDING"
    assert await ledger(db, user["id"]) == []


async def test_local_mode_takes_no_webhooks(client, cashfree, db, auth):
    """Without credentials there is no secret to check against: every webhook is refused."""
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user))["order_id"]
    raw, headers = cashfree.webhook("PAYMENT_SUCCESS_WEBHOOK", order_id, amount="500.00")
    assert (await client.post(WEBHOOK, data=raw, headers=headers)).status == 401
    assert (await order_row(db, order_id))["status"] == "PENDING"
