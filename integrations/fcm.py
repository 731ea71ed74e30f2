"""Firebase Cloud Messaging through the real firebase-admin SDK (FCM HTTP v1, async client).

Two adjustments to the SDK's messaging service, both on its private attributes (firebase-admin 7.x;
checked at start so an SDK upgrade fails loudly instead of silently sending elsewhere):
- `FCM_SEND_URL` replaces the send URL (`_fcm_url`), so tests and staging can point the SDK at a
  local FCM-speaking server. `{project_id}` in it is filled in. The topic subscription endpoint
  (`_fcm_topic_url`, FCM v1 `.../registrations/{token}/topicSubscriptions`, which
  `subscribe_to_topic` uses since firebase-admin 7.x) moves with it: the same URL with
  `/registrations` in place of `/messages:send`.
- the SDK's own HTTP retries (up to 4 x 500/503 with sleeps inside one call) are switched off: the
  push worker retries with its own backoff and must not be stalled inside a send.
The OAuth access token is refreshed in a thread, because google-auth refreshes synchronously and
would otherwise block the event loop once an hour.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

import firebase_admin
import google.auth.transport.requests
from firebase_admin import _http_client, credentials, exceptions, messaging
from firebase_admin._retry import HttpxRetry

log = logging.getLogger(__name__)

SENT, UNREGISTERED, RETRY, FAILED = "sent", "unregistered", "retry", "failed"
_RETRYABLE_CODES = {exceptions.UNAVAILABLE, exceptions.INTERNAL, exceptions.RESOURCE_EXHAUSTED,
                    exceptions.DEADLINE_EXCEEDED, exceptions.UNKNOWN, exceptions.ABORTED}
_MAX_BATCH = 500  # send_each's limit
_MAX_TOPIC_BATCH = 1000  # subscribe_to_topic's limit
_SEND_SUFFIX = "/messages:send"
# Topic subscription errors (per token, as firebase-admin names them): the token is gone, or worth
# another try later.
_TOPIC_GONE = {"UNREGISTERED", "NOT_FOUND", "INVALID_ARGUMENT"}
_TOPIC_RETRY = {"UNAVAILABLE", "INTERNAL", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "UNKNOWN_ERROR",
                "UNAUTHENTICATED", "QUOTA_EXCEEDED"}


@dataclass(frozen=True)
class TokenResult:
    token: str
    outcome: str  # SENT | UNREGISTERED | RETRY | FAILED
    error: str | None = None


def classify(error: Exception) -> str:
    """What a per-token FCM error means for the token and the notification."""
    if isinstance(error, (messaging.UnregisteredError, messaging.SenderIdMismatchError)):
        return UNREGISTERED
    code = getattr(error, "code", None)
    if code == exceptions.NOT_FOUND:
        return UNREGISTERED
    if code == exceptions.INVALID_ARGUMENT and "registration token" in str(error).lower():
        return UNREGISTERED
    if isinstance(error, messaging.QuotaExceededError) or code in _RETRYABLE_CODES:
        return RETRY
    response = getattr(error, "http_response", None)
    status = getattr(response, "status_code", None)
    if status is not None and (status >= 500 or status == 429):
        return RETRY
    return FAILED


def _error_text(error: Exception) -> str:
    return f"{getattr(error, 'code', type(error).__name__)}: {error}"[:300]


class FcmClient:
    def __init__(self, credentials_file: str, *, send_url: str = "", timeout: float = 10.0) -> None:
        credential = credentials.Certificate(credentials_file)
        self.project_id = credential.project_id
        self._app = firebase_admin.initialize_app(
            credential, {"projectId": self.project_id, "httpTimeout": timeout},
            name=f"allign-push-{uuid.uuid4().hex}")
        self._service = messaging._get_messaging_service(self._app)
        for attribute in ("_fcm_url", "_fcm_topic_url", "_async_client", "_credential"):
            if not hasattr(self._service, attribute):
                raise RuntimeError(f"firebase_admin messaging has no {attribute}; check integrations/fcm.py")
        if send_url:
            self._service._fcm_url = send_url.replace("{project_id}", self.project_id)
            if not self._service._fcm_url.endswith(_SEND_SUFFIX):
                raise RuntimeError(f"FCM_SEND_URL must end with {_SEND_SUFFIX}")
            self._service._fcm_topic_url = self._service._fcm_url[:-len(_SEND_SUFFIX)] + "/registrations"
        self._credential = self._service._credential
        self._service._async_client = _http_client.HttpxAsyncClient(
            credential=self._credential, timeout=timeout, retry_config=HttpxRetry(max_retries=0))

    async def _ensure_access_token(self) -> None:
        if not self._credential.valid:
            request = google.auth.transport.requests.Request()
            await asyncio.get_running_loop().run_in_executor(None, self._credential.refresh, request)

    async def send(self, tokens: list[str], *, title: str, body: str, data: dict[str, str]) -> list[TokenResult]:
        """One message per token; a failure of the whole call is RETRY for every token."""
        try:
            await self._ensure_access_token()
        except Exception as exc:  # token endpoint unreachable or refusing: try again later
            log.warning("FCM access token refresh failed: %s", type(exc).__name__)
            return [TokenResult(t, RETRY, f"auth: {type(exc).__name__}") for t in tokens]
        results: list[TokenResult] = []
        for start in range(0, len(tokens), _MAX_BATCH):
            chunk = tokens[start:start + _MAX_BATCH]
            messages = [self._message(token, title, body, data) for token in chunk]
            try:
                batch = await messaging.send_each_async(messages, dry_run=False, app=self._app)
            except Exception as exc:
                results.extend(TokenResult(t, RETRY, _error_text(exc)) for t in chunk)
                continue
            for token, response in zip(chunk, batch.responses):
                if response.success:
                    results.append(TokenResult(token, SENT))
                else:
                    results.append(TokenResult(token, classify(response.exception),
                                               _error_text(response.exception)))
        return results

    async def send_topic(self, topic: str, *, title: str, body: str, data: dict[str, str]) -> TokenResult:
        """One message to every device subscribed to `topic` (FCM fans it out)."""
        target = f"/topics/{topic}"
        try:
            await self._ensure_access_token()
        except Exception as exc:
            log.warning("FCM access token refresh failed: %s", type(exc).__name__)
            return TokenResult(target, RETRY, f"auth: {type(exc).__name__}")
        try:
            batch = await messaging.send_each_async([self._message(None, title, body, data, topic=topic)],
                                                    dry_run=False, app=self._app)
        except Exception as exc:
            return TokenResult(target, RETRY, _error_text(exc))
        [response] = batch.responses
        if response.success:
            return TokenResult(target, SENT)
        outcome = classify(response.exception)
        # A topic is never "unregistered": a 404 there is not about a device.
        return TokenResult(target, FAILED if outcome == UNREGISTERED else outcome, _error_text(response.exception))

    async def set_topic(self, tokens: list[str], topic: str, *, subscribed: bool) -> list[TokenResult]:
        """Subscribe (or unsubscribe) each token to `topic`: SENT when FCM now has it so,
        UNREGISTERED for a token FCM does not know (nothing to unsubscribe then: SENT), RETRY or
        FAILED otherwise. A failure of the whole call is RETRY for every token."""
        try:
            await self._ensure_access_token()
        except Exception as exc:
            log.warning("FCM access token refresh failed: %s", type(exc).__name__)
            return [TokenResult(t, RETRY, f"auth: {type(exc).__name__}") for t in tokens]
        call = messaging.subscribe_to_topic_async if subscribed else messaging.unsubscribe_from_topic_async
        results: list[TokenResult] = []
        for start in range(0, len(tokens), _MAX_TOPIC_BATCH):
            chunk = tokens[start:start + _MAX_TOPIC_BATCH]
            try:
                response = await call(chunk, topic, app=self._app)
            except Exception as exc:
                results.extend(TokenResult(t, RETRY, _error_text(exc)) for t in chunk)
                continue
            errors = {error.index: str(error.reason) for error in response.errors}
            for index, token in enumerate(chunk):
                reason = errors.get(index)
                if reason is None or (reason in _TOPIC_GONE and not subscribed):
                    results.append(TokenResult(token, SENT))
                elif reason in _TOPIC_GONE:
                    results.append(TokenResult(token, UNREGISTERED, f"topic: {reason}"))
                else:
                    results.append(TokenResult(token, RETRY if reason in _TOPIC_RETRY else FAILED, f"topic: {reason}"))
        return results

    @staticmethod
    def _message(token: str | None, title: str, body: str, data: dict[str, str],
                 topic: str | None = None) -> messaging.Message:
        return messaging.Message(
            token=token,
            topic=topic,
            notification=messaging.Notification(title=title, body=body),
            data=data,
            android=messaging.AndroidConfig(priority="high"),
            apns=messaging.APNSConfig(headers={"apns-priority": "10"},
                                      payload=messaging.APNSPayload(aps=messaging.Aps(sound="default"))),
        )

    async def aclose(self) -> None:
        await self._service._async_client.aclose()
        # delete_app closes the service with asyncio.run(), which needs a thread without a running loop.
        await asyncio.get_running_loop().run_in_executor(None, firebase_admin.delete_app, self._app)
