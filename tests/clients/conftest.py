"""Client fixtures: a PrioscoreClient on the real server, and scripted fake servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prioscore.clients import PrioscoreClient, RetryPolicy
from tests.clients.fakes import FakeServer, Script, run_fake
from tests.conftest import ServerHandle

# Fast backoff so retry tests take milliseconds; the policy shape is what is tested.
FAST_RETRY = RetryPolicy(attempts=4, initial_backoff=0.01, max_backoff=0.05)


@pytest.fixture
def client(grpc_server: ServerHandle) -> Iterator[PrioscoreClient]:
    with PrioscoreClient(grpc_server.target, timeout=20) as c:
        yield c


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def fake(script: Script) -> Iterator[FakeServer]:
    yield from run_fake(script)


@pytest.fixture
def fake_client(fake: FakeServer) -> Iterator[PrioscoreClient]:
    with PrioscoreClient(fake.target, timeout=5, retry=FAST_RETRY) as c:
        yield c
