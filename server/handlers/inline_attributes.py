"""Attribute columns of an inline ScoreEntities request: what ingesting it would store.

Users run inline scoring as a "what if" of an ingest, so each attribute a profile reads
is, per entity, the value the store would hold after ingesting the request's events and
then upserting its listed entities over the stored row. Upserts merge attribute by
attribute (json_patch, later wins), so the precedence is per attribute, not per entity:

1. the listed entity's own value, if it lists that attribute (a later listing of the
   same id wins, as repeated upserts do);
2. else the last identify or group trait for it in the request's events, in the order
   sent (an identify's traits are its entity's, a group's are its account's:
   requests.trait_owners, the ingest's own rule; ingest applies them in arrival order,
   not by event time);
3. else the stored entity's (one read for every id: StoredScorer.existing_attributes);
4. else missing ("" / NaN).

An empty string listed or sent is a value: it blanks the attribute, as an upsert does.
A categorical attribute given only as a number reads as the store reads it, its text
("250", "2.5"); a name read both ways is numeric (Store.attributes). One case differs
from an ingest: a stored text value under a name the request sends only as a number
reads the request's number here, where the store would keep reading its text (the store
reads text before numbers across all writes; telling the two apart would need a second
read per request for a name typed both ways). Ids are read as sent: the identity
merges a request declares are not applied inline, to its attributes as to its events.

Per attribute the work is C-level maps over the messages and the ids (dict.get,
compress) and numpy; there is no Python step per entity or per event.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from itertools import compress, repeat
from operator import attrgetter, is_, is_not, methodcaller
from typing import TypeVar

import numpy as np

from prioscore.server.engine import AttributeColumns, CategoricalColumn, Profile, profile_inputs
from prioscore.server.handlers.requests import (
    IncomingEntity,
    IncomingEvents,
    taken,
    trait_owners,
)
from prioscore.server.scoring import StoredScorer
from prioscore.server.store import CATEGORICAL_SQL, texts_to_codes

__all__ = ["event_attributes", "feature_attributes"]

T = TypeVar("T")
# An entity's id and attribute maps, by a C-level map over the listed entities.
_ID, _TEXTS, _NUMBERS = attrgetter("id"), attrgetter("attributes"), attrgetter("numeric_attributes")

# CATEGORICAL_SQL over numbers alone, each one's JSON text as the store holds it (no
# text attribute: NULL): the text the store reads for it (its first path parameter is
# for the text attributes, the second for the number).
_NUMBER_TEXT_SQL = (
    f"SELECT {CATEGORICAL_SQL} FROM (SELECT j.key AS key, NULL AS attributes,"
    " j.value AS numeric_attributes FROM json_each(?) AS j) AS e ORDER BY e.key"
)


def event_attributes(
    profile: Profile,
    entity_ids: list[str],
    events: IncomingEvents,
    entities: list[IncomingEntity],
    scorer: StoredScorer,
) -> AttributeColumns:
    """InlineEvents: attribute columns aligned to entity_ids (module docstring): the
    events' traits first, so the listed entities' values, after them, win."""
    rows, owners = trait_owners(events, np.asarray(events.kind, dtype=object))
    return _merged(
        profile,
        entity_ids,
        [*owners, *map(_ID, entities)],
        [*taken(events.traits, rows), *map(_TEXTS, entities)],
        [*taken(events.numeric_traits, rows), *map(_NUMBERS, entities)],
        scorer,
    )


def feature_attributes(
    profile: Profile, entity_ids: list[str], entities: list[IncomingEntity], scorer: StoredScorer
) -> AttributeColumns:
    """InlineFeatures: the listed entities' attributes, else the stored ones (steps 1, 3
    and 4 of the module docstring: there are no events)."""
    ids, texts, numbers = map(_ID, entities), map(_TEXTS, entities), map(_NUMBERS, entities)
    return _merged(profile, entity_ids, [*ids], [*texts], [*numbers], scorer)


def _merged(
    profile: Profile,
    entity_ids: list[str],
    owners: list[str],
    strings: Sequence[Mapping[str, str]],
    numbers: Sequence[Mapping[str, float]],
    scorer: StoredScorer,
) -> AttributeColumns:
    """Columns of the attributes `profile` reads: the last of `strings` / `numbers` (in
    order) of each id's `owners` entries that has the attribute, else the stored one.
    Text as CategoricalColumn, as a stored read gives it: the engine's rules read codes
    through their vocabulary, where an object array costs a comparison per rule value
    (a one-row score with the bundled lead profile: 59-103 us against 30)."""
    needs = profile_inputs(profile)
    if not (needs.categorical_attributes or needs.numeric_attributes) or not entity_ids:
        return {}
    _, stored = scorer.existing_attributes(profile, entity_ids)
    if not owners:  # nothing listed, no traits: the stored columns as they are
        return stored
    columns: dict[str, np.ndarray | CategoricalColumn] = {}
    for name in needs.categorical_attributes:
        if name in needs.numeric_attributes:
            continue  # read as a number (Store.attributes: numeric wins)
        given = list(map(_latest(owners, strings, name).get, entity_ids))
        absent = np.fromiter(map(is_, given, repeat(None)), dtype=bool, count=len(given))
        text = np.array(given, dtype=object)
        number = _column(_latest(owners, numbers, name), entity_ids)
        spoken = absent & ~np.isnan(number)
        if spoken.any():
            text[spoken] = _number_texts(number[spoken].tolist())
            absent &= ~spoken
        column = stored[name]
        assert isinstance(column, CategoricalColumn)  # Store.attributes' form for text
        words = np.array((*column.vocabulary, ""), dtype=object)  # code -1: missing, ""
        text[absent] = words[column.codes[absent]]
        columns[name] = texts_to_codes(text.tolist(), len(text))  # "": missing, as stored
    for name in needs.numeric_attributes:
        number = _column(_latest(owners, numbers, name), entity_ids)
        absent = np.isnan(number)  # the request's numbers are finite: NaN is not sent
        number[absent] = np.asarray(stored[name], dtype=np.float64)[absent]
        columns[name] = number
    return columns


def _latest(owners: list[str], maps: Sequence[Mapping[str, T]], name: str) -> dict[str, T]:
    """Owner -> its last value of `name` among `maps` (a dict built in order keeps the
    last), for the owners whose maps have it."""
    values = list(map(methodcaller("get", name), maps))
    given = list(map(is_not, values, repeat(None)))
    return dict(zip(compress(owners, given), compress(values, given), strict=True))


def _column(values: Mapping[str, float], entity_ids: list[str]) -> np.ndarray:
    """values by id, aligned to entity_ids (NaN: none)."""
    found = map(values.get, entity_ids, repeat(np.nan))
    return np.fromiter(found, dtype=np.float64, count=len(entity_ids))


def _number_texts(numbers: list[float]) -> list[str]:
    """The texts the store reads for these numbers under a categorical attribute: its own
    expression, on SQLite's own conversion of the same JSON text (Python's formatting
    differs from SQLite's: its rounding of 15 digits, "1.0e+20"). A statement on a
    connection of its own: it reads no table."""
    texts = json.dumps(list(map(json.dumps, numbers)))  # as upsert_entities writes them
    with closing(sqlite3.connect(":memory:")) as conn:
        rows = conn.execute(_NUMBER_TEXT_SQL, ("$", "$", texts)).fetchall()
    return [row[0] for row in rows]
