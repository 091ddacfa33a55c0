"""Events -> feature matrix: one column per profile signal, one row per entity.

This module is the public API (compute_features, assign_categories) and the driver that
ties the steps together; each step is its own module, in the order a request meets them:

- engine.feature_plan: what the profile alone decides (validated signals, the groups of
  signals that share an event selection), built once per Profile object;
- engine.vocabulary: category rules and `match` filters, decided per vocabulary string
  and gathered through the codes;
- engine.selection: the events each group folds, selected at most once per request;
- engine.aggregates: the per-group folds, one column per signal (the general path);
- engine.one_entity: one entity's few events (a unary request) in plain Python over
  lists, bit-identical to the per-group path, without numpy's per-call cost;
- engine.small_batch: a few events (a small batch) fold every column at once, bit-
  identical to the per-group path but without its per-call overhead.

Everything is columnar: no per-event Python work anywhere.
"""

from __future__ import annotations

import numpy as np

from prioscore.server.engine.aggregates import fold_signal
from prioscore.server.engine.feature_plan import feature_plan_of
from prioscore.server.engine.model import EventColumns, FeatureSet, Profile
from prioscore.server.engine.one_entity import one_entity_columns, one_plan_of
from prioscore.server.engine.selection import Selector, as_of_per_event
from prioscore.server.engine.small_batch import fused_columns, fused_plan_of
from prioscore.server.engine.vocabulary import assign_categories


def compute_features(
    profile: Profile,
    events: EventColumns,
    n_entities: int,
    as_of: float | np.ndarray,
) -> FeatureSet:
    """Fold events into the profile's feature matrix as seen at `as_of`.

    `as_of` (epoch seconds) is one scalar, or one value per entity for point-in-time
    features (calibration, backtests); events after an entity's as_of are ignored. The
    matrix is float64 [n_entities, n_signals] in Fortran order: each signal's column is
    written contiguously here and scoring clips it column-wise in cache-sized blocks
    (numpy semantics and `.tobytes()` are unaffected by the memory order).
    """
    n_events = len(events)
    if n_events and (int(events.entity.min()) < 0 or int(events.entity.max()) >= n_entities):
        raise ValueError(f"event entity indices must lie in [0, {n_entities})")
    cut = as_of_per_event(as_of, events, n_entities)
    plan = feature_plan_of(profile)
    selector = Selector(plan, events, n_entities, cut)
    matrix = np.empty((n_entities, len(plan.steps)), dtype=np.float64, order="F")
    for j, step in enumerate(plan.steps):
        if step.aggregate is None:  # filled from related scores by the caller (engine.related)
            matrix[:, j] = step.missing
    if (n_entities == 1 and one_entity_columns(one_plan_of(profile), selector, matrix)) or (
        fused_columns(fused_plan_of(profile), selector, plan.steps, matrix)
    ):
        return FeatureSet(matrix=matrix, eliminated_by=selector.eliminated_by())
    for j, step in enumerate(plan.steps):
        if step.aggregate is None:
            continue
        sel = selector.select(step.group)
        column = matrix[:, j]
        np.copyto(column, fold_signal(step, sel, events.numbers))
        empty = sel.empty
        if empty is not None:
            np.copyto(column, step.missing, where=empty)
    return FeatureSet(matrix=matrix, eliminated_by=selector.eliminated_by())


__all__ = ["assign_categories", "compute_features"]
