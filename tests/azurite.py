"""Fixture helpers for file tests: Azurite (started once per pytest process) and an app client on a
known port, parametrised over both blob backends.

Azurite comes from the project's npm devDependencies (`npm install`, done by scripts/system-deps.sh)
and listens on 127.0.0.1 only. Import the fixtures into a test module:
`from tests.azurite import files_client, store_kind  # noqa: F401`.
"""
from __future__ import annotations

import atexit
import dataclasses
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from gateway.app import create_app

ROOT = Path(__file__).resolve().parent.parent
AZURITE = ROOT / "node_modules" / ".bin" / "azurite-blob"
# Azurite's documented development account: public, works only against the emulator.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_running: dict[str, object] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = Path(str(_running.get("location", ""))) / "azurite.log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"azurite exited with {proc.returncode}: {detail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("azurite did not start listening in time")


def _die_with_parent() -> None:
    """Linux: Azurite gets SIGTERM if this pytest process dies without running atexit (e.g. killed)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _stop() -> None:
    proc = _running.get("proc")
    if isinstance(proc, subprocess.Popen) and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    location = _running.get("location")
    if isinstance(location, str):
        shutil.rmtree(location, ignore_errors=True)


def azurite_connection_string() -> str:
    """Start Azurite on a free loopback port the first time it is asked for; stopped at exit."""
    if "conn" in _running:
        return str(_running["conn"])
    if not AZURITE.exists():
        pytest.fail("Azurite is not installed: run `bash scripts/system-deps.sh` (npm install) first")
    port = free_port()
    location = tempfile.mkdtemp(prefix="allign-azurite-")
    with open(Path(location) / "azurite.log", "wb") as log:  # a file, not a pipe nobody drains
        proc = subprocess.Popen(
            [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", location,
             "--silent", "--disableTelemetry", "--skipApiVersionCheck"],
            stdout=log, stderr=log, cwd=str(ROOT), preexec_fn=_die_with_parent)
    _running.update(proc=proc, location=location)
    atexit.register(_stop)
    _wait_for_port(port, proc)
    conn = (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{DEV_ACCOUNT};")
    _running["conn"] = conn
    return conn


def backend_settings(kind: str, port: int) -> dict[str, object]:
    if kind == "azure":
        return {"blob_backend": "azure", "azure_storage_connection_string": azurite_connection_string(),
                "public_base_url": f"http://127.0.0.1:{port}"}
    return {"blob_backend": "local", "public_base_url": f"http://127.0.0.1:{port}"}


@pytest.fixture(params=["local", "azure"])
def store_kind(request) -> str:
    return request.param


@pytest.fixture
async def make_files_client(aiohttp_client, settings, db):
    """make_files_client(kind, clock=None, **overrides): the app on a known 127.0.0.1 port, so the
    absolute URLs it hands out (local blob URLs, DIRECT upload URLs) work from a plain HTTP client."""

    async def make(kind: str, clock=None, **overrides):
        port = free_port()
        conf = dataclasses.replace(settings, **{**backend_settings(kind, port), **overrides})
        app = create_app(conf, clock=clock)
        return await aiohttp_client(app, server_kwargs={"host": "127.0.0.1", "port": port})

    return make


@pytest.fixture
async def files_client(make_files_client, store_kind, clock):
    return await make_files_client(store_kind, clock=clock)


# --- helpers shared by the file tests ------------------------------------------------------

PDF_BYTES = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 3000 + b"\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + b"1" * 2000


async def put_url(url: str, data: bytes, headers: dict[str, str]) -> int:
    """PUT bytes to an upload URL the way a mobile client does (straight to storage)."""
    import aiohttp
    async with aiohttp.ClientSession() as http:
        async with http.put(url, data=data, headers=headers) as resp:
            return resp.status


async def get_url(url: str) -> tuple[int, bytes]:
    import aiohttp
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            return resp.status, await resp.read()


async def session_parties(db, status: str = "ONGOING"):
    """(patient, doctor, session, stranger patient, stranger doctor) rows."""
    from tests import factories
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    session = await factories.make_session(db, patient["id"], doctor["id"], status=status)
    stranger = await factories.make_user(db)
    other_doctor = await factories.make_doctor(db)
    return patient, doctor, session, stranger, other_doctor
