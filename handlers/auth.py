"""Auth: OTP, doctor and admin login, refresh, logout (use cases in services.auth)."""
from __future__ import annotations

import functools

from aiohttp import web

from domain import otp as otp_rules
from domain.roles import Role
from gateway import auth, keys, ratelimit
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.tx import services
from schemas.auth import (
    AdminLoginIn,
    DoctorLoginIn,
    RefreshIn,
    RequestOtpIn,
    VerifyOtpIn,
    admin_out,
    normalize_phone,
    token_pair_out,
)
from schemas.common import parse_body
from services import auth as use_cases

routes = web.RouteTableDef()

OTP_SENT = {"message": "OTP sent if phone is valid"}


def client_ip(request: web.Request) -> str:
    # The socket peer only: X-Forwarded-For is client-controlled unless a trusted proxy sets it.
    return request.remote or "unknown"


def _test_code(request: web.Request, phone: str) -> str | None:
    settings = request.app[keys.SETTINGS]
    return otp_rules.fixed_test_code(settings.otp_test_numbers, phone, normalize_phone,
                                     settings.otp_test_prefix, settings.otp_test_code)


@routes.post("/auth/request-otp")
async def request_otp(request: web.Request) -> web.Response:
    app, settings = request.app, request.app[keys.SETTINGS]
    body = await parse_body(request, RequestOtpIn)
    phone = body["phone"]
    if _test_code(request, phone) is not None:
        return json_response(OTP_SENT, status=202)  # fixed code: nothing to send, nothing to store
    await ratelimit.enforce(app, [
        ratelimit.Limit("otp-ip", client_ip(request), settings.otp_rate_per_ip, settings.otp_rate_window),
        ratelimit.Limit("otp-phone", phone, settings.otp_rate_per_phone, settings.otp_rate_window),
    ], detail="Too many OTP requests; try again later")
    await use_cases.request_otp(services(app), app[keys.SMS], phone, platform=body["platform"])
    return json_response(OTP_SENT, status=202)


@routes.post("/auth/verify-otp")
async def verify_otp(request: web.Request) -> web.Response:
    body = await parse_body(request, VerifyOtpIn)
    pair = await use_cases.verify_otp(services(request.app), body["phone"], body["code"], name=body["name"] or None,
                                      test_code=_test_code(request, body["phone"]))
    return json_response(token_pair_out(pair))


@routes.post("/auth/doctor/login")
async def doctor_login(request: web.Request) -> web.Response:
    body = await parse_body(request, DoctorLoginIn)
    pair = await use_cases.doctor_login(services(request.app), body["email"], body["password"])
    return json_response(token_pair_out(pair))


@routes.post("/admin/auth/login")
async def admin_login(request: web.Request) -> web.Response:
    body = await parse_body(request, AdminLoginIn)
    pair = await use_cases.admin_login(services(request.app), body["username"], body["password"])
    return json_response(token_pair_out(pair))


@routes.get("/admin/auth/me")
@requires(Role.ADMIN)
async def admin_me(request: web.Request) -> web.Response:
    admin = await use_cases.admin_profile(services(request.app), principal(request).id)
    return json_response(admin_out(admin))


@routes.post("/auth/refresh")
async def refresh(request: web.Request) -> web.Response:
    app = request.app
    body = await parse_body(request, RefreshIn)
    pair = await use_cases.refresh(services(app), body["refresh_token"], revoked=functools.partial(auth.sync, app))
    return json_response(token_pair_out(pair))


@routes.post("/auth/logout")
@requires()
async def logout(request: web.Request) -> web.Response:
    """This access token and its whole login (refresh tokens, the login's other access tokens), on
    every process within gateway.auth.STALENESS_BOUND, on this one before the answer."""
    app = request.app
    await use_cases.logout(services(app), principal(request).claims)
    await auth.sync(app)
    return json_response({"message": "Logged out"})
