"""A small SMS gateway on 127.0.0.1 speaking the JSON protocol HttpSmsProvider sends; records every message."""
from __future__ import annotations

import itertools
import re

import pytest
from aiohttp import web

_phones = itertools.count(10000)


def new_phone() -> str:
    """A valid Indian mobile number in E.164, unique within the run."""
    return f"+9198765{next(_phones) % 100000:05d}"


class SmsGateway:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.fail_status: int | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.messages.append({"authorization": request.headers.get("Authorization"), **(await request.json())})
        if self.fail_status:
            return web.json_response({"error": "gateway down"}, status=self.fail_status)
        return web.json_response({"status": "queued"}, status=202)

    def codes_for(self, phone: str) -> list[str]:
        return [re.search(r"\b(\d{6})\b", m["message"]).group(1) for m in self.messages if m["to"] == phone]

    def last_code(self, phone: str) -> str:
        codes = self.codes_for(phone)
        assert codes, f"no SMS was sent to {phone}"
        return codes[-1]


@pytest.fixture
async def sms_gateway(aiohttp_server) -> SmsGateway:
    gateway = SmsGateway()
    app = web.Application()
    app.router.add_post("/v1/sms", gateway.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    gateway.url = str(server.make_url("/v1/sms"))
    return gateway


@pytest.fixture
async def otp_client(make_client, sms_gateway):
    """make_client wired to the local SMS gateway: otp_client(clock=..., **overrides)."""

    async def make(clock=None, **overrides):
        return await make_client(clock=clock, **{"sms_provider": "http", "sms_http_url": sms_gateway.url,
                                                 "sms_http_token": "gw-token", **overrides})

    return make
