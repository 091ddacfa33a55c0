"""Backtest, Calibrate and CompareProfiles calls, and the outcomes CSV they read.

Functions over the existing clients (kept apart so client.py and sync.py stay small):
`abacktest` / `acalibrate` / `acompare` take an AsyncPrioscoreClient, `backtest` /
`calibrate` / `compare` a PrioscoreClient. All three RPCs are read-only, so they carry
the client's retry policy.
`read_outcomes` checks a whole CSV (entity_id,label,outcome_time) before anything is sent.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from prioscore.clients.client import AsyncPrioscoreClient
from prioscore.clients.events import timestamp
from prioscore.clients.inputerrors import MAX_PROBLEMS, InputFileError, Problem
from prioscore.clients.sync import PrioscoreClient
from prioscore.v1 import profile_service_pb2 as profiles_pb
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


async def abacktest(
    client: AsyncPrioscoreClient,
    outcomes: Sequence[types_pb2.Outcome],
    *,
    profile: str = "",
    candidate_toml: str = "",
    k: int = 0,
    horizon_days: float = 0.0,
    shadow_profile: str = "",
) -> profiles_pb.BacktestResponse:
    """Backtest a loaded profile (by name) or candidate TOML against known outcomes."""
    request = profiles_pb.BacktestRequest(
        outcomes=outcomes, k=k, horizon_days=horizon_days, shadow_profile=shadow_profile
    )
    if candidate_toml:
        request.candidate_toml = candidate_toml
    else:
        request.profile = profile
    return await client._unary("Backtest", client._profiles.Backtest, request)


async def acalibrate(
    client: AsyncPrioscoreClient,
    profile: str,
    outcomes: Sequence[types_pb2.Outcome],
    *,
    l2: float = 0.0,
    horizon_days: float = 0.0,
    k: int = 0,
) -> profiles_pb.CalibrateResponse:
    """Fit a loaded profile's weights to outcomes; returns the (unloaded) candidate."""
    request = profiles_pb.CalibrateRequest(
        profile=profile, outcomes=outcomes, l2=l2, horizon_days=horizon_days, k=k
    )
    return await client._unary("Calibrate", client._profiles.Calibrate, request)


async def acompare(
    client: AsyncPrioscoreClient,
    profile: str,
    *,
    candidate_toml: str = "",
    candidate_profile: str = "",
    candidate_shadow: bool = False,
    k: int = 0,
    page_size: int = 0,
) -> profiles_pb.CompareProfilesResponse:
    """Shadow-compare a loaded profile with a candidate (TOML, another loaded profile or
    the shadow staged for it) over the stored entities, as of now; the largest tier
    moves come first."""
    request = profiles_pb.CompareProfilesRequest(profile=profile, k=k, page_size=page_size)
    if candidate_toml:
        request.candidate_toml = candidate_toml
    elif candidate_shadow:
        request.candidate_shadow = True
    else:
        request.candidate_profile = candidate_profile
    return await client._unary("CompareProfiles", client._profiles.CompareProfiles, request)


def backtest(
    client: PrioscoreClient, outcomes: Sequence[types_pb2.Outcome], **options: object
) -> profiles_pb.BacktestResponse:
    return client._run(abacktest(client.aio, outcomes, **options))  # type: ignore[arg-type]


def calibrate(
    client: PrioscoreClient, profile: str, outcomes: Sequence[types_pb2.Outcome], **options: object
) -> profiles_pb.CalibrateResponse:
    return client._run(acalibrate(client.aio, profile, outcomes, **options))  # type: ignore[arg-type]


def compare(
    client: PrioscoreClient, profile: str, **options: object
) -> profiles_pb.CompareProfilesResponse:
    return client._run(acompare(client.aio, profile, **options))  # type: ignore[arg-type]
