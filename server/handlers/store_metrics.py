"""Store gauges, observed at collection time (a scrape or an export), never on a hot path.

The SQLite file's size (with its write-ahead log) is what an operator watches to plan disk
and retention; reading it is two stat calls, so nothing is counted per write.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

_meter = metrics.get_meter("prioscore.store")


def observe_store_size(path: Path) -> None:
    """Registers `prioscore.store.size` (bytes of the database file and its WAL)."""

    def size(options: CallbackOptions) -> Iterable[Observation]:
        files = [path, path.with_name(path.name + "-wal")]
        total = sum(f.stat().st_size for f in files if f.exists())
        return [Observation(total)]

    _meter.create_observable_gauge(
        "prioscore.store.size", callbacks=[size], unit="By", description="SQLite file + WAL"
    )
