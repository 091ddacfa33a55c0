"""A full disk answers UNAVAILABLE with the reason, health NOT_SERVING, and both recover
once space is back. Run on a real small tmpfs (skipped where mounting is not allowed)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import event_service_pb2_grpc, types_pb2
from tests.conftest import ServerHandle

MOUNT_BYTES = 16 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "disk"
    where.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={MOUNT_BYTES}", "tmpfs", str(where)]
    if subprocess.run(mount, capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here, so no small disk to fill")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _batch(start: int, n: int) -> ev.IngestEventsRequest:
    padding = "x" * 3000  # big rows fill the disk in few batches
    return ev.IngestEventsRequest(
        events=[
            types_pb2.Event(
                message_id=f"m{start + i}",
                kind=types_pb2.EVENT_KIND_TRACK,
                entity_id=f"e{(start + i) % 50}",
                event="page_view",
                properties={"note": padding},
            )
            for i in range(n)
        ]
    )


def _reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def test_disk_full_is_unavailable_and_not_serving_until_space_returns(
    small_disk: Path, start_grpc_server: Callable[..., ServerHandle]
) -> None:
    handle = start_grpc_server(db=small_disk / "prioscore.db")
    # Leave the database about 1 MiB: a filler takes the rest of the tmpfs.
    filler = small_disk / "filler"
    free = subprocess.run(
        ["df", "--output=avail", "-B1", str(small_disk)], capture_output=True, text=True
    )
    filler.write_bytes(b"\0" * max(int(free.stdout.split()[-1]) - 1024 * 1024, 0))
    with handle.channel() as channel:
        events = event_service_pb2_grpc.EventServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        failure = None
        for i in range(100):  # ~300 KB a batch: full long before 100
            try:
                events.IngestEvents(iter([_batch(i * 100, 100)]), timeout=30)
            except grpc.RpcError as error:
                failure = error
                break
        assert failure is not None, "the disk never filled"
        assert failure.code() == grpc.StatusCode.UNAVAILABLE, failure.details()
        assert _reason(failure) == "STORAGE_UNAVAILABLE"
        assert "disk is full" in (failure.details() or "")
        stored = handle.call(handle.service.store.count_events)

        def status() -> int:
            return health.Check(health_pb2.HealthCheckRequest(), timeout=5).status

        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        assert any(status() == not_serving for _ in range(50))  # the update hops loops
        assert handle.call(handle.service.store.count_events) == stored  # nothing half-written

        filler.unlink()  # the operator frees space; the next write succeeds
        assert events.IngestEvents(iter([_batch(10**6, 5)]), timeout=30).accepted == 5
        serving = health_pb2.HealthCheckResponse.SERVING
        assert any(status() == serving for _ in range(50))
        assert handle.call(handle.service.store.count_events) == stored + 5
