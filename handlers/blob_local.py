"""Upload and download endpoints of the local blob store (HMAC-signed, expiring URLs).

Speaks what a client of Azure's SAS URLs does: PUT raw bytes with `x-ms-blob-type: BlockBlob`
and a Content-Type; GET to download. The body is streamed to disk and cut off (413) beyond the
size signed into the URL. Only active when BLOB_BACKEND=local.
"""
from __future__ import annotations

from aiohttp import web

from domain.errors import BadRequest, NotFound, PayloadTooLarge
from gateway import keys
from gateway.openapi_doc import FILES, SIGNED, Body, Reply, doc, header, query_param
from storage.blobs import CHUNK_BYTES, limited
from storage.blobs_local import READ, WRITE, LocalBlobStore

UNPREFIXED = True
routes = web.RouteTableDef()
_PATH = "/blobs/{container:[a-z]+}/{name:.+}"
# The signed URL's query (storage.blobs_local.LocalBlobStore.check_url), as Azure SAS names them.
SIGNED_URL = tuple(query_param(name, text, required=required) for name, text, required in (
    ("sp", "Permission: r (read) or w (write)", True), ("se", "Expiry, unix seconds", True),
    ("sz", "Write URLs: the most bytes accepted", False), ("rsct", "Read URLs: the Content-Type served", False),
    ("sig", "HMAC signature of all of the above", True)))


def _local_store(request: web.Request) -> LocalBlobStore:
    store = request.app.get(keys.BLOBS)
    if not isinstance(store, LocalBlobStore):
        raise NotFound()
    return store


async def _body_chunks(request: web.Request):
    while True:
        chunk = await request.content.read(CHUNK_BYTES)
        if not chunk:
            return
        yield chunk


@routes.put(_PATH)
@doc("Local blob store: upload (BLOB_BACKEND=local)", tag=FILES, auth=SIGNED, parameters=SIGNED_URL + (
         header("x-ms-blob-type", "`BlockBlob`, as Azure's Put Blob wants"),),
     body=Body("application/octet-stream", {"type": "string", "format": "binary"}, "The file's bytes"),
     responses={201: Reply("Stored", content_type=None)}, errors=(400, 403, 404, 413),
     description="Stands in for Azure SAS write URLs in local mode: the signed, expiring URL an upload init "
     "returns. Wrong signature, expiry or method: 403; not in local mode: 404.")
async def put_blob(request: web.Request) -> web.Response:
    store = _local_store(request)
    container, name = request.match_info["container"], request.match_info["name"]
    signed = store.check_url(WRITE, container, name, dict(request.query))
    if request.headers.get("x-ms-blob-type", "").lower() != "blockblob":
        raise BadRequest("x-ms-blob-type: BlockBlob is required", code="MISSING_REQUIRED_HEADER")
    max_bytes = int(signed["size"] or 0)
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"Body exceeds the declared {max_bytes} bytes", code="FILE_TOO_LARGE")
    content_type = request.headers.get("Content-Type") or "application/octet-stream"
    await store.put_stream(container, name, limited(_body_chunks(request), max_bytes), content_type)
    return web.Response(status=201)


@routes.get(_PATH)
@doc("Local blob store: download (BLOB_BACKEND=local)", tag=FILES, auth=SIGNED, parameters=SIGNED_URL,
     responses={200: Reply("The file, as the Content-Type it was stored (or signed) with", schema={"type": "string"},
                           content_type="*/*")},
     errors=(403, 404), description="The signed, expiring read URL of a download_url in local mode.")
async def get_blob(request: web.Request) -> web.StreamResponse:
    store = _local_store(request)
    container, name = request.match_info["container"], request.match_info["name"]
    signed = store.check_url(READ, container, name, dict(request.query))
    path, stored_type = await store.open_for_read(container, name)
    response = web.FileResponse(path, chunk_size=CHUNK_BYTES)
    response.content_type = signed["content_type"] or stored_type
    response.headers["Cache-Control"] = "private, max-age=600"
    return response
