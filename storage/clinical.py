"""Queries for prescriptions (with their cached PDF) and lab-test recommendations.

One record of each per session (unique session_id): a concurrent second create inserts nothing.
A full replacement bumps `version`, which invalidates the cached PDF (valid while pdf_version == version).
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import doctors, lab_test_recommendations, prescriptions, users

Row = dict[str, Any]
TABLES = {"prescription": prescriptions, "lab_tests": lab_test_recommendations}
ITEMS = {"prescription": "medications", "lab_tests": "recommendations"}


async def get_record(conn: AsyncConnection, kind: str, session_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    table = TABLES[kind]
    query = sa.select(table).where(table.c.session_id == session_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).mappings().first()
    return dict(row) if row is not None else None


async def create_record(conn: AsyncConnection, kind: str, session: Row, items: list[dict], notes: str | None,
                        now: dt.datetime) -> Row | None:
    """Insert the session's record; None when one already exists."""
    table = TABLES[kind]
    query = (pg_insert(table)
             .values(session_id=session["id"], doctor_id=session["doctor_id"], patient_id=session["patient_id"],
                     notes=notes, created_at=now, updated_at=now, **{ITEMS[kind]: items})
             .on_conflict_do_nothing(index_elements=[table.c.session_id])
             .returning(table))
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row is not None else None


async def replace_record(conn: AsyncConnection, kind: str, record_id: uuid.UUID, items: list[dict],
                         notes: str | None, now: dt.datetime) -> Row:
    table = TABLES[kind]
    values: dict[str, Any] = {ITEMS[kind]: items, "notes": notes, "version": table.c.version + 1, "updated_at": now}
    if table is prescriptions:
        values.update(pdf_blob=None, pdf_version=None, pdf_generated_at=None)
    query = sa.update(table).where(table.c.id == record_id).values(**values).returning(table)
    return dict((await conn.execute(query)).mappings().one())


async def set_pdf(conn: AsyncConnection, prescription_id: uuid.UUID, *, blob_name: str, version: int,
                  now: dt.datetime) -> None:
    await conn.execute(sa.update(prescriptions).where(prescriptions.c.id == prescription_id)
                       .values(pdf_blob=blob_name, pdf_version=version, pdf_generated_at=now))


async def parties(conn: AsyncConnection, doctor_id: uuid.UUID, patient_id: uuid.UUID) -> tuple[Row, Row]:
    """The doctor and patient rows a prescription document names."""
    doctor = (await conn.execute(sa.select(doctors.c.full_name, doctors.c.degrees, doctors.c.registration_number,
                                           doctors.c.speciality_category).where(doctors.c.id == doctor_id))
              ).mappings().one()
    patient = (await conn.execute(sa.select(users.c.full_name, users.c.age, users.c.sex)
                                  .where(users.c.id == patient_id))).mappings().one()
    return dict(doctor), dict(patient)
