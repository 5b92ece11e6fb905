"""Helpers shared by the benchmarks: timing by median of repeats, and a table printer."""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(REPO), "shared", "data")


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def percentiles(samples: list[float], qs=(50, 99)) -> dict[int, float]:
    s = sorted(samples)
    return {q: s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))] for q in qs}


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def print_table(rows: list[dict]) -> None:
    """rows: {figure, value, baseline, ratio, target}; prints an aligned Markdown table."""
    cols = ["figure", "value", "baseline", "ratio", "target"]
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols}
    print("| " + " | ".join(c.ljust(widths[c]) for c in cols) + " |")
    print("| " + " | ".join("-" * widths[c] for c in cols) + " |")
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")).ljust(widths[c]) for c in cols) + " |")
