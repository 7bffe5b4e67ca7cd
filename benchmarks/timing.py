"""Small timing helpers: per-call wall times in nanoseconds, summarised as median, p95 and mean."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Stats:
    """Milliseconds per call over `n` calls."""

    n: int
    median: float
    p95: float
    mean: float

    @classmethod
    def of(cls, samples_ns: Sequence[int]) -> Stats:
        ordered = sorted(samples_ns)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return cls(len(ordered), statistics.median(ordered) / 1e6, p95 / 1e6, statistics.fmean(ordered) / 1e6)

    def as_dict(self) -> dict[str, float]:
        return {"n": self.n, "median_ms": round(self.median, 4), "p95_ms": round(self.p95, 4),
                "mean_ms": round(self.mean, 4)}


def per_call(fn: Callable[[T], Any], items: Sequence[T], *, warmup: int = 20) -> Stats:
    """Time `fn(item)` once per item. A short warm-up first, so one-off costs (compiling a schema or a template,
    filling caches) are not smeared over the first samples; the collector runs before, not during, the loop."""
    for item in items[:warmup]:
        fn(item)
    gc.collect()
    clock = time.perf_counter_ns
    samples = []
    for item in items:
        start = clock()
        fn(item)
        samples.append(clock() - start)
    return Stats.of(samples)


def once_ms(fn: Callable[[], Any]) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6
