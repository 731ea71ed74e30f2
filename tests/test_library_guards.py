"""Where the code relies on a library's private internals, these tests say so clearly when a
library upgrade changes them (instead of a hang, a silent send elsewhere, or a wrong transaction).

Each entry names the one place in our code that uses the internal, and what to re-check.
"""
from __future__ import annotations

import inspect

import aiohttp_sse
import pytest


def _fail(what: str, where: str, check: str) -> None:
    pytest.fail(f"library internals changed: {what}. Used by {where}; {check}")


def test_redis_connection_write_internals():
    """storage/redis.py's _WriteInCallersTask is redis-py 8.1's send_packed_command with
    asyncio.timeout instead of wait_for; it uses these attributes of the connection."""
    from redis.asyncio.connection import AbstractConnection

    source = inspect.getsource(AbstractConnection)
    for name in ("self._writer", "self.socket_timeout", "def is_connected", "async def connect_check_health",
                 "async def check_health", "async def disconnect"):
        if name not in source:
            _fail(f"redis.asyncio AbstractConnection lost `{name}`", "storage.redis._WriteInCallersTask",
                  "re-copy send_packed_command from the new redis-py and keep the asyncio.timeout")
    params = list(inspect.signature(AbstractConnection.send_packed_command).parameters)
    if params[:3] != ["self", "command", "check_health"]:
        _fail(f"send_packed_command's signature is now {params}", "storage.redis._WriteInCallersTask",
              "match the new signature")


def test_firebase_admin_messaging_internals():
    """integrations/fcm.py points the SDK's messaging service at FCM_SEND_URL (`_fcm_url`) and
    replaces its async HTTP client to switch off the SDK's own retries."""
    from firebase_admin import _http_client, _retry, messaging

    if not hasattr(messaging, "_get_messaging_service"):
        _fail("firebase_admin.messaging._get_messaging_service is gone", "integrations.fcm.FcmClient",
              "find how to reach the messaging service of an app")
    if not hasattr(_http_client, "HttpxAsyncClient") or not hasattr(_retry, "HttpxRetry"):
        _fail("firebase_admin._http_client.HttpxAsyncClient or _retry.HttpxRetry is gone",
              "integrations.fcm.FcmClient", "find the SDK's async client and its retry config")
    init = inspect.getsource(messaging._MessagingService.__init__)
    for attribute in ("self._fcm_url", "self._async_client", "self._credential"):
        if attribute not in init:
            _fail(f"messaging service no longer sets {attribute}", "integrations.fcm.FcmClient",
                  "find where the SDK keeps its send URL, async client and credential")


def test_aiohttp_sse_prepare_is_what_request_stream_replaces():
    """handlers/session_stream.RequestStream.prepare replaces EventSourceResponse.prepare to skip its
    ping task (the handler pings itself): it keeps everything else that prepare does."""
    source = inspect.getsource(aiohttp_sse.EventSourceResponse.prepare)
    for step in ("super().prepare(request)", "self._ping_task = asyncio.create_task(self._ping())",
                 "self.enable_chunked_encoding()", "self._set_tcp_user_timeout(request)"):
        if step not in source:
            _fail(f"EventSourceResponse.prepare no longer does `{step}`",
                  "handlers.session_stream.RequestStream.prepare",
                  "re-read the new prepare and keep RequestStream's copy doing all but the ping task")
    init = inspect.getsource(aiohttp_sse.EventSourceResponse.__init__)
    if "self._ping_task" not in init or "= None" not in init:
        _fail("EventSourceResponse no longer starts with no ping task", "handlers.session_stream.RequestStream",
              "check that send() works without the ping task")


def test_aiohttp_server_factory_internals():
    """gateway/protocol_errors.install wraps Application._make_handler and rebuilds the Server from
    its private `_kwargs` and `_loop`, so that RequestHandler.handle_error answers in JSON."""
    from aiohttp import web
    from aiohttp.web_protocol import RequestHandler

    if not callable(getattr(web.Application, "_make_handler", None)):
        _fail("web.Application._make_handler is gone", "gateway.protocol_errors.install",
              "find how runners build the app's Server now")
    init = inspect.getsource(web.Server.__init__)
    for attribute in ("self._kwargs", "self._loop", "self.request_factory", "self.handler_cancellation"):
        if attribute not in init:
            _fail(f"web.Server no longer sets {attribute}", "gateway.protocol_errors._Server",
                  "rebuild the Server with what its __init__ keeps now")
    params = list(inspect.signature(RequestHandler.handle_error).parameters)
    if params[:5] != ["self", "request", "status", "exc", "message"]:
        _fail(f"RequestHandler.handle_error's signature is now {params}", "gateway.protocol_errors.JsonErrorHandler",
              "match the new signature")
