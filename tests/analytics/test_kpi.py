"""KPI progress rules (docs/rules.md "KPI progress"), with hand-computed expectations.

Unless a test says otherwise a KPI has its baseline in 2026-Q1 and its target in 2027-Q1
(4 quarters), so the linear expectation is 0.25 per quarter: 2026-Q3 -> 0.5, 2026-Q4 -> 0.75.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbm_utils.analytics import kpi, kpi_regions
from rbm_utils.analytics.kpi import STATUS_COLORS, STATUS_LABELS, STATUS_ORDER, kpi_progress, kpi_series, rollup
from rbm_utils.analytics.kpi_regions import activities_by_region, kpi_progress_by_region
from rbm_utils.analytics.kpi_rules import status_codes, status_from_performance
from rbm_utils.core import schema
from rbm_utils.core.quarters import Quarter

KPI_DEFAULTS = dict(
    unit_code="AFR",
    result_id="R1",
    name="A KPI",
    measure="number",
    direction="increase",
    aggregation="sum",
    baseline_value=0.0,
    baseline_period="2026-Q1",
    target_value=100.0,
    target_period="2027-Q1",
    data_source="survey",
    responsible="officer",
)


def make_state(kpis, actuals=(), milestones=(), results=None) -> dict[str, pd.DataFrame]:
    """A tiny state built with schema.conform. ``kpis``: dicts overriding KPI_DEFAULTS;
    ``actuals``: dicts with kpi_id, period, value (+ numerator, denominator,
    disaggregation, evidence, unit_code)."""
    k = pd.DataFrame([{**KPI_DEFAULTS, **row} for row in kpis])
    a = pd.DataFrame([{"unit_code": "AFR", "disaggregation": "", **row} for row in actuals])
    m = pd.DataFrame([{"unit_code": "AFR", **row} for row in milestones])
    state = {
        "KPIs": schema.conform("KPIs", k, with_unit=True),
        "Actuals": schema.conform("Actuals", a, with_unit=True),
        "Milestones": schema.conform("Milestones", m, with_unit=True),
    }
    if results is not None:
        state["Results"] = schema.conform("Results", pd.DataFrame(results), with_unit=True)
    return state


def row(progress: pd.DataFrame, kpi_id: str, unit: str = "AFR") -> pd.Series:
    sel = progress.loc[(progress["kpi_id"] == kpi_id) & (progress["unit_code"] == unit)]
    assert len(sel) == 1, sel
    return sel.iloc[0]


def acts(kpi_id: str, values: dict, **extra) -> list[dict]:
    return [{"kpi_id": kpi_id, "period": p, "value": v, **extra} for p, v in values.items()]


# --------------------------------------------------------------------------- current value


def test_sum_increase_uses_only_totals_after_baseline_up_to_quarter():
    state = make_state(
        [dict(kpi_id="K1", baseline_value=10, target_value=110)],
        acts("K1", {"2026-Q1": 999, "2026-Q2": 20, "2026-Q3": 15, "2026-Q4": 500})
        + [dict(kpi_id="K1", period="2026-Q2", value=1000, disaggregation="region=AFR")],
    )
    r = row(kpi_progress(state, "2026-Q3"), "K1")
    assert r["current_value"] == 45.0  # 10 + 20 + 15 (baseline row, Q4 row, breakdown ignored)
    assert r["achievement"] == pytest.approx(0.35)  # (45 - 10) / (110 - 10)
    assert r["expected"] == 0.5
    assert r["performance"] == pytest.approx(0.7)
    assert r["status"] == "at_risk"  # exactly at the at_risk boundary
    assert r["n_reports"] == 3  # 2026-Q1 (baseline quarter), Q2, Q3


def test_latest_decrease_kpi_falling_is_progress():
    state = make_state(
        [
            dict(kpi_id="D1", aggregation="latest", direction="decrease", baseline_value=100, target_value=50),
            dict(kpi_id="D2", aggregation="latest", direction="decrease", baseline_value=100, target_value=50),
        ],
        acts("D1", {"2026-Q2": 90, "2026-Q3": 70}) + acts("D2", {"2026-Q2": 110}),
    )
    p = kpi_progress(state, "2026-Q3")
    d1, d2 = row(p, "D1"), row(p, "D2")
    assert d1["current_value"] == 70.0
    assert d1["achievement"] == pytest.approx(0.6)  # (70 - 100) / (50 - 100)
    assert d1["performance"] == pytest.approx(1.2)  # 0.6 / 0.5
    assert d1["status"] == "on_track"
    assert d2["achievement"] == pytest.approx(-0.2)  # (110 - 100) / (50 - 100)
    assert d2["status"] == "off_track"


@pytest.mark.parametrize("aggregation, current", [("sum", 120.0), ("latest", 40.0), ("max", 50.0), ("mean", 40.0)])
def test_each_aggregation(aggregation, current):
    state = make_state(
        [dict(kpi_id="K", aggregation=aggregation, target_value=200)],
        acts("K", {"2026-Q2": 30, "2026-Q3": 50, "2026-Q4": 40}),
    )
    r = row(kpi_progress(state, "2026-Q4"), "K")
    assert r["current_value"] == pytest.approx(current)
    assert r["achievement"] == pytest.approx(current / 200)


@pytest.mark.parametrize("aggregation", ["sum", "latest", "max", "mean"])
def test_no_report_yet_current_is_baseline(aggregation):
    state = make_state([dict(kpi_id="K", aggregation=aggregation, baseline_value=7, target_value=17)])
    r = row(kpi_progress(state, "2026-Q2"), "K")
    assert r["current_value"] == 7.0
    assert r["achievement"] == 0.0
    assert r["n_reports"] == 0
    assert pd.isna(r["last_period"])
    assert pd.isna(r["quarters_since_report"])
    assert math.isnan(r["evidence_share"])
    assert r["status"] == "no_data"  # expected 0.25 > 0 and nothing in Q1..Q2


# --------------------------------------------------------------------------- percent pooling


def _pct_state(aggregation, rows):
    return make_state(
        [dict(kpi_id="P", measure="percent", aggregation=aggregation, baseline_value=20, target_value=60)],
        [dict(kpi_id="P", period=p, value=v, numerator=n, denominator=d) for p, v, n, d in rows],
    )


def test_percent_pooled_equal_denominators():
    state = _pct_state("sum", [("2026-Q2", 30, 30, 100), ("2026-Q3", 70, 70, 100)])
    assert row(kpi_progress(state, "2026-Q3"), "P")["current_value"] == pytest.approx(50.0)


@pytest.mark.parametrize(
    "aggregation, expected", [("mean", 100 * 40 / 120), ("sum", 100 * 40 / 120), ("latest", 50.0), ("max", 50.0)]
)
def test_percent_pooled_unequal_denominators(aggregation, expected):
    # 30/100 and 10/20: pooled 40/120 = 33.33, NOT the mean of 30 % and 50 % (40).
    # value 51 on the last row proves latest/max use 100*num/den.
    state = _pct_state(aggregation, [("2026-Q2", 30, 30, 100), ("2026-Q3", 51, 10, 20)])
    assert row(kpi_progress(state, "2026-Q3"), "P")["current_value"] == pytest.approx(expected)


def test_percent_not_pooled_when_a_used_row_lacks_denominator():
    state = _pct_state("mean", [("2026-Q2", 30, 30, 100), ("2026-Q3", 50, None, None)])
    assert row(kpi_progress(state, "2026-Q3"), "P")["current_value"] == pytest.approx(40.0)  # mean of values
    # up to 2026-Q2 every used row has both: pooled 30/100
    assert row(kpi_progress(state, "2026-Q2"), "P")["current_value"] == pytest.approx(30.0)


# --------------------------------------------------------------------------- expected


def test_milestone_overrides_linear_expectation():
    base = [dict(kpi_id="M", target_value=100)]
    a = acts("M", {"2026-Q2": 10, "2026-Q3": 10})
    with_ms = row(
        kpi_progress(make_state(base, a, [dict(kpi_id="M", period="2026-Q3", target_value=20)]), "2026-Q3"), "M"
    )
    linear = row(kpi_progress(make_state(base, a), "2026-Q3"), "M")
    assert with_ms["expected"] == pytest.approx(0.2)  # (20 - 0) / (100 - 0)
    assert with_ms["performance"] == pytest.approx(1.0)
    assert with_ms["status"] == "on_track"
    assert linear["expected"] == 0.5  # (Q3 - Q1) / (2027-Q1 - Q1) = 2 / 4
    assert linear["performance"] == pytest.approx(0.4)
    assert linear["status"] == "off_track"
    # a milestone for another quarter does not apply: linear at 2026-Q2
    other = row(
        kpi_progress(make_state(base, a, [dict(kpi_id="M", period="2026-Q3", target_value=20)]), "2026-Q2"), "M"
    )
    assert other["expected"] == 0.25


def test_linear_expectation_is_clipped_after_target_period():
    state = make_state([dict(kpi_id="K", target_value=100)], acts("K", {"2027-Q2": 50, "2027-Q3": 10}))
    r = row(kpi_progress(state, "2027-Q3"), "K")
    assert r["expected"] == 1.0
    assert r["performance"] == pytest.approx(0.6)
    assert r["status"] == "off_track"


# --------------------------------------------------------------------------- status


def test_no_data_window_and_threshold():
    state = make_state([dict(kpi_id="K", target_value=40)], acts("K", {"2026-Q2": 30}))
    # at 2026-Q3: achievement 0.75, expected 0.5 -> performance 1.5, Q2 reported within Q2..Q3
    assert row(kpi_progress(state, "2026-Q3"), "K")["status"] == "on_track"
    # at 2026-Q4: nothing in Q3..Q4 while progress is expected -> no data
    q4 = row(kpi_progress(state, "2026-Q4"), "K")
    assert q4["status"] == "no_data"
    assert q4["quarters_since_report"] == 2
    # with a 3-quarter window Q2 counts again: 0.75 / 0.75 = 1.0 -> on track
    assert row(kpi_progress(state, "2026-Q4", {"no_data_quarters": 3}), "K")["status"] == "on_track"


def test_target_met_wins_over_no_data_and_forecast_is_true():
    state = make_state([dict(kpi_id="K", target_value=40)], acts("K", {"2026-Q2": 45}))
    r = row(kpi_progress(state, "2027-Q4"), "K")
    assert r["achievement"] == pytest.approx(45 / 40)
    assert r["status"] == "target_met"
    assert r["likely_to_meet"] is not pd.NA and bool(r["likely_to_meet"]) is True
    assert math.isnan(r["forecast_value"])  # 1 point: no line


def test_not_started_at_baseline_and_before():
    state = make_state([dict(kpi_id="K"), dict(kpi_id="F", baseline_period="2027-Q1", target_period="2028-Q1")])
    p = kpi_progress(state, "2026-Q1")
    assert row(p, "K")["expected"] == 0.0
    assert row(p, "K")["status"] == "not_started"
    f = row(p, "F")  # baseline later than the quarter
    assert f["current_value"] == 0.0 and f["expected"] == 0.0 and f["status"] == "not_started"
    assert set(kpi_series(state, "2026-Q1")["kpi_id"]) == {"K"}


@pytest.mark.parametrize(
    "direction, baseline, current, achievement, status",
    [
        ("increase", 50, 50, 1.0, "target_met"),
        ("increase", 50, 55, 1.0, "target_met"),
        ("increase", 50, 40, 0.0, "off_track"),
        ("decrease", 5, 4, 1.0, "target_met"),
        ("decrease", 5, 6, 0.0, "off_track"),
    ],
)
def test_target_equal_to_baseline(direction, baseline, current, achievement, status):
    state = make_state(
        [dict(kpi_id="E", aggregation="latest", direction=direction, baseline_value=baseline, target_value=baseline)],
        acts("E", {"2026-Q3": current}),
    )
    r = row(kpi_progress(state, "2026-Q3"), "E")
    assert r["achievement"] == achievement
    assert r["status"] == status


@pytest.mark.parametrize(
    "performance, status",
    [
        (0.9, "on_track"),
        (0.8999, "at_risk"),
        (0.7, "at_risk"),
        (0.6999, "off_track"),
        (0.9 - 1e-12, "on_track"),
        (0.7 - 1e-12, "at_risk"),
        (2.0, "on_track"),
        (-1.0, "off_track"),
    ],
)
def test_status_boundaries(performance, status):
    assert status_from_performance(performance, achievement=0.5, expected=0.5) == status


def test_status_order_of_rules():
    assert status_from_performance(0.1, achievement=1.0) == "target_met"
    assert status_from_performance(0.95, achievement=0.5, expected=0.5, reported_recently=False) == "no_data"
    assert (
        status_from_performance(float("nan"), achievement=0.0, expected=0.0, reported_recently=False) == "not_started"
    )
    assert status_from_performance(float("nan"), achievement=float("nan"), expected=0.5) == "no_data"
    assert status_from_performance(0.8, expected=0.5, thresholds={"on_track": 0.8}) == "on_track"


def test_status_at_exact_on_track_boundary_through_the_pipeline():
    state = make_state([dict(kpi_id="K")], acts("K", {"2026-Q2": 20, "2026-Q3": 25}))
    r = row(kpi_progress(state, "2026-Q3"), "K")
    assert r["performance"] == pytest.approx(0.9)  # 0.45 / 0.5
    assert r["status"] == "on_track"


def test_status_constants_are_complete():
    assert STATUS_ORDER == ("off_track", "no_data", "at_risk", "on_track", "target_met", "not_started")
    assert set(STATUS_LABELS) == set(STATUS_ORDER) == set(STATUS_COLORS)
    assert all(c.startswith("#") and len(c) == 7 for c in STATUS_COLORS.values())


# --------------------------------------------------------------------------- forecast


def test_forecast_single_point_is_insufficient():
    state = make_state([dict(kpi_id="K")], acts("K", {"2026-Q2": 10}))
    r = row(kpi_progress(state, "2026-Q2"), "K")
    assert math.isnan(r["forecast_value"]) and math.isnan(r["forecast_achievement"])
    assert r["likely_to_meet"] is pd.NA


def test_forecast_clean_three_point_line():
    # sum KPI: currents 10, 30, 35 at 2026-Q2..Q4 (x = 1, 2, 3 quarters after baseline)
    # mean x 2, mean y 25, Sxy = (-1)(-15) + 0 + (1)(10) = 25, Sxx = 2 -> slope 12.5
    # at the target period (x = 4): 25 + 12.5 * 2 = 50 = target -> likely to meet
    state = make_state([dict(kpi_id="K", target_value=50)], acts("K", {"2026-Q2": 10, "2026-Q3": 20, "2026-Q4": 5}))
    r = row(kpi_progress(state, "2026-Q4"), "K")
    assert r["forecast_value"] == pytest.approx(50.0)
    assert r["forecast_achievement"] == pytest.approx(1.0)
    assert bool(r["likely_to_meet"]) is True
    # a lower trend: currents 10, 20, 30 -> 40 at the target, 0.8 of the way
    state = make_state([dict(kpi_id="K", target_value=50)], acts("K", {"2026-Q2": 10, "2026-Q3": 10, "2026-Q4": 10}))
    r = row(kpi_progress(state, "2026-Q4"), "K")
    assert r["forecast_value"] == pytest.approx(40.0)
    assert r["forecast_achievement"] == pytest.approx(0.8)
    assert bool(r["likely_to_meet"]) is False


def test_forecast_uses_only_the_last_eight_reported_quarters():
    # latest KPI, baseline 2024-Q1, target 2027-Q1; values: two outliers then a clean +1 line
    periods = [str(q) for q in Quarter.span("2024-Q2", "2026-Q3")]  # 10 quarters
    values = [100, 100] + list(range(1, 9))  # last 8: 1..8 at 2024-Q4..2026-Q3
    state = make_state(
        [dict(kpi_id="L", aggregation="latest", baseline_period="2024-Q1", target_value=20)],
        acts("L", dict(zip(periods, values))),
    )
    r = row(kpi_progress(state, "2026-Q3"), "L")
    # 2026-Q3 holds 8; the target 2027-Q1 is 2 quarters later -> 10
    assert r["forecast_value"] == pytest.approx(10.0)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False), min_size=3, max_size=8))
def test_forecast_matches_numpy_polyfit(values):
    periods = [str(q) for q in Quarter.span("2024-Q2", "2030-Q4")][: len(values)]
    state = make_state(
        [dict(kpi_id="L", aggregation="latest", baseline_period="2024-Q1", target_period="2032-Q1", target_value=5000)],
        acts("L", dict(zip(periods, values))),
    )
    r = row(kpi_progress(state, periods[-1]), "L")
    x = np.array([Quarter.parse(p).index for p in periods], dtype=float)
    slope, intercept = np.polyfit(x, np.array(values), 1)
    assert r["forecast_value"] == pytest.approx(slope * Quarter.parse("2032-Q1").index + intercept, rel=1e-6, abs=1e-4)


# --------------------------------------------------------------------------- freshness, series


def test_freshness_columns():
    state = make_state(
        [dict(kpi_id="K")],
        [
            dict(kpi_id="K", period="2026-Q2", value=5, evidence="report.pdf"),
            dict(kpi_id="K", period="2026-Q3", value=5, evidence="   "),
        ],
    )
    r = row(kpi_progress(state, "2026-Q4"), "K")
    assert (r["last_period"], r["quarters_since_report"], r["n_reports"]) == ("2026-Q3", 1, 2)
    assert r["evidence_share"] == 0.5


def test_kpi_series_rows_and_running_values():
    state = make_state(
        [dict(kpi_id="K", baseline_value=10, target_value=110)], acts("K", {"2026-Q2": 20, "2026-Q4": 40})
    )
    s = kpi_series(state, "2026-Q4")
    assert list(s.columns) == list(kpi.SERIES_COLUMNS)
    assert s["period"].tolist() == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert s["reported"].tolist() == [False, True, False, True]
    assert s["value"].isna().tolist() == [True, False, True, False]
    assert s["current"].tolist() == [10.0, 30.0, 30.0, 70.0]
    assert s["expected"].tolist() == [0.0, 0.25, 0.5, 0.75]


def test_kpi_series_statuses_hand_computed():
    state = make_state(
        [dict(kpi_id="K", baseline_value=10, target_value=110)], acts("K", {"2026-Q2": 20, "2026-Q4": 40})
    )
    s = kpi_series(state, "2026-Q4").set_index("period")
    # Q2: ach 0.2, exp 0.25 -> 0.8 at risk; Q3: 0.2/0.5 = 0.4 off track (Q2 is recent);
    # Q4: ach 0.6, exp 0.75 -> 0.8 at risk
    assert s.loc["2026-Q2", "performance"] == pytest.approx(0.8)
    assert s["status"].tolist() == ["not_started", "at_risk", "off_track", "at_risk"]


def test_progress_agrees_with_last_series_row():
    state = make_state(
        [
            dict(kpi_id="A", aggregation="mean"),
            dict(kpi_id="B", direction="decrease", baseline_value=50, target_value=10, aggregation="latest"),
            dict(kpi_id="C", unit_code="EUR", aggregation="max"),
        ],
        acts("A", {"2026-Q2": 5, "2026-Q3": 9})
        + acts("B", {"2026-Q3": 30})
        + [dict(unit_code="EUR", kpi_id="C", period="2026-Q2", value=3)],
    )
    p = kpi_progress(state, "2026-Q3").set_index(["unit_code", "kpi_id"])
    s = kpi_series(state, "2026-Q3")
    last = s.loc[s["period"] == "2026-Q3"].set_index(["unit_code", "kpi_id"])
    for col_p, col_s in [
        ("current_value", "current"),
        ("achievement", "achievement"),
        ("expected", "expected"),
        ("status", "status"),
    ]:
        assert p[col_p].tolist() == last.loc[p.index, col_s].tolist()
    assert p.loc[("EUR", "C"), "current_value"] == 3.0  # same kpi_id in two units would not mix


def test_progress_columns_results_join_and_no_mutation():
    state = make_state(
        [dict(kpi_id="K")],
        acts("K", {"2026-Q2": 5}),
        results=[
            dict(
                unit_code="AFR",
                result_id="R1",
                level="output",
                title="T",
                programme="P1",
                initiative="AFR3",
                theme="cyber",
            )
        ],
    )
    before = {k: v.copy() for k, v in state.items()}
    p = kpi_progress(state, "2026-Q2")
    assert list(p.columns) == list(kpi.PROGRESS_COLUMNS)
    assert row(p, "K")[["level", "programme", "initiative", "theme"]].tolist() == ["output", "P1", "AFR3", "cyber"]
    assert str(p["likely_to_meet"].dtype) == "boolean"
    for k, v in before.items():
        pd.testing.assert_frame_equal(state[k], v)


def test_empty_state():
    assert kpi_progress({}, "2026-Q1").empty
    assert kpi_series({}, "2026-Q1").empty
    assert kpi_progress_by_region({}, "2026-Q1").empty
    with pytest.raises(ValueError):
        kpi_progress({}, "2026-3")


# --------------------------------------------------------------------------- rollup


def _progress_frame(statuses, units=None, levels=None):
    n = len(statuses)
    return pd.DataFrame({"unit_code": units or ["AFR"] * n, "level": levels or ["output"] * n, "status": statuses})


def test_rollup_by_unit_and_bureau():
    p = _progress_frame(["on_track", "off_track", "on_track", "no_data"], units=["AFR", "AFR", "EUR", "EUR"])
    r = rollup(p, "unit_code").set_index("unit_code")
    assert r.loc["AFR", ["n_kpis", "n_on_track", "n_off_track", "n_no_data"]].tolist() == [2, 1, 1, 0]
    assert r.loc["EUR", "share_no_data"] == 0.5
    for by in (None, [], "bureau"):
        b = rollup(p, by)
        assert len(b) == 1
        assert b.loc[0, "n_kpis"] == 4 and b.loc[0, "n_on_track"] == 2 and b.loc[0, "share_on_track"] == 0.5
    assert rollup(p.iloc[:0], "unit_code").empty
    assert rollup(p.iloc[:0], None).loc[0, "n_kpis"] == 0


def test_rollup_keeps_blank_groups():
    p = pd.DataFrame({"programme": ["P1", None, None], "status": ["on_track", "at_risk", "at_risk"]})
    r = rollup(p, ["programme"])
    assert r["n_kpis"].sum() == 3
    assert r.loc[r["programme"].isna(), "n_at_risk"].item() == 2


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["AFR", "EUR", "CYB"]), st.sampled_from(schema.LEVELS), st.sampled_from(STATUS_ORDER)
        ),
        max_size=30,
    ),
    st.sampled_from([None, "unit_code", "level", ["unit_code", "level"]]),
)
def test_rollup_counts_add_up(rows, by):
    p = pd.DataFrame(rows, columns=["unit_code", "level", "status"])
    r = rollup(p, by)
    counts = r[[f"n_{s}" for s in STATUS_ORDER]].sum(axis=1)
    assert (counts == r["n_kpis"]).all()
    assert r["n_kpis"].sum() == len(p)
    if len(p):
        shares = r[[f"share_{s}" for s in STATUS_ORDER]].sum(axis=1)
        assert np.allclose(shares, 1.0)


# --------------------------------------------------------------------------- properties

_perf = st.floats(min_value=-10, max_value=10, allow_nan=False)


@given(
    _perf,
    _perf,
    st.floats(min_value=-2, max_value=2, allow_nan=False),
    st.floats(min_value=-1, max_value=1, allow_nan=False),
    st.booleans(),
)
def test_status_is_monotone_in_performance(p1, p2, achievement, expected, recent):
    lo, hi = sorted((p1, p2))
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    s_lo = status_from_performance(lo, achievement=achievement, expected=expected, reported_recently=recent)
    s_hi = status_from_performance(hi, achievement=achievement, expected=expected, reported_recently=recent)
    assert rank[s_hi] >= rank[s_lo]


@settings(max_examples=30, deadline=None)
@given(
    st.floats(min_value=-1e4, max_value=1e4, allow_nan=False),
    st.floats(min_value=0.5, max_value=1e4, allow_nan=False),
    st.floats(min_value=-1e4, max_value=1e4, allow_nan=False),
)
def test_achievement_sign_flips_with_direction(baseline, gap, current):
    state = make_state(
        [
            dict(
                kpi_id="UP",
                aggregation="latest",
                direction="increase",
                baseline_value=baseline,
                target_value=baseline + gap,
            ),
            dict(
                kpi_id="DN",
                aggregation="latest",
                direction="decrease",
                baseline_value=baseline,
                target_value=baseline - gap,
            ),
        ],
        acts("UP", {"2026-Q2": current}) + acts("DN", {"2026-Q2": current}),
    )
    p = kpi_progress(state, "2026-Q2")
    up, dn = row(p, "UP")["achievement"], row(p, "DN")["achievement"]
    assert up == pytest.approx(-dn, rel=1e-9, abs=1e-9)
    if current > baseline:
        assert up > 0 > dn
    elif current < baseline:
        assert dn > 0 > up


def test_status_codes_vectorised_matches_scalar():
    perf = [0.95, 0.75, 0.1, np.nan, 0.5]
    ach = [0.5, 0.5, 1.2, 0.1, 0.2]
    exp = [0.5, 0.5, 0.5, 0.0, 0.5]
    rec = [True, True, False, True, False]
    vec = status_codes(ach, exp, perf, rec).tolist()
    assert vec == ["on_track", "at_risk", "target_met", "not_started", "no_data"]
    assert vec == [
        status_from_performance(p, achievement=a, expected=e, reported_recently=r)
        for p, a, e, r in zip(perf, ach, exp, rec)
    ]


# --------------------------------------------------------------------------- regions


def test_progress_by_region():
    state = make_state(
        [
            dict(unit_code="CYB", kpi_id="S", target_value=200),
            dict(
                unit_code="CYB", kpi_id="P", measure="percent", aggregation="mean", baseline_value=20, target_value=60
            ),
            dict(unit_code="CYB", kpi_id="L", aggregation="latest", target_value=100),
        ],
        [
            dict(unit_code="CYB", kpi_id="S", period=p, value=v, disaggregation=d)
            for p, v, d in [
                ("2026-Q2", 25, ""),
                ("2026-Q3", 15, ""),
                ("2026-Q2", 10, "region=AFR"),
                ("2026-Q3", 5, "region=AFR"),
                ("2026-Q3", 20, "region=ASP"),
                ("2026-Q3", 99, "region=AFR; sex=female"),
                ("2026-Q4", 99, "region=AFR"),
            ]
        ]
        + [
            dict(unit_code="CYB", kpi_id="P", period=p, value=v, numerator=n, denominator=d, disaggregation=g)
            for p, v, n, d, g in [
                ("2026-Q2", 30, 30, 100, "region=AFR"),
                ("2026-Q3", 50, 10, 20, "region=AFR"),
                ("2026-Q2", 50, 50, 100, "region=ASP"),
                ("2026-Q3", 40, 90, 220, ""),
            ]
        ]
        + [
            dict(unit_code="CYB", kpi_id="L", period="2026-Q3", value=v, disaggregation=d)
            for v, d in [(40, ""), (10, "region=EUR")]
        ],
    )
    r = kpi_progress_by_region(state, "2026-Q3")
    assert list(r.columns) == list(kpi_regions.REGION_COLUMNS)
    r = r.set_index(["kpi_id", "region"])
    assert sorted(r.index) == [("L", "EUR"), ("P", "AFR"), ("P", "ASP"), ("S", "AFR"), ("S", "ASP")]
    # sum KPI: total increments 25 + 15 = 40
    assert r.loc[("S", "AFR"), ["region_contribution", "share_of_total"]].tolist() == [15.0, 0.375]
    assert r.loc[("S", "ASP"), ["current_value", "share_of_total"]].tolist() == [20.0, 0.5]
    assert pd.isna(r.loc[("S", "AFR"), "status"]) and math.isnan(r.loc[("S", "AFR"), "achievement"])
    # percent KPI, pooled per region: AFR 40/120, ASP 50/100; same baseline 20 / target 60, expected 0.5
    afr, asp = r.loc[("P", "AFR")], r.loc[("P", "ASP")]
    assert afr["current_value"] == pytest.approx(100 * 40 / 120)
    assert afr["achievement"] == pytest.approx((100 * 40 / 120 - 20) / 40)
    assert afr["status"] == "off_track"  # 0.333 / 0.5 = 0.667
    assert asp["current_value"] == 50.0 and asp["status"] == "on_track"  # 0.75 / 0.5
    assert math.isnan(afr["share_of_total"])
    assert afr["n_reports"] == 2 and asp["last_period"] == "2026-Q2"
    # latest number KPI: share of the KPI's current value, no status
    assert r.loc[("L", "EUR"), ["current_value", "kpi_current_value", "share_of_total"]].tolist() == [10.0, 40.0, 0.25]
    assert pd.isna(r.loc[("L", "EUR"), "status"])


def test_activities_by_region():
    a = pd.DataFrame(
        {
            "unit_code": ["CYB"] * 4 + ["AFR"],
            "activity_id": list("ABCDE"),
            "region": ["AFR", "AFR", "ASP", None, None],
            "status": ["ongoing", "ongoing", "delayed", "planned", "completed"],
        }
    )
    out = activities_by_region({"Activities": schema.conform("Activities", a, with_unit=True)})
    assert out.values.tolist() == [
        ["AFR", "unspecified", "completed", 1],
        ["CYB", "AFR", "ongoing", 2],
        ["CYB", "ASP", "delayed", 1],
        ["CYB", "unspecified", "planned", 1],
    ]


def test_kpi_with_missing_periods_is_reported_as_no_data_not_off_track():
    state = make_state(
        [dict(kpi_id="X", baseline_period=None, target_period="2027-Q1", baseline_value=5)], acts("X", {"2026-Q2": 9})
    )
    r = row(kpi_progress(state, "2026-Q3"), "X")
    assert r["current_value"] == 5.0  # no baseline period: no row can be placed after it
    assert math.isnan(r["expected"])
    assert r["status"] == "no_data"
    assert kpi_series(state, "2026-Q3").empty


def test_no_data_window_follows_frequency():
    """An annual KPI last reported 3 quarters ago is not stale; a quarterly one is."""
    import pandas as pd

    from rbm_utils.analytics.kpi import kpi_progress
    from rbm_utils.core.schema import conform

    kpis = pd.DataFrame(
        [
            {
                "unit_code": "U",
                "kpi_id": k,
                "result_id": "R",
                "name": k,
                "measure": "number",
                "direction": "increase",
                "aggregation": "latest",
                "baseline_value": 0,
                "baseline_period": "2024-Q4",
                "target_value": 100,
                "target_period": "2026-Q4",
                "data_source": "s",
                "responsible": "r",
                "frequency": f,
            }
            for k, f in (("Q", "quarterly"), ("A", "annual"), ("OLD", "annual"))
        ]
    )
    acts = pd.DataFrame(
        [
            {"unit_code": "U", "kpi_id": k, "period": p, "value": 80.0}
            for k, p in (("Q", "2025-Q4"), ("A", "2025-Q4"), ("OLD", "2024-Q4"))
        ]
    )
    state = {"KPIs": conform("KPIs", kpis, with_unit=True), "Actuals": conform("Actuals", acts, with_unit=True)}
    status = kpi_progress(state, "2026-Q3").set_index("kpi_id")["status"]
    assert status["Q"] == "no_data"
    assert status["A"] == "on_track"  # 80 / expected 7/8 = 0.914
    # reported 7 quarters ago (window for annual: 2 x 4 = 8): still recent, and no progress since
    assert status["OLD"] == "off_track"
