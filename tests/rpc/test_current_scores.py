"""A stored ScoreEntities as of now is answered by the entity's current stored score when
that score is current enough (of the loaded version, at most the profile's refresh old,
not disqualified), and computed from the stored events otherwise (through the real
server, with its injectable clock)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from prioscore.v1 import event_service_pb2 as ev
from prioscore.v1 import scoring_service_pb2 as sc
from prioscore.v1 import types_pb2
from tests.conftest import ServerHandle
from tests.rpc import test_live_clock as live_clock
from tests.rpc.test_live_clock import DAY, T0, _stamp, event, identify

PROFILE = "lead_qualification"
REFRESH = 300.0  # lead_qualification's [scoring] refresh: the default


class Api(live_clock.Api):
    """live_clock's stubs and calls, with stored ScoreEntities under PROFILE."""

    def score(
        self, *ids: str, as_of: float | None = None, **options: object
    ) -> list[types_pb2.Score]:
        request = sc.ScoreEntitiesRequest(
            profile=PROFILE, stored=sc.StoredEntities(entity_ids=list(ids)), **options
        )
        if as_of is not None:
            request.as_of.CopyFrom(_stamp(as_of))
        return list(self.scoring.ScoreEntities(request, timeout=10).scores)


@pytest.fixture
def api(grpc_server: ServerHandle) -> Iterator[Api]:
    grpc_server.clock.set(T0)
    grpc_server.settle()
    api = Api(grpc_server)
    api.ingest(*lead("ann", "vp"), *lead("bob", "manager"))
    yield api
    api.channel.close()


def lead(entity: str, seniority: str, relationship: str = "prospect") -> list[types_pb2.Event]:
    traits = {"seniority": seniority, "industry": "software", "relationship": relationship}
    return [
        identify(entity, "contact", traits, {"employees": 400}),
        *[event(entity, "contact", "page_view", d / 4, url="/pricing") for d in range(12)],
        event(entity, "contact", "form_submit", 0.5, form="demo_request"),
    ]


def fields(score: types_pb2.Score) -> tuple[object, ...]:
    return (
        score.entity_id,
        score.profile_version,
        score.score,
        score.engagement,
        score.fit,
        score.tier,
        score.disqualified,
        score.update_time.ToNanoseconds(),
    )


def seconds(score: types_pb2.Score) -> float:
    return score.update_time.ToNanoseconds() / 1e9


def test_within_refresh_the_stored_score_answers_as_ranking_lists_it(api: Api) -> None:
    api.handle.clock.set(T0 + REFRESH / 3)  # no sweep is due yet
    answered = api.score("bob", "ann", "bob")
    ranked = api.ranked(PROFILE)
    assert [s.entity_id for s in answered] == ["bob", "ann", "bob"]  # request order, repeats
    assert [fields(s) for s in answered] == [fields(ranked[i]) for i in ("bob", "ann", "bob")]
    assert all(seconds(s) == T0 for s in answered)  # the stored score's time, not now's
    # ... and the stored score is the engine's over the stored events as of its time.
    computed = api.score("bob", "ann", "bob", as_of=T0)
    assert [fields(s) for s in answered] == [fields(s) for s in computed]
    assert all(not s.top_reasons and not s.contributions for s in answered)


def test_past_refresh_the_answer_is_as_of_now(api: Api) -> None:
    for later in (REFRESH + 1, 30 * DAY):
        now = T0 + later
        api.handle.clock.set(now)  # a sweep may or may not have written yet: either way
        (answered,) = api.score("ann")
        (exact,) = api.score("ann", as_of=now)
        assert seconds(answered) == now
        assert fields(answered) == fields(exact)
    assert answered.score < api.score("ann", as_of=T0)[0].score - 10  # a month decayed


@pytest.mark.parametrize(
    "options",
    [{"explain": True}, {"top_reasons": 2}, {"as_of": T0 + REFRESH / 3}],
    ids=["explain", "top_reasons", "as_of"],
)
def test_explanations_and_as_of_are_computed(api: Api, options: dict[str, object]) -> None:
    api.handle.clock.set(T0 + REFRESH / 3)
    (answered,) = api.score("ann", **options)  # type: ignore[arg-type]
    assert seconds(answered) == T0 + REFRESH / 3  # as of now (or as_of), not the stored time
    if "as_of" not in options:
        assert answered.top_reasons
    assert bool(answered.contributions) == ("explain" in options)


def test_a_disqualified_entity_is_computed_with_its_reason(api: Api) -> None:
    api.ingest(*lead("cat", "vp", relationship="competitor"))
    api.handle.clock.set(T0 + REFRESH / 3)
    (answered,) = api.score("cat")
    assert answered.disqualified and answered.tier == ""
    assert answered.disqualify_reason.startswith("Not a prospect")
    assert api.ranked(PROFILE)["cat"].disqualified


def test_an_upsert_is_seen_by_the_next_score(api: Api) -> None:
    (before,) = api.score("bob")
    upsert = types_pb2.Entity(id="bob", kind="contact", attributes={"seniority": "c_level"})
    api.events.UpsertEntities(ev.UpsertEntitiesRequest(entities=[upsert]), timeout=10)
    (after,) = api.score("bob")
    assert after.fit > before.fit
    assert fields(after) == fields(api.ranked(PROFILE)["bob"])


def test_an_unknown_id_among_stored_ones_is_not_found(api: Api) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        api.score("ann", "ghost")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "'ghost'" in str(raised.value.details())
