"""Feature matrix + profile -> scores, tiers, disqualifications and explanations.

ONE pass over row blocks: clip a block's features, dot with the weights, add fit points,
normalise, disqualify and tier while it is in cache. Caps fold into the features
(engine.scoring_plan), so the matrix is read once, like the `X @ w` it is measured
against, and no full-size temporary exists (peak memory ~ the outputs). Blocks run on a
few threads (engine.blocks). Explanations reuse the blocks; top reasons are
max-reductions over packed keys (`_top_reasons`), not a per-row argpartition (~350 ms
for 1M rows of 34 columns).

This module is the public API (score, assign_tiers, AttributeColumns) and the block
driver; fit points and disqualification are engine.fit, tiers engine.tiers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from prioscore.server.engine.blocks import BLOCK_ROWS, block_scratch, run_blocks
from prioscore.server.engine.fit import BlockFn, disqualify_block, fit_fn, position_fn
from prioscore.server.engine.model import (
    CategoricalColumn,
    FeatureSet,
    Profile,
    ScoreResult,
    TierMode,
)
from prioscore.server.engine.one_row import score_one_row
from prioscore.server.engine.scoring_plan import score_plan_of
from prioscore.server.engine.tiers import absolute_tiers, assign_tiers, grid_tiers

# Attributes of the scored entities, column per attribute: a float64 array for numeric
# attributes (NaN = missing); for categorical ones a str/object array or CategoricalColumn
# codes into a vocabulary - the cheap form for strings (one gather instead of one string
# comparison per mapped value; Store.attributes returns this form). A missing categorical
# value ("" or None in an array, code -1 in codes) reads as "" in both forms, so a rule
# keyed on "" means the same.
AttributeColumns = Mapping[str, "np.ndarray | CategoricalColumn"]


# np.clip without its Python wrapper (~2 us per call, a third of a one-row score): for
# float arrays with both bounds np.clip ends in exactly this ufunc (numpy._core._methods).
def _clip_ufunc() -> Callable[..., Any]:
    for module in ("numpy._core.umath", "numpy.core.umath"):
        try:
            return importlib.import_module(module).clip  # type: ignore[no-any-return]
        except (ImportError, AttributeError):  # pragma: no cover - other numpy layouts
            continue
    return np.clip  # pragma: no cover


_clip = _clip_ufunc()


def _top_reasons(block: np.ndarray, out: np.ndarray, scratch: dict[str, np.ndarray]) -> None:
    """Columns of the k largest |block| per row, largest first, ties -> lower column.

    The bits of a float64 with the sign cleared, read as int64, order like its absolute
    value (inf and NaN included). Replacing the low 6+ mantissa bits with (mask - column)
    makes keys unique per row that still order like the values (up to a 2**-46 relative
    near-tie) and carry their column. Each round is one column-wise max-reduction over the
    Fortran-ordered block, then the winner is zeroed by a flat scatter - no per-row sort.
    """
    rows, ncol = block.shape
    keys = scratch.get("keys")
    if keys is None or keys.shape != (rows, ncol):
        keys = scratch["keys"] = np.empty((rows, ncol), dtype=np.int64, order="F")
    low = (1 << max(1, (ncol - 1).bit_length())) - 1
    np.bitwise_and(block.view(np.int64), np.int64(0x7FFF_FFFF_FFFF_FFFF & ~low), out=keys)
    np.bitwise_or(keys, low - np.arange(ncol, dtype=np.int64), out=keys)
    flat = keys.reshape(-1, order="F")  # a view: keys is exactly (rows, ncol), Fortran
    row = np.arange(rows, dtype=np.intp)
    for j in range(out.shape[1]):
        column = low - (keys.max(axis=1) & low)
        out[:, j] = column
        if j + 1 < out.shape[1]:
            flat[column * rows + row] = 0


def _outside_fn(
    column: np.ndarray | CategoricalColumn | None, values: tuple[str, ...], where: Any
) -> BlockFn:
    """Block fn -> 1 where the entity is outside a scope rule (its attribute is none of
    `values`, or the request does not carry the attribute at all), else 0."""
    if column is None:
        return lambda a, b: np.ones(b - a, dtype=np.uint8)
    inside = position_fn(column, values, where)
    return lambda a, b: (inside(a, b) == 0).view(np.uint8)


def score(
    profile: Profile,
    features: FeatureSet,
    attributes: AttributeColumns,
    *,
    explain: bool = False,
    top_reasons: int = 3,
) -> ScoreResult:
    """Score n entities: engagement, fit, priority score, tier, disqualification, why.

    Follows the Profile docstring: engagement = 100 * clip(sum points, 0, max_points) /
    max_points; fit likewise against fit_max (0 when fit_max is 0); score blends them by
    fit_weight when there are fit rules (blended, or scaling engagement with combine =
    multiply). Disqualified entities (outside the scope first, then the first matching
    DisqualifyRule in profile order names the reason, then eliminatory events) keep their
    score but get tier -1 and are left out of quantile cut points.
    """
    matrix = np.asarray(features.matrix, dtype=np.float64)
    s = len(profile.signals)
    if matrix.ndim != 2 or matrix.shape[1] != s:
        raise ValueError(f"feature matrix must be [n, {s}], got {matrix.shape}")
    n = matrix.shape[0]
    eliminated_by = np.asarray(features.eliminated_by)
    if eliminated_by.shape != (n,):
        raise ValueError(f"eliminated_by must have shape ({n},), got {eliminated_by.shape}")
    plan = score_plan_of(profile)
    columns = plan.columns
    w, lo, hi, capped = plan.w, plan.lo, plan.hi, plan.capped
    if n == 1:  # a unary call: plain floats, the same bytes (one_row.py)
        # Contiguous, as the block pass's scratch row is: the same matmul kernel.
        row = _clip(matrix.reshape(-1), lo, hi) if capped else np.ascontiguousarray(matrix)
        one = score_one_row(
            profile,
            plan,
            row.reshape(1, s),
            int(eliminated_by[0]),
            attributes,
            explain=explain,
            top_reasons=top_reasons,
        )
        if one is not None:
            return one
    fortran = matrix.flags.f_contiguous and not matrix.flags.c_contiguous
    if not fortran:  # C order: clip flat against tiled bounds (a (rows, s) broadcast would
        matrix = np.ascontiguousarray(matrix)  # make numpy loop s elements at a time)
        tiled_lo, tiled_hi = plan.tiled_bounds(n)
    # Fit rules whose attribute the request lacks award 0: no block fn, just 0 points.
    fit_fns: list[tuple[int, BlockFn]] = []
    no_fit: list[int] = []
    for j, (attribute, fit_plan) in enumerate(plan.fits):
        column = attributes.get(attribute)
        if column is None:
            no_fit.append(s + j)
        else:
            fit_fns.append((s + j, fit_fn(fit_plan, column)))
    fit_max, fit_scale, max_points = plan.fit_max, plan.fit_scale, plan.max_points
    eng_scale, blend, multiply = plan.eng_scale, plan.blend, plan.multiply
    disqualifiers: list[tuple[BlockFn, tuple[str, ...]]] = []
    for attribute, values, text, where in plan.scope:  # first: out of scope says so
        disqualifiers.append((_outside_fn(attributes.get(attribute), values, where), (text,)))
    for attribute, values, texts, where in plan.disqualify:
        column = attributes.get(attribute)
        if column is not None:
            disqualifiers.append((position_fn(column, values, where), texts))
    absolute, cuts = plan.absolute, plan.cuts

    engagement, fit, total = np.empty(n), np.empty(n), np.empty(n)
    tier = np.empty(n, dtype=np.int32)
    disqualified = np.empty(n, dtype=bool)
    reason = np.empty(n, dtype=object)
    contributions = reasons = None
    if explain:
        contributions = np.empty((n, len(columns)), order="F")
        reasons = np.empty((n, min(max(top_reasons, 0), len(columns))), dtype=np.int32)

    def matrix_block(a: int, b: int, scratch: dict[str, np.ndarray]) -> None:
        """Clip + dot (+ contributions and reasons) for one cache-sized block of rows."""
        rows = b - a
        if fortran:
            c = contributions
            buf = block_scratch(scratch, "clip", (rows, s)) if c is None else c[a:b, :s]
            if capped:
                _clip(matrix[a:b], lo, hi, out=buf)
            else:
                np.copyto(buf, matrix[a:b])
        else:
            flat = block_scratch(scratch, "flat", (BLOCK_ROWS * s,))[: rows * s]
            if capped:
                _clip(matrix[a:b].reshape(-1), tiled_lo[: rows * s], tiled_hi[: rows * s], out=flat)
            else:
                np.copyto(flat, matrix[a:b].reshape(-1))
            buf = flat.reshape(rows, s)
        np.matmul(buf, w, out=engagement[a:b])
        if contributions is not None:
            np.multiply(buf, w, out=contributions[a:b, :s])
            if reasons is not None and reasons.shape[1]:
                _top_reasons(contributions[a:b], reasons[a:b], scratch)

    def run(a: int, b: int, scratch: dict[str, np.ndarray]) -> None:
        fit_span = fit[a:b]
        fit_span[:] = 0.0
        for j, fn in fit_fns:  # before the blocks: reasons rank fit columns too
            pts = fn(a, b)
            fit_span += pts
            if contributions is not None:
                contributions[a:b, j] = pts
        if contributions is not None:
            for j in no_fit:
                contributions[a:b, j] = 0.0
        for start in range(a, b, BLOCK_ROWS):
            matrix_block(start, min(start + BLOCK_ROWS, b), scratch)
        eng = engagement[a:b]
        _clip(eng, 0.0, max_points, out=eng)
        eng *= eng_scale
        if fit_fns:  # else fit is +0.0 everywhere and clipping and scaling keep it so
            _clip(fit_span, 0.0, fit_max, out=fit_span)
            fit_span *= fit_scale
        if multiply:  # engagement * (1 - w + w * fit / 100)
            np.multiply(fit_span, blend / 100.0, out=total[a:b])
            total[a:b] += 1.0 - blend
            total[a:b] *= eng
        else:  # (1 - w) * engagement + w * fit
            np.multiply(eng, 1.0 - blend, out=total[a:b])
            if blend:
                total[a:b] += blend * fit_span
        any_out = disqualify_block(
            a, b, disqualifiers, eliminated_by, profile, disqualified, reason
        )
        if absolute:
            absolute_tiers(cuts, total[a:b], tier[a:b])
            if any_out:
                tier[a:b][disqualified[a:b]] = -1

    run_blocks(n, run)
    if not absolute:
        eligible = ~disqualified if disqualified.any() else None
        if TierMode(profile.tiers.mode) is TierMode.GRID:
            tier = grid_tiers(profile.tiers, engagement, fit, eligible)
        else:
            tier = assign_tiers(profile.tiers, total, eligible)
    return ScoreResult(
        score=total,
        engagement=engagement,
        fit=fit,
        tier=tier,
        disqualified=disqualified,
        disqualify_reason=reason,
        columns=columns,
        contributions=contributions,
        reasons=reasons,
    )


__all__ = ["AttributeColumns", "assign_tiers", "score"]
