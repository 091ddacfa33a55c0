"""Backtest and Calibrate through the generated stubs on a real server.

200 synthetic contacts whose conversion truly depends on behaviour: a demo request is
worth about three page views (the test profile says five, so calibration can improve
it). Every event lies at least 8 days before its entity's outcome; the backtests use a
7-day horizon.
"""

from __future__ import annotations

import asyncio
import time
import tomllib
from pathlib import Path

import grpc
import numpy as np
import pytest

from prioscore.clients.events import timestamp
from prioscore.server.profiles import load_profile_text
from prioscore.server.rpc import convert
from prioscore.server.rpc.profiles_servicer import outcomes_of, outcomes_off_the_loop
from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import profile_service_pb2 as pb
from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import types_pb2
from tests.rpc.conftest import TEST_PROFILES, Stubs, field_violations, track

DAY = 86400.0
N = 200
HORIZON = 7.0


def _event(entity_id: str, event: str, when: float) -> types_pb2.Event:
    message = track(entity_id, event)
    message.time.CopyFrom(timestamp(when))
    return message


def _ingest(stubs: Stubs, events: list[types_pb2.Event]) -> None:
    stubs.events.IngestEvents(iter([ev.IngestEventsRequest(events=events)]))


def _world(stubs: Stubs) -> list[types_pb2.Outcome]:
    """Ingests the synthetic behaviour and returns the outcomes that followed it."""
    rng = np.random.default_rng(7)
    outcome_time = time.time() - 10 * DAY
    visits = rng.integers(0, 8, N)
    demo = rng.random(N) < 0.35
    logit = -4.0 + 3.0 * demo + 1.0 * np.minimum(visits, 5)
    label = rng.random(N) < 1.0 / (1.0 + np.exp(-logit))
    events: list[types_pb2.Event] = []
    outcomes: list[types_pb2.Outcome] = []
    for i in range(N):
        entity = f"c{i:03d}"
        for _ in range(int(visits[i])):
            events.append(_event(entity, "page_view", outcome_time - rng.uniform(8, 40) * DAY))
        if demo[i]:
            events.append(_event(entity, "form_submit", outcome_time - rng.uniform(8, 40) * DAY))
        if not visits[i] and not demo[i]:  # the entity must exist: one unrelated event
            events.append(_event(entity, "email_open", outcome_time - 20 * DAY))
        outcomes.append(
            types_pb2.Outcome(
                entity_id=entity, label=bool(label[i]), outcome_time=timestamp(outcome_time)
            )
        )
    _ingest(stubs, events)
    return outcomes


def _backtest(
    stubs: Stubs, outcomes: list[types_pb2.Outcome], **fields: object
) -> pb.BacktestResponse:
    request = pb.BacktestRequest(outcomes=outcomes, horizon_days=HORIZON, k=20, **fields)
    return stubs.profiles.Backtest(request)


def test_backtest_and_calibrate_on_behaviour_that_predicts(stubs: Stubs) -> None:
    outcomes = _world(stubs)
    current = _backtest(stubs, outcomes, profile="test_leads").report
    positives = sum(o.label for o in outcomes)
    assert current.profile == "test_leads" and current.entities == N
    assert current.positives == positives and current.base_rate == pytest.approx(positives / N)
    assert 0.5 < current.auc <= 1.0
    assert len(current.lift_by_decile) == 10 and current.lift_by_decile[0] > 1.0
    assert current.k == 20 and 0.0 <= current.precision_at_k <= 1.0
    assert [t.tier for t in current.tier_conversions] == ["cold", "warm", "hot"]
    assert sum(t.entities for t in current.tier_conversions) == N
    hot, cold = current.tier_conversions[2], current.tier_conversions[0]
    assert hot.rate > cold.rate

    fitted = stubs.profiles.Calibrate(
        pb.CalibrateRequest(profile="test_leads", outcomes=outcomes, horizon_days=HORIZON, k=20)
    )
    candidate = load_profile_text(fitted.candidate_toml, "candidate.toml")
    assert candidate.name == "test_leads" and candidate.version == 2
    weights = {w.name: w for w in fitted.weights}
    assert weights["visits"].weight > 0 and weights["demo"].weight > 0
    assert weights["demo"].weight > weights["visits"].weight  # the truth: demo matters most
    assert (weights["visits"].previous_weight, weights["demo"].previous_weight) == (10, 50)
    assert fitted.calibration.slope > 0
    assert fitted.current_report.auc == pytest.approx(current.auc)
    assert fitted.candidate_report.auc >= fitted.current_report.auc
    # Reviewable: the active file edited in place, rounded, the old weights noted.
    source = (stubs.handle.profiles_dir / "test_leads.toml").read_text()
    assert [x for x in source.splitlines() if x.startswith("#")] == [
        x for x in fitted.candidate_toml.splitlines() if x.startswith("#")
    ]
    assert "calibrated, was 10" in fitted.candidate_toml  # demo, the strongest, stays 50
    assert all(len(repr(s.weight).strip("-").replace(".", "").lstrip("0")) <= 4
               for s in candidate.signals)  # fmt: skip
    assert list(fitted.warnings) == []  # both weights keep their sign
    # Not loaded: the server still serves version 1.
    served = stubs.profiles.GetProfile(pb.GetProfileRequest(name="test_leads"))
    assert served.profile.version == 1

    # The candidate TOML backtests as well as the fit said, with a shadow comparison
    # against the loaded profile of the same name.
    replay = _backtest(stubs, outcomes, candidate_toml=fitted.candidate_toml)
    assert replay.report.auc == pytest.approx(fitted.candidate_report.auc)
    assert replay.report.auc >= current.auc
    assert replay.HasField("shadow") and replay.shadow.baseline_profile == "test_leads"
    assert 0.0 <= replay.shadow.top_k_overlap <= 1.0 and replay.shadow.rank_correlation > 0
    print(
        f"\nAUC current {current.auc:.3f} candidate {replay.report.auc:.3f};"
        f" lift d1 {current.lift_by_decile[0]:.2f}; p@20 {current.precision_at_k:.2f};"
        f" weights {[(w.name, round(w.weight, 2)) for w in fitted.weights]};"
        f" overlap {replay.shadow.top_k_overlap:.2f} rho {replay.shadow.rank_correlation:.2f}"
    )
    plain = _backtest(stubs, outcomes, profile="test_leads")
    assert not plain.HasField("shadow")


def test_an_event_after_the_cutoff_changes_nothing(stubs: Stubs) -> None:
    outcomes = _world(stubs)
    before = _backtest(stubs, outcomes, profile="test_leads").report
    # Demo requests by every negative entity, one day before its outcome: after the
    # 7-day cutoff, so the backtest must not see them.
    negatives = [o for o in outcomes if not o.label]
    late = [_event(o.entity_id, "form_submit", o.outcome_time.seconds - DAY) for o in negatives]
    _ingest(stubs, late)
    after = _backtest(stubs, outcomes, profile="test_leads").report
    assert after.SerializeToString(deterministic=True) == before.SerializeToString(
        deterministic=True
    )
    # ...while a horizon that includes them does see them (the events are stored).
    leaky = stubs.profiles.Backtest(
        pb.BacktestRequest(profile="test_leads", outcomes=outcomes, horizon_days=0.5, k=20)
    ).report
    assert leaky.auc < before.auc


def _code_and_fields(call: object) -> tuple[grpc.StatusCode, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code(), field_violations(caught.value)


def test_errors_name_their_field(stubs: Stubs) -> None:
    outcomes = _world(stubs)[:20]
    bt = stubs.profiles.Backtest
    cal = stubs.profiles.Calibrate

    code, fields = _code_and_fields(lambda: bt(pb.BacktestRequest(profile="test_leads")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "outcomes" in fields

    bad = list(outcomes)
    bad[3] = types_pb2.Outcome(entity_id="", label=True, outcome_time=outcomes[3].outcome_time)
    code, fields = _code_and_fields(
        lambda: bt(pb.BacktestRequest(profile="test_leads", outcomes=bad))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "outcomes[3].entity_id" in fields

    bad[3] = types_pb2.Outcome(
        entity_id="nobody", label=True, outcome_time=outcomes[3].outcome_time
    )
    with pytest.raises(grpc.RpcError) as caught:
        bt(pb.BacktestRequest(profile="test_leads", outcomes=bad))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nobody" in (caught.value.details() or "")

    bad[3] = types_pb2.Outcome(entity_id=outcomes[3].entity_id, label=True)
    code, fields = _code_and_fields(
        lambda: bt(pb.BacktestRequest(profile="test_leads", outcomes=bad))
    )
    assert "outcomes[3].outcome_time" in fields

    for request, field in [
        (pb.BacktestRequest(profile="test_leads", outcomes=outcomes, k=-1), "k"),
        (
            pb.BacktestRequest(profile="test_leads", outcomes=outcomes, horizon_days=-1),
            "horizon_days",
        ),
        (pb.BacktestRequest(outcomes=outcomes), "profile"),
        (pb.BacktestRequest(profile="test_leads", outcomes=outcomes, shadow_profile="nope"), None),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            bt(request)
        if field is None:
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        else:
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field in field_violations(caught.value)

    code, fields = _code_and_fields(
        lambda: bt(pb.BacktestRequest(candidate_toml="[profile]\nname = 3\n", outcomes=outcomes))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and fields
    assert all("<candidate>" in d for d in fields.values())

    one_class = [
        types_pb2.Outcome(entity_id=o.entity_id, label=False, outcome_time=o.outcome_time)
        for o in outcomes
    ]
    for request, field in [
        (pb.CalibrateRequest(profile="test_leads", outcomes=one_class), "outcomes"),
        (pb.CalibrateRequest(profile="test_leads", outcomes=outcomes, l2=-1), "l2"),
        (pb.CalibrateRequest(outcomes=outcomes), "profile"),
    ]:
        code, fields = _code_and_fields(lambda r=request: cal(r))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and field in fields, fields


def _others(stubs: Stubs) -> None:
    """One entity sent without a kind (a contact by default: compared) and one of another
    kind (not compared)."""
    unknown = track("u-nokind", "page_view")
    unknown.entity_kind = ""
    other = track("acct-1", "page_view")
    other.entity_kind = "account"
    _ingest(stubs, [unknown, other])
    store = stubs.handle.service.store
    kinds = stubs.handle.call(lambda: (store.entity_ids(kind=""), store.entity_ids(kind="account")))
    assert kinds == ([], ["acct-1"])
    assert stubs.handle.call(lambda: store.get_entities(["u-nokind"]))["u-nokind"].kind == "contact"


def test_compare_identical_candidate(stubs: Stubs) -> None:
    _world(stubs)
    _others(stubs)
    toml = (TEST_PROFILES / "test_leads.toml").read_text()
    for candidate in ({"candidate_toml": toml}, {"candidate_profile": "test_leads"}):
        same = stubs.profiles.CompareProfiles(
            pb.CompareProfilesRequest(profile="test_leads", k=20, **candidate)  # type: ignore[arg-type]
        )
        assert same.entities == N + 1  # the contacts and the one sent without a kind
        assert same.top_k_overlap == 1.0 and same.rank_correlation == pytest.approx(1.0)
        assert same.tier_moves_total == 0 and not same.tier_moves


def test_compare_changed_weight_lists_tier_moves(stubs: Stubs, profiles_dir: Path) -> None:
    _world(stubs)
    _others(stubs)
    toml = (TEST_PROFILES / "test_leads.toml").read_text()
    changed = toml.replace("weight = 10\n", "weight = 20\n", 1)
    assert changed != toml
    (profiles_dir / "test_leads_b.toml").write_text(
        changed.replace('name = "test_leads"', 'name = "test_leads_b"')
    )
    assert stubs.profiles.ReloadProfiles(pb.ReloadProfilesRequest()).applied

    ids = [f"c{i:03d}" for i in range(N)] + ["u-nokind"]

    def tiers(profile: str) -> dict[str, tuple[str, float]]:
        scores = stubs.scoring.ScoreEntities(
            sc.ScoreEntitiesRequest(profile=profile, stored=sc.StoredEntities(entity_ids=ids))
        ).scores
        return {s.entity_id: (s.tier, s.score) for s in scores}

    before, after = tiers("test_leads"), tiers("test_leads_b")
    expected = {e for e in ids if before[e][0] != after[e][0]}
    assert expected  # the world has entities near the thresholds

    by_toml = stubs.profiles.CompareProfiles(
        pb.CompareProfilesRequest(profile="test_leads", candidate_toml=changed, k=20, page_size=5)
    )
    by_name = stubs.profiles.CompareProfiles(
        pb.CompareProfilesRequest(profile="test_leads", candidate_profile="test_leads_b", k=20)
    )
    assert by_toml.entities == by_name.entities == N + 1
    assert by_toml.tier_moves_total == by_name.tier_moves_total == len(expected)
    assert len(by_toml.tier_moves) == min(5, len(expected))
    assert len(by_name.tier_moves) == min(100, len(expected))
    assert {m.entity_id for m in by_name.tier_moves} == expected
    for move in by_name.tier_moves:
        assert (move.from_tier, move.to_tier) == (
            before[move.entity_id][0],
            after[move.entity_id][0],
        )
        assert move.from_tier != move.to_tier
    change = [abs(after[m.entity_id][1] - before[m.entity_id][1]) for m in by_name.tier_moves]
    assert change == sorted(change, reverse=True)  # largest moves first
    assert [m.entity_id for m in by_toml.tier_moves] == [
        m.entity_id for m in by_name.tier_moves[:5]
    ]
    # More weight on visits: nobody moves down.
    order = ["cold", "warm", "hot"]
    assert all(order.index(m.to_tier) > order.index(m.from_tier) for m in by_name.tier_moves)
    assert 0.0 <= by_name.top_k_overlap <= 1.0 and 0.5 < by_name.rank_correlation < 1.0
    print(
        f"\ncompare: {by_name.entities} entities, {by_name.tier_moves_total} tier moves,"
        f" overlap@20 {by_name.top_k_overlap:.2f}, rho {by_name.rank_correlation:.3f}"
    )


def test_compare_errors(stubs: Stubs) -> None:
    _world(stubs)
    compare = stubs.profiles.CompareProfiles
    with pytest.raises(grpc.RpcError) as caught:
        compare(pb.CompareProfilesRequest(profile="nope", candidate_profile="test_leads"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        compare(pb.CompareProfilesRequest(profile="test_leads", candidate_profile="nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nope" in (caught.value.details() or "")

    code, fields = _code_and_fields(
        lambda: compare(
            pb.CompareProfilesRequest(profile="test_leads", candidate_toml="[profile]\nname = 3\n")
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and fields
    assert all("<candidate>" in d for d in fields.values()), fields

    toml = (TEST_PROFILES / "test_leads.toml").read_text()
    accounts = toml.replace('entity = "contact"', 'entity = "account"')
    for request, field in [
        (
            pb.CompareProfilesRequest(profile="test_leads", candidate_toml=accounts),
            "candidate_toml",
        ),
        (pb.CompareProfilesRequest(profile="test_leads"), "candidate"),
        (pb.CompareProfilesRequest(candidate_profile="test_leads"), "profile"),
        (pb.CompareProfilesRequest(profile="test_leads", candidate_toml=toml, k=-1), "k"),
        (
            pb.CompareProfilesRequest(profile="test_leads", candidate_toml=toml, page_size=-1),
            "page_size",
        ),
    ]:
        code, fields = _code_and_fields(lambda r=request: compare(r))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and field in fields, fields


def test_candidate_toml_round_trips(stubs: Stubs) -> None:
    outcomes = _world(stubs)
    fitted = stubs.profiles.Calibrate(
        pb.CalibrateRequest(profile="test_leads", outcomes=outcomes, horizon_days=HORIZON)
    )
    parsed = tomllib.loads(fitted.candidate_toml)
    assert parsed["profile"]["version"] == 2
    check = stubs.profiles.ValidateProfile(pb.ValidateProfileRequest(toml=fitted.candidate_toml))
    assert check.valid, list(check.issues)


def test_a_large_request_s_outcomes_convert_off_the_loop_to_the_same_values() -> None:
    """Past convert.OFFLOAD_ROWS outcomes the conversion runs in a worker thread."""
    n = convert.OFFLOAD_ROWS + 1
    messages = [types_pb2.Outcome(entity_id=f"c{i}", label=i % 2 == 0) for i in range(n)]
    for i, m in enumerate(messages[:-1]):  # the last one has no time: NaN
        m.outcome_time.FromSeconds(1_700_000_000 + i)
    off = asyncio.run(outcomes_off_the_loop(messages))
    here = outcomes_of(messages)
    assert list(off.entity_ids) == list(here.entity_ids)
    np.testing.assert_array_equal(off.labels, here.labels)
    np.testing.assert_array_equal(off.times, here.times)  # NaN equal to NaN
