"""Identity merge through the real server: alias / identify move the anonymous history
onto the known entity exactly as if it had been sent under the known id, whatever the
order of arrival; erasure reaches every merged id."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ServerHandle
from tests.segment.calls import T0, documented_calls, iso, send


def _scores(handle: ServerHandle, ids: list[str]) -> dict[str, tuple[str, float]]:
    store = handle.service.store

    def read() -> dict[str, tuple[str, float]]:
        found = {}
        for profile in ("lead_qualification", "churn_risk", "account_engagement"):
            for entity, row in store.get_scores(profile, ids).items():
                found[f"{profile}:{entity}"] = (row.tier, round(row.score, 9))
        return found

    return handle.call(read)


def _as_known(calls: list[dict[str, Any]], user: str) -> list[dict[str, Any]]:
    """The same calls sent under the known id from the start (no merge to make)."""
    known = []
    for call in copy.deepcopy(calls):
        if call["type"] == "alias":
            continue
        call.pop("anonymousId", None)
        call["userId"] = user
        known.append(call)
    return known


def test_merged_history_scores_as_if_sent_under_the_known_id(
    start_grpc_server: Callable[..., ServerHandle],
) -> None:
    merged, direct = start_grpc_server(), start_grpc_server()
    for handle in (merged, direct):
        handle.clock.set(T0)
    calls = documented_calls()
    with merged.channel() as channel:
        send(channel, calls[:3])  # the visitor is scored while still anonymous ...
        assert _scores(merged, ["anon-1"])  # (an anonymous contact has a score)
        result = send(channel, calls[3:])  # ... then identifies
    assert result.merged == 2
    with direct.channel() as channel:
        send(channel, _as_known(calls, "u-1"))
    assert _scores(merged, ["u-1", "acme"]) == _scores(direct, ["u-1", "acme"])
    assert _scores(merged, ["anon-1"]) == {}  # no ghost of the visitor in any ranking


def test_erasing_any_merged_id_erases_the_whole_identity(grpc_server: ServerHandle) -> None:
    grpc_server.clock.set(T0)
    calls = documented_calls()
    with grpc_server.channel() as channel:
        send(channel, calls[:3])
        send(channel, calls[3:])
    store = grpc_server.service.store
    counts = grpc_server.call(lambda: grpc_server.service.erase_entity("anon-1"))
    assert counts.events == 6 and counts.entities == 1

    def left() -> tuple[int, ...]:
        one = store.conn.execute
        return (
            one("SELECT COUNT(*) FROM events WHERE entity_id IN ('u-1', 'anon-1')").fetchone()[0],
            one("SELECT COUNT(*) FROM score_history WHERE entity_id = 'anon-1'").fetchone()[0],
            one("SELECT COUNT(*) FROM score_history WHERE entity_id = 'u-1'").fetchone()[0],
            one("SELECT COUNT(*) FROM identity_merges").fetchone()[0],
            one("SELECT COUNT(*) FROM entities WHERE id IN ('u-1', 'anon-1')").fetchone()[0],
        )

    assert grpc_server.call(left) == (0, 0, 0, 0, 0)


def test_a_message_about_an_erased_id_drops_only_that_call(
    start_grpc_server: Callable[..., ServerHandle],
) -> None:
    """The dropped call takes nothing else of its batch with it: the identity merges
    and the source's kind for new entities still apply to every other call."""
    with_erased, plain = start_grpc_server(), start_grpc_server()
    for handle in (with_erased, plain):
        handle.clock.set(T0)
    with_erased.call(lambda: with_erased.service.erase_entity("gone-1"))
    about_erased = {
        "type": "track",
        "userId": "gone-1",
        "event": "form_submit",
        "messageId": "gone-1-track",
        "timestamp": iso(T0 - 3000),
    }
    with with_erased.channel() as channel:
        result = send(channel, [*documented_calls(), about_erased])
    with plain.channel() as channel:
        expected = send(channel, documented_calls())
    assert (result.accepted, result.merged) == (expected.accepted, expected.merged)
    assert expected.merged
    assert _scores(with_erased, ["u-1", "acme", "anon-1"]) == _scores(
        plain, ["u-1", "acme", "anon-1"]
    )

    def kinds(handle: ServerHandle) -> list[tuple[str, str]]:
        rows = handle.service.store.conn.execute(
            "SELECT id, kind FROM entities WHERE id IN ('u-1', 'anon-1', 'acme') ORDER BY id"
        )
        return [tuple(row) for row in rows]

    assert with_erased.call(lambda: kinds(with_erased)) == plain.call(lambda: kinds(plain))


def _prefixed(prefix: str) -> list[dict[str, Any]]:
    calls = documented_calls(f"{prefix}anon", f"{prefix}user")
    for call in calls:
        call["messageId"] = prefix + call["messageId"]
        if call["type"] == "group":
            call["groupId"] = f"{prefix}acme"
        if call["type"] == "alias":
            call["previousId"] = f"{prefix}old"
    late = copy.deepcopy(calls[0])  # a second visit, after the identify in time
    late["messageId"] = f"{prefix}late-page"
    late["originalTimestamp"] = late["sentAt"] = "2026-05-28T20:20:00Z"
    return [*calls, late]


def _unprefixed(scores: dict[str, tuple[str, float]], prefix: str) -> dict[str, Any]:
    return {key.replace(prefix, ""): value for key, value in scores.items()}


_runs = iter(range(10**6))


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(range(7)), batch=st.integers(1, 4))
def test_shuffled_arrival_gives_identical_scores(
    grpc_server: ServerHandle, order: list[int], batch: int
) -> None:
    grpc_server.clock.set(T0)
    with grpc_server.channel() as channel:
        send(channel, _prefixed("base-"))
        run = f"r{next(_runs)}-"
        calls = _prefixed(run)
        send(channel, [calls[i] for i in order], per_message=batch)
    ids = ["user", "acme", "anon", "old"]
    expected = _unprefixed(_scores(grpc_server, [f"base-{i}" for i in ids]), "base-")
    got = _unprefixed(_scores(grpc_server, [run + i for i in ids]), run)
    assert got == expected and got
