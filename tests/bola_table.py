"""The BOLA matrix's expected table (tests/test_bola_matrix.py): for every route with an object id in
its path, which object to build (tests/bola_objects.py) and what each kind of caller gets.

Callers: the object's owners (PATIENT and DOCTOR: the patient and doctor of its session, or the
patient whose account, wallet order... it is), OTHER_PATIENT and OTHER_DOCTOR (real accounts with
sessions of their own, even with the owners: see bola_objects), ADMIN and ANON (no token). Signed
routes (blob URLs, the local checkout) have two more: SIGNED (the URL as handed out for this object)
and SIGNED_OTHER (the signature handed out for another object of the same kind); their bearer callers
carry no signature.

Written from ../shared/spec/CONTRACT.md: a valid token of the wrong role is 403 WRONG_ROLE, and the
role check comes before any lookup; an object that exists but is someone else's is 404 (never reveal
it exists), except a report deleted by its session's doctor (403 NOT_REPORT_OWNER). Statuses for the
allowed callers are what the contract gives for the object each setup builds (a REQUESTED session
for accept, an ACTIVE recording for a repeated start...). A status is an int, or (status, code) when
the error code is part of the contract; a bare 403 means 403 WRONG_ROLE.

Bodies are valid (so a refused call is refused for who the caller is, not for what it sent):
`body` (JSON), `form` (multipart or urlencoded), `raw` bytes, `query`; each a value or a function of
the setup's Objects. `returns`: items the allowed callers' JSON answers must contain, where they show
that the call reached this very object (its id) and did what it says (its new state).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests import bola_objects as o
from tests.azurite import PNG_BYTES
from tests.role_table import P, S

ANON, PATIENT, DOCTOR, OTHER_PATIENT, OTHER_DOCTOR, ADMIN = (
    "anon", "patient", "doctor", "other_patient", "other_doctor", "admin")
SIGNED, SIGNED_OTHER = "signed", "signed_other"
BEARER_CALLERS = (ANON, OTHER_PATIENT, OTHER_DOCTOR, ADMIN, PATIENT, DOCTOR)
SIGNED_CALLERS = (*BEARER_CALLERS, SIGNED_OTHER, SIGNED)
ROLE_OF = {PATIENT: "client", OTHER_PATIENT: "client", DOCTOR: "doctor", OTHER_DOCTOR: "doctor", ADMIN: "admin"}
OWNERS = (PATIENT, DOCTOR)

Expect = int | tuple[int, str]
Value = Any  # a value, or a function of the setup's Objects returning it


@dataclass(frozen=True)
class Case:
    setup: o.Setup
    expect: dict[str, Expect]
    body: Value = None
    form: Value = None
    raw: bytes | None = None
    query: Value = None
    headers: dict[str, str] = field(default_factory=dict)
    returns: Value = None      # items every allowed caller's JSON answer must contain (the object, its new state)
    ws: bool = False           # a websocket: probed with ws_connect (101 = upgraded)
    why: str = ""              # the reasoning behind a status that is not the obvious one

    @property
    def signed(self) -> bool:
        return SIGNED in self.expect


def _with(base: dict[str, Expect], overrides: dict[str, Expect]) -> dict[str, Expect]:
    unknown = set(overrides) - set(base)
    assert not unknown, f"unknown callers {unknown}"
    return {**base, **overrides}


def either(ok: Expect, **overrides: Expect) -> dict[str, Expect]:
    """Both participants (client and doctor roles) may; strangers of either role get 404."""
    return _with({ANON: 401, PATIENT: ok, DOCTOR: ok, OTHER_PATIENT: 404, OTHER_DOCTOR: 404, ADMIN: 403}, overrides)


def patient_only(ok: Expect, **overrides: Expect) -> dict[str, Expect]:
    """Client role only: the session's doctor and any doctor are refused by role (403) first."""
    return _with({ANON: 401, PATIENT: ok, DOCTOR: 403, OTHER_PATIENT: 404, OTHER_DOCTOR: 403, ADMIN: 403}, overrides)


def doctor_only(ok: Expect, **overrides: Expect) -> dict[str, Expect]:
    return _with({ANON: 401, PATIENT: 403, DOCTOR: ok, OTHER_PATIENT: 403, OTHER_DOCTOR: 404, ADMIN: 403}, overrides)


def any_patient(ok: Expect) -> dict[str, Expect]:
    """The object is public and the call writes only the calling patient's own row."""
    return {ANON: 401, PATIENT: ok, DOCTOR: 403, OTHER_PATIENT: ok, OTHER_DOCTOR: 403, ADMIN: 403}


def admin_only(ok: Expect) -> dict[str, Expect]:
    """An admin route: the object's own patient or doctor is refused by role like everyone else."""
    return {ANON: 401, PATIENT: 403, DOCTOR: 403, OTHER_PATIENT: 403, OTHER_DOCTOR: 403, ADMIN: ok}


def public(ok: Expect) -> dict[str, Expect]:
    return {caller: ok for caller in BEARER_CALLERS}


def signed(ok: Expect, code: str) -> dict[str, Expect]:
    """Only the signature opens it: no bearer token does, another object's signature does not."""
    return {**{caller: (403, code) for caller in (*BEARER_CALLERS, SIGNED_OTHER)}, SIGNED: ok}


def _own(name: str, key: str | None = None, **state: Any) -> Any:
    """`returns`: the answer names the setup's object `name` (as `key`, default the same name), plus `state`."""
    return lambda objects: {key or name: objects[name], **state}


def _video(state: str) -> Any:
    return _own("session_id", video_permission_state=state)


def _message(_: o.Objects) -> dict[str, Any]:
    return {"client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "How are you feeling?"}


def _png_form(_: o.Objects) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", PNG_BYTES, filename="scan.png", content_type="image/png")
    return form


def _scoped_png_form(objects: o.Objects) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("scope_type", "SESSION")
    form.add_field("scope_id", objects["session_id"])
    form.add_field("file", PNG_BYTES, filename="scan.png", content_type="image/png")
    return form


PNG_DECLARED = {"filename": "scan.png", "content_type": "image/png", "size_bytes": len(PNG_BYTES)}
# Each party stamps the other's one message (its own is not its to stamp): {"updated": 1}.
RECEIPTS = {"body": lambda objects: {"message_ids": objects["message_ids"]}, "returns": {"updated": 1}}
REPORT_INIT = {"original_filename": "blood.pdf", "mime_type": "application/pdf", "size_bytes": "4000"}
A = P + "/admin"
FOLLOWUP = P + "/followups/{followup_id}"
REPLY = P + "/doctors/me/reviews/{review_id}/reply"
CHECKOUT = P + "/payments/local/checkout/{order_id}"

# (method, canonical path) → Case, for every route whose path carries an object id.
TABLE: dict[tuple[str, str], Case] = {
    # --- doctors, catalogs, community: public objects ---
    ("GET", P + "/doctors/slug/{slug}"): Case(o.doctor_profile, public(200)),
    ("GET", P + "/doctors/{doctor_id}"): Case(o.doctor_profile, public(200)),
    ("GET", P + "/doctors/{doctor_id}/reviews"): Case(o.doctor_profile, public(200)),
    ("POST", P + "/doctors/{doctor_id}/favourite"): Case(
        o.doctor_profile, any_patient(200), body={"action": "add"},
        why="the doctor is public and the favourite row is the calling patient's own: any patient may add one"),
    ("PATCH", P + "/doctors/{doctor_id}"): Case(
        o.doctor_profile, admin_only(200), body={"rate_per_minute": 700},
        why="admin only: the doctor edits their own profile through /doctors/me/profile, never this route"),
    ("GET", P + "/medicines/{medicine_id}"): Case(o.medicine, public(200)),
    ("GET", P + "/lab-tests/catalog/{test_id}"): Case(o.lab_test, public(200)),
    ("GET", P + "/community/articles/{article_id}"): Case(o.article, public(200)),
    ("GET", P + "/community/events/{event_id}"): Case(o.event, public(200)),
    ("GET", P + "/avatars/{kind}/{owner_id}/{file}"): Case(
        o.avatar, public(302),
        why="public by design (avatar_url is shown to the other party and in listings): the random file name "
            "is the key, and the redirect is to a short-lived read URL of that name only"),

    # --- sessions ---
    ("GET", S): Case(o.ongoing, either(200), returns=_own("session_id", "id")),
    ("POST", S + "/accept"): Case(o.requested, doctor_only(200), returns=_own("session_id", status="ONGOING")),
    ("POST", S + "/reject"): Case(o.requested, doctor_only(200), returns=_own("session_id", status="REJECTED")),
    ("POST", S + "/end"): Case(o.ongoing, either(200), body={"reason": "consultation_complete"},
                               returns=_own("session_id", status="ENDED")),
    ("GET", S + "/token"): Case(o.ongoing, either(200)),

    # --- messages and the session websocket ---
    ("POST", S + "/messages"): Case(o.ongoing, either(201), body=_message),
    ("GET", S + "/messages"): Case(o.with_messages(delivered=False), either(200)),
    ("POST", S + "/messages/delivered"): Case(o.with_messages(delivered=False), either(200), **RECEIPTS),
    ("POST", S + "/messages/read"): Case(o.with_messages(delivered=True), either(200), **RECEIPTS),
    ("GET", S + "/ws"): Case(o.ongoing, either(101), ws=True,
                             why="refused before the upgrade, as plain HTTP (401/403/404 handshake answers)"),

    # --- video permission and call sessions ---
    ("GET", S + "/video-permission"): Case(o.ongoing, either(200), returns=_own("session_id")),
    ("POST", S + "/video-permission/allow"): Case(o.video("NOT_ALLOWED"), doctor_only(200),
                                                  returns=_video("ALLOWED_BY_DOCTOR")),
    ("POST", S + "/video-permission/accept"): Case(o.video("ALLOWED_BY_DOCTOR"), patient_only(200),
                                                   returns=_video("VIDEO_ON")),
    ("POST", S + "/video-permission/decline"): Case(o.video("ALLOWED_BY_DOCTOR"), patient_only(200),
                                                    returns=_video("DECLINED_BY_PATIENT")),
    ("POST", S + "/video-permission/toggle"): Case(o.video("VIDEO_ON"), patient_only(200), body={"enabled": False},
                                                   returns=_video("VIDEO_OFF")),
    ("POST", S + "/video-permission/revoke"): Case(o.video("ALLOWED_BY_DOCTOR"), either(200),
                                                   returns=_video("NOT_ALLOWED")),
    ("GET", P + "/connect/call-sessions/{call_id}"): Case(o.call_session, either(200), returns=_own("call_id", "id")),

    # --- files: session attachments, general attachments, blobs, reports, recordings ---
    ("POST", S + "/attachments"): Case(o.ongoing, either(201), body=PNG_DECLARED),
    ("POST", S + "/attachments/{attachment_id}/complete"): Case(
        o.session_attachment_pending, either(200, doctor=404), returns=_own("attachment_id", "id", status="UPLOADED"),
        why="only the uploader (the patient here) completes: the session's doctor is 404 like a stranger"),
    ("GET", S + "/attachments"): Case(o.attachment_uploaded, either(200)),
    ("POST", P + "/attachments/{attachment_id}/complete"): Case(
        o.attachment_pending, either(200, doctor=404), returns=_own("attachment_id", "id", status="UPLOADED"),
        why="uploader only; the session's doctor is 404"),
    ("POST", P + "/attachments/{attachment_id}/upload"): Case(
        o.attachment_direct, either(200, doctor=404), form=_png_form,
        returns=_own("attachment_id", "id", status="UPLOADED"),
        why="uploader only (the session's doctor is 404), decided before a byte of the file is read"),
    ("DELETE", P + "/attachments/{attachment_id}"): Case(
        o.attachment_uploaded, either(204, doctor=404), why="contract: owner → 204; the session's doctor is 404"),
    ("PUT", "/blobs/{container}/{name}"): Case(
        o.blob_write_url, signed(201, "AUTHENTICATION_FAILED"), raw=PNG_BYTES,
        headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "image/png"}),
    ("GET", "/blobs/{container}/{name}"): Case(o.blob_read_url, signed(200, "AUTHENTICATION_FAILED")),
    ("POST", S + "/reports/init"): Case(o.ended, patient_only(201), query=REPORT_INIT),
    ("POST", S + "/reports/{report_id}/complete"): Case(o.report_pending, patient_only(200),
                                                        returns=_own("report_id", status="UPLOADED")),
    ("GET", S + "/reports"): Case(o.report_uploaded, either(200), returns={"total": 1}),
    ("GET", S + "/reports/{report_id}"): Case(o.report_uploaded, either(200), returns=_own("report_id")),
    ("DELETE", S + "/reports/{report_id}"): Case(
        o.report_uploaded, either(200, doctor=(403, "NOT_REPORT_OWNER")), returns=_own("report_id", status="DELETED"),
        why="contract: uploader only, the session's doctor gets 403 (the one 403 for an existing object); "
            "a stranger doctor still gets 404"),
    ("POST", S + "/recordings"): Case(
        o.recording("ACTIVE"), either(200), returns=_own("recording_id", "id", status="ACTIVE"),
        why="an ACTIVE recording exists, so start answers with it (200, not 201) without calling LiveKit"),
    ("POST", S + "/recordings/{recording_id}/stop"): Case(
        o.recording("STOPPING"), either(200), returns=_own("recording_id", "id", status="STOPPING"),
        why="a repeated stop answers with the STOPPING recording, no LiveKit call"),
    ("GET", S + "/recordings"): Case(o.recording("ACTIVE"), either(200), returns={"total": 1}),

    # --- prescriptions and lab tests ---
    ("POST", S + "/prescription"): Case(o.ended, doctor_only(201), body=o.PRESCRIPTION),
    ("GET", S + "/prescription"): Case(o.prescription, either(200), returns=_own("session_id", "connect_session_id")),
    ("PUT", S + "/prescription"): Case(o.prescription, doctor_only(200), body=o.PRESCRIPTION, returns={"version": 2}),
    ("GET", S + "/prescription/pdf"): Case(o.prescription, either(200), why="the PDF is cached: nothing to render"),
    ("POST", S + "/lab-tests"): Case(o.ended, doctor_only(201), body=o.LAB_TESTS),
    ("GET", S + "/lab-tests"): Case(o.lab_tests, either(200), returns=_own("session_id", "connect_session_id")),
    ("PUT", S + "/lab-tests"): Case(o.lab_tests, doctor_only(200), body=o.LAB_TESTS, returns={"version": 2}),

    # --- reviews and follow-ups ---
    ("POST", S + "/review"): Case(o.ended, patient_only(201), body={"rating": 4.0, "comment": "Clear advice"}),
    ("POST", REPLY): Case(o.review(replied=False), doctor_only(201), body={"text": "Thank you"}),
    ("PUT", REPLY): Case(o.review(replied=True), doctor_only(200), body={"text": "Thank you again"}),
    ("DELETE", REPLY): Case(o.review(replied=True), doctor_only(204)),
    ("POST", P + "/doctors/me/sessions/{session_id}/review-reminder"): Case(
        o.ended_with_device, doctor_only(200), returns={"sent": True, "devices": 1},
        why="the patient has a device, so the owner's reminder is really sent"),
    ("POST", S + "/followup"): Case(o.ended, doctor_only(201), body={"scheduled_date": o.in_two_days()}),
    ("GET", S + "/followup"): Case(o.followup("PENDING_PATIENT"), either(200), returns=_own("followup_id", "id")),
    ("GET", FOLLOWUP): Case(o.followup("PENDING_PATIENT"), either(200), returns=_own("followup_id", "id")),
    ("POST", FOLLOWUP + "/respond"): Case(o.followup("PENDING_PATIENT"), patient_only(200), body={"action": "accept"},
                                          returns=_own("followup_id", "id", status="ACCEPTED")),
    ("POST", FOLLOWUP + "/reschedule-response"): Case(
        o.followup("RESCHEDULE_REQUESTED"), doctor_only(200), body={"accept": False},
        returns=_own("followup_id", "id", status="PENDING_PATIENT")),
    ("POST", FOLLOWUP + "/cancel"): Case(o.followup("PENDING_PATIENT"), either(200), body={"reason": "Feeling better"},
                                         returns=_own("followup_id", "id", status="CANCELLED")),

    # --- payments ---
    ("GET", P + "/payments/cashfree/orders/{order_id}/verify"): Case(
        o.payment_order, patient_only(200), returns=_own("order_id", status="PENDING")),
    ("GET", CHECKOUT): Case(o.payment_order, signed(200, "INVALID_SIGNATURE")),
    ("POST", CHECKOUT): Case(o.payment_order, signed(303, "INVALID_SIGNATURE"), form={"action": "pay"},
                             why="post/redirect/get: a settled order answers 303 to its page"),

    # --- admin ---
    ("POST", A + "/users/{user_id}/wallet/adjustments"): Case(
        o.patient_account, admin_only(201), body={"amount": 5000, "reason": "Goodwill credit"}),
    ("GET", A + "/users/{user_id}"): Case(o.patient_account, admin_only(200), returns=_own("user_id", "id")),
    ("PATCH", A + "/users/{user_id}"): Case(o.patient_account, admin_only(200), body={"full_name": "Renamed Patient"}),
    ("PATCH", A + "/users/{user_id}/status"): Case(o.patient_account, admin_only(200), body={"is_active": False},
                                                   returns=_own("user_id", "id", is_active=False)),
    ("GET", A + "/users/{user_id}/analytics/overview"): Case(o.patient_account, admin_only(200)),
    ("GET", A + "/users/{user_id}/analytics/sessions"): Case(o.patient_account, admin_only(200)),
    ("GET", A + "/categories/{category_id}"): Case(o.category, admin_only(200)),
    ("PATCH", A + "/categories/{category_id}"): Case(o.category, admin_only(200), body={"description": "Updated"}),
    ("DELETE", A + "/categories/{category_id}"): Case(o.category, admin_only(204)),
    ("GET", A + "/wallet-offers/{offer_id}"): Case(o.offer, admin_only(200)),
    ("PATCH", A + "/wallet-offers/{offer_id}"): Case(o.offer, admin_only(200), body={"title": "Recharge 500 get 75"}),
    ("DELETE", A + "/wallet-offers/{offer_id}"): Case(o.offer, admin_only(204)),
    ("GET", A + "/articles/{article_id}"): Case(o.article, admin_only(200)),
    ("PATCH", A + "/articles/{article_id}"): Case(o.article, admin_only(200), body={"title": "Sleep better"}),
    ("DELETE", A + "/articles/{article_id}"): Case(o.article, admin_only(204)),
    ("GET", A + "/events/{event_id}"): Case(o.event, admin_only(200)),
    ("PATCH", A + "/events/{event_id}"): Case(o.event, admin_only(200), body={"title": "Yoga evening"}),
    ("DELETE", A + "/events/{event_id}"): Case(o.event, admin_only(204)),
}

# Routes whose path parameter names no object anyone owns: (method, path) → why. Every other route
# with a path parameter must be in TABLE.
NOT_OBJECTS: dict[tuple[str, str], str] = {
    ("GET", P + "/docs/assets/{file}"): "the docs page's static files (Swagger UI), the same for everyone",
}

# Routes that take an object id in the body or the query instead of the path: the same matrix, not
# found by the route walk (so listed here by hand). (method, path, label, Case).
BODY_ID_CASES: list[tuple[str, str, str, Case]] = [
    ("POST", P + "/connect/call-sessions", "connect_session_id", Case(
        o.ongoing, either(201), body=lambda objects: {"connect_session_id": objects["session_id"], "call_type": "VIDEO"})),
    ("POST", P + "/reviews", "session_id", Case(
        o.ended, patient_only(201), body=lambda objects: {"session_id": objects["session_id"], "rating": 5})),
    ("POST", P + "/followups", "parent_session_id", Case(
        o.ended, doctor_only(201),
        body=lambda objects: {"parent_session_id": objects["session_id"], "scheduled_date": o.in_two_days()})),
    ("POST", P + "/attachments/init", "SESSION scope_id", Case(
        o.ongoing, either(201), body=lambda objects: {"scope_type": "SESSION", "scope_id": objects["session_id"],
                                                      **PNG_DECLARED})),
    ("POST", P + "/attachments", "SESSION scope_id (multipart)", Case(o.ongoing, either(201), form=_scoped_png_form)),
    ("GET", P + "/attachments", "SESSION scope_id", Case(
        o.attachment_uploaded, either(200),
        query=lambda objects: {"scope_type": "SESSION", "scope_id": objects["session_id"]})),
    ("GET", P + "/attachments", "REPORT scope_id", Case(
        o.report_uploaded, either(200), query=lambda objects: {"scope_type": "REPORT", "scope_id": objects["report_id"]})),
    ("GET", P + "/attachments", "PROFILE scope_id", Case(
        o.attachment_uploaded, either(200, doctor=404),
        query=lambda objects: {"scope_type": "PROFILE", "scope_id": str(objects.parties.patient["id"])},
        why="a PROFILE scope is its owner's own space: anyone else, the patient's own doctor included, gets 404")),
]


def resolve(value: Value, objects: o.Objects) -> Any:
    return value(objects) if callable(value) else value

