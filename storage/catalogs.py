"""Catalog reads: three-phase typeahead search and details (writes are in storage.catalog_import).

Search phases; each only fills what the previous left of `limit`, excluding ids already found:
  1. prefix   — B-tree text_pattern_ops range scans: the name, then any salt (lab tests: name,
                code or alias)
  2. contains — trigram GIN, `LIKE '%q%'`: the name, then the salts (through the salt dictionary)
  3. fuzzy    — trigram GIN, pg_trgm word similarity `q <% column` (threshold 0.5, set on the
                SQL functions of migration 0004): the name, then the salts
Within a step the order is deterministic: shorter name first, then name, then id (fuzzy: best
similarity first). Name matches come before salt matches within a phase.

This is the hottest read path of the API (typeahead on every keystroke): the steps run as one
statement (`combined`: one round trip; a step whose predecessors filled the page is not run). See bench/README.md for
the plans and figures at 250,000 medicines.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Sequence

from storage.pool import Connection

from storage import driver

# A step that ranks rows it must read from the heap (trigram matches are rechecked there) looks at
# no more than this many candidates, so a substring in half the catalog ("tab") stays cheap; below
# this many matches (every realistic query) the ranking is exact.
MAX_CANDIDATES = 500


@dataclass(frozen=True)
class Step:
    sql: str                      # with $n placeholders
    params: tuple[str, ...]       # the names bound to $1, $2, ...
    min_query: int                # shorter queries skip the step (no trigram to search with)
    named: str                    # the same with :name placeholders (:found, :limit left for `combined`)


def _step(sql: str, *, min_query: int = 2) -> Step:
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return Step(re.sub(r"(?<!:):([a-z_]+)", number, sql), tuple(names), min_query, sql)


def combined(steps: Sequence[Step], columns: str) -> Step:
    """The steps as one statement (one round trip): step k is a CTE that excludes what steps
    1..k-1 found and fills only what they left of :limit; a step with nothing left to fill is not
    run at all (its `WHERE remaining > 0` is a one-time filter). Rows come phase by phase, each
    step's in its own order."""
    ctes, outputs = [], []
    for k, step in enumerate(steps, 1):
        earlier = [f"s{j}" for j in range(1, k)]
        found = ("ARRAY(" + " UNION ALL ".join(f"SELECT id FROM {e}" for e in earlier) + ")"
                 if earlier else "'{}'::uuid[]")
        remaining = "(:limit" + "".join(f" - (SELECT count(*) FROM {e})" for e in earlier) + ")"
        body = step.named.replace(":found", found).replace(":limit", remaining)
        ctes.append(f"s{k} AS (SELECT {k} AS phase, row_number() OVER () AS pos, x.* FROM ({body}) x "
                    f"WHERE {remaining} > 0)")
        outputs.append(f"SELECT {columns}, phase, pos FROM s{k}")
    sql = (f"WITH {', '.join(ctes)} SELECT {columns} FROM ({' UNION ALL '.join(outputs)}) r "
           "ORDER BY phase, pos")
    return _step(sql, min_query=min(step.min_query for step in steps))


_RANK = "length(h.name_normalized), h.name_normalized, h.id"
_MEDICINE_OUT = "SELECT m.id, m.name, m.form, m.provider FROM"


def _names(candidates: str) -> str:
    """The best `limit` of the medicines in `candidates` (id, name_normalized, score rows from
    medicine_names, at most MAX_CANDIDATES); only the winners are read from the wide table."""
    return f"""{_MEDICINE_OUT} (
        SELECT id, name_normalized, score FROM ({candidates}) c
        ORDER BY score DESC, length(name_normalized), name_normalized, id LIMIT :limit) h
    JOIN medicines m ON m.id = h.id ORDER BY h.score DESC, {_RANK}"""


def _salts(matching_salts: str) -> str:
    """Medicines having one of `matching_salts` (salt_normalized, score rows from the salt
    dictionary): the best `limit` per salt straight from the ranked index, then the best overall.
    Exact: a medicine in the overall top `limit` is in the top `limit` of its best salt."""
    return f"""{_MEDICINE_OUT} (
        SELECT x.id, x.name_normalized, max(d.score) AS score FROM ({matching_salts}) d
        CROSS JOIN LATERAL (
            SELECT s.medicine_id AS id, s.name_normalized FROM medicine_salts s
            WHERE s.salt_normalized = d.salt_normalized AND s.medicine_id <> ALL(:found)
            ORDER BY length(s.name_normalized), s.name_normalized, s.medicine_id LIMIT :limit) x
        GROUP BY x.id, x.name_normalized
        ORDER BY max(d.score) DESC, length(x.name_normalized), x.name_normalized, x.id LIMIT :limit) h
    JOIN medicines m ON m.id = h.id ORDER BY h.score DESC, {_RANK}"""


MEDICINE_STEPS: tuple[Step, ...] = (
    # 1a. name prefix: the whole range is read index-only (name_normalized INCLUDE id) and ranked,
    #     no candidate cap needed
    _step(f"""{_MEDICINE_OUT} (
        SELECT id, name_normalized FROM medicine_names
        WHERE name_normalized ~>=~ :lo AND name_normalized ~<~ :hi AND id <> ALL(:found)
        ORDER BY length(name_normalized), name_normalized, id LIMIT :limit) h
    JOIN medicines m ON m.id = h.id ORDER BY {_RANK}"""),
    # 1b. salt prefix (covers the generic name, which starts with its first salt)
    _step(_salts("SELECT salt_normalized, 0 AS score FROM medicine_salt_names "
                 "WHERE salt_normalized ~>=~ :lo AND salt_normalized ~<~ :hi")),
    # 2a. name contains (trigram GIN)
    _step(_names("SELECT id, name_normalized, 0 AS score FROM medicine_names "
                 "WHERE name_normalized LIKE :contains AND id <> ALL(:found) LIMIT :candidates"), min_query=3),
    # 2b. salt contains
    _step(_salts("SELECT salt_normalized, 0 AS score FROM medicine_salt_names "
                 "WHERE salt_normalized LIKE :contains"), min_query=3),
    # 3a. fuzzy name (trigram GIN, word similarity), best similarity first
    _step(_names("SELECT id, name_normalized, score FROM medicine_names_similar(:q, CAST(:candidates AS int)) "
                 "WHERE id <> ALL(:found)"), min_query=3),
    # 3b. fuzzy salt (a function of migration 0004, so that the small dictionary is read by index)
    _step(_salts("SELECT salt_normalized, score FROM medicine_salt_names_similar(:q)"), min_query=3),
)

_LAB_TEST_OUT = "SELECT h.id, h.name, h.code, h.provider FROM lab_tests h"

# About two thousand rows: plain queries are fast enough, no covering tricks needed.
LAB_TEST_STEPS: tuple[Step, ...] = (
    _step(f"""{_LAB_TEST_OUT} WHERE h.id IN (
        SELECT id FROM lab_tests WHERE name_normalized ~>=~ :lo AND name_normalized ~<~ :hi
        UNION ALL
        SELECT id FROM lab_tests WHERE lower(code) ~>=~ :lo AND lower(code) ~<~ :hi
        UNION ALL
        SELECT lab_test_id FROM lab_test_aliases WHERE alias_normalized ~>=~ :lo AND alias_normalized ~<~ :hi)
      AND h.id <> ALL(:found)
    ORDER BY {_RANK} LIMIT :limit"""),
    _step(f"""{_LAB_TEST_OUT} WHERE h.name_normalized LIKE :contains AND h.id <> ALL(:found)
    ORDER BY {_RANK} LIMIT :limit"""),
    _step(f"""{_LAB_TEST_OUT} JOIN lab_tests_similar(:q) s ON s.id = h.id WHERE h.id <> ALL(:found)
    ORDER BY s.score DESC, {_RANK} LIMIT :limit""", min_query=3),
)


def search_params(q: str) -> dict[str, Any]:
    """`q` normalized; `contains` a LIKE pattern with q escaped ("%%" matches a literal "%%", not
    everything); `lo`/`hi` the range of strings starting with q, so that the prefix steps are plain
    B-tree range scans even under a generic prepared plan (`LIKE $1 || '%'` is not)."""
    normalized = " ".join(q.split()).lower()
    escaped = normalized.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return {"q": normalized, "contains": f"%{escaped}%", "lo": normalized,
            "hi": _prefix_upper_bound(normalized), "candidates": MAX_CANDIDATES}


def _prefix_upper_bound(prefix: str) -> str:
    """The least string above every string starting with `prefix` (text_pattern_ops compares
    bytes, and UTF-8 byte order is code point order)."""
    head, last = prefix[:-1], ord(prefix[-1])
    if last >= 0x10FFFF:
        return _prefix_upper_bound(head) if head else prefix + "\U0010ffff"
    following = last + 1 if not 0xD800 <= last + 1 < 0xE000 else 0xE000
    return head + chr(following)


def _statements(steps: Sequence[Step], columns: str) -> dict[int, Step]:
    """One statement per shortest query length that runs a different set of steps (a two-letter
    query has no trigram to search with), built at import so every one is prepared by the tests."""
    return {length: combined([step for step in steps if step.min_query <= length], columns)
            for length in sorted({step.min_query for step in steps})}


MEDICINE_SEARCH = _statements(MEDICINE_STEPS, "id, name, form, provider")
LAB_TEST_SEARCH = _statements(LAB_TEST_STEPS, "id, name, code, provider")


async def _search(conn: Connection, statements: dict[int, Step], q: str, limit: int) -> list[dict[str, Any]]:
    params = search_params(q) | {"limit": limit}
    lengths = [length for length in statements if len(params["q"]) >= length]
    if not lengths:
        return []
    statement = statements[max(lengths)]
    return [dict(row) for row in await driver.fetch(conn, statement.sql, *(params[n] for n in statement.params))]


async def search_medicines(conn: Connection, q: str, limit: int) -> list[dict[str, Any]]:
    """[{id, name, form, provider}], best first: the steps in one statement."""
    return await _search(conn, MEDICINE_SEARCH, q, limit)


async def search_lab_tests(conn: Connection, q: str, limit: int) -> list[dict[str, Any]]:
    """[{id, name, code, provider}], best first."""
    return await _search(conn, LAB_TEST_SEARCH, q, limit)


_MEDICINE_DETAIL = """
    SELECT id, name, form, provider, generic_name, salts, composition, manufacturer,
           product_introduction, uses, side_effects, how_it_works, safety_advice, source_url,
           review_excellent_pct, review_average_pct, review_poor_pct, created_at, updated_at
    FROM medicines WHERE id = $1"""

_LAB_TEST_DETAIL = """
    SELECT id, name, code, provider, aliases, parameters_count, price_paise, original_price_paise,
           created_at, updated_at
    FROM lab_tests WHERE id = $1"""


async def medicine_detail(conn: Connection, medicine_id: uuid.UUID) -> dict[str, Any] | None:
    row = await driver.fetchrow(conn, _MEDICINE_DETAIL, medicine_id)
    return dict(row) if row else None


async def lab_test_detail(conn: Connection, test_id: uuid.UUID) -> dict[str, Any] | None:
    row = await driver.fetchrow(conn, _LAB_TEST_DETAIL, test_id)
    return dict(row) if row else None
