"""`prioscore batch`: score a feature file through StreamScores into a new file.

Three stages overlap: a worker thread reads and converts the next chunks, the client's
loop thread keeps `window` batches in flight on the stream, and the calling thread turns
answers into arrow tables and writes them. Nothing in the path loops over rows in Python.

The output is written to a temporary file beside OUT and renamed over OUT only after the
last chunk: a bad cell, a server error or Ctrl-C halfway leaves no partial OUT behind.

Top reasons are computed here, not asked of the server: on this path (no attributes, so
no fit rules) a signal's points are exactly clip(weight * feature, -cap, cap) — the
contract of Contribution.points — from the weights and caps GetProfile returned; a
stable sort keeps the server's tie order (lower column first).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from prioscore.clients.cli.batchio import Chunk, file_format, open_features, read_chunks
from prioscore.clients.cli.inputerrors import InputFileError, Problem
from prioscore.clients.models import MatrixScores
from prioscore.clients.sync import PrioscoreClient
from prioscore.v1 import profile_service_pb2 as profiles_pb

Progress = Callable[[int, float, int | None], None]  # (rows done, seconds, total if known)


@dataclass(frozen=True)
class BatchStats:
    rows: int
    chunks: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class SignalTable:
    """What the output needs from the profile: names, missing values, weights and caps."""

    names: tuple[str, ...]
    missing: np.ndarray
    weights: np.ndarray
    caps: np.ndarray  # +inf where the signal has no cap

    @classmethod
    def of(cls, profile: profiles_pb.GetProfileResponse) -> SignalTable:
        signals = list(profile.signals)
        return cls(
            tuple(s.name for s in signals),
            np.array([s.missing for s in signals], dtype=np.float64),
            np.array([s.weight for s in signals], dtype=np.float64),
            np.array([s.cap if s.HasField("cap") else np.inf for s in signals], dtype=np.float64),
        )

    def top_reasons(self, features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(column indices, points) of the k largest |points| per row, largest first.

        A stable sort keeps the server's tie order (lower column first). For the 5-30
        signals of a profile it measured faster per 10k-row chunk than k rounds of argmax
        or of a running max over columns (1.4 vs 1.8 vs 2.7 ms, 10 signals).
        """
        points = np.clip(features * self.weights, -self.caps, self.caps)
        order = np.argsort(-np.abs(points), axis=1, kind="stable")[:, :k].astype(np.int32)
        return order, np.take_along_axis(points, order, axis=1)


class AtomicWriter:
    """Writes arrow tables to a temp file beside `path`; renames it over `path` on success."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.format = file_format(path)
        self.temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.schema = schema
        self._writer: pq.ParquetWriter | pacsv.CSVWriter | None = None

    def __enter__(self) -> AtomicWriter:
        if self.format == "parquet":
            # Dictionary-encode the label columns only: trying it on random doubles and
            # unique ids first (the default) costs ~40% of the write for nothing.
            labels = [f.name for f in self.schema if pa.types.is_dictionary(f.type)]
            self._writer = pq.ParquetWriter(self.temp, self.schema, use_dictionary=labels)
        else:
            self._writer = pacsv.CSVWriter(self.temp, self.schema)
        return self

    def write(self, table: pa.Table) -> None:
        assert self._writer is not None
        self._writer.write_table(table)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            if kind is None:
                os.replace(self.temp, self.path)
            else:
                self.temp.unlink(missing_ok=True)


def output_schema(id_type: pa.DataType | None, reasons: int) -> pa.Schema:
    fields = [pa.field("id", id_type) if id_type is not None else pa.field("row", pa.int64())]
    fields += [
        pa.field("score", pa.float64()),
        pa.field("tier", LABEL),
        pa.field("disqualified", pa.bool_()),
    ]
    for j in range(1, reasons + 1):
        fields += [
            pa.field(f"reason_{j}", LABEL),
            pa.field(f"reason_{j}_points", pa.float64()),
        ]
    return pa.schema(fields)


LABEL = pa.dictionary(pa.int32(), pa.string())


def _labels(indices: np.ndarray, missing: np.ndarray, names: tuple[str, ...]) -> pa.Array:
    """Names by index as a dictionary column (null where `missing`): no string per row is
    built; Parquet stores it dictionary-encoded and the CSV writer prints the names."""
    codes = pa.array(indices.astype(np.int32, copy=False), mask=missing)
    return pa.DictionaryArray.from_arrays(codes, pa.array(names, pa.string()))


def result_table(
    chunk: Chunk, scores: MatrixScores, signals: SignalTable, reasons: int, schema: pa.Schema
) -> pa.Table:
    """One output table for one chunk: id/row, score, tier, disqualified, reasons."""
    n = scores.rows
    first = chunk.ids if chunk.ids is not None else pa.array(np.arange(n) + chunk.start + 1)
    columns = [
        first,
        pa.array(scores.scores),
        _labels(np.maximum(scores.tiers, 0), scores.tiers < 0, scores.tier_names),
        pa.array(scores.disqualified),
    ]
    if reasons:
        order, points = signals.top_reasons(chunk.features, reasons)
        none = points == 0
        for j in range(order.shape[1]):
            columns.append(_labels(order[:, j], none[:, j], signals.names))
            columns.append(pa.array(points[:, j], mask=none[:, j]))
        for _ in range(order.shape[1], reasons):  # fewer signals than requested reasons
            columns += [pa.nulls(n, LABEL), pa.nulls(n, pa.float64())]
    return pa.Table.from_arrays(columns, schema=schema)


def run_batch(
    client: PrioscoreClient,
    profile: str,
    source_path: Path,
    out_path: Path,
    *,
    id_column: str | None = None,
    chunk_rows: int = 10_000,
    window: int = 4,
    reasons: int = 3,
    progress: Progress | None = None,
) -> BatchStats:
    """Scores every row of source_path into out_path; OUT appears only when all went well."""
    file_format(out_path)  # reject an unknown output extension before any work
    if source_path.resolve() == out_path.resolve():
        raise InputFileError(out_path, [Problem("", "", "OUT must differ from IN")])
    signals = SignalTable.of(client.get_profile(profile))
    source = open_features(source_path, signals.names, id_column)
    schema = output_schema(pa.string() if source.id_column else None, reasons)
    chunks = read_chunks(source, signals.missing, chunk_rows)
    started = time.perf_counter()
    rows = count = 0
    with AtomicWriter(out_path, schema) as writer:
        answers = client.iter_tagged_scores(
            profile, ((c, c.features) for c in chunks), window=window
        )
        for chunk, scores in answers:
            writer.write(result_table(chunk, scores, signals, reasons, schema))
            rows += scores.rows
            count += 1
            if progress is not None:
                progress(rows, time.perf_counter() - started, source.total_rows)
    return BatchStats(rows, count, time.perf_counter() - started)
