"""TierChangeResponses: every stream that sends a change sends one message built and
serialized once, the message its fields name; the account is part of what it is built
from, and a change older than the ones kept is built again, the same."""

from __future__ import annotations

from prioscore.server.handlers import WatchedChange
from prioscore.server.rpc.convert import tier_change_response
from prioscore.server.rpc.watch_responses import TierChangeResponses
from prioscore.server.store import Cause, TierChangeRecord
from prioscore.v1.scoring_service_pb2 import WatchTierChangesResponse as Response


def _change(change_id: int, account: str = "acme") -> WatchedChange:
    record = TierChangeRecord(
        change_id, f"lead-{change_id}", "lead_qualification", "warm", "hot", 40.0, 81.5,
        1_700_000_000.5, f"m-{change_id}", Cause.EVENT.value,
    )  # fmt: skip
    return WatchedChange(record, account)


def test_each_change_is_built_once_for_every_stream() -> None:
    responses = TierChangeResponses(size=8)
    changes = [_change(i) for i in range(1, 6)]
    first = [responses.of(c) for c in changes]
    # Another stream's own WatchedChange of the same committed change: the same message.
    again = [responses.of(WatchedChange(c.record, c.account_id)) for c in changes]
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert [Response.FromString(m) for m in first] == [
        tier_change_response(c.record, c.account_id) for c in changes
    ]


def test_the_account_is_part_of_the_message() -> None:
    responses = TierChangeResponses(size=8)
    live, replayed = _change(3, "acme"), _change(3, "globex")  # moved account since
    assert Response.FromString(responses.of(live)).change.account_id == "acme"
    assert Response.FromString(responses.of(replayed)).change.account_id == "globex"
    assert responses.of(live) is not responses.of(replayed)


def test_a_change_past_the_ones_kept_is_built_again_the_same() -> None:
    responses = TierChangeResponses(size=3)
    oldest = _change(1)
    kept = responses.of(oldest)
    for i in range(2, 5):  # three newer changes: the oldest is no longer kept
        responses.of(_change(i))
    rebuilt = responses.of(oldest)
    assert rebuilt is not kept and rebuilt == kept
    assert responses.of(_change(4)) is responses.of(_change(4))  # the newest still is


def test_a_batch_is_one_message_of_its_changes_built_once_per_batch_object() -> None:
    responses = TierChangeResponses(size=8, batches=2)
    batch = tuple(_change(i) for i in range(1, 4))
    message = responses.of_batch(batch)
    parsed = Response.FromString(message)
    assert list(parsed.changes) == [Response.FromString(responses.of(c)).change for c in batch]
    assert not parsed.HasField("change")
    assert responses.of_batch(batch) is message  # every watcher that shares the batch
    twin = tuple(batch)[:2] + batch[2:]  # equal changes, another batch: built anew
    assert twin is not batch and responses.of_batch(twin) == message
    for i in range(2):  # two newer batches: the first one is no longer kept
        responses.of_batch((_change(10 + i),))
    rebuilt = responses.of_batch(batch)
    assert rebuilt is not message and rebuilt == message
