"""aiohttp's own protocol errors in the contract's JSON error shape.

A request that cannot be parsed (request line or a header over 8,190 bytes, a bad method, a
malformed header) never reaches the app, its middleware or its response hooks: aiohttp's
RequestHandler.handle_error answers it with plain text. `install` makes the app's server use a
RequestHandler whose handle_error answers `{"detail", "code"}` with the security headers instead;
aiohttp still logs the error and closes the connection. It covers every way the app is served
(run.py's run_app, test servers), since all of them build the server through the app.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong
from aiohttp.web_protocol import RequestHandler

from gateway.middlewares import SECURITY_HEADERS, error_response


def _describe(status: int, exc: BaseException | None) -> tuple[str, str]:
    """(detail, code); never the exception's text, which quotes the request's bytes."""
    if status >= 500:
        return ("Gateway timeout", "GATEWAY_TIMEOUT") if status == 504 else ("Internal server error", "INTERNAL_ERROR")
    if isinstance(exc, LineTooLong):
        return "Request line or header too long", "BAD_REQUEST"
    if isinstance(exc, BadHttpMethod):
        return "Invalid HTTP method", "BAD_REQUEST"
    return "Malformed HTTP request", "BAD_REQUEST"


class JsonErrorHandler(RequestHandler):
    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; raises if a response already began
        detail, code = _describe(status, exc)
        response = error_response(status, detail, code, {**SECURITY_HEADERS, "Cache-Control": "no-store"})
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return JsonErrorHandler(self, loop=self._loop, **self._kwargs)


def install(app: web.Application) -> None:
    """Every runner (AppRunner, hence run_app and the test servers) asks the app for its server."""
    make_handler = app._make_handler

    def make_json_error_handler(**kwargs: Any) -> web.Server:
        server = make_handler(**kwargs)
        return _Server(server.request_handler, request_factory=server.request_factory,
                       handler_cancellation=server.handler_cancellation, loop=server._loop, **server._kwargs)

    app._make_handler = make_json_error_handler  # type: ignore[method-assign]
