"""Local payment mode (no Cashfree credentials): the checkout page over real HTTP, its signed URLs,
settling through the webhook's path; never in production; the payment settings."""
from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest

from config import ConfigError, load_settings
from gateway import keys
from gateway.payments_jobs import reconcile_once
from integrations.cashfree import CashfreeGateway, LocalPaymentGateway, UnavailablePaymentGateway
from tests import factories
from tests.fake_cashfree import cashfree, cashfree_client  # noqa: F401
from tests.test_payments import ORDERS, create_order, ledger, order_row, pushes, verify

CHECKOUT = "/api/v2/payments/local/checkout"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + "?" + parts.query


async def test_a_whole_recharge_through_the_local_checkout(client, db, auth):
    user = await factories.make_user(db)
    created = await create_order(client, auth, user, amount=75_050)
    order_id = created["order_id"]
    assert created["payment_session_id"].startswith("local_session_")
    assert created["checkout_url"].startswith(f"http://127.0.0.1:8000{CHECKOUT}/{order_id}?sig=")
    assert (await order_row(db, order_id))["provider"] == "local"

    page = await client.get(_path(created["checkout_url"]))
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    assert order_id in html and "₹750.50" in html and 'id="status">PENDING<' in html
    assert 'value="pay"' in html and 'value="fail"' in html
    action = re.search(r'<form method="post" action="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert action == _path(created["checkout_url"])

    resp = await client.post(action, data={"action": "pay"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == action
    html = await (await client.get(resp.headers["Location"])).text()
    assert 'id="status">PAID<' in html and "<button" not in html

    row = await order_row(db, order_id)
    assert (row["status"], row["paid_amount"]) == ("PAID", 75_050)
    assert [(r["kind"], r["amount"]) for r in await ledger(db, user["id"])] == [("recharge", 75_050)]
    assert [p["event_type"] for p in await pushes(db, user["id"])] == ["payment.success"]
    body = await verify(client, auth, user, order_id)
    assert body["status"] == "PAID" and body["balance"] == 75_050
    # Pressing Pay again (a reload that re-posts) credits nothing more.
    assert (await client.post(action, data={"action": "pay"})).status == 200
    assert len(await ledger(db, user["id"])) == 1


async def test_the_fail_button_fails_the_order(client, db, auth):
    user = await factories.make_user(db)
    created = await create_order(client, auth, user)
    resp = await client.post(_path(created["checkout_url"]), data={"action": "fail"})
    assert resp.status == 200 and 'id="status">FAILED<' in await resp.text()
    assert (await order_row(db, created["order_id"]))["status"] == "FAILED"
    assert [p["event_type"] for p in await pushes(db, user["id"])] == ["payment.failed"]
    assert (await verify(client, auth, user, created["order_id"]))["status"] == "FAILED"
    resp = await client.post(_path(created["checkout_url"]), data={"action": "refund"}, allow_redirects=False)
    assert resp.status == 422


async def test_checkout_urls_are_signed(client, db, auth):
    user = await factories.make_user(db)
    mine = await create_order(client, auth, user)
    theirs = await create_order(client, auth, await factories.make_user(db))
    mine_sig = urlsplit(mine["checkout_url"]).query
    for url in (f"{CHECKOUT}/{mine['order_id']}", f"{CHECKOUT}/{mine['order_id']}?sig=",
                f"{CHECKOUT}/{mine['order_id']}?sig=" + "0" * 64, f"{CHECKOUT}/{theirs['order_id']}?{mine_sig}"):
        assert (await client.get(url)).status == 403
        assert (await client.post(url, data={"action": "pay"})).status == 403
    assert (await order_row(db, theirs["order_id"]))["status"] == "PENDING"
    gateway = client.server.app[keys.PAYMENTS]
    unknown = "cf_order_" + "1" * 32
    assert (await client.get(f"{CHECKOUT}/{unknown}?sig={gateway.signature(unknown)}")).status == 404


async def test_local_orders_stay_pending_until_the_page_or_their_expiry(make_client, frozen_clock, db, auth):
    client = await make_client(clock=frozen_clock)
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user))["order_id"]
    assert (await verify(client, auth, user, order_id))["status"] == "PENDING"
    frozen_clock.advance(15 * 60)
    assert await reconcile_once(client.server.app) == 0
    frozen_clock.advance(30 * 60)  # past the 30-minute order expiry and its grace
    assert await reconcile_once(client.server.app) == 1
    assert (await order_row(db, order_id))["status"] == "FAILED"


async def test_with_cashfree_configured_there_is_no_local_checkout(cashfree_client, cashfree, db, auth):
    client = await cashfree_client()
    user = await factories.make_user(db)
    order_id = (await create_order(client, auth, user))["order_id"]
    assert isinstance(client.server.app[keys.PAYMENTS], CashfreeGateway)
    local = LocalPaymentGateway(client.server.app[keys.SETTINGS], CHECKOUT)
    assert (await client.get(_path(local.checkout_url(order_id)))).status == 404
    assert (await client.post(_path(local.checkout_url(order_id)), data={"action": "pay"})).status == 404
    assert (await order_row(db, order_id))["status"] == "PENDING"


async def test_production_never_pays_locally(make_client, db, auth):
    client = await make_client(env="production")
    assert isinstance(client.server.app[keys.PAYMENTS], UnavailablePaymentGateway)
    user = await factories.make_user(db)
    resp = await client.post(ORDERS, json={"amount": 50_000}, headers=auth("client", user["id"]))
    assert resp.status == 503 and (await resp.json())["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    sig = LocalPaymentGateway(client.server.app[keys.SETTINGS], CHECKOUT).signature("cf_order_x")
    assert (await client.get(f"{CHECKOUT}/cf_order_x?sig={sig}")).status == 404


def test_payment_settings():
    local = load_settings({})
    assert local.payments_local and local.cashfree_env == "sandbox" and local.cashfree_timeout == 10.0
    assert local.payment_reconcile_after == 600 and local.payment_order_ttl == 1800
    configured = load_settings({"CASHFREE_CLIENT_ID": "id", "CASHFREE_CLIENT_SECRET": "secret",
                                "CASHFREE_ENV": "production", "CASHFREE_BASE_URL": "https://cf.example/pg/"})
    assert not configured.payments_local and configured.cashfree_base_url == "https://cf.example/pg"
    legacy = load_settings({"CASHFREE_APP_ID": "id", "CASHFREE_SECRET_KEY": "secret"})
    assert (legacy.cashfree_client_id, legacy.cashfree_client_secret) == ("id", "secret")
    prod = load_settings({"ALLIGN_ENV": "production", "JWT_SECRET": "x" * 40, "DATABASE_URL": "postgresql://db/x",
                          "REDIS_URL": "redis://r", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s" * 32})
    assert not prod.payments_local
    with pytest.raises(ConfigError, match="CASHFREE_ENV"):
        load_settings({"CASHFREE_ENV": "live"})
    with pytest.raises(ConfigError, match="CASHFREE_CLIENT_SECRET"):
        load_settings({"CASHFREE_CLIENT_ID": "id"})
    with pytest.raises(ConfigError, match="PAYMENT_RECONCILE_INTERVAL"):
        load_settings({"PAYMENT_RECONCILE_INTERVAL": "soon"})


def test_the_api_root_follows_cashfree_env(settings):
    import dataclasses
    for env, root in (("sandbox", "https://sandbox.cashfree.com/pg"), ("production", "https://api.cashfree.com/pg")):
        gateway = CashfreeGateway(dataclasses.replace(settings, cashfree_client_id="i", cashfree_client_secret="s",
                                                      cashfree_env=env), session=object())  # type: ignore[arg-type]
        assert gateway.root == root
    gateway = CashfreeGateway(dataclasses.replace(settings, cashfree_env="production",
                                                  cashfree_base_url="http://127.0.0.1:9/pg"), session=object())  # type: ignore[arg-type]
    assert gateway.root == "http://127.0.0.1:9/pg"
    assert dt.timedelta(seconds=settings.payment_webhook_tolerance) == dt.timedelta(minutes=5)
