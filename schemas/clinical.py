"""Prescription and lab-test recommendation bodies (reference: Connect Now v2 — Post-Session)."""
from __future__ import annotations

from typing import Any

from marshmallow import fields, post_load, validate

from schemas.common import BaseSchema, Str


def _blank_to_none(data: dict[str, Any], *names: str) -> dict[str, Any]:
    for name in names:
        if data.get(name) == "":
            data[name] = None
    return data


class MedicationIn(BaseSchema):
    name = Str(required=True, min_len=1, max_len=200)
    dosage = Str(required=True, min_len=1, max_len=200)
    duration = Str(load_default=None, allow_none=True, max_len=100)
    instructions = Str(load_default=None, allow_none=True, max_len=500)

    @post_load
    def blanks(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return _blank_to_none(data, "duration", "instructions")


class PrescriptionIn(BaseSchema):
    medications = fields.List(fields.Nested(MedicationIn), required=True, validate=validate.Length(min=1, max=50))
    notes = Str(load_default=None, allow_none=True, max_len=2000)

    @post_load
    def blanks(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return _blank_to_none(data, "notes")


class LabTestIn(BaseSchema):
    test_name = Str(required=True, min_len=1, max_len=200)
    priority = fields.String(required=True, validate=validate.OneOf(("routine", "urgent")))
    instructions = Str(load_default=None, allow_none=True, max_len=500)

    @post_load
    def blanks(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return _blank_to_none(data, "instructions")


class LabTestsIn(BaseSchema):
    recommendations = fields.List(fields.Nested(LabTestIn), required=True, validate=validate.Length(min=1, max=50))
    notes = Str(load_default=None, allow_none=True, max_len=2000)

    @post_load
    def blanks(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return _blank_to_none(data, "notes")


def _common(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "connect_session_id": row["session_id"],
        "doctor_id": row["doctor_id"],
        "patient_id": row["patient_id"],
        "notes": row["notes"],
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def prescription_out(row: dict[str, Any]) -> dict[str, Any]:
    return {**_common(row), "medications": row["medications"],
            "pdf_generated_at": row["pdf_generated_at"] if row["pdf_version"] == row["version"] else None}


def lab_tests_out(row: dict[str, Any]) -> dict[str, Any]:
    return {**_common(row), "recommendations": row["recommendations"]}
