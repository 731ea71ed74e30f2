"""The blob store itself, on both backends: write URLs take a real PUT, read URLs serve the bytes,
and tampered, expired or wrong-permission URLs are refused like Azure SAS URLs."""
from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest

from domain.errors import PayloadTooLarge
from gateway import keys
from common.clock import FrozenClock
from storage import blobs
from tests.azurite import files_client, make_files_client, store_kind  # noqa: F401

PDF = b"%PDF-1.4\n" + b"x" * 2000 + b"\n%%EOF\n"


def _store(client):
    return client.server.app[keys.BLOBS]


def _tamper(url: str, key: str, value: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


async def _put(url: str, data: bytes, content_type: str = "application/pdf", **headers):
    async with aiohttp.ClientSession() as http:
        async with http.put(url, data=data, headers={"x-ms-blob-type": "BlockBlob",
                                                     "Content-Type": content_type, **headers}) as resp:
            return resp.status


async def _get(url: str):
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            return resp.status, await resp.read(), resp.headers.get("Content-Type")


async def test_write_url_put_then_verify_and_read(files_client, store_kind):
    store = _store(files_client)
    assert store.kind == store_kind
    name = f"tests/{uuid.uuid4().hex}/report.pdf"
    url = store.write_url(blobs.REPORTS, name, size=len(PDF), content_type="application/pdf")
    assert url.startswith("http://127.0.0.1:")
    assert await store.verify(blobs.REPORTS, name) is None
    assert await _put(url, PDF) == 201
    info = await store.verify(blobs.REPORTS, name)
    assert info.size == len(PDF) and info.head.startswith(b"%PDF-") and info.content_type == "application/pdf"
    status, body, ctype = await _get(store.read_url(blobs.REPORTS, name))
    assert status == 200 and body == PDF and ctype.startswith("application/pdf")


async def test_tampered_expired_and_wrong_permission_urls_are_refused(make_files_client, store_kind):
    # The clock is an hour behind: every URL it signs has already expired in real time too,
    # which is what Azurite checks against.
    past = FrozenClock(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    client = await make_files_client(store_kind)
    store = _store(client)
    name = f"tests/{uuid.uuid4().hex}/a.pdf"
    await store.put_bytes(blobs.REPORTS, name, PDF, "application/pdf")
    good = store.read_url(blobs.REPORTS, name)
    assert (await _get(good))[0] == 200
    assert (await _get(_tamper(good, "sig", "A" * 43)))[0] == 403
    far = "4102444800" if store_kind == "local" else "2099-01-01T00:00:00Z"
    assert (await _get(_tamper(good, "se", far)))[0] == 403  # a longer life is not for the taking
    # A read URL cannot write.
    assert await _put(good, b"%PDF-overwrite") == 403
    # A write URL cannot read.
    write = store.write_url(blobs.REPORTS, name, size=10, content_type="application/pdf")
    assert (await _get(write))[0] == 403
    # Expired.
    store.clock = past
    expired = store.read_url(blobs.REPORTS, name)
    store.clock = client.server.app[keys.CLOCK]
    assert (await _get(expired))[0] == 403


async def test_put_stream_is_all_or_nothing(files_client):
    store = _store(files_client)
    name = f"tests/{uuid.uuid4().hex}/big.bin"

    async def chunks():
        for _ in range(40):
            yield b"\0" * 65536

    with pytest.raises(PayloadTooLarge):
        await store.put_stream(blobs.SESSIONS, name, blobs.limited(chunks(), 1024 * 1024), "application/pdf")
    assert await store.verify(blobs.SESSIONS, name) is None
    size = await store.put_stream(blobs.SESSIONS, name, blobs.limited(chunks(), 4 * 1024 * 1024), "image/png")
    info = await store.verify(blobs.SESSIONS, name)
    assert size == info.size == 40 * 65536 and info.content_type == "image/png"
    await store.delete(blobs.SESSIONS, name)
    assert await store.verify(blobs.SESSIONS, name) is None


async def test_local_write_url_enforces_the_declared_size(make_files_client):
    client = await make_files_client("local")
    store = _store(client)
    name = f"tests/{uuid.uuid4().hex}/a.pdf"
    url = store.write_url(blobs.REPORTS, name, size=100, content_type="application/pdf")
    assert await _put(url, b"%PDF-" + b"y" * 200) == 413
    assert await store.verify(blobs.REPORTS, name) is None

    async def body():
        yield b"%PDF-"
        for _ in range(10):
            yield b"z" * 50

    async with aiohttp.ClientSession() as http:  # chunked: no Content-Length to refuse up front
        async with http.put(url, data=body(), headers={"x-ms-blob-type": "BlockBlob"}) as resp:
            assert resp.status == 413
    assert await store.verify(blobs.REPORTS, name) is None
    assert await _put(url, b"%PDF-" + b"y" * 95, **{"x-ms-blob-type": "AppendBlob"}) == 400
    assert await _put(url, b"%PDF-" + b"y" * 95) == 201


async def test_local_urls_are_absolute_on_the_public_base_url(make_files_client):
    client = await make_files_client("local", public_base_url="https://files.allign.example")
    url = _store(client).read_url(blobs.AVATARS, "doctors/x/y.png")
    assert url.startswith("https://files.allign.example/blobs/avatars/doctors/x/y.png?")
    with pytest.raises(Exception):
        _store(client).read_url(blobs.AVATARS, "../etc/passwd")
