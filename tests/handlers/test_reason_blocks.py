"""Stored reasons encoded in blocks of rows (scoring/reasons.py) are those of one pass."""

from __future__ import annotations

import pytest

from prioscore.server.handlers import Handlers
from prioscore.server.scoring import reasons
from tests.handlers.conftest import NOW, tracks


def test_reasons_encoded_in_blocks_are_those_of_one_pass(
    handlers: Handlers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """encode_reasons works REASON_ROWS rows at a time (bounded GIL holds); a rolled-up
    profile's contributors section is built block by block alike."""
    events = tracks([(f"c{i}", "page_view", i % 5, {"url": "/pricing"}) for i in range(30)])
    events.account_id = [f"a{i % 4}" for i in range(30)]
    handlers.service.ingest(events)
    scorer = handlers.service.scorer
    populations = {
        "lead_qualification": [f"c{i}" for i in range(30)],
        "account_engagement": [f"a{i}" for i in range(4)],
    }
    encoded = {}
    for name, ids in populations.items():
        profile = handlers.registry.get(name)
        assert profile is not None
        scored = scorer.score(profile, ids, NOW, explain=True)
        whole = reasons.encode_reasons(scored)
        with monkeypatch.context() as patched:
            patched.setattr(reasons, "REASON_ROWS", 3)
            assert reasons.encode_reasons(scored) == whole
        encoded[name] = whole
    assert all(encoded["lead_qualification"])
    # The rolled-up profile's texts went through the contributors' blocks as well.
    assert all(reasons.SECTION in t for t in encoded["account_engagement"])
