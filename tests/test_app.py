"""The application skeleton: probes, metrics, request ids, error shapes."""
from __future__ import annotations

from tests import factories

import dataclasses

import pytest

from config import ConfigError, load_settings
from gateway import keys
from storage import driver
from storage.pool import DatabaseUnavailable


async def test_healthz_and_readyz(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json()) == {"status": "ok"}
    resp = await client.get("/readyz")
    assert resp.status == 200
    body = await resp.json()
    assert body["checks"] == {"database": "ok", "redis": "ok"}


async def test_readyz_reports_unreachable_redis(make_client):
    client = await make_client(redis_url="redis://127.0.0.1:1/0")
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


async def test_request_id_is_echoed_or_generated(client):
    resp = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    resp = await client.get("/healthz")
    assert len(resp.headers["X-Request-ID"]) == 32


async def test_unknown_route_is_404_in_contract_shape(client):
    resp = await client.get("/api/v2/definitely-not-here")
    assert resp.status == 404
    body = await resp.json()
    assert body["code"] == "NOT_FOUND" and isinstance(body["detail"], str)
    assert resp.headers["X-Request-ID"]


async def test_metrics_count_requests_per_route(client):
    await client.get("/healthz")
    await client.get("/healthz")
    text = await (await client.get("/metrics")).text()
    assert 'allign_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert "allign_http_request_duration_seconds_bucket" in text
    assert "allign_http_requests_in_flight" in text


def test_production_refuses_missing_secrets():
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        load_settings({"ALLIGN_ENV": "production", "DATABASE_URL": "postgresql://x/y"})
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings({"ALLIGN_ENV": "production", "JWT_SECRET": "x" * 40})


def test_local_mode_has_working_defaults():
    settings = load_settings({})
    assert settings.env == "local" and settings.port == 8000 and settings.host == "127.0.0.1"
    assert settings.apply_migrations and settings.seed_demo_data
    # Something to log in with at once, in local mode only.
    assert settings.otp_test_numbers == {"+919999999999": "123456"}
    assert settings.admin_bootstrap_username == "admin"
    assert load_settings({"ALLIGN_ENV": "test"}).otp_test_numbers == {}
    prod = load_settings({"ALLIGN_ENV": "production", "JWT_SECRET": "x" * 40, "DATABASE_URL": "postgresql://db/x",
                          "REDIS_URL": "redis://r", "LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s" * 32})
    assert prod.otp_test_numbers == {} and prod.admin_bootstrap_username == "" and not prod.seed_demo_data
    assert dataclasses.is_dataclass(settings)


def test_production_start_exits_with_one_line(tmp_path):
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "DATABASE_URL")}
    env["ALLIGN_ENV"] = "production"
    proc = subprocess.run([sys.executable, "run.py"], env=env, capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "JWT_SECRET" in lines[0]


async def test_a_connection_lost_under_a_statement_is_unavailable_and_replaced(client, db):
    """A database restart kills pooled connections: a statement on a dead one raises
    DatabaseUnavailable (503 DATABASE_UNAVAILABLE, never 500) and the pool renews its connections."""
    app = client.server.app
    assert (await client.get("/readyz")).status == 200
    async with app[keys.DB].connect() as conn:
        assert await driver.fetchval(conn, "SELECT 1") == 1
        await factories.terminate_other_backends(db)
        with pytest.raises(DatabaseUnavailable):
            await driver.fetchval(conn, "SELECT 1")
    assert [(await client.get("/api/v2/doctors/all_doctors_list")).status for _ in range(2)] == [200, 200]


async def test_a_request_that_gets_no_database_connection_in_time_is_503(make_client, db, auth):
    """The pool is a hard cap: a request waits for a connection, then answers 503 (never opens more)."""
    client = await make_client(db_pool_size=1, db_pool_timeout_ms=200)
    user = await factories.make_user(db)
    me = "/api/v2/users/me"
    async with client.server.app[keys.DB].connect() as held:  # the only connection
        await driver.fetchval(held, "SELECT 1")
        resp = await client.get(me, headers=auth("client", user["id"]))
        assert resp.status == 503 and resp.headers["Retry-After"] == "1"
        assert (await resp.json())["code"] == "DATABASE_UNAVAILABLE"
        assert client.server.app[keys.DB].checked_out() == 1
    assert (await client.get(me, headers=auth("client", user["id"]))).status == 200


BODY_ROUTE = "/api/v2/auth/request-otp"


async def test_malformed_json_is_422_with_a_location(client):
    resp = await client.post(BODY_ROUTE, data=b'{"phone": ', headers={"Content-Type": "application/json"})
    assert resp.status == 422
    body = await resp.json()
    assert body["code"] == "VALIDATION_ERROR"
    [error] = body["detail"]
    assert error["loc"][0] == "body" and error["type"] == "json_invalid"


async def test_body_must_be_an_object(client):
    resp = await client.post(BODY_ROUTE, json=["+919999999999"])
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"] == ["body"]


async def test_wrong_content_type_is_415(client):
    resp = await client.post(BODY_ROUTE, data=b"phone=+919999999999",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 415
    assert (await resp.json())["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_oversized_body_is_413_in_contract_shape(make_client):
    client = await make_client(max_body_bytes=1024)
    resp = await client.post(BODY_ROUTE, data=b'{"phone": "' + b"9" * 4096 + b'"}',
                             headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json()) == {"detail": "Request body too large", "code": "PAYLOAD_TOO_LARGE"}


async def test_missing_required_field_is_422_per_field(client):
    resp = await client.post(BODY_ROUTE, json={"platform": "android"})
    assert resp.status == 422
    detail = (await resp.json())["detail"]
    assert {"loc": ["body", "phone"], "msg": "Missing data for required field.", "type": "missing"} in detail


async def test_unexpected_exception_is_a_generic_500_with_the_traceback_only_in_the_log(
        aiohttp_client, settings, db, caplog):
    from gateway.app import create_app

    async def boom(request):
        raise RuntimeError("secret internal detail")

    app = create_app(settings)
    app.router.add_get("/api/v2/boom", boom)
    client = await aiohttp_client(app)
    resp = await client.get("/api/v2/boom", headers={"X-Request-ID": "req-42"})
    assert resp.status == 500
    assert resp.headers["X-Request-ID"] == "req-42"
    body = await resp.json()
    assert body == {"detail": "Internal server error", "code": "INTERNAL_ERROR"}
    assert "secret internal detail" not in await resp.text()
    logged = [r for r in caplog.records if r.name == "allign.http" and "req-42" in r.getMessage()]
    assert logged and logged[0].exc_info and "secret internal detail" in str(logged[0].exc_info[1])


async def test_datetimes_are_utc_with_z():
    import datetime as dt

    from common.jsonutil import dumps
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    value = {"at": dt.datetime(2026, 2, 8, 6, 42, 26, tzinfo=ist), "naive": dt.datetime(2026, 2, 8, 1, 12, 26)}
    assert dumps(value) == b'{"at":"2026-02-08T01:12:26Z","naive":"2026-02-08T01:12:26Z"}'
