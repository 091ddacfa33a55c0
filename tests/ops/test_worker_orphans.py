"""Worker processes (handlers/process_pool.py) end with the server that started them,
also when it is killed outright (no shutdown runs): none is left waiting for calls that
will never come, holding memory and a read connection on the database."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import scoring_service_pb2_grpc as sc_grpc
from prioscore.v1 import types_pb2
from tests.ops.conftest import ServerFactory


def _children(pid: int) -> set[int]:
    """Every live descendant of pid (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":  # a zombie has ended; only its parent's wait is missing
            alive.add(pid)
    return alive


def _large_inline_request() -> sc.ScoreEntitiesRequest:
    """Well over convert.PROCESS_BYTES: scored in a worker process."""
    events = []
    for i in range(2_000):
        event = types_pb2.Event(
            message_id=f"m{i}",
            kind=types_pb2.EVENT_KIND_TRACK,
            entity_id=f"c{i % 100}",
            entity_kind="contact",
            event="page_view",
        )
        event.properties["url"] = "/pricing"
        events.append(event)
    return sc.ScoreEntitiesRequest(
        profile="lead_qualification", inline_events=sc.InlineEvents(events=events)
    )


def test_workers_end_when_the_server_is_killed(server_process: ServerFactory) -> None:
    server = server_process()
    with server.channel() as channel:
        reply = sc_grpc.ScoringServiceStub(channel).ScoreEntities(
            _large_inline_request(), timeout=60
        )
    assert len(reply.scores) == 100
    workers = _children(server.pid)
    assert workers, "a large inline request started no worker process"
    server.signal(signal.SIGKILL)
    server.wait()
    deadline = time.monotonic() + 20
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = _alive(workers)
    for pid in left:  # leave nothing behind even when the assertion fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"worker processes outlived the server: {sorted(left)}"
