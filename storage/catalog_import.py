"""`python run.py import-catalog medicines|lab-tests FILE.csv`: idempotent bulk upsert of a catalog CSV.

Rows are parsed by domain.catalog_rows; bad rows are skipped and reported with their line number on
stderr, with a summary on stdout. The whole file is loaded in one transaction (all or nothing), in
batches of BATCH_SIZE rows, each batch one `INSERT ... SELECT FROM jsonb_to_recordset ... ON
CONFLICT` per table. Re-running updates changed rows, rewrites nothing else, never duplicates.

Statements are SQL text with $n parameters run on asyncpg (prepared once per connection): inside
the app (the demo seed, in its caller's transaction) through storage.driver on the pooled
connection; from the CLI (`import_file`) on a connection of its own.

Natural keys: a medicine is (provider, lower-cased name, hash of its composition): the 1mg file
names ~300 different products alike (other strengths or salts), which stay separate rows; rows that
repeat name and composition are one product, and the last of them in the file wins. A lab test is
(provider, lower-cased title). Ids derive from the natural key (uuid5), so they survive re-imports
and fresh databases. Rows missing from a later file are kept (an import only adds and updates).
Exit codes: 0 loaded (possibly with skipped rows), 1 unreadable file / wrong header / database error.
"""
from __future__ import annotations

import asyncio
import csv
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, TextIO

import asyncpg
import orjson
from storage.pool import Connection

from config import Settings
from domain.catalog_rows import (
    LabTestRow, MedicineRow, RowError, lab_test_from_record, lab_test_key_of_record, medicine_from_record,
    medicine_key_of_record,
)
from storage import driver
from storage.db import install_log_redaction

BATCH_SIZE = 2000
PROGRESS_EVERY = 20_000
YIELD_EVERY = 25  # rows parsed between event-loop turns while a batch is in flight (see _load)
MAX_REPORTED_ERRORS = 200  # beyond this only the count grows (a wrong file should not flood stderr)


# ---- upserts: one statement per batch and table, the rows passed as one JSON array ----

def _rows(columns: str) -> str:
    return f"jsonb_to_recordset($1::jsonb) AS r({columns})"


def _upsert_sql(table: str, columns: str, key: str, updated: tuple[str, ...]) -> str:
    names = ", ".join(c.split()[0] for c in columns.split(", "))
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in updated)
    old = ", ".join(f"{table}.{c}" for c in updated)
    new = ", ".join(f"EXCLUDED.{c}" for c in updated)
    # Unchanged rows are not rewritten: no dead tuples, and updated_at keeps its meaning.
    return (f"INSERT INTO {table} ({names}) SELECT {names} FROM {_rows(columns)} "
            f"ON CONFLICT ({key}) DO UPDATE SET {sets}, updated_at = now() "
            f"WHERE ({old}) IS DISTINCT FROM ({new}) RETURNING (xmax = 0) AS inserted")


_MEDICINE_COLUMNS = (
    "id uuid, provider text, name text, name_normalized text, composition text, composition_key text, "
    "generic_name text, salts text[], form text, manufacturer text, product_introduction text, "
    "uses text[], side_effects text[], how_it_works text, safety_advice jsonb, source_url text, "
    "review_excellent_pct smallint, review_average_pct smallint, review_poor_pct smallint")
_UPSERT_MEDICINES = _upsert_sql(
    "medicines", _MEDICINE_COLUMNS, "provider, name_normalized, composition_key",
    ("name", "composition", "generic_name", "salts", "form", "manufacturer", "product_introduction",
     "uses", "side_effects", "how_it_works", "safety_advice", "source_url", "review_excellent_pct",
     "review_average_pct", "review_poor_pct"))
_SALT_ROWS = _rows("provider text, name_normalized text, composition_key text, salts text[]")
_MEDICINE_JOIN = ("JOIN medicines p ON p.provider = r.provider AND p.name_normalized = r.name_normalized "
                  "AND p.composition_key = r.composition_key")
_MEDICINE_SEARCH_ROWS = (
    f"INSERT INTO medicine_names (id, name_normalized) SELECT p.id, p.name_normalized "
    f"FROM {_SALT_ROWS} {_MEDICINE_JOIN} ON CONFLICT (id) DO NOTHING",
    f"DELETE FROM medicine_salts s USING {_SALT_ROWS} {_MEDICINE_JOIN} "
    f"WHERE s.medicine_id = p.id AND s.position >= cardinality(r.salts)",
    f"INSERT INTO medicine_salts (medicine_id, position, salt_normalized, name_normalized) "
    f"SELECT p.id, v.ord - 1, v.salt, p.name_normalized FROM {_SALT_ROWS} {_MEDICINE_JOIN} "
    f"CROSS JOIN LATERAL unnest(r.salts) WITH ORDINALITY AS v(salt, ord) "
    f"ON CONFLICT (medicine_id, position) DO UPDATE SET salt_normalized = EXCLUDED.salt_normalized, "
    f"name_normalized = EXCLUDED.name_normalized WHERE (medicine_salts.salt_normalized, "
    f"medicine_salts.name_normalized) IS DISTINCT FROM (EXCLUDED.salt_normalized, EXCLUDED.name_normalized)",
    f"INSERT INTO medicine_salt_names (salt_normalized) SELECT DISTINCT v.salt FROM {_SALT_ROWS} "
    f"CROSS JOIN LATERAL unnest(r.salts) AS v(salt) ON CONFLICT DO NOTHING",
)
_PRUNE_SALT_NAMES = (
    "DELETE FROM medicine_salt_names n WHERE NOT EXISTS "
    "(SELECT 1 FROM medicine_salts s WHERE s.salt_normalized = n.salt_normalized)")

_LAB_TEST_COLUMNS = (
    "id uuid, provider text, name text, name_normalized text, aliases text[], code text, "
    "parameters_count integer, price_paise integer, original_price_paise integer")
_UPSERT_LAB_TESTS = _upsert_sql(
    "lab_tests", _LAB_TEST_COLUMNS, "provider, name_normalized",
    ("name", "aliases", "code", "parameters_count", "price_paise", "original_price_paise"))
_ALIAS_ROWS = _rows("provider text, name_normalized text, aliases text[]")
_LAB_TEST_JOIN = "JOIN lab_tests p ON p.provider = r.provider AND p.name_normalized = r.name_normalized"
_LAB_TEST_ALIASES = (
    f"DELETE FROM lab_test_aliases s USING {_ALIAS_ROWS} {_LAB_TEST_JOIN} "
    f"WHERE s.lab_test_id = p.id AND s.position >= cardinality(r.aliases)",
    f"INSERT INTO lab_test_aliases (lab_test_id, position, alias_normalized) "
    f"SELECT p.id, v.ord - 1, v.alias FROM {_ALIAS_ROWS} {_LAB_TEST_JOIN} "
    f"CROSS JOIN LATERAL unnest(r.aliases) WITH ORDINALITY AS v(alias, ord) "
    f"ON CONFLICT (lab_test_id, position) DO UPDATE SET alias_normalized = EXCLUDED.alias_normalized "
    f"WHERE lab_test_aliases.alias_normalized <> EXCLUDED.alias_normalized",
)


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: "UpsertCounts") -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged


# The app's pooled connection (statements through storage.driver, joining or beginning its
# transaction) or the CLI's own asyncpg connection (in the transaction import_file opened).
AnyConnection = Connection | asyncpg.Connection


async def _fetch(conn: AnyConnection, query: str, *args: Any) -> list[asyncpg.Record]:
    if isinstance(conn, Connection):
        return await driver.fetch(conn, query, *args, begin=True)
    return await conn.fetch(query, *args)


async def _execute(conn: AnyConnection, query: str, *args: Any) -> str:
    if isinstance(conn, Connection):
        return await driver.execute(conn, query, *args, begin=True)
    return await conn.execute(query, *args)


async def _upsert(conn: AnyConnection, upsert: str, side: tuple[str, ...],
                  records: list[dict[str, Any]], side_records: list[dict[str, Any]]) -> UpsertCounts:
    if not records:
        return UpsertCounts()
    flags = [row[0] for row in await _fetch(conn, upsert, orjson.dumps(records).decode())]
    payload = orjson.dumps(side_records).decode()
    for statement in side:
        await _execute(conn, statement, payload)
    inserted = sum(1 for flag in flags if flag)
    return UpsertCounts(inserted, len(flags) - inserted, len(records) - len(flags))


def _last_per_key(rows: Iterable[Any]) -> list[Any]:
    """One row per natural key, the last winning: ON CONFLICT cannot touch a row twice in one statement."""
    return list({row.natural_key: row for row in rows}.values())


async def upsert_medicines(conn: AnyConnection, rows: Iterable[MedicineRow]) -> UpsertCounts:
    """Insert or update by natural key, with the salt side tables; ids derive from the key."""
    records, salts = [], []
    for row in _last_per_key(rows):
        records.append(vars(row))  # shallow: orjson serialises the lists and UUIDs as they are
        salts.append({"provider": row.provider, "name_normalized": row.name_normalized,
                      "composition_key": row.composition_key, "salts": [s.lower() for s in row.salts]})
    return await _upsert(conn, _UPSERT_MEDICINES, _MEDICINE_SEARCH_ROWS, records, salts)


async def upsert_lab_tests(conn: AnyConnection, rows: Iterable[LabTestRow]) -> UpsertCounts:
    records, aliases = [], []
    for row in _last_per_key(rows):
        records.append(vars(row))
        aliases.append({"provider": row.provider, "name_normalized": row.name_normalized,
                        "aliases": [a.lower() for a in row.aliases]})
    return await _upsert(conn, _UPSERT_LAB_TESTS, _LAB_TEST_ALIASES, records, aliases)


# ---- CSV import ----

@dataclass(frozen=True)
class CatalogKind:
    name: str
    tables: tuple[str, ...]
    required: tuple[str, ...]
    key: Callable
    parse: Callable
    upsert: Callable


KINDS = {
    "medicines": CatalogKind("medicines", ("medicines", "medicine_names", "medicine_salts", "medicine_salt_names"),
                             ("medicine name", "composition"),
                             medicine_key_of_record, medicine_from_record, upsert_medicines),
    "lab-tests": CatalogKind("lab-tests", ("lab_tests", "lab_test_aliases"), ("title",),
                             lab_test_key_of_record, lab_test_from_record, upsert_lab_tests),
}


@dataclass
class ImportReport:
    rows_read: int = 0
    bad_rows: int = 0
    repeated: int = 0
    counts: UpsertCounts = field(default_factory=UpsertCounts)

    def summary(self, kind: str, seconds: float) -> str:
        c = self.counts
        return (f"{kind}: {self.rows_read} rows read, {c.inserted} inserted, {c.updated} updated, "
                f"{c.unchanged} unchanged, {self.repeated} repeated (a later row with the same key "
                f"wins), {self.bad_rows} bad rows skipped ({seconds:.1f} s)")


class ImportFailed(Exception):
    pass


def _records(stream: TextIO, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str] | str]]:
    """(line number, record with lower-cased header keys) or (line number, why the row is malformed)."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFailed("the file is empty") from None
    keys = [h.strip().lower() for h in header]
    missing = [r for r in required if r not in keys]
    if missing:
        raise ImportFailed(f"missing column(s) {', '.join(missing)}; the header is {header}")
    next_line = reader.line_num + 1
    for values in reader:
        line, next_line = next_line, reader.line_num + 1  # a quoted field may span lines
        if not any(map(str.strip, values)):
            continue
        if len(values) != len(keys):
            yield line, f"expected {len(keys)} columns, found {len(values)}"
            continue
        yield line, dict(zip(keys, values))


def _last_lines(kind: CatalogKind, stream: TextIO) -> dict[tuple, int]:
    """First pass: the line of the last row of each natural key. The file repeats products (the
    1mg data has 90 exact duplicates and more with other review figures); only the last is loaded,
    so a re-import finds every row unchanged instead of flip-flopping between the copies."""
    last: dict[tuple, int] = {}
    for line, record in _records(stream, kind.required):
        if isinstance(record, dict):
            try:
                last[kind.key(record)] = line
            except RowError:
                pass
    return last


async def _load(conn: asyncpg.Connection, kind: CatalogKind, stream: TextIO, err: TextIO) -> ImportReport:
    """Parse and upsert, overlapped: a batch's statements run on the server while the next batch is
    parsed here (one statement at a time on the connection: a batch is sent once the previous one
    has finished; the parse loop yields to the event loop every YIELD_EVERY rows so the batch in
    flight can send its next statement)."""
    last_lines = _last_lines(kind, stream)
    stream.seek(0)
    report = ImportReport()
    batch: list = []
    in_flight: asyncio.Task[UpsertCounts] | None = None

    async def settle() -> None:
        nonlocal in_flight
        if in_flight is not None:
            task, in_flight = in_flight, None
            report.counts.add(await task)

    async def flush() -> None:
        nonlocal batch, in_flight
        await settle()
        in_flight = asyncio.ensure_future(kind.upsert(conn, batch))
        batch = []
        await asyncio.sleep(0)  # the task sends its first statement before parsing goes on

    try:
        for line, record in _records(stream, kind.required):
            report.rows_read += 1
            try:
                if isinstance(record, str):
                    raise RowError(record)
                row = kind.parse(record)
                if last_lines.get(row.natural_key) == line:
                    batch.append(row)
                else:
                    report.repeated += 1
            except RowError as exc:
                report.bad_rows += 1
                if report.bad_rows <= MAX_REPORTED_ERRORS:
                    print(f"line {line}: skipped: {exc}", file=err)
                elif report.bad_rows == MAX_REPORTED_ERRORS + 1:
                    print("further bad rows are counted but not listed", file=err)
            if len(batch) >= BATCH_SIZE:
                await flush()
            elif in_flight is not None and report.rows_read % YIELD_EVERY == 0:
                if in_flight.done():
                    await settle()  # its error (if any) now, not a batch later
                else:
                    await asyncio.sleep(0)
            if report.rows_read % PROGRESS_EVERY == 0:
                print(f"{kind.name}: {report.rows_read} rows read...", file=err, flush=True)
        if batch:
            await flush()
        await settle()
    finally:
        if in_flight is not None:  # failed while a batch ran: let it end before the rollback
            await asyncio.wait([in_flight])
            if not in_flight.cancelled():
                in_flight.exception()  # retrieved: the error being raised is the one that counts
    if kind.name == "medicines":
        await conn.execute(_PRUNE_SALT_NAMES)
    return report


async def import_file(database_url: str, kind_name: str, path: str, *, err: TextIO = sys.stderr) -> ImportReport:
    """Load one CSV file in one transaction; raises ImportFailed, UnicodeDecodeError, OSError (the
    file, the connection) or asyncpg's errors, as they came (nothing loaded)."""
    kind = KINDS[kind_name]
    try:
        # utf-8-sig drops a BOM; newline="" lets the csv module handle CRLF and quoted line breaks.
        stream = open(path, encoding="utf-8-sig", newline="")  # noqa: ASYNC230 (a CLI run, nothing else waits)
    except OSError as exc:
        raise ImportFailed(f"{path}: {exc.strerror}") from None
    install_log_redaction()  # asyncpg's errors carry data (DETAIL): never into a log record
    with stream:
        conn = await asyncpg.connect(driver.plain_dsn(database_url))
        try:
            async with conn.transaction():
                report = await _load(conn, kind, stream, err)
            # Fresh statistics (the planner picks each search step's index by them) and a fresh
            # visibility map (the prefix steps are index-only scans only on all-visible pages).
            # Outside the transaction: VACUUM cannot run in one.
            await conn.execute(f"VACUUM (ANALYZE) {', '.join(kind.tables)}")
        finally:
            await conn.close()
    return report


def run_import(settings: Settings, kind: str, path: str) -> int:
    """Entry point of `run.py import-catalog`; returns the process exit code."""
    if kind not in KINDS:
        print(f"unknown catalog {kind!r}; use one of {', '.join(KINDS)}", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        report = asyncio.run(import_file(settings.database_url, kind, path))
    except ImportFailed as exc:
        print(f"import failed, nothing loaded: {exc}", file=sys.stderr)
        return 1
    except UnicodeDecodeError as exc:
        print(f"import failed, nothing loaded: {path} is not UTF-8 ({exc.reason})", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # The server's message only: str() of asyncpg's error appends the DETAIL, which quotes data.
        reason = exc.args[0] if isinstance(exc, asyncpg.PostgresError) and exc.args else exc
        print(f"import failed, nothing loaded: database error: {reason}", file=sys.stderr)
        return 1
    print(report.summary(kind, time.monotonic() - started), flush=True)
    return 0
