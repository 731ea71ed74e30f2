"""Real processes for tests that need them: API servers (`python run.py`), a private Redis, and an
SSE reader. All listen on 127.0.0.1 only.

    server = await start_server(settings)             # settings: the `settings` fixture (or a copy)
    try:
        async with aiohttp.ClientSession() as http:
            await http.get(server.base_url + "/healthz")
    finally:
        await server.stop()

    redis = await start_redis()                        # redis-server --save "" --appendonly no
    ... settings with redis_url=redis.url ...
    await redis.restart()                               # same port, empty (no persistence)
    await redis.stop()

    reader = SseReader(response)                        # an aiohttp ClientResponse of an SSE stream
    msg = await reader.next()                           # SseMessage(event, id, data, retry, raw_data)

The server runs with ALLIGN_ENV=test against the settings' database, Redis and key prefix, without
migrations or demo data (the test database is already migrated). Its output goes to a temp file:
`server.output()` shows it when a test fails.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import aiohttp
import orjson

from config import Settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path) -> None:
        self.proc = proc
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.api_url = self.base_url + "/api/v2"
        self._log_path = log_path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")
        except OSError:
            return ""

    async def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM (graceful: streams closed, requests finished), SIGKILL after `timeout`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)
        with contextlib.suppress(OSError):
            self._log_path.unlink()
        return self.proc.returncode


def server_env(settings: Settings, port: int, env_overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALLIGN_", "PYTEST"))}
    env.update({
        "ALLIGN_ENV": "test", "HOST": "127.0.0.1", "PORT": str(port),
        "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
        "REDIS_PREFIX": settings.redis_prefix, "JWT_SECRET": settings.jwt_secret,
        "APPLY_MIGRATIONS": "false", "SEED_DEMO_DATA": "false", "LOG_LEVEL": "WARNING",
        "BLOB_LOCAL_DIR": settings.blob_local_dir, "PYTHONUNBUFFERED": "1",
    })
    env.update(env_overrides or {})
    return env


async def start_server(settings: Settings, port: int | None = None,
                       env_overrides: Mapping[str, str] | None = None, ready_timeout: float = 20.0) -> ServerProcess:
    """Start `python run.py` and return once GET /healthz answers 200."""
    port = port or free_port()
    fd, name = tempfile.mkstemp(prefix="allign-server-", suffix=".log")
    log_path = Path(name)
    with os.fdopen(fd, "wb") as log_file:
        proc = subprocess.Popen([sys.executable, "run.py"], cwd=ROOT, env=server_env(settings, port, env_overrides),
                                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = ServerProcess(proc, port, log_path)
    deadline = time.monotonic() + ready_timeout
    async with aiohttp.ClientSession() as http:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{server.output()}")
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with http.get(server.base_url + "/healthz", timeout=aiohttp.ClientTimeout(total=1)) as r:
                    if r.status == 200:
                        return server
            if time.monotonic() > deadline:
                await server.stop()
                raise RuntimeError(f"server did not become healthy:\n{server.output()}")
            await asyncio.sleep(0.1)


class RedisProcess:
    """A private, non-persistent redis-server on its own port (for outage tests)."""

    def __init__(self, port: int, workdir: str) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._workdir = workdir
        self.proc: subprocess.Popen | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """SIGKILL: the abrupt death a client must survive."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)

    async def restart(self) -> None:
        await self.stop()
        await self.start()


async def start_redis(port: int | None = None) -> RedisProcess:
    redis = RedisProcess(port or free_port(), tempfile.mkdtemp(prefix="allign-redis-"))
    await redis.start()
    return redis


@dataclass
class SseMessage:
    event: str | None = None
    id: str | None = None
    raw_data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def data(self) -> Any:
        return None if self.raw_data is None else orjson.loads(self.raw_data)


class SseReader:
    """Parses text/event-stream from an aiohttp response, one message (blank-line block) at a time."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments: list[str] = []

    async def next(self, timeout: float = 5.0, *, comments: bool = False) -> SseMessage:
        """The next message; comment-only blocks (pings) are skipped unless `comments`."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self._block()
                if msg.event or msg.id is not None or msg.raw_data is not None or msg.retry is not None:
                    return msg
                if comments:
                    return msg

    async def events(self, count: int, timeout: float = 5.0) -> list[SseMessage]:
        """The next `count` dispatched events (id-only cursor messages are skipped)."""
        out: list[SseMessage] = []
        while len(out) < count:
            msg = await self.next(timeout)
            if msg.raw_data is not None:
                out.append(msg)
        return out

    async def _block(self) -> SseMessage:
        msg = SseMessage()
        data: list[str] = []
        while True:
            line = await self.response.content.readline()
            if not line:
                raise EOFError("stream ended")
            text = line.decode().rstrip("\r\n")
            if not text:
                if data or msg.event or msg.id is not None or msg.retry is not None or msg.comments:
                    break
                continue
            if text.startswith(":"):
                msg.comments.append(text[1:].strip())
                self.comments.append(text[1:].strip())
                continue
            name, _, value = text.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                msg.event = value
            elif name == "id":
                msg.id = value
            elif name == "data":
                data.append(value)
            elif name == "retry":
                msg.retry = int(value)
        if data:
            msg.raw_data = "\n".join(data)
        return msg
