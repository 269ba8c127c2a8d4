"""The KPI engine's two ways through a grid give the same figures: one quarter's progress
(:func:`accumulate_latest`, what ``kpi_progress`` reads) against the whole grid (:func:`accumulate`,
what ``kpi_series`` reads), and the KPI keys found with or without a table of combinations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rbm_utils.analytics.kpi_grid import accumulate, accumulate_latest, key_rows
from rbm_utils.core.quarters import Quarter

Q = Quarter(2026, 3).index
LATEST_COLUMNS = ["e", "pidx", "current", "recent", "last_reported", "cum_reports", "cum_evidence"]


def entities() -> pd.DataFrame:
    """One KPI per (aggregation, measure), plus an annual one, one whose baseline comes after the
    quarter, one with no baseline period and one with an unknown aggregation."""
    rows = [
        ("sum", "number", Q - 6, "quarterly"),
        ("mean", "percent", Q - 6, "quarterly"),
        ("sum", "percent", Q - 6, "quarterly"),
        ("latest", "percent", Q - 6, "quarterly"),
        ("max", "percent", Q - 6, "quarterly"),
        ("latest", "number", Q - 6, "annual"),
        ("max", "number", Q - 6, None),
        ("mean", "ratio", Q - 3, "semi-annual"),
        ("sum", "number", Q + 2, "quarterly"),
        ("latest", "number", np.nan, "quarterly"),
        ("median", "number", Q - 2, "quarterly"),
    ]
    return pd.DataFrame(
        {
            "e": np.arange(len(rows)),
            "bidx": [float(r[2]) for r in rows],
            "start": [10.0 * i for i in range(len(rows))],
            "aggregation": [r[0] for r in rows],
            "measure": [r[1] for r in rows],
            "frequency": [r[3] for r in rows],
        }
    )


def actuals() -> pd.DataFrame:
    """Reports with gaps, a period reported twice (the last counts), rows out of order, a row
    before the baseline, one after the quarter, missing values, numerators and denominators."""
    rng = np.random.default_rng(11)
    rows = []
    for e in range(11):
        for p in range(Q - 8, Q + 2):
            if rng.random() < 0.3:
                continue  # a quarter not reported
            den = float(rng.integers(0, 50))  # 0: no pooled rate
            num = np.nan if rng.random() < 0.1 else float(rng.integers(0, 50))
            value = np.nan if rng.random() < 0.1 else float(rng.normal(50, 20))
            rows.append((e, float(p), value, num, den, bool(rng.random() < 0.5)))
    rows += [rows[3][:2] + (99.0, 1.0, 2.0, True), rows[20][:2] + (-5.0, np.nan, np.nan, False)]  # reported twice
    rng.shuffle(rows)
    return pd.DataFrame(rows, columns=["e", "pidx", "value", "numerator", "denominator", "has_evidence"])


@pytest.mark.parametrize("no_data_quarters", [1, 2])
def test_latest_rows_are_the_whole_grid_rows_at_the_quarter(no_data_quarters):
    ent, acts = entities(), actuals()
    whole = accumulate(ent, acts, Q, no_data_quarters, before_baseline=True)
    grid, latest = accumulate_latest(ent, acts, Q, no_data_quarters)
    expected = whole.loc[whole["pidx"].to_numpy() == Q, LATEST_COLUMNS]
    pd.testing.assert_frame_equal(latest[LATEST_COLUMNS], expected, check_exact=True)
    pd.testing.assert_frame_equal(grid, whole[["e", "pidx", "reported", "current"]], check_exact=True)
    assert latest["recent"].any() and not latest["recent"].all()  # the case tests both


def test_latest_current_values_by_hand():
    ent = pd.DataFrame(
        {
            "e": [0, 1, 2],
            "bidx": [float(Q - 2)] * 3,
            "start": [5.0, 5.0, 40.0],
            "aggregation": ["sum", "max", "latest"],
            "measure": ["number", "number", "percent"],
        }
    )
    acts = pd.DataFrame(
        {
            "e": [0, 0, 1, 1, 2, 2],
            "pidx": [float(Q - 1), float(Q), float(Q - 1), float(Q), float(Q - 1), float(Q)],
            "value": [2.0, 3.0, 9.0, 4.0, 50.0, 60.0],
            "numerator": [np.nan, np.nan, np.nan, np.nan, 1.0, 3.0],
            "denominator": [np.nan, np.nan, np.nan, np.nan, 4.0, 4.0],
            "has_evidence": [True, False, True, True, False, False],
        }
    )
    _, latest = accumulate_latest(ent, acts, Q, 2)
    # sum: 5 + 2 + 3; max: 9; latest percent pooled from the numerator and denominator: 3/4
    assert latest["current"].tolist() == [10.0, 9.0, 75.0]
    assert latest["cum_reports"].tolist() == [2, 2, 2]
    assert latest["cum_evidence"].tolist() == [1, 2, 0]


@pytest.mark.parametrize("extra", [0, 20_000])  # 20,000 more pairs of 50 units: too many combinations, hashed
def test_key_rows_with_and_without_a_table_of_combinations(extra):
    kpis = pd.DataFrame({"unit_code": ["AFR", "AFR", None, "CYB"], "kpi_id": ["K0", "K2", "K1", "K9"]})
    units = ["AFR", "CYB", np.nan, "AFR", "EUR", None, "CYB"] * 3 + [f"U{i % 50}" for i in range(extra)]
    ids = ["K2", "K9", "K1", "K1", "K0", "K1", "K0"] * 3 + [f"X{i}" for i in range(extra)]
    rows = key_rows(np.array(units, dtype=object), np.array(ids, dtype=object), kpis)
    assert rows[:21].tolist() == [1, 3, 2, -1, -1, 2, -1] * 3
    assert (rows[21:] == -1).all()
