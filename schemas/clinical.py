"""Prescription and lab-test recommendation bodies (reference: Connect Now v2 — Post-Session)."""
from __future__ import annotations

from typing import Any

from marshmallow import fields, post_load, validate

from schemas.common import BaseSchema, Str
from schemas.out import OutSchema, one_of


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
    # The provisional diagnosis and advice of the Telemedicine Practice Guidelines' prescription format.
    diagnosis = Str(load_default=None, allow_none=True, max_len=500)
    advice = Str(load_default=None, allow_none=True, max_len=2000)

    @post_load
    def blanks(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return _blank_to_none(data, "notes", "diagnosis", "advice")


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
    return {**_common(row), "medications": row["medications"], "diagnosis": row["diagnosis"], "advice": row["advice"],
            "pdf_generated_at": row["pdf_generated_at"] if row["pdf_version"] == row["version"] else None}


def lab_tests_out(row: dict[str, Any]) -> dict[str, Any]:
    return {**_common(row), "recommendations": row["recommendations"]}


# --- answers (schemas.out) ----------------------------------------------------------------

class MedicationOut(OutSchema):
    name = fields.String()
    dosage = fields.String()
    duration = fields.String(allow_none=True)
    instructions = fields.String(allow_none=True)


class LabTestOut(OutSchema):
    test_name = fields.String()
    priority = one_of(("routine", "urgent"))
    instructions = fields.String(allow_none=True)


class _ClinicalOut(OutSchema):
    id = fields.UUID()
    connect_session_id = fields.UUID()
    doctor_id = fields.UUID()
    patient_id = fields.UUID()
    notes = fields.String(allow_none=True)
    version = fields.Integer(metadata={"description": "1, then + 1 at each replacement"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PrescriptionOut(_ClinicalOut):
    medications = fields.List(fields.Nested(MedicationOut))
    diagnosis = fields.String(allow_none=True)
    advice = fields.String(allow_none=True)
    pdf_generated_at = fields.DateTime(allow_none=True, metadata={"description": "When this version's PDF was made"})


class LabTestsOut(_ClinicalOut):
    recommendations = fields.List(fields.Nested(LabTestOut))


class PrescriptionPdfOut(OutSchema):
    download_url = fields.String(metadata={"description": "A read URL of the PDF"})
    expires_in = fields.Integer(metadata={"description": "Seconds (600)"})
    generated_at = fields.DateTime()
