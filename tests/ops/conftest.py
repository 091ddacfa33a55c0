"""Helpers for the operational tests: the real server as a subprocess, certificates, events.

`python -m prioscore.server` runs exactly as `make serve` does; the helpers find the port
from the server's log line (it binds 127.0.0.1:0, so nothing races for a port), wait for
health SERVING, and kill only the processes they started.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prioscore.server.profiles import bundled
from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import types_pb2

ROOT = Path(__file__).resolve().parents[2]
PROFILES = bundled.DIRECTORY
_PORT_LINE = re.compile(rb"prioscore serving on \S+ \(port (\d+)\)")


@dataclass
class ServerProcess:
    """One `python -m prioscore.server` child: its pid, port, log and db."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    db: Path
    port: int = 0
    credentials: grpc.ChannelCredentials | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def channel(self, options: Sequence[tuple[str, object]] = ()) -> grpc.Channel:
        if self.credentials is None:
            return grpc.insecure_channel(self.target, options=list(options))
        return grpc.secure_channel(self.target, self.credentials, options=list(options))

    def wait_serving(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.port:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log()}")
            match = _PORT_LINE.search(self.log_path.read_bytes())
            if match:
                self.port = int(match.group(1))
            elif time.monotonic() > deadline:
                raise TimeoutError(f"server did not start:\n{self.log()}")
            else:
                time.sleep(0.05)
        with self.channel() as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                try:
                    reply = health.Check(health_pb2.HealthCheckRequest(), timeout=2)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"server never reported SERVING:\n{self.log()}")
                time.sleep(0.05)

    def health(self) -> int:
        with self.channel() as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
            return reply.status

    def peak_rss_kib(self) -> int:
        """VmHWM of the live process (peak resident set), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM in /proc status")

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signum)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout=timeout)


class ServerFactory:
    """Starts server subprocesses in a test's tmp dir; stops the ones it started."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[ServerProcess] = []

    def __call__(
        self,
        db: Path | None = None,
        *args: str,
        wait: bool = True,
        credentials: grpc.ChannelCredentials | None = None,
        env: dict[str, str] | None = None,
    ) -> ServerProcess:
        db = db or self.tmp_path / "prioscore.db"
        log_path = self.tmp_path / f"server-{len(self.started)}.log"
        command = [
            sys.executable,
            "-m",
            "prioscore.server",
            "--address",
            "127.0.0.1:0",
            "--db",
            str(db),
            "--profiles",
            str(PROFILES),
            *args,
        ]
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("PRIOSCORE_")}
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                command,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**inherited, **(env or {})},
            )
        server = ServerProcess(proc, log_path, db, credentials=credentials)
        self.started.append(server)
        if wait:
            server.wait_serving()
        return server

    def stop_all(self) -> None:
        for server in self.started:
            if server.proc.poll() is None:
                server.signal(signal.SIGKILL)
                server.proc.wait(timeout=30)


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerFactory]:
    factory = ServerFactory(tmp_path)
    yield factory
    factory.stop_all()


# -- events -------------------------------------------------------------------------------


def page_view(message_id: str, entity_id: str, url: str = "/pricing") -> types_pb2.Event:
    return types_pb2.Event(
        message_id=message_id,
        kind=types_pb2.EVENT_KIND_TRACK,
        entity_id=entity_id,
        entity_kind="contact",
        event="page_view",
        properties={"url": url},
    )


def batch_of(batch: int, size: int, entities: int = 10) -> list[types_pb2.Event]:
    """Batch `batch` of a deterministic stream: message ids b<batch>-<i>, about `entities`
    contacts of its own (so rescoring a batch costs the same early and late in a stream)."""
    return [
        page_view(f"b{batch:05d}-{i:04d}", f"c{batch:05d}-{i % entities:02d}") for i in range(size)
    ]


def ingest_request(events: list[types_pb2.Event]) -> ev.IngestEventsRequest:
    return ev.IngestEventsRequest(events=events)


def stored_message_ids(db: Path) -> dict[str, int]:
    """message_id → how many rows hold it, read straight from the SQLite file."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT message_id, COUNT(*) FROM events GROUP BY message_id")
        return {message_id: count for message_id, count in rows}


def event_rows(db: Path) -> int:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
