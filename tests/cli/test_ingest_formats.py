"""`prioscore ingest` takes events the way pipelines export them: stdin, NDJSON (plain
or gzip), CSV and Parquet, checked whole before anything is sent, with progress."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prioscore.clients.cli import events
from prioscore.clients.models import IngestSummary
from tests.cli.conftest import Cli

NOW = int(time.time()) - 86_400  # the server runs on the wall clock here


def _rows(prefix: str, n: int = 6) -> list[dict[str, object]]:
    return [
        {"message_id": f"{prefix}-{i}", "entity_id": f"{prefix}-c{i % 3}",
         "entity_kind": "contact", "event": "page_view", "time": NOW - i * 3600,
         "prop.url": "/pricing"}
        for i in range(n)
    ]  # fmt: skip


def _ndjson(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_ndjson_from_stdin(cli: Cli, events_stored: Callable[[], int]) -> None:
    result = cli("ingest", "-", input=_ndjson(_rows("in")))
    assert events_stored() == 6
    assert "6 events sent from stdin" in result.stderr


def test_progress_shows_share_rate_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(events, "progress_line", lambda text, final=False: shown.append(text))
    progress = events._FileProgress(total=400)
    progress(IngestSummary(events_sent=100, accepted=90))
    (line,) = shown
    assert line.startswith("100 / 400 events (25%),") and "ev/s, ETA" in line
    assert line.endswith("90 stored")


def test_gzip_ndjson(cli: Cli, tmp_path: Path, events_stored: Callable[[], int]) -> None:
    path = tmp_path / "events.ndjson.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(_ndjson(_rows("gz")))
    cli("ingest", str(path))
    assert events_stored() == 6
    cli("ingest", str(path))  # the same file again stores nothing twice
    assert events_stored() == 6


def test_parquet_keeps_types(cli: Cli, tmp_path: Path, events_stored: Callable[[], int]) -> None:
    rows = _rows("pq")
    columns = {k: [r[k] for r in rows] for k in rows[0]}
    path = tmp_path / "events.parquet"
    pq.write_table(pa.table(columns), path)
    cli("ingest", str(path))
    assert events_stored() == 6
    ranked = cli.json("rank", "lead_qualification")
    assert {r["entity_id"] for r in ranked} == {"pq-c0", "pq-c1", "pq-c2"}


def test_a_bad_row_in_any_format_names_the_line_and_sends_nothing(
    cli: Cli, tmp_path: Path, events_stored: Callable[[], int]
) -> None:
    rows = _rows("bad")
    del rows[3]["entity_id"]
    path = tmp_path / "bad.ndjson.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(_ndjson(rows))
    result = cli("ingest", str(path), ok=False)
    assert result.exit_code != 0 and "line 4" in result.stderr and "entity_id" in result.stderr
    columns = {k: [r.get(k) for r in rows] for k in rows[0]}
    parquet = tmp_path / "bad.parquet"
    pq.write_table(pa.table(columns), parquet)
    result = cli("ingest", str(parquet), ok=False)
    assert result.exit_code != 0 and "line 4" in result.stderr and "entity_id" in result.stderr
    stdin = cli("ingest", "-", "--format", "jsonl", input="{not json\n", ok=False)
    assert stdin.exit_code != 0 and "line 1" in stdin.stderr
    assert events_stored() == 0
