"""Headless Chromium for browser tests, driven over the DevTools protocol with aiohttp.

    async with chromium() as browser:
        page = await browser.open("http://127.0.0.1:8013/page.html")
        await page.evaluate("start()")                   # awaits a returned promise
        value = await page.wait_for("window.log.length >= 2")

Chromium is Debian's `chromium` (scripts/system-deps.sh installs it); `chromium_or_skip()` skips a test
with the reason when it is not installed. Every wait is on a condition with a generous deadline (a
busy 2-core machine starts a browser slowly), never a fixed sleep. The browser only ever talks to
loopback: background networking, component updates, sync and QUIC are off, and each run has a fresh
profile directory, removed afterwards.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-port=0")
START_TIMEOUT = 60.0
STEP_TIMEOUT = 30.0


def chromium_or_skip() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (scripts/system-deps.sh installs it as root with apt-get)")


class BrowserError(AssertionError):
    pass


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; events arriving meanwhile are dropped (nothing here subscribes)."""
        msg_id = next(self._ids)
        await self.ws.send_json({"id": msg_id, "method": method, "params": params})
        async with asyncio.timeout(STEP_TIMEOUT):
            while True:
                msg = await self.ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise BrowserError(f"DevTools connection ended: {msg.type!r}")
                reply = msg.json()
                if reply.get("id") == msg_id:
                    if "error" in reply:
                        raise BrowserError(f"{method}: {reply['error']}")
                    return reply.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        """The expression's value (JSON-able), a returned promise awaited; a thrown error fails."""
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{expression!r} threw: {details.get('exception', {}).get('description') or details}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = STEP_TIMEOUT) -> Any:
        """Poll until the expression is truthy; its value. Fails with the page's log on timeout."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    value = await self.evaluate(expression)
                    if value:
                        return value
                    await asyncio.sleep(0.1)
        except TimeoutError:
            log = await self.evaluate("JSON.stringify(window.log || null)")
            raise BrowserError(f"not true within {timeout}s: {expression}\npage log: {log}") from None


class Browser:
    def __init__(self, session: aiohttp.ClientSession, devtools: str) -> None:
        self.session = session
        self.devtools = devtools  # http://127.0.0.1:<port>

    async def open(self, url: str) -> Page:
        """A new tab on `url`, loaded (document complete) and ready for evaluate()."""
        async with self.session.put(f"{self.devtools}/json/new?about:blank") as resp:
            target = await resp.json(content_type=None)
        ws = await self.session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        page = Page(ws)
        await page.call("Page.navigate", url=url)
        await page.wait_for(f"location.href === {url!r} && document.readyState === 'complete'", START_TIMEOUT)
        return page


async def _devtools_port(profile: Path, proc: asyncio.subprocess.Process) -> int:
    """Chromium writes the port it picked (port 0) into the profile's DevToolsActivePort."""
    marker = profile / "DevToolsActivePort"
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            if proc.returncode is not None:
                raise BrowserError(f"chromium exited with {proc.returncode} before DevTools was up")
            with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
                return int(marker.read_text().splitlines()[0])
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    binary = chromium_or_skip()
    profile = Path(tempfile.mkdtemp(prefix="allign-chromium-"))
    proc = await asyncio.create_subprocess_exec(
        binary, *FLAGS, f"--user-data-dir={profile}", "about:blank",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True)  # its own process group: the renderers go with it
    try:
        port = await _devtools_port(profile, proc)
        async with aiohttp.ClientSession() as session:
            yield Browser(session, f"http://127.0.0.1:{port}")
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of this browser's group is left
        if proc.returncode is None:
            await proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
