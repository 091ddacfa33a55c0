"""Worker processes (handlers/process_pool.py): withdrawal, a dead worker, shutdown."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from prioscore.server.errors import UnavailableError
from prioscore.server.handlers import ProcessPool


def _read(fifo: str) -> str:
    """Blocks the worker until the test writes to `fifo` (no sleeping on either side)."""
    with open(fifo) as pipe:
        return pipe.read()


def _touch(path: str) -> None:
    Path(path).touch()


def _state(pid: int) -> str:
    """The process's state letter, or "" once it is gone (Z: ended, not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return ""


def test_a_cancelled_call_no_worker_took_is_never_run(tmp_path: Path) -> None:
    fifo, ran = tmp_path / "release", tmp_path / "ran"
    os.mkfifo(fifo)

    async def scenario() -> None:
        pool = ProcessPool(1)
        try:
            busy = asyncio.ensure_future(pool.call(_read, str(fifo)))
            # The executor hands up to two calls on to its one worker's queue at once:
            # these two are beyond recall; the next one only waits in the pool.
            queued = [asyncio.ensure_future(pool.call(os.getpid)) for _ in range(2)]
            waiting = asyncio.ensure_future(pool.call(_touch, str(ran)))
            while not _submitted(pool, 4):  # each submits from a thread: let them
                await asyncio.to_thread(int)
            waiting.cancel()
            await asyncio.to_thread(fifo.write_text, "go")
            assert await busy == "go"
            await asyncio.gather(*queued)
            await pool.call(os.getpid)  # after where `waiting` would have run
            with pytest.raises(asyncio.CancelledError):
                await waiting
        finally:
            pool.close(wait=True)

    asyncio.run(scenario())
    assert not ran.exists()


def _submitted(pool: ProcessPool, count: int) -> bool:
    executor = pool._executor
    return executor is not None and len(executor._pending_work_items) >= count  # type: ignore[attr-defined]


def test_a_dead_worker_fails_its_call_unavailable_and_the_next_call_gets_a_new_one() -> None:
    async def scenario() -> tuple[int, int]:
        pool = ProcessPool(1)
        try:
            first = await pool.call(os.getpid)
            with pytest.raises(UnavailableError):
                await pool.call(os._exit, 3)
            return first, await pool.call(os.getpid)
        finally:
            pool.close(wait=True)

    first, second = asyncio.run(scenario())
    assert os.getpid() not in (first, second) and first != second


def test_closing_and_waiting_ends_the_workers() -> None:
    pool = ProcessPool(2)
    pid = asyncio.run(pool.call(os.getpid))
    assert _state(pid) not in ("", "Z")
    pool.close(wait=True)
    assert _state(pid) in ("", "Z")
    with pytest.raises(UnavailableError):
        asyncio.run(pool.call(os.getpid))
