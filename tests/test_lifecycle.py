"""The server process: graceful shutdown on SIGTERM/SIGINT."""
from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time

import aiohttp
import pytest
import sqlalchemy as sa

from common.tasks import Wakeup, stop_task
from storage.tables import otp_codes
from tests.servers import start_server

PHONE = "+919812345678"


async def _waiting_for_the_otp_row(db, timeout: float = 10.0) -> None:
    """Until a server backend waits for the row lock on otp_codes (the verify handler is in flight)."""
    async with asyncio.timeout(timeout):
        while True:
            async with db.connect() as conn:
                waiting = await conn.scalar(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query ILIKE '%otp_codes%'"))
            if waiting:
                return
            await asyncio.sleep(0.02)


async def _refusing_connections(port: int, timeout: float = 10.0) -> None:
    """Until the server's listening socket is closed: a TCP connect is refused."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except ConnectionRefusedError:
                return
            writer.close()
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_shutdown_finishes_in_flight_requests_then_stops_accepting(settings, db, sig):
    """A request whose handler is running when the signal arrives still gets its full response;
    new connections are refused meanwhile; the process then exits 0."""
    async with db.begin() as conn:
        await conn.execute(sa.insert(otp_codes).values(
            phone=PHONE, code_hash="x", expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)))
    server = await start_server(settings)
    try:
        async with aiohttp.ClientSession() as http, db.connect() as blocker:
            # Hold the OTP row locked so the verify handler blocks inside its transaction.
            tx = await blocker.begin()
            await blocker.execute(sa.select(otp_codes).where(otp_codes.c.phone == PHONE).with_for_update())
            in_flight = asyncio.create_task(http.post(
                server.api_url + "/auth/verify-otp", json={"phone": PHONE, "code": "123456"}))
            await _waiting_for_the_otp_row(db)
            assert not in_flight.done()
            server.proc.send_signal(sig)
            await _refusing_connections(server.port)
            with pytest.raises(aiohttp.ClientConnectionError):
                async with aiohttp.ClientSession() as other:
                    await other.get(server.base_url + "/healthz", timeout=aiohttp.ClientTimeout(total=2))
            assert not in_flight.done()
            await tx.rollback()
            response = await asyncio.wait_for(in_flight, 10)
            assert response.status == 401
            assert (await response.json())["code"] == "INVALID_OTP"
        deadline = time.monotonic() + 10
        while server.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert server.proc.returncode == 0, server.output()
    finally:
        await server.stop()


async def test_stopping_a_background_task_repeats_a_cancellation_it_swallowed(caplog):
    """Python 3.11's asyncio can lose a cancellation (taken for a timeout firing at that moment);
    a background loop that lost it must still stop at shutdown instead of hanging it."""
    cancellations = 0

    async def loop_that_loses_its_first_cancellation() -> None:
        nonlocal cancellations
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancellations += 1
                if cancellations == 1:
                    asyncio.current_task().uncancel()
                    continue  # lost, as the 3.11 bug loses it
                raise

    task = asyncio.create_task(loop_that_loses_its_first_cancellation(), name="lossy")
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await stop_task(task, patience=0.05)
    assert task.cancelled() and cancellations == 2
    [warning] = [r.getMessage() for r in caplog.records if "lossy did not stop when cancelled" in r.getMessage()]
    assert "loop_that_loses_its_first_cancellation" in warning  # where it was waiting


async def test_wakeup_waits_for_a_set_or_its_timeout_and_stays_cancellable():
    loop = asyncio.get_running_loop()
    wakeup = Wakeup()
    started = loop.time()
    assert await wakeup.wait(0.05) is False and loop.time() - started >= 0.04  # nobody set it
    loop.call_later(0.01, wakeup.set)
    assert await wakeup.wait(5) is True  # set while waiting: at once, not after the timeout
    assert await wakeup.wait(5) is True  # still set: no wait
    wakeup.clear()
    waiting = asyncio.create_task(wakeup.wait(5))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert waiting.cancelled()
