"""The OpenAPI document (GET /api/v2/openapi.json, gateway.openapi) against the app and the contract.

- every route of the route table (tests/routes.py) carries `@doc` and is in the document, with its
  path parameters; nothing in the document is not served;
- the document is valid OpenAPI 3.1 (openapi-spec-validator);
- roles become bearer security with 401 (WWW-Authenticate) and 403; public routes have no security;
  the contract's error answers (422 `detail` list, 429 Retry-After) are components;
- tags are the contract's sections; every example is an instance of the schema it illustrates;
- served once per app; and a tour of real answers (a patient, a doctor, an admin) matches the document
  (tests/openapi_conformance.check_response, the check `-p tests.openapi_conformance` runs on any test).
"""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from gateway import openapi
from gateway.app import create_app
from gateway.openapi_doc import TAGS, doc_of
from tests import factories
from tests.openapi_conformance import check_response
from tests.role_table import ADMIN, CLIENT, DOCTOR, EXPECTED, OPTIONAL, PUBLIC, SIGNED
from tests.routes import app_routes

CONTRACT = Path(__file__).resolve().parents[2] / "shared" / "spec" / "CONTRACT.md"


@pytest.fixture
def app(settings):
    return create_app(settings)  # assembled, not started: only the router is read


@pytest.fixture
def spec(app) -> dict[str, Any]:
    return openapi.build(app)


def _operations(spec: dict[str, Any]):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_every_route_is_documented_and_nothing_else(app, spec):
    problems = []
    served = set()
    for info in app_routes(app):
        served.add((info.method, info.path))
        if doc_of(info.handler) is None:
            problems.append(f"{info}: no @doc on {info.handler.__module__}.{info.handler.__name__}")
        elif info.method.lower() not in spec["paths"].get(info.path, {}):
            problems.append(f"{info}: missing from the document")
    documented = {(method, path) for method, path, _ in _operations(spec)}
    problems += [f"{method} {path}: documented but not served" for method, path in sorted(documented - served)]
    assert not problems, "\n".join(problems)
    assert openapi.undocumented(app) == []


def test_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # raises on any error; it also resolves every $ref


def test_path_parameters_come_from_the_route_patterns(spec):
    for method, path, operation in _operations(spec):
        names = re.findall(r"\{([^}]+)\}", path)
        params = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "path"}
        assert sorted(params) == sorted(names), f"{method} {path}"
        for name in names:
            schema = params[name]["schema"]
            if name == "id" or name.endswith("_id") and name != "order_id":
                assert schema == {"type": "string", "format": "uuid"}, f"{method} {path} {{{name}}}"
            assert params[name]["required"] is True


def test_roles_are_security_and_their_refusals(spec):
    """EXPECTED (tests/role_table.py, from the contract) against each operation's security."""
    for method, path, operation in _operations(spec):
        rule = EXPECTED[(method, path)]
        responses = operation["responses"]
        where = f"{method} {path}"
        if isinstance(rule, frozenset):
            assert {"bearerAuth": []} in operation["security"], where
            assert responses["401"] == {"$ref": "#/components/responses/Unauthorized"}, where
            assert sorted(operation["x-roles"]) == sorted(rule), where
            if rule != frozenset((CLIENT, DOCTOR, ADMIN)):
                assert responses["403"] == {"$ref": "#/components/responses/Forbidden"}, where
        elif rule == OPTIONAL:
            assert operation["security"] == [{}, {"bearerAuth": []}], where
            assert "401" in responses, where
        else:
            assert rule in (PUBLIC, SIGNED) and operation["security"] == [], where
        assert "default" in responses and "503" in responses, where
        if operation.get("parameters") or "requestBody" in operation:
            assert responses["422"] == {"$ref": "#/components/responses/ValidationError"}, where


def test_error_answers_are_components_in_the_contract_shape(spec):
    components = spec["components"]
    assert components["schemas"]["Error"]["required"] == ["detail", "code"]
    item = components["schemas"]["ValidationErrorItem"]
    assert item["required"] == ["loc", "msg", "type"]
    validation = components["schemas"]["ValidationError"]
    assert validation["properties"]["detail"]["items"] == {"$ref": "#/components/schemas/ValidationErrorItem"}
    responses = components["responses"]
    assert responses["Unauthorized"]["headers"]["WWW-Authenticate"] == {"$ref": "#/components/headers/WWWAuthenticate"}
    assert responses["TooManyRequests"]["headers"]["Retry-After"] == {"$ref": "#/components/headers/RetryAfter"}
    assert components["headers"]["RetryAfter"]["required"] is True
    assert responses["ValidationError"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationError"}
    assert components["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "An access token from the login endpoints"}
    # Throttled logins document their 429.
    assert "429" in spec["paths"]["/api/v2/auth/doctor/login"]["post"]["responses"]


def test_tags_are_the_contract_sections(spec):
    names = [name for name, _ in TAGS]
    assert [tag["name"] for tag in spec["tags"]] == names
    used = {operation["tags"][0] for _, _, operation in _operations(spec)}
    assert used == set(names), set(names) ^ used
    if CONTRACT.is_file():  # ../shared/spec beside the checkout (as CI lays it)
        headings = {line.lstrip("#").strip() for line in CONTRACT.read_text().splitlines() if line.startswith("## ")}
        for name in names:
            assert any(heading.startswith(name.split(" (")[0].split(":")[0]) for heading in headings), name


def _check(spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> list[str]:
    validator = Draft202012Validator({"components": spec["components"], "allOf": [schema]})
    return [f"{where}: {error.message[:200]}" for error in validator.iter_errors(value)]


def test_every_example_is_an_instance_of_its_schema(spec):
    problems = []
    examples = 0
    for method, path, operation in _operations(spec):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            if "example" in media:
                examples += 1
                problems += _check(spec, media["schema"], media["example"], f"{method} {path} request")
        for status, response in operation["responses"].items():
            for media in response.get("content", {}).values():
                if "example" in media:
                    examples += 1
                    problems += _check(spec, media["schema"], media["example"], f"{method} {path} {status}")
    for name, response in spec["components"]["responses"].items():
        media = response["content"]["application/json"]
        examples += 1
        problems += _check(spec, media["schema"], media["example"], f"components.responses.{name}")
    assert not problems, "\n".join(problems)
    assert examples >= 40  # the reference's samples


async def test_served_once_per_app(client):
    first = await client.get("/api/v2/openapi.json")
    assert first.status == 200 and first.content_type == "application/json"
    body = await first.read()
    second = await client.get("/api/v2/openapi.json")
    assert await second.read() == body
    assert openapi.document_bytes(client.server.app) is openapi.document_bytes(client.server.app)
    document = json.loads(body)
    assert document["info"]["title"] == "Allign API v2"
    assert document == json.loads(json.dumps(openapi.build(client.server.app)))
    index = await client.get("/")
    assert (await index.json())["docs"] == "/api/v2/docs"


class Tour:
    """Requests through a real client; every answer checked against the document."""

    def __init__(self, client, spec: dict[str, Any]) -> None:
        self.client, self.spec = client, spec
        self.problems: list[str] = []
        self.seen: set[str] = set()

    async def call(self, method: str, url: str, route: str, headers: dict[str, str] | None = None,
                   expect: int = 200, **kwargs: Any) -> Any:
        resp = await self.client.request(method, url, headers=headers, **kwargs)
        body = await resp.read()
        assert resp.status == expect, f"{method} {url}: {resp.status} {body[:300]!r}"
        self.seen.add(f"{method} {route} {resp.status}")
        self.problems += check_response(self.spec, method, route, resp.status, resp.content_type, body or None)
        return json.loads(body) if resp.content_type == "application/json" and body else None


async def test_real_answers_match_the_document(client, db, auth):
    spec = json.loads(openapi.document_bytes(client.server.app))
    tour = Tour(client, spec)
    doctor = await factories.make_doctor(db, about_short=None)
    patient = await factories.make_user(db, full_name=None, sex=None, age=None)
    admin = await factories.make_admin(db)
    await factories.make_wallet(db, patient["id"], 100_000)
    as_patient, as_doctor, as_admin = auth("client", patient["id"]), auth("doctor", doctor["id"]), auth("admin", admin["id"])
    P, d = "/api/v2", str(doctor["id"])

    await tour.call("GET", "/", "/")
    await tour.call("GET", "/healthz", "/healthz")
    await tour.call("GET", P + "/users/me", P + "/users/me", as_patient)
    await tour.call("PATCH", P + "/users/me", P + "/users/me", as_patient, json={"age": 28, "sex": "male", "height_cm": 175})
    await tour.call("GET", P + "/users/me", P + "/users/me", None, expect=401)
    await tour.call("GET", P + "/users/me", P + "/users/me", as_doctor, expect=403)
    await tour.call("PATCH", P + "/users/me", P + "/users/me", as_patient, json={"age": "old"}, expect=422)
    await tour.call("GET", P + "/doctors", P + "/doctors", as_patient)
    await tour.call("GET", P + "/doctors/search?q=test", P + "/doctors/search")
    await tour.call("GET", f"{P}/doctors/{d}", P + "/doctors/{doctor_id}", as_patient)
    await tour.call("GET", f"{P}/doctors/{d}", P + "/doctors/{doctor_id}", as_admin)
    await tour.call("GET", f"{P}/doctors/{uuid.uuid4()}", P + "/doctors/{doctor_id}", expect=404)
    await tour.call("POST", f"{P}/doctors/{d}/favourite", P + "/doctors/{doctor_id}/favourite", as_patient,
                    json={"action": "add"})
    await tour.call("GET", P + "/doctors/favourites", P + "/doctors/favourites", as_patient)
    await tour.call("GET", P + "/doctors/me/overview?timezone=Asia/Kolkata", P + "/doctors/me/overview", as_doctor)
    await tour.call("GET", P + "/doctors/me/profile", P + "/doctors/me/profile", as_doctor)
    await tour.call("PUT", P + "/doctors/me/presence", P + "/doctors/me/presence", as_doctor,
                    json={"presence_status": "online"})
    await tour.call("GET", P + "/wallet", P + "/wallet", as_patient)

    created = await tour.call("POST", P + "/connect/sessions", P + "/connect/sessions", as_patient, expect=201,
                              json={"target_doctor_id": d, "category": "Urology", "symptoms": ["back pain"]})
    s = f"{P}/connect/sessions/{created['session_id']}"
    S = P + "/connect/sessions/{session_id}"
    await tour.call("POST", P + "/connect/sessions", P + "/connect/sessions", as_patient, expect=409,
                    json={"target_doctor_id": d})
    await tour.call("GET", P + "/connect/sessions/requests", P + "/connect/sessions/requests", as_doctor)
    await tour.call("GET", s, S, as_patient)
    await tour.call("POST", s + "/accept", S + "/accept", as_doctor)
    await tour.call("GET", s + "/token", S + "/token", as_patient)
    message = {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "Namaste"}
    sent = await tour.call("POST", s + "/messages", S + "/messages", as_patient, json=message, expect=201)
    await tour.call("POST", s + "/messages", S + "/messages", as_patient, json=message, expect=200)
    await tour.call("POST", s + "/messages/delivered", S + "/messages/delivered", as_doctor,
                    json={"message_ids": [sent["id"]]})
    await tour.call("GET", s + "/messages", S + "/messages", as_doctor)
    await tour.call("GET", s + "/video-permission", S + "/video-permission", as_patient)
    await tour.call("POST", s + "/video-permission/allow", S + "/video-permission/allow", as_doctor)
    await tour.call("POST", s + "/video-permission/accept", S + "/video-permission/accept", as_patient, expect=200)
    await tour.call("POST", P + "/connect/call-sessions", P + "/connect/call-sessions", as_patient, expect=201,
                    json={"connect_session_id": created["session_id"]})
    await tour.call("POST", s + "/prescription", S + "/prescription", as_doctor, expect=201,
                    json={"medications": [{"name": "Amoxicillin 500mg", "dosage": "1 tablet 3x daily"}]})
    await tour.call("POST", s + "/lab-tests", S + "/lab-tests", as_doctor, expect=201,
                    json={"recommendations": [{"test_name": "CBC", "priority": "routine"}]})
    await tour.call("POST", s + "/end", S + "/end", as_patient, json={"reason": "completed"})
    await tour.call("POST", s + "/end", S + "/end", as_patient, expect=409)
    await tour.call("POST", s + "/review", S + "/review", as_patient, json={"rating": 4.5}, expect=201)
    await tour.call("GET", s + "/followup", S + "/followup", as_patient, expect=404)
    await tour.call("POST", s + "/followup", S + "/followup", as_doctor, json={"scheduled_date": "2099-01-31"},
                    expect=201)
    await tour.call("GET", P + "/followups", P + "/followups", as_patient)
    await tour.call("GET", P + "/doctors/me/reviews", P + "/doctors/me/reviews", as_doctor)
    await tour.call("GET", P + "/doctors/me/sessions", P + "/doctors/me/sessions", as_doctor)
    await tour.call("GET", P + "/doctors/me/sessions/recent", P + "/doctors/me/sessions/recent", as_doctor)
    await tour.call("GET", P + "/wallet/transactions", P + "/wallet/transactions", as_patient)
    await tour.call("GET", P + "/analytics/user/overview", P + "/analytics/user/overview", as_patient)
    await tour.call("GET", P + "/analytics/user/sessions", P + "/analytics/user/sessions", as_patient)
    await tour.call("GET", P + "/analytics/doctor/performance", P + "/analytics/doctor/performance", as_doctor)
    await tour.call("GET", P + "/analytics/doctor/reviews/trends?period=week", P + "/analytics/doctor/reviews/trends",
                    as_doctor)
    await tour.call("GET", P + "/analytics/doctor/reviews/rating-distribution",
                    P + "/analytics/doctor/reviews/rating-distribution", as_doctor)
    await tour.call("GET", P + "/admin/users", P + "/admin/users", as_admin)
    await tour.call("GET", f"{P}/admin/users/{patient['id']}", P + "/admin/users/{user_id}", as_admin)
    await tour.call("GET", f"{P}/admin/users/{d}", P + "/admin/users/{user_id}", as_admin)
    await tour.call("GET", P + "/admin/audit-log", P + "/admin/audit-log", as_admin)
    await tour.call("POST", P + "/devices/tokens", P + "/devices/tokens", as_doctor, expect=201,
                    json={"token": "fcm-token-1", "platform": "ios"})
    await tour.call("GET", P + "/wallet/offers", P + "/wallet/offers")
    await tour.call("GET", P + "/community/articles", P + "/community/articles")
    await tour.call("POST", P + "/auth/logout", P + "/auth/logout", as_doctor)

    assert not tour.problems, "\n".join(tour.problems)
    assert len(tour.seen) >= 55  # kinds of answer (method, route, status)
