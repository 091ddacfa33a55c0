"""Erasure that holds: messages about an erased id are dropped, and counted, until the id
is explicitly allowed again (Segment's suppress-with-delete).

Without this, redelivering a person's original messages after EraseEntity (a replay, a
retrying producer) would bring them back. An event is dropped when its entity or the
account it joins was erased; so is an upsert of an erased id.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from opentelemetry import metrics

from prioscore.server.handlers.requests import IncomingEntity, IncomingEvents, take_events
from prioscore.server.store import Store

_suppressed = metrics.get_meter("prioscore.server").create_counter(
    "prioscore.events.suppressed", unit="{message}", description="messages about erased ids"
)


def drop_suppressed_events(store: Store, events: IncomingEvents) -> tuple[IncomingEvents, int]:
    """(the events not about a suppressed id, how many were dropped)."""
    merged = [i for merge in events.merges for i in merge]
    hit = store.suppressed_among([*events.entity_id, *filter(None, events.account_id), *merged])
    if not hit:
        return events, 0
    entity = np.asarray(events.entity_id, dtype=object)
    account = np.asarray(events.account_id, dtype=object)
    wanted = list(hit)
    dropped = np.isin(entity, wanted) | np.isin(account, wanted)
    counts = Counter(
        e if e in hit else a for e, a in zip(entity[dropped], account[dropped], strict=True)
    )
    store.count_dropped(dict(counts))
    _suppressed.add(int(dropped.sum()))
    kept = take_events(events, np.flatnonzero(~dropped))
    # A merge is a message about both its ids: one naming an erased id goes with it.
    kept.merges = [m for m in events.merges if not hit.intersection(m)]
    return kept, int(dropped.sum())


def drop_suppressed_entities(
    store: Store, entities: list[IncomingEntity]
) -> tuple[list[IncomingEntity], int]:
    hit = store.suppressed_among([e.id for e in entities])
    if not hit:
        return entities, 0
    kept = [e for e in entities if e.id not in hit]
    store.count_dropped(dict(Counter(e.id for e in entities if e.id in hit)))
    _suppressed.add(len(entities) - len(kept))
    return kept, len(entities) - len(kept)
