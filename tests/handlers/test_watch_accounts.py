"""Watch filters by account route each committed tier change by the account its entity
has once the batch that caused it committed (read from the writer's entity mirror, not
SQLite): joining, leaving and moving in the same batch as the change included."""

from __future__ import annotations

import asyncio

from prioscore.server.handlers import Handlers, WatchFilter
from prioscore.server.handlers.requests import GROUP
from tests.handlers.conftest import tracks
from tests.handlers.test_watch_routing import delivered, watching


def _batch(prefix: str, joins: dict[str, str], movers: list[str]) -> object:
    """`movers` each submit the demo form (a tier change), after `joins` (entity ->
    account) take effect in the same batch."""
    rows = [(e, "group", 0.0, {}) for e in joins]
    rows += [(e, "form_submit", 0.0, {"form": "demo_request"}) for e in movers]
    events = tracks(rows, prefix)
    events.kind = [GROUP] * len(joins) + events.kind[len(joins) :]
    events.event = [""] * len(joins) + events.event[len(joins) :]
    events.account_id = [*joins.values(), *[""] * len(movers)]
    return events


def test_account_filters_follow_the_batch_that_moved_the_entity(handlers: Handlers) -> None:
    hub = handlers.hub
    ingest = handlers.service.ingest

    async def run() -> tuple[list[list[int]], list[tuple[int, str]]]:
        got = await watching(
            hub,
            [WatchFilter(account_id="acme"), WatchFilter(account_id="globex"), WatchFilter()],
        )
        changes = []
        for batch in (
            _batch("a", {"c1": "acme"}, ["c1", "c2"]),  # c1 joins acme, c2 has no account
            _batch("b", {"c1": "globex", "c2": "acme"}, ["c1", "c2", "c3"]),
        ):
            result = ingest(batch)  # type: ignore[arg-type]
            changes += [(c.id, c.entity_id) for c in result.tier_changes]
            await delivered(hub)
        return got, changes

    (acme, globex, everyone), changes = asyncio.run(run())
    by_entity = {entity: [i for i, e in changes if e == entity] for entity in ("c1", "c2", "c3")}
    assert all(by_entity.values()), changes  # each mover changed tier in each batch it moved
    first_c1, *later_c1 = by_entity["c1"]
    first_c2, *later_c2 = by_entity["c2"]
    assert first_c1 in acme and first_c2 not in acme + globex
    assert set(later_c1) <= set(globex) and not set(later_c1) & set(acme)
    assert set(later_c2) <= set(acme) and not set(by_entity["c3"]) & set(acme + globex)
    assert sorted(everyone) == sorted(i for i, _ in changes)
