"""Every SQL statement of the application is prepared and planned against the migrated test database,
so an unknown table or column, a type error or an ON CONFLICT without a matching unique index fails
CI, not a user.

Discovery (nothing to register; a new module's statement is picked up by itself):
- every module of the application's packages (the repository's top-level packages but tests) is
  imported and its globals are walked, into dicts, lists, tuples and dataclasses: SQL strings
  (starting with SELECT, INSERT INTO, UPDATE .. SET, DELETE FROM or WITH .. AS, in capitals, the
  project's style), sa.text() clauses and SQLAlchemy Core statements (select/insert/update/delete)
  built at import time. Imported names are walked in the module that defines them;
- every module's source is scanned (ast) for SQL string literals anywhere, inside functions too
  (`sa.text("SELECT ...")` written inline, statements passed to storage.driver or asyncpg).

Each statement is prepared on an asyncpg connection (`:name` parameters of text and Core statements
compiled to `$n` by SQLAlchemy's asyncpg dialect), then planned with EXPLAIN EXECUTE as a generic
plan with NULL parameters: preparing catches parse-analysis errors (names, types, parameter types),
planning catches what PostgreSQL checks only there (an ON CONFLICT target no unique index matches).
Nothing is executed.

A literal that does not parse (a syntax error) and is found verbatim inside a statement that was
prepared is a fragment of it (`"SELECT " + ...`, an f-string's head), checked as part of the whole.

Not covered: Core statements built when a function runs (most of storage/: they are built from
storage/tables, which tests/test_schema.py holds equal to the migrations, so their tables and columns
exist; types and ON CONFLICT targets are checked only by the tests that run them), f-strings
assembled inside functions, and SQL in lower case.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.sql.elements import TextClause

from storage.driver import plain_dsn

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = tuple(sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests"))
SKIP_MODULES = (
    "storage.migrations",  # DDL, applied to the test database by the fixtures
)
# Statements that cannot be prepared on their own, by label (see _discover), with the reason.
EXCLUDED: dict[str, str] = {}
# Discovery must find at least this many statements (it found 74 when written), of each kind (see
# Statement.kind). The application's one data path is SQL text ("str" constants, "literal"s in
# function bodies); no sa.text or Core statement remains.
MINIMUM_STATEMENTS = 50
EXPECTED_KINDS = {"str", "literal"}

_SQL = re.compile(r"\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\w+\s.*?\bSET\s|DELETE\s+FROM\s|WITH\s+(RECURSIVE\s+)?\w+\s+AS\b)",
                  re.S)
_NAMED_PARAM = re.compile(r"(?<![:\w\\]):\w+(?!:)")  # sa.text's :name (not a :: cast)
_DIALECT = asyncpg_dialect.dialect()
_CORE_STATEMENTS = (sa.sql.Select, sa.sql.Insert, sa.sql.Update, sa.sql.Delete, sa.sql.CompoundSelect)


@dataclass
class Statement:
    label: str      # where it was found: module.NAME[key].field, or module:line for a literal
    kind: str       # "str", "text", "core" or "literal"
    source: str     # the text as written (Core: compiled)
    sql: str        # what is prepared ($n parameters)


def _looks_like_sql(value: str) -> bool:
    return bool(_SQL.match(value))


def _from_text(value: str) -> str:
    """SQL as the app passes it: `$n` to asyncpg, or `:name` through sa.text()."""
    if re.search(r"\$\d", value) or not _NAMED_PARAM.search(value):
        return value
    return str(sa.text(value).compile(dialect=_DIALECT))


def _modules() -> Iterator[Any]:
    for package in PACKAGES:
        root = importlib.import_module(package)
        yield root
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            if not info.name.startswith(SKIP_MODULES):
                yield importlib.import_module(info.name)


def _walk(label: str, value: Any, depth: int = 0) -> Iterator[Statement]:
    if depth > 4:
        return
    if isinstance(value, str):
        if _looks_like_sql(value):
            yield Statement(label, "str", value, _from_text(value))
    elif isinstance(value, TextClause):
        yield Statement(label, "text", value.text, str(value.compile(dialect=_DIALECT)))
    elif isinstance(value, _CORE_STATEMENTS):
        compiled = str(value.compile(dialect=_DIALECT))
        yield Statement(label, "core", compiled, compiled)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(f"{label}[{key!r}]", item, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(value):
            yield from _walk(f"{label}[{index}]", item, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _walk(f"{label}.{field.name}", getattr(value, field.name), depth + 1)


def _source(module: Any) -> ast.Module:
    path = Path(inspect.getfile(module))
    return ast.parse(path.read_text(), str(path))


def _imported(tree: ast.Module) -> set[str]:
    """Names a module imports: walked where they are defined, not where they are used."""
    return {alias.asname or alias.name.partition(".")[0]
            for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}


def _literals(module: Any, tree: ast.Module) -> Iterator[Statement]:
    """SQL string literals anywhere in the module's source (not docstrings, not f-string parts)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skip.update(id(part) for part in node.values)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):  # docstrings
            skip.add(id(node.value))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                and _looks_like_sql(node.value)):
            yield Statement(f"{module.__name__}:{node.lineno}", "literal", node.value, _from_text(node.value))


def _discover() -> list[Statement]:
    found: dict[str, Statement] = {}  # by prepared SQL: the first label wins
    for module in _modules():
        tree = _source(module)
        imported = _imported(tree)
        for name, value in vars(module).items():
            if name in imported or inspect.ismodule(value) or inspect.isclass(value) or callable(value):
                continue
            for statement in _walk(f"{module.__name__}.{name}", value):
                found.setdefault(statement.sql, statement)
        for statement in _literals(module, tree):
            found.setdefault(statement.sql, statement)
    return list(found.values())


def _pointer(sql: str, position: str | None) -> str:
    """The statement's line the error points at, with a caret."""
    if not position:
        return ""
    offset = int(position) - 1
    start = sql.rfind("\n", 0, offset) + 1
    end = sql.find("\n", offset)
    line = sql[start:end if end >= 0 else len(sql)]
    return f"\n      {line.strip()}\n      {' ' * (offset - start - (len(line) - len(line.lstrip())))}^"


async def _check(conn: asyncpg.Connection, number: int, statement: Statement) -> tuple[str, asyncpg.PostgresError] | None:
    """None, or the phase ("prepare", "plan") that failed and the error."""
    name = f"allign_check_{number}"
    try:
        prepared = await conn.prepare(statement.sql, name=name)
    except asyncpg.PostgresError as error:
        return "prepare", error
    nulls = ", ".join("NULL" for _ in prepared.get_parameters())
    try:
        await conn.fetch(f"EXPLAIN EXECUTE {name}{f'({nulls})' if nulls else ''}")  # a generic plan: nothing runs
    except asyncpg.PostgresError as error:
        return "plan", error
    return None


async def test_every_statement_prepares_and_plans(database_url):
    statements = _discover()
    kinds = {s.kind for s in statements}
    assert len(statements) >= MINIMUM_STATEMENTS, (
        f"discovery found {len(statements)} statements (expected at least {MINIMUM_STATEMENTS}): "
        + ", ".join(sorted(s.label for s in statements)))
    assert kinds >= EXPECTED_KINDS, f"discovery found no statements of kind {EXPECTED_KINDS - kinds}"
    stale = set(EXCLUDED) - {s.label for s in statements}
    assert not stale, f"EXCLUDED names statements that no longer exist: {stale}"

    conn = await asyncpg.connect(plain_dsn(database_url), server_settings={"plan_cache_mode": "force_generic_plan"})
    try:
        errors: dict[int, tuple[str, asyncpg.PostgresError]] = {}
        for number, statement in enumerate(statements):
            if statement.label not in EXCLUDED:
                if (failed := await _check(conn, number, statement)) is not None:
                    errors[number] = failed
    finally:
        await conn.close()

    passed = [s for n, s in enumerate(statements) if n not in errors and s.label not in EXCLUDED]
    failures = []
    for number, (phase, error) in errors.items():
        statement = statements[number]
        if isinstance(error, asyncpg.PostgresSyntaxError) and any(
                statement.source in s.source or statement.sql in s.sql for s in passed):
            continue  # a fragment of a statement that was checked whole
        pointer = _pointer(statement.sql, getattr(error, "position", None)) if phase == "prepare" else ""
        failures.append(f"  {statement.label} ({statement.kind}, {phase}): {type(error).__name__}: {error} "
                        f"[SQLSTATE {error.sqlstate}]{pointer}\n      SQL: {' '.join(statement.sql.split())[:300]}")
    if failures:
        pytest.fail(f"{len(failures)} of {len(statements)} application statements do not prepare/plan on the "
                    "migrated database:\n" + "\n".join(failures))
