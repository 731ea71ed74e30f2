"""A local server speaking FCM HTTP v1 and Google's OAuth token endpoint, on 127.0.0.1 only.

The real firebase-admin SDK talks to it: a service-account credentials file (freshly generated RSA
key) whose `token_uri` points here, and FCM_SEND_URL pointing at /v1/projects/{project_id}/messages:send.
The token endpoint verifies the SDK's signed JWT assertion; the send endpoint checks the bearer
token it issued. Per-token scripted outcomes: `fake.script(token, 503, 503)` answers 503 twice, then
succeeds; `fake.unregister(token)` answers UNREGISTERED for good.

Topics: the SDK's `subscribe_to_topic` / `unsubscribe_from_topic` (firebase-admin 7.x: FCM v1
`POST .../registrations/{token}/topicSubscriptions?topic_name=` and
`DELETE .../registrations/{token}/topicSubscriptions/{topic}?allow_missing=true`, one call per
token) are kept in `subscriptions`; a message with a `topic` lands in `received` (and
`topic_messages(topic)`), as one message, however many devices are subscribed.
`fake.script_topic(token, 503)` scripts subscription calls the way `script` does sends.
"""
from __future__ import annotations

import collections
import itertools
import json
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PROJECT_ID = "allign-test"
ACCESS_TOKEN = "fake-fcm-access-token"
CLIENT_EMAIL = f"push@{PROJECT_ID}.iam.gserviceaccount.com"
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                 503: "UNAVAILABLE"}


def google_error(status: int, message: str, fcm_code: str | None = None) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": _STATUS_NAMES.get(status, "UNKNOWN")}
    if fcm_code:
        error["details"] = [{"@type": _FCM_ERROR, "errorCode": fcm_code}]
    return web.json_response({"error": error}, status=status)


class FakeFcm:
    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.received: list[dict[str, Any]] = []       # every accepted message body
        self.attempts: collections.Counter[str] = collections.Counter()  # send calls per token
        self.token_requests = 0
        self._scripts: dict[str, collections.deque[int]] = {}
        self._topic_scripts: dict[str, collections.deque[int]] = {}
        self.subscriptions: dict[str, set[str]] = collections.defaultdict(set)  # topic → tokens
        self.topic_calls: collections.Counter[str] = collections.Counter()       # subscription calls per token
        self._unregistered: set[str] = set()
        self._ids = itertools.count(1)
        self.server: TestServer | None = None

    # --- scripting ---------------------------------------------------------------------------

    def script(self, token: str, *statuses: int) -> None:
        self._scripts[token] = collections.deque(statuses)

    def unregister(self, token: str) -> None:
        self._unregistered.add(token)

    def script_topic(self, token: str, *statuses: int) -> None:
        self._topic_scripts[token] = collections.deque(statuses)

    def topic_messages(self, topic: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("topic") == topic]

    def delivered_to(self, token: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("token") == token]

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> "FakeFcm":
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/v1/projects/{project}/messages:send", self._send)
        app.router.add_post("/v1/projects/{project}/registrations/{token}/topicSubscriptions", self._subscribe)
        app.router.add_delete("/v1/projects/{project}/registrations/{token}/topicSubscriptions/{topic}",
                              self._unsubscribe)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    @property
    def send_url(self) -> str:
        return self.base_url + "/v1/projects/{project_id}/messages:send"

    def write_credentials(self, directory: Path) -> Path:
        """A service-account file like the Firebase console's, but its token_uri is this server."""
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
        path = directory / "fcm-service-account.json"
        path.write_text(json.dumps({
            "type": "service_account", "project_id": PROJECT_ID, "private_key_id": "test-key-1",
            "private_key": pem, "client_email": CLIENT_EMAIL,
            "client_id": "1234567890", "token_uri": self.base_url + "/token",
            "auth_uri": self.base_url + "/auth",
        }))
        return path

    # --- endpoints ---------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            # google-auth always addresses the assertion to Google's token endpoint, whatever token_uri is.
            claims = jwt.decode(str(form.get("assertion")), self._key.public_key(), algorithms=["RS256"],
                                audience="https://oauth2.googleapis.com/token", issuer=CLIENT_EMAIL)
        except jwt.PyJWTError as exc:
            return web.json_response({"error": "invalid_grant", "error_description": str(exc)}, status=400)
        if "https://www.googleapis.com/auth/firebase" not in claims.get("scope", "").split():
            return web.json_response({"error": "invalid_scope"}, status=400)
        self.token_requests += 1
        return web.json_response({"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"})

    async def _send(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return google_error(401, "Request had invalid authentication credentials.")
        if request.match_info["project"] != PROJECT_ID:
            return google_error(404, "Project not found.")
        body = await request.json()
        message = body.get("message") or {}
        token = message.get("token") or ("/topics/" + message["topic"] if message.get("topic") else "")
        self.attempts[token] += 1
        if token in self._unregistered:
            return google_error(404, "Requested entity was not found.", "UNREGISTERED")
        script = self._scripts.get(token)
        if script:
            status = script.popleft()
            return google_error(status, "The service is currently unavailable.",
                                "UNAVAILABLE" if status == 503 else "INTERNAL")
        if not isinstance(message.get("data", {}), dict) or any(
                not isinstance(v, str) for v in message.get("data", {}).values()):
            return google_error(400, "Invalid JSON payload: data values must be strings.", "INVALID_ARGUMENT")
        self.received.append(message)
        return web.json_response({"name": f"projects/{PROJECT_ID}/messages/{next(self._ids)}"})

    def _topic_refusal(self, request: web.Request, token: str) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return google_error(401, "Request had invalid authentication credentials.")
        if request.match_info["project"] != PROJECT_ID:
            return google_error(404, "Project not found.")
        self.topic_calls[token] += 1
        script = self._topic_scripts.get(token)
        if script:
            status = script.popleft()
            return google_error(status, "The service is currently unavailable.",
                                "UNAVAILABLE" if status == 503 else "INTERNAL")
        return None

    async def _subscribe(self, request: web.Request) -> web.Response:
        token, topic = request.match_info["token"], request.query.get("topic_name", "")
        refusal = self._topic_refusal(request, token)
        if refusal is not None:
            return refusal
        if not topic:
            return google_error(400, "topic_name is required.")
        if token in self._unregistered:
            return google_error(404, "Requested entity was not found.", "UNREGISTERED")
        self.subscriptions[topic].add(token)
        return web.json_response({})

    async def _unsubscribe(self, request: web.Request) -> web.Response:
        token, topic = request.match_info["token"], request.match_info["topic"]
        refusal = self._topic_refusal(request, token)
        if refusal is not None:
            return refusal
        if token not in self.subscriptions[topic] and request.query.get("allow_missing") != "true":
            return google_error(404, "Requested entity was not found.")
        self.subscriptions[topic].discard(token)
        return web.json_response({})
