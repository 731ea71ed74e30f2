"""Public doctor discovery: search, lists, filters, sorting, detail, reviews, optional auth."""
from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from storage.tables import connect_sessions, favourites, reviews
from tests.factories import make_doctor, make_user

API = "/api/v2/doctors"


async def _fav(db, user_id, doctor_id):
    async with db.begin() as conn:
        await conn.execute(sa.insert(favourites).values(user_id=user_id, doctor_id=doctor_id))


async def _names(resp) -> list[str]:
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert isinstance(body, list)
    return [d["full_name"] for d in body]


# --- search -------------------------------------------------------------------------------

async def test_search_ranks_exact_before_fuzzy_and_tolerates_typos(client, db):
    await make_doctor(db, full_name="Dr. Ankita Rao", speciality_category="Dermatology", slug="dr-ankita-rao-derm",
                      rating=5.0)
    await make_doctor(db, full_name="Dr. Ankit Shah", speciality_category="Urology", slug="dr-ankit-shah-urology",
                      rating=3.0)
    await make_doctor(db, full_name="Dr. Meera Nair", speciality_category="Psychiatry", slug="dr-meera-nair")

    names = await _names(await client.get(f"{API}/search", params={"q": "ankit"}))
    assert names == ["Dr. Ankit Shah", "Dr. Ankita Rao"]  # whole word beats the longer word (despite rating)

    names = await _names(await client.get(f"{API}/search", params={"q": "ankt"}))
    assert "Dr. Ankit Shah" in names and "Dr. Meera Nair" not in names

    names = await _names(await client.get(f"{API}/search", params={"q": "meera nair"}))
    assert names == ["Dr. Meera Nair"]

    assert await _names(await client.get(f"{API}/search", params={"q": "qwxzv"})) == []


async def test_search_literal_match_comes_before_fuzzy_only_match(client, db):
    await make_doctor(db, full_name="Dr. Shaw Kapoor", slug="dr-shaw-kapoor")
    await make_doctor(db, full_name="Dr. Ravi Shah", slug="dr-ravi-shah")
    names = await _names(await client.get(f"{API}/search", params={"q": "shah"}))
    assert names[0] == "Dr. Ravi Shah"


async def test_search_matches_speciality_and_slug(client, db):
    await make_doctor(db, full_name="Dr. Ankit Shah", speciality_category="Urology", slug="dr-ankit-shah-urology")
    await make_doctor(db, full_name="Dr. Priya Menon", speciality_category="Dermatology", slug="dr-priya-menon")
    assert await _names(await client.get(f"{API}/search", params={"q": "urolgy"})) == ["Dr. Ankit Shah"]
    assert await _names(await client.get(f"{API}/search", params={"q": "dr-priya-menon"})) == ["Dr. Priya Menon"]


async def test_search_shape_only_active_and_paging(client, db):
    doctor = await make_doctor(db, full_name="Dr. Neha Gupta", slug="dr-neha-gupta", rating=4.8,
                               years_experience=12, rate_per_minute=500)
    await make_doctor(db, full_name="Dr. Neha Inactive", slug="dr-neha-inactive", is_active=False)
    resp = await client.get(f"{API}/search", params={"q": "neha"})
    body = await resp.json()
    assert [d["id"] for d in body] == [str(doctor["id"])]
    item = body[0]
    assert item["slug"] == "dr-neha-gupta" and item["rating"] == 4.8 and item["years_experience"] == 12
    assert item["rate_per_minute"] == 500 and item["presence_status"] == "ONLINE"
    assert item["is_favourite"] is False and item["avatar_url"].startswith("https://api.dicebear.com/")
    assert "email" not in item and "password_hash" not in item

    for i in range(12):
        await make_doctor(db, full_name=f"Dr. Kiran Das {i}", slug=f"dr-kiran-das-{i}")
    assert len(await _names(await client.get(f"{API}/search", params={"q": "kiran"}))) == 10  # default limit
    all_ids = [d["id"] for d in await (await client.get(f"{API}/search", params={"q": "kiran", "limit": 25})).json()]
    assert len(all_ids) == 12
    second = await (await client.get(f"{API}/search", params={"q": "kiran", "limit": 5, "offset": 5})).json()
    assert [d["id"] for d in second] == all_ids[5:10]


async def test_search_validation(client, db):
    for params in ({}, {"q": ""}, {"q": "   "}, {"q": "x" * 101}, {"q": "ab", "limit": 26},
                   {"q": "ab", "limit": 0}, {"q": "ab", "offset": -1}, {"q": "ab", "limit": "many"}):
        resp = await client.get(f"{API}/search", params=params)
        assert resp.status == 422, params
        body = await resp.json()
        assert body["code"] == "VALIDATION_ERROR" and body["detail"][0]["loc"][0] == "query"
    assert (await client.get(f"{API}/search", params={"q": "x" * 100})).status == 200


async def test_search_treats_like_wildcards_literally(client, db):
    await make_doctor(db, full_name="Dr. Amit Jain", slug="dr-amit-jain")
    assert await _names(await client.get(f"{API}/search", params={"q": "%"})) == []
    assert await _names(await client.get(f"{API}/search", params={"q": "_"})) == []


async def test_search_uses_trigram_indexes(db):
    async with db.begin() as conn:
        await conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join((await conn.execute(sa.text(
            "EXPLAIN SELECT id FROM doctors WHERE 'ankt' <% full_name OR 'ankt' <% speciality_category "
            "OR 'ankt' <% slug"))).scalars())
    for index in ("ix_doctors_full_name_trgm", "ix_doctors_speciality_trgm", "ix_doctors_slug_trgm"):
        assert index in plan


# --- optional auth and favourites flags ---------------------------------------------------

async def test_is_favourite_follows_the_client_token(client, db, auth):
    doctor = await make_doctor(db, full_name="Dr. Ankit Shah", slug="dr-ankit-shah-urology")
    user = await make_user(db)
    await _fav(db, user["id"], doctor["id"])
    for path, params in ((f"{API}/search", {"q": "ankit"}), (f"{API}/", {}), (f"{API}/all_doctors_list", {})):
        anonymous = await (await client.get(path, params=params)).json()
        assert anonymous[0]["is_favourite"] is False
        mine = await (await client.get(path, params=params, headers=auth("client", user["id"]))).json()
        assert mine[0]["is_favourite"] is True
        other = await (await client.get(path, params=params, headers=auth("doctor", doctor["id"]))).json()
        assert other[0]["is_favourite"] is False
    for path in (f"{API}/{doctor['id']}", f"{API}/slug/dr-ankit-shah-urology"):
        assert (await (await client.get(path)).json())["is_favourite"] is False
        assert (await (await client.get(path, headers=auth("client", user["id"]))).json())["is_favourite"] is True


async def test_invalid_token_is_401_not_anonymous(client, db):
    await make_doctor(db)
    for path in (f"{API}/", f"{API}/search?q=dr", f"{API}/all_doctors_list"):
        resp = await client.get(path, headers={"Authorization": "Bearer not-a-jwt"})
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == "Bearer"


async def test_favourites_flags_need_a_client_token(client, db, auth):
    doctor = await make_doctor(db)
    for params in ({"favourites_first": "true"}, {"favourites_only": "true"}):
        assert (await client.get(f"{API}/", params=params)).status == 401
        assert (await client.get(f"{API}/", params=params, headers=auth("doctor", doctor["id"]))).status == 403
    assert (await client.get(f"{API}/", params={"favourites_first": "false"})).status == 200


async def test_list_orders_and_favourite_flags(client, db, auth):
    offline = await make_doctor(db, full_name="Dr. A Offline", presence_status="OFFLINE", rating=5.0)
    busy = await make_doctor(db, full_name="Dr. B Busy", presence_status="BUSY", rating=5.0)
    online_low = await make_doctor(db, full_name="Dr. C Online", rating=3.0)
    online_high = await make_doctor(db, full_name="Dr. D Online", rating=4.0)
    featured = await make_doctor(db, full_name="Dr. E Featured", rating=1.0, is_featured=True)
    await make_doctor(db, full_name="Dr. F Inactive", is_active=False)
    user = await make_user(db)
    await _fav(db, user["id"], offline["id"])
    await _fav(db, user["id"], busy["id"])

    body = await (await client.get(f"{API}/")).json()
    expected = [featured, online_high, online_low, busy, offline]
    assert [d["id"] for d in body] == [str(d["id"]) for d in expected]
    no_slash = await (await client.get(API)).json()
    assert no_slash == body

    body = await (await client.get(f"{API}/", params={"favourites_first": "true"},
                                   headers=auth("client", user["id"]))).json()
    assert [d["id"] for d in body] == [str(d["id"]) for d in (busy, offline, featured, online_high, online_low)]
    assert [d["is_favourite"] for d in body] == [True, True, False, False, False]

    body = await (await client.get(f"{API}/", params={"favourites_only": "true"},
                                   headers=auth("client", user["id"]))).json()
    assert [d["id"] for d in body] == [str(busy["id"]), str(offline["id"])]

    body = await (await client.get(f"{API}/", params={"skip": 1, "limit": 2})).json()
    assert [d["id"] for d in body] == [str(online_high["id"]), str(online_low["id"])]


async def test_list_limits(client, db):
    for params in ({"limit": 101}, {"limit": 0}, {"skip": -1}, {"favourites_first": "perhaps"}):
        assert (await client.get(f"{API}/", params=params)).status == 422, params
    assert (await client.get(f"{API}/", params={"limit": 100})).status == 200


# --- all_doctors_list ---------------------------------------------------------------------

async def test_all_doctors_list_filters(client, db):
    uro_online = await make_doctor(db, full_name="Dr. Uro Online", speciality_category="Urology",
                                   is_featured=True, call_enabled=False)
    uro_busy = await make_doctor(db, full_name="Dr. Uro Busy", speciality_category="Urology",
                                 presence_status="BUSY", chat_enabled=False)
    derm = await make_doctor(db, full_name="Dr. Derm Offline", speciality_category="Dermatology",
                             presence_status="OFFLINE")

    async def ids(**params):
        resp = await client.get(f"{API}/all_doctors_list", params=params)
        assert resp.status == 200, await resp.text()
        return {d["id"] for d in await resp.json()}

    everyone = {str(d["id"]) for d in (uro_online, uro_busy, derm)}
    assert await ids() == everyone
    assert await ids(status="ONLINE") == {str(uro_online["id"])}
    assert await ids(status="BUSY") == {str(uro_busy["id"])}
    assert await ids(category="urology") == {str(uro_online["id"]), str(uro_busy["id"])}
    assert await ids(category="Urology", status="BUSY") == {str(uro_busy["id"])}
    assert await ids(available_for="chat") == {str(uro_online["id"]), str(derm["id"])}
    assert await ids(available_for="call") == {str(uro_busy["id"]), str(derm["id"])}
    assert await ids(featured_only="true") == {str(uro_online["id"])}
    assert await ids(featured_only="false") == everyone
    assert await ids(category="Astrology") == set()


async def test_all_doctors_list_sorting_is_stable_on_ties(client, db):
    ids = sorted([uuid.uuid4() for _ in range(4)])
    a = await make_doctor(db, id=ids[2], full_name="Dr. Alpha", rate_per_minute=300, rating=4.0, years_experience=5)
    b = await make_doctor(db, id=ids[0], full_name="Dr. Bravo", rate_per_minute=300, rating=4.5, years_experience=9)
    c = await make_doctor(db, id=ids[3], full_name="Dr. Charlie", rate_per_minute=100, rating=4.0, years_experience=5)
    d = await make_doctor(db, id=ids[1], full_name="Dr. Delta", rate_per_minute=500, rating=4.0, years_experience=2)

    async def order(**params):
        resp = await client.get(f"{API}/all_doctors_list", params=params)
        assert resp.status == 200, await resp.text()
        return [x["full_name"] for x in await resp.json()]

    # Ties (same key) fall back to id ascending, whatever the direction.
    assert await order(sort_by="rate") == ["Dr. Charlie", "Dr. Bravo", "Dr. Alpha", "Dr. Delta"]
    assert await order(sort_by="rate", sort_order="desc") == ["Dr. Delta", "Dr. Bravo", "Dr. Alpha", "Dr. Charlie"]
    assert await order(sort_by="rating", sort_order="desc") == ["Dr. Bravo", "Dr. Delta", "Dr. Alpha", "Dr. Charlie"]
    assert await order(sort_by="rating") == ["Dr. Delta", "Dr. Alpha", "Dr. Charlie", "Dr. Bravo"]
    assert await order(sort_by="experience") == ["Dr. Delta", "Dr. Alpha", "Dr. Charlie", "Dr. Bravo"]
    assert await order(sort_by="experience", sort_order="desc") == ["Dr. Bravo", "Dr. Alpha", "Dr. Charlie",
                                                                    "Dr. Delta"]
    assert await order() == ["Dr. Alpha", "Dr. Bravo", "Dr. Charlie", "Dr. Delta"]
    assert await order(sort_order="desc") == ["Dr. Delta", "Dr. Charlie", "Dr. Bravo", "Dr. Alpha"]
    assert await order(sort_by="rate", skip=1, limit=2) == ["Dr. Bravo", "Dr. Alpha"]
    assert {a["id"], b["id"], c["id"], d["id"]} == set(ids)


async def test_all_doctors_list_validation(client, db):
    for params in ({"status": "AWAY"}, {"status": "online"}, {"available_for": "video"}, {"sort_by": "name"},
                   {"sort_order": "up"}, {"limit": 101}, {"featured_only": "maybe"}):
        resp = await client.get(f"{API}/all_doctors_list", params=params)
        assert resp.status == 422, params
        assert (await resp.json())["detail"][0]["loc"][:2] == ["query", next(iter(params))]


# --- detail -------------------------------------------------------------------------------

async def test_detail_by_id_and_slug(client, db):
    doctor = await make_doctor(db, full_name="Dr. Ankit Shah", slug="dr-ankit-shah-urology",
                               speciality_category="Urology", degrees=["MBBS", "MS"], about_short="Specialist in...",
                               total_reviews=42, total_sessions=197, rating=4.8, years_experience=12)
    by_id = await client.get(f"{API}/{doctor['id']}")
    assert by_id.status == 200
    body = await by_id.json()
    assert body == await (await client.get(f"{API}/slug/dr-ankit-shah-urology")).json()
    for key, value in {"id": str(doctor["id"]), "full_name": "Dr. Ankit Shah", "slug": "dr-ankit-shah-urology",
                       "speciality_category": "Urology", "degrees": ["MBBS", "MS"], "years_experience": 12,
                       "about_short": "Specialist in...", "rating": 4.8, "total_reviews": 42,
                       "total_sessions": 197, "is_favourite": False, "presence_status": "ONLINE"}.items():
        assert body[key] == value, key
    assert "email" not in body and "password_hash" not in body and "earnings_paise" not in body


async def test_detail_not_found_cases(client, db):
    inactive = await make_doctor(db, slug="dr-gone", is_active=False)
    for path in (f"{API}/{uuid.uuid4()}", f"{API}/{inactive['id']}", f"{API}/slug/dr-gone", f"{API}/slug/nope",
                 f"{API}/not-a-uuid", f"{API}/{uuid.uuid4()}/reviews"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert "code" in await resp.json()


# --- reviews ------------------------------------------------------------------------------

async def test_reviews_newest_first_with_masked_names(client, db):
    doctor = await make_doctor(db)
    other = await make_doctor(db)
    base = dt.datetime(2026, 2, 7, 21, 0, tzinfo=dt.timezone.utc)
    patients = []
    async with db.begin() as conn:
        for i in range(3):
            patient = await make_user(db, full_name=f"Secret Name {i}")
            patients.append(patient)
            for target in (doctor, other):
                session_id = uuid.uuid4()
                await conn.execute(sa.insert(connect_sessions).values(
                    id=session_id, patient_id=patient["id"], doctor_id=target["id"], status="ENDED",
                    rate_per_minute=500, room_name=f"cn-{session_id}", requested_at=base, expires_at=base,
                    started_at=base, ended_at=base))
                await conn.execute(sa.insert(reviews).values(
                    connect_session_id=session_id, doctor_id=target["id"], patient_id=patient["id"],
                    rating=5.0 - i, comment=f"comment {i}", created_at=base + dt.timedelta(minutes=i)))
    resp = await client.get(f"{API}/{doctor['id']}/reviews", params={"limit": 2})
    assert resp.status == 200
    body = await resp.json()
    assert body["total"] == 3 and body["limit"] == 2 and body["offset"] == 0 and body["has_more"] is True
    assert [r["comment"] for r in body["items"]] == ["comment 2", "comment 1"]
    first = body["items"][0]
    assert first["rating"] == 3.0 and first["created_at"] == "2026-02-07T21:02:00Z"
    assert first["patient_name_masked"] == "User****" + patients[2]["id"].hex[-3:]
    assert "Secret" not in str(body) and str(patients[2]["id"]) not in str(body)

    rest = await (await client.get(f"{API}/{doctor['id']}/reviews", params={"limit": 2, "offset": 2})).json()
    assert [r["comment"] for r in rest["items"]] == ["comment 0"] and rest["has_more"] is False
    assert (await client.get(f"{API}/{doctor['id']}/reviews", params={"limit": 101})).status == 422
