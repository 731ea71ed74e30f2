"""The admin console's accounts (patients and doctors): list query, status body, shapes out.

A PATCH of an account takes the fields, and follows the rules, of that account's own PATCH
(schemas.users.UserUpdateIn for a patient, schemas.doctors.ProfileUpdate for a doctor)."""
from __future__ import annotations

from typing import Any, Mapping

from marshmallow import Schema, fields, validate

from domain.admin_users import MANAGED_ROLES
from domain.roles import Role
from schemas import doctors, users
from schemas.common import BaseSchema, PageQuery, Str
from schemas.doctors_out import DoctorAdminOut
from schemas.out import OutSchema, one_of


class AdminUsersQuery(PageQuery):
    q = Str(min_len=1, max_len=100)
    role = Str(validate=[validate.OneOf([str(r) for r in MANAGED_ROLES])])
    is_active = fields.Boolean()


class StatusBody(BaseSchema):
    is_active = fields.Boolean(required=True)


def update_schema(role: str) -> type[Schema]:
    return users.UserUpdateIn if role == Role.CLIENT else doctors.ProfileUpdate


def clean_update(role: str, changes: dict[str, Any]) -> dict[str, Any]:
    return changes if role == Role.CLIENT else doctors.clean_profile(changes)


def account_item(a: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the console's list: who, how to reach them, whether they may log in."""
    return {"id": a["id"], "role": a["role"], "full_name": a["full_name"], "email": a["email"], "phone": a["phone"],
            "is_active": a["is_active"], "created_at": a["created_at"]}


def account_out(role: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The account as its owner sees it (UserOut; a doctor's admin view), with role and activity."""
    if role == Role.CLIENT:
        return {**users.user_out(row), "role": str(Role.CLIENT), "is_active": row["is_active"],
                "created_at": row["created_at"], "updated_at": row["updated_at"]}
    return {**doctors.doctor_admin_out(row), "role": str(Role.DOCTOR)}


class AccountItemOut(OutSchema):
    id = fields.UUID()
    role = one_of(MANAGED_ROLES)
    full_name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True, metadata={"description": "Patients only"})
    is_active = fields.Boolean()
    created_at = fields.DateTime()


class PatientAccountOut(users.UserOut):
    """A patient as the admin sees them: UserOut with role and activity."""
    role = one_of((Role.CLIENT,))
    is_active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class DoctorAccountOut(DoctorAdminOut):
    """A doctor as the admin sees them."""
    role = one_of((Role.DOCTOR,))
