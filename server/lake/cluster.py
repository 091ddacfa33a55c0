"""Where the partition tasks run: in this process, or on a dask.distributed cluster.

dask.distributed, not Ray: its LocalCluster is a few plain processes on loopback that
start in about a second and stay within this 2-core machine, and `Client.map` over a list
of partitions is all the runner needs; Ray brings a raylet, a GCS and an object store per
node for the same job. The runner only sees `Executor.map`, so a Ray executor would be
another class here (ray.remote over the same partition functions), nothing else.

`--cluster` takes `inline` (no distributed engine: the single-process reference),
`local[N]` (a LocalCluster of N single-threaded worker processes on 127.0.0.1) or a
scheduler address `tcp://host:port`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from prioscore.server.lake.dataset import LakeInputError

T = TypeVar("T")
R = TypeVar("R")
_LOCAL = re.compile(r"local\[(\d+)\]")


class Executor(Protocol):
    """Runs fn(job, item) for every item; results in item order."""

    workers: int

    def map(self, fn: Callable[[Any, T], R], job: Any, items: Sequence[T]) -> list[R]: ...


class Inline:
    """The single-process reference: the same tasks, one after another, here."""

    workers = 1

    def map(self, fn: Callable[[Any, T], R], job: Any, items: Sequence[T]) -> list[R]:
        return [fn(job, item) for item in items]


class Dask:
    """Tasks on a dask.distributed cluster; each worker runs one partition at a time
    (one thread per worker), which is what bounds its memory by a partition's size."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.workers = len(client.scheduler_info()["workers"])

    def map(self, fn: Callable[[Any, T], R], job: Any, items: Sequence[T]) -> list[R]:
        [shared] = self.client.scatter([job], broadcast=True)
        futures = self.client.map(fn, [shared] * len(items), items, pure=False)
        return list(self.client.gather(futures))


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise LakeInputError(
            ["--cluster: needs dask.distributed: pip install 'prioscore[lake]'"]
        ) from None
    return distributed


@contextmanager
def executor(spec: str) -> Iterator[Executor]:
    """The executor `spec` names, shut down (a local cluster stopped) on exit."""
    if spec == "inline":
        yield Inline()
        return
    match = _LOCAL.fullmatch(spec)
    if match is None and not spec.startswith("tcp://"):
        raise LakeInputError(
            [f"--cluster {spec!r}: use inline, local[N] (N workers) or tcp://host:port"]
        )
    distributed = _distributed()
    if match is not None:
        n = int(match.group(1))
        if not 1 <= n <= 64:
            raise LakeInputError([f"--cluster {spec!r}: N must be 1 to 64"])
        cluster = distributed.LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit=0,
        )
        try:
            with distributed.Client(cluster) as client:
                yield Dask(client)
        finally:
            cluster.close()
        return
    with distributed.Client(spec, timeout=30) as client:
        yield Dask(client)


__all__ = ["Dask", "Executor", "Inline", "executor"]
