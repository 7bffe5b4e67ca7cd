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


def interleaved(cases: dict[str, tuple[Callable[[Any], Any], Sequence[Any]]], *, rounds: int = 10,
                warmup: int = 20) -> dict[str, Stats]:
    """`per_call` for several cases at once, in `rounds` rounds: each round times every case on the next slice of
    its items. On a shared machine whose speed drifts within a minute, timing the cases one after the other would
    charge the drift to whichever case ran during it; interleaved, every case sees the same mix, so the ratios
    between cases (ours against the baselines) hold even when the absolute numbers move."""
    for fn, items in cases.values():
        for item in items[:warmup]:
            fn(item)
    samples: dict[str, list[int]] = {key: [] for key in cases}
    clock = time.perf_counter_ns
    for r in range(rounds):
        gc.collect()
        for key, (fn, items) in cases.items():
            size = -(-len(items) // rounds)
            out = samples[key]
            for item in items[r * size:(r + 1) * size]:
                start = clock()
                fn(item)
                out.append(clock() - start)
    return {key: Stats.of(values) for key, values in samples.items()}


def once_ms(fn: Callable[[], Any]) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6
