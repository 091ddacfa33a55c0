"""Inline scoring in a worker process: Service's own score_events and score_features.

A worker process (process_pool.py) has no registry, live core or writer. The serving
process resolves what needs them: the request's profile by name (or the error resolving
it raised, to be raised at the same point of the request as on the loop) and the clock.
This Service answers get_profile() and now() with those, and scores with Service's
methods themselves, so an inline request scores here exactly as in the serving process.
Related scores (a profile that reads profiles) and stored attributes (an inline entity
the store knows) come from the worker's own read-only connection on the same file, as
an evaluation's do.
"""

from __future__ import annotations

from prioscore.server.config import Limits
from prioscore.server.engine import Profile
from prioscore.server.errors import PrioscoreError
from prioscore.server.handlers.service import Service
from prioscore.server.scoring import StoredScorer
from prioscore.server.store import Store

__all__ = ["ResolvedService"]


class ResolvedService(Service):
    """A Service for inline scoring only, over a profile and a time resolved elsewhere."""

    def __init__(
        self, profile: Profile | PrioscoreError, reads: Store, limits: Limits, now: float
    ) -> None:
        # Not Service.__init__: no store to write, catalog, core or hub here. These are
        # what score_events and score_features read (tests/rpc/test_inline_process.py
        # compares both paths on the same requests).
        self._resolved = profile
        self._reads = reads
        # Stored attributes for inline entities (inline_attributes), read on the same
        # read-only connection: a worker answers byte for byte as the serving process.
        self.scorer = StoredScorer(reads)
        self.limits = limits
        self._clock = lambda: now

    def get_profile(self, name: str, field: str = "profile") -> Profile:
        """The profile the serving process resolved for this request (by the same name)."""
        if isinstance(self._resolved, PrioscoreError):
            raise self._resolved
        return self._resolved
