"""Score signals inside a partition: the scores a profile reads of its entities' members
or accounts, computed in the same task at the same as_of instead of read from the scores
table.

Partitioning by account keeps an account, its members and its tickets together, so every
related score a profile reads is in the partition. The rows are those the store's
member_scores / account_scores would return (store/relations.py) when the service's
stored scores were computed at as_of, which is what ingest at a pinned clock leaves
behind; for a lake job it is simply the point-in-time correct value.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prioscore.server.engine import Profile, RelatedScores, Relation
from prioscore.server.lake.columns import PartitionInputs, codes_of
from prioscore.server.scoring import Scored
from prioscore.server.store import RelatedRows


def related_rows(
    profile: Profile, inputs: PartitionInputs, done: dict[str, Scored]
) -> dict[int, RelatedRows]:
    """Rows each score signal of `profile` reads, by signal index, from the partition's
    results of the profiles it reads (`done`, by name): one set of rows per (profile
    read, relation), shared by the signals reading it, as load_related_scores does."""
    wanted: dict[tuple[str, Relation | None], list[int]] = {}
    for j, signal in enumerate(profile.signals):
        if signal.reads_scores:
            wanted.setdefault((signal.scores, signal.of), []).append(j)
    related: dict[int, RelatedRows] = {}
    for (read, of), signals in wanted.items():
        scored = done[read]
        if of == Relation.MEMBERS:
            by = sorted({profile.signals[j].by for j in signals} - {""})
            rows = _member_rows(inputs, scored, by)
        else:
            rows = _account_rows(inputs, scored)
        related.update((j, rows) for j in signals)
    return related


def _rows(
    ids: pa.ChunkedArray | pa.Array,
    owner: np.ndarray,
    position: np.ndarray,
    scored: Scored,
    by: dict[str, np.ndarray],
) -> RelatedRows:
    result = scored.result
    scores = RelatedScores(
        owner=owner.astype(np.int64),
        score=result.score[position],
        eligible=~result.disqualified[position],
    )
    entity_id = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)
    return RelatedRows.from_columns(entity_id, scores, by)


def _member_rows(inputs: PartitionInputs, scored: Scored, by: list[str]) -> RelatedRows:
    """Entities (of any kind) whose account is a scored entity and that `scored` scored."""
    entities = inputs.entities
    owner = pc.index_in(entities["account_id"], value_set=inputs.population)
    position = pc.index_in(entities["id"], value_set=pa.array(scored.entity_ids, pa.string()))
    keep = pc.and_(pc.is_valid(owner), pc.is_valid(position))
    members = entities.filter(keep)
    owners = owner.filter(keep).to_numpy()
    positions = position.filter(keep).to_numpy()
    order = np.lexsort((positions, owners))  # by account, then member: deterministic
    codes = {name: codes_of(members[name], blank_is_missing=False).codes[order] for name in by}
    return _rows(members["id"].take(order), owners[order], positions[order], scored, codes)


def _account_rows(inputs: PartitionInputs, scored: Scored) -> RelatedRows:
    """Each scored entity's account, where `scored` scored that account."""
    entities = inputs.entities
    row = pc.index_in(inputs.population, value_set=entities["id"])
    account = pc.take(entities["account_id"], row)
    position = pc.index_in(account, value_set=pa.array(scored.entity_ids, pa.string()))
    keep = pc.is_valid(position)
    owners = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
    positions = position.filter(keep).to_numpy()
    return _rows(account.filter(keep), owners, positions, scored, {})


__all__ = ["related_rows"]
