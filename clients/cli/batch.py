"""`prioscore batch PROFILE IN OUT`: bulk scoring of a CSV or Parquet feature file."""

from __future__ import annotations

from pathlib import Path

import click

from prioscore.clients.cli.common import client, fail, progress_line


def _progress(rows: int, seconds: float, total: int | None) -> None:
    rate = rows / seconds if seconds > 0 else 0.0
    share = f" ({100 * rows / total:.0f}%)" if total else ""
    progress_line(f"{rows:,} rows{share}  {rate:,.0f} rows/s")


@click.command()
@click.argument("profile")
@click.argument(
    "source", metavar="IN", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.argument("out", metavar="OUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--id-column", help="Column of entity ids (default: 'id' or 'entity_id' if present).")
@click.option("--chunk-rows", default=10_000, show_default=True, help="Rows per batch.")
@click.option("--window", default=4, show_default=True, help="Batches in flight.")
@click.option(
    "--reasons", default=3, show_default=True, help="Top reasons per row (0: no reason columns)."
)
@click.option("--quiet", is_flag=True, help="No progress or summary on stderr.")
def batch(
    profile: str,
    source: Path,
    out: Path,
    id_column: str | None,
    chunk_rows: int,
    window: int,
    reasons: int,
    quiet: bool,
) -> None:
    """Score every row of IN (CSV or Parquet) under PROFILE into OUT (CSV or Parquet).

    \b
    IN: one numeric column per profile signal, named as `prioscore profiles show
        PROFILE` lists them (extra columns are ignored), plus an optional id column.
        An empty cell / null / NaN means "no such behaviour": the signal's missing
        value. Text in a signal column or +-inf stops the run with file, line (CSV;
        header = line 1) or row (Parquet) and column.
    OUT: id (or row, 1-based, when IN has no ids), score, tier (empty when
        disqualified), disqualified, and reason_N / reason_N_points for the top
        --reasons signals by |points|. Format by extension: .csv, .parquet / .pq.

    Memory stays flat: IN is read in --chunk-rows chunks, --window batches are in
    flight on one StreamScores stream. OUT is written to a temporary file beside it
    and renamed at the end, so a failed run leaves no partial OUT. Fit rules do not
    apply on this path (no attributes); score stored entities for those.
    """
    try:
        from prioscore.clients.cli.batchrun import run_batch
    except ImportError:
        fail(["error: prioscore batch needs pyarrow (a prioscore dependency): reinstall prioscore"])
    stats = run_batch(
        client(),
        profile,
        source,
        out,
        id_column=id_column,
        chunk_rows=chunk_rows,
        window=window,
        reasons=reasons,
        progress=None if quiet else _progress,
    )
    if not quiet:
        progress_line(
            f"scored {stats.rows:,} rows in {stats.seconds:.2f}s"
            f" ({stats.rows_per_second:,.0f} rows/s) -> {out}",
            final=True,
        )
