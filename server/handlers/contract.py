"""The input contract's checks on text, numbers and times, columnar.

Every id, name and value a client sends ends up in SQLite (often inside its JSON
functions, which stop at a NUL) or in a response to someone else, so each is checked at
the edge against config.Limits: no control characters, at most so many UTF-8 bytes,
numbers finite, times within the documented range. A check returns the violations it
found (never raises) so a request can report every bad field at once.

The checks run over a whole column at a time: lengths by a C-level map (only values long
enough to break a byte limit are encoded), control characters by one C-level pass over
the joined column (a regular expression only where that pass does not clear it), so a
batch of 10,000 events costs no Python loop per event unless something is wrong. Each
check's common case, nothing wrong, is its cheapest path: the loop runs these for every
small IngestEvents message it converts (rpc/event_ingest.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from itertools import chain
from typing import TypeVar

import numpy as np

from prioscore.server.config import Limits
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


def _may_be_long(values: Sequence[str], joined: str, max_bytes: int) -> bool:
    """Whether a value may be over max_bytes: only one longer than max_bytes // 4
    characters can be, and none is longer than all of them joined (so a column of a few
    short values, e.g. the distinct keys of a batch's maps, skips the per-value max)."""
    longest = max_bytes // 4
    return len(joined) > longest and max(map(len, values)) > longest


def _may_hold_controls(joined: str, free_text: bool) -> bool:
    """Whether the joined text may hold a control character: printable text cannot
    (str.isprintable, one C pass at about half the regular expression's cost per
    character); what it does not clear (newlines, non-ASCII separators) is scanned."""
    pattern = _CONTROL_IN_TEXT if free_text else _CONTROL
    return not joined.isprintable() and pattern.search(joined) is not None


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
    joined = "".join(values)
    if _may_be_long(values, joined, max_bytes):
        chars = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        violations += [
            FieldViolation(name(i), f"{what}is {size} bytes; at most {max_bytes}")
            for i, size in _over(values, chars, max_bytes)
        ]
    if _may_hold_controls(joined, free_text):
        pattern = _CONTROL_IN_TEXT if free_text else _CONTROL
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


def names(
    values: Sequence[str], name: Namer, max_bytes: int, *, what: str = ""
) -> list[FieldViolation]:
    """texts() of a column that repeats a few values (event names, kinds, map keys): the
    distinct values are checked first (a set of the column and the checks over its few
    values cost less than the checks over every value), and every value only when one
    of them is bad, to name each."""
    distinct = list(set(values))
    joined = "".join(distinct)
    if not _may_be_long(distinct, joined, max_bytes) and not _may_hold_controls(joined, False):
        return []
    return texts(values, name, max_bytes, what=what)


def required(
    values: Sequence[str], name: Namer, description: str = "required"
) -> list[FieldViolation]:
    if not values or "" not in values:  # the common case: one C-level scan
        return []
    empty = np.flatnonzero(np.asarray(values, dtype=object) == "")
    return [FieldViolation(name(int(i)), description) for i in empty[:MAX_VIOLATIONS]]


def string_maps(
    maps: Sequence[dict[str, str]], name: Namer, limits: Limits
) -> list[FieldViolation]:
    """Keys (names) and values of one string map per item; name(i) is item i's map field."""
    keys, owner, violations = _entries(maps, name, limits)
    if not keys:
        return violations
    values = list(chain.from_iterable(map(dict.values, maps)))
    violations += texts(
        values, lambda j: f"{name(owner(j))}[{keys[j]!r:.60}]", limits.max_value_bytes
    )
    return violations


def number_maps(
    maps: Sequence[dict[str, float]], name: Namer, limits: Limits
) -> list[FieldViolation]:
    """Keys of one numeric map per item, and every value finite."""
    keys, owner, violations = _entries(maps, name, limits)
    if not keys:
        return violations
    values = list(chain.from_iterable(map(dict.values, maps)))
    # A sum is finite only if every term is (a NaN or an infinity carries through it),
    # so one C-level sum clears the common case; else (or if it overflowed) look at each.
    if not math.isfinite(sum(values)):
        numbers = np.fromiter(values, dtype=np.float64, count=len(values))
        for j in np.flatnonzero(~np.isfinite(numbers))[:MAX_VIOLATIONS]:
            violations.append(
                FieldViolation(f"{name(owner(j))}[{keys[j]!r:.60}]", "must be a finite number")
            )
    return violations


def _entries(
    maps: Sequence[Mapping[str, V]], name: Namer, limits: Limits
) -> tuple[list[str], Callable[[int], int], list[FieldViolation]]:
    """(every entry's key, in item order then each map's own; the item of entry j; the
    violations of the entry counts and the keys)."""
    keys = list(chain.from_iterable(maps))
    if not keys:  # no entries (the traits of a batch of track events): nothing to check
        return keys, int, []
    owner = _owners(maps)
    violations = _counts(maps, len(keys), name, limits)
    violations += names(keys, lambda j: name(owner(j)), limits.max_name_bytes, what="a key ")
    return keys, owner, violations


def _owners(maps: Sequence[Mapping[str, V]]) -> Callable[[int], int]:
    """The item of entry j (entries in item order, then each map's own order), found
    when first asked: only a violation needs it, so a clean batch never builds it."""

    @cache
    def ends() -> np.ndarray:
        return np.cumsum(np.fromiter(map(len, maps), dtype=np.int64, count=len(maps)))

    return lambda j: int(np.searchsorted(ends(), j, side="right"))


def _counts(
    maps: Sequence[Mapping[str, V]], entries: int, name: Namer, limits: Limits
) -> list[FieldViolation]:
    """Items with more than max_map_entries entries: none if all of them together have
    no more (a small batch's maps), else counted per item."""
    most = limits.max_map_entries
    if entries <= most:
        return []
    counts = np.fromiter(map(len, maps), dtype=np.int64, count=len(maps))
    return [
        FieldViolation(name(int(i)), f"{counts[i]} entries; at most {most}")
        for i in np.flatnonzero(counts > most)[:MAX_VIOLATIONS]
    ]


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
