"""GET /doctors/search: phases and ranking, short queries, titles, normalization, and the search
tables following every change to a doctor (migration 0003, storage/doctor_search.py)."""
from __future__ import annotations

from tests import factories

import itertools
import uuid

import sqlalchemy as sa

from storage.tables import doctors, favourites
from tests.factories import make_admin, make_doctor, make_user

API = "/api/v2/doctors"
_slug_numbers = itertools.count(2)


async def _search(client, q, **params) -> list[str]:
    resp = await client.get(f"{API}/search", params={"q": q, **params})
    assert resp.status == 200, await resp.text()
    return [d["full_name"] for d in await resp.json()]


async def _doctor(db, name, *, speciality="General Medicine", rating=4.0, slug=None, **values):
    slug = slug or name.lower().replace(".", "").replace(" ", "-") + f"-{next(_slug_numbers)}"
    return await make_doctor(db, full_name=name, speciality_category=speciality, rating=rating, slug=slug, **values)


# --- ranking --------------------------------------------------------------------------------

async def test_prefix_before_contains_before_fuzzy_whatever_the_rating(client, db):
    await _doctor(db, "Dr. Kapooor Singh", rating=5.0)       # fuzzy only (word similarity 0.875)
    await _doctor(db, "Dr. Neel Rakapoor", rating=4.5)       # contains
    await _doctor(db, "Dr. Kapoorchand Rao", rating=4.0)     # a longer word starts with it
    await _doctor(db, "Dr. Amit Kapoor", rating=3.0)         # the whole word, not the first one
    await _doctor(db, "Dr. Kapoor Verma", rating=1.0)        # the whole word, first
    await _doctor(db, "Dr. Kapoor Sen", rating=4.9)          # the same, better rated
    await _doctor(db, "Dr. Neel Kapur", rating=5.0)          # too far (0.43 < 0.45)
    await _doctor(db, "Dr. Kapoor Gone", rating=5.0, is_active=False)
    assert await _search(client, "kapoor") == [
        "Dr. Kapoor Sen", "Dr. Kapoor Verma", "Dr. Amit Kapoor", "Dr. Kapoorchand Rao", "Dr. Neel Rakapoor",
        "Dr. Kapooor Singh"]


async def test_first_word_of_a_field_before_a_later_word(client, db):
    await _doctor(db, "Dr. Amit Rajan", rating=5.0)
    await _doctor(db, "Dr. Rajesh Kumar", rating=2.0)
    assert await _search(client, "raj") == ["Dr. Rajesh Kumar", "Dr. Amit Rajan"]


async def test_equal_matches_by_rating_then_id(client, db):
    ids = sorted(uuid.uuid4() for _ in range(3))
    await _doctor(db, "Dr. Neha B", id=ids[2], rating=4.0)
    await _doctor(db, "Dr. Neha C", id=ids[0], rating=4.0)
    await _doctor(db, "Dr. Neha A", id=ids[1], rating=4.5)
    assert await _search(client, "neha") == ["Dr. Neha A", "Dr. Neha C", "Dr. Neha B"]


async def test_speciality_prefix_contains_and_typo(client, db):
    await _doctor(db, "Dr. Ravi Menon", speciality="Cardiology", rating=3.0)
    await _doctor(db, "Dr. Asha Iyer", speciality="Neurology", rating=4.0)
    await _doctor(db, "Dr. Omar Khan", speciality="Psychiatry")
    assert await _search(client, "cardio") == ["Dr. Ravi Menon"]
    assert await _search(client, "logy") == ["Dr. Asha Iyer", "Dr. Ravi Menon"]
    assert await _search(client, "nerology") == ["Dr. Asha Iyer"]


async def test_slug_as_typed_or_in_part(client, db):
    await _doctor(db, "Dr. Ankit Shah", speciality="Urology", slug="dr-ankit-shah-urology-2")
    await _doctor(db, "Dr. Ankit Rao", speciality="ENT", slug="dr-ankit-rao-ent")
    assert await _search(client, "dr-ankit-shah-urology-2") == ["Dr. Ankit Shah"]
    assert await _search(client, "ankit-shah-uro") == ["Dr. Ankit Shah"]
    assert await _search(client, "shah urology") == ["Dr. Ankit Shah"]


async def test_paging_follows_the_ranking(client, db, auth):
    for n, rating in enumerate((4.0, 5.0, 3.0, 4.5, 2.0)):
        await _doctor(db, f"Dr. Kiran {n}", rating=rating)
    await _doctor(db, "Dr. Akiran Fuzzy", rating=5.0)  # contains: after every prefix match
    everyone = await _search(client, "kiran", limit=25)
    assert everyone == ["Dr. Kiran 1", "Dr. Kiran 3", "Dr. Kiran 0", "Dr. Kiran 2", "Dr. Kiran 4",
                        "Dr. Akiran Fuzzy"]
    assert await _search(client, "kiran", limit=2, offset=2) == everyone[2:4]
    assert await _search(client, "kiran", limit=5, offset=4) == everyone[4:]
    assert await _search(client, "kiran", offset=6) == []
    assert await _search(client, "kiran", offset=10**15) == []

    user = await make_user(db)
    async with db.begin() as conn:
        doctor_id = (await conn.execute(sa.select(doctors.c.id).where(
            doctors.c.full_name == "Dr. Kiran 2"))).scalar_one()
        await conn.execute(sa.insert(favourites).values(user_id=user["id"], doctor_id=doctor_id))
    resp = await client.get(f"{API}/search", params={"q": "kiran", "limit": 2, "offset": 2},
                            headers=auth("client", user["id"]))
    assert [(d["full_name"], d["is_favourite"]) for d in await resp.json()] == [
        ("Dr. Kiran 0", False), ("Dr. Kiran 2", True)]


# --- short queries and titles ---------------------------------------------------------------

async def test_one_and_two_letters_match_word_starts_only(client, db):
    await _doctor(db, "Dr. Amit Shah", rating=3.0)
    await _doctor(db, "Dr. Ravi Agarwal", rating=5.0)
    await _doctor(db, "Dr. Harsh Vora", speciality="Dermatology", rating=5.0)
    await _doctor(db, "Dr. Ravi Kumar", speciality="ENT", rating=5.0)
    # a word starting with the letter; inside a word is no match below three characters
    assert await _search(client, "a") == ["Dr. Amit Shah", "Dr. Ravi Agarwal"]
    assert await _search(client, "A") == ["Dr. Amit Shah", "Dr. Ravi Agarwal"]
    assert await _search(client, "sh") == ["Dr. Amit Shah"]
    assert await _search(client, "e") == ["Dr. Ravi Kumar"]
    assert await _search(client, "ars") == ["Dr. Harsh Vora"]


async def test_a_title_in_the_query_is_not_part_of_the_name(client, db):
    await _doctor(db, "Dr. Ankit Shah", rating=3.0)
    await _doctor(db, "Ankit Verma", rating=4.0)      # stored without the title
    await _doctor(db, "Dr. Ravi Ankit", rating=5.0)
    await _doctor(db, "Dr. Meera Shah", rating=4.5)
    for q in ("Dr. Ankit", "dr ankit", "DR.ANKIT", "Doctor Ankit", "dr. ankit", "ankit"):
        assert await _search(client, q) == ["Ankit Verma", "Dr. Ankit Shah", "Dr. Ravi Ankit"], q
    assert await _search(client, "Dr. Shah") == ["Dr. Meera Shah", "Dr. Ankit Shah"]
    assert await _search(client, "dr a") == ["Ankit Verma", "Dr. Ankit Shah", "Dr. Ravi Ankit"]
    # a typo after the title: fuzzy, equally similar, so by rating
    assert await _search(client, "dr ankt") == ["Dr. Ravi Ankit", "Ankit Verma", "Dr. Ankit Shah"]


async def test_a_title_alone_lists_every_active_doctor(client, db):
    await _doctor(db, "Dr. Ankit Shah", rating=3.0)
    await _doctor(db, "Dr. Meera Shah", rating=4.5)
    await _doctor(db, "Dr. Drishti Rao", rating=1.0)  # a word starting with "dr" comes first
    await _doctor(db, "Dr. Gone Away", rating=5.0, is_active=False)
    for q in ("dr", "Dr.", "DR", " dr "):
        assert await _search(client, q) == ["Dr. Drishti Rao", "Dr. Meera Shah", "Dr. Ankit Shah"], q
    assert await _search(client, "Doctor") == ["Dr. Meera Shah", "Dr. Ankit Shah", "Dr. Drishti Rao"]
    assert await _search(client, "dr", limit=1, offset=1) == ["Dr. Meera Shah"]


async def test_punctuation_case_and_other_scripts(client, db):
    await _doctor(db, "डॉ. राहुल शर्मा", speciality="Cardiology")
    await _doctor(db, "Dr. Śarmā D’Souza", speciality="ENT")
    assert await _search(client, "शर्मा") == ["डॉ. राहुल शर्मा"]
    assert await _search(client, "डॉ राहुल") == ["डॉ. राहुल शर्मा"]
    assert await _search(client, "ŚARMĀ") == ["Dr. Śarmā D’Souza"]
    assert await _search(client, "d'souza") == ["Dr. Śarmā D’Souza"]
    for q in ("%", "_", "...", "\\", "—"):
        assert await _search(client, q) == [], q


# --- the search tables follow the doctors ---------------------------------------------------

async def test_search_follows_renames_deactivation_ratings_and_deletes(client, db, auth):
    headers = auth("admin", (await make_admin(db))["id"])
    # slugs stay as they are on a rename (and keep matching), so these do not repeat the names
    first = await _doctor(db, "Dr. Ankit Shah", speciality="Urology", rating=3.0, slug="profile-1")
    second = await _doctor(db, "Dr. Ankit Rao", rating=4.0, slug="profile-2")
    assert await _search(client, "ankit") == ["Dr. Ankit Rao", "Dr. Ankit Shah"]

    resp = await client.patch(f"{API}/{first['id']}", headers=headers,
                              json={"full_name": "Dr. Nikhil Shah", "speciality_category": "Psychiatry"})
    assert resp.status == 200, await resp.text()
    assert await _search(client, "ankit") == ["Dr. Ankit Rao"]
    assert await _search(client, "nikhil") == ["Dr. Nikhil Shah"]
    assert await _search(client, "psych") == ["Dr. Nikhil Shah"]
    assert await _search(client, "urology") == []

    assert (await client.patch(f"{API}/{second['id']}", headers=headers, json={"is_active": False})).status == 200
    assert await _search(client, "ankit") == []
    assert (await client.patch(f"{API}/{second['id']}", headers=headers, json={"is_active": True})).status == 200
    assert await _search(client, "ankit") == ["Dr. Ankit Rao"]

    await _doctor(db, "Dr. Ankit Bose", rating=4.5)
    assert await _search(client, "ankit") == ["Dr. Ankit Bose", "Dr. Ankit Rao"]
    async with db.begin() as conn:
        await conn.execute(sa.update(doctors).where(doctors.c.id == second["id"]).values(rating=5.0))
    assert await _search(client, "ankit") == ["Dr. Ankit Rao", "Dr. Ankit Bose"]
    async with db.begin() as conn:
        await conn.execute(sa.delete(doctors).where(doctors.c.id == second["id"]))
    assert await _search(client, "ankit") == ["Dr. Ankit Bose"]


async def test_admin_created_doctor_is_found_at_once(client, db, auth):
    headers = auth("admin", (await make_admin(db))["id"])
    resp = await client.post(f"{API}/", headers=headers, json={
        "full_name": "Dr. Zoya Qureshi", "email": "zoya@example.com", "password": "s3cret-pass",
        "speciality_category": "Pediatrics", "rate_per_minute": 500})
    assert resp.status == 201, await resp.text()
    assert await _search(client, "qureshi") == ["Dr. Zoya Qureshi"]
    assert await _search(client, (await resp.json())["slug"]) == ["Dr. Zoya Qureshi"]


# --- plans ----------------------------------------------------------------------------------

async def test_every_phase_reads_its_index(db):
    """The statements inside doctor_search_ids, as auto_explain sees them: the prefix step on the
    ranked B-tree, the contains and fuzzy lookups on the trigram index even on a tiny table."""
    await _doctor(db, "Dr. Kapoor Sen", speciality="Cardiology")
    async with db.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        notices: list[str] = []
        driver.add_log_listener(lambda _conn, message: notices.append(message.message))
        try:
            await driver.execute("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
                                 "SET auto_explain.log_nested_statements = on; "
                                 "SET auto_explain.log_level = notice")
            assert len(await driver.fetchval("SELECT doctor_search_ids('cardiolgy', 10)")) == 1
        finally:
            await driver.execute("SET auto_explain.log_min_duration = -1")
    plans = "\n".join(notices)
    assert plans.count("on ix_doctor_search_terms_ranked") == 3  # prefix; contains and fuzzy by value
    assert plans.count("Bitmap Index Scan on ix_doctor_search_fields_trgm") == 2  # contains, fuzzy
    assert "Seq Scan on doctor_search" not in plans


async def test_lost_database_connections_are_never_a_500(client, db):
    await _doctor(db, "Dr. Ankit Shah")
    assert await _search(client, "ankit") == ["Dr. Ankit Shah"]
    await factories.answers_after_backends_die(db, lambda: client.get(f"{API}/search", params={"q": "ankit"}), 200)
