"""A local server speaking Cashfree's PG REST API (x-api-version 2023-08-01) on 127.0.0.1, and a
sender of Cashfree-signed webhooks.

    POST /pg/orders                      → the order entity (order_status ACTIVE, payment_session_id)
    GET  /pg/orders/{order_id}           → the order entity, or 404 order_not_found
    GET  /pg/orders/{order_id}/payments  → the order's payment entities

Every request is recorded (method, path, headers, raw body, parsed JSON). Requests without the
expected x-client-id / x-client-secret / x-api-version get Cashfree's 401 authentication error.
Tests script the rest: `pay(order_id)` (a SUCCESS payment; the order PAID), `fail(order_id)`,
`set_status(order_id, "EXPIRED")`, `fail_status = 503` (every request answers that), `hang = True`
(requests never answer, until the server closes), `omit_session_id = True`. `webhook(...)` builds and signs a webhook the way
Cashfree does: base64(HMAC-SHA256(client secret, x-webhook-timestamp + raw body)).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

CLIENT_ID = "cf-test-client-id"
CLIENT_SECRET = "cf-test-client-secret"
API_VERSION = "2023-08-01"


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=_number))


def _error(status: int, message: str, code: str, type_: str) -> web.Response:
    return _json({"message": message, "code": code, "type": type_}, status)


class FakeCashfree:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, list[dict[str, Any]]] = {}
        self.fail_status: int | None = None
        self.hang = False
        self.omit_session_id = False   # answer a create without payment_session_id (an anomaly)
        self._released = asyncio.Event()
        self._ids = itertools.count(2149460581)
        self.base_url = ""

    @property
    def api_root(self) -> str:
        return self.base_url + "/pg"

    # --- scripting -----------------------------------------------------------------------------

    def order_requests(self, method: str = "POST", path: str = "/pg/orders") -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and r["path"] == path]

    def pay(self, order_id: str, amount: Decimal | None = None, *, order_status: str = "PAID") -> dict[str, Any]:
        """A successful payment of `amount` INR (default: the order's amount); the order becomes PAID."""
        order = self.orders[order_id]
        payment = self._payment(order_id, "SUCCESS", order["order_amount"] if amount is None else amount)
        order["order_status"] = order_status
        return payment

    def fail(self, order_id: str, status: str = "FAILED") -> dict[str, Any]:
        """A failed (or USER_DROPPED) attempt; the order stays ACTIVE, as at Cashfree."""
        return self._payment(order_id, status, self.orders[order_id]["order_amount"])

    def set_status(self, order_id: str, status: str) -> None:
        self.orders[order_id]["order_status"] = status

    def _payment(self, order_id: str, status: str, amount: Decimal) -> dict[str, Any]:
        payment = {"cf_payment_id": next(self._ids), "order_id": order_id, "entity": "payment",
                   "payment_status": status, "payment_amount": amount, "payment_currency": "INR",
                   "payment_message": "00::Transaction success" if status == "SUCCESS" else "Declined",
                   "payment_time": f"2026-02-07T14:{len(self.payments.get(order_id, [])):02d}:00+05:30",
                   "is_captured": status == "SUCCESS", "payment_group": "upi"}
        self.payments.setdefault(order_id, []).append(payment)
        return payment

    # --- webhooks ------------------------------------------------------------------------------

    @staticmethod
    def sign(raw: bytes, timestamp: str, secret: str = CLIENT_SECRET) -> str:
        return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + raw, hashlib.sha256).digest()).decode()

    def webhook(self, type_: str, order_id: str, *, payment_status: str = "SUCCESS", amount: str | None = None,
                timestamp_ms: int | None = None, secret: str = CLIENT_SECRET) -> tuple[bytes, dict[str, str]]:
        """A webhook body as Cashfree writes it (2023-08-01) and its signed headers. `amount` is the
        INR text written into the JSON ("500.00"), the order's amount by default."""
        order = self.orders.get(order_id, {"order_amount": Decimal("1.00")})
        amount_text = amount if amount is not None else f"{Decimal(order['order_amount']):.2f}"
        raw = ('{"data":{"order":{"order_id":"%s","order_amount":%s,"order_currency":"INR","order_tags":null},'
               '"payment":{"cf_payment_id":"%d","payment_status":"%s","payment_amount":%s,"payment_currency":"INR",'
               '"payment_message":"00::Transaction success","payment_time":"2026-02-07T14:30:00+05:30",'
               '"bank_reference":"234928698581","auth_id":null,"payment_method":{"upi":{"channel":"collect",'
               '"upi_id":"test@ybl"}},"payment_group":"upi"},"customer_details":{"customer_name":null,'
               '"customer_id":"c","customer_email":null,"customer_phone":"9908734801"}},'
               '"event_time":"2026-02-07T14:30:05+05:30","type":"%s"}'
               % (order_id, amount_text, next(self._ids), payment_status, amount_text, type_)).encode()
        timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        headers = {"Content-Type": "application/json", "x-webhook-timestamp": timestamp,
                   "x-webhook-signature": self.sign(raw, timestamp, secret), "x-webhook-version": API_VERSION,
                   "x-webhook-attempt": "1"}
        return raw, headers

    # --- the API -------------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> web.Response | None:
        raw = await request.read()
        self.requests.append({"method": request.method, "path": request.path, "headers": dict(request.headers),
                              "raw": raw, "json": json.loads(raw, parse_float=Decimal) if raw else None})
        if self.hang:
            await self._released.wait()
        if self.fail_status:
            return _error(self.fail_status, "internal server error", "internal_error", "api_error")
        if (request.headers.get("x-client-id") != CLIENT_ID or request.headers.get("x-client-secret") != CLIENT_SECRET
                or request.headers.get("x-api-version") != API_VERSION):
            return _error(401, "authentication Failed", "request_failed", "authentication_error")
        return None

    async def _create(self, request: web.Request) -> web.Response:
        if (refused := await self._record(request)) is not None:
            return refused
        body = self.requests[-1]["json"] or {}
        order_id = body.get("order_id")
        if order_id in self.orders:
            return _error(409, "order with same id is already present", "order_already_exists",
                          "invalid_request_error")
        amount = body.get("order_amount")
        if not isinstance(amount, (Decimal, int)) or amount < 1:
            return _error(400, "order_amount : invalid value", "order_amount_invalid", "invalid_request_error")
        order = {"cf_order_id": str(next(self._ids)), "order_id": order_id, "entity": "order",
                 "order_amount": Decimal(amount), "order_currency": body.get("order_currency"),
                 "order_status": "ACTIVE", "payment_session_id": f"session_{order_id}_fake",
                 "order_expiry_time": body.get("order_expiry_time"),
                 "customer_details": body.get("customer_details"), "order_meta": body.get("order_meta"),
                 "created_at": "2026-02-07T14:00:00+05:30", "order_note": None, "order_tags": None}
        self.orders[order_id] = order
        if self.omit_session_id:
            return _json({k: v for k, v in order.items() if k != "payment_session_id"})
        return _json(order)

    async def _get(self, request: web.Request) -> web.Response:
        if (refused := await self._record(request)) is not None:
            return refused
        order = self.orders.get(request.match_info["order_id"])
        if order is None:
            return _error(404, "order not found", "order_not_found", "invalid_request_error")
        return _json(order)

    async def _payments(self, request: web.Request) -> web.Response:
        if (refused := await self._record(request)) is not None:
            return refused
        order_id = request.match_info["order_id"]
        if order_id not in self.orders:
            return _error(404, "order not found", "order_not_found", "invalid_request_error")
        return _json(list(reversed(self.payments.get(order_id, []))))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/pg/orders", self._create)
        app.router.add_get("/pg/orders/{order_id}", self._get)
        app.router.add_get("/pg/orders/{order_id}/payments", self._payments)
        return app

    def release(self) -> None:
        self._released.set()


@pytest.fixture
async def cashfree(aiohttp_server):
    fake = FakeCashfree()
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    fake.base_url = str(server.make_url("")).rstrip("/")
    yield fake
    fake.release()


@pytest.fixture
async def cashfree_client(make_client, cashfree):
    """make_client wired to the fake Cashfree: cashfree_client(clock=..., **overrides)."""

    async def make(clock=None, **overrides):
        return await make_client(clock=clock, **{
            "cashfree_client_id": CLIENT_ID, "cashfree_client_secret": CLIENT_SECRET,
            "cashfree_base_url": cashfree.api_root, "cashfree_timeout": 2.0,
            "public_base_url": "https://api.allign.test", **overrides})

    return make
