"""What tests/test_conformance.py (schemathesis) found, each pinned by a request written out here, so a
regression fails even when the generated requests of a run happen not to hit it:

- a multipart part whose headers aiohttp cannot parse (control characters in its name) was 500 on
  every upload: 422 with loc ["body"];
- a signature with a non-ASCII character (local checkout `sig`, blob URL `sig`, Cashfree's
  x-webhook-signature, the /metrics bearer) was 500 (hmac.compare_digest refuses non-ASCII str): a
  refusal like any wrong signature;
- a LiveKit webhook whose body is not UTF-8 was 500: 401 like a bad signature;
- answers the document did not list: 400 OFFER_NOT_APPLICABLE on creating an order, 415 on every JSON
  body sent as another content type.
"""
from __future__ import annotations

import asyncio
import uuid

from gateway import openapi
from gateway.app import create_app
from gateway.openapi_doc import Body, doc_of
from tests import factories
from tests.routes import app_routes

P = "/api/v2"
BOUNDARY = "b0undary"


def _multipart(name: bytes) -> bytes:
    """A form whose first part's name has control characters (aiohttp's header parser refuses them),
    then a well-formed file part."""
    return (b"--" + BOUNDARY.encode() + b'\r\nContent-Disposition: form-data; name="' + name + b'"\r\n\r\nx\r\n'
            + b"--" + BOUNDARY.encode() + b'\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            + b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n\r\n--" + BOUNDARY.encode() + b"--\r\n")


async def test_an_unparseable_multipart_part_is_422(client, db, auth):
    patient = await factories.make_user(db)
    doctor = await factories.make_doctor(db)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    for path, who in ((f"{P}/users/me/avatar", auth("client", patient["id"])),
                      (f"{P}/doctors/me/avatar", auth("doctor", doctor["id"])),
                      (f"{P}/attachments", auth("client", patient["id"]))):
        resp = await client.post(path, data=_multipart("\x1e\x0e".encode()), headers={**headers, **who})
        assert resp.status == 422, (path, resp.status, await resp.text())
        body = await resp.json()
        assert body["code"] == "VALIDATION_ERROR" and body["detail"][0]["loc"] == ["body"], body


async def test_non_ascii_signatures_are_refused_not_500(make_client, db, auth):
    client = await make_client(metrics_token="s3cret-metrics-token")
    patient = await factories.make_user(db)
    created = await client.post(f"{P}/payments/cashfree/orders", json={"amount": 50000},
                                headers=auth("client", patient["id"]))
    assert created.status == 201, await created.text()
    order_id = (await created.json())["order_id"]
    checkout = f"{P}/payments/local/checkout/{order_id}"
    assert (await client.get(checkout, params={"sig": "é"})).status == 403
    assert (await client.post(checkout, params={"sig": "é"}, data={"action": "pay"})).status == 403
    resp = await client.get(f"/blobs/attachments/{uuid.uuid4()}/a.png",
                            params={"sp": "r", "se": "9999999999", "sig": "é"})
    assert resp.status == 403 and (await resp.json())["code"] == "AUTHENTICATION_FAILED"
    # Header values: aiohttp decodes bytes that are not UTF-8 to surrogates, which a plain .encode()
    # refused too (written on a raw connection: aiohttp's client would send UTF-8).
    assert (await client.get("/metrics", headers={"Authorization": "Bearer \u00e9"})).status == 401
    for value in (b"Bearer \xe9", b"Bearer \xc3\xa9\xff"):
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + value
                     + b"\r\nConnection: close\r\n\r\n")
        status_line = await reader.readline()
        writer.close()
        assert status_line.split()[1] == b"401", (value, status_line)


async def test_a_cashfree_webhook_with_a_non_ascii_signature_is_401(make_client):
    from tests.fake_cashfree import CLIENT_ID, CLIENT_SECRET
    client = await make_client(cashfree_client_id=CLIENT_ID, cashfree_client_secret=CLIENT_SECRET,
                               cashfree_base_url="http://127.0.0.1:9/pg")
    resp = await client.post(f"{P}/payments/cashfree/webhook", data=b"{}", headers={
        "Content-Type": "application/json", "x-webhook-timestamp": "1700000000000",
        "x-webhook-signature": "\u00e9t\u00e9"})
    assert resp.status == 401 and (await resp.json())["code"] == "INVALID_WEBHOOK_SIGNATURE"


async def test_a_livekit_webhook_that_is_not_utf8_is_401(client):
    resp = await client.post(f"{P}/webhooks/livekit", data=b"\x85\xff{}",
                             headers={"Content-Type": "application/webhook+json", "Authorization": "x"})
    assert resp.status == 401 and (await resp.json())["code"] == "INVALID_WEBHOOK_SIGNATURE"


def test_the_document_lists_these_answers(settings):
    app = create_app(settings)
    spec = openapi.build(app)
    assert "400" in spec["paths"][f"{P}/payments/cashfree/orders"]["post"]["responses"]
    json_bodies = [info for info in app_routes(app)
                   if (described := doc_of(info.handler)) is not None and described.body is not None
                   and not isinstance(described.body, Body)]
    assert len(json_bodies) > 40
    for info in json_bodies:
        assert "415" in spec["paths"][info.path][info.method.lower()]["responses"], info
    assert "415" in spec["paths"][f"{P}/admin/users/{{user_id}}"]["patch"]["responses"]
