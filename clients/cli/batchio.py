"""Feature files for `prioscore batch`: chunked CSV / Parquet reading and atomic writing.

Memory stays constant whatever the file size: Parquet is read with
ParquetFile.iter_batches, CSV with pyarrow's streaming reader, both re-cut into chunks of
`chunk_rows`. Every conversion (cast, null fill, finiteness check) is a column-wide
arrow/numpy operation; Python only runs per chunk, and per value only on the error path
that locates a bad cell.

Input: one column per profile signal (names from GetProfile; extra columns ignored) and
an optional id column. An empty cell / null / NaN means "no such behaviour" and becomes
the signal's `missing` value, exactly what the server would compute for an entity
without matching events. Text where a number belongs, or +-inf, is an error naming the
file, the line (CSV, header = line 1) or row (Parquet, 1-based) and the column.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from prioscore.clients.cli.inputerrors import InputFileError, Problem

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
ID_CANDIDATES = ("id", "entity_id")
_CSV_ERROR = re.compile(r"column #(\d+).*invalid value '(.*)'", re.DOTALL)


@dataclass(frozen=True)
class Chunk:
    """Rows [start, start + len) of the input: ids (or None) and the feature matrix."""

    start: int
    ids: pa.Array | None
    features: np.ndarray


@dataclass(frozen=True)
class FeatureSource:
    path: Path
    format: str
    id_column: str | None
    columns: tuple[str, ...]  # signal columns, in profile order
    total_rows: int | None  # known for Parquet, not for CSV


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputFileError(path, [Problem("", "", "use a .csv, .parquet or .pq file")])
    return fmt


def _header(path: Path, fmt: str) -> tuple[list[str], int | None]:
    try:
        if fmt == "parquet":
            meta = pq.ParquetFile(path)
            return list(meta.schema_arrow.names), meta.metadata.num_rows
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle), []), None
    except (OSError, pa.ArrowException, csv.Error, UnicodeDecodeError) as error:
        raise InputFileError(path, [Problem("", "", f"unreadable: {error}")]) from None


def open_features(path: Path, signals: Sequence[str], id_column: str | None) -> FeatureSource:
    """Checks the header against the profile's signals before anything is read or written."""
    fmt = file_format(path)
    names, total = _header(path, fmt)
    where = "line 1" if fmt == "csv" else "schema"
    missing = [s for s in signals if s not in names]
    if missing:  # one line per missing column; the expected header is said once, after
        problems = [Problem(where, m, "missing column") for m in missing]
        problems.append(Problem(where, "", f"the profile's signals: {', '.join(signals)}"))
        raise InputFileError(path, problems)
    if id_column is not None and id_column not in names:
        raise InputFileError(path, [Problem(where, id_column, "id column not found")])
    if id_column is None:
        id_column = next((c for c in ID_CANDIDATES if c in names), None)
    return FeatureSource(path, fmt, id_column, tuple(signals), total)


def read_chunks(
    source: FeatureSource, missing: Sequence[float] | np.ndarray, chunk_rows: int
) -> Iterator[Chunk]:
    """Chunks of at most chunk_rows rows, features float64 [rows, signals]."""
    fill = np.asarray(missing, dtype=np.float64)
    start = 0
    for batch in _rechunk(_batches(source, chunk_rows), chunk_rows):
        features = _features(source, batch, start, fill)
        ids = None
        if source.id_column is not None:
            ids = pc.cast(batch.column(source.id_column), pa.string())
        yield Chunk(start, ids, features)
        start += batch.num_rows


def _batches(source: FeatureSource, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    wanted = list(source.columns) + ([source.id_column] if source.id_column else [])
    if source.format == "parquet":
        yield from pq.ParquetFile(source.path).iter_batches(batch_size=chunk_rows, columns=wanted)
        return
    types = {name: pa.float64() for name in source.columns}
    if source.id_column:
        types[source.id_column] = pa.string()
    # Only an empty cell is missing; pyarrow's default also reads "NA", "null", "n/a", ...
    # as null, which would silently score typos and placeholders as "no behaviour".
    options = pacsv.ConvertOptions(column_types=types, include_columns=wanted, null_values=[""])
    reader = None
    try:
        reader = pacsv.open_csv(source.path, convert_options=options)
        yield from reader
    except pa.ArrowInvalid as error:
        raise _locate_csv_error(source, str(error)) from None


def _rechunk(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Re-cuts arbitrary record batches into batches of exactly `rows` (the last shorter)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending).combine_chunks()
            head = table.slice(0, rows).to_batches()
            yield head[0] if len(head) == 1 else pa.concat_batches(head)
            rest = table.slice(rows)
            pending = rest.to_batches() if rest.num_rows else []
            count -= rows
    if count:
        table = pa.Table.from_batches(pending).combine_chunks()
        yield table.to_batches()[0]


def _features(
    source: FeatureSource, batch: pa.RecordBatch, start: int, fill: np.ndarray
) -> np.ndarray:
    out = np.empty((batch.num_rows, len(source.columns)), dtype=np.float64)
    for j, name in enumerate(source.columns):
        column = batch.column(name)
        try:
            numbers = pc.cast(column, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise _bad_cell(source, name, column, start) from None
        values = numbers.to_numpy(zero_copy_only=False)
        out[:, j] = np.where(np.isnan(values), fill[j], values)
    bad = ~np.isfinite(out)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputFileError(
            source.path,
            [
                Problem(
                    _where(source, start + int(row)),
                    source.columns[int(col)],
                    f"{out[row, col]} is not a finite number",
                )
            ],
        )
    return out


def _where(source: FeatureSource, row: int) -> str:
    """0-based data row -> "line N" (CSV: the header is line 1) or "row N" (1-based)."""
    return f"line {row + 2}" if source.format == "csv" else f"row {row + 1}"


def _bad_cell(source: FeatureSource, name: str, column: pa.Array, start: int) -> InputFileError:
    """Finds the first value of a non-numeric column that is not a number (error path)."""
    for i, value in enumerate(column.to_pylist()):
        if value is None:
            continue
        try:
            float(value)
        except (TypeError, ValueError):
            return InputFileError(
                source.path,
                [Problem(_where(source, start + i), name, f"{value!r} is not a number")],
            )
    return InputFileError(
        source.path, [Problem("", name, f"column of type {column.type} is not numeric")]
    )


def _locate_csv_error(source: FeatureSource, message: str) -> InputFileError:
    """pyarrow names the column and value but not the row: find the row by a string scan."""
    found = _CSV_ERROR.search(message)
    if found is None:
        return InputFileError(source.path, [Problem("", "", message)])
    names, _ = _header(source.path, "csv")
    index, value = int(found.group(1)), found.group(2)
    name = names[index] if index < len(names) else f"#{index}"
    options = pacsv.ConvertOptions(
        column_types={name: pa.string()}, include_columns=[name], null_values=[""]
    )
    start = 0
    for batch in pacsv.open_csv(source.path, convert_options=options):
        hits = pc.indices_nonzero(pc.equal(batch.column(0), value))
        if len(hits):
            row = start + hits[0].as_py()
            return InputFileError(
                source.path, [Problem(_where(source, row), name, f"{value!r} is not a number")]
            )
        start += batch.num_rows
    return InputFileError(source.path, [Problem("", name, f"{value!r} is not a number")])
