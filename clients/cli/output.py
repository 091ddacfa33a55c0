"""Rendering records for people (aligned tables) and machines (--json, --csv).

Every command builds a list of flat dicts once and hands it here, so the three formats
always carry the same fields. Tables round floats for reading; JSON and CSV keep full
precision so scripts never parse a rounded number.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import click
from rich import box
from rich.console import Console
from rich.table import Table

Record = dict[str, Any]
FORMATS = ("table", "json", "csv")


def output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --json / --csv (default: a human table) and passes `fmt` to the command."""
    command = click.option(
        "--csv",
        "fmt",
        flag_value="csv",
        help="Machine output: CSV with a header row.",
    )(command)
    command = click.option(
        "--json",
        "fmt",
        flag_value="json",
        help="Machine output: JSON (an array of objects; watch prints one object per line).",
    )(command)
    return click.option("--table", "fmt", flag_value="table", default=True, hidden=True)(command)


def _cell(value: Any, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v, digits) for v in value)
    return str(value)


def terminal_width() -> int:
    """The terminal's columns (COLUMNS wins); a pipe gets a wide page so rows stay whole."""
    size = shutil.get_terminal_size(fallback=(_PIPE_WIDTH, 24))
    return max(size.columns, 40)


_PIPE_WIDTH = 160
# A dashed rule under the header and nothing else: plain ASCII, so it pastes anywhere.
_DASHED_HEAD = box.Box("    \n    \n -  \n    \n    \n    \n    \n    \n")


def table(
    records: Sequence[Record], columns: Sequence[str], digits: int = 1, width: int | None = None
) -> str:
    """A table that fits `width` (default: the terminal): numbers right-aligned and never
    cut; long text (reasons, contributors) folds inside its own cell, so no row spills
    into the next line's columns. rich does the measuring."""
    numeric = [
        all(isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool) for r in records)
        and bool(records)
        for c in columns
    ]
    grid = Table(box=_DASHED_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for column, number in zip(columns, numeric, strict=True):
        grid.add_column(
            column.upper(),
            justify="right" if number else "left",
            no_wrap=number,
            overflow="fold",
        )
    for record in records:
        grid.add_row(*(_cell(record.get(c), digits) for c in columns))
    console = Console(
        file=io.StringIO(), width=width or terminal_width(), color_system=None, highlight=False
    )
    console.print(grid)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())  # type: ignore[attr-defined]


def _plain(value: Any) -> Any:
    """JSON-safe: NaN/inf become null (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def emit(
    records: Sequence[Record],
    columns: Sequence[str],
    fmt: str,
    *,
    stream: TextIO | None = None,
    empty: str = "(nothing)",
    digits: int = 1,
) -> None:
    """Prints records as a table, a JSON array or CSV (columns in the given order)."""
    out = stream or sys.stdout
    if fmt == "json":
        json.dump([_plain(r) for r in records], out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for r in records:
            writer.writerow([_csv_cell(r.get(c)) for c in columns])
    elif records:
        out.write(table(records, columns, digits) + "\n")
    else:
        out.write(empty + "\n")
    out.flush()


def emit_line(record: Record, columns: Sequence[str], fmt: str, header: bool) -> None:
    """One record as it happens (watch): a JSON line, a CSV row, or a table-like line."""
    if fmt == "json":
        sys.stdout.write(json.dumps(_plain(record), ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        if header:
            writer.writerow(columns)
        writer.writerow([_csv_cell(record.get(c)) for c in columns])
    else:  # fixed widths, so lines printed one by one still line up under the header
        cells = [_cell(record.get(c), 1).ljust(_LINE_WIDTHS.get(c, 12)) for c in columns]
        sys.stdout.write("  ".join(cells).rstrip() + "\n")
    sys.stdout.flush()


_LINE_WIDTHS = {"change_id": 9, "time": 20, "profile": 18, "entity_id": 16, "score": 5}


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value
