"""Worker processes for work that must not share the serving process's GIL.

In a worker thread of the server, long C calls (loading and factorising columns, fitting,
building and parsing large messages) keep the GIL for milliseconds to tens of
milliseconds each, and the serving loop waits behind every one; bounded slices do not
help, because CPU-bound threads convoy on the GIL. In a process of its own the work's
GIL is not the loop's.

A pool is small and bounded (calls beyond it queue), started on first use and shut down
with the server. Calls cross as plain picklable data: a module-level function and its
arguments. Domain errors pickle (server/errors.py), so a bad field raised there is still
INVALID_ARGUMENT here. Every pool of the server forks from one forkserver (one per
process, started by the first pool used), which imports what every pool built so far
asked to preload.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

from prioscore.server.errors import UnavailableError

__all__ = ["NICENESS", "ProcessPool"]

P = ParamSpec("P")
T = TypeVar("T")

NICENESS = 10
# Modules the forkserver imports once, so a process starts in milliseconds rather than
# re-importing numpy and this package: what every pool built so far asked for (the
# forkserver is shared, and the first pool used starts it).
_PRELOAD: set[str] = {__name__}


def _worker_process() -> None:
    """Each worker yields to the server: Ctrl-C reaches the whole process group, but the
    server decides when its workers end (shutdown); and a lower CPU priority (nice
    NICENESS) lets the serving process take a core at once when it has calls to answer,
    not after the scheduler's time slice."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(NICENESS)
    _end_with_the_server()


def _end_with_the_server() -> None:
    """A worker ends as soon as the server that started it is gone. After a kill -9 no
    shutdown runs, and a ProcessPoolExecutor worker waits for its next call forever: it
    held its memory and its read connection (a reader keeps the WAL from being
    truncated), and the forkserver lived on beside it; a supervisor restarting the
    server would pile them up. The parent's sentinel (a pipe the server holds open)
    becomes readable when it dies, whichever way."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="prioscore-server-watch", daemon=True).start()


class ProcessPool:
    """Up to `processes` worker processes, started on first use."""

    def __init__(self, processes: int, preload: Iterable[str] = ()) -> None:
        self._processes = processes
        _PRELOAD.update(preload)
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def start(self) -> None:
        """Starts a worker now (and the forkserver, if no pool has yet), rather than on
        the first call: for a pool whose calls come in a stream, where the first one
        waiting ~0.5-1 s for the imports delays every later one."""
        await self.call(os.getpid)

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)`'s result, computed in a worker; its errors raised here.

        Submitted from a worker thread: a submission may start a process (the first one
        waits for the forkserver to import numpy and this package, ~0.5 s), and that must
        not be the loop's wait. A call cancelled (client gone, deadline passed) before a
        worker takes it is withdrawn; one already running finishes."""
        job = functools.partial(fn, *args, **kwargs)  # pickles as fn and its arguments
        submitting = asyncio.ensure_future(asyncio.to_thread(self._submit, job))
        try:
            executor, submitted = await asyncio.shield(submitting)
        except asyncio.CancelledError:
            submitting.add_done_callback(_withdraw)
            raise
        try:
            return await asyncio.wrap_future(submitted)  # cancelling it cancels `submitted`
        except BrokenProcessPool:
            self._discard(executor)
            raise _ended() from None

    def _submit(self, job: Callable[[], T]) -> tuple[ProcessPoolExecutor, Future[T]]:
        with self._lock:
            if self._closed:
                raise UnavailableError("the server is shutting down")
            if self._executor is None:
                # forkserver: a clean process (no copy of the server's threads, locks or
                # open connections) forked from one that imported the preloaded modules.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(sorted(_PRELOAD))
                self._executor = ProcessPoolExecutor(
                    self._processes, mp_context=context, initializer=_worker_process
                )
            executor = self._executor
        try:
            return executor, executor.submit(job)
        except BrokenProcessPool:
            self._discard(executor)
            raise _ended() from None

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        """A worker died (killed, out of memory): its executor refuses every later call,
        so the next call starts a new one."""
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self, wait: bool = False) -> None:
        """Ends the processes once their current call is done; queued calls are cancelled.
        `wait`: return once they have ended."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)


def _ended() -> UnavailableError:
    return UnavailableError("a worker process ended unexpectedly; the call may be retried")


def _withdraw(submitting: asyncio.Future[tuple[ProcessPoolExecutor, Future[T]]]) -> None:
    """Cancels what a cancelled caller submitted, unless a worker has taken it."""
    if not submitting.cancelled() and submitting.exception() is None:
        submitting.result()[1].cancel()
