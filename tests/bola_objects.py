"""The objects of the BOLA matrix (tests/test_bola_matrix.py, table in tests/bola_table.py): real rows
for every kind of id a path carries, built with tests/factories.py, direct inserts and the API itself.

`World` holds what every case shares: the app client, the database, and the three callers that own
nothing of what a case builds: another patient, another doctor, an admin. Each setup (`async def
x(w) -> Objects`) builds one object with a fresh owning patient and doctor (`Parties`), so a case can
change its object (accept, end, delete...) without disturbing the next, and a patient's one-active-
session rule never gets in the way. The strangers are not strangers to the owners, which makes the
matrix sharper: the other patient has an ended session with the owning doctor, and the other doctor
has an ended session with the owning patient (`Parties.cross`), so an ownership check that asked
"has this doctor ever seen this patient?" instead of "is this their object?" would be caught.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import sqlalchemy as sa
from yarl import URL

from domain.catalog_rows import build_lab_test, build_medicine
from domain.clinical import pdf_blob_name
from gateway import keys
from storage.catalog_import import upsert_lab_tests, upsert_medicines
from storage.tables import (
    attachments, call_sessions, community_articles, community_events, device_tokens, health_categories, messages,
    prescriptions, recordings, wallet_offers,
)
from tests import factories
from tests.azurite import PDF_BYTES, PNG_BYTES

P = "/api/v2"
Row = dict[str, Any]


@dataclass
class Parties:
    patient: Row
    doctor: Row
    # The stranger's own session shared with an owner: other_patient ↔ the owning doctor, other_doctor ↔
    # the owning patient (both ENDED). The "own parent, foreign child" probes use them.
    cross: dict[str, uuid.UUID]


@dataclass
class Objects:
    """What one setup built: its path parameters (a route takes the ones it names) and anything a body
    or query needs (`data`)."""
    parties: Parties
    params: dict[str, str]
    data: dict[str, Any] = field(default_factory=dict)
    signed: str | None = None          # SIGNED routes: the query string handed out for this object
    signed_other: str | None = None    # ... and the one handed out for another object of the same kind
    blobs: list[tuple[str, str]] = field(default_factory=list)  # stored blobs to watch (container, name)

    def __getitem__(self, name: str) -> Any:
        return self.data[name] if name in self.data else self.params[name]


Setup = Callable[["World"], Awaitable[Objects]]


class World:
    def __init__(self, client, db, settings) -> None:
        self.client = client
        self.db = db
        self.settings = settings
        self.app = client.server.app
        self.ids: dict[str, uuid.UUID] = {}

    async def start(self) -> None:
        self.ids["other_patient"] = (await factories.make_user(self.db, full_name="Other Patient"))["id"]
        self.ids["other_doctor"] = (await factories.make_doctor(self.db, full_name="Dr. Other Doctor"))["id"]
        self.ids["admin"] = (await factories.make_admin(self.db))["id"]

    @property
    def blobs(self):
        return self.app[keys.BLOBS]

    def headers(self, role: str, subject: uuid.UUID) -> dict[str, str]:
        return {"Authorization": f"Bearer {factories.access_token(self.settings, role, subject)}"}

    async def api(self, role: str, subject: uuid.UUID, method: str, path: str, *, expect: int,
                  **kwargs: Any) -> Any:
        """A setup step through the API; it must answer `expect` (else the setup is broken, not the app)."""
        async with self.client.request(method, path, headers=self.headers(role, subject), **kwargs) as resp:
            text = await resp.text()
            assert resp.status == expect, f"setup: {method} {path} as {role}: {resp.status} {text[:300]}"
            return await resp.json(content_type=None) if text else None

    async def parties(self, status: str = "ENDED", **session: Any) -> tuple[Parties, Row]:
        """A fresh owning patient and doctor, their session in `status`, and the cross sessions."""
        patient = await factories.make_user(self.db)
        doctor = await factories.make_doctor(self.db)
        # Money in the wallet: the sweeper ends an ONGOING session whose wallet ran out.
        await factories.make_wallet(self.db, patient["id"], 1_000_000)
        own = await factories.make_session(self.db, patient["id"], doctor["id"], status=status, **session)
        cross = {
            "other_patient": (await factories.make_session(self.db, self.ids["other_patient"], doctor["id"],
                                                           status="ENDED"))["id"],
            "other_doctor": (await factories.make_session(self.db, patient["id"], self.ids["other_doctor"],
                                                          status="ENDED"))["id"],
        }
        return Parties(patient, doctor, cross), own

    async def insert(self, table: sa.Table, **values: Any) -> Row:
        async with self.db.begin() as conn:
            return dict((await conn.execute(sa.insert(table).values(**values).returning(table))).mappings().one())

    async def update(self, table: sa.Table, row_id: Any, **values: Any) -> None:
        async with self.db.begin() as conn:
            await conn.execute(sa.update(table).where(table.c.id == row_id).values(**values))

    async def row(self, table: sa.Table, row_id: Any) -> Row:
        async with self.db.connect() as conn:
            return dict((await conn.execute(sa.select(table).where(table.c.id == row_id))).mappings().one())


def _sid(session: Row) -> dict[str, str]:
    return {"session_id": str(session["id"])}


def in_two_days() -> str:
    """A follow-up date safely in the future in every time zone."""
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).date().isoformat()


def _path_qs(url: str) -> tuple[str, str]:
    parsed = URL(url)
    return parsed.path, parsed.query_string


# --- sessions, messages, video ---------------------------------------------------------------

def session_in(status: str, **values: Any) -> Setup:
    async def setup(w: World) -> Objects:
        parties, session = await w.parties(status, **values)
        return Objects(parties, _sid(session))
    setup.__name__ = f"session_{status.lower()}"
    return setup


requested = session_in("REQUESTED")
ongoing = session_in("ONGOING")
ended = session_in("ENDED")


def video(state: str) -> Setup:
    return session_in("ONGOING", video_permission_state=state, patient_video_enabled=state == "VIDEO_ON",
                      consent_round=0 if state == "NOT_ALLOWED" else 1)


def with_messages(*, delivered: bool) -> Setup:
    """An ONGOING session with one message from each side, delivered (not read) or not: what a
    receipt of the owner stamps, and a refused one must not."""
    async def setup(w: World) -> Objects:
        parties, session = await w.parties("ONGOING")
        ids = []
        for sender_id, role in ((parties.patient["id"], "patient"), (parties.doctor["id"], "doctor")):
            row = await w.insert(messages, session_id=session["id"], sender_id=sender_id, sender_role=role,
                                 client_message_id=uuid.uuid4(), content_type="text", content=f"hello from the {role}",
                                 delivered_at=dt.datetime.now(dt.timezone.utc) if delivered else None)
            ids.append(str(row["id"]))
        return Objects(parties, _sid(session), data={"message_ids": ids})
    setup.__name__ = "messages_delivered" if delivered else "messages"
    return setup


async def call_session(w: World) -> Objects:
    parties, session = await w.parties("ONGOING")
    call = await w.insert(call_sessions, connect_session_id=session["id"], livekit_room_name=session["room_name"],
                          created_by_role="doctor", created_by_id=parties.doctor["id"])
    return Objects(parties, {**_sid(session), "call_id": str(call["id"])})


# --- files -------------------------------------------------------------------------------------

async def _attachment(w: World, *, general: bool, mode: str = "SAS", put_bytes: bool = True,
                      complete: bool = False) -> Objects:
    """A PNG attachment of an ONGOING session uploaded by its patient (bytes in storage unless not
    `put_bytes`; UPLOADED if `complete`), through the session route or /attachments/init."""
    parties, session = await w.parties("ONGOING")
    patient = parties.patient["id"]
    declared = {"filename": "scan.png", "content_type": "image/png", "size_bytes": len(PNG_BYTES),
                "upload_mode": mode}
    if general:
        init = await w.api("client", patient, "POST", f"{P}/attachments/init", expect=201,
                           json={"scope_type": "SESSION", "scope_id": str(session["id"]), **declared})
    else:
        init = await w.api("client", patient, "POST", f"{P}/connect/sessions/{session['id']}/attachments",
                           expect=201, json=declared)
    row = await w.row(attachments, uuid.UUID(init["id"]))
    if put_bytes:
        await w.blobs.put_bytes(row["container"], row["blob_name"], PNG_BYTES, "image/png")
    if complete:
        await w.api("client", patient, "POST", f"{P}/attachments/{init['id']}/complete", expect=200)
    return Objects(parties, {**_sid(session), "attachment_id": init["id"]},
                   blobs=[(row["container"], row["blob_name"])])


async def session_attachment_pending(w: World) -> Objects:
    return await _attachment(w, general=False)


async def attachment_pending(w: World) -> Objects:
    return await _attachment(w, general=True)


async def attachment_direct(w: World) -> Objects:
    """DIRECT mode, nothing stored yet: a refused upload must leave storage empty."""
    return await _attachment(w, general=True, mode="DIRECT", put_bytes=False)


async def attachment_uploaded(w: World) -> Objects:
    return await _attachment(w, general=True, complete=True)


async def blob_write_url(w: World) -> Objects:
    """The write URL an attachment's init hands out (nothing stored yet), and another attachment's."""
    parties, session = await w.parties("ONGOING")
    urls = []
    for _ in range(2):
        init = await w.api("client", parties.patient["id"], "POST",
                           f"{P}/connect/sessions/{session['id']}/attachments", expect=201,
                           json={"filename": "scan.png", "content_type": "image/png", "size_bytes": len(PNG_BYTES)})
        urls.append(_path_qs(init["upload_url"]))
    (path, query), (_, other_query) = urls
    container, name = _blob_of(path)
    return Objects(parties, {"container": container, "name": name}, signed=query, signed_other=other_query,
                   blobs=[(container, name)])


async def blob_read_url(w: World) -> Objects:
    """A stored blob's read URL (as a download_url hands it out), and another blob's."""
    first, second = await attachment_uploaded(w), await attachment_uploaded(w)
    queries = []
    for objects in (first, second):
        container, name = objects.blobs[0]
        queries.append(_path_qs(w.blobs.read_url(container, name, content_type="image/png"))[1])
    container, name = first.blobs[0]
    return Objects(first.parties, {"container": container, "name": name}, signed=queries[0],
                   signed_other=queries[1], blobs=first.blobs)


def _blob_of(path: str) -> tuple[str, str]:
    _, blobs, container, name = path.split("/", 3)
    assert blobs == "blobs", path
    return container, name


async def avatar(w: World) -> Objects:
    parties, _ = await w.parties()
    return Objects(parties, {"kind": "users", "owner_id": str(parties.patient["id"]),
                             "file": uuid.uuid4().hex + ".png"})


async def _report(w: World, *, complete: bool) -> Objects:
    parties, session = await w.parties("ENDED")
    base = f"{P}/connect/sessions/{session['id']}/reports"
    init = await w.api("client", parties.patient["id"], "POST", f"{base}/init", expect=201, params={
        "original_filename": "blood.pdf", "mime_type": "application/pdf", "size_bytes": str(len(PDF_BYTES))})
    await w.blobs.put_bytes("reports", init["blob_name"], PDF_BYTES, "application/pdf")
    if complete:
        await w.api("client", parties.patient["id"], "POST", f"{base}/{init['report_id']}/complete", expect=200)
    return Objects(parties, {**_sid(session), "report_id": init["report_id"]}, blobs=[("reports", init["blob_name"])])


async def report_pending(w: World) -> Objects:
    return await _report(w, complete=False)


async def report_uploaded(w: World) -> Objects:
    return await _report(w, complete=True)


def recording(status: str) -> Setup:
    """A recording row of an ONGOING session. ACTIVE: start answers with it (no call to LiveKit);
    STOPPING: a repeated stop answers with it (no call to LiveKit)."""
    async def setup(w: World) -> Objects:
        parties, session = await w.parties("ONGOING")
        rec_id = uuid.uuid4()
        await w.insert(recordings, id=rec_id, session_id=session["id"], room_name=session["room_name"],
                       egress_id=f"EG_{rec_id.hex[:12]}", status=status, started_by_role="doctor",
                       started_by_id=parties.doctor["id"], container="recordings",
                       blob_name=f"sessions/{session['id']}/recordings/{rec_id}.mp4",
                       started_at=dt.datetime.now(dt.timezone.utc))
        return Objects(parties, {**_sid(session), "recording_id": str(rec_id)})
    setup.__name__ = f"recording_{status.lower()}"
    return setup


# --- clinical, reviews, follow-ups ------------------------------------------------------------

PRESCRIPTION = {"medications": [{"name": "Paracetamol 650", "dosage": "1 tablet twice a day", "duration": "3 days"}],
                "notes": "Rest"}
LAB_TESTS = {"recommendations": [{"test_name": "Complete Blood Count", "priority": "routine"}], "notes": None}


async def prescription(w: World) -> Objects:
    """An ENDED session with a prescription whose PDF is cached (so reading the PDF renders nothing)."""
    parties, session = await w.parties("ENDED")
    written = await w.api("doctor", parties.doctor["id"], "POST", f"{P}/connect/sessions/{session['id']}/prescription",
                          expect=201, json=PRESCRIPTION)
    row = await w.row(prescriptions, uuid.UUID(written["id"]))
    blob = pdf_blob_name(session["id"], row["id"], row["version"])
    await w.blobs.put_bytes("prescriptions", blob, PDF_BYTES, "application/pdf")
    await w.update(prescriptions, row["id"], pdf_blob=blob, pdf_version=row["version"],
                   pdf_generated_at=dt.datetime.now(dt.timezone.utc))
    return Objects(parties, _sid(session))


async def lab_tests(w: World) -> Objects:
    parties, session = await w.parties("ENDED")
    await w.api("doctor", parties.doctor["id"], "POST", f"{P}/connect/sessions/{session['id']}/lab-tests",
                expect=201, json=LAB_TESTS)
    return Objects(parties, _sid(session))


def review(*, replied: bool) -> Setup:
    async def setup(w: World) -> Objects:
        parties, session = await w.parties("ENDED")
        written = await w.api("client", parties.patient["id"], "POST", f"{P}/connect/sessions/{session['id']}/review",
                              expect=201, json={"rating": 4.5, "comment": "Helpful"})
        review_id = written["id"]
        if replied:
            await w.api("doctor", parties.doctor["id"], "POST", f"{P}/doctors/me/reviews/{review_id}/reply",
                        expect=201, json={"text": "Thank you"})
        return Objects(parties, {**_sid(session), "review_id": str(review_id)})
    setup.__name__ = "review_replied" if replied else "review"
    return setup


async def ended_with_device(w: World) -> Objects:
    """An ENDED, unreviewed session whose patient has a device: the owner's reminder really pushes."""
    parties, session = await w.parties("ENDED")
    # Already on the community topic, as the push worker would leave it: it has nothing to change.
    await w.insert(device_tokens, token=f"fcm-{uuid.uuid4().hex}", user_id=parties.patient["id"], role="client",
                   platform="android", community_subscribed=True)
    return Objects(parties, _sid(session))


def followup(status: str) -> Setup:
    """A follow-up of an ENDED session, PENDING_PATIENT (as scheduled) or RESCHEDULE_REQUESTED."""
    async def setup(w: World) -> Objects:
        parties, session = await w.parties("ENDED")
        row = await w.api("doctor", parties.doctor["id"], "POST", f"{P}/connect/sessions/{session['id']}/followup",
                          expect=201, json={"scheduled_date": in_two_days(), "scheduled_time": "10:30:00"})
        if status == "RESCHEDULE_REQUESTED":
            row = await w.api("client", parties.patient["id"], "POST", f"{P}/followups/{row['id']}/respond",
                              expect=200, json={"action": "reschedule", "proposed_date": in_two_days(),
                                                "proposed_time": "12:00:00"})
        assert row["status"] == status, row
        return Objects(parties, {**_sid(session), "followup_id": str(row["id"])})
    setup.__name__ = f"followup_{status.lower()}"
    return setup


# --- money ---------------------------------------------------------------------------------------

async def payment_order(w: World) -> Objects:
    """A PENDING order of the patient at the local gateway (its signed checkout URL), and another
    patient's order (the other signature)."""
    parties, _ = await w.parties()
    order = await w.api("client", parties.patient["id"], "POST", f"{P}/payments/cashfree/orders", expect=201,
                        json={"amount": 50000})
    other = await w.api("client", w.ids["other_patient"], "POST", f"{P}/payments/cashfree/orders", expect=201,
                        json={"amount": 50000})
    return Objects(parties, {"order_id": order["order_id"]}, signed=_path_qs(order["checkout_url"])[1],
                   signed_other=_path_qs(other["checkout_url"])[1])


# --- admin and public objects -------------------------------------------------------------------

async def patient_account(w: World) -> Objects:
    """The owning patient as the object: the admin's user routes, on an account with a session."""
    parties, _ = await w.parties()
    return Objects(parties, {"user_id": str(parties.patient["id"])})


async def doctor_profile(w: World) -> Objects:
    parties, _ = await w.parties()
    return Objects(parties, {"doctor_id": str(parties.doctor["id"]), "slug": parties.doctor["slug"]})


async def _unowned(w: World, param: str, table: sa.Table, **values: Any) -> Objects:
    """A row nobody owns (the admin's or public), beside fresh parties for the PATIENT and DOCTOR callers."""
    parties, _ = await w.parties()
    return Objects(parties, {param: str((await w.insert(table, **values))["id"])})


async def category(w: World) -> Objects:
    return await _unowned(w, "category_id", health_categories, name=f"Category {uuid.uuid4().hex[:8]}")


async def offer(w: World) -> Objects:
    today = dt.date.today()
    return await _unowned(w, "offer_id", wallet_offers, title="Recharge 500 get 50", amount=50000, bonus_amount=5000,
                          valid_from=today - dt.timedelta(days=1), valid_until=today + dt.timedelta(days=30))


async def article(w: World) -> Objects:
    return await _unowned(w, "article_id", community_articles, title="Sleep well", excerpt="Why sleep matters",
                          content="Long text", is_published=True, published_at=dt.datetime.now(dt.timezone.utc))


async def event(w: World) -> Objects:
    return await _unowned(w, "event_id", community_events, title="Yoga morning", description="Online session",
                          event_date=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=7))


async def medicine(w: World) -> Objects:
    parties, _ = await w.parties()
    rows = [build_medicine("Dolo 650 Tablet", "Paracetamol (650mg)")]
    await _catalog(w, medicines=rows)
    return Objects(parties, {"medicine_id": str(rows[0].id)})


async def lab_test(w: World) -> Objects:
    parties, _ = await w.parties()
    rows = [build_lab_test("Complete Blood Count", code=f"CBC{uuid.uuid4().hex[:6]}", price_paise=30000)]
    await _catalog(w, lab_tests=rows)
    return Objects(parties, {"test_id": str(rows[0].id)})


async def _catalog(w: World, medicines=(), lab_tests=()) -> None:
    async with w.db.connect() as conn:  # the importer's own kind of connection: plain asyncpg
        raw = (await conn.get_raw_connection()).driver_connection
        async with raw.transaction():
            await upsert_medicines(raw, list(medicines))
            await upsert_lab_tests(raw, list(lab_tests))


# Tables a background worker changes on its own while the matrix runs (the outbox relay and the
# push worker mark what they sent): left out of the "a refused call changed nothing" snapshot.
BACKGROUND_TABLES = frozenset({"event_outbox", "notifications", "alembic_version"})
