"""The clock: keeps every stored score current as time passes, with no new event.

Each profile is rescored whole at least every `refresh_seconds` of clock time ([scoring]
refresh), so decay, windows, SLA ageing, silence and quantile cut points move stored
scores and tiers by themselves, and the tier changes this causes reach watchers with
cause CLOCK. On start every profile is due at once (the catch-up); a reload that adds or
changes a profile makes it due at once with cause RELOAD.

The sweep runs on its own thread and hands the writer one chunk at a time as background
jobs, so serving and ingest never wait for a whole sweep. Time is the injectable Clock:
a test that moves it wakes this thread, and `settle()` waits until what became due has
been written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from opentelemetry import metrics

from prioscore.server.clock import Clock
from prioscore.server.core.rescoring import Rescorer
from prioscore.server.core.worker import CoreWorker
from prioscore.server.engine import Profile
from prioscore.server.profiles import ProfileRegistry, profile_digest
from prioscore.server.store import Cause, TierChangeRecord

log = logging.getLogger("prioscore.core")
_meter = metrics.get_meter("prioscore.server")
_sweeps = _meter.create_counter("prioscore.clock.sweeps", unit="{sweep}")
_sweep_seconds = _meter.create_histogram(
    "prioscore.clock.sweep.duration", unit="s", description="One profile's full rescoring"
)
_sweep_changes = _meter.create_counter(
    "prioscore.clock.tier_changes", unit="{change}", description="Tier changes time caused"
)

# With a pinned clock (tests) nothing becomes due by waiting; with the wall clock the
# thread looks again at least this often (seconds of wall time).
MAX_IDLE_WAIT = 1.0

Publish = Callable[[list[TierChangeRecord]], None]


class Refresher:
    """Schedules the clock's sweeps, per profile, and runs them chunk by chunk."""

    def __init__(
        self,
        clock: Clock,
        worker: CoreWorker,
        rescorer: Rescorer,
        registry: ProfileRegistry,
        publish: Publish,
    ) -> None:
        self._clock = clock
        self._worker = worker
        self._rescorer = rescorer
        self._registry = registry
        self._publish = publish
        self._due: dict[str, tuple[float, Cause]] = {}  # name -> (next due time, cause)
        self._digests: dict[str, str] = {}
        self._state = threading.Condition()
        self._sweeping = False
        self._stopped = False
        for profile in registry.all():  # the catch-up: everyone is due at once
            self._due[profile.name] = (float("-inf"), Cause.CLOCK)
            self._digests[profile.name] = profile_digest(profile)
        registry.on_reload(self._reloaded)
        clock.on_move(self._wake)
        self._thread = threading.Thread(target=self._serve, name="prioscore-clock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ends the sweep loop after the chunk in progress (the rest resumes on start)."""
        with self._state:
            self._stopped = True
            self._state.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def settle(self, timeout: float = 30.0) -> bool:
        """Waits until nothing is due at the clock's current time and no sweep runs;
        False when `timeout` (wall seconds) passed first."""
        deadline = time.monotonic() + timeout
        with self._state:
            while self._sweeping or self._next_due() <= self._clock.now():
                left = deadline - time.monotonic()
                if left <= 0 or self._stopped:
                    return False
                self._state.notify_all()
                self._state.wait(min(left, 0.05))
        return True

    # -- scheduling

    def _wake(self) -> None:
        with self._state:
            self._state.notify_all()

    def _reloaded(self) -> None:
        """A reload replaced the profile set: new or changed profiles are due now."""
        with self._state:
            current = {p.name: p for p in self._registry.all()}
            for name in set(self._due) - set(current):
                self._due.pop(name)
                self._digests.pop(name, None)
            for name, profile in current.items():
                digest = profile_digest(profile)
                if self._digests.get(name) != digest:
                    self._digests[name] = digest
                    self._due[name] = (float("-inf"), Cause.RELOAD)
            self._state.notify_all()

    def _next_due(self) -> float:
        return min((when for when, _ in self._due.values()), default=float("inf"))

    def _take_due(self, now: float) -> list[tuple[Profile, Cause]]:
        """Profiles due at `now`, in dependency order, rescheduled one refresh ahead."""
        taken = []
        for profile in self._registry.all():
            when, cause = self._due.get(profile.name, (float("inf"), Cause.CLOCK))
            if when <= now:
                taken.append((profile, cause))
                self._due[profile.name] = (now + profile.refresh_seconds, Cause.CLOCK)
        return taken

    def _serve(self) -> None:
        while True:
            with self._state:
                now = self._clock.now()
                due = [] if self._stopped else self._take_due(now)
                while not due and not self._stopped:
                    wait = min(self._next_due() - now, MAX_IDLE_WAIT)
                    self._state.wait(max(wait, 0.001))
                    now = self._clock.now()
                    due = self._take_due(now)
                if self._stopped:
                    return
                self._sweeping = True
            try:
                self._sweep(due, now)
            except Exception:  # a sweep must never end the clock: log and go on
                log.exception("clock sweep failed; retrying at the next refresh")
            finally:
                with self._state:
                    self._sweeping = False
                    self._state.notify_all()

    def _sweep(self, due: list[tuple[Profile, Cause]], now: float) -> None:
        started = time.perf_counter()
        count = 0
        for profile, cause in due:
            began = time.perf_counter()
            found = 0
            for job in self._rescorer.population_jobs([profile], now, cause):
                if self._stopped:
                    return
                changes = self._worker.submit(job, background=True).result()
                found += len(changes)
                if changes:
                    self._publish(changes)
            labels = {"profile": profile.name, "cause": cause.value}
            _sweeps.add(1, labels)
            _sweep_seconds.record(time.perf_counter() - began, labels)
            _sweep_changes.add(found, labels)
            count += found
        log.debug(
            "swept %s as of %.0f: %d tier changes in %.2fs",
            ", ".join(p.name for p, _ in due),
            now,
            count,
            time.perf_counter() - started,
        )


__all__ = ["Refresher"]
