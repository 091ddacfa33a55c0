"""A watch survives a server restart: SIGTERM ends the stream with UNAVAILABLE, and the
client library resumes after the last change it received against the next server process
on the same address and database, missing nothing and repeating nothing."""

from __future__ import annotations

import signal
import socket
import threading

from prioscore.clients import PrioscoreClient, events
from prioscore.v1 import types_pb2
from tests.ops.conftest import ServerFactory


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _first_score(entity: str) -> types_pb2.Event:
    """A new contact's first score is a tier change from "" (lead_qualification)."""
    return events.track(entity, "page_view", properties={"url": "/pricing"}, entity_kind="contact")


def test_client_watch_resumes_across_a_restart(server_process: ServerFactory) -> None:
    address = f"127.0.0.1:{_free_port()}"
    first = server_process(None, "--address", address)
    received: list[types_pb2.TierChange] = []
    failures: list[BaseException] = []
    two_seen = threading.Event()

    def watch() -> None:
        try:
            with PrioscoreClient(address, timeout=10) as client:
                for change in client.watch(after_change_id=0, duration=40):
                    received.append(change)
                    if len(received) == 2:
                        two_seen.set()
                    if len(received) == 4:
                        return
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    with PrioscoreClient(address, timeout=10) as client:
        client.ingest([_first_score("a"), _first_score("b")])
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert two_seen.wait(20), (received, failures)

    first.signal(signal.SIGTERM)
    assert first.wait() == 0
    second = server_process(first.db, "--address", address)
    with PrioscoreClient(second.target, timeout=10) as client:
        client.ingest([_first_score("c"), _first_score("d")])
    watcher.join(40)

    assert not failures, failures
    assert [c.entity_id for c in received] == ["a", "b", "c", "d"]
    ids = [c.change_id for c in received]
    assert ids == sorted(set(ids))  # nothing repeated across the restart
