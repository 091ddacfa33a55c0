"""kill -9 in the middle of ingest: every acknowledged event survives exactly once, every
batch is all or nothing, and redelivering the whole stream stores only what was missing."""

from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from prioscore.v1 import event_service_pb2_grpc
from tests.ops.conftest import (
    ServerFactory,
    batch_of,
    event_rows,
    ingest_request,
    stored_message_ids,
)

BATCHES = 150  # the stream the client wants delivered
BATCH_SIZE = 50
KILL_AFTER = 40  # acknowledged batches before the SIGKILL
SENDERS = 4  # concurrent IngestEvents calls, so some are in flight when the server dies

pytestmark = pytest.mark.slow


def test_sigkill_mid_ingest_loses_no_acknowledged_event_and_duplicates_nothing(
    server_process: ServerFactory,
) -> None:
    server = server_process()
    acked: dict[int, int] = {}  # batch → accepted count in its response
    lock = threading.Lock()
    enough = threading.Event()
    next_batch = iter(range(BATCHES))

    def sender() -> None:
        with server.channel() as channel:
            stub = event_service_pb2_grpc.EventServiceStub(channel)
            while True:
                with lock:
                    batch = next(next_batch, None)
                if batch is None:
                    return
                try:
                    reply = stub.IngestEvents(
                        iter([ingest_request(batch_of(batch, BATCH_SIZE))]), timeout=10
                    )
                except grpc.RpcError:
                    return  # the server is gone; this batch was never acknowledged
                with lock:
                    acked[batch] = reply.accepted
                    if len(acked) >= KILL_AFTER:
                        enough.set()

    with ThreadPoolExecutor(SENDERS) as pool:
        for _ in range(SENDERS):
            pool.submit(sender)
        assert enough.wait(60), f"only {len(acked)} batches acknowledged:\n{server.log()}"
        server.signal(signal.SIGKILL)
    assert server.wait() == -signal.SIGKILL
    assert len(acked) < BATCHES, "the kill came after the whole stream was delivered"
    assert all(accepted == BATCH_SIZE for accepted in acked.values())

    restarted = server_process(server.db)
    stored = stored_message_ids(server.db)
    assert set(stored.values()) == {1}, "an event is stored more than once"
    for batch in acked:
        missing = [e.message_id for e in batch_of(batch, BATCH_SIZE) if e.message_id not in stored]
        assert not missing, f"acknowledged batch {batch} lost {len(missing)} events"
    whole = 0
    for batch in range(BATCHES):  # in-flight batches at the kill: all or nothing
        present = sum(e.message_id in stored for e in batch_of(batch, BATCH_SIZE))
        assert present in (0, BATCH_SIZE), f"batch {batch} half written ({present})"
        whole += present == BATCH_SIZE
    print(f"\nsigkill: {len(acked)} batches acked, {whole} stored whole, none partial")

    # Redelivery of the whole stream (at-least-once client): only the missing events count.
    with restarted.channel() as channel:
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        requests = (ingest_request(batch_of(b, BATCH_SIZE)) for b in range(BATCHES))
        reply = stub.IngestEvents(requests, timeout=120)
    assert reply.duplicates == len(stored)
    assert reply.accepted == BATCHES * BATCH_SIZE - len(stored)
    final = stored_message_ids(server.db)
    assert len(final) == BATCHES * BATCH_SIZE and set(final.values()) == {1}
    assert event_rows(server.db) == BATCHES * BATCH_SIZE
