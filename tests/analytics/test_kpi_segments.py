"""Running figures within the runs of a KPI grid, checked against pandas' group-wise ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rbm_utils.analytics.kpi_segments import Segments


def runs() -> tuple[np.ndarray, np.ndarray]:
    counts = np.array([3, 0, 1, 5, 0, 4])  # entities with no row too
    e = np.repeat(np.arange(len(counts)), counts)
    x = np.array([2.0, np.nan, 1.0, np.nan, 7.0, np.nan, 3.0, 9.0, 8.0, np.nan, 4.0, np.nan, 6.0])
    return e, x


def test_figures_match_pandas_group_wise():
    e, x = runs()
    seg = Segments(e, 6)
    by = pd.Series(x).groupby(e)
    assert seg.cumsum_int(~np.isnan(x)).tolist() == pd.Series(~np.isnan(x)).groupby(e).cumsum().tolist()
    np.testing.assert_array_equal(seg.ffill(x), by.ffill().to_numpy())
    np.testing.assert_array_equal(seg.running_max(x), by.cummax().groupby(e).ffill().to_numpy())
    assert seg.last.tolist() == [2, 3, 8, 12]


def test_a_subset_is_its_entities_runs_in_order():
    e, x = runs()
    seg = Segments(e, 6)
    rows, sub = seg.subset(np.array([True, True, False, True, False, False]))
    assert rows.tolist() == [0, 1, 2, 4, 5, 6, 7, 8]
    assert sub.counts.tolist() == [3, 0, 5]
    np.testing.assert_array_equal(sub.ffill(x[rows]), seg.ffill(x)[rows])
    np.testing.assert_array_equal(sub.running_max(x[rows]), seg.running_max(x)[rows])
    assert sub.cumsum_int(np.ones(len(rows))).tolist() == [1, 2, 3, 1, 2, 3, 4, 5]
