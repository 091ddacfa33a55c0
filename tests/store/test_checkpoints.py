"""WAL checkpoints beside the writer (store/checkpoints.py): every committed frame gets
copied into the database file by the checkpointer's own connection, a commit wakes it,
and closing the store stops it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from prioscore.server.errors import StorageUnavailableError
from prioscore.server.store.checkpoints import WalCheckpointer
from prioscore.server.store.database import EntityRecord, Store


def _write(store: Store, n: int, tag: str) -> None:
    store.upsert_entities([EntityRecord(f"{tag}{i}", "contact") for i in range(n)])


def test_a_pass_copies_every_committed_frame(store: Store, db_path: Path) -> None:
    _write(store, 500, "a")
    checkpointer = WalCheckpointer(db_path)
    try:
        frames, copied = checkpointer.checkpoint()
        assert frames > 0 and copied == frames
        # The database file alone now has the rows: a copy without its WAL reads them.
        copy = db_path.with_name("copy.db")
        copy.write_bytes(db_path.read_bytes())
        assert sqlite3.connect(copy).execute("SELECT count(*) FROM entities").fetchone() == (500,)
    finally:
        checkpointer.close()


class _Counting(WalCheckpointer):
    def __init__(self, path: Path) -> None:
        self.passes = threading.Semaphore(0)
        super().__init__(path, interval=0.0)

    def checkpoint(self) -> tuple[int, int]:
        result = super().checkpoint()
        self.passes.release()
        return result


def test_a_commit_wakes_the_checkpointer_and_close_stops_it(db_path: Path) -> None:
    store = Store(db_path)
    store.start_checkpoints()
    counting = _Counting(db_path)
    assert store._checkpointer is not None
    store._checkpointer.close()
    store._checkpointer = counting  # the store's own, observed
    _write(store, 10, "b")
    assert counting.passes.acquire(timeout=10)  # woken by the commit, not by a timer
    assert not counting.passes.acquire(timeout=0)  # and only once: nothing else committed
    thread = counting._thread
    store.close()
    assert not thread.is_alive() and store._checkpointer is None


def test_the_writers_own_checkpoint_stays_as_the_backstop(store: Store) -> None:
    # The WAL restarts from its start only after a checkpoint by the writer; a PASSIVE
    # pass beside continuous commits never reaches the last frame (see the module).
    store.start_checkpoints()
    pages = store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
    assert pages > 0


def test_a_pass_waits_while_paused(db_path: Path) -> None:
    Store(db_path).close()
    checkpointer = WalCheckpointer(db_path)
    inside, done = threading.Event(), threading.Event()

    def background_pass() -> None:
        inside.set()
        checkpointer.checkpoint()
        done.set()

    try:
        with checkpointer.paused():
            thread = threading.Thread(target=background_pass)
            thread.start()
            assert inside.wait(10)
            assert not done.wait(0.05)  # it waits for the pause to end
        assert done.wait(10)
        thread.join(10)
    finally:
        checkpointer.close()


def test_a_wal_that_could_not_be_truncated_is_an_error_not_a_success(store: Store) -> None:
    # An erasure truncates the WAL so no copy of an erased row stays in it; when SQLite
    # reports the TRUNCATE checkpoint busy (a reader pinned an older snapshot), saying
    # "done" would leave the copies behind.
    _write(store, 5, "c")
    pinned = sqlite3.connect(store.path, isolation_level=None)
    pinned.execute("BEGIN")
    pinned.execute("SELECT count(*) FROM entities").fetchone()
    _write(store, 5, "d")
    store.conn.execute("PRAGMA busy_timeout=0")  # do not wait the 10 s for the reader
    try:
        with pytest.raises(StorageUnavailableError, match="WAL"):
            store.truncate_wal()
    finally:
        pinned.execute("COMMIT")
        pinned.close()
    store.truncate_wal()  # the reader gone, it succeeds
