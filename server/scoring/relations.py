"""Account rollups and score signals: what a profile reads beyond its entity's own events,
and which other entities must be rescored when one entity changes.

Two relations, both through entities.account_id:
- rollup (`members = "contact"` in [profile]): an account's score counts its contacts'
  events as its own, and explanations name the contacts that contributed most;
- score signals (`scores = "<profile>"`): read another profile's current stored scores of
  the entity's members (sum, max, count of engaged contacts, breadth of roles) or of its
  account (a ticket reads its account's churn_risk).

Ingest rescores profiles in dependency order (profile_graph), and `affected` adds the
entities a change reaches: the accounts of changed contacts, the tickets of an account
whose churn score was just rewritten. So related scores are never older than the batch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, cast

import numpy as np

from prioscore.server.engine import (
    GIL_SLICE,
    EventColumns,
    Profile,
    ProfileInputs,
    Relation,
    compute_features,
    member_event_points,
    member_score_points,
    related_feature,
    top_members,
)
from prioscore.server.store import MirroredEntities, RelatedRows, Store, joined, taken


@dataclass
class Members:
    """An account profile's members: ids, the position of each one's account, and their
    events on the member axis (for explanations)."""

    ids: Sequence[str]
    owner: np.ndarray
    events: EventColumns


@dataclass
class Contributors:
    """Top contributing members per scored entity: ids ("" = none) and points, [n, k]."""

    entity_ids: np.ndarray
    points: np.ndarray


@dataclass
class RelatedInputs:
    """Everything a profile reads besides its entities' own events and attributes."""

    members: Members | None
    scores: dict[int, RelatedRows]  # signal index -> related stored scores


def _take(events: EventColumns, rows: np.ndarray, entity: np.ndarray) -> EventColumns:
    """The `rows` of events with a new entity axis."""
    return replace(
        events,
        entity=entity,
        event_type=events.event_type[rows],
        ts=events.ts[rows],
        value=events.value[rows],
        strings={k: replace(c, codes=c.codes[rows]) for k, c in events.strings.items()},
        numbers={k: v[rows] for k, v in events.numbers.items()},
    )


class EventSource(Protocol):
    """Where stored events are read from: the store itself, or the live state that the
    writer keeps in step with it (core.LiveEvents), which never rereads SQLite."""

    def load_events(
        self,
        entity_ids: Sequence[str],
        event_types: Collection[str],
        string_properties: Collection[str] = (),
        numeric_properties: Collection[str] = (),
        until: float | None = None,
    ) -> EventColumns: ...


class Relations(Protocol):
    """Where members and related stored scores are read from: the store (SQLite), or
    its in-memory mirrors (Store.mirrored(), the writer's), with the same contract."""

    def members_of(
        self, account_ids: Sequence[str], kind: str
    ) -> tuple[Sequence[str], np.ndarray]: ...

    def member_scores(
        self, profile: str, account_ids: Sequence[str], by: Sequence[str] = ()
    ) -> RelatedRows: ...

    def account_scores(self, profile: str, ids: Sequence[str]) -> RelatedRows: ...

    def scores_of(self, profile: str, ids: Sequence[str]) -> RelatedRows: ...


def load_events(
    store: Relations,
    profile: Profile,
    entity_ids: Sequence[str],
    needs: ProfileInputs,
    until: float | None,
    source: EventSource | None = None,
) -> tuple[EventColumns, Members | None]:
    """The profile's events of entity_ids (from `source`, else `store`), with
    members' events rolled up into their account's row when the profile has `members`."""
    load = (profile.event_types, needs.string_properties, needs.numeric_properties)
    # Without a source the relations are the store itself, which reads its own events.
    events_of = (source if source is not None else cast(EventSource, store)).load_events
    if not profile.members:
        return events_of(entity_ids, *load, until=until), None
    # Members have the (non-empty) members kind, the scored entities the profile's own
    # kind or none, so the two id lists never overlap.
    member_ids, owner = store.members_of(entity_ids, profile.members)
    events = events_of(joined(entity_ids, member_ids), *load, until=until)
    return roll_up(events, len(entity_ids), member_ids, owner)


def roll_up(
    events: EventColumns, n: int, member_ids: Sequence[str], owner: np.ndarray
) -> tuple[EventColumns, Members]:
    """Events on the axis (n scored entities, then member_ids) onto the scored entities'
    axis, each member's event counted as its account's (owner[i] = position of member i's
    account); the members' own events are kept on their axis for explanations."""
    to_owner = np.concatenate([np.arange(n, dtype=np.int64), owner])
    rolled = replace(events, entity=to_owner[events.entity])
    of_member = np.flatnonzero(events.entity >= n)
    member_events = _take(events, of_member, events.entity[of_member] - n)
    return rolled, Members(member_ids, owner, member_events)


def load_related_scores(
    store: Relations, profile: Profile, entity_ids: Sequence[str], accounts: Sequence[str] | None
) -> dict[int, RelatedRows]:
    """Stored scores each score signal reads, by signal index: one query per (profile
    read, relation), shared by the signals reading it. accounts[i] is entity_ids[i]'s
    account for entities sent inline; None reads the accounts of stored entities."""
    wanted: dict[tuple[str, Relation | None], list[int]] = {}
    for j, signal in enumerate(profile.signals):
        if signal.reads_scores:
            wanted.setdefault((signal.scores, signal.of), []).append(j)
    related: dict[int, RelatedRows] = {}
    for (read, of), signals in wanted.items():
        if of == Relation.MEMBERS:
            by = sorted({profile.signals[j].by for j in signals} - {""})
            rows = store.member_scores(read, entity_ids, by)
        elif accounts is None:
            rows = store.account_scores(read, entity_ids)
        else:
            rows = store.scores_of(read, accounts)
        related.update((j, rows) for j in signals)
    return related


def fill_score_signals(
    profile: Profile, matrix: np.ndarray, related: Mapping[int, RelatedRows]
) -> None:
    """Writes each score signal's column of the feature matrix in place."""
    for j, rows in related.items():
        signal = profile.signals[j]
        matrix[:, j] = related_feature(signal, rows.for_attribute(signal.by), matrix.shape[0])


def contributors(
    profile: Profile,
    n_entities: int,
    inputs: RelatedInputs,
    as_of: float,
    k: int,
    only: np.ndarray | None = None,
) -> Contributors | None:
    """The k members adding the most points to each entity (events and member scores
    together), or None when the profile reads no members. With `only`, for the entities
    at those positions only (in that order): a sweep names the contributors of the rows
    it writes, not of every member of every account."""
    if not profile.members and not any(s.of == Relation.MEMBERS for s in profile.signals):
        return None
    if only is not None:
        inputs, n_entities = _restricted(inputs, only, n_entities), len(only)
    ids: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    points: list[np.ndarray] = []
    members = inputs.members
    if members is not None and members.ids:
        features = compute_features(profile, members.events, len(members.ids), as_of)
        ids.append(np.asarray(members.ids, dtype=object))
        owners.append(members.owner)
        points.append(member_event_points(profile, features.matrix))
    for j, rows in inputs.scores.items():
        signal = profile.signals[j]
        if signal.of == Relation.MEMBERS and len(rows):
            ids.append(np.asarray(rows.entity_id, dtype=object))
            owners.append(rows.scores.owner)
            points.append(member_score_points(signal, rows.for_attribute(signal.by)))
    if not ids:
        return Contributors(np.full((n_entities, k), "", dtype=object), np.zeros((n_entities, k)))
    all_ids = np.concatenate(ids)
    owner = np.concatenate(owners)
    # A member found by several signals is one contributor: sum its points per owner.
    vocabulary, member = _factorise_ids(all_ids, owner)
    pair, inverse = np.unique(owner * len(vocabulary) + member, return_inverse=True)
    summed = np.bincount(inverse, weights=np.concatenate(points), minlength=pair.size)
    pair_owner, pair_member = np.divmod(pair, len(vocabulary))
    top = top_members(pair_owner, summed, n_entities, k)
    found = top >= 0
    names = np.where(found, vocabulary[pair_member[np.maximum(top, 0)]], "").astype(object)
    return Contributors(names, np.where(found, summed[np.maximum(top, 0)], 0.0))


def _restricted(inputs: RelatedInputs, rows: np.ndarray, n: int) -> RelatedInputs:
    """The members and member scores of the entities at `rows`, owners renumbered to
    positions in `rows` (each entity's members are its own: nothing else changes)."""
    position = np.full(n, -1, np.int64)
    position[rows] = np.arange(len(rows))
    members = inputs.members
    if members is not None:
        keep = np.flatnonzero(position[members.owner] >= 0)
        renumber = np.full(len(members.ids), -1, np.int64)
        renumber[keep] = np.arange(len(keep))
        mine = np.flatnonzero(renumber[members.events.entity] >= 0)
        events = _take(members.events, mine, renumber[members.events.entity[mine]])
        members = Members(taken(members.ids, keep), position[members.owner[keep]], events)
    scores = {}
    for j, related in inputs.scores.items():
        keep = np.flatnonzero(position[related.scores.owner] >= 0)
        owned = replace(
            related.scores,
            owner=position[related.scores.owner[keep]],
            score=related.scores.score[keep],
            eligible=related.scores.eligible[keep],
            by=None if related.scores.by is None else related.scores.by[keep],
        )
        by = {name: codes[keep] for name, codes in related.by.items()}
        scores[j] = RelatedRows.from_columns(related.entity_id.take(keep), owned, by)
    return RelatedInputs(members, scores)


def _factorise_ids(ids: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of `ids` (an object array of str) into a vocabulary in which the distinct
    ids of each owner come in sorted order: all the pairs of contributors() need of
    np.unique(ids, return_inverse=True), as top_members breaks a tie between two members
    of one owner by that order. Found a block of owners at a time (about GIL_SLICE rows
    each, an owner's rows never split), so each sort and each dict look-up runs over one
    block: a sort and a dict of every member id were single C calls holding the GIL for
    0.2-0.4 s each at 200k contacts (bench S2 promote, rescoring the promoted profile's
    readers), and the loop answered nothing meanwhile."""
    order = np.argsort(owner, kind="stable")  # numeric: numpy releases the GIL
    grouped = owner[order]
    starts = np.unique(np.searchsorted(grouped, grouped[::GIL_SLICE], "left"))
    member = np.empty(len(ids), np.int64)
    vocabularies: list[np.ndarray] = []
    size = 0
    for start, stop in zip(starts.tolist(), [*starts[1:].tolist(), len(ids)], strict=True):
        rows = order[start:stop]
        values = ids[rows].tolist()
        vocabulary = sorted(set(values))
        index = dict(zip(vocabulary, range(size, size + len(vocabulary)), strict=True))
        member[rows] = np.fromiter(map(index.__getitem__, values), np.int64, len(values))
        vocabularies.append(np.array(vocabulary, dtype=object))
        size += len(vocabulary)
    return np.concatenate(vocabularies), member


def affected(
    store: Store | MirroredEntities,
    profile: Profile,
    touched: Sequence[str],
    rescored: Mapping[str, Sequence[str]],
) -> list[str]:
    """Entities whose score under `profile` may move because `touched` changed or the
    entities in `rescored` (by profile name, this ingest) were rescored: the accounts of
    touched members (rollup) and of rescored members, and the entities of rescored
    accounts. Entities of another kind are left out."""
    found: set[str] = set()
    if profile.members:
        found.update(store.accounts_of(touched, profile.members))
    # Signals reading the same profile through the same relation reach the same entities.
    for read, of in {(s.scores, s.of) for s in profile.signals if s.reads_scores}:
        moved = rescored.get(read)
        if not moved:
            continue
        if of == Relation.MEMBERS:
            found.update(store.accounts_of(moved))
        else:
            found.update(store.entities_of_accounts(moved, profile.entity))
    return sorted(found)
