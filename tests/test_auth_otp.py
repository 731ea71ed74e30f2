"""Patient OTP login: request-otp, verify-otp, rate limits, lockout, expiry, test numbers, SMS failure."""
from __future__ import annotations

import asyncio
import logging

import jwt
import sqlalchemy as sa

from storage.tables import otp_codes, refresh_tokens, users
from tests.sms_gateway import new_phone, otp_client, sms_gateway  # noqa: F401  (fixtures)

REQUEST = "/api/v2/auth/request-otp"
VERIFY = "/api/v2/auth/verify-otp"
TEST_PHONE, TEST_CODE = "+919999999999", "123456"


async def _rows(db, table, *where):
    async with db.connect() as conn:
        return (await conn.execute(sa.select(table).where(*where))).mappings().all()


async def test_otp_login_creates_the_user_and_returns_a_token_pair(otp_client, sms_gateway, db, settings):
    client = await otp_client()
    phone = new_phone()
    resp = await client.post(REQUEST, json={"phone": phone, "platform": "ios"})
    assert resp.status == 202
    assert await resp.json() == {"message": "OTP sent if phone is valid"}
    [sms] = sms_gateway.messages
    assert sms["to"] == phone and sms["sender"] == settings.sms_sender_ios and sms["platform"] == "ios"
    assert sms["authorization"] == "Bearer gw-token"
    code = sms_gateway.last_code(phone)
    [stored] = await _rows(db, otp_codes, otp_codes.c.phone == phone)
    assert code not in stored["code_hash"] and len(stored["code_hash"]) == 64 and stored["attempts"] == 0

    resp = await client.post(VERIFY, json={"phone": phone, "code": code, "name": "  Rahul Sharma "})
    assert resp.status == 200
    pair = await resp.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type"} and pair["token_type"] == "bearer"
    claims = jwt.decode(pair["access_token"], settings.jwt_secret, algorithms=["HS256"])
    assert claims["role"] == "client" and claims["type"] == "access"
    assert claims["exp"] - claims["iat"] == 30 * 60
    refresh = jwt.decode(pair["refresh_token"], settings.jwt_secret, algorithms=["HS256"])
    assert refresh["type"] == "refresh" and refresh["exp"] - refresh["iat"] == 30 * 24 * 3600
    [user] = await _rows(db, users, users.c.phone == phone)
    assert str(user["id"]) == claims["sub"] and user["full_name"] == "Rahul Sharma"
    assert await _rows(db, otp_codes) == []
    assert len(await _rows(db, refresh_tokens, refresh_tokens.c.subject_id == user["id"])) == 1

    me = await client.get("/api/v2/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status == 200 and (await me.json())["phone"] == phone


async def test_second_login_keeps_the_user_and_its_name(otp_client, sms_gateway, db):
    client = await otp_client()
    phone = new_phone()
    for name in ("First Name", "Other Name"):
        assert (await client.post(REQUEST, json={"phone": phone})).status == 202
        resp = await client.post(VERIFY, json={"phone": phone, "code": sms_gateway.last_code(phone), "name": name})
        assert resp.status == 200
    [user] = await _rows(db, users, users.c.phone == phone)
    assert user["full_name"] == "First Name"
    assert sms_gateway.messages[0]["sender"] == "ALLIGN"  # no platform: the Android sender id


async def test_phone_is_normalised_to_e164(otp_client, sms_gateway, db):
    client = await otp_client()
    assert (await client.post(REQUEST, json={"phone": "+91 80908 39108"})).status == 202
    code = sms_gateway.last_code("+918090839108")
    resp = await client.post(VERIFY, json={"phone": "+918090839108", "code": code})
    assert resp.status == 200
    assert [u["phone"] for u in await _rows(db, users)] == ["+918090839108"]


async def test_request_otp_validation(otp_client, sms_gateway):
    client = await otp_client()
    cases = [({}, "phone"), ({"phone": ""}, "phone"), ({"phone": "8090839108"}, "phone"),
             ({"phone": "+91123"}, "phone"), ({"phone": "+9180908391089999"}, "phone"), ({"phone": 918090839108}, "phone"),
             ({"phone": "not a phone"}, "phone"), ({"phone": new_phone(), "platform": "windows"}, "platform")]
    for body, field in cases:
        resp = await client.post(REQUEST, json=body)
        assert resp.status == 422, body
        payload = await resp.json()
        assert payload["code"] == "VALIDATION_ERROR" and payload["detail"][0]["loc"] == ["body", field], body
    resp = await client.post(REQUEST, data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 422
    assert sms_gateway.messages == []


async def test_verify_otp_validation(otp_client):
    client = await otp_client()
    for body, field in [({"code": "123456"}, "phone"), ({"phone": "12345", "code": "123456"}, "phone"),
                        ({"phone": TEST_PHONE}, "code"), ({"phone": TEST_PHONE, "code": "12345"}, "code"),
                        ({"phone": TEST_PHONE, "code": "12a456"}, "code"),
                        ({"phone": TEST_PHONE, "code": "123456", "name": "x" * 101}, "name")]:
        resp = await client.post(VERIFY, json=body)
        assert resp.status == 422, body
        assert (await resp.json())["detail"][0]["loc"] == ["body", field], body


async def test_wrong_or_unrequested_code_is_invalid_otp(otp_client, sms_gateway):
    client = await otp_client()
    phone = new_phone()
    resp = await client.post(VERIFY, json={"phone": phone, "code": "123456"})
    assert resp.status == 401
    assert (await resp.json())["code"] == "INVALID_OTP" and resp.headers["WWW-Authenticate"] == "Bearer"
    await client.post(REQUEST, json={"phone": phone})
    code = sms_gateway.last_code(phone)
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    resp = await client.post(VERIFY, json={"phone": phone, "code": wrong})
    assert resp.status == 401 and (await resp.json())["code"] == "INVALID_OTP"
    assert (await client.post(VERIFY, json={"phone": phone, "code": code})).status == 200


async def test_a_code_works_once(otp_client, sms_gateway):
    client = await otp_client()
    phone = new_phone()
    await client.post(REQUEST, json={"phone": phone})
    code = sms_gateway.last_code(phone)
    assert (await client.post(VERIFY, json={"phone": phone, "code": code})).status == 200
    resp = await client.post(VERIFY, json={"phone": phone, "code": code})
    assert resp.status == 401 and (await resp.json())["code"] == "INVALID_OTP"


async def test_a_new_request_replaces_the_previous_code(otp_client, sms_gateway):
    client = await otp_client()
    phone = new_phone()
    await client.post(REQUEST, json={"phone": phone})
    await client.post(REQUEST, json={"phone": phone})
    first, second = sms_gateway.codes_for(phone)
    if first != second:
        assert (await client.post(VERIFY, json={"phone": phone, "code": first})).status == 401
    assert (await client.post(VERIFY, json={"phone": phone, "code": second})).status == 200


async def test_code_expires_after_five_minutes(otp_client, sms_gateway, frozen_clock):
    client = await otp_client(clock=frozen_clock)
    early, late = new_phone(), new_phone()
    await client.post(REQUEST, json={"phone": early})
    await client.post(REQUEST, json={"phone": late})
    frozen_clock.advance(299)
    assert (await client.post(VERIFY, json={"phone": early, "code": sms_gateway.last_code(early)})).status == 200
    frozen_clock.advance(2)
    resp = await client.post(VERIFY, json={"phone": late, "code": sms_gateway.last_code(late)})
    assert resp.status == 401 and (await resp.json())["code"] == "INVALID_OTP"


async def test_five_wrong_tries_burn_the_code(otp_client, sms_gateway, db):
    client = await otp_client()
    phone = new_phone()
    await client.post(REQUEST, json={"phone": phone})
    code = sms_gateway.last_code(phone)
    wrong = f"{(int(code) + 7) % 1000000:06d}"
    for _ in range(5):
        resp = await client.post(VERIFY, json={"phone": phone, "code": wrong})
        assert resp.status == 401 and (await resp.json())["code"] == "INVALID_OTP"
    resp = await client.post(VERIFY, json={"phone": phone, "code": code})
    assert resp.status == 429
    assert (await resp.json())["code"] == "OTP_LOCKED"
    assert 1 <= int(resp.headers["Retry-After"]) <= 300
    assert await _rows(db, users) == []
    # A fresh code starts over.
    await client.post(REQUEST, json={"phone": phone})
    assert (await client.post(VERIFY, json={"phone": phone, "code": sms_gateway.last_code(phone)})).status == 200


async def test_concurrent_verify_of_one_code_lets_exactly_one_in(otp_client, sms_gateway, db):
    client = await otp_client()
    phone = new_phone()
    await client.post(REQUEST, json={"phone": phone})
    code = sms_gateway.last_code(phone)
    responses = await asyncio.gather(*(client.post(VERIFY, json={"phone": phone, "code": code}) for _ in range(6)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] + [401] * 5
    assert len(await _rows(db, users)) == 1
    assert len(await _rows(db, refresh_tokens)) == 1


async def test_rate_limit_per_phone(otp_client, sms_gateway, settings):
    client = await otp_client(otp_rate_per_phone=2)
    phone = new_phone()
    for _ in range(2):
        assert (await client.post(REQUEST, json={"phone": phone})).status == 202
    resp = await client.post(REQUEST, json={"phone": phone})
    assert resp.status == 429
    assert (await resp.json())["code"] == "RATE_LIMITED"
    assert 1 <= int(resp.headers["Retry-After"]) <= settings.otp_rate_window
    assert len(sms_gateway.codes_for(phone)) == 2
    assert (await client.post(REQUEST, json={"phone": new_phone()})).status == 202  # other phones unaffected


async def test_rate_limit_per_client_ip(otp_client, sms_gateway, settings):
    client = await otp_client(otp_rate_per_ip=3)
    for _ in range(3):
        assert (await client.post(REQUEST, json={"phone": new_phone()})).status == 202
    # A spoofed X-Forwarded-For does not buy a fresh budget.
    resp = await client.post(REQUEST, json={"phone": new_phone()}, headers={"X-Forwarded-For": "203.0.113.9"})
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= settings.otp_rate_window
    assert len(sms_gateway.messages) == 3


async def test_test_numbers_use_their_fixed_code_repeatedly(otp_client, sms_gateway, db):
    client = await otp_client(otp_rate_per_phone=1, otp_rate_per_ip=1)
    subjects = set()
    for _ in range(3):
        resp = await client.post(VERIFY, json={"phone": TEST_PHONE, "code": TEST_CODE})
        assert resp.status == 200
        pair = await resp.json()
        subjects.add(jwt.decode(pair["access_token"], options={"verify_signature": False})["sub"])
    assert len(subjects) == 1 and len(await _rows(db, users)) == 1
    assert (await client.post(REQUEST, json={"phone": "+919999999998"})).status == 202
    assert (await client.post(REQUEST, json={"phone": "+919999999998"})).status == 202
    assert (await client.post(VERIFY, json={"phone": "+919999999998", "code": "654321"})).status == 200
    assert sms_gateway.messages == [] and await _rows(db, otp_codes) == []
    resp = await client.post(VERIFY, json={"phone": TEST_PHONE, "code": "654321"})
    assert resp.status == 401 and (await resp.json())["code"] == "INVALID_OTP"
    # A fixed code belongs to its number only.
    assert (await client.post(VERIFY, json={"phone": new_phone(), "code": TEST_CODE})).status == 401


async def test_sms_gateway_failure_is_503_and_leaves_no_usable_code(otp_client, sms_gateway, db):
    client = await otp_client()
    phone = new_phone()
    sms_gateway.fail_status = 500
    resp = await client.post(REQUEST, json={"phone": phone})
    assert resp.status == 503
    assert (await resp.json())["code"] == "SMS_UNAVAILABLE"
    code = sms_gateway.last_code(phone)  # the gateway saw it, but reported failure
    assert await _rows(db, otp_codes) == []
    resp = await client.post(VERIFY, json={"phone": phone, "code": code})
    assert resp.status == 401 and (await resp.json())["code"] == "INVALID_OTP"


async def test_unreachable_sms_gateway_is_503(otp_client, db):
    client = await otp_client(sms_http_url="http://127.0.0.1:1/v1/sms")
    resp = await client.post(REQUEST, json={"phone": new_phone()})
    assert resp.status == 503
    assert await _rows(db, otp_codes) == []


async def test_deactivated_user_cannot_log_in(otp_client, db):
    client = await otp_client()
    async with db.begin() as conn:
        await conn.execute(sa.insert(users).values(phone=TEST_PHONE, is_active=False))
    resp = await client.post(VERIFY, json={"phone": TEST_PHONE, "code": TEST_CODE})
    assert resp.status == 401 and (await resp.json())["code"] == "ACCOUNT_INACTIVE"
    assert await _rows(db, refresh_tokens) == []


async def test_only_the_local_provider_logs_the_code_and_phones_are_masked(make_client, caplog):
    client = await make_client(sms_provider="local")
    phone = "+918090839108"
    with caplog.at_level(logging.DEBUG):
        assert (await client.post(REQUEST, json={"phone": phone})).status == 202
        [line] = [r for r in caplog.records if r.name == "integrations.sms"]
        code = line.getMessage().rsplit(" ", 1)[-1]
        assert len(code) == 6 and "+91******9108" in line.getMessage()
        assert (await client.post(VERIFY, json={"phone": phone, "code": code})).status == 200
    for record in caplog.records:
        assert phone not in record.getMessage()
        if record is not line:
            assert code not in record.getMessage()


async def test_a_user_without_a_name_takes_the_name_of_its_next_login(client, db):
    """Seeded demo patients exist before their first login; the first name they give is kept."""
    from tests.factories import make_user
    await make_user(db, phone="+919999999999", full_name=None)
    resp = await client.post(VERIFY, json={"phone": "+919999999999", "code": "123456", "name": "Asha Rao"})
    assert resp.status == 200
    [user] = await _rows(db, users, users.c.phone == "+919999999999")
    assert user["full_name"] == "Asha Rao"
