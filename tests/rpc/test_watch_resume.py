"""Resumable WatchTierChanges: replay after a change_id, then live, with no gap and no
repeat, filters applied to both (the restart case is tests/ops/test_watch_restart.py)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import types_pb2
from tests.rpc.conftest import Stubs, field_violations, track


def ingest(stubs: Stubs, *events: types_pb2.Event) -> None:
    stubs.events.IngestEvents(iter([ev.IngestEventsRequest(events=list(events))]))


def first_scores(stubs: Stubs, *ids: str) -> None:
    """Each entity's first score is a change from "" into its tier."""
    ingest(stubs, *(track(i) for i in ids))


def watch(stubs: Stubs, **fields: object) -> Iterator[sc.WatchTierChangesResponse]:
    return stubs.scoring.WatchTierChanges(sc.WatchTierChangesRequest(**fields), timeout=10)


def test_replay_after_a_change_id_then_live_without_gap_or_repeat(stubs: Stubs) -> None:
    first_scores(stubs, "a", "b", "c")
    everything = watch(stubs, after_change_id=0)
    replayed = [next(everything).change for _ in range(3)]
    assert [c.entity_id for c in replayed] == ["a", "b", "c"]
    ids = [c.change_id for c in replayed]
    assert ids == sorted(ids) and len(set(ids)) == 3 and ids[0] > 0

    resumed = watch(stubs, after_change_id=ids[0])  # as if the client saw only "a"
    assert [next(resumed).change.entity_id for _ in range(2)] == ["b", "c"]
    first_scores(stubs, "d")  # live, after the replay
    live = next(resumed).change
    assert (live.entity_id, live.change_id) == ("d", ids[-1] + 1)
    assert next(everything).change.change_id == live.change_id  # the first watch too
    resumed.cancel()
    everything.cancel()


def test_replay_applies_the_watch_filters(stubs: Stubs) -> None:
    grouped = types_pb2.Event(
        message_id="g1",
        kind=types_pb2.EVENT_KIND_GROUP,
        entity_id="b",
        entity_kind="contact",
        account_id="acme",
    )
    ingest(stubs, grouped)
    first_scores(stubs, "a", "b")
    only_acme = watch(stubs, after_change_id=0, account_id="acme")
    change = next(only_acme).change
    assert (change.entity_id, change.account_id) == ("b", "acme")
    first_scores(stubs, "e")  # not acme: never delivered
    ingest(stubs, track("b", "form_submit", form="demo_request"))  # b moves up: delivered
    moved = next(only_acme).change
    assert moved.entity_id == "b" and moved.change_id > change.change_id
    only_acme.cancel()


def test_negative_cursor_names_the_field(stubs: Stubs) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        next(watch(stubs, after_change_id=-1))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "after_change_id" in field_violations(caught.value)


def test_a_batched_watch_replays_then_goes_live_without_gap_or_repeat(stubs: Stubs) -> None:
    """max_changes_per_response: replay pages and live commits come several changes a
    message, the same changes a one-by-one watch gets."""
    first_scores(stubs, "a", "b", "c", "d", "e")
    one_by_one = watch(stubs, after_change_id=0)
    expected = [next(one_by_one).change for _ in range(5)]
    batched = watch(stubs, after_change_id=expected[0].change_id, max_changes_per_response=3)
    pages = [next(batched).changes for _ in range(2)]
    assert [len(p) for p in pages] == [3, 1]  # four after the cursor, three a message
    first_scores(stubs, "f", "g")  # one commit, live: one message
    live = next(batched).changes
    assert [c.entity_id for c in live] == ["f", "g"]
    got = [c for p in [*pages, live] for c in p]
    expected += [next(one_by_one).change for _ in range(2)]
    assert got == expected[1:]
    batched.cancel()
    one_by_one.cancel()


@pytest.mark.parametrize("most", [-1, 1_001])
def test_changes_per_response_out_of_range_names_the_field(stubs: Stubs, most: int) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        next(watch(stubs, max_changes_per_response=most))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_changes_per_response" in field_violations(caught.value)
