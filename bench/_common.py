"""Small timing and reporting helpers shared by the bench/ scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np


def percentiles_ms(samples: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """(p50, p99) in milliseconds of durations given in seconds."""
    arr = np.asarray(samples, dtype=np.float64) * 1e3
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call, seconds."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def verdict(ratio: float, target: float, higher_is_better: bool) -> str:
    if ratio != ratio:  # NaN
        return "n/a"
    ok = ratio >= target if higher_is_better else ratio <= target
    return "ok" if ok else "MISS"


def figure(
    name: str, ratio: float, target: float, higher_is_better: bool, details: str, unit: str = "x"
) -> str:
    """One printed line: name, ratio, target, pass/miss, then the absolute numbers."""
    op = ">=" if higher_is_better else "<="
    line = (
        f"{name:<26} ratio {ratio:7.3f}{unit}  target {op} {target:g}{unit}"
        f"  [{verdict(ratio, target, higher_is_better):>4}]  {details}"
    )
    print(line, flush=True)
    return line


def info(name: str, details: str) -> str:
    line = f"{name:<26} {'':>37}  {details}"
    print(line, flush=True)
    return line
