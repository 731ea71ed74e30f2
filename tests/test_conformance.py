"""Conformance of the running app to its own OpenAPI document (issue 15 point 6), with schemathesis.

The app is served on 127.0.0.1 (tests/conformance_data.LiveApp: the test database and Redis, a fake
LiveKit egress, and a second app wired to a fake Cashfree for the Cashfree operations); the document
is loaded from its URL, GET /api/v2/openapi.json, and every operation in it is one test here, but
those in EXCLUDED (with why):

- called as each role it documents (x-roles / bearer security), with tokens of a patient, a doctor
  and an admin the test creates with a history (conformance_data.Home); a route with an object id
  gets the path parameters of a real object its caller owns, in the state the route acts on (the
  BOLA matrix's setups), so generated requests reach past 404s; public operations go without a
  token, optional-auth ones both ways, signed URLs with their signature, webhooks signed as their
  senders sign them;
- per caller: one known-good request (a real id in the body, the right password: conformance_data
  .Valid), then POSITIVE generated ones (valid by the document); then, as the first caller, NEGATIVE
  ones (invalid: refused as documented, never a 5xx) and a spread of schemathesis's coverage phase
  (boundary values, each constraint just broken, missing parameters, wrong content types, methods
  the path does not serve), with random ids;
- checks: no 5xx; the status is one the operation lists itself (not only through `default`; a
  method the path does not serve is 405); the content type, the headers it requires
  (WWW-Authenticate on 401, Retry-After on 429) and the body schema as documented;
- and, once all ran, every operation answered a success at least once (REFUSED_ONLY: the websocket).

Bounded and reproducible: Hypothesis is derandomized (the same requests every run) and keeps no
example database, the coverage cases are deterministic. CONFORMANCE_EXAMPLES (default 8) generated
requests per caller and mode, CONFORMANCE_COVERAGE (default 20; 0: all, about 6,000) coverage cases
per operation, CONFORMANCE_SEED=n another set of generated requests. A deeper hunt:
CONFORMANCE_EXAMPLES=60 CONFORMANCE_COVERAGE=0 .venv/bin/python -m pytest tests/test_conformance.py
(two or three minutes). Each kind of failure is reported once per caller
and phase, with the request as a curl command.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_headers_conformance, response_schema_conformance,
    status_code_conformance,
)

from config import load_settings
from gateway import openapi
from gateway.app import create_app
from tests.conformance_data import (
    CASHFREE_OPERATIONS, Caller, Home, LiveApp, build_home, callers, cashfree_callers, conformance_settings,
)
from tests.conftest import REDIS_URL, TEST_NUMBERS

P = "/api/v2"
EXAMPLES = int(os.environ.get("CONFORMANCE_EXAMPLES", "8"))
COVERAGE_CASES = int(os.environ.get("CONFORMANCE_COVERAGE", "20"))  # 0: all of them
SEED = os.environ.get("CONFORMANCE_SEED")  # another (still reproducible) set of generated requests
HTTP_LINE_LIMIT = 8190  # aiohttp's max_line_size and max_field_size
STATUSES: dict[tuple[str, str], Counter[int]] = {}  # what each operation answered (for the last test)

# Operations schemathesis cannot call, with why. Everything else in the document is called (the
# websocket route too: without an upgrade it answers at once, and its refusals are checked).
EXCLUDED: dict[tuple[str, str], str] = {
    ("GET", P + "/connect/sessions/requests/stream"):
        "the doctor's SSE request stream: an answer that never ends (tests/test_stream.py, AsyncAPI document)",
}


# Operations no request from here can succeed on, with why (the test above still checks their refusals).
REFUSED_ONLY: dict[tuple[str, str], str] = {
    ("GET", P + "/connect/sessions/{session_id}/ws"):
        "a websocket: schemathesis's requests never upgrade, so its refusals (400 without the upgrade, "
        "401/403/404) are what is checked here; tests/test_ws_session.py speaks the protocol",
}


def _documented_operations() -> list[tuple[str, str]]:
    """Every operation of the document as the app builds it (the same document the test loads from
    its URL: test_every_operation_of_the_served_document_is_called checks they agree)."""
    spec = openapi.build(create_app(load_settings({"ALLIGN_ENV": "test"})))
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item]


OPERATIONS = _documented_operations()


@dataclass
class Stage:
    live: LiveApp
    home: Home
    schema: Any
    cashfree: LiveApp
    cashfree_home: Home
    session: requests.Session


@pytest.fixture(scope="module")
def stage(database_url):
    live = LiveApp(conformance_settings(database_url, REDIS_URL, TEST_NUMBERS))
    cashfree = LiveApp(conformance_settings(database_url, REDIS_URL, TEST_NUMBERS), cashfree=True)
    try:
        live.start(empty_tables=True)
        home = live.run(build_home(live))
        cashfree.start(empty_tables=False)
        cashfree_home = cashfree.run(build_home(cashfree))
        config = schemathesis.Config()
        schema = schemathesis.openapi.from_url(live.base_url + P + "/openapi.json", config=config)
        with requests.Session() as session:
            yield Stage(live, home, schema, cashfree, cashfree_home, session)
    finally:
        cashfree.stop()
        live.stop()


def documented_status(ctx: Any, response: Any, case: Any) -> bool | None:
    """The status is one the operation lists (its own or a shared error answer), not only `default`."""
    status = str(response.status_code)
    if case.method.upper() != case.operation.method.upper():
        # The coverage phase's probe of a method the path does not serve: 405 in the contract's shape;
        # OPTIONS is the CORS preflight (gateway.cors), refused (403) without an allowed Origin.
        allowed = {"405", "403"} if case.method.upper() == "OPTIONS" else {"405"}
        if status not in allowed:
            raise AssertionError(f"{case.method} on a path that does not serve it answered {status}, not 405")
        return None
    responses = case.operation.definition.raw["responses"]
    if status == "400" and _over_http_limits(response.request):
        # Too long for the HTTP server, refused before any route (gateway.protocol_errors, in the contract's shape,
        # which `default` holds it to): no operation lists it.
        return None
    if status not in responses and f"{status[0]}XX" not in responses:
        listed = ", ".join(code for code in responses if code != "default")
        raise AssertionError(f"Undocumented status {status} (only `default` covers it; documented: {listed})")
    return None


def _over_http_limits(request: Any) -> bool:
    """The request line (`METHOD /path?query HTTP/1.1`) or a header line is longer than aiohttp reads."""
    url = urlsplit(request.url)
    line = f"{request.method} {url.path}{'?' if url.query else ''}{url.query} HTTP/1.1"
    return max([len(line), *(len(f"{name}: {value}") for name, value in request.headers.items())]) > HTTP_LINE_LIMIT


CHECKS: list[Callable[..., bool | None]] = [
    not_a_server_error, status_code_conformance, documented_status, content_type_conformance,
    response_headers_conformance, response_schema_conformance,
]


def _settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples, derandomize=SEED is None, database=None, deadline=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet, report_multiple_bugs=False)


def _spread(cases: list[Any], limit: int) -> list[Any]:
    """`limit` cases taken evenly from the whole list (the coverage phase orders them by kind)."""
    if limit <= 0 or len(cases) <= limit:
        return cases
    step = len(cases) / limit
    return [cases[int(i * step)] for i in range(limit)]


class Run:
    """One operation's requests against one app: each is checked, each kind of failure kept once."""

    def __init__(self, stage: Stage, live: LiveApp, method: str, path: str) -> None:
        self.stage = stage
        self.live = live
        self.operation = stage.schema[path][method]
        self.label = f"{method} {path}"
        self.failures: dict[str, str] = {}
        self.statuses: Counter[int] = Counter()
        self.valid_statuses: list[int] = []

    def send(self, case: Any, caller: Caller, phase: str) -> None:
        headers = dict(caller.headers)
        extra: dict[str, Any] = {}
        if caller.sign is not None and not isinstance(case.body, NotSet):
            extra["data"], signed = caller.sign(case.body)
            headers.update(signed)
        try:
            response = case.call(base_url=self.live.base_url, session=self.stage.session, headers=headers,
                                 timeout=30, **extra)
            self.statuses[response.status_code] += 1
            if phase == "valid":
                self.valid_statuses.append(response.status_code)
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            titles = " + ".join(sorted({failure.title for failure in group.exceptions}))
            self.failures.setdefault(f"{caller.name} {phase}: {titles}", str(group))
        except requests.RequestException as exc:
            self.failures.setdefault(f"{caller.name} {phase}: {type(exc).__name__}", f"{exc!r}\n{case!r}")

    def valid(self, caller: Caller) -> None:
        """The caller's known-good request (conformance_data.Valid), if it has one."""
        if caller.valid is not None:
            case = self.operation.Case(path_parameters=caller.path_parameters, query=caller.valid.query or caller.query,
                                       body=caller.valid.body, media_type=caller.valid.media_type)
            self.send(case, caller, "valid")

    def fuzz(self, caller: Caller, mode: schemathesis.GenerationMode) -> None:
        """Up to EXAMPLES generated requests (positive: with the caller's object and signature)."""
        fixed: dict[str, Any] = {}
        if mode == schemathesis.GenerationMode.POSITIVE:
            fixed = {"path_parameters": caller.path_parameters, "query": caller.query}
        strategy = self.operation.as_strategy(generation_mode=mode, **{k: v for k, v in fixed.items() if v})
        before = self.statuses.total()

        @_settings(EXAMPLES)
        @hypothesis.given(case=strategy)
        def run(case: Any) -> None:
            self.send(case, caller, mode.value)

        if SEED is not None:
            run = hypothesis.seed(int(SEED))(run)

        try:
            run()
        except hypothesis.errors.Unsatisfiable:
            # Nothing this operation takes can be made invalid (no parameters, no body).
            assert mode == schemathesis.GenerationMode.NEGATIVE and self.statuses.total() == before, self.label

    def coverage(self, caller: Caller) -> None:
        """Schemathesis's coverage phase (boundary values, each constraint just broken, missing and
        wrong-typed parameters, ...): deterministic; COVERAGE_CASES of them, spread over the kinds."""
        generator = CoverageGenerator(
            operation=self.operation, generation_modes=list(schemathesis.GenerationMode),
            generation_config=self.stage.schema.config.generation_for(operation=self.operation, phase="coverage"),
            auth_storage=None, override=Override(), feedback=FeedbackSources())
        for case in _spread(list(generator), COVERAGE_CASES):
            self.send(case, caller, "coverage")


@pytest.mark.parametrize("method,path", [pytest.param(m, p, id=f"{m} {p}") for m, p in OPERATIONS])
def test_operation_conforms(stage: Stage, method: str, path: str) -> None:
    if (method, path) in EXCLUDED:
        pytest.skip(EXCLUDED[(method, path)])
    runs = [Run(stage, stage.live, method, path)]
    who = {id(runs[0]): callers(stage.live, stage.home, method, path)}
    if (method, path) in CASHFREE_OPERATIONS:
        runs.append(Run(stage, stage.cashfree, method, path))
        who[id(runs[1])] = cashfree_callers(stage.cashfree, stage.cashfree_home, method, path)
    for run in runs:
        for caller in who[id(run)]:
            run.valid(caller)
            run.fuzz(caller, schemathesis.GenerationMode.POSITIVE)
        first = who[id(run)][0]
        run.fuzz(first, schemathesis.GenerationMode.NEGATIVE)
        run.coverage(first)
    statuses = sum((run.statuses for run in runs), Counter[int]())
    STATUSES[(method, path)] = statuses
    assert statuses.total() > 0
    failures = {key: text for run in runs for key, text in run.failures.items()}
    valid = [status for run in runs for status in run.valid_statuses]
    if valid and (method, path) not in REFUSED_ONLY and not any(status < 400 for status in valid):
        failures["valid requests"] = f"no known-good request succeeded: {valid} (conformance_data.Valid)"
    assert not failures, f"{method} {path}: {len(failures)} kinds of failure\n\n" + "\n\n".join(
        f"--- {key}\n{text}" for key, text in failures.items())


def test_every_operation_of_the_served_document_is_called(stage: Stage) -> None:
    """The document loaded from the URL has exactly the operations parametrized above (none missed);
    the exclusions name operations that exist."""
    served = [(method.upper(), path) for path, item in stage.schema.raw_schema["paths"].items() for method in item]
    assert sorted(served) == sorted(OPERATIONS)
    assert set(EXCLUDED) <= set(OPERATIONS)
    assert len(OPERATIONS) > 100


def test_the_generated_requests_reach_the_operations(stage: Stage) -> None:
    """Runs last: every operation answered a success at least once (a real object, a valid signature, a
    body its rules accept), not only refusals, except those in REFUSED_ONLY."""
    if len(STATUSES) < len(OPERATIONS) - len(EXCLUDED):
        pytest.skip("only part of the operations ran (-k)")
    refused_only = {key: dict(counts) for key, counts in STATUSES.items() if not any(s < 400 for s in counts)}
    assert set(refused_only) == set(REFUSED_ONLY), refused_only
