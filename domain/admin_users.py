"""Rules of the admin console's account search and changes (pure)."""
from __future__ import annotations

import re

from domain.roles import Role

# The accounts /admin/users manages: patients and doctors (admins are not managed through it).
MANAGED_ROLES = (Role.CLIENT, Role.DOCTOR)
# A query that could be a phone number: digits and the separators people type ("+91 98123-45678").
_PHONE_LIKE = re.compile(r"^[\d\s+\-().]+$")
MIN_PHONE_DIGITS = 3


def phone_digits(q: str) -> str | None:
    """The digits to look for in stored phones (E.164: "+" then digits), or None when `q` does not
    look like part of a phone number ("98123" and "+91 98123" do; "Rahul 2" does not)."""
    if not _PHONE_LIKE.match(q):
        return None
    digits = re.sub(r"\D", "", q)
    return digits if len(digits) >= MIN_PHONE_DIGITS else None

