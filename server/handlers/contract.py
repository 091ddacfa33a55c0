"""The input contract's checks on text, numbers and times, columnar.

Every id, name and value a client sends ends up in SQLite (often inside its JSON
functions, which stop at a NUL) or in a response to someone else, so each is checked at
the edge against config.Limits: no control characters, at most so many UTF-8 bytes,
numbers finite, times within the documented range. A check returns the violations it
found (never raises) so a request can report every bad field at once.

The checks run over a whole column at a time: lengths by a C-level map (only values long
enough to break a byte limit are encoded), control characters by one regular-expression
scan over the joined column, so a batch of 10,000 events costs no Python loop per event
unless something is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from prioscore.server.config import Limits
from prioscore.server.engine import MapEntries, map_entries
from prioscore.server.errors import FieldViolation

# C0 controls and DEL. Free text (profile TOML) may hold tab and newlines; nothing else.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_VIOLATIONS = 100  # a request names at most this many bad fields

Namer = Callable[[int], str]
V = TypeVar("V")


def _over(values: Sequence[str], chars: np.ndarray, max_bytes: int) -> list[tuple[int, int]]:
    """(position, UTF-8 bytes) of the values over max_bytes. A character is at most 4
    bytes, so only values longer than max_bytes // 4 characters are encoded at all."""
    suspects = np.flatnonzero(chars > max_bytes // 4)
    sizes = ((i, len(values[i].encode())) for i in suspects.tolist())
    return [(i, size) for i, size in sizes if size > max_bytes][:MAX_VIOLATIONS]


def texts(
    values: Sequence[str],
    name: Namer,
    max_bytes: int,
    *,
    what: str = "",
    free_text: bool = False,
) -> list[FieldViolation]:
    """Violations of `values` (control characters, more than max_bytes UTF-8 bytes);
    name(i) is the field of values[i], `what` prefixes the description ("key 'x' ")."""
    if not values:
        return []
    violations: list[FieldViolation] = []
    # The common case, nothing long enough to break the limit, costs one C-level max.
    if max(map(len, values)) > max_bytes // 4:
        chars = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        violations += [
            FieldViolation(name(i), f"{what}is {size} bytes; at most {max_bytes}")
            for i, size in _over(values, chars, max_bytes)
        ]
    pattern = _CONTROL_IN_TEXT if free_text else _CONTROL
    joined = "".join(values)
    if pattern.search(joined) is not None:
        ends = np.cumsum(np.fromiter(map(len, values), dtype=np.int64, count=len(values)))
        flagged: dict[int, None] = {}
        for match in pattern.finditer(joined):
            flagged[int(np.searchsorted(ends, match.start(), side="right"))] = None
            if len(flagged) >= MAX_VIOLATIONS:
                break
        for i in flagged:
            violations.append(
                FieldViolation(name(i), f"{what}must not contain NUL or control characters")
            )
    return violations


def required(
    values: Sequence[str], name: Namer, description: str = "required"
) -> list[FieldViolation]:
    if not values or "" not in values:  # the common case: one C-level scan
        return []
    empty = np.flatnonzero(np.asarray(values, dtype=object) == "")
    return [FieldViolation(name(int(i)), description) for i in empty[:MAX_VIOLATIONS]]


def string_maps(
    maps: Sequence[Mapping[str, str]], name: Namer, limits: Limits
) -> list[FieldViolation]:
    """Keys (names) and values of one string map per item; name(i) is item i's map field."""
    violations, entries = _entries(maps, name, limits)
    keys, owner = entries.keys, entries.owner
    if not keys:
        return violations
    violations += texts(keys, lambda j: name(int(owner[j])), limits.max_name_bytes, what="a key ")
    violations += texts(
        entries.values,
        lambda j: f"{name(int(owner[j]))}[{keys[j]!r:.60}]",
        limits.max_value_bytes,
    )
    return violations


def number_maps(
    maps: Sequence[Mapping[str, float]], name: Namer, limits: Limits
) -> list[FieldViolation]:
    """Keys of one numeric map per item, and every value finite."""
    violations, entries = _entries(maps, name, limits)
    keys, owner = entries.keys, entries.owner
    if not keys:
        return violations
    values = np.fromiter(entries.values, dtype=np.float64, count=len(keys))
    violations += texts(keys, lambda j: name(int(owner[j])), limits.max_name_bytes, what="a key ")
    for j in np.flatnonzero(~np.isfinite(values))[:MAX_VIOLATIONS]:
        violations.append(
            FieldViolation(f"{name(int(owner[j]))}[{keys[j]!r:.60}]", "must be a finite number")
        )
    return violations


def _entries(
    maps: Sequence[Mapping[str, V]], name: Namer, limits: Limits
) -> tuple[list[FieldViolation], MapEntries[V]]:
    """(violations of the entry count, every entry of the maps)."""
    entries = map_entries(maps)
    counts = entries.counts
    violations = [
        FieldViolation(name(int(i)), f"{counts[i]} entries; at most {limits.max_map_entries}")
        for i in np.flatnonzero(counts > limits.max_map_entries)[:MAX_VIOLATIONS]
    ]
    return violations, entries


def finite(
    values: np.ndarray, name: Namer, given: np.ndarray | None = None
) -> list[FieldViolation]:
    """Values that were given (the mask; default: not NaN) must be finite."""
    given = ~np.isnan(values) if given is None else given
    bad = np.flatnonzero(given & ~np.isfinite(values))
    return [FieldViolation(name(int(i)), "must be a finite number") for i in bad[:MAX_VIOLATIONS]]


def times(
    ts: np.ndarray, name: Namer, limits: Limits, latest: float | None = None
) -> list[FieldViolation]:
    """Given times (NaN = not given) within the documented range; with `latest` (the
    clock plus max_future_seconds, for stored events) none after it."""
    given = ~np.isnan(ts)
    out_of_range = given & ~((ts >= limits.min_timestamp) & (ts <= limits.max_timestamp))
    violations = [
        FieldViolation(name(int(i)), "must be between 1970-01-01 and 9999-12-31")
        for i in np.flatnonzero(out_of_range)[:MAX_VIOLATIONS]
    ]
    if latest is not None:
        future = given & ~out_of_range & (ts > latest)
        violations += [
            FieldViolation(
                name(int(i)),
                f"is more than {limits.max_future_seconds:.0f} s after the server's clock",
            )
            for i in np.flatnonzero(future)[:MAX_VIOLATIONS]
        ]
    return violations
