"""Running figures within the entities of a KPI grid (:mod:`rbm_utils.analytics.kpi_grid`): the grid
is sorted by entity then period, so each entity is one contiguous run of rows and a running sum,
forward fill or running maximum is one numpy pass with a correction at each run's start.

Example:
    >>> seg = Segments(np.array([0, 0, 1, 1, 1]), 2)
    >>> seg.cumsum_int(np.array([1, 1, 1, 0, 1])).tolist(), seg.ffill(np.array([1.0, np.nan, np.nan, 2.0, np.nan])).tolist()
    ([1, 2, 1, 1, 2], [1.0, 1.0, nan, 2.0, 2.0])
    >>> seg.running_max(np.array([3.0, 1.0, np.nan, 2.0, 1.0])).tolist()
    [3.0, 3.0, nan, 2.0, 2.0]
    >>> rows, sub = seg.subset(np.array([False, True]))
    >>> rows.tolist(), sub.cumsum_int(np.array([1, 0, 1])).tolist()
    ([2, 3, 4], [1, 1, 2])
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class Segments:
    """The grid's entities as contiguous runs of rows (``e``: each row's entity, non-decreasing):
    running sums, forward fills and running maxima within each entity, in numpy. Integer sums,
    fills and maxima are exact; float sums are pandas' own (compensated)."""

    def __init__(self, e: np.ndarray, n_entities: int, counts: np.ndarray | None = None) -> None:
        self.e = e
        if counts is None:
            counts = np.bincount(e, minlength=n_entities) if len(e) else np.zeros(n_entities, dtype=np.int64)
        self.counts = counts
        self.first = np.cumsum(counts) - counts  # each entity's first row
        self._row_first: np.ndarray | None = None
        self._last: np.ndarray | None = None

    @property
    def row_first(self) -> np.ndarray:
        """The first row of each row's entity (``first[e]``)."""
        if self._row_first is None:
            self._row_first = self.per_row(self.first)
        return self._row_first

    @property
    def last(self) -> np.ndarray:
        """Each entity's last row (entities with rows only: ``counts > 0``)."""
        if self._last is None:
            self._last = (self.first + self.counts - 1)[self.counts > 0]
        return self._last

    def per_row(self, x: np.ndarray) -> np.ndarray:
        """An entity-long array spread over the rows (``x[e]``)."""
        return np.repeat(x, self.counts)

    def subset(self, entities: np.ndarray) -> tuple[np.ndarray, Segments]:
        """The rows of the entities where ``entities`` (entity-long, bool) holds, and their runs
        as segments of their own (entities renumbered 0..m-1, in order)."""
        counts = self.counts[entities]
        shift = self.first[entities] - (np.cumsum(counts) - counts)  # each run's first row, less its new one
        rows = np.arange(int(counts.sum())) + np.repeat(shift, counts)  # their runs only: no pass over the grid
        return rows, Segments(np.repeat(np.arange(len(counts)), counts), len(counts), counts)

    def cumsum_int(self, x: np.ndarray) -> np.ndarray:
        c = np.cumsum(x, dtype=np.int64)
        if not len(c):
            return c
        has = self.counts > 0
        f = self.first[has]
        off = np.zeros(len(self.counts), dtype=np.int64)
        off[has] = c[f] - x[f].astype(np.int64)  # the sum before each run
        c -= self.per_row(off)
        return c

    def cumsum_float(self, *arrays: np.ndarray) -> list[np.ndarray]:
        df = pd.DataFrame({i: a for i, a in enumerate(arrays)})
        out = df.groupby(self.e, sort=False).cumsum()
        return [out[i].to_numpy(dtype=float) for i in range(len(arrays))]

    def ffill(self, x: np.ndarray) -> np.ndarray:
        """Each NaN takes the last value before it in its entity (NaN before the first)."""
        last = np.where(np.isnan(x), -1, np.arange(len(x)))
        np.maximum.accumulate(last, out=last)
        return np.where(last >= self.row_first, x[np.maximum(last, 0)], np.nan) if len(x) else x.copy()

    def running_max(self, x: np.ndarray) -> np.ndarray:
        """The largest value so far in its entity, NaN skipped (NaN before the first value)."""
        width = int(self.counts.max()) if len(self.counts) else 0
        if not len(x) or np.isneginf(x).any() or width * len(self.counts) > 4 * len(x) + 100_000:
            key = pd.Series(self.e)  # ragged runs: pandas, as before
            cm = pd.Series(x).groupby(key, sort=False).cummax().to_numpy()
            return pd.Series(cm).groupby(key, sort=False).ffill().to_numpy()
        pos = np.arange(len(x)) - self.row_first  # the row's place in its entity's run
        wide = np.full((len(self.counts), width), -np.inf)
        wide[self.e, pos] = np.where(np.isnan(x), -np.inf, x)
        np.maximum.accumulate(wide, axis=1, out=wide)
        out = wide[self.e, pos]
        out[np.isneginf(out)] = np.nan
        return out
