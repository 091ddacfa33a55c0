"""The writer thread (core.CoreWorker) runs at a lower CPU priority than the threads
that serve calls."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from prioscore.server.core.worker import WRITER_NICENESS, CoreWorker


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness")
def test_the_writer_yields_the_cpu_to_the_serving_thread() -> None:
    ours = _niceness()
    worker = CoreWorker("test-writer")
    try:
        writer = worker.submit(_niceness).result(timeout=10)
    finally:
        worker.close()
    assert writer == min(19, ours + WRITER_NICENESS)
    assert writer > ours or ours == 19
    assert _niceness() == ours  # only the writer's own thread moved, not the process
