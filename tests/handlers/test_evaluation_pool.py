"""Evaluations served in a process of their own (handlers/evaluation_pool.py)."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

from prioscore.server.config import Limits
from prioscore.server.errors import InvalidArgumentError, NotFoundError, UnavailableError
from prioscore.server.handlers import Handlers, Outcomes
from prioscore.server.handlers.evaluation import EvaluationContext
from prioscore.server.handlers.evaluation_pool import EVALUATION_NICENESS, EvaluationPool
from tests.handlers.conftest import NOW, tracks


class _WhereAmI:
    """A job that answers the process it ran in, its CPU priority and the entities it
    read there."""

    def run(self, ctx: EvaluationContext) -> tuple[int, int, list[str]]:
        niceness = os.getpriority(os.PRIO_PROCESS, 0)
        return os.getpid(), niceness, ctx.store.entity_ids(kind="contact")


def test_a_job_runs_in_another_process_on_the_same_store(handlers: Handlers) -> None:
    handlers.service.ingest(tracks([("c1", "page_view", 1, {}), ("c2", "email_click", 2, {})]))
    pool = EvaluationPool(handlers.store.path, Limits())
    try:
        pid, niceness, ids = asyncio.run(pool.run(_WhereAmI()))
    finally:
        pool.close()
    assert pid != os.getpid() and ids == ["c1", "c2"]
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert niceness == min(19, ours + EVALUATION_NICENESS)  # it yields to the server
    with pytest.raises(UnavailableError):
        asyncio.run(pool.run(_WhereAmI()))


def test_served_evaluations_answer_as_in_process_ones(handlers: Handlers) -> None:
    rows = [(f"c{i}", "page_view", d, {"url": "/pricing"}) for i in range(12) for d in range(i)]
    handlers.service.ingest(tracks(rows))
    outcomes = Outcomes(
        [f"c{i}" for i in range(1, 12)],
        np.array([i % 3 == 0 for i in range(1, 12)]),
        np.full(11, NOW),
    )
    profiles = handlers.profiles

    async def served() -> tuple[object, ...]:
        tested = await profiles.abacktest(outcomes, profile_name="lead_qualification")
        fitted = await profiles.acalibrate(outcomes, profile_name="lead_qualification")
        compared = await profiles.acompare(
            profile_name="lead_qualification", candidate_toml=fitted.candidate_toml
        )
        return tested.report, fitted.candidate_toml, compared.entity_ids, compared.score_change

    tested = profiles.backtest(outcomes, profile_name="lead_qualification")
    fitted = profiles.calibrate(outcomes, profile_name="lead_qualification")
    compared = profiles.compare(
        profile_name="lead_qualification", candidate_toml=fitted.candidate_toml
    )
    here = (tested.report, fitted.candidate_toml, compared.entity_ids, compared.score_change)
    assert repr(asyncio.run(served())) == repr(here)  # reports hold arrays and NaN


def test_errors_raised_in_the_evaluation_process_name_their_field(handlers: Handlers) -> None:
    handlers.service.ingest(tracks([("c1", "page_view", 1, {}), ("c2", "email_click", 2, {})]))
    profiles = handlers.profiles
    unknown = Outcomes(["c1", "nobody"], np.array([True, False]), np.array([NOW, NOW]))
    with pytest.raises(NotFoundError) as missing:
        asyncio.run(profiles.abacktest(unknown, profile_name="lead_qualification"))
    assert (missing.value.field, missing.value.reason) == (
        "outcomes[1].entity_id",
        "ENTITY_NOT_FOUND",
    )
    one_sided = Outcomes(["c1", "c2"], np.array([True, True]), np.array([NOW, NOW]))
    with pytest.raises(InvalidArgumentError) as invalid:
        asyncio.run(profiles.acalibrate(one_sided, profile_name="lead_qualification"))
    assert [v.field for v in invalid.value.violations] == ["outcomes"]
