"""The one writer: a thread that runs every job that writes the store, in order.

Calls never wait behind each other on the serving (asyncio) thread: ingest batches,
upserts, erasures, stage and promote backfills and the clock's sweeps are queued here and
awaited. Foreground jobs (what a caller is waiting for) run before background ones (the
clock's sweep chunks), and a sweep is queued one chunk at a time, so an ingest waits for
at most one chunk of a sweep, never for the whole sweep.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Any, TypeVar

from prioscore.server.errors import UnavailableError

T = TypeVar("T")
log = logging.getLogger("prioscore.core")

# How much lower the writer's CPU priority is than the serving thread's (Linux niceness,
# per thread; the worker processes run at +10, handlers.process_pool).
WRITER_NICENESS = 5


class CoreWorker:
    """A single thread with two FIFO queues (foreground first)."""

    def __init__(self, name: str = "prioscore-writer") -> None:
        self._foreground: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._background: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._busy = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], T], *, background: bool = False) -> Future[T]:
        """Queues `job`; its Future holds the result or the exception. On the worker
        thread itself the job runs at once (a job may call code that submits)."""
        future: Future[T] = Future()
        if threading.current_thread() is self._thread:
            _run_into(job, future)
            return future
        # The caller's context (its tracing span above all) goes with the job, so the
        # writer's spans are children of the RPC that asked for the work.
        context = contextvars.copy_context()
        job = partial(context.run, job)
        with self._ready:
            if self._closed:
                future.set_exception(UnavailableError("server shutting down"))
                return future
            (self._background if background else self._foreground).append((job, future))
            self._ready.notify()
        return future

    async def run(self, job: Callable[[], T]) -> T:
        """Awaits `job` on the worker from the event loop (the loop keeps serving)."""
        return await asyncio.wrap_future(self.submit(job))

    @property
    def idle(self) -> bool:
        """No job running and none queued."""
        with self._ready:
            return not (self._busy or self._foreground or self._background)

    def close(self, timeout: float = 10.0) -> None:
        """Refuses new jobs, drops queued background jobs (a sweep resumes on the next
        start), lets queued foreground jobs finish within `timeout`, then stops."""
        with self._ready:
            self._closed = True
            dropped = list(self._background)
            self._background.clear()
            self._ready.notify_all()
        for _, future in dropped:
            future.cancel()
        self._thread.join(timeout)

    def _serve(self) -> None:
        _yield_cpu_to_serving()
        while True:
            with self._ready:
                while not (self._foreground or self._background or self._closed):
                    self._ready.wait()
                if self._foreground:
                    job, future = self._foreground.popleft()
                elif self._background:
                    job, future = self._background.popleft()
                else:  # closed and drained
                    return
                self._busy = True
            try:
                if future.set_running_or_notify_cancel():
                    _run_into(job, future)
            finally:
                with self._ready:
                    self._busy = False
                    self._ready.notify_all()


def _yield_cpu_to_serving() -> None:
    """Lowers the calling thread's CPU priority by WRITER_NICENESS. On two cores a big
    ingest keeps the writer and the ingest processes busy at once, and the serving
    thread, woken for a call, waited in the run queue behind the writer: 6-8% of its time
    during bench/service_heavy.py's ingest, 3.5-5% with the writer niced (probe p99, ten
    runs: median 17.6 -> 13.0 ms; P5 and P6 unchanged). Linux only: elsewhere
    PRIO_PROCESS takes a process id, and a thread's id is not one."""
    if not sys.platform.startswith("linux"):
        return
    me = threading.get_native_id()
    try:
        niceness = os.getpriority(os.PRIO_PROCESS, me)
        os.setpriority(os.PRIO_PROCESS, me, min(19, niceness + WRITER_NICENESS))
    except OSError as error:  # a sandbox may refuse it: the writer runs as it is
        log.warning("writer keeps its CPU priority: %s", error)


def _run_into(job: Callable[[], T], future: Future[T]) -> None:
    try:
        future.set_result(job())
    except BaseException as error:  # handed to whoever awaits the future
        if not isinstance(error, Exception):
            log.warning("writer job ended with %r", error)
        future.set_exception(error)


__all__ = ["WRITER_NICENESS", "CoreWorker"]
