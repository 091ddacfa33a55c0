"""Per-vocabulary-string work: category rules and `match` filters, decided once per string.

String columns arrive dictionary-encoded (codes into a vocabulary). String matching
(categories, `match` filters) therefore runs once per *vocabulary string* and is then
gathered through the integer codes, so a million events over a few thousand URLs cost a
few thousand `str` operations plus one array gather. Vocabularies recur across requests,
so small ones keep their lookup arrays in a bounded per-profile cache (VocabCache).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prioscore.server.engine.model import CategoryRule, EventColumns


def rule_matches(rule: CategoryRule, text: str) -> bool:
    """One rule against one vocabulary string (called once per unique string, not per event)."""
    return (
        text in rule.equals
        or (bool(rule.prefixes) and text.startswith(rule.prefixes))
        or any(part in text for part in rule.contains)
    )


def assign_categories(rules: Sequence[CategoryRule], events: EventColumns) -> np.ndarray:
    """Index of the first rule each event matches, -1 if none (int32 [n_events]).

    Rules are grouped by the property they read; for each property the first matching
    rule is decided per vocabulary string and gathered through the codes. Missing values
    (code -1) land on an appended -1 sentinel, so the gather needs no masking. A rule
    whose property the events do not carry matches nothing.
    """
    by_property: dict[str, list[int]] = {}
    for i, rule in enumerate(rules):
        by_property.setdefault(rule.property, []).append(i)
    return assign_rules(rules, tuple((p, tuple(ix)) for p, ix in by_property.items()), events)


def assign_rules(
    rules: Sequence[CategoryRule],
    by_property: Sequence[tuple[str, tuple[int, ...]]],
    events: EventColumns,
    cache: VocabCache | None = None,
) -> np.ndarray:
    """assign_categories with the rules already grouped by property (in first-rule order);
    `cache` keeps the per-vocabulary lookups of small vocabularies across requests."""
    n = len(events)
    result: np.ndarray | None = None
    for prop, indices in by_property:
        column = events.strings.get(prop)
        if column is None:
            continue
        vocabulary = column.vocabulary
        lookup = None if cache is None else cache.get(("rules", prop, vocabulary))
        if lookup is None:
            lookup = np.full(len(vocabulary) + 1, -1, dtype=np.int32)
            for v, text in enumerate(vocabulary):
                for i in indices:
                    if rule_matches(rules[i], text):
                        lookup[v] = i
                        break
            if cache is not None:
                cache.put(("rules", prop, vocabulary), lookup)
        gathered = lookup[column.codes]
        if result is None:
            result = gathered
        else:
            # Several properties: the earliest rule over all of them wins.
            both = (result >= 0) & (gathered >= 0)
            result = np.where(both, np.minimum(result, gathered), np.maximum(result, gathered))
    if result is None:
        return np.full(n, -1, dtype=np.int32)
    return result.astype(np.int32, copy=False)


# ("rules", property, vocabulary) -> category index per string (int32, -1 = none);
# ("match", (key, values), vocabulary) -> string allowed by a match filter (bool).
_VocabKey = tuple[str, object, tuple[str, ...]]


class VocabCache:
    """Lookup arrays per (kind, what, vocabulary) for small vocabularies: a request's
    vocabulary is a fresh tuple (store.load_events and inline events build it per call),
    but usually equal to an earlier one, so the per-string Python work (category rules,
    match filters) runs once per distinct vocabulary. Bounded: cleared when full. The
    arrays are read-only; concurrent requests may at worst compute one twice."""

    MAX_VOCABULARY = 256
    MAX_ENTRIES = 256

    def __init__(self) -> None:
        self._lookups: dict[_VocabKey, np.ndarray] = {}

    def get(self, key: _VocabKey) -> np.ndarray | None:
        if len(key[2]) > self.MAX_VOCABULARY:
            return None
        return self._lookups.get(key)

    def put(self, key: _VocabKey, lookup: np.ndarray) -> None:
        if len(key[2]) > self.MAX_VOCABULARY:
            return
        if len(self._lookups) >= self.MAX_ENTRIES:
            self._lookups = {}
        lookup.setflags(write=False)
        self._lookups[key] = lookup


def vocab_lookup(vocabulary: Sequence[str], allowed: Sequence[str]) -> np.ndarray:
    """Bool per vocabulary string (+ a False sentinel for code -1) saying it is allowed."""
    allowed_set = set(allowed)
    lookup = np.zeros(len(vocabulary) + 1, dtype=bool)
    for v, text in enumerate(vocabulary):
        if text in allowed_set:
            lookup[v] = True
    return lookup
