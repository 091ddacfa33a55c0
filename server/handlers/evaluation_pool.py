"""The evaluation process: Backtest, Calibrate and CompareProfiles off the server's GIL.

In worker threads of the server these jobs still stalled the serving loop: loading a
step's events and turning them into columns, factorising ids, fitting, are C calls that
keep the GIL for milliseconds to tens of milliseconds each, and the loop waits behind
every one (S2: stored ScoreEntities p99 12-15x idle during a compare, 5-8x during
calibrate and backtest, --quick). In a process of their own their GIL is not the loop's.

A job (evaluation.py) is resolved on the caller's side (profiles by name, numbers
checked, the clock read) and crosses as plain data; the process opens a read-only
connection of its own on the same file (WAL: the last committed state, as a worker
thread's connection read) and sends the result back. Domain errors pickle
(server/errors.py), so a bad field is still INVALID_ARGUMENT and an unknown entity
NOT_FOUND. The pool is small and bounded (jobs beyond it queue), started on the first
evaluation, and shut down with the server.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

from prioscore.server.config import Limits
from prioscore.server.errors import UnavailableError
from prioscore.server.handlers.evaluation import EvaluationJob, evaluate
from prioscore.server.store import Store

__all__ = ["EVALUATION_PROCESSES", "EvaluationPool"]

T = TypeVar("T")

# Two: an evaluation beside another still starts at once; more would only share this
# machine's cores with the serving process. Each holds one job's arrays at a time.
EVALUATION_PROCESSES = 2
EVALUATION_NICENESS = 10


def _evaluation_process() -> None:
    """Each evaluation process yields to the server: Ctrl-C reaches the whole process
    group, but the server decides when its evaluation processes end (shutdown); and a
    lower CPU priority (nice EVALUATION_NICENESS) lets the serving process take a core
    at once when it has calls to answer, not after the scheduler's time slice."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(EVALUATION_NICENESS)


def _evaluate(path: Path, limits: Limits, job: EvaluationJob[T]) -> T:
    """In the evaluation process: `job` on a read-only connection of its own."""
    with Store(path, read_only=True) as reads:
        return evaluate(reads, limits, job)


class EvaluationPool:
    """Evaluation processes over one store file, started on first use."""

    def __init__(self, path: Path, limits: Limits, processes: int = EVALUATION_PROCESSES) -> None:
        self._path = path
        self._limits = limits
        self._processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def run(self, job: EvaluationJob[T]) -> T:
        """`job`'s result, computed in an evaluation process; its errors raised here.

        Submitted from a worker thread: a submission may start a process (the first
        one waits for the forkserver to import numpy and this package, ~0.5 s), and
        that must not be the loop's wait."""
        submitted = await asyncio.to_thread(self._submit, job)
        return await asyncio.wrap_future(submitted)

    def _submit(self, job: EvaluationJob[T]) -> Future[T]:
        with self._lock:
            if self._closed:
                raise UnavailableError("the server is shutting down")
            if self._executor is None:
                # forkserver: a clean process (no copy of the server's threads, locks or
                # open connections) forked from one that imported this module once, so a
                # process starts in milliseconds rather than re-importing numpy.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([__name__])
                self._executor = ProcessPoolExecutor(
                    self._processes, mp_context=context, initializer=_evaluation_process
                )
            return self._executor.submit(_evaluate, self._path, self._limits, job)

    def close(self) -> None:
        """Ends the processes once their current job is done; queued jobs are cancelled."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
