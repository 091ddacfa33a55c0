"""Reading Segment-style event files (CSV, JSON Lines or Parquet) into Event messages.

One row (CSV, Parquet) or one JSON object per line (JSONL / NDJSON) is one event; CSV
and JSONL may be gzip-compressed (`.csv.gz`, `.ndjson.gz`). Fields:

  message_id   dedupe key (alias messageId). Optional: derived from the row's content
               (and, for a row without a time, its line), so re-importing the same file
               stores nothing twice while identical rows on different lines stay apart
  kind         track | identify | group (alias type); default track
  entity_id    the entity the event is about (aliases userId, user_id); required
  entity_kind  contact | account | subscription | ticket | ... (a profile's entity)
  event        event name; required for track (e.g. page_view, login)
  time         ISO-8601 ("2026-05-01T12:00:00Z"; no offset = UTC) or epoch seconds
               (numbers above 1e11 are read as milliseconds); alias timestamp;
               absent = the server's clock
  value        number (seconds on page, seats removed, ...); absent = 1
  account_id   the account a group event joins (alias groupId); required for group
  properties   JSON object: strings -> properties, numbers -> metrics
  metrics      JSON object of numbers
  traits       JSON object (identify/group attributes): strings -> traits,
               numbers -> numeric_traits
  numeric_traits  JSON object of numbers
  prop.NAME / metric.NAME / trait.NAME   one column per key (CSV-friendly). In CSV a
               prop./trait. cell that is a plain number ("250", "2.5") is sent as a
               number; fit ranges and density need numbers, and the server still matches
               numbers as text, so nothing is lost. metric.NAME must be a number.

Empty CSV cells and Parquet nulls mean "absent". Unknown columns are ignored (reported
once). Parquet columns keep their types (numbers are numbers), as JSON does; Parquet
needs pyarrow (`pip install 'prioscore[batch]'`), and its "line" is the row number.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from prioscore.clients.cli.inputerrors import MAX_PROBLEMS, InputFileError, Problem, RowError
from prioscore.clients.events import KINDS, content_message_id, epoch_seconds, make_event
from prioscore.v1 import types_pb2

FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}
PARQUET_BATCH_ROWS = 10_000  # rows read at a time: memory stays bounded for any file
ALIASES = {
    "messageId": "message_id",
    "type": "kind",
    "userId": "entity_id",
    "user_id": "entity_id",
    "timestamp": "time",
    "groupId": "account_id",
}
SCALARS = {"message_id", "kind", "entity_id", "entity_kind", "event", "time", "value", "account_id"}
OBJECTS = {"properties", "metrics", "traits", "numeric_traits"}
PREFIXES = {
    "prop.": "properties",
    "property.": "properties",
    "metric.": "metrics",
    "trait.": "traits",
}
_PLAIN_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")


def detect_format(path: Path, explicit: str | None = None) -> str:
    """The format of `path` from its extension (a trailing .gz is compression, not a
    format), unless `explicit` names it."""
    if explicit:
        return explicit
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise InputFileError(
            path,
            [
                Problem(
                    "",
                    "",
                    "unknown extension; use .csv, .jsonl/.ndjson (optionally .gz) or"
                    " .parquet, or pass --format",
                )
            ],
        )
    return fmt


def _open_text(path: Path, fmt: str) -> IO[str]:
    newline = "" if fmt == "csv" else None
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline=newline)
    return path.open(newline=newline, encoding="utf-8-sig")


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # the client-only install has no pyarrow
        raise _AtLine(
            0, RowError("", "reading Parquet needs pyarrow: pip install 'prioscore[batch]'")
        ) from None
    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH_ROWS):
        for row in batch.to_pylist():
            number += 1
            yield number, {k: v for k, v in row.items() if v is not None}


def _rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, raw row) pairs; a malformed line raises RowError with line attached."""
    if fmt == "parquet":
        yield from _parquet_rows(path)
        return
    with _open_text(path, fmt) as handle:
        if fmt == "csv":
            reader = csv.DictReader(handle)
            line = 1
            for row in reader:
                start, line = line + 1, reader.line_num
                if None in row:
                    raise _AtLine(start, RowError("", "more cells than header columns"))
                yield start, {k: v for k, v in row.items() if v not in ("", None)}
            return
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                raise _AtLine(number, RowError("", f"not valid JSON: {error.msg}")) from None
            if not isinstance(value, dict):
                raise _AtLine(number, RowError("", "each line must be a JSON object"))
            yield number, value


class _AtLine(Exception):
    def __init__(self, line: int, error: RowError) -> None:
        self.line = line
        self.error = error


def _number(field: str, raw: Any) -> float:
    if isinstance(raw, bool):
        raise RowError(field, "must be a number, not a boolean")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise RowError(field, f"must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise RowError(field, "must be finite")
    return value


def _object(field: str, raw: Any, typed: bool) -> dict[str, Any]:
    if isinstance(raw, str) and not typed:
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise RowError(field, 'must be a JSON object, e.g. {"url": "/pricing"}') from None
    if not isinstance(raw, dict):
        raise RowError(field, "must be a JSON object")
    return raw


def _split(
    field: str,
    items: Mapping[str, Any],
    strings: dict[str, str],
    numbers: dict[str, float],
    typed: bool,
) -> None:
    """Routes values by type: text -> strings, numbers -> numbers (plain-number text too
    when untyped, i.e. from CSV)."""
    for key, raw in items.items():
        name = f"{field}.{key}"
        if raw is None:
            continue
        if isinstance(raw, bool):
            strings[key] = "true" if raw else "false"
        elif isinstance(raw, int | float):
            numbers[key] = _number(name, raw)
        elif isinstance(raw, str):
            if not typed and _PLAIN_NUMBER.fullmatch(raw.strip()):
                numbers[key] = _number(name, raw)
            else:
                strings[key] = raw
        else:
            raise RowError(name, "nested objects and lists are not supported")


def event_from_row(row: Mapping[str, Any], typed: bool, line: int = 0) -> types_pb2.Event:
    """Converts one raw row (JSON-typed when `typed`, all text for CSV) into an Event;
    `line` tells apart identical rows without a time or message_id."""
    fields: dict[str, Any] = {}
    for key, raw in row.items():
        fields[ALIASES.get(key, key)] = raw
    kind = str(fields.get("kind", "track")).strip().lower()
    if kind not in KINDS:
        raise RowError("kind", f"must be track, identify or group, got {kind!r}")
    entity_id = str(fields.get("entity_id", "")).strip()
    if not entity_id:
        raise RowError("entity_id", "required")
    event = str(fields.get("event", "")).strip()
    if kind == "track" and not event:
        raise RowError("event", "required for track events")
    account_id = str(fields.get("account_id", "")).strip()
    if kind == "group" and not account_id:
        raise RowError("account_id", "required for group events")
    time = None
    if fields.get("time") not in (None, ""):
        try:
            time = epoch_seconds(fields["time"])
        except (ValueError, TypeError, OverflowError):
            raise RowError("time", f"not ISO-8601 or epoch seconds: {fields['time']!r}") from None
        if time < 0:
            raise RowError("time", "before 1970")
    value = _number("value", fields["value"]) if fields.get("value") not in (None, "") else None
    props: dict[str, str] = {}
    metrics: dict[str, float] = {}
    traits: dict[str, str] = {}
    numeric: dict[str, float] = {}
    targets = {"properties": (props, metrics), "traits": (traits, numeric)}
    for key, raw in fields.items():
        if key in ("properties", "traits"):
            _split(key, _object(key, raw, typed), *targets[key], typed)
        elif key in ("metrics", "numeric_traits"):
            into = metrics if key == "metrics" else numeric
            for name, number in _object(key, raw, typed).items():
                into[name] = _number(f"{key}.{name}", number)
        else:
            prefix = next((p for p in PREFIXES if key.startswith(p)), None)
            if prefix is None or raw is None:
                continue
            name, group = key[len(prefix) :], PREFIXES[prefix]
            if group == "metrics":
                metrics[name] = _number(key, raw)
            else:
                _split(group, {name: raw}, *targets[group], typed)
    given = str(fields.get("message_id", "")).strip()
    built = make_event(
        kind,
        entity_id,
        event=event if kind == "track" else "",
        message_id=given,
        time=time,
        value=value,
        properties=props,
        metrics=metrics,
        traits=traits,
        numeric_traits=numeric,
        account_id=account_id,
        entity_kind=str(fields.get("entity_kind", "")).strip(),
    )
    if not given and not built.HasField("time"):
        built.message_id = content_message_id(built, salt=f"line {line}")
    return built


def unknown_columns(row: Mapping[str, Any]) -> set[str]:
    known = SCALARS | OBJECTS | set(ALIASES)
    return {k for k in row if k not in known and not k.startswith(tuple(PREFIXES))}


def read_events(path: Path, fmt: str) -> Iterator[types_pb2.Event]:
    """Events of a file in order; raises InputFileError at the first bad row."""
    typed = fmt != "csv"
    try:
        for line, row in _rows(path, fmt):
            try:
                yield event_from_row(row, typed, line)
            except RowError as error:
                raise InputFileError(path, [_problem(line, error)]) from None
    except _AtLine as located:
        raise InputFileError(path, [_problem(located.line, located.error)]) from None


def check_events(path: Path, fmt: str) -> tuple[int, set[str]]:
    """Validates a whole file without sending anything: (event count, ignored columns).

    Collects up to MAX_PROBLEMS problems, including a message_id reused for another
    entity (the server would reject that batch halfway through the import).
    """
    typed = fmt != "csv"
    problems: list[Problem] = []
    owners: dict[str, tuple[str, int]] = {}
    ignored: set[str] = set()
    count = 0
    rows = _rows(path, fmt)
    while len(problems) < MAX_PROBLEMS:
        try:
            item = next(rows, None)
        except _AtLine as located:
            problems.append(_problem(located.line, located.error))
            break  # the reader cannot continue past a broken line
        except (OSError, UnicodeDecodeError, ValueError, csv.Error) as error:  # gzip, Arrow too
            problems.append(Problem("", "", f"unreadable: {error}"))
            break
        if item is None:
            break
        line, row = item
        ignored |= unknown_columns(row)
        try:
            event = event_from_row(row, typed, line)
        except RowError as error:
            problems.append(_problem(line, error))
            continue
        count += 1
        owner = owners.setdefault(event.message_id, (event.entity_id, line))
        if owner[0] != event.entity_id:
            problems.append(
                Problem(
                    f"line {line}",
                    "message_id",
                    f"{event.message_id!r} already used on line {owner[1]} for {owner[0]!r}",
                )
            )
    if problems:
        raise InputFileError(path, problems, truncated=len(problems) >= MAX_PROBLEMS)
    return count, ignored


def _problem(line: int, error: RowError) -> Problem:
    return Problem(f"line {line}" if line else "", error.field, error.message)
