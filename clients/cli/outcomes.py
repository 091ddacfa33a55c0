"""The outcomes CSV that backtest and calibrate read (entity_id,label,outcome_time).

`read_outcomes` checks the whole file before anything is sent. The RPCs themselves are
client methods (AsyncPrioscoreClient.backtest / calibrate / compare).
"""

from __future__ import annotations

import csv
from pathlib import Path

from prioscore.clients.cli.inputerrors import MAX_PROBLEMS, InputFileError, Problem
from prioscore.clients.events import timestamp
from prioscore.v1 import types_pb2

OUTCOME_COLUMNS = ("entity_id", "label", "outcome_time")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def read_outcomes(path: Path) -> list[types_pb2.Outcome]:
    """Outcomes of a CSV with a header naming entity_id, label and outcome_time.

    label: 1/0, true/false, yes/no. outcome_time: ISO 8601 (UTC when no offset) or epoch
    seconds (milliseconds above 1e11). Every bad row is reported (up to a limit), by line.
    """
    problems: list[Problem] = []
    outcomes: list[types_pb2.Outcome] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            absent = [c for c in OUTCOME_COLUMNS if c not in (reader.fieldnames or [])]
            if absent:
                raise InputFileError(
                    path, [Problem("line 1", absent[0], "missing column (header needs "
                                   + ",".join(OUTCOME_COLUMNS) + ")")]
                )  # fmt: skip
            for row in reader:
                line = reader.line_num
                outcome = _outcome(row, f"line {line}", problems)
                if outcome is not None:
                    outcomes.append(outcome)
                if len(problems) >= MAX_PROBLEMS:
                    break
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputFileError(path, [Problem("", "", f"unreadable: {error}")]) from None
    if not outcomes and not problems:
        problems.append(Problem("", "", "no outcomes (only a header)"))
    if problems:
        raise InputFileError(path, problems, truncated=len(problems) >= MAX_PROBLEMS)
    return outcomes


def _outcome(
    row: dict[str, str | None], where: str, problems: list[Problem]
) -> types_pb2.Outcome | None:
    entity_id = (row.get("entity_id") or "").strip()
    label_text = (row.get("label") or "").strip().lower()
    time_text = (row.get("outcome_time") or "").strip()
    before = len(problems)
    if not entity_id:
        problems.append(Problem(where, "entity_id", "must not be empty"))
    if label_text in _TRUE:
        label = True
    elif label_text in _FALSE:
        label = False
    else:
        label = False
        problems.append(Problem(where, "label", f"{label_text!r} is not 1/0, true/false, yes/no"))
    when = None
    if not time_text:
        problems.append(Problem(where, "outcome_time", "must not be empty"))
    else:
        try:
            when = timestamp(time_text)
        except (ValueError, OverflowError):
            problems.append(
                Problem(where, "outcome_time", f"{time_text!r} is not ISO 8601 or epoch seconds")
            )
    if len(problems) > before or when is None:
        return None
    return types_pb2.Outcome(entity_id=entity_id, label=label, outcome_time=when)
