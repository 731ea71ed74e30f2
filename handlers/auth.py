"""Auth: OTP, doctor and admin login, refresh, logout."""
from __future__ import annotations

import logging

from aiohttp import web

from domain import otp as otp_rules
from domain.errors import NotFound, ServiceUnavailable, TooManyRequests, Unauthorized
from domain import tokens
from gateway import auth, keys, ratelimit
from gateway.auth import principal, requires
from gateway.jsonutil import json_response
from common.passwords import verify_password
from gateway.tx import transaction
from integrations.sms import SmsError, mask_phone
from schemas.auth import (AdminLoginIn, DoctorLoginIn, RefreshIn, RequestOtpIn, VerifyOtpIn, admin_out,
                          normalize_phone)
from schemas.common import parse_body
from storage import credentials, otp, users
from storage.auth_tokens import RefreshFailure, issue_token_pair, revoke_access_token, rotate_refresh_token

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

OTP_SENT = {"message": "OTP sent if phone is valid"}
BAD_CREDENTIALS = "Incorrect email or password"
_REFRESH_CODES = {RefreshFailure.UNKNOWN: "INVALID_TOKEN", RefreshFailure.REUSED: "TOKEN_REVOKED",
                  RefreshFailure.INACTIVE: "ACCOUNT_INACTIVE"}


def client_ip(request: web.Request) -> str:
    # The socket peer only: X-Forwarded-For is client-controlled unless a trusted proxy sets it.
    return request.remote or "unknown"


def _test_code(request: web.Request, phone: str) -> str | None:
    return otp_rules.fixed_test_code(request.app[keys.SETTINGS].otp_test_numbers, phone, normalize_phone)


@routes.post("/auth/request-otp")
async def request_otp(request: web.Request) -> web.Response:
    app, settings = request.app, request.app[keys.SETTINGS]
    body = await parse_body(request, RequestOtpIn())
    phone = body["phone"]
    if _test_code(request, phone) is not None:
        return json_response(OTP_SENT, status=202)  # fixed code: nothing to send, nothing to store
    await ratelimit.enforce(app, [
        ratelimit.Limit("otp-ip", client_ip(request), settings.otp_rate_per_ip, settings.otp_rate_window),
        ratelimit.Limit("otp-phone", phone, settings.otp_rate_per_phone, settings.otp_rate_window),
    ], detail="Too many OTP requests; try again later")
    code = otp_rules.new_code()
    hashed = otp.code_hash(settings.jwt_secret, phone, code)
    async with transaction(app) as conn:
        await otp.save_code(conn, phone, hashed, now=app[keys.CLOCK].now(), ttl=settings.otp_ttl)
    try:
        await app[keys.SMS].send_otp(phone, code, platform=body["platform"])
    except SmsError as exc:
        log.error("OTP SMS to %s failed: %s", mask_phone(phone), exc)
        async with transaction(app) as conn:
            await otp.discard_code(conn, phone, hashed)  # never leave a code usable that was not delivered
        raise ServiceUnavailable("SMS could not be sent; try again shortly", code="SMS_UNAVAILABLE") from None
    log.info("OTP sent to %s", mask_phone(phone))
    return json_response(OTP_SENT, status=202)


@routes.post("/auth/verify-otp")
async def verify_otp(request: web.Request) -> web.Response:
    app, settings = request.app, request.app[keys.SETTINGS]
    body = await parse_body(request, VerifyOtpIn())
    phone, code, now = body["phone"], body["code"], app[keys.CLOCK].now()
    fixed = _test_code(request, phone)
    pair = user = None
    # Errors are raised after the block: a wrong try must commit its attempt count.
    async with transaction(app) as conn:
        if fixed is not None:
            outcome, retry_after = (otp.Outcome.ACCEPTED if otp_rules.codes_match(fixed, code)
                                    else otp.Outcome.INVALID), 0
        else:
            outcome, retry_after = await otp.consume_code(
                conn, phone, otp.code_hash(settings.jwt_secret, phone, code), now=now,
                max_attempts=settings.otp_max_attempts)
        if outcome is otp.Outcome.ACCEPTED:
            user, created = await users.login_user(conn, phone, body["name"] or None, now)
            if user["is_active"]:
                pair = await issue_token_pair(conn, settings, "client", user["id"], now)
                if created:
                    log.info("new patient %s registered from %s", user["id"], mask_phone(phone))
    if outcome is otp.Outcome.LOCKED:
        raise TooManyRequests("Too many wrong codes; request a new code", retry_after=retry_after,
                              code="OTP_LOCKED")
    if outcome is otp.Outcome.INVALID:
        raise Unauthorized("Invalid or expired code", code="INVALID_OTP")
    if pair is None:
        raise Unauthorized("Account inactive", code="ACCOUNT_INACTIVE")
    return json_response(pair.as_json())


async def _password_login(request: web.Request, role: str, account, password: str) -> web.Response:
    """Same answer, and the same argon2 cost, for an unknown login and a wrong password."""
    ok = await verify_password(account["password_hash"] if account else None, password)
    if not ok:
        raise Unauthorized(BAD_CREDENTIALS if role == "doctor" else "Incorrect username or password",
                           code="INVALID_CREDENTIALS")
    if not account["is_active"]:
        raise Unauthorized("Account inactive", code="ACCOUNT_INACTIVE")
    app = request.app
    async with transaction(app) as conn:
        pair = await issue_token_pair(conn, app[keys.SETTINGS], role, account["id"], app[keys.CLOCK].now())
    return json_response(pair.as_json())


@routes.post("/auth/doctor/login")
async def doctor_login(request: web.Request) -> web.Response:
    body = await parse_body(request, DoctorLoginIn())
    async with request.app[keys.DB].connect() as conn:
        doctor = await credentials.doctor_by_email(conn, body["email"])
    return await _password_login(request, "doctor", doctor, body["password"])


@routes.post("/admin/auth/login")
async def admin_login(request: web.Request) -> web.Response:
    body = await parse_body(request, AdminLoginIn())
    async with request.app[keys.DB].connect() as conn:
        admin = await credentials.admin_by_login(conn, body["username"])
    return await _password_login(request, "admin", admin, body["password"])


@routes.get("/admin/auth/me")
@requires("admin")
async def admin_me(request: web.Request) -> web.Response:
    async with request.app[keys.DB].connect() as conn:
        admin = await credentials.admin_profile(conn, principal(request).id)
    if admin is None:
        raise NotFound("Admin not found")
    return json_response(admin_out(admin))


@routes.post("/auth/refresh")
async def refresh(request: web.Request) -> web.Response:
    app, settings = request.app, request.app[keys.SETTINGS]
    body = await parse_body(request, RefreshIn())
    now = app[keys.CLOCK].now()
    claims = tokens.decode(settings.jwt_secret, body["refresh_token"], expected_type="refresh", now=now)
    # Failures come back as values so a family revocation commits before the 401.
    async with transaction(app) as conn:
        result = await rotate_refresh_token(conn, settings, claims, body["refresh_token"], now)
    if isinstance(result, RefreshFailure):
        if result is RefreshFailure.REUSED:
            await auth.sync(app)  # the family's access tokens die here before the client hears of it
        raise Unauthorized(result.value, code=_REFRESH_CODES[result])
    return json_response(result.as_json())


@routes.post("/auth/logout")
@requires()
async def logout(request: web.Request) -> web.Response:
    """This access token and its whole login (refresh tokens, the login's other access tokens), on
    every process within gateway.auth.STALENESS_BOUND, on this one before the answer."""
    app, who = request.app, principal(request)
    async with transaction(app) as conn:
        await revoke_access_token(conn, who.claims, app[keys.CLOCK].now(),
                                  access_ttl=app[keys.SETTINGS].access_token_ttl)
    await auth.sync(app)
    return json_response({"message": "Logged out"})
