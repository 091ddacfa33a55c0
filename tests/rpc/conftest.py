"""Helpers for the RPC tests: stubs on a real server and event builders."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from prioscore.v1 import (
    event_service_pb2_grpc,
    profile_service_pb2_grpc,
    scoring_service_pb2_grpc,
    types_pb2,
)
from tests.conftest import ServerHandle

TEST_PROFILES = Path(__file__).resolve().parent / "profiles"
_ids = itertools.count()


@dataclass
class Stubs:
    handle: ServerHandle
    channel: grpc.Channel
    scoring: scoring_service_pb2_grpc.ScoringServiceStub
    events: event_service_pb2_grpc.EventServiceStub
    profiles: profile_service_pb2_grpc.ProfileServiceStub


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    """A private copy of the test profiles, so a test may break or edit them."""
    target = tmp_path / "profiles"
    shutil.copytree(TEST_PROFILES, target)
    return target


@pytest.fixture
def stubs(start_grpc_server: Callable[..., ServerHandle], profiles_dir: Path) -> Iterator[Stubs]:
    handle = start_grpc_server(profiles_dir)
    channel = handle.channel()
    yield Stubs(
        handle,
        channel,
        scoring_service_pb2_grpc.ScoringServiceStub(channel),
        event_service_pb2_grpc.EventServiceStub(channel),
        profile_service_pb2_grpc.ProfileServiceStub(channel),
    )
    channel.close()


def track(
    entity_id: str, event: str = "page_view", message_id: str = "", **props: str
) -> types_pb2.Event:
    return types_pb2.Event(
        message_id=message_id or f"m{next(_ids)}",
        kind=types_pb2.EVENT_KIND_TRACK,
        entity_id=entity_id,
        entity_kind="contact",
        event=event,
        properties=props,
    )


def identify(entity_id: str, **traits: str) -> types_pb2.Event:
    return types_pb2.Event(
        message_id=f"m{next(_ids)}",
        kind=types_pb2.EVENT_KIND_IDENTIFY,
        entity_id=entity_id,
        entity_kind="contact",
        traits=traits,
    )


def field_violations(error: grpc.RpcError) -> dict[str, str]:
    """field -> description from the google.rpc.BadRequest detail of a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status details on the error"
    found: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.update({v.field: v.description for v in bad.field_violations})
    return found
