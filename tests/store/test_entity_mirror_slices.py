"""The entity mirror's base columns (kind, account, the id order), built at a start,
and its catch-up after a large write are coded GIL_SLICE rows at a time
(entity_mirror.py), so no C loop over every row keeps the GIL from the serving loop:
the result must be the one pass's, and no coding call may be given more than a slice.

The one-pass reference is the same code with GIL_SLICE beyond the row count (one slice
is what the mirror did before it was sliced); both are compared id by id, since slot
numbers and the order of a column's values are internal, and against SQLite's reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prioscore.server.engine import GIL_SLICE
from prioscore.server.store import entity_mirror
from prioscore.server.store.database import EntityRecord, Store
from prioscore.server.store.entity_mirror import EntityMirror, _Column
from prioscore.server.store.slots import SlotTable

N = 2 * GIL_SLICE + 300  # two slices and a shorter last part
NEW = 500  # ids the large upsert adds
IDS = [f"e{i:05d}" for i in range(N + NEW)]


def _kind(i: int) -> str:
    # "ticket" first appears in the last part: its code is given in a later slice.
    if i >= 2 * GIL_SLICE and i % 7 == 0:
        return "ticket"
    return "account" if i >= GIL_SLICE and i % 5 == 0 else "contact"


def _account(i: int, turn: int) -> str:
    """No account, a stored entity's id or an id with no row, moving with `turn`."""
    return ["", f"e{(i + turn) % 50:05d}", f"ext{(i + turn) % 40}"][(i + turn) % 3]


def _records(
    ids: range, turn: int, text: Callable[[int], str], number: Callable[[int], float]
) -> list[EntityRecord]:
    return [
        EntityRecord(
            IDS[i],
            _kind(i + turn),
            account_id=_account(i, turn),
            attributes={} if i % 11 == 0 else {"industry": text(i)},
            numeric_attributes={} if i % 13 == 0 else {"employees": number(i)},
        )
        for i in ids
    ]


def _decoded(store: Store) -> dict[str, Any]:
    """What the store's entity mirror holds, by id: kind, account, each column's value
    (None absent) and its type, the kind codes and each kind's id order."""
    mirror, slots = store._entities, store._slots
    with store._lock:
        mirror.ready(store.conn)
    at = slots.of(IDS, add=False)
    accounts = mirror.account_of(at)
    names = ["" if a < 0 else slots.strings(np.array([a]))[0] for a in accounts.tolist()]
    out: dict[str, Any] = {
        "kinds": mirror.kind_names(at).tolist(),
        "accounts": names,
        "kind codes": dict(mirror._kinds),
        "order": {k: slots.strings(mirror.population(k)) for k in mirror._kinds},
    }
    for (kind, name), column in sorted(mirror._columns.items()):
        data = column.data[np.maximum(at, 0)].tolist()
        if column.numeric:
            values = [None if s < 0 or np.isnan(v) else v for s, v in zip(at, data, strict=True)]
        else:
            values = [
                None if s < 0 or c < 0 else column.values[c] for s, c in zip(at, data, strict=True)
            ]
        out[f"{kind}:{name}"] = (str(column.data.dtype), values)
    return out


def _as_sqlite_reads(store: Store) -> None:
    """The mirror's reads answer as SQLite's own do."""
    got = store.mirrored().attributes(IDS, ["industry"], ["employees"])
    want = store.attributes(IDS, ["industry"], ["employees"])
    assert got["industry"].vocabulary == want["industry"].vocabulary  # type: ignore[union-attr]
    np.testing.assert_array_equal(got["industry"].codes, want["industry"].codes)  # type: ignore[union-attr]
    np.testing.assert_array_equal(got["employees"], want["employees"])
    for kind in ("contact", "account", "ticket"):
        assert list(store.mirrored().entity_ids(kind)) == store.entity_ids(kind=kind)


@contextmanager
def _largest_inputs(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """The most items any call of the mirror's C-level coding was given, by name: slot
    look-ups, base-column coding, attribute coding and the ids sent to SQLite as JSON."""
    largest: dict[str, int] = {}
    with monkeypatch.context() as patch:

        def spy(owner: object, name: str) -> None:
            real = getattr(owner, name)

            def spied(*args: Any, **kwargs: Any) -> Any:
                items = args[-1]  # each takes its items last: (self,) ids / rows / raw
                largest[name] = max(largest.get(name, 0), len(items))
                return real(*args, **kwargs)

            patch.setattr(owner, name, spied)

        spy(SlotTable, "of")
        spy(EntityMirror, "_set_base")
        spy(_Column, "code")
        spy(entity_mirror, "ids_json")
        yield largest


def _one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entity_mirror, "GIL_SLICE", 10 * len(IDS))


def _seed(path: Path) -> Store:
    store = Store(path)
    store.upsert_entities(_records(range(N), 0, lambda i: f"v{i % 50}", float))
    return store


def test_base_columns_built_in_slices_are_the_one_pass_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(tmp_path / "e.db").close()
    sliced = Store(tmp_path / "e.db")  # a start: the mirror reads every row on first use
    try:
        with _largest_inputs(monkeypatch) as largest:
            sliced.mirrored().kinds_of([IDS[0]])  # builds the base columns
        assert largest["_set_base"] == GIL_SLICE
        assert max(largest.values()) <= GIL_SLICE, largest
        got = _decoded(sliced)
        _as_sqlite_reads(sliced)
    finally:
        sliced.close()
    with monkeypatch.context() as patch:
        _one_pass(patch)
        whole = Store(tmp_path / "e.db")
        try:
            want = _decoded(whole)
        finally:
            whole.close()
    assert got["kind codes"] == {"contact": 0, "account": 1, "ticket": 2}
    assert got == want


def _later_text(i: int) -> str:
    return f"v{i % 50}" if i < GIL_SLICE else f"w{i % 400}"  # 400 values: int16 codes


def _later_number(i: int) -> float:
    return float(i) if i < 2 * GIL_SLICE else i + 0.1  # not a float32


def _written(
    store: Store, monkeypatch: pytest.MonkeyPatch, sliced: bool, write: Callable[[], None]
) -> tuple[dict[str, Any], dict[str, int]]:
    """What the mirror holds after `write`, run in slices or in one pass, and the most
    items its coding calls were given meanwhile; the store is closed after."""
    try:
        with monkeypatch.context() as patch:
            if not sliced:
                _one_pass(patch)
            with _largest_inputs(patch) as largest:
                write()
        _as_sqlite_reads(store)
        return _decoded(store), largest
    finally:
        store.close()


def _caught_up(
    path: Path, monkeypatch: pytest.MonkeyPatch, sliced: bool
) -> tuple[dict[str, Any], dict[str, int]]:
    """A built mirror (base and attribute columns) after an upsert of every row, NEW
    rows more and a few erasures, caught up in slices or in one pass."""
    store = _seed(path)
    store.mirrored().attributes(IDS, ["industry"], ["employees"])  # int8, float32
    # The text codes outgrow int8 from the second slice on, the numbers float32 in
    # the third (in the order touched): the columns widen in a later slice.
    store.upsert_entities(_records(range(N + NEW), 1, _later_text, _later_number))
    for i in (3, GIL_SLICE + 1, N + 7):
        store.erase_entity(IDS[i])
    return _written(store, monkeypatch, sliced, lambda: store.mirrored().kinds_of([IDS[0]]))


def test_a_catch_up_in_slices_is_the_one_pass_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    got, largest = _caught_up(tmp_path / "sliced.db", monkeypatch, sliced=True)
    assert largest["ids_json"] == GIL_SLICE  # in slices, not fewer
    assert max(largest.values()) <= GIL_SLICE, largest
    want, whole = _caught_up(tmp_path / "whole.db", monkeypatch, sliced=False)
    assert whole["code"] > GIL_SLICE  # the reference is one pass
    assert (got["text:industry"][0], got["number:employees"][0]) == ("int16", "float64")
    assert got == want


def _created(
    path: Path, monkeypatch: pytest.MonkeyPatch, sliced: bool
) -> tuple[dict[str, Any], dict[str, int]]:
    """A built mirror after ensure_entities created bare rows for more than a slice of
    new ids (what an ingest naming that many new entities does), in slices or in one."""
    store = Store(path)
    store.upsert_entities(_records(range(GIL_SLICE), 0, lambda i: f"v{i % 50}", float))
    store.mirrored().attributes(IDS, ["industry"], ["employees"])  # built, with columns

    def create() -> None:
        store.ensure_entities(IDS[GIL_SLICE // 2 :], kind="contact", now=1.0)

    return _written(store, monkeypatch, sliced, create)


def test_bare_rows_created_in_slices_are_the_one_pass_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    got, largest = _created(tmp_path / "sliced.db", monkeypatch, sliced=True)
    # (SlotTable.of is given every id by the existence check: it slices its own loops.)
    assert largest["_set_base"] == largest["code"] == GIL_SLICE, largest
    want, whole = _created(tmp_path / "whole.db", monkeypatch, sliced=False)
    assert whole["_set_base"] > GIL_SLICE  # the reference is one pass
    assert got == want
    assert got["kinds"].count("contact") > GIL_SLICE  # the new rows are there
