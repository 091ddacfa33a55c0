"""The evaluation processes: Backtest, Calibrate and CompareProfiles off the server's GIL.

In worker threads of the server these jobs still stalled the serving loop: loading a
step's events and turning them into columns, factorising ids, fitting, are C calls that
keep the GIL for milliseconds to tens of milliseconds each, and the loop waits behind
every one (S2: stored ScoreEntities p99 12-15x idle during a compare, 5-8x during
calibrate and backtest, --quick). In a process of their own (process_pool.py) their GIL
is not the loop's.

A job (evaluation.py) is resolved on the caller's side (profiles by name, numbers
checked, the clock read) and crosses as plain data; the process opens a read-only
connection of its own on the same file (WAL: the last committed state, as a worker
thread's connection read) and sends the result back. Domain errors pickle
(server/errors.py), so a bad field is still INVALID_ARGUMENT and an unknown entity
NOT_FOUND.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from prioscore.server.config import Limits
from prioscore.server.handlers.evaluation import EvaluationJob, evaluate
from prioscore.server.handlers.process_pool import NICENESS, ProcessPool
from prioscore.server.store import Store

__all__ = ["EVALUATION_NICENESS", "EVALUATION_PROCESSES", "EvaluationPool"]

T = TypeVar("T")

# Two: an evaluation beside another still starts at once; more would only share this
# machine's cores with the serving process. Each holds one job's arrays at a time.
EVALUATION_PROCESSES = 2
EVALUATION_NICENESS = NICENESS


def _evaluate(path: Path, limits: Limits, job: EvaluationJob[T]) -> T:
    """In the evaluation process: `job` on a read-only connection of its own."""
    with Store(path, read_only=True) as reads:
        return evaluate(reads, limits, job)


class EvaluationPool:
    """Evaluation processes over one store file, started on first use."""

    def __init__(self, path: Path, limits: Limits, processes: int = EVALUATION_PROCESSES) -> None:
        self._path = path
        self._limits = limits
        self._processes = ProcessPool(processes, preload=[__name__])

    async def run(self, job: EvaluationJob[T]) -> T:
        """`job`'s result, computed in an evaluation process; its errors raised here."""
        return await self._processes.call(_evaluate, self._path, self._limits, job)

    def close(self) -> None:
        """Ends the processes once their current job is done; queued jobs are cancelled."""
        self._processes.close()
