"""Avatars: uploaded ones (the image rules and their stable app URL) and system ones (DiceBear URLs
chosen by sex, seeded by a stable id: no personal data in the URL)."""
from __future__ import annotations

import functools
import hashlib
import re
import uuid
from urllib.parse import urlencode

from domain.errors import ValidationFailed
from domain.files import AVATAR_TYPES, EXTENSIONS, sniff_type
from domain.roles import Role

DICEBEAR = "https://api.dicebear.com/9.x/avataaars/svg"
_TOPS = {
    "male": "shortCurly,shortFlat,shortRound,shortWaved,theCaesar",
    "female": "longButNotTooLong,straight01,straight02,curvy,bob",
}
_NEUTRAL_TOPS = "hat,winterHat1,shortFlat,bob"


# `avatar_source`: uploaded by the account ("user") or the DiceBear default ("system").
USER_SOURCE, SYSTEM_SOURCE = "user", "system"
# The folder of each role's avatars in the avatars container, and in the stable URL.
_KIND = {Role.CLIENT: "users", Role.DOCTOR: "doctors"}
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_STABLE_PATH = re.compile(r"/api/v2/avatars/((?:users|doctors)/" + _UUID + r"/[0-9a-f]{32}\.(?:jpg|png|webp))$")


def image_type(head: bytes) -> str:
    """An avatar is a JPEG, PNG or WebP image, by its first bytes."""
    content_type = sniff_type(head, AVATAR_TYPES)
    if content_type is None:
        raise ValidationFailed.single("body", "file", "Avatar must be a JPEG, PNG or WebP image",
                                      "unsupported_image")
    return content_type


def blob_name(role: str, owner_id: uuid.UUID, content_type: str, upload_id: uuid.UUID) -> str:
    """A fresh random name per upload (`upload_id`): the old URL stops working once replaced."""
    return f"{_KIND[Role(role)]}/{owner_id}/{upload_id.hex}.{EXTENSIONS[content_type]}"


def stable_url(base_url: str, blob: str) -> str:
    """The profile's link: the app redirects it to a fresh short-lived read URL."""
    return f"{base_url}/api/v2/avatars/{blob}"


def blob_of(url: str | None) -> str | None:
    """The blob behind one of our stable avatar URLs (None for anything else)."""
    match = _STABLE_PATH.search(url or "")
    return match.group(1) if match else None


def _seed(subject_id: uuid.UUID | str) -> str:
    return hashlib.sha256(str(subject_id).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=65_536)  # a pure function of its arguments, on every listing's hot path
def system_avatar_url(subject_id: uuid.UUID | str, sex: str | None) -> str:
    params = {"seed": _seed(subject_id), "style": "circle", "top": _TOPS.get(sex or "", _NEUTRAL_TOPS)}
    if sex == "male":
        params["facialHairProbability"] = "30"
    else:
        params["facialHairProbability"] = "0"
    return f"{DICEBEAR}?{urlencode(params, safe=',')}"


def initials(name: str | None) -> str:
    """"Rahul Sharma" → "RS"; "Rahul" → "RA" (as in the reference); nothing → "?"."""
    parts = [p for p in (name or "").replace(".", " ").split() if p]
    if not parts:
        return "?"
    if len(parts) == 1:
        return parts[0][:2].upper()
    return (parts[0][0] + parts[-1][0]).upper()


def patient_preview(user: dict) -> dict:
    """The `patient` object of session requests and session detail (reference shape)."""
    avatar = user.get("avatar_url") if user.get("avatar_source") == "user" else None
    return {
        "user_id": user["id"],
        "name": user.get("full_name"),
        "age": user.get("age"),
        "sex": user.get("sex"),
        "initials": initials(user.get("full_name")),
        "avatar_url": avatar or system_avatar_url(user["id"], user.get("sex")),
    }
