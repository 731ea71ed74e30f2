"""System avatars: DiceBear URLs chosen by sex, seeded by a stable id (no personal data in the URL)."""
from __future__ import annotations

import hashlib
import uuid
from urllib.parse import urlencode

DICEBEAR = "https://api.dicebear.com/9.x/avataaars/svg"
_TOPS = {
    "male": "shortCurly,shortFlat,shortRound,shortWaved,theCaesar",
    "female": "longButNotTooLong,straight01,straight02,curvy,bob",
}
_NEUTRAL_TOPS = "hat,winterHat1,shortFlat,bob"


def _seed(subject_id: uuid.UUID | str) -> str:
    return hashlib.sha256(str(subject_id).encode()).hexdigest()[:16]


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
