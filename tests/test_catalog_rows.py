"""Pure parsing of catalog source rows (domain.catalog_rows)."""
from __future__ import annotations

import pytest

from domain.catalog_rows import (
    RowError, build_medicine, derive_form, lab_test_from_record, medicine_from_record, medicine_key_of_record,
    parse_parameters_count, parse_price_paise, split_composition, split_lab_title, split_side_effects, split_uses,
)


@pytest.mark.parametrize("name, form", [
    ("Azithral 500 Tablet", "tablet"),
    ("Riomet OD 850mg Tablet SR", "tablet"),          # the form word is not the last word
    ("Asthakind-DX Syrup Sugar Free", "syrup"),
    ("Allegra Suspension Raspberry & Vanilla", "suspension"),
    ("Avastin 400mg Injection", "injection"),
    ("Ketoflox Ophthalmic Solution", "solution"),
    ("Moxicip Eye Drop", "drops"),
    ("Foracort 200 Inhaler", "inhaler"),
    ("Lantus 100IU/ml Solostar", "injection"),
    ("Candid-B Cream", "cream"),
    ("Volini Gel", "gel"),
    ("Betadine 5% Ointment", "ointment"),
    ("Otrivin 0.1% Nasal Spray", "spray"),
    ("Calamine Lotion", "lotion"),
    ("Electral Powder", "powder"),
    ("Mox 500 Capsule", "capsule"),
    ("Hairizer Hair Growth Treatment", "other"),
])
def test_form_is_derived_from_the_name(name, form):
    assert derive_form(name) == form


@pytest.mark.parametrize("composition, salts", [
    ("Amoxycillin  (500mg) +  Clavulanic Acid (125mg)", ["Amoxycillin", "Clavulanic Acid"]),
    ("Bevacizumab (400mg)", ["Bevacizumab"]),
    ("Doxylamine (10mg) + Vitamin B6 (Pyridoxine) (10mg)", ["Doxylamine", "Vitamin B6 (Pyridoxine)"]),
    ("Human Papillomavirus Quadrivalent (Types 6, 11, 16, and 18) Vaccine, Recombinant (NA)",
     ["Human Papillomavirus Quadrivalent (Types 6, 11, 16, and 18) Vaccine, Recombinant"]),
    ("Tretinoin (0.1% w/w)", ["Tretinoin"]),
    ("Sodium Chloride", ["Sodium Chloride"]),
    ("Paracetamol (500mg) + paracetamol (500mg)", ["Paracetamol"]),
    ("", []),
])
def test_composition_splits_into_salts(composition, salts):
    assert split_composition(composition) == salts


def test_run_together_uses_are_split_and_lose_the_boilerplate():
    assert split_uses("Treatment of AnxietyTreatment of Skin conditions with inflammation &amp; itching") == [
        "Anxiety", "Skin conditions with inflammation & itching"]
    assert split_uses(" Pain reliefTreatment of Fever") == ["Pain relief", "Fever"]
    assert split_uses("Treatment of Hypertension (high blood pressure) Prevention of heart attack and "
                      "strokeTreatment of Heart failure") == [
        "Hypertension (high blood pressure)", "Prevention of heart attack and stroke", "Heart failure"]
    assert split_uses(" Acidity Heartburn Stomach ulcers") == ["Acidity", "Heartburn", "Stomach ulcers"]
    assert split_uses("Treatment and prevention of Meniere's disease") == [
        "Treatment and prevention of Meniere's disease"]
    assert split_uses("") == []


def test_side_effects_split_on_capitalised_words():
    assert split_side_effects("Vomiting Nausea Diarrhea Mucocutaneous candidiasis") == [
        "Vomiting", "Nausea", "Diarrhea", "Mucocutaneous candidiasis"]
    assert split_side_effects("Rectal bleeding Taste change High blood pressure Protein in urine") == [
        "Rectal bleeding", "Taste change", "High blood pressure", "Protein in urine"]
    assert split_side_effects("  ") == []


@pytest.mark.parametrize("text, paise", [
    ("₹240", 24000), ("₹1,240", 124000), ("₹ 1,00,000", 10000000), ("₹99.50", 9950), ("₹99.5", 9950),
    ("Rs. 80", 8000), ("1240", 124000), ("", None), (None, None),
])
def test_prices_become_paise(text, paise):
    assert parse_price_paise(text) == paise


@pytest.mark.parametrize("text", ["free", "₹", "₹12,34", "₹-5", "₹1.234"])
def test_malformed_prices_are_row_errors(text):
    with pytest.raises(RowError, match="price"):
        parse_price_paise(text)


def test_parameter_counts():
    assert parse_parameters_count("20 Parameter(s) Covered") == 20
    assert parse_parameters_count("1 Parameter Covered") == 1
    assert parse_parameters_count("7") == 7
    assert parse_parameters_count("") is None
    with pytest.raises(RowError, match="parameter count"):
        parse_parameters_count("many Parameter(s) Covered")


def test_lab_title_keeps_the_whole_title_and_takes_aliases_after_top_level_semicolons():
    assert split_lab_title("COMPLETE BLOOD COUNT; CBC") == ("COMPLETE BLOOD COUNT; CBC", ["CBC"])
    assert split_lab_title("HEPATITIS B SURFACE ANTIGEN; HBsAg; AUSTRALIA ANTIGEN")[1] == [
        "HBsAg", "AUSTRALIA ANTIGEN"]
    # Semicolons inside brackets are part of a karyotype, not alias separators.
    assert split_lab_title("PML RARA t(15;17)(q22;q12) GENE REARRANGEMENT QUALITATIVE, PCR")[1] == []
    assert split_lab_title("t(1;19) (q23;p13.3); TCF3- BX1(E2A-PBX1), PCR QUALITATIVE")[1] == [
        "TCF3- BX1(E2A-PBX1), PCR QUALITATIVE"]


def test_lab_test_record():
    row = lab_test_from_record({"title": "  HbA1c;  GLYCOSYLATED HEMOGLOBIN ", "parameter": "2 Parameter(s) Covered",
                                "originalprice": "₹1,400", "updatedprice": "₹1,240"})
    assert row.name == "HbA1c; GLYCOSYLATED HEMOGLOBIN"
    assert row.name_normalized == "hba1c; glycosylated hemoglobin"
    assert row.aliases == ["GLYCOSYLATED HEMOGLOBIN"]
    assert (row.price_paise, row.original_price_paise, row.parameters_count) == (124000, 140000, 2)
    assert row.code is None  # the source has no codes, and none are made up
    with pytest.raises(RowError, match="name is empty"):
        lab_test_from_record({"title": " ", "parameter": "", "originalprice": "", "updatedprice": ""})


def _medicine_record(**values):
    record = {"medicine name": "Augmentin 625 Duo Tablet",
              "composition": "Amoxycillin  (500mg) +  Clavulanic Acid (125mg)",
              "uses": "Treatment of Bacterial infections", "side_effects": "Vomiting Nausea Diarrhea",
              "manufacturer": "Glaxo SmithKline Pharmaceuticals Ltd", "excellent review %": "47",
              "average review %": "35", "poor review %": "18"}
    record.update(values)
    return record


def test_medicine_record():
    row = medicine_from_record(_medicine_record(**{"medicine name": "Allegra Suspension Raspberry &amp; Vanilla"}))
    assert row.name == "Allegra Suspension Raspberry & Vanilla"
    assert row.name_normalized == "allegra suspension raspberry & vanilla"
    assert row.form == "suspension"
    assert row.salts == ["Amoxycillin", "Clavulanic Acid"]
    assert row.generic_name == "Amoxycillin + Clavulanic Acid"
    assert row.composition == "Amoxycillin (500mg) + Clavulanic Acid (125mg)"
    assert row.uses == ["Bacterial infections"]
    assert row.side_effects == ["Vomiting", "Nausea", "Diarrhea"]
    assert (row.review_excellent_pct, row.review_average_pct, row.review_poor_pct) == (47, 35, 18)
    assert row.provider == "1mg"
    assert row.natural_key == medicine_key_of_record(
        _medicine_record(**{"medicine name": "Allegra Suspension Raspberry &amp; Vanilla"}))


def test_medicine_ids_derive_from_the_natural_key():
    a = build_medicine("Azee 500 Tablet", "Azithromycin (500mg)")
    assert build_medicine("AZEE  500 tablet", "azithromycin  (500MG)").id == a.id
    assert build_medicine("Azee 500 Tablet", "Azithromycin (250mg)").id != a.id


@pytest.mark.parametrize("values, message", [
    ({"medicine name": "  "}, "name is empty"),
    ({"medicine name": "x" * 201}, "longer than 200"),
    ({"excellent review %": "lots"}, "not a number"),
    ({"poor review %": "140"}, "outside 0–100"),
])
def test_bad_medicine_rows(values, message):
    with pytest.raises(RowError, match=message):
        medicine_from_record(_medicine_record(**values))
