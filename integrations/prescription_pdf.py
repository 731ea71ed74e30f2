"""Prescription PDFs (fpdf2): what India's Telemedicine Practice Guidelines ask a prescription to carry.

Doctor's name, qualifications and registration number; patient's name, age and sex; the date;
the provisional diagnosis; each medicine with dosage, duration and instructions; advice; notes; the
platform. Text is shaped with
HarfBuzz (uharfbuzz) so Devanagari renders correctly, DejaVu Sans carries Latin text and ₹, and
Noto Sans Devanagari is the fallback for Hindi. Fonts come from Debian's fonts-dejavu-core and
fonts-noto-core, found at run time. Rendering is CPU work: call `render` in an executor.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from fpdf import FPDF
from fpdf.fonts import FontFace

PLATFORM = "Allign"
FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
FONT_FILES = {
    ("DejaVu", ""): "DejaVuSans.ttf",
    ("DejaVu", "B"): "DejaVuSans-Bold.ttf",
    ("NotoDeva", ""): "NotoSansDevanagari-Regular.ttf",
    ("NotoDeva", "B"): "NotoSansDevanagari-Bold.ttf",
}
_SEX = {"male": "Male", "female": "Female", "other": "Other", "prefer_not_to_say": "Not stated"}
INK, MUTED, ACCENT, RULE = (33, 37, 41), (99, 110, 120), (13, 110, 110), (200, 208, 214)


class FontsMissing(RuntimeError):
    """The fonts prescriptions need are not installed."""


@dataclass(frozen=True)
class Medication:
    name: str
    dosage: str
    duration: str | None = None
    instructions: str | None = None


@dataclass(frozen=True)
class PrescriptionDocument:
    doctor_name: str
    qualifications: Sequence[str]
    registration_number: str | None
    speciality: str | None
    patient_name: str | None
    patient_age: int | None
    patient_sex: str | None
    date: dt.date
    issued_at: dt.datetime
    consultation_id: str
    prescription_id: str
    version: int
    medications: Sequence[Medication]
    notes: str | None = None
    diagnosis: str | None = None   # provisional diagnosis
    advice: str | None = None      # advice to the patient (diet, activity, when to come back)
    platform: str = PLATFORM
    extra: dict = field(default_factory=dict)


@functools.lru_cache(maxsize=1)
def font_paths() -> dict[tuple[str, str], Path]:
    found: dict[tuple[str, str], Path] = {}
    for key, filename in FONT_FILES.items():
        for base in FONT_DIRS:
            matches = sorted(base.rglob(filename)) if base.is_dir() else []
            if matches:
                found[key] = matches[0]
                break
    missing = [name for key, name in FONT_FILES.items() if key not in found]
    if missing:
        font_paths.cache_clear()
        raise FontsMissing("Prescription PDFs need the fonts-dejavu-core and fonts-noto-core packages "
                           f"(missing: {', '.join(missing)})")
    return found


def _display_date(value: dt.date) -> str:
    return f"{value.day} {value:%B %Y}"


class _Prescription(FPDF):
    def __init__(self, doc: PrescriptionDocument) -> None:
        super().__init__(format="A4")
        self.doc = doc
        for (family, style), path in font_paths().items():
            self.add_font(family, style, str(path))
        self.set_fallback_fonts(["NotoDeva"], exact_match=False)
        self.set_text_shaping(True)
        self.set_margins(16, 16, 16)
        self.set_auto_page_break(True, margin=24)
        self.set_title(f"Prescription {doc.prescription_id}")
        self.set_author(doc.doctor_name)
        self.set_creator(doc.platform)

    def header(self) -> None:
        self.set_text_color(*ACCENT)
        self.set_font("DejaVu", "B", 20)
        self.cell(90, 10, self.doc.platform)
        self.set_font("DejaVu", "", 10)
        self.set_text_color(*MUTED)
        self.cell(0, 10, "Telemedicine consultation · Prescription", align="R", new_x="LMARGIN", new_y="NEXT")
        self._rule()

    def footer(self) -> None:
        self.set_y(-18)
        self.set_font("DejaVu", "", 7.5)
        self.set_text_color(*MUTED)
        self.multi_cell(0, 3.6, f"Issued through {self.doc.platform} under the Telemedicine Practice Guidelines "
                        "(India, 2020). Valid with the prescribing doctor's registration number. "
                        f"Page {self.page_no()}/{{nb}}", align="C", new_x="LMARGIN", new_y="NEXT")

    def _rule(self) -> None:
        self.set_draw_color(*RULE)
        self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
        self.ln(4)

    def _label_value(self, label: str, value: str, width: float) -> None:
        self.set_font("DejaVu", "", 8)
        self.set_text_color(*MUTED)
        x, y = self.get_x(), self.get_y()
        self.cell(width, 4, label.upper())
        self.set_xy(x, y + 4.5)
        self.set_font("DejaVu", "B", 10.5)
        self.set_text_color(*INK)
        self.multi_cell(width - 2, 5.5, value or "—")
        self.set_xy(x + width, y)

    def doctor_block(self) -> None:
        doc = self.doc
        self.set_text_color(*INK)
        self.set_font("DejaVu", "B", 14)
        self.cell(0, 7, doc.doctor_name, new_x="LMARGIN", new_y="NEXT")
        self.set_font("DejaVu", "", 10)
        degrees = ", ".join(q for q in doc.qualifications if q) or "—"
        self.cell(0, 5.5, f"Qualifications: {degrees}", new_x="LMARGIN", new_y="NEXT")
        if doc.speciality:
            self.cell(0, 5.5, doc.speciality, new_x="LMARGIN", new_y="NEXT")
        self.cell(0, 5.5, f"Registration No.: {doc.registration_number or '—'}", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)
        self._rule()

    def patient_block(self) -> None:
        doc = self.doc
        width = (self.w - self.l_margin - self.r_margin) / 4
        top = self.get_y()
        self._label_value("Patient", doc.patient_name or "—", width * 1.4)
        self._label_value("Age", f"{doc.patient_age} years" if doc.patient_age is not None else "—", width * 0.8)
        self._label_value("Sex", _SEX.get(doc.patient_sex or "", doc.patient_sex or "—"), width * 0.8)
        self._label_value("Date", _display_date(doc.date), width)
        self.set_xy(self.l_margin, top + 12)
        self.set_font("DejaVu", "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 4, f"Consultation {doc.consultation_id} · Prescription {doc.prescription_id} "
                  f"(version {doc.version})", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)
        self._rule()

    def medications_table(self) -> None:
        self.set_text_color(*ACCENT)
        self.set_font("DejaVu", "B", 16)
        self.cell(0, 8, "℞", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(*INK)
        self.set_font("DejaVu", "", 9.5)
        heading = FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=ACCENT)
        with self.table(col_widths=(6, 34, 24, 16, 30), headings_style=heading, line_height=5.2,
                        padding=1.6, text_align="LEFT", borders_layout="HORIZONTAL_LINES",
                        first_row_as_headings=True) as table:
            table.row(("#", "Medicine", "Dosage", "Duration", "Instructions"))
            for number, med in enumerate(self.doc.medications, start=1):
                table.row((str(number), med.name, med.dosage, med.duration or "—", med.instructions or "—"))
        self.ln(4)

    def _text_block(self, title: str, text: str | None) -> None:
        if not text:
            return
        self.set_text_color(*INK)
        self.set_font("DejaVu", "B", 10.5)
        self.cell(0, 6, title, new_x="LMARGIN", new_y="NEXT")
        self.set_font("DejaVu", "", 10)
        self.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")
        self.ln(3)

    def diagnosis_block(self) -> None:
        self._text_block("Provisional diagnosis", self.doc.diagnosis)

    def advice_block(self) -> None:
        self._text_block("Advice", self.doc.advice)

    def notes_block(self) -> None:
        self._text_block("Notes", self.doc.notes)

    def signature_block(self) -> None:
        doc = self.doc
        self.ln(4)
        self.set_font("DejaVu", "", 9)
        self.set_text_color(*MUTED)
        issued = doc.issued_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        self.multi_cell(0, 5, f"Electronically issued by {doc.doctor_name} (Reg. No. "
                        f"{doc.registration_number or '—'}) on {issued}.", new_x="LMARGIN", new_y="NEXT")


def render(doc: PrescriptionDocument) -> bytes:
    """The prescription as PDF bytes (CPU-bound; run it in an executor)."""
    pdf = _Prescription(doc)
    pdf.add_page()
    pdf.doctor_block()
    pdf.patient_block()
    pdf.diagnosis_block()
    pdf.medications_table()
    pdf.advice_block()
    pdf.notes_block()
    pdf.signature_block()
    return bytes(pdf.output())
