"""SMS delivery of OTP codes: a local provider that logs, an HTTP gateway provider.

The local provider is the one place in the code base where an OTP code is written to a log.
"""
from __future__ import annotations

import logging
from typing import Protocol

import aiohttp

from config import Settings

log = logging.getLogger(__name__)
SEND_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)


class SmsError(Exception):
    """The provider did not accept the message; the caller answers 503."""


def mask_phone(phone: str) -> str:
    """+918090839108 → +91******9108: enough to tell numbers apart in a log, not to dial one."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def otp_message(code: str, ttl_seconds: int) -> str:
    minutes = max(1, ttl_seconds // 60)
    return f"{code} is your Allign verification code. It expires in {minutes} minutes. Do not share it."


class SmsProvider(Protocol):
    async def send_otp(self, phone: str, code: str, *, platform: str | None) -> None: ...

    async def close(self) -> None: ...


class LocalSmsProvider:
    """Development: the code goes to the server log instead of a phone."""

    async def send_otp(self, phone: str, code: str, *, platform: str | None) -> None:
        log.warning("local SMS provider: OTP for %s is %s", mask_phone(phone), code)

    async def close(self) -> None:
        return None


class HttpSmsProvider:
    """A JSON-over-HTTP SMS gateway: POST {to, sender, message, platform} with a bearer token."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession | None = None) -> None:
        self._url = settings.sms_http_url
        self._token = settings.sms_http_token
        self._senders = {"android": settings.sms_sender_android, "ios": settings.sms_sender_ios}
        self._ttl = settings.otp_ttl
        self._session = session or aiohttp.ClientSession(timeout=SEND_TIMEOUT)

    def sender_for(self, platform: str | None) -> str:
        return self._senders.get(platform or "android", self._senders["android"])

    async def send_otp(self, phone: str, code: str, *, platform: str | None) -> None:
        body = {"to": phone, "sender": self.sender_for(platform), "message": otp_message(code, self._ttl),
                "platform": platform}
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            async with self._session.post(self._url, json=body, headers=headers) as resp:
                if resp.status >= 300:
                    raise SmsError(f"SMS gateway answered {resp.status}")
                await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SmsError(f"SMS gateway unreachable: {type(exc).__name__}") from None

    async def close(self) -> None:
        await self._session.close()


class UnavailableSmsProvider:
    """A misconfigured gateway: the server still starts (test numbers keep working), sends answer 503."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def send_otp(self, phone: str, code: str, *, platform: str | None) -> None:
        raise SmsError(self.reason)

    async def close(self) -> None:
        return None


def create_sms_provider(settings: Settings) -> SmsProvider:
    if settings.sms_provider == "local":
        if settings.is_production:
            log.warning("SMS_PROVIDER=local in production: OTP codes go to the log, not to phones")
        return LocalSmsProvider()
    if settings.sms_provider == "http" and settings.sms_http_url:
        return HttpSmsProvider(settings)
    reason = ("SMS_HTTP_URL is not set" if settings.sms_provider == "http"
              else f"SMS_PROVIDER must be local or http, not {settings.sms_provider!r}")
    log.error("SMS disabled: %s; request-otp will answer 503", reason)
    return UnavailableSmsProvider(reason)
