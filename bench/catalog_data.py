"""Data for the catalog search benchmark: a database with 250,000 medicines (the real 1mg rows plus
generated brand variants), the real Lal PathLabs lab tests, and generated doctors."""
from __future__ import annotations

import asyncio
import csv
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from domain.doctors import slug_base, slug_candidate  # noqa: E402
from storage.catalog_import import import_file  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

DATA = Path(os.environ.get("CATALOG_DATA_DIR", str(ROOT.parent / "shared" / "data")))
ADMIN_DSN = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_DB", "allign_bench")


_SYLLABLES = ["a", "ce", "do", "zi", "mo", "xa", "li", "ra", "to", "ve", "ni", "pa", "lo", "fe", "ka", "su"]


def _stem_variants(stem: str, rng: random.Random, stems: list[str]) -> str:
    """A new brand word in the style of the real ones (a recombination of existing stems)."""
    other = rng.choice(stems)
    choice = rng.random()
    if choice < 0.45:
        cut_a = max(2, len(stem) // 2 + rng.randint(-1, 1))
        cut_b = max(1, len(other) // 2 + rng.randint(-1, 1))
        word = stem[:cut_a] + other[cut_b:].lower()
    elif choice < 0.75:
        word = rng.choice(_SYLLABLES).capitalize() + stem.lower()
    else:
        word = stem + rng.choice(_SYLLABLES)
    return word[:1].upper() + word[1:]


def generate_medicines_csv(path: Path, total: int, seed: int = 42) -> int:
    """The real 1mg rows plus generated variants up to `total`: a real row with a new brand word (a
    recombination of real ones) and sometimes another strength. The rest of the name (form,
    qualifiers such as "SR" or "Forte") and the composition stay as in the real row, so words and
    salts keep their real frequencies."""
    source = DATA / "medicines_india.csv"
    with open(os.environ.get("MEDICINES_CSV", source), encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [r for r in reader if r and r[0].strip()]
    rng = random.Random(seed)
    stems = [r[0].split()[0] for r in rows if r[0].split()]
    seen = {(" ".join(r[0].split()).lower(), " ".join(r[1].split()).lower()) for r in rows}
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
        written = len(rows)
        while written < total:
            base = rng.choice(rows)
            words = base[0].split()
            tail = " ".join(words[1:])
            if rng.random() < 0.3:
                tail = re.sub(r"\d+", lambda m: str(int(m.group()) * rng.choice([2, 5, 10]) // 4 or 1), tail, count=1)
            name = f"{_stem_variants(words[0], rng, stems)} {tail}".strip()
            key = (" ".join(name.split()).lower(), " ".join(base[1].split()).lower())
            if key in seen:
                continue
            seen.add(key)
            writer.writerow([name, *base[1:]])
            written += 1
    return written


_FIRST = ["Aarav", "Priya", "Rahul", "Neha", "Vikram", "Ananya", "Rajesh", "Sunita", "Amit", "Kavya",
          "Arjun", "Meera", "Sanjay", "Pooja", "Rohan", "Divya", "Karan", "Sneha", "Manish", "Asha"]
_LAST = ["Sharma", "Verma", "Gupta", "Kumar", "Patel", "Reddy", "Iyer", "Nair", "Singh", "Das",
         "Mehta", "Joshi", "Rao", "Bose", "Khan", "Chopra", "Malhotra", "Pillai", "Mishra", "Agarwal"]
_SPECIALITIES = ["General Medicine", "Dermatology", "Gynecology", "Pediatrics", "Cardiology",
                 "Orthopedics", "Psychiatry", "ENT", "Gastroenterology", "Neurology", "Endocrinology"]


async def insert_doctors(conn: asyncpg.Connection, count: int = 2000, seed: int = 7) -> None:
    """`count` doctors with slugs as the admin endpoint makes them ("dr-ankit-shah-urology", then
    -2, -3...), ratings 3.0-5.0 and every 20th one deactivated (search must skip those)."""
    rng = random.Random(seed)
    rows = []
    slugs: dict[str, int] = {}
    for n in range(count):
        name = f"Dr. {rng.choice(_FIRST)} {rng.choice(_LAST)}"
        speciality = rng.choice(_SPECIALITIES)
        base = slug_base(name, speciality)
        slugs[base] = slugs.get(base, 0) + 1
        rows.append((f"bench{n}@allign.test", "!", name, slug_candidate(base, slugs[base]), speciality,
                     rng.randrange(500, 3000, 100), rng.randrange(30, 51) / 10, n % 20 != 19))
    await conn.executemany(
        "INSERT INTO doctors (email, password_hash, full_name, slug, speciality_category, rate_per_minute, "
        "rating, is_active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING", rows)
    await conn.execute("ANALYZE doctors")


async def build_database(rows: int) -> str:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await admin.close()
    url = ADMIN_DSN.rpartition("/")[0] + "/" + DB_NAME
    await asyncio.get_running_loop().run_in_executor(None, upgrade, url)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "medicines_bench.csv"
        started = time.monotonic()
        written = generate_medicines_csv(csv_path, rows)
        print(f"generated {written} medicine rows in {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        report = await import_file(url, "medicines", str(csv_path))
        took = time.monotonic() - started
        print(report.summary("medicines import", took), f"= {report.rows_read / took:.0f} rows/s")
    report = await import_file(url, "lab-tests", str(DATA / "lab_tests.csv"))
    print(report.summary("lab-tests import", 0))
    conn = await asyncpg.connect(url)
    try:
        await insert_doctors(conn)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return url
