"""A pytest plugin that holds every JSON answer of the tests' apps to the OpenAPI document.

    .venv/bin/python -m pytest -p tests.openapi_conformance tests/test_sessions.py ...

Every app the tests make (gateway.app.create_app) gets one more middleware, outermost: it looks up the
answered route, status and content in the app's document (gateway.openapi) and validates the JSON body
against the documented schema (JSON Schema 2020-12, formats uuid / date / date-time checked). Each
mismatch is recorded with its route, status and the validator's message; the run ends with a summary,
and fails when there was any. A 2xx answer whose status the document does not list counts as one too.
The summary also lists the documented 2xx answers no test produced (their shapes went unchecked).

It checks what the other tests happen to do; tests/test_openapi.py checks a chosen round of answers
itself (with the same `check_response`), and schemathesis covers the rest.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from aiohttp import web
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

import gateway.app
from gateway import openapi
from gateway.openapi_doc import doc_of

_FORMATS = FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value or not (value.endswith("Z") or value[-6] in "+-"):
        raise ValueError("not an RFC 3339 date-time with an offset")
    dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


_DOCUMENTS: dict[int, dict[str, Any]] = {}
MISMATCHES: list[str] = []
CHECKED: set[str] = set()  # "METHOD path status" answers seen


def document(app: web.Application) -> dict[str, Any]:
    found = _DOCUMENTS.get(id(app))
    if found is None or found.get("_app") is not app:
        found = _DOCUMENTS[id(app)] = {"_app": app, "spec": json.loads(openapi.document_bytes(app))}
    return found["spec"]


def _resolve(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in item:
        node: Any = spec
        for part in item["$ref"].lstrip("#/").split("/"):
            node = node[part]
        item = node
    return item


def check_response(spec: dict[str, Any], method: str, path: str, status: int, content_type: str,
                   body: bytes | None) -> list[str]:
    """What is wrong with this answer, by the document (empty: nothing)."""
    operation = spec.get("paths", {}).get(path, {}).get(method.lower())
    where = f"{method} {path} → {status}"
    if operation is None:
        return [f"{where}: the route is not in the document"]
    responses = operation["responses"]
    if str(status) in responses:
        response = _resolve(spec, responses[str(status)])
    elif 200 <= status < 300:
        return [f"{where}: status not documented"]
    else:
        response = _resolve(spec, responses["default"])
    content = response.get("content")
    if not content:
        return [f"{where}: documented without a body, answered {len(body or b'')} bytes"] if body else []
    media = content.get(content_type) or content.get("*/*")
    if media is None:
        return [f"{where}: content type {content_type} not documented ({', '.join(content)})"]
    if content_type != "application/json" or "schema" not in media:
        return []
    try:
        value = json.loads(body or b"")
    except ValueError:
        return [f"{where}: not JSON"]
    validator = Draft202012Validator({"components": spec["components"], "allOf": [media["schema"]]},
                                     format_checker=_FORMATS)
    problems = []
    for error in validator.iter_errors(value):
        problems.append(f"{where}: at {'/'.join(str(p) for p in error.absolute_path) or '(root)'}: "
                        f"{_short(error)}")
    return problems


def _short(error: ValidationError) -> str:
    message = error.message
    return message if len(message) < 300 else message[:300] + "..."


@web.middleware
async def conformance_middleware(request: web.Request, handler):
    response = await handler(request)
    if isinstance(response, web.Response) and not isinstance(response, web.FileResponse):
        route = request.match_info.route
        resource = route.resource if route is not None else None
        # Routes a test adds for itself (no @doc) are not the API's.
        if resource is not None and request.method != "HEAD" and doc_of(route.handler) is not None:
            body = response.body if isinstance(response.body, bytes) else None
            CHECKED.add(f"{request.method} {resource.canonical} {response.status}")
            MISMATCHES.extend(check_response(document(request.app), request.method, resource.canonical,
                                             response.status, response.content_type, body))
    return response


def pytest_configure(config: pytest.Config) -> None:
    if conformance_middleware not in gateway.app.MIDDLEWARES:
        gateway.app.MIDDLEWARES.insert(0, conformance_middleware)


def never_answered() -> list[str]:
    """Documented 2xx JSON answers no test produced (their shapes were not held to real answers)."""
    documented: set[str] = set()
    for found in _DOCUMENTS.values():
        for path, item in found["spec"]["paths"].items():
            for method, operation in item.items():
                for status, response in operation["responses"].items():
                    if status.startswith("2") and "application/json" in response.get("content", {}):
                        documented.add(f"{method.upper()} {path} {status}")
    return sorted(documented - CHECKED)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    distinct = sorted(set(MISMATCHES))
    terminalreporter.section(f"OpenAPI conformance: {len(CHECKED)} kinds of answer checked, "
                             f"{len(distinct)} distinct mismatches")
    for line in distinct:
        terminalreporter.write_line(line)
    missing = never_answered()
    terminalreporter.write_line(f"documented 2xx JSON answers no test produced ({len(missing)}):")
    for line in missing:
        terminalreporter.write_line("  " + line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if MISMATCHES and session.exitstatus == 0:
        session.exitstatus = 1
