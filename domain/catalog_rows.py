"""Pure parsing of catalog source rows (medicines from 1mg, lab tests from Dr. Lal PathLabs).

No I/O here: the importer (storage.catalog_import) reads the CSV and hands each record to
`medicine_from_record` / `lab_test_from_record`, which either return a clean row or raise RowError.
"""
from __future__ import annotations

import hashlib
import html
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

MEDICINE_PROVIDER = "1mg"
LAB_TEST_PROVIDER = "lal_pathlabs"
MAX_NAME_LENGTH = 200
UNKNOWN_FORM = "other"

# The one place that maps a word in a product name to its dosage form.
FORM_WORDS: dict[str, str] = {
    "tablet": "tablet", "tablets": "tablet", "tab": "tablet", "caplet": "tablet",
    "capsule": "capsule", "capsules": "capsule", "cap": "capsule", "transcaps": "capsule",
    "softgel": "capsule", "liquigel": "capsule",
    "injection": "injection", "infusion": "injection", "vaccine": "injection", "vial": "injection",
    "ampoule": "injection", "penfill": "injection", "kwikpen": "injection", "flexpen": "injection",
    "solostar": "injection", "cartridge": "injection", "prefilled": "injection", "pen": "injection",
    "syrup": "syrup", "expectorant": "syrup", "linctus": "syrup", "elixir": "syrup", "tonic": "syrup",
    "suspension": "suspension", "emulsion": "suspension",
    "cream": "cream",
    "gel": "gel", "jelly": "gel",
    "ointment": "ointment",
    "drop": "drops", "drops": "drops",
    "inhaler": "inhaler", "transhaler": "inhaler", "rotacap": "inhaler", "rotacaps": "inhaler",
    "respicap": "inhaler", "respicaps": "inhaler", "rotahaler": "inhaler", "redicap": "inhaler",
    "spray": "spray",
    "lotion": "lotion",
    "powder": "powder", "sachet": "powder", "granules": "granules",
    "solution": "solution", "liquid": "solution", "respules": "solution", "nebuliser": "solution",
    "mouthwash": "solution", "gargle": "solution", "paint": "solution", "oil": "oil",
    "shampoo": "shampoo", "soap": "soap", "wash": "wash", "cleanser": "wash",
    "suppository": "suppository", "pessary": "suppository",
    "lozenge": "lozenge", "lozenges": "lozenge",
    "patch": "patch", "foam": "foam", "serum": "serum", "kit": "kit",
    # Brand-specific pack names seen in the 1mg data.
    "rapitab": "tablet", "kidtab": "tablet", "octacap": "capsule", "octacaps": "capsule",
    "instacap": "inhaler", "autohaler": "inhaler", "inhalation": "inhaler",
    "respule": "solution", "transpules": "solution", "liquifilm": "drops", "aquagel": "gel",
    "readymix": "suspension", "redimed": "suspension", "pastilles": "lozenge",
    "pessaries": "suppository", "plaster": "patch", "bar": "soap", "strip": "strip",
    "refil": "injection", "refill": "injection", "combipack": "kit", "lacquer": "solution",
}
_WORD = re.compile(r"[a-z]+")
_SPACES = re.compile(r"\s+")
# Run-together list items: "Treatment of AnxietyTreatment of Skin conditions" (lower/")" then upper).
_RUN_TOGETHER = re.compile(r"(?<=[a-z)\]])(?=[A-Z][a-z])|\s+(?=(?:Treatment|Prevention)\s+(?:of|and)\b)")
# Space-joined items each start with a capitalised word: "Rectal bleeding Taste change Headache".
_CAPITALISED_WORD = re.compile(r"\s+(?=[A-Z][a-z])")
_JOINERS = (" of", " and", " with", " to", " in", " for")
_USE_PREFIX = re.compile(r"^treatment of\s+", re.IGNORECASE)
_STARTS_WITH_PHRASE = re.compile(r"^(treatment|prevention)\b", re.IGNORECASE)
# "₹240", "₹1,240" (Western groups) or "₹1,00,000" (Indian groups: the last group has 3 digits).
_PRICE = re.compile(r"^(?:₹|rs\.?|inr)?\s*(\d+|\d{1,3}(?:,\d{3})+|\d{1,2}(?:,\d{2})*,\d{3})(?:\.(\d{1,2}))?$",
                    re.IGNORECASE)
_PARAMETERS = re.compile(r"^(\d+)\s*parameters?(?:\(s\))?(?:\s+covered)?$", re.IGNORECASE)
_NAMESPACE = uuid.UUID("6b1f3c1e-3a57-4c0e-9d0e-5e1f8a6c2b10")


class RowError(ValueError):
    """A source row that cannot be imported; the message says why (the importer adds the line)."""


@dataclass(frozen=True)
class MedicineRow:
    id: uuid.UUID
    name: str
    name_normalized: str
    composition: str
    composition_key: str
    generic_name: str | None
    salts: list[str]
    form: str
    manufacturer: str | None = None
    product_introduction: str | None = None
    uses: list[str] = field(default_factory=list)
    side_effects: list[str] | None = None
    how_it_works: str | None = None
    safety_advice: dict[str, Any] | None = None
    source_url: str | None = None
    review_excellent_pct: int | None = None
    review_average_pct: int | None = None
    review_poor_pct: int | None = None
    provider: str = MEDICINE_PROVIDER

    @property
    def natural_key(self) -> tuple[str, str, str]:
        return (self.provider, self.name_normalized, self.composition_key)


@dataclass(frozen=True)
class LabTestRow:
    id: uuid.UUID
    name: str
    name_normalized: str
    aliases: list[str]
    code: str | None
    parameters_count: int | None
    price_paise: int | None
    original_price_paise: int | None
    provider: str = LAB_TEST_PROVIDER

    @property
    def natural_key(self) -> tuple[str, str]:
        return (self.provider, self.name_normalized)


def clean_text(value: str | None) -> str:
    """HTML entities decoded, whitespace collapsed and trimmed; None → ''."""
    if not value:
        return ""
    return _SPACES.sub(" ", html.unescape(value)).strip()


def normalize(value: str) -> str:
    """The search/natural-key form of a name: cleaned and lower-cased."""
    return clean_text(value).lower()


def derive_form(name: str) -> str:
    """The dosage form named in a product name, read from the right ("Tablet SR" → tablet)."""
    words = _WORD.findall(name.lower())
    for word in reversed(words):
        form = FORM_WORDS.get(word)
        if form:
            return form
    return UNKNOWN_FORM


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside parentheses: "t(15;17)" and "(Types 6, 11)" stay whole."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]" and depth:
            depth -= 1
        if char == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _strip_strength(part: str) -> str:
    """ "Vitamin B6 (Pyridoxine) (10mg)" → "Vitamin B6 (Pyridoxine)": the last bracket is the dose."""
    part = part.strip()
    if part.endswith(")"):
        depth = 0
        for index in range(len(part) - 1, -1, -1):
            if part[index] == ")":
                depth += 1
            elif part[index] == "(":
                depth -= 1
                if depth == 0:
                    head = part[:index].strip()
                    return head or part
    return part


def split_composition(composition: str) -> list[str]:
    """ "Amoxycillin  (500mg) +  Clavulanic Acid (125mg)" → ["Amoxycillin", "Clavulanic Acid"]."""
    salts: list[str] = []
    for part in _split_top_level(clean_text(composition), "+"):
        salt = clean_text(_strip_strength(part))
        if salt and salt.lower() not in (s.lower() for s in salts):
            salts.append(salt)
    return salts


def composition_key(composition: str) -> str:
    """Stable key of a composition for the natural key (case and spacing do not matter)."""
    return hashlib.md5(normalize(composition).encode()).hexdigest()


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = item.lower()
        if item and key not in seen:
            seen.add(key)
            out.append(item)
    return out


def split_uses(text: str) -> list[str]:
    """1mg's run-together Uses → a list, without the "Treatment of" boilerplate.

    "Treatment of AnxietyTreatment of Skin conditions" → ["Anxiety", "Skin conditions"];
    " Acidity Heartburn Stomach ulcers" (space-joined) → ["Acidity", "Heartburn", "Stomach ulcers"].
    """
    uses: list[str] = []
    for chunk in _RUN_TOGETHER.split(clean_text(text)):
        chunk = chunk.strip()
        if not chunk:
            continue
        if _STARTS_WITH_PHRASE.match(chunk):
            # A "Treatment of ..." phrase is one use even with capitals inside it.
            uses.append(_USE_PREFIX.sub("", chunk).strip())
        else:
            uses.extend(_split_capitalised(chunk))
    return _unique([u[:1].upper() + u[1:] for u in uses if u])


def _split_capitalised(chunk: str) -> list[str]:
    items: list[str] = []
    for piece in _CAPITALISED_WORD.split(chunk):
        piece = piece.strip()
        # "Prevention of heart attack" after a space-joined list: keep the phrase whole.
        if items and (piece.lower().startswith(("of ", "and ")) or items[-1].lower().endswith(_JOINERS)):
            items[-1] = f"{items[-1]} {piece}"
        elif piece:
            items.append(piece)
    return items


def split_side_effects(text: str) -> list[str]:
    """ "Vomiting Nausea Mucocutaneous candidiasis" → ["Vomiting", "Nausea", "Mucocutaneous candidiasis"]."""
    cleaned = clean_text(text)
    if not cleaned:
        return []
    items: list[str] = []
    for chunk in _RUN_TOGETHER.split(cleaned):
        items.extend(_split_capitalised(chunk))
    return _unique(items)


def parse_price_paise(value: str | None) -> int | None:
    """ "₹240" → 24000, "₹1,240" → 124000, "₹99.50" → 9950; '' → None; anything else → RowError."""
    text = clean_text(value).replace(" ", "")
    if not text:
        return None
    match = _PRICE.match(text)
    if not match:
        raise RowError(f"price {value!r} is not like ₹1,240")
    rupees = int(match.group(1).replace(",", ""))
    paise = int((match.group(2) or "0").ljust(2, "0"))
    return rupees * 100 + paise


def parse_parameters_count(value: str | None) -> int | None:
    """ "20 Parameter(s) Covered" → 20; '' → None."""
    text = clean_text(value)
    if not text:
        return None
    if text.isdigit():
        return int(text)
    match = _PARAMETERS.match(text)
    if not match:
        raise RowError(f"parameter count {value!r} is not like '20 Parameter(s) Covered'")
    return int(match.group(1))


def _percentage(value: str | None, label: str) -> int | None:
    text = clean_text(value).rstrip("%").strip()
    if not text:
        return None
    try:
        number = int(float(text))
    except ValueError:
        raise RowError(f"{label} {value!r} is not a number") from None
    if not 0 <= number <= 100:
        raise RowError(f"{label} {number} is outside 0–100")
    return number


def _name(value: str | None) -> str:
    name = clean_text(value)
    if not name:
        raise RowError("name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise RowError(f"name is longer than {MAX_NAME_LENGTH} characters")
    return name


def medicine_id(provider: str, name_normalized: str, comp_key: str) -> uuid.UUID:
    """Ids derive from the natural key, so a re-import (or a fresh database) keeps them stable."""
    return uuid.uuid5(_NAMESPACE, f"medicine|{provider}|{name_normalized}|{comp_key}")


def lab_test_id(provider: str, name_normalized: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"lab_test|{provider}|{name_normalized}")


def _introduction(name: str, composition: str, uses: list[str]) -> str | None:
    """A factual one-liner built only from the row's own fields (the source has no prose)."""
    parts = []
    if composition:
        parts.append(f"{name} contains {composition}.")
    if uses:
        parts.append(f"It is used for {', '.join(u[:1].lower() + u[1:] for u in uses)}.")
    return " ".join(parts) or None


def build_medicine(name: str, composition: str = "", **fields: Any) -> MedicineRow:
    """A MedicineRow from clean values; derived fields (id, key, salts, form) computed here."""
    name = _name(name)
    composition = clean_text(composition)
    salts = split_composition(composition)
    name_norm = normalize(name)
    comp_key = composition_key(composition)
    provider = fields.pop("provider", MEDICINE_PROVIDER)
    uses = fields.pop("uses", [])
    form = fields.pop("form", None) or derive_form(name)
    intro = fields.pop("product_introduction", None) or _introduction(name, composition, uses)
    return MedicineRow(
        id=medicine_id(provider, name_norm, comp_key), name=name, name_normalized=name_norm,
        composition=composition, composition_key=comp_key,
        generic_name=" + ".join(salts) or None, salts=salts, form=form, provider=provider,
        uses=uses, product_introduction=intro, **fields,
    )


def medicine_key_of_record(record: Mapping[str, str | None]) -> tuple[str, str, str]:
    """The natural key `medicine_from_record` would give, computed cheaply (no list parsing)."""
    return (MEDICINE_PROVIDER, normalize(_name(record.get("medicine name"))),
            composition_key(record.get("composition") or ""))


def medicine_from_record(record: Mapping[str, str | None]) -> MedicineRow:
    """One row of the 1mg CSV (header names lower-cased) → MedicineRow, or RowError."""
    side_effects = split_side_effects(record.get("side_effects") or "")
    return build_medicine(
        record.get("medicine name") or "",
        record.get("composition") or "",
        manufacturer=clean_text(record.get("manufacturer")) or None,
        uses=split_uses(record.get("uses") or ""),
        side_effects=side_effects or None,
        review_excellent_pct=_percentage(record.get("excellent review %"), "excellent review %"),
        review_average_pct=_percentage(record.get("average review %"), "average review %"),
        review_poor_pct=_percentage(record.get("poor review %"), "poor review %"),
    )


def split_lab_title(title: str) -> tuple[str, list[str]]:
    """ "COMPLETE BLOOD COUNT; CBC" → (the whole title, ["CBC"]).

    The title stays the name: several tests share the part before ";" ("URINE EXAMINATION,
    ROUTINE; URINE, R/E" vs "...; URINE R/E, AUTOMATED"), so it alone would merge different tests.
    """
    name = _name(title)
    parts = [clean_text(p) for p in _split_top_level(name, ";")]
    return name, _unique([p for p in parts[1:] if p])


def build_lab_test(title: str, *, code: str | None = None, parameters_count: int | None = None,
                   price_paise: int | None = None, original_price_paise: int | None = None,
                   provider: str = LAB_TEST_PROVIDER) -> LabTestRow:
    name, aliases = split_lab_title(title)
    name_norm = normalize(name)
    if price_paise is not None and original_price_paise is None:
        original_price_paise = price_paise
    return LabTestRow(
        id=lab_test_id(provider, name_norm), name=name, name_normalized=name_norm, aliases=aliases,
        code=clean_text(code).upper() or None, parameters_count=parameters_count,
        price_paise=price_paise, original_price_paise=original_price_paise, provider=provider,
    )


def lab_test_key_of_record(record: Mapping[str, str | None]) -> tuple[str, str]:
    return (LAB_TEST_PROVIDER, normalize(_name(record.get("title"))))


def lab_test_from_record(record: Mapping[str, str | None]) -> LabTestRow:
    """One row of the Lal PathLabs CSV (header names lower-cased) → LabTestRow, or RowError."""
    return build_lab_test(
        record.get("title") or "",
        code=record.get("code"),
        parameters_count=parse_parameters_count(record.get("parameter")),
        price_paise=parse_price_paise(record.get("updatedprice")),
        original_price_paise=parse_price_paise(record.get("originalprice")),
    )
