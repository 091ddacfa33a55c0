"""WAL checkpoints on a thread of their own, beside the writer.

In WAL mode every COMMIT appends the pages it dirtied to the WAL, and a checkpoint copies
them back into the database file (and fsyncs it). SQLite runs that checkpoint inside the
COMMIT that crosses `wal_autocheckpoint` pages, so one ingest batch in ~30 paid for all of
them: measured at 10k contacts with 200-event batches, the median COMMIT took 3 ms and
every ~30th 100-470 ms, which is what an alert waiting behind it sees.

Here a PASSIVE checkpoint runs on its own connection shortly after commits (it never
blocks the writer or a reader, and the sqlite3 module releases the GIL while it copies
and syncs). The writer's own autocheckpoint stays as the backstop that lets the WAL
restart from its beginning (a PASSIVE checkpoint running beside continuous commits
never quite catches up with the last frame); by then nearly every frame is already
copied, so that checkpoint is short.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("prioscore.store")

# How long the checkpointer waits after a pass before it looks again: commits in between
# are copied together (each page once), and the WAL stays a few MiB behind at most.
CHECKPOINT_INTERVAL = 0.1


class WalCheckpointer:
    """Copies committed WAL frames into the database file, off the writer's thread."""

    def __init__(self, path: Path, *, interval: float = CHECKPOINT_INTERVAL) -> None:
        self._conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=10.0
        )
        self._conn.execute("PRAGMA synchronous=NORMAL")  # as the writer: syncs what it copies
        self._interval = interval
        self._passes = threading.Lock()  # held by a pass; paused() takes it
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, name="prioscore-checkpoint", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        """Tells the checkpointer a transaction committed (cheap: sets an event)."""
        self._wake.set()

    def checkpoint(self) -> tuple[int, int]:
        """One PASSIVE pass now: (frames in the WAL, frames copied), as SQLite reports
        them. Never waits for the writer or for readers; copies what it can."""
        with self._passes:
            _, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(frames), int(copied)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No pass runs inside (one running is waited for): a checkpoint that must
        finish — the TRUNCATE after an erasure, which leaves no copy of an erased row in
        the WAL — cannot then find this one holding SQLite's checkpoint lock."""
        with self._passes:
            yield

    def close(self, timeout: float = 10.0) -> None:
        """Stops the thread (after the pass it may be in) and closes its connection."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        self._conn.close()

    def _serve(self) -> None:
        while True:
            self._wake.wait()
            if self._stopping.is_set():
                return
            self._wake.clear()
            try:
                self.checkpoint()
            except sqlite3.Error as error:  # the writer's own checkpoint still runs
                log.warning("background WAL checkpoint failed: %s", error)
            if self._stopping.wait(self._interval):
                return


__all__ = ["CHECKPOINT_INTERVAL", "WalCheckpointer"]
