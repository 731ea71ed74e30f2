"""Database errors without data in the log.

NO DATA IN ERROR LOGS. A failed statement's exception carries what it was given: SQLAlchemy's text
adds the parameters (`[parameters: ...]`), asyncpg's adds the server's DETAIL ("Failing row contains
(...)", "Key (token)=(...) already exists"), and some messages quote a value ("invalid input syntax
for type uuid: ...", asyncpg's "invalid input for query argument $1: '...'"). So:

- SQLAlchemy engines (migrations, tests: storage.sa_engine) hide parameters (`hide_parameters=True`);
- every log record of the process whose exception (or exception chain) or arguments hold a database
  error shows it as `describe_error` does: the error class, SQLSTATE, the schema names PostgreSQL
  reports (table, column, constraint), the server's message only for classes whose messages name
  schema objects but no data (not data exceptions, class 22), and the statement's first words; the
  traceback keeps its frames. Installed by storage.pool.Pool (`install_log_redaction`), so it covers
  the request path (storage.driver) and the queue workers' own connections alike.
"""
from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy.exc import EmulatedDBAPIException, StatementError



# --- database errors in the log -----------------------------------------------------------

# SQLSTATE classes whose messages may quote a value (22: data exceptions, e.g. invalid input syntax).
_VALUE_QUOTING_CLASSES = ("22",)
_ARGUMENT = re.compile(r"^invalid input for query argument \$\d+")
_SCHEMA_FIELDS = ("table_name", "column_name", "constraint_name", "data_type_name")
# SQLAlchemy's errors (parameters, hidden), its adaptations of asyncpg's (exc.orig), asyncpg's own.
_DATABASE_ERRORS = (StatementError, EmulatedDBAPIException, asyncpg.PostgresError, asyncpg.InterfaceError)


def is_database_error(exc: object) -> bool:
    return isinstance(exc, _DATABASE_ERRORS)


_LITERAL = re.compile(r"'(?:[^']|'')*'")


def _first_words(statement: str | None, words: int = 6) -> str:
    """The statement's opening (what it does, to which table), its string literals blanked."""
    text = " ".join(_LITERAL.sub("'?'", statement or "").split()[:words])
    return text if len(text) <= 80 else text[:77] + "..."


def _driver_error(exc: BaseException) -> BaseException | None:
    """The asyncpg exception under a SQLAlchemy one (or the exception itself)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError)):
            return exc
        exc = getattr(exc, "orig", None) or exc.__cause__  # type: ignore[assignment]
        seen += 1
    return None


def describe_error(exc: BaseException) -> str:
    """A database error as the log may show it: what failed and where, never a value."""
    root = _driver_error(exc)
    parts = [type(root or exc).__name__]
    statement = getattr(exc, "statement", None)
    if root is not None:
        sqlstate = getattr(root, "sqlstate", None)
        message = str(root.args[0]) if root.args else ""
        if sqlstate:
            parts.append(f"SQLSTATE {sqlstate}")
        if not (sqlstate or "22").startswith(_VALUE_QUOTING_CLASSES):
            parts.append(message.splitlines()[0] if message else "")
        elif (argument := _ARGUMENT.match(message)) is not None:  # asyncpg could not encode an argument
            parts.append(argument.group(0))
        parts += [f"{field.replace('_name', '')} {value}" for field in _SCHEMA_FIELDS
                  if (value := getattr(root, field, None))]
        statement = statement or getattr(root, "query", None)
    if statement:
        parts.append(f"in statement: {_first_words(statement)}")
    return "; ".join(p for p in parts if p)


def _chain(exc: BaseException) -> list[tuple[BaseException, str | None]]:
    """Outermost first, each with how it relates to the one before it in this list."""
    items: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        items.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, "The above exception was the direct cause of the following exception:"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, "During handling of the above exception, another exception occurred:"
        else:
            current = None
    return items


def format_exception_safely(exc: BaseException) -> str:
    """A traceback like Python's (innermost cause first), database errors described by `describe_error`;
    what caused a database error (asyncpg's encoding error for an argument quotes it) by class only."""
    blocks: list[str] = []
    items = _chain(exc)
    caused_one: list[bool] = []  # per item: a database error is further out in the chain
    outer_database_error = False
    for current, _ in items:
        caused_one.append(outer_database_error)
        outer_database_error = outer_database_error or is_database_error(current)
    for index in range(len(items) - 1, -1, -1):
        current, link = items[index]
        if is_database_error(current):
            message = describe_error(current)
        else:
            message = "(not shown: it caused a database error)" if caused_one[index] else str(current)
        kind = type(current)
        name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        frames = traceback.format_tb(current.__traceback__) if current.__traceback__ is not None else []
        head = "Traceback (most recent call last):\n" + "".join(frames) if frames else ""
        blocks.append(f"{head}{name}: {message}")
        if index > 0:
            blocks.append(f"\n{link}\n")
    return "\n".join(blocks)


def _holds_database_error(exc: BaseException) -> bool:
    return any(is_database_error(current) for current, _ in _chain(exc))


def _safe(value: Any) -> Any:
    return describe_error(value) if is_database_error(value) else value


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Rewrite a log record so no database error in it shows data (see the module docstring)."""
    if record.exc_info and record.exc_info[1] is not None and _holds_database_error(record.exc_info[1]):
        record.exc_text = format_exception_safely(record.exc_info[1])
        record.exc_info = None  # formatters print exc_text; nothing downstream can render the original
    if isinstance(record.args, tuple) and any(is_database_error(a) for a in record.args):
        record.args = tuple(_safe(a) for a in record.args)
    elif isinstance(record.args, Mapping) and any(is_database_error(a) for a in record.args.values()):
        record.args = {k: _safe(v) for k, v in record.args.items()}
    if is_database_error(record.msg):
        record.msg = describe_error(record.msg)
    return record


_installed = False


def install_log_redaction() -> None:
    """Once per process: every log record passes through `redact_record` as it is created."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True
