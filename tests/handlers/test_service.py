"""Service called directly: ingest, stored scores, ranking and domain errors."""

from __future__ import annotations

import pytest

from prioscore.server.errors import InvalidArgumentError, NotFoundError
from prioscore.server.handlers import Handlers, RankQuery
from tests.handlers.conftest import tracks


def test_ingest_then_rank_orders_by_engagement(handlers: Handlers) -> None:
    service = handlers.service
    result = service.ingest(
        tracks(
            [("eager", "page_view", 1, {"url": "/pricing"})] * 3
            + [("idle", "page_view", 30, {"url": "/blog/x"})]
        )
    )
    assert result.accepted == 4 and result.entities_rescored >= 2
    page = service.rank(RankQuery("lead_qualification"))
    assert [s.entity_id for s in page.scores][:2] == ["eager", "idle"]
    assert page.total_size == 2


def test_a_redelivered_batch_counts_as_duplicates(handlers: Handlers) -> None:
    batch = tracks([("c1", "page_view", 1, {"url": "/pricing"})])
    handlers.service.ingest(batch)
    again = handlers.service.ingest(batch)
    assert (again.accepted, again.duplicates) == (0, 1)


def test_domain_errors_name_the_field(handlers: Handlers) -> None:
    with pytest.raises(NotFoundError) as missing:
        handlers.service.score_stored("lead_qualification", ["nobody"])
    assert missing.value.reason == "ENTITY_NOT_FOUND" and missing.value.field == "entity_ids[0]"
    with pytest.raises(NotFoundError) as profile:
        handlers.service.rank(RankQuery("no_such_profile"))
    assert profile.value.reason == "PROFILE_NOT_FOUND"
    with pytest.raises(InvalidArgumentError) as token:
        handlers.service.rank(RankQuery("lead_qualification", page_token="garbage"))
    assert token.value.reason == "PAGE_TOKEN_INVALID"
