"""Community articles and events: the admin's CRUD (validation, 404s, DELETE → 204, audit rows) and
the public lists and details: published articles only (a draft is 404 by id too), filters, sorting,
pagination, events upcoming or past relative to now, `Cache-Control: public, max-age=60`."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from common.clock import FrozenClock
from tests import factories
from tests.audit_rows import audit_rows

ADMIN_ARTICLES, ADMIN_EVENTS = "/api/v2/admin/articles", "/api/v2/admin/events"
ARTICLES, EVENTS = "/api/v2/community/articles", "/api/v2/community/events"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def community(make_client, clock):
    return await make_client(clock=clock)


@pytest.fixture
async def admin(db, auth):
    return auth("admin", (await factories.make_admin(db))["id"])


async def _article(client, admin, clock, title, *, category=None, publish=True, days=0) -> dict:
    """Created (and published) `days` after NOW."""
    clock.advance(days * 86400)
    resp = await client.post(ADMIN_ARTICLES, headers=admin, json={
        "title": title, "excerpt": f"About {title}", "content": f"All of {title}", "category": category,
        "is_published": publish})
    clock.advance(-days * 86400)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _event(client, admin, title, when: dt.datetime, event_type="online") -> dict:
    resp = await client.post(ADMIN_EVENTS, headers=admin, json={
        "title": title, "description": f"About {title}", "event_date": _iso(when), "event_type": event_type})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _public(client, url, **query) -> dict:
    resp = await client.get(url, params={k: str(v) for k, v in query.items()})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Cache-Control"] == "public, max-age=60"
    return await resp.json()


async def _titles(client, url, **query) -> list[str]:
    return [item["title"] for item in (await _public(client, url, **query))["items"]]


# --- admin ---------------------------------------------------------------------------------

async def test_admin_article_crud(community, admin, db):
    resp = await community.post(ADMIN_ARTICLES, headers=admin, json={
        "title": " 5 Tips for Better Sleep ", "excerpt": "Sleep is essential...", "content": "Full article body...",
        "category": "wellness", "author": "Dr. Smith", "image_url": "https://cdn.example.com/a.png", "x": 1})
    assert resp.status == 201
    created = await resp.json()
    assert created == {"id": created["id"], "title": "5 Tips for Better Sleep", "excerpt": "Sleep is essential...",
                       "content": "Full article body...", "category": "wellness", "author": "Dr. Smith",
                       "image_url": "https://cdn.example.com/a.png", "published_at": None, "is_published": False,
                       "created_at": _iso(NOW), "updated_at": _iso(NOW)}
    url = f"{ADMIN_ARTICLES}/{created['id']}"
    assert (await (await community.get(url, headers=admin)).json()) == created  # the admin sees drafts
    resp = await community.patch(url, headers=admin, json={"author": None, "excerpt": "Shorter"})
    body = await resp.json()
    assert resp.status == 200 and body["author"] is None and body["excerpt"] == "Shorter" and body["title"] == created["title"]
    listed = await (await community.get(ADMIN_ARTICLES, headers=admin, params={"is_published": "false"})).json()
    assert [i["id"] for i in listed["items"]] == [created["id"]] and listed["total"] == 1
    assert (await community.delete(url, headers=admin)).status == 204
    for method in ("GET", "PATCH", "DELETE"):
        resp = await community.request(method, url, headers=admin, json={})
        assert resp.status == 404 and (await resp.json())["code"] == "ARTICLE_NOT_FOUND", method
    rows = await audit_rows(db, target_type="article")
    assert [(r["action"], r["changed_fields"]) for r in rows] == [
        ("article.create", ["author", "category", "content", "excerpt", "image_url", "is_published", "title"]),
        ("article.update", ["author", "excerpt"]),
        ("article.delete", [])]
    assert all(r["target_id"] == created["id"] for r in rows)


async def test_admin_event_crud(community, admin, db):
    resp = await community.post(ADMIN_EVENTS, headers=admin, json={
        "title": "Health Awareness Webinar", "description": "Join us for...", "event_date": "2026-03-15T15:30:00+05:30"})
    assert resp.status == 201
    event = await resp.json()
    assert event["event_date"] == "2026-03-15T10:00:00Z" and event["event_type"] == "online"
    assert event["category"] is None and event["image_url"] is None
    url = f"{ADMIN_EVENTS}/{event['id']}"
    resp = await community.patch(url, headers=admin, json={"event_type": "hybrid", "category": "wellness"})
    assert resp.status == 200 and (await resp.json())["event_type"] == "hybrid"
    assert (await (await community.get(url, headers=admin)).json())["category"] == "wellness"
    assert (await community.delete(url, headers=admin)).status == 204
    assert (await community.get(url, headers=admin)).status == 404
    assert (await community.get(f"{EVENTS}/{event['id']}")).status == 404
    assert [r["action"] for r in await audit_rows(db, target_type="event")] == [
        "event.create", "event.update", "event.delete"]


@pytest.mark.parametrize("url,body,field", [
    (ADMIN_ARTICLES, {"excerpt": "e", "content": "c"}, "title"),
    (ADMIN_ARTICLES, {"title": "t", "excerpt": " ", "content": "c"}, "excerpt"),
    (ADMIN_ARTICLES, {"title": "t", "excerpt": "e", "content": "c", "image_url": "javascript:alert(1)"}, "image_url"),
    (ADMIN_ARTICLES, {"title": "x" * 201, "excerpt": "e", "content": "c"}, "title"),
    (ADMIN_EVENTS, {"title": "t", "description": "d"}, "event_date"),
    (ADMIN_EVENTS, {"title": "t", "description": "d", "event_date": "next tuesday"}, "event_date"),
    (ADMIN_EVENTS, {"title": "t", "description": "d", "event_date": "2026-03-15T10:00:00Z", "event_type": "party"},
     "event_type"),
])
async def test_admin_bodies_are_validated(community, admin, db, url, body, field):
    resp = await community.post(url, headers=admin, json=body)
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"] == ["body", field]
    assert await audit_rows(db) == []


# --- the public: articles --------------------------------------------------------------------

async def test_only_published_articles_are_public(community, admin, clock):
    draft = await _article(community, admin, clock, "Draft", publish=False)
    live = await _article(community, admin, clock, "Live")
    page = await _public(community, ARTICLES)
    assert [i["id"] for i in page["items"]] == [live["id"]] and page["total"] == 1
    assert "content" not in page["items"][0] and page["items"][0]["excerpt"] == "About Live"
    detail = await _public(community, f"{ARTICLES}/{live['id']}")
    assert detail["content"] == "All of Live" and "is_published" not in detail
    for missing in (draft["id"], uuid.uuid4()):  # a draft is as absent as an unknown id
        resp = await community.get(f"{ARTICLES}/{missing}")
        assert resp.status == 404 and (await resp.json())["code"] == "ARTICLE_NOT_FOUND"
    assert (await community.get(f"{ARTICLES}/not-a-uuid")).status == 404
    # Unpublishing takes it down again.
    await community.patch(f"{ADMIN_ARTICLES}/{live['id']}", headers=admin, json={"is_published": False})
    assert (await community.get(f"{ARTICLES}/{live['id']}")).status == 404
    assert (await _public(community, ARTICLES))["total"] == 0


async def test_article_filters_sorting_and_pages(community, admin, clock):
    for n, (title, category) in enumerate([("Banana", "diet"), ("apple", "diet"), ("Cherry", "wellness"),
                                           ("Date", None)]):
        await _article(community, admin, clock, title, category=category, days=n)
    await _article(community, admin, clock, "Hidden draft", category="diet", publish=False, days=9)
    assert await _titles(community, ARTICLES) == ["Date", "Cherry", "apple", "Banana"]  # newest first
    assert await _titles(community, ARTICLES, sort_order="asc") == ["Banana", "apple", "Cherry", "Date"]
    assert await _titles(community, ARTICLES, sort_by="title") == ["apple", "Banana", "Cherry", "Date"]
    assert await _titles(community, ARTICLES, sort_by="title", sort_order="desc") == ["Date", "Cherry", "Banana", "apple"]
    assert await _titles(community, ARTICLES, category="diet") == ["apple", "Banana"]
    assert await _titles(community, ARTICLES, category="nothing") == []
    first = await _public(community, ARTICLES, limit=3)
    assert [i["title"] for i in first["items"]] == ["Date", "Cherry", "apple"]
    assert (first["total"], first["limit"], first["offset"], first["has_more"]) == (4, 3, 0, True)
    rest = await _public(community, ARTICLES, limit=3, offset=3)
    assert [i["title"] for i in rest["items"]] == ["Banana"] and rest["has_more"] is False
    assert (await _public(community, ARTICLES, offset=10))["items"] == []
    for bad in ({"sort_by": "views"}, {"sort_order": "up"}, {"limit": 101}, {"offset": -1}, {"limit": "x"}):
        resp = await community.get(ARTICLES, params=bad)
        assert resp.status == 422, bad


# --- the public: events ----------------------------------------------------------------------

async def test_events_upcoming_or_past_relative_to_now(community, admin, clock):
    hour = dt.timedelta(hours=1)
    await _event(community, admin, "Last week", NOW - 168 * hour, "in_person")
    await _event(community, admin, "An hour ago", NOW - hour)
    await _event(community, admin, "Right now", NOW, "hybrid")
    await _event(community, admin, "Tomorrow", NOW + 24 * hour, "in_person")
    await _event(community, admin, "Next month", NOW + 720 * hour)
    assert await _titles(community, EVENTS, status="upcoming") == ["Right now", "Tomorrow", "Next month"]
    assert await _titles(community, EVENTS, status="past") == ["An hour ago", "Last week"]  # most recent first
    assert await _titles(community, EVENTS) == ["Last week", "An hour ago", "Right now", "Tomorrow", "Next month"]
    assert await _titles(community, EVENTS, sort_by="event_date", sort_order="desc") == [
        "Next month", "Tomorrow", "Right now", "An hour ago", "Last week"]
    assert await _titles(community, EVENTS, event_type="in_person") == ["Last week", "Tomorrow"]
    assert await _titles(community, EVENTS, event_type="online", status="upcoming") == ["Next month"]
    clock.advance(25 * 3600)  # "now" moves on: tomorrow's event is past
    assert await _titles(community, EVENTS, status="upcoming") == ["Next month"]
    page = await _public(community, EVENTS, limit=2, offset=2)
    assert [i["title"] for i in page["items"]] == ["Right now", "Tomorrow"]
    assert (page["total"], page["has_more"]) == (5, True)
    item = page["items"][0]
    assert set(item) == {"id", "title", "description", "event_date", "event_type", "category", "image_url"}
    detail = await _public(community, f"{EVENTS}/{item['id']}")
    assert detail == item
    for bad in ({"status": "soon"}, {"event_type": "party"}, {"sort_by": "title"}):
        resp = await community.get(EVENTS, params=bad)
        assert resp.status == 422, bad
    assert (await community.get(f"{EVENTS}/{uuid.uuid4()}")).status == 404
