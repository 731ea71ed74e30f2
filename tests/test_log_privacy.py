"""No data in error logs: a failed statement is logged with its error class, SQLSTATE, the schema
names PostgreSQL reports and the statement's first words, never the values it was given, on the
SQLAlchemy path, the raw asyncpg path (storage.driver) and in a real server process's output.

The failures are made in a controlled way: a CHECK constraint added for the test refuses the value
(it is dropped afterwards)."""
from __future__ import annotations

import contextlib
import logging
import uuid

import aiohttp
import pytest
import sqlalchemy as sa

from gateway.tx import statements
from storage import driver
from tests import factories
from tests.servers import start_server

SECRET = "leak-" + uuid.uuid4().hex  # a push token, a message: what must never reach the log
APP_VERSION = "v-" + uuid.uuid4().hex[:12]
DEVICES = "/api/v2/devices/tokens"
MESSAGES = "/api/v2/connect/sessions/{}/messages"


@contextlib.asynccontextmanager
async def refusing(db, table: str, column: str):
    """A CHECK constraint on `table` that fails for values starting with "leak-"."""
    name = f"ck_test_no_leak_{table}"
    async with db.begin() as conn:
        await conn.execute(sa.text(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({column} NOT LIKE 'leak-%')"))
    try:
        yield name
    finally:
        async with db.begin() as conn:
            await conn.execute(sa.text(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}"))


def _assert_private(text: str, *values: str) -> None:
    for value in values:
        assert value not in text, f"{value!r} is in the log:\n{text}"


async def test_a_failed_sqlalchemy_statement_is_logged_without_its_values(client, db, auth, caplog):
    user = await factories.make_user(db)
    caplog.set_level(logging.INFO)
    async with refusing(db, "device_tokens", "token") as constraint:
        resp = await client.post(DEVICES, headers={**auth("client", user["id"]), "X-Request-ID": "privacy-1"},
                                 json={"token": SECRET, "platform": "android", "app_version": APP_VERSION})
    assert resp.status == 500 and (await resp.json())["code"] == "INTERNAL_ERROR"
    logged = caplog.text
    _assert_private(logged, SECRET, APP_VERSION, str(user["id"]))
    # The failure itself is there: where, what kind, which constraint, which statement, and where in the code.
    assert "database error request_id=privacy-1 POST /api/v2/devices/tokens" in logged
    assert "CheckViolationError; SQLSTATE 23514" in logged and constraint in logged
    assert "in statement: INSERT INTO device_tokens" in logged
    assert "Traceback (most recent call last)" in logged and "storage/devices.py" in logged
    assert not any(r.exc_info for r in caplog.records)  # nothing left for another handler to render


async def test_a_failed_driver_statement_is_logged_without_its_values(client, db, auth, caplog):
    patient, _, session = await factories.make_participants(db)
    caplog.set_level(logging.INFO)
    async with refusing(db, "messages", "content") as constraint:
        resp = await client.post(MESSAGES.format(session["id"]), headers=auth("client", patient["id"]),
                                 json={"client_message_id": str(uuid.uuid4()), "content_type": "text",
                                       "content": SECRET})
    assert resp.status == 500
    logged = caplog.text
    _assert_private(logged, SECRET)
    assert "database error request_id=" in logged and "CheckViolationError; SQLSTATE 23514" in logged
    assert constraint in logged and "in statement: " in logged


async def test_database_errors_logged_anywhere_show_no_values(client, caplog):
    """Background code logs the error with its traceback or as an argument; asyncpg's own
    argument encoding error quotes the value (and chains the encoder's error, which does too)."""
    caplog.set_level(logging.INFO)
    log = logging.getLogger("allign.test")
    async with statements(client.server.app) as conn:
        with pytest.raises(Exception) as caught:
            await driver.fetchval(conn, "SELECT $1::uuid", SECRET)
        log.error("background step failed", exc_info=caught.value)
        log.warning("background step failed again: %s", caught.value)
        with pytest.raises(Exception) as literal:
            await driver.fetchval(conn, f"SELECT '{SECRET}'::uuid")  # a value quoted in the server's message
        log.error("and once more", exc_info=literal.value)
    logged = caplog.text
    _assert_private(logged, SECRET)
    assert "DataError; SQLSTATE 22000; invalid input for query argument $1; in statement: SELECT $1::uuid" in logged
    assert "InvalidTextRepresentationError; SQLSTATE 22P02" in logged
    assert logged.count("Traceback (most recent call last)") >= 2


async def test_a_server_process_logs_the_failure_and_not_the_values(settings, db):
    admin = await factories.make_admin(db)
    headers = {"Authorization": "Bearer " + factories.access_token(settings, "admin", admin["id"])}
    server = await start_server(settings)
    try:
        async with refusing(db, "device_tokens", "token") as constraint:
            async with aiohttp.ClientSession() as http:
                async with http.post(server.api_url + "/devices/tokens", headers=headers, json={
                        "token": SECRET, "platform": "ios", "app_version": APP_VERSION}) as resp:
                    assert resp.status == 500
        output = server.output()  # logged before the answer was sent; gone once the server stops
    finally:
        await server.stop()
    _assert_private(output, SECRET, APP_VERSION)
    assert "ERROR allign.http: database error" in output and constraint in output, output


def test_the_engine_hides_parameters(settings):
    from storage.sa_engine import create_engine

    engine = create_engine(settings.database_url, pool_size=1)
    assert engine.sync_engine.hide_parameters

