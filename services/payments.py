"""Wallet top-ups: create an order at the payment gateway, then settle it exactly once, whoever learns
the outcome first (the app's verify call, Cashfree's webhook, the local checkout page or the
reconciliation job).

Exactly once: every path ends in `settle`, one transaction in which a conditional UPDATE moves the
order (storage.payments.move: only from the states domain.money allows) and, if it moved to PAID,
the ledger gets the recharge and then the bonus as its own row, both referenced by the order id
(the ledger's unique reference index would refuse a second credit even if the UPDATE did not).
Concurrent settlements queue on the order's row lock; all but one find it already moved.

The order row is written only after the gateway accepted the order: a gateway that is down, slow or
refusing leaves no order behind (503 PAYMENT_PROVIDER_UNAVAILABLE), and nobody holds a payment
session for an order Cashfree may have created before the timeout.
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import asyncpg

from domain import money
from domain import push_payloads as pushes
from domain.errors import NotFound, ServiceUnavailable
from domain.money import GatewayReport, OrderStatus, Outcome
from integrations.cashfree import (
    PAYMENT_FAILED, PAYMENT_SUCCESS, PAYMENT_USER_DROPPED, NewOrder, PaymentGateway, PaymentUnavailable,
    WebhookEvent, order_report,
)
from services.context import Context, reading, statements, transaction
from storage import events, payments, users, wallet
from storage import wallet_offers as offers
from storage.pool import Connection

log = logging.getLogger(__name__)
Row = dict[str, Any]

ORDER_ID_PREFIX = "cf_order_"
# The contract's base path is fixed (/api/v2); Cashfree posts the outcome here.
WEBHOOK_PATH = "/api/v2/payments/cashfree/webhook"
RECHECK_AFTER = dt.timedelta(minutes=5)     # a claimed order still active is asked about again after this
EXPIRY_GRACE = dt.timedelta(minutes=10)     # past expires_at + this, an order still "active" has failed
RECONCILE_BATCH = 50


def new_order_id() -> str:
    """Ours, sent to Cashfree as order_id (letters, digits and _; 41 characters of its 45)."""
    return ORDER_ID_PREFIX + uuid.uuid4().hex


def order_not_found() -> NotFound:
    return NotFound("Order not found", code="ORDER_NOT_FOUND")


def provider_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("The payment provider is unavailable, please try again",
                              code="PAYMENT_PROVIDER_UNAVAILABLE", headers={"Retry-After": "5"})


async def create_order(ctx: Context, gateway: PaymentGateway, user_id: uuid.UUID, amount: int,
                       offer_id: uuid.UUID | None) -> Row:
    """A PENDING order of `amount` paise (plus the offer's bonus when it applies), created at the gateway
    first; the row with `checkout_url` (local gateway) added."""
    now = ctx.now()
    async with reading(ctx) as conn:
        user = await users.get_user(conn, user_id)
        if user is None or not user["is_active"]:
            raise NotFound("User not found", code="USER_NOT_FOUND")
        bonus = 0
        if offer_id is not None:
            bonus = money.check_offer(await offers.get_offer(conn, offer_id), amount, money.ist_today(now))
    order_id = new_order_id()
    expires_at = now + dt.timedelta(seconds=ctx.settings.payment_order_ttl)
    try:
        created = await gateway.create_order(NewOrder(
            # Cashfree takes an alphanumeric customer_id: the user id's 32 hex digits.
            order_id=order_id, amount=amount, customer_id=user_id.hex, customer_phone=user["phone"],
            customer_name=user["full_name"], notify_url=ctx.settings.base_url + WEBHOOK_PATH,
            expires_at=expires_at))
    except PaymentUnavailable:
        raise provider_unavailable() from None
    try:
        async with transaction(ctx) as conn:
            row = await payments.insert_order(
                conn, order_id=order_id, user_id=user_id, provider=gateway.name, amount=amount, bonus_amount=bonus,
                offer_id=offer_id, payment_session_id=created.payment_session_id,
                provider_order_id=created.provider_order_id, expires_at=expires_at,
                next_check_at=now + dt.timedelta(seconds=ctx.settings.payment_reconcile_after), at=now)
    except asyncpg.ForeignKeyViolationError:
        # The offer was deleted between the check and the insert; the gateway's order is never paid
        # (nobody got its payment session).
        money.check_offer(None, amount, money.ist_today(now))
        raise
    return {**row, "checkout_url": created.checkout_url}


async def get_order(ctx: Context, order_id: str) -> Row:
    async with reading(ctx) as conn:
        order = await payments.get_order(conn, order_id)
    if order is None:
        raise order_not_found()
    return order


async def order_with_balance(ctx: Context, order: Row) -> Row:
    async with reading(ctx) as conn:
        return {**order, "balance": await wallet.balance_of(conn, order["user_id"])}


async def verify(ctx: Context, gateway: PaymentGateway, user_id: uuid.UUID, order_id: str) -> Row:
    """The caller's order after asking the gateway (settling it if the gateway knows the outcome),
    with the wallet balance. Another user's order is 404."""
    async with reading(ctx) as conn:
        order = await payments.get_own_order(conn, order_id, user_id)
    if order is None:
        raise order_not_found()
    if order["status"] in money.FINAL:
        return await order_with_balance(ctx, order)
    try:
        report = await order_report(gateway, order_id)
    except PaymentUnavailable:
        if order["status"] == money.PENDING:
            raise provider_unavailable() from None
        return await order_with_balance(ctx, order)  # FAILED stays FAILED until the gateway says more
    report = _overdue(report, order, ctx.now())
    if report.outcome is not Outcome.ACTIVE:
        order = (await settle(ctx, order_id, report))[0] or order
    return await order_with_balance(ctx, order)


def webhook_report(event: WebhookEvent) -> GatewayReport | None:
    """What a (verified) webhook says; None for event types we do not act on."""
    if event.type == PAYMENT_SUCCESS:
        return GatewayReport(Outcome.PAID, event.payment_amount, event.payment_id)
    if event.type in (PAYMENT_FAILED, PAYMENT_USER_DROPPED):
        return GatewayReport(Outcome.FAILED, payment_id=None, reason=event.payment_status or event.type)
    return None


async def apply_webhook(ctx: Context, event: WebhookEvent) -> bool:
    """Settle the order a verified webhook (or the local checkout) reports on. False when there is
    nothing to act on (unknown event type or order): acknowledged all the same."""
    report = webhook_report(event)
    if report is None or not event.order_id:
        return False
    order, _ = await settle(ctx, event.order_id, report)
    return order is not None


async def settle(ctx: Context, order_id: str, report: GatewayReport) -> tuple[Row | None, bool]:
    """Apply a gateway report to the order in one transaction: (the order as it now is, whether this
    call moved it). None for an unknown order."""
    now = ctx.now()
    async with transaction(ctx) as conn:
        order = await payments.get_order(conn, order_id)
        if order is None:
            return None, False
        target = money.settlement(report, order["amount"])
        if target is None or not money.can_move(order["status"], target):
            return order, False
        moved = await payments.move(conn, order_id, target, money.TRANSITIONS[target], at=now,
                                    paid_amount=report.paid_amount, payment_id=report.payment_id,
                                    reason=report.reason if target is OrderStatus.FAILED else None)
        if moved is None:  # another settlement moved it first
            return await payments.get_order(conn, order_id), False
        if target is OrderStatus.PAID:
            await _credit(conn, moved, now)
        elif target is OrderStatus.FAILED:
            await _push(conn, moved["user_id"], pushes.payment_failed(order_id, moved["amount"]))
        else:
            log.warning("payment order %s AMOUNT_MISMATCH: gateway reported %s paise paid, order is %s paise; "
                        "nothing credited, for support", order_id, report.paid_amount, moved["amount"])
        return moved, True


async def _credit(conn: Connection, order: Row, now: dt.datetime) -> None:
    """The recharge, then the offer's bonus as its own ledger row, both referenced by the order."""
    reference = {"reference_type": money.ORDER_REFERENCE, "reference_id": order["id"], "at": now}
    row = await wallet.apply_change(conn, order["user_id"], order["amount"], money.RECHARGE,
                                    description="Wallet recharge", **reference)
    if order["bonus_amount"] > 0:
        row = await wallet.apply_change(conn, order["user_id"], order["bonus_amount"], money.BONUS,
                                        description="Offer bonus", **reference) or row
    if row is None:  # the order moved but its credit exists: cannot happen through `settle`
        log.error("payment order %s moved to PAID but was already credited", order["id"])
        return
    await _push(conn, order["user_id"], pushes.payment_success(order["id"], order["amount"], order["bonus_amount"],
                                                                row["balance_after"]))


async def _push(conn: Connection, user_id: uuid.UUID, payload: pushes.PushPayload) -> None:
    await events.push_after_commit(conn, recipient_role="client", recipient_id=user_id, **payload.outbox_fields())


def _overdue(report: GatewayReport, order: Row, now: dt.datetime) -> GatewayReport:
    if report.outcome is Outcome.ACTIVE and order["status"] == money.PENDING:
        return money.expired_report(now, order["expires_at"], EXPIRY_GRACE) or report
    return report


async def reconcile_due(ctx: Context, gateway: PaymentGateway, limit: int = RECONCILE_BATCH) -> tuple[int, int]:
    """Ask the gateway about PENDING orders whose check is due (created `payment_reconcile_after`
    ago, or last asked RECHECK_AFTER ago) and settle those it has an outcome for.

    Each order is claimed first (SKIP LOCKED, its next check moved forward, committed), so
    processes running this at once never ask about the same order. Returns (claimed, settled);
    claimed is 0 when the gateway could not be asked (the claims retry at their next check).
    """
    now = ctx.now()
    async with statements(ctx) as conn:
        claimed = await payments.claim_due(conn, now, now + RECHECK_AFTER, limit)
    settled = 0
    for order in claimed:
        try:
            report = await order_report(gateway, order["id"])
        except PaymentUnavailable:
            log.warning("reconciliation: payment gateway unavailable, %d orders wait", len(claimed))
            return 0, settled
        report = _overdue(report, order, now)
        if report.outcome is Outcome.ACTIVE:
            continue
        _, changed = await settle(ctx, order["id"], report)
        settled += int(changed)
    return len(claimed), settled


async def orders_page(ctx: Context, user_id: uuid.UUID, limit: int, offset: int) -> tuple[list[Row], int]:
    async with reading(ctx) as conn:
        return await payments.orders_page(conn, user_id, limit, offset)


async def recharges_page(ctx: Context, user_id: uuid.UUID, limit: int, offset: int) -> tuple[list[Row], int]:
    async with reading(ctx) as conn:
        return await payments.recharges_page(conn, user_id, limit, offset)
