"""Cashfree Payment Gateway (PG REST API, x-api-version pinned to 2023-08-01) behind a small interface,
with a local gateway for development and an unavailable one for a production without credentials.

    gateway.create_order(NewOrder)  → CreatedOrder (POST {root}/orders)
    gateway.fetch_order(order_id)   → GatewayOrder | None (GET {root}/orders/{order_id}; None: 404)
    gateway.fetch_payments(order_id)→ [payment, ...] newest first (GET {root}/orders/{order_id}/payments)
    gateway.verify_webhook(raw, timestamp, signature, now)  (raises WebhookRejected)

`{root}` is CASHFREE_BASE_URL when set (Cashfree's API root *including* `/pg`), else the root of
CASHFREE_ENV (sandbox | production). Cashfree unreachable, timing out, rate limiting or answering
an error is `PaymentUnavailable` (the API answers 503 PAYMENT_PROVIDER_UNAVAILABLE).

Why aiohttp and not the official `cashfree-pg` SDK: the SDK is synchronous (urllib3), so every call
would have to run on a thread pool, and it brings its own pydantic models and retry policy. The
three calls and the webhook check are a few lines of HTTP on the aiohttp session the app already
uses, with our own timeouts, no threads, and amounts parsed as Decimal (never float).

Local mode (no credentials, never in production): `LocalPaymentGateway` needs no network. Its orders
are paid or failed on a checkout page served by the app (handlers/payments_local.py), whose buttons
settle the order through the same use case as a Cashfree webhook. Its checkout URLs are signed with
an HMAC key derived from JWT_SECRET, so only the URL handed to the order's owner opens it.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import urllib.parse
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

import aiohttp

from common.signatures import same_secret
from config import Settings
from domain.money import GatewayReport, Outcome, cashfree_report, inr_text, inr_to_paise

log = logging.getLogger(__name__)

API_VERSION = "2023-08-01"
API_ROOTS = {"sandbox": "https://sandbox.cashfree.com/pg", "production": "https://api.cashfree.com/pg"}
PAYMENT_SUCCESS = "PAYMENT_SUCCESS_WEBHOOK"
PAYMENT_FAILED = "PAYMENT_FAILED_WEBHOOK"
PAYMENT_USER_DROPPED = "PAYMENT_USER_DROPPED_WEBHOOK"
_loads = partial(json.loads, parse_float=Decimal)


class PaymentUnavailable(Exception):
    """The gateway could not be asked (down, slow, refusing); the caller answers 503."""


class WebhookRejected(Exception):
    """Bad or missing signature, or a timestamp outside the tolerance: 401, nothing changes."""


@dataclass(frozen=True, slots=True)
class NewOrder:
    order_id: str
    amount: int                     # paise
    customer_id: str
    customer_phone: str             # E.164
    customer_name: str | None
    notify_url: str
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CreatedOrder:
    payment_session_id: str
    provider_order_id: str | None = None
    checkout_url: str | None = None


@dataclass(frozen=True, slots=True)
class GatewayOrder:
    status: str                     # ACTIVE | PAID | EXPIRED | TERMINATED | TERMINATION_REQUESTED
    amount: int | None              # paise (None: the gateway did not say)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    type: str
    order_id: str | None
    payment_status: str | None = None
    payment_amount: int | None = None   # paise
    payment_id: str | None = None


class PaymentGateway(Protocol):
    name: str          # stored on the order: cashfree | local
    local: bool

    async def create_order(self, order: NewOrder) -> CreatedOrder: ...

    async def fetch_order(self, order_id: str) -> GatewayOrder | None: ...

    async def fetch_payments(self, order_id: str) -> list[dict[str, Any]]: ...

    def verify_webhook(self, raw: bytes, timestamp: str, signature: str, now: dt.datetime) -> None: ...

    async def close(self) -> None: ...


async def order_report(gateway: PaymentGateway, order_id: str) -> GatewayReport:
    """What the gateway says about an order (PaymentUnavailable if it cannot be asked)."""
    order = await gateway.fetch_order(order_id)
    if order is None:
        return GatewayReport(Outcome.FAILED, reason="NOT_FOUND")
    payments = await gateway.fetch_payments(order_id)
    return cashfree_report(order.status, order.amount, payments)


# --- amounts and fields on the wire -----------------------------------------------------------

def _paise(value: Any) -> int | None:
    """Cashfree's INR amount (a JSON number, parsed as Decimal) → paise; None if absent or odd."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return inr_to_paise(value)
    except ValueError:
        return None


def cashfree_phone(e164: str) -> str:
    """Cashfree wants an Indian number as its 10 national digits; others keep their E.164 form."""
    return e164[3:] if e164.startswith("+91") and len(e164) == 13 else e164


def _ist(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).isoformat(timespec="seconds")


def create_order_body(order: NewOrder) -> dict[str, Any]:
    customer: dict[str, Any] = {"customer_id": order.customer_id,
                                "customer_phone": cashfree_phone(order.customer_phone)}
    if order.customer_name:
        customer["customer_name"] = order.customer_name
    return {
        "order_id": order.order_id,
        # A JSON number with exactly two decimals, written from the Decimal (no float on the way).
        "order_amount": Decimal(inr_text(order.amount)),
        "order_currency": "INR",
        "customer_details": customer,
        "order_meta": {"notify_url": order.notify_url},
        "order_expiry_time": _ist(order.expires_at),
    }


def _dumps(body: dict[str, Any]) -> str:
    """JSON with each Decimal written as a number digit for digit ("500.50"), never through a float."""
    numbers: dict[str, str] = {}

    def placeholder(value: Any) -> str:
        if not isinstance(value, Decimal):
            raise TypeError(type(value).__name__)
        key = f"@decimal{len(numbers)}@"
        numbers[key] = str(value)
        return key

    text = json.dumps(body, default=placeholder)
    for key, number in numbers.items():
        text = text.replace(f'"{key}"', number)
    return text


def _payments(raw: Any) -> list[dict[str, Any]]:
    items = raw if isinstance(raw, list) else []
    out = [{"payment_id": str(p.get("cf_payment_id")) if p.get("cf_payment_id") is not None else None,
            "status": p.get("payment_status"), "amount": _paise(p.get("payment_amount")),
            "time": str(p.get("payment_time") or "")} for p in items if isinstance(p, dict)]
    return sorted(out, key=lambda p: _when(p["time"]), reverse=True)


def _when(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.timezone.utc)


# --- webhooks ---------------------------------------------------------------------------------

def webhook_signature(secret: str, timestamp: str, raw: bytes) -> str:
    """base64(HMAC-SHA256(secret, timestamp + raw body)), as Cashfree signs."""
    digest = hmac.new(secret.encode(), timestamp.encode() + raw, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def check_webhook(secret: str, raw: bytes, timestamp: str, signature: str, now: dt.datetime,
                  tolerance: float) -> None:
    """The signature over the raw bytes, and a timestamp (ms since the epoch) within `tolerance` s."""
    if not secret or not timestamp or not signature:
        raise WebhookRejected("missing signature")
    try:
        sent_ms = int(timestamp.strip())
    except ValueError:
        raise WebhookRejected("bad timestamp") from None
    if not same_secret(webhook_signature(secret, timestamp.strip(), raw), signature.strip()):
        raise WebhookRejected("bad signature")
    if abs(now.timestamp() * 1000 - sent_ms) > tolerance * 1000:
        raise WebhookRejected("stale timestamp")


def parse_webhook(raw: bytes) -> WebhookEvent:
    """The fields we act on; anything malformed is an event of type "" (acknowledged, ignored)."""
    try:
        body = _loads(raw)
    except ValueError:
        return WebhookEvent("", None)
    if not isinstance(body, dict):
        return WebhookEvent("", None)
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    order = data.get("order") if isinstance(data.get("order"), dict) else {}
    payment = data.get("payment") if isinstance(data.get("payment"), dict) else {}
    order_id = order.get("order_id")
    payment_id = payment.get("cf_payment_id")
    return WebhookEvent(str(body.get("type") or ""), str(order_id) if order_id else None,
                        payment.get("payment_status"), _paise(payment.get("payment_amount")),
                        str(payment_id) if payment_id is not None else None)


# --- the real client --------------------------------------------------------------------------

class CashfreeGateway:
    name = "cashfree"
    local = False

    def __init__(self, settings: Settings, session: aiohttp.ClientSession | None = None) -> None:
        self.root = (settings.cashfree_base_url or API_ROOTS[settings.cashfree_env]).rstrip("/")
        self._secret = settings.cashfree_client_secret
        self._tolerance = settings.payment_webhook_tolerance
        self._headers = {"x-client-id": settings.cashfree_client_id, "x-client-secret": self._secret,
                         "x-api-version": API_VERSION, "Accept": "application/json"}
        timeout = aiohttp.ClientTimeout(total=settings.cashfree_timeout,
                                        connect=min(5.0, settings.cashfree_timeout))
        self._session = session or aiohttp.ClientSession(timeout=timeout)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
                    headers: dict[str, str] | None = None) -> tuple[int, Any]:
        url = self.root + path
        sent = {**self._headers, **(headers or {})}
        data = None
        if body is not None:
            sent["Content-Type"] = "application/json"
            data = _dumps(body)
        try:
            async with self._session.request(method, url, data=data, headers=sent) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("Cashfree %s %s unreachable: %s", method, path.split("/")[1], type(exc).__name__)
            raise PaymentUnavailable("Cashfree is unreachable") from None
        try:
            payload = _loads(raw) if raw else None
        except ValueError:
            payload = None
        if status == 404 and method == "GET":
            return status, payload
        if status >= 300:
            code = payload.get("code") if isinstance(payload, dict) else None
            log.warning("Cashfree %s %s answered %d (%s)", method, path.split("/")[1], status, code)
            raise PaymentUnavailable(f"Cashfree answered {status}")
        return status, payload

    async def create_order(self, order: NewOrder) -> CreatedOrder:
        _, payload = await self._call("POST", "/orders", create_order_body(order),
                                      headers={"x-idempotency-key": order.order_id})
        session_id = payload.get("payment_session_id") if isinstance(payload, dict) else None
        if not session_id:
            log.warning("Cashfree created order without a payment_session_id")
            raise PaymentUnavailable("Cashfree returned no payment session")
        cf_order_id = payload.get("cf_order_id")
        return CreatedOrder(str(session_id), str(cf_order_id) if cf_order_id is not None else None)

    async def fetch_order(self, order_id: str) -> GatewayOrder | None:
        status, payload = await self._call("GET", f"/orders/{urllib.parse.quote(order_id, safe='')}")
        if status == 404 or not isinstance(payload, dict):
            return None
        return GatewayOrder(str(payload.get("order_status") or ""), _paise(payload.get("order_amount")))

    async def fetch_payments(self, order_id: str) -> list[dict[str, Any]]:
        status, payload = await self._call("GET", f"/orders/{urllib.parse.quote(order_id, safe='')}/payments")
        return [] if status == 404 else _payments(payload)

    def verify_webhook(self, raw: bytes, timestamp: str, signature: str, now: dt.datetime) -> None:
        check_webhook(self._secret, raw, timestamp, signature, now, self._tolerance)

    async def close(self) -> None:
        await self._session.close()


# --- local and unavailable --------------------------------------------------------------------

class LocalPaymentGateway:
    """Development without credentials: orders stay ACTIVE until the app's checkout page settles them."""
    name = "local"
    local = True

    def __init__(self, settings: Settings, checkout_base: str) -> None:
        self._key = hashlib.sha256(b"allign-local-checkout:" + settings.jwt_secret.encode()).digest()
        self._checkout_base = checkout_base.rstrip("/")

    def signature(self, order_id: str) -> str:
        return hmac.new(self._key, order_id.encode(), hashlib.sha256).hexdigest()

    def signature_ok(self, order_id: str, signature: str) -> bool:
        return bool(signature) and same_secret(self.signature(order_id), signature)

    def checkout_url(self, order_id: str) -> str:
        return f"{self._checkout_base}/{order_id}?sig={self.signature(order_id)}"

    async def create_order(self, order: NewOrder) -> CreatedOrder:
        return CreatedOrder(f"local_session_{secrets.token_urlsafe(24)}", None, self.checkout_url(order.order_id))

    async def fetch_order(self, order_id: str) -> GatewayOrder | None:
        return GatewayOrder("ACTIVE", None)

    async def fetch_payments(self, order_id: str) -> list[dict[str, Any]]:
        return []

    def verify_webhook(self, raw: bytes, timestamp: str, signature: str, now: dt.datetime) -> None:
        raise WebhookRejected("local payments take no webhooks")

    async def close(self) -> None:
        return None


class UnavailablePaymentGateway:
    """Production without Cashfree credentials: never local payments; every payment call is 503."""
    name = "unavailable"
    local = False

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def create_order(self, order: NewOrder) -> CreatedOrder:
        raise PaymentUnavailable(self.reason)

    async def fetch_order(self, order_id: str) -> GatewayOrder | None:
        raise PaymentUnavailable(self.reason)

    async def fetch_payments(self, order_id: str) -> list[dict[str, Any]]:
        raise PaymentUnavailable(self.reason)

    def verify_webhook(self, raw: bytes, timestamp: str, signature: str, now: dt.datetime) -> None:
        raise WebhookRejected(self.reason)

    async def close(self) -> None:
        return None


def create_payment_gateway(settings: Settings, checkout_base: str) -> PaymentGateway:
    if settings.cashfree_client_id and settings.cashfree_client_secret:
        return CashfreeGateway(settings)
    if not settings.payments_local:
        reason = "CASHFREE_CLIENT_ID / CASHFREE_CLIENT_SECRET are not set"
        log.error("payments disabled: %s; payment calls will answer 503", reason)
        return UnavailablePaymentGateway(reason)
    log.info("payments in local mode: orders are paid on %s/{order_id}", checkout_base)
    return LocalPaymentGateway(settings, checkout_base)
