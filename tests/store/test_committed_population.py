"""A reader beside the writer (Store.reader()) cuts quantile tiers on the writer's
sorted population as of its last commit (score_mirror.publish): the same values SQLite
holds, with nothing read from SQLite but the excluded entities' own rows, and never a
write the writer has not committed."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from prioscore.server.store.database import Store

from .builders import scores

IDS = [f"e{i}" for i in range(40)]


@pytest.fixture
def reader(store: Store) -> Iterator[Store]:
    store.write_scores("q", 1, scores(IDS, [float(i % 7) for i in range(40)], ["t"] * 40))
    store.population("q")  # a quantile rescoring read it: published from now on
    store.write_scores("q", 1, scores(["e1"], [3.0], ["t"], disqualified=[True]))
    opened = store.reader()
    yield opened
    opened.close()


def _sql(store: Store, excluding: list[str]) -> np.ndarray:
    marks = ", ".join("?" * len(excluding)) or "''"
    rows = store.conn.execute(
        "SELECT score FROM scores WHERE profile = 'q' AND disqualified = 0"
        f" AND entity_id NOT IN ({marks})",
        excluding,
    ).fetchall()
    return np.sort([r[0] for r in rows])


def test_the_reader_takes_the_committed_population(store: Store, reader: Store) -> None:
    for excluding in ([], ["e2"], ["e1", "e9", "nobody"], IDS[:5]):
        got = reader.population("q", excluding)
        np.testing.assert_array_equal(got.values(), _sql(reader, excluding))
        assert got.base is store._mirror.committed_population("q")  # not read from SQLite


def test_an_uncommitted_or_rolled_back_write_is_not_the_readers(
    store: Store, reader: Store
) -> None:
    before = reader.population("q").values()
    with pytest.raises(KeyError), store.transaction():
        store.write_scores("q", 1, scores(["e3", "new"], [50.0, 60.0], ["t", "t"]))
        np.testing.assert_array_equal(reader.population("q").values(), before)
        raise KeyError("the batch fails")
    np.testing.assert_array_equal(reader.population("q").values(), before)
    store.write_scores("q", 1, scores(["e3", "new"], [50.0, 60.0], ["t", "t"]))
    np.testing.assert_array_equal(reader.population("q").values(), _sql(reader, []))
    assert 60.0 in reader.population("q").values()


def test_a_profile_whose_rows_moved_falls_back_to_sqlite(store: Store, reader: Store) -> None:
    with store.transaction():  # as a promotion's chunk does: the rows change under SQL
        store._mirror.forget("q")
        store.conn.execute("UPDATE scores SET score = score + 100 WHERE profile = 'q'")
    assert store._mirror.committed_population("q") is None
    np.testing.assert_array_equal(reader.population("q").values(), _sql(reader, []))
