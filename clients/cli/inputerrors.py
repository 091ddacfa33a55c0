"""Errors in user-supplied files, located by file, line (or row) and field.

The CLI validates a whole input before sending or writing anything, so one run shows
every problem (up to a limit) with enough location to fix it in an editor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    """One bad value: `where` is "line 7" (text files) or "row 7" (Parquet)."""

    where: str
    field: str
    message: str

    def render(self, path: Path | str) -> str:
        field = f": field '{self.field}'" if self.field else ""
        location = f": {self.where}" if self.where else ""
        return f"{path}{location}{field}: {self.message}"


class InputFileError(Exception):
    """A user file is unusable; `problems` lists what is wrong and where."""

    def __init__(self, path: Path | str, problems: list[Problem], truncated: bool = False) -> None:
        self.path = path
        self.problems = problems
        self.truncated = truncated
        super().__init__(problems[0].render(path) if problems else f"{path}: unusable")

    def describe(self) -> list[str]:
        lines = [p.render(self.path) for p in self.problems]
        if self.truncated:
            lines.append(f"{self.path}: ... stopped after {len(self.problems)} problems")
        return lines


class RowError(ValueError):
    """Raised while converting one row; the caller adds the file and line."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
