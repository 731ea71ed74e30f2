"""Who a token speaks for. The one definition of the roles (JWT `role` claim, `@requires`, push
recipients)."""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CLIENT = "client"   # a patient
    DOCTOR = "doctor"
    ADMIN = "admin"
