"""Small measuring helpers for the benchmarks: wall time, medians, peak resident memory.

Example:
    >>> with PeakRSS() as peak:
    ...     data = bytearray(50_000_000)
    >>> peak.peak_mb >= peak.start_mb
    True
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default), in MB (10^6 bytes)."""
    return psutil.Process(pid).memory_info().rss / 1e6


class PeakRSS:
    """Samples this process's resident memory every ``interval`` seconds in a thread.

    ``start_mb`` (on entry), ``peak_mb`` (highest sample, including entry and exit) and
    ``added_mb`` = peak - start: the working memory of what ran inside the block.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.start_mb = self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc = psutil.Process()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._proc.memory_info().rss / 1e6)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.start_mb = self.peak_mb = rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb())

    @property
    def added_mb(self) -> float:
        return self.peak_mb - self.start_mb


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call, wall clock."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median_of(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    """(median seconds, every run's seconds, last result) of ``repeat`` calls."""
    runs, out = [], None
    for _ in range(max(1, repeat)):
        seconds, out = timed(fn)
        runs.append(seconds)
    return statistics.median(runs), runs, out
