"""Request id, metrics and the one error middleware mapping exceptions to the contract's shape."""
from __future__ import annotations

import itertools
import logging
import os
import time

import asyncpg
from aiohttp import web
from marshmallow import ValidationError

from domain.errors import ApiError, ValidationFailed
from gateway import keys
from gateway.jsonutil import json_response
from schemas.common import check_path, flatten_errors
from storage.db import describe_error, is_database_error
from storage.pool import DatabaseUnavailable, PoolTimeout

log = logging.getLogger("allign.http")
REQUEST_ID = web.RequestKey("request_id", str)
# Generated request ids: a random prefix per process and a counter (uuid4 per request cost more than
# the rest of the id's handling); unique across processes, and ordered within one.
_RID_PREFIX = os.urandom(6).hex()
_rid_counter = itertools.count(1)
# What secure_response sets on every response; aiohttp's own error answers (gateway.protocol_errors) too.
SECURITY_HEADERS = {"Server": "Allign", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
_HTTP_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
               405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE",
               415: "UNSUPPORTED_MEDIA_TYPE", 429: "RATE_LIMITED"}


def _route_name(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.route is not None else None
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def gateway_middleware(request: web.Request, handler):
    """Request id, metrics and error mapping in one frame: one middleware costs one coroutine and
    one handler wrapper per request, three cost three (bench/middlewares.py)."""
    rid = request.headers.get("X-Request-ID", "")
    if not rid or len(rid) > 128 or not rid.isprintable():
        rid = f"{_RID_PREFIX}{next(_rid_counter):020x}"
    request[REQUEST_ID] = rid
    metrics = request.app[keys.METRICS]
    metrics.in_flight.inc()
    started = time.perf_counter()
    try:
        try:
            if "\x00" in request.path:
                check_path(request)
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:  # redirects pass through as aiohttp raises them
                exc.headers["X-Request-ID"] = rid
                _record(metrics, request, exc.status, started)
                raise
            response = _http_error(exc)
        except Exception as exc:
            response = _error_response(request, exc)
    except BaseException:  # cancelled: the client went away
        _record(metrics, request, 499, started)
        raise
    if not response.prepared:
        response.headers["X-Request-ID"] = rid
    _record(metrics, request, response.status, started)
    return response


async def secure_response(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """on_response_prepare: security headers on every response, streams and websocket handshakes too
    (they are prepared inside their handlers, past the middleware). `Cache-Control: no-store` unless the
    handler chose its own caching; with a token in the request, unless it declared the answer `public`
    (the same for everyone: /wallet/offers). aiohttp set `Server` (with its version) just before this
    hook; it is replaced here."""
    headers = response.headers  # item by item: headers.update(...) costs ~6 times as much
    headers["Server"] = "Allign"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    cache = headers.get("Cache-Control")
    if cache is None or ("public" not in cache and (
            "Authorization" in request.headers or "access_token=" in request.query_string)):
        headers["Cache-Control"] = "no-store"


def _record(metrics, request: web.Request, status: int, started: float) -> None:
    metrics.in_flight.dec()
    route = _route_name(request)
    metrics.request_done(request.method, route, status, time.perf_counter() - started)


def error_response(status: int, detail, code: str, headers: dict | None = None) -> web.Response:
    return json_response({"detail": detail, "code": code}, status=status, headers=headers)


def _http_error(exc: web.HTTPException) -> web.Response:
    headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after", "www-authenticate")}
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    detail = exc.reason if exc.status != 413 else "Request body too large"
    return error_response(exc.status, detail, _HTTP_CODES.get(exc.status, "HTTP_ERROR"), headers or None)


def _error_response(request: web.Request, error: Exception) -> web.Response:
    """The contract's error shape for whatever a handler raised (the one place exceptions are mapped)."""
    try:
        raise error
    except ValidationFailed as exc:
        return error_response(422, exc.errors, exc.code)
    except ApiError as exc:
        return error_response(exc.status, exc.detail, exc.code, exc.headers or None)
    except ValidationError as exc:  # a schema used directly, outside schemas.common.load
        return error_response(422, flatten_errors(exc.messages, "body"), "VALIDATION_ERROR")
    except PoolTimeout:
        log.warning("no database connection free within the pool timeout request_id=%s", request.get(REQUEST_ID))
        # One code for every way the database cannot serve now (issue 17): clients retry after 1 s.
        return error_response(503, "Database busy, try again", "DATABASE_UNAVAILABLE", {"Retry-After": "1"})
    except (DatabaseUnavailable, asyncpg.QueryCanceledError) as exc:
        # QueryCanceledError: a statement_timeout (or an operator's cancel) cut the statement short;
        # its transaction rolled back, so the request can simply be tried again.
        log.warning("database unavailable request_id=%s: %s", request.get(REQUEST_ID),
                    exc if isinstance(exc, DatabaseUnavailable) else f"statement cancelled ({exc.sqlstate})")
        return error_response(503, "Database temporarily unavailable", "DATABASE_UNAVAILABLE",
                              {"Retry-After": "1"})
    except Exception as exc:
        if is_database_error(exc):
            # Never str(exc): it holds the statement's data. describe_error: class, SQLSTATE, schema
            # names, first words; the traceback is rendered the same way (storage.db's log redaction).
            log.exception("database error request_id=%s %s %s: %s", request.get(REQUEST_ID), request.method,
                          request.rel_url.path, describe_error(exc))
        else:
            log.exception("unhandled error request_id=%s %s %s", request.get(REQUEST_ID), request.method,
                          request.rel_url.path)
        return error_response(500, "Internal server error", "INTERNAL_ERROR")
