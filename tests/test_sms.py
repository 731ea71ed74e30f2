"""SMS providers: the HTTP gateway provider against a local gateway, the local provider, configuration."""
from __future__ import annotations

import asyncio
import dataclasses
import logging

import aiohttp
import pytest
from aiohttp import web

from config import load_settings
from integrations.sms import (HttpSmsProvider, LocalSmsProvider, SmsError, UnavailableSmsProvider,
                              create_sms_provider, mask_phone)
from tests.sms_gateway import sms_gateway  # noqa: F401  (fixture)


def _settings(**overrides):
    return dataclasses.replace(load_settings({"ALLIGN_ENV": "test"}), **overrides)


async def test_http_provider_posts_json_with_sender_by_platform(sms_gateway):
    settings = _settings(sms_provider="http", sms_http_url=sms_gateway.url, sms_http_token="tok-1",
                         sms_sender_android="ALGNAN", sms_sender_ios="ALGNIO")
    provider = create_sms_provider(settings)
    assert isinstance(provider, HttpSmsProvider)
    try:
        await provider.send_otp("+918090839108", "042917", platform="android")
        await provider.send_otp("+918090839108", "555111", platform="ios")
        await provider.send_otp("+918090839108", "777888", platform=None)
    finally:
        await provider.close()
    android, ios, default = sms_gateway.messages
    assert android["to"] == "+918090839108" and android["authorization"] == "Bearer tok-1"
    assert "042917" in android["message"] and "5 minutes" in android["message"]
    assert (android["sender"], ios["sender"], default["sender"]) == ("ALGNAN", "ALGNIO", "ALGNAN")


@pytest.mark.parametrize("status", [400, 500, 503])
async def test_http_provider_raises_on_gateway_error(sms_gateway, status):
    sms_gateway.fail_status = status
    provider = HttpSmsProvider(_settings(sms_provider="http", sms_http_url=sms_gateway.url))
    try:
        with pytest.raises(SmsError, match=str(status)):
            await provider.send_otp("+918090839108", "123123", platform=None)
    finally:
        await provider.close()
    assert len(sms_gateway.messages) == 1


async def test_http_provider_raises_when_unreachable_or_slow(aiohttp_server):
    provider = HttpSmsProvider(_settings(sms_http_url="http://127.0.0.1:1/sms"))
    try:
        with pytest.raises(SmsError):
            await provider.send_otp("+918090839108", "123123", platform=None)
    finally:
        await provider.close()

    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/sms", hang)
    server = await aiohttp_server(app, host="127.0.0.1")
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2))
    provider = HttpSmsProvider(_settings(sms_http_url=str(server.make_url("/sms"))), session=session)
    try:
        with pytest.raises(SmsError, match="TimeoutError"):
            await provider.send_otp("+918090839108", "123123", platform=None)
    finally:
        await provider.close()
        never.set()


async def test_local_provider_logs_the_code_with_a_masked_phone(caplog):
    with caplog.at_level(logging.INFO, logger="integrations.sms"):
        await LocalSmsProvider().send_otp("+918090839108", "314159", platform="ios")
    [record] = caplog.records
    assert "314159" in record.getMessage() and "+91******9108" in record.getMessage()
    assert "8090839108" not in record.getMessage()


async def test_misconfigured_gateway_fails_sends_but_not_startup():
    provider = create_sms_provider(_settings(sms_provider="http", sms_http_url=""))
    assert isinstance(provider, UnavailableSmsProvider)
    with pytest.raises(SmsError):
        await provider.send_otp("+918090839108", "123123", platform=None)
    assert isinstance(create_sms_provider(_settings(sms_provider="pigeon")), UnavailableSmsProvider)
    assert isinstance(create_sms_provider(_settings(sms_provider="local")), LocalSmsProvider)


def test_mask_phone():
    assert mask_phone("+918090839108") == "+91******9108"
    assert mask_phone("+14155552671") == "+14*****2671"
    assert mask_phone("12345") == "*****"
