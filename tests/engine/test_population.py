"""Population: a sorted array less some of its values plus others, read by order
statistics. Its quantiles are np.quantile's over the same values, to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from prioscore.server.engine import Population

QUANTILES = (0.0, 0.1, 0.25, 1 / 3, 0.5, 2 / 3, 0.75, 0.9, 0.99, 1.0)


@pytest.mark.parametrize("coarse", [False, True])
def test_quantiles_equal_numpys_over_the_same_values(coarse: bool) -> None:
    rng = np.random.default_rng(7)
    for _ in range(500):
        n = int(rng.integers(1, 80))
        draw = (lambda k: rng.integers(0, 12, k).astype(float)) if coarse else rng.random
        base = np.sort(draw(n) * 100)
        taken = rng.choice(n, int(rng.integers(0, n + 1)), replace=False)
        stray = rng.random(2) + 1_000  # values base does not hold: skipped
        added = draw(int(rng.integers(0, 6))) * 100
        population = Population.without(base, np.concatenate([base[taken], stray])).plus(added)
        values = np.sort(np.concatenate([np.delete(base, taken), added]))
        np.testing.assert_array_equal(population.values(), values)
        assert population.size == len(values)
        if len(values):
            assert population.quantiles(QUANTILES) == np.quantile(values, QUANTILES).tolist()


def test_the_base_array_is_never_copied_or_written() -> None:
    base = np.sort(np.random.default_rng(1).random(1_000))
    base.flags.writeable = False
    population = Population.without(base, base[[3, 500, 999]]).plus(np.array([0.5, 2.0]))
    assert population.base is base
    assert population.quantiles([1.0]) == [2.0]


def test_an_empty_population_has_no_quantiles() -> None:
    empty = Population.without(np.array([4.0]), np.array([4.0]))
    assert empty.size == 0
    with pytest.raises(ValueError, match="empty"):
        empty.quantiles([0.5])
