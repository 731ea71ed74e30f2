"""Doctor rules, pure: allowed specialities and languages, slugs, presence, dashboard arithmetic.

The allowed lists live here and nowhere else; schemas validate against them and the demo seed
uses them.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from enum import StrEnum
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from domain.avatars import system_avatar_url

SPECIALITIES = (
    "General Medicine", "Urology", "Dermatology", "Gynecology", "Pediatrics", "Cardiology",
    "Orthopedics", "Psychiatry", "ENT", "Gastroenterology", "Neurology", "Endocrinology",
    "Pulmonology", "Ophthalmology", "Nephrology", "Oncology", "Sexology", "Nutrition & Dietetics",
    "Dentistry", "Physiotherapy", "Ayurveda", "Homeopathy",
)
LANGUAGES = (
    "English", "Hindi", "Bengali", "Telugu", "Marathi", "Tamil", "Urdu", "Gujarati", "Kannada",
    "Malayalam", "Odia", "Punjabi", "Assamese", "Konkani", "Sindhi", "Kashmiri", "Nepali",
)
_SPECIALITY_BY_KEY = {s.casefold(): s for s in SPECIALITIES}
_LANGUAGE_BY_KEY = {s.casefold(): s for s in LANGUAGES}

class Presence(StrEnum):
    ONLINE = "ONLINE"
    BUSY = "BUSY"      # set and cleared by the server: a session of theirs is ONGOING
    OFFLINE = "OFFLINE"


ONLINE, OFFLINE, BUSY = Presence.ONLINE, Presence.OFFLINE, Presence.BUSY
PRESENCE_STATES = tuple(Presence)
# What a doctor may ask for; BUSY belongs to the server (a session went ONGOING).
SETTABLE_PRESENCE = {"online": ONLINE, "offline": OFFLINE}


def canonical_speciality(value: str) -> str | None:
    """The allowed spelling of a speciality ("urology" → "Urology"), or None if not allowed."""
    return _SPECIALITY_BY_KEY.get(value.strip().casefold())


def canonical_language(value: str) -> str | None:
    return _LANGUAGE_BY_KEY.get(value.strip().casefold())


# --- slugs --------------------------------------------------------------------------------

def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def slug_base(full_name: str, speciality: str) -> str:
    """"Dr. Ankit Shah" + "Urology" → "dr-ankit-shah-urology" (a name without Latin letters → "doctor-...")."""
    name = slugify(full_name)[:80].strip("-") or "doctor"
    return f"{name}-{slugify(speciality)}".strip("-")


def slug_candidate(base: str, attempt: int) -> str:
    """Attempt 1 is the base itself; then base-2, base-3, ..."""
    return base if attempt <= 1 else f"{base}-{attempt}"


def next_slug_attempt(base: str, taken: Iterable[str]) -> int:
    """The attempt after the highest already taken, given the slugs in use that are `base` or
    `base-<n>` ("dr-x" and "dr-x-3" taken → 4)."""
    numbers = [1 if slug == base else int(slug.rsplit("-", 1)[1]) for slug in taken]
    return max(numbers, default=0) + 1


# --- admin changes ------------------------------------------------------------------------

def admin_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """What an admin's update writes: a deactivated doctor also goes OFFLINE (takes no requests)."""
    out = dict(changes)
    if out.get("is_active") is False:
        out["presence_status"] = OFFLINE
    return out


# --- presence -----------------------------------------------------------------------------

def next_presence(current: str, wanted: str, *, has_ongoing_session: bool) -> str:
    """The presence a doctor ends up with after asking for `wanted` (ONLINE or OFFLINE).

    - Going OFFLINE always works, even while BUSY: the doctor stops receiving new requests; the
      ongoing session is not touched, and when it ends the server's BUSY → ONLINE step (which only
      moves a BUSY doctor) leaves them OFFLINE.
    - Asking for ONLINE while BUSY keeps BUSY: BUSY is set and cleared by the server only.
    - Asking for ONLINE while a session of theirs is ONGOING (they went offline mid-session) gives
      BUSY, so no new request reaches a doctor who is in a consultation.
    """
    if wanted == OFFLINE:
        return OFFLINE
    if current == BUSY or has_ongoing_session:
        return BUSY
    return ONLINE


def presence_on_end(current: str, *, still_ongoing: bool) -> str:
    """A session ended: BUSY → ONLINE once the doctor has no other ongoing session. (Its start,
    ONLINE → BUSY and never over a doctor who chose OFFLINE, is one conditional UPDATE:
    storage.doctors.mark_busy.)"""
    return ONLINE if current == BUSY and not still_ongoing else current


def is_online(presence_status: str) -> bool:
    """ONLINE and BUSY doctors are at work; only OFFLINE is "not online"."""
    return presence_status != OFFLINE


def availability(doctor: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "is_online": is_online(doctor["presence_status"]),
        "presence_status": doctor["presence_status"],
        "chat_enabled": doctor["chat_enabled"],
        "call_enabled": doctor["call_enabled"],
    }


def avatar_url(doctor: Mapping[str, Any]) -> str:
    if doctor.get("avatar_source") == "user" and doctor.get("avatar_url"):
        return doctor["avatar_url"]
    return system_avatar_url(doctor["id"], None)


# --- reviews and dashboard ----------------------------------------------------------------

def mask_patient_name(patient_id: uuid.UUID | str) -> str:
    """"User****3d3": the last three hex digits of the patient id, never the name."""
    return "User****" + str(patient_id).replace("-", "")[-3:]


def duration_display(seconds: float | None) -> str | None:
    """2227.4 → "37m 7s"; 3725 → "1h 2m 5s"; 45 → "0m 45s"."""
    if seconds is None:
        return None
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s"


def session_duration(session: Mapping[str, Any], now: dt.datetime) -> float | None:
    """Seconds from accept to end (or to now while ONGOING); None if it never started."""
    started = session.get("started_at")
    if started is None:
        return None
    if session.get("duration_seconds") is not None:
        return float(session["duration_seconds"])
    end = session.get("ended_at") or now
    return max(0.0, (end - started).total_seconds())


def day_bounds(now: dt.datetime, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the calendar day containing `now` in `zone`, as aware datetimes (DST-safe)."""
    local_day = now.astimezone(zone).date()
    return date_range_bounds(local_day, local_day, zone)


def date_range_bounds(first: dt.date, last: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[start of `first`, start of the day after `last`) in `zone`."""
    start = dt.datetime.combine(first, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start, end
