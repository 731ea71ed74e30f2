"""A private PostgreSQL server under ./var for outage tests: started, stopped and restarted by the
test itself, never the machine's shared server.

    pg = await start_postgres()                 # initdb (once per directory) + pg_ctl start
    url = await pg.create_database("allign")    # postgresql://postgres@127.0.0.1:<port>/allign
    await pg.stop()                             # fast shutdown: sessions terminated, port closed
    await pg.stop(mode="immediate")             # a crash: no shutdown messages, connections reset
    await pg.start()                            # same port, same data
    await pg.destroy()                          # stop and remove its directory

As scripts/services.sh `_start_private_pg` does: PostgreSQL refuses to run as root, so when the
tests run as root the cluster belongs to `nobody` and every server command runs through `runuser`.
The cluster trades durability against a machine crash for speed (fsync off), never against a
server crash: a commit answered is a commit kept. A test database, thrown away after the run.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "test-pg"
UNPRIVILEGED = "nobody"


def pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries (Debian puts them outside PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0, reverse=True)
    if found:
        return found[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresProcess:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.run = directory / "run"
        self.port = port
        self.admin_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        bin_dir = pg_bin()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self._bin = bin_dir
        self._as = ["runuser", "-u", UNPRIVILEGED, "--"] if os.geteuid() == 0 else []

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def _init(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        if self._as:
            shutil.chown(self.directory, UNPRIVILEGED)
            for path in (self.data, self.run):
                shutil.chown(path, UNPRIVILEGED)
        self.data.chmod(0o700)
        done = self._run(str(self._bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                         "-E", "UTF8", "--no-sync")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    async def start(self) -> None:
        await asyncio.to_thread(self._init)
        # fsync off: the machine does not crash in a test, the server does. synchronous_commit stays
        # on: with it off, a crash (stop mode immediate) loses commits already answered.
        options = (f"-p {self.port} -k {self.run} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off -c max_connections=200")
        done = await asyncio.to_thread(self._run, str(self._bin / "pg_ctl"), "-D", str(self.data), "-l",
                                       str(self.run / "postgres.log"), "-w", "-t", "60", "-o", options, "start")
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{self.log()}")
        await self.wait_ready()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = await asyncpg.connect(self.admin_url, timeout=2, ssl=False)
                await conn.close()
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are terminated (57P01) and the server exits; `immediate`: as a crash."""
        if not self.running():
            return
        done = await asyncio.to_thread(self._run, str(self._bin / "pg_ctl"), "-D", str(self.data), "-m", mode,
                                       "-w", "-t", "60", "stop")
        if done.returncode != 0 and self.running():
            raise RuntimeError(f"pg_ctl stop failed:\n{done.stdout}\n{done.stderr}")

    async def restart(self, mode: str = "fast") -> None:
        await self.stop(mode)
        await self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def log(self) -> str:
        try:
            return (self.run / "postgres.log").read_text(errors="replace")
        except OSError:
            return ""

    async def create_database(self, name: str, *, migrate: bool = True) -> str:
        """A fresh database (dropped first if it exists), migrated to head unless `migrate=False`."""
        conn = await asyncpg.connect(self.admin_url, ssl=False)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        url = self.url(name)
        if migrate:
            from storage.migrate import upgrade
            await asyncio.to_thread(upgrade, url)
        return url

    async def destroy(self) -> None:
        with contextlib.suppress(Exception):
            await self.stop("immediate")
        await asyncio.to_thread(shutil.rmtree, self.directory, True)


async def start_postgres(port: int | None = None) -> PostgresProcess:
    """A new private server in its own directory under ./var/test-pg (removed by `destroy`)."""
    VAR.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=VAR))
    directory.chmod(0o755)
    server = PostgresProcess(directory, port or _free_port())
    try:
        await server.start()
    except BaseException:
        await server.destroy()
        raise
    return server
