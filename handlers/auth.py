"""Auth: OTP, doctor and admin login, refresh, logout (use cases in services.auth)."""
from __future__ import annotations

import functools

from aiohttp import web

from domain import otp as otp_rules
from domain.roles import Role
from gateway import auth, keys, login_throttle, ratelimit
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from gateway.openapi_doc import AUTH, doc
from gateway.tx import services
from schemas.auth import (
    TOKEN_PAIR_EXAMPLE,
    AdminLoginIn,
    AdminOut,
    DoctorLoginIn,
    RefreshIn,
    RequestOtpIn,
    TokenPairOut,
    VerifyOtpIn,
    admin_out,
    normalize_phone,
    token_pair_out,
)
from schemas.common import parse_body
from schemas.out import NoticeOut
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
@doc("Send a login code to a phone (patients)", tag=AUTH, body=RequestOtpIn, responses={202: NoticeOut},
     errors=(429,), description="E.164 phone (422 otherwise). A 6-digit code, valid 5 minutes, by SMS; rate "
     "limited per phone and per client IP (429 + Retry-After); SMS provider down: 503.",
     request_example={"phone": "+918090839108", "platform": "android"},
     examples={202: {"message": "OTP sent if phone is valid"}})
async def request_otp(request: web.Request) -> web.Response:
    app, settings = request.app, request.app[keys.SETTINGS]
    body = await parse_body(request, RequestOtpIn)
    phone = body["phone"]
    if _test_code(request, phone) is not None:
        return json_response(OTP_SENT, status=202)  # fixed code: nothing to send, nothing to store
    exact = await ratelimit.enforce(app, [
        ratelimit.Limit("otp-ip", client_ip(request), settings.otp_rate_per_ip, settings.otp_rate_window),
        ratelimit.Limit("otp-phone", phone, settings.otp_rate_per_phone, settings.otp_rate_window),
    ], detail="Too many OTP requests; try again later")
    # Counted in process only (Redis down): also space the phone's codes in the database, on every process.
    spacing = None if exact else settings.otp_rate_window / max(1, settings.otp_rate_per_phone)
    await use_cases.request_otp(services(app), app[keys.SMS], phone, platform=body["platform"], min_interval=spacing)
    return json_response(OTP_SENT, status=202)


@routes.post("/auth/verify-otp")
@doc("Log in with the code (creates the patient on first login)", tag=AUTH, body=VerifyOtpIn,
     responses={200: TokenPairOut}, errors=(401, 429),
     description="Wrong or expired code: 401 INVALID_OTP; after 5 wrong tries the code is burnt (429 "
     "OTP_LOCKED). `name` sets full_name on the first login.",
     request_example={"phone": "+918090839108", "code": "743424", "name": "Rahul Sharma"}, examples={200: TOKEN_PAIR_EXAMPLE})
async def verify_otp(request: web.Request) -> web.Response:
    body = await parse_body(request, VerifyOtpIn)
    pair = await use_cases.verify_otp(services(request.app), body["phone"], body["code"], name=body["name"] or None,
                                      test_code=_test_code(request, body["phone"]))
    return json_response(token_pair_out(pair))


@routes.post("/auth/doctor/login")
@doc("Doctor login (email and password)", tag=AUTH, body=DoctorLoginIn, responses={200: TokenPairOut},
     errors=(401, 429), description="401 INVALID_CREDENTIALS for an unknown email and a wrong password alike; "
     "throttled per account and per IP (429 LOGIN_LOCKED + Retry-After).",
     request_example={"email": "dr.smith@allign.in", "password": "s3cur3P@ss"}, examples={200: TOKEN_PAIR_EXAMPLE})
async def doctor_login(request: web.Request) -> web.Response:
    body = await parse_body(request, DoctorLoginIn)
    async with login_throttle.guard(request.app, "doctor", body["email"], client_ip(request)):
        pair = await use_cases.doctor_login(services(request.app), body["email"], body["password"])
    return json_response(token_pair_out(pair))


@routes.post("/admin/auth/login")
@doc("Admin login (username or email, and password)", tag=AUTH, body=AdminLoginIn,
     responses={200: TokenPairOut}, errors=(401, 429), description="Throttled like the doctor login.",
     request_example={"username": "admin", "password": "s3cur3P@ss"}, examples={200: TOKEN_PAIR_EXAMPLE})
async def admin_login(request: web.Request) -> web.Response:
    body = await parse_body(request, AdminLoginIn)
    async with login_throttle.guard(request.app, "admin", body["username"], client_ip(request)):
        pair = await use_cases.admin_login(services(request.app), body["username"], body["password"])
    return json_response(token_pair_out(pair))


@routes.get("/admin/auth/me")
@doc("The admin's own profile", tag=AUTH, responses={200: AdminOut}, errors=(404,))
@requires(Role.ADMIN)
async def admin_me(request: web.Request) -> web.Response:
    admin = await use_cases.admin_profile(services(request.app), principal(request).id)
    return json_response(admin_out(admin))


@routes.post("/auth/refresh")
@doc("Exchange a refresh token for a new pair", tag=AUTH, body=RefreshIn, responses={200: TokenPairOut},
     errors=(401,), description="The old refresh token is revoked; presenting it again revokes its whole "
     "login (reuse detection): 401 TOKEN_REVOKED.",
     request_example={"refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl"},
     examples={200: TOKEN_PAIR_EXAMPLE})
async def refresh(request: web.Request) -> web.Response:
    app = request.app
    body = await parse_body(request, RefreshIn)
    pair = await use_cases.refresh(services(app), body["refresh_token"], revoked=functools.partial(auth.sync, app))
    return json_response(token_pair_out(pair))


@routes.post("/auth/logout")
@doc("Log out (this token and its whole login)", tag=AUTH, responses={200: NoticeOut},
     description="No body. Revokes the refresh family and the access token.", examples={200: {"message": "Logged out"}})
@requires()
async def logout(request: web.Request) -> web.Response:
    """This access token and its whole login (refresh tokens, the login's other access tokens), on
    every process within gateway.auth.STALENESS_BOUND, on this one before the answer."""
    app = request.app
    await use_cases.logout(services(app), principal(request).claims)
    await auth.sync(app)
    return json_response({"message": "Logged out"})
