"""Pure rules of the patient profile: completeness and BMI."""
from __future__ import annotations

from typing import Any, Mapping

SEXES = ("male", "female", "other", "prefer_not_to_say")
# The fields whose share makes up `profile_completion`; the avatar counts when the user uploaded one.
COMPLETION_FIELDS = ("full_name", "email", "age", "sex", "height_cm", "weight_kg")
_COMPLETION_TOTAL = len(COMPLETION_FIELDS) + 1


def is_profile_completed(user: Mapping[str, Any]) -> bool:
    """Sessions and categories need sex AND age (a doctor needs them)."""
    return user.get("sex") is not None and user.get("age") is not None


def profile_completion(user: Mapping[str, Any]) -> float:
    filled = sum(1 for name in COMPLETION_FIELDS if user.get(name) not in (None, ""))
    if user.get("avatar_source") == "user":
        filled += 1
    return round(filled / _COMPLETION_TOTAL, 2)


def bmi(height_cm: float | None, weight_kg: float | None) -> float | None:
    if not height_cm or not weight_kg:
        return None
    metres = height_cm / 100
    return round(weight_kg / (metres * metres), 1)
