"""Domain exceptions. The error middleware maps each to the contract's error shape.

Raise these anywhere below the handlers; never build error responses by hand.
"""
from __future__ import annotations

from typing import Any, Mapping


class ApiError(Exception):
    status = 400
    code = "BAD_REQUEST"
    detail = "Bad request"

    def __init__(self, detail: str | None = None, *, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        self.code = code or self.code
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    status, code, detail = 401, "UNAUTHORIZED", "Not authenticated"

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        super().__init__(detail, code=code, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status, code, detail = 403, "FORBIDDEN", "Not allowed"


class NotFound(ApiError):
    status, code, detail = 404, "NOT_FOUND", "Not found"


class Conflict(ApiError):
    status, code, detail = 409, "CONFLICT", "Conflict"


class PayloadTooLarge(ApiError):
    status, code, detail = 413, "PAYLOAD_TOO_LARGE", "Request body too large"


class UnsupportedMediaType(ApiError):
    status, code, detail = 415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported content type"


class TooManyRequests(ApiError):
    status, code, detail = 429, "RATE_LIMITED", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(detail, code=code, headers={"Retry-After": str(max(1, int(retry_after)))})


class ServiceUnavailable(ApiError):
    status, code, detail = 503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable"


class ValidationFailed(ApiError):
    """422 with FastAPI-shaped items: [{"loc": [...], "msg": ..., "type": ...}]."""

    status, code = 422, "VALIDATION_ERROR"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("Validation error")
        self.errors = errors

    @classmethod
    def single(cls, where: str, field: str, msg: str, type_: str = "value_error") -> "ValidationFailed":
        return cls([{"loc": [where, field], "msg": msg, "type": type_}])
