"""Money and people: in-year and cumulative sums, execution gap boundaries, burn vs delivery
quadrants, cost per result, funding flows."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rbm_utils.analytics.finance import burn_vs_delivery, cost_per_result, money_by_output, money_flows, money_totals
from rbm_utils.core import schema


def _state() -> dict[str, pd.DataFrame]:
    budget = pd.DataFrame(
        [
            ("AFR", "O1", "RB", 2025, 400, 4),
            ("AFR", "O1", "RB", 2026, 1000, 10),
            ("AFR", "O1", "Donor", 2026, 200, 0),
            ("AFR", "O1", "RB", 2027, 999, 9),  # a later year: not counted at 2026-Q3
            ("AFR", "O2", "RB", 2026, 100, 1),
            ("AFR", "O3", "RB", 2026, 100, 1),
            ("AFR", "O5", "RB", 2026, 100, 1),
            ("AFR", "O6", "RB", 2026, 100, 1),
        ],
        columns=["unit_code", "result_id", "funding_source", "year", "amount", "staff_months"],
    )
    spend = pd.DataFrame(
        [
            ("AFR", "O1", "RB", "2025-Q4", 300, 3),
            ("AFR", "O1", "RB", "2026-Q1", 200, 2),
            ("AFR", "O1", "RB", "2026-Q3", 400, 3),
            ("AFR", "O1", "RB", "2026-Q4", 500, 5),  # after the quarter
            ("AFR", "O1", "Donor", "2026-Q2", 180, 0),
            ("AFR", "O2", "RB", "2026-Q2", 10, 0),
            ("AFR", "O3", "RB", "2026-Q3", 91, 0),
            ("AFR", "O5", "RB", "2026-Q3", 20, 0),
            ("AFR", "O6", "RB", "2026-Q3", 100, 0),
            ("ASP", "O9", "RB", "2026-Q1", 50, 1),
        ],
        columns=["unit_code", "result_id", "funding_source", "period", "amount", "staff_months"],
    )
    results = pd.DataFrame(
        [
            ("AFR", "O1", "output", "Trainings", "Cyber"),
            ("AFR", "O2", "output", "Guides", "Cyber"),
            ("AFR", "O3", "output", "Drills", ""),
            ("AFR", "O5", "output", "x", "Inclusion"),
            ("AFR", "O6", "output", "y", "Inclusion"),
            ("ASP", "O9", "output", "z", "Cyber"),
        ],
        columns=["unit_code", "result_id", "level", "title", "programme"],
    )
    return {
        "Budget": schema.conform("Budget", budget, with_unit=True),
        "Expenditure": schema.conform("Expenditure", spend, with_unit=True),
        "Results": schema.conform("Results", results, with_unit=True),
    }


def _progress(rows: list[tuple]) -> pd.DataFrame:
    cols = [
        "unit_code",
        "kpi_id",
        "result_id",
        "level",
        "name",
        "measure",
        "direction",
        "baseline_value",
        "current_value",
        "achievement",
        "expected",
        "status",
    ]
    return pd.DataFrame(rows, columns=cols)


def _row(df: pd.DataFrame, **kw) -> pd.Series:
    mask = pd.Series(True, index=df.index)
    for k, v in kw.items():
        mask &= df[k] == v
    assert mask.sum() == 1, kw
    return df[mask].iloc[0]


def test_money_by_output_sums_and_rates():
    m = money_by_output(_state(), "2026-Q3")
    rb = _row(m, unit_code="AFR", result_id="O1", funding_source="RB")
    assert (rb["budget_year"], rb["budget_cumulative"]) == (1000.0, 1400.0)
    assert (rb["spent_year"], rb["spent_cumulative"]) == (600.0, 900.0)
    assert (rb["staff_months_planned_year"], rb["staff_months_planned_cumulative"]) == (10.0, 14.0)
    assert (rb["staff_months_used_year"], rb["staff_months_used_cumulative"]) == (5.0, 8.0)
    assert math.isclose(rb["execution_rate"], 0.6) and math.isclose(rb["cumulative_execution_rate"], 900 / 1400)
    assert math.isclose(rb["staff_use_rate"], 0.5) and rb["time_elapsed"] == 0.75
    assert rb["programme"] == "Cyber" and rb["title"] == "Trainings" and rb["quarter"] == "2026-Q3"
    assert len(m) == 7  # 2027 line and 2026-Q4 spending add no row of their own


def test_execution_gap_boundaries():
    m = money_by_output(_state(), "2026-Q3")
    # 0.60 - 0.75 = -0.15 exactly: on pace; 0.90 - 0.75 = +0.15 exactly: on pace
    assert _row(m, result_id="O1", funding_source="RB")["flag"] == "on pace"
    assert _row(m, result_id="O1", funding_source="Donor")["flag"] == "on pace"
    # 0.91 - 0.75 = 0.16: overspending; 0.10 - 0.75: underspending
    assert _row(m, result_id="O3")["flag"] == "overspending"
    assert _row(m, result_id="O2")["flag"] == "underspending"
    o9 = _row(m, result_id="O9")
    assert o9["flag"] == "unbudgeted" and pd.isna(o9["execution_rate"])
    # a stricter threshold flags the boundary cases
    m2 = money_by_output(_state(), "2026-Q3", thresholds={"execution_gap": 0.1})
    assert _row(m2, result_id="O1", funding_source="RB")["flag"] == "underspending"
    assert _row(m2, result_id="O1", funding_source="Donor")["flag"] == "overspending"


def test_in_year_resets_at_a_new_year():
    m = money_by_output(_state(), "2025-Q4")
    rb = _row(m, result_id="O1", funding_source="RB")
    assert (rb["budget_year"], rb["spent_year"], rb["time_elapsed"]) == (400.0, 300.0, 1.0)
    # 300 / 400 = 0.75 at the end of the year: gap -0.25
    assert math.isclose(rb["execution_gap"], -0.25) and rb["flag"] == "underspending"
    assert rb["budget_cumulative"] == 400.0 and rb["spent_cumulative"] == 300.0
    # Donor lines of 2026 do not exist yet in 2025
    assert not (m["funding_source"] == "Donor").any()


def test_money_totals_recomputes_rates_from_sums():
    t = money_totals(money_by_output(_state(), "2026-Q3"), by=["unit_code"]).set_index("unit_code")
    assert t.loc["AFR", "budget_year"] == 1000 + 200 + 100 * 4
    assert t.loc["AFR", "spent_year"] == 600 + 180 + 10 + 91 + 20 + 100
    assert math.isclose(t.loc["AFR", "execution_rate"], 1001 / 1600)
    assert t.loc["AFR", "flag"] == "on pace"  # 0.6256 - 0.75 = -0.124
    assert t.loc["ASP", "flag"] == "unbudgeted"


def test_burn_vs_delivery_quadrants():
    progress = _progress(
        [
            ("AFR", "K1", "O1", "output", "a", "number", "increase", 0, 0, 0.5, 0.6, "off_track"),
            ("AFR", "K2", "O1", "output", "b", "number", "increase", 0, 0, 2.0, 0.6, "target_met"),  # clipped to 1.5
            ("AFR", "K3", "O1", "output", "c", "number", "increase", 0, 0, 0.2, 0.6, "off_track"),
            ("AFR", "K4", "O2", "output", "d", "number", "increase", 0, 0, 0.1, 0.6, "off_track"),
            ("AFR", "K5", "O3", "output", "e", "number", "increase", 0, 0, 0.2, 0.6, "off_track"),
            ("AFR", "K6", "O5", "output", "f", "number", "increase", 0, 0, 0.9, 0.6, "on_track"),
            ("AFR", "K7", "O6", "output", "g", "number", "increase", 0, 0, 0.7, 0.6, "on_track"),
            ("AFR", "K8", "O4", "output", "h", "number", "increase", 0, 0, 0.7, 0.6, "on_track"),
            ("AFR", "K9", "R1", "reach", "i", "number", "increase", 0, 0, 0.7, 0.6, "on_track"),  # not an output
        ]
    )
    b = burn_vs_delivery(money_by_output(_state(), "2026-Q3"), progress).set_index(["unit_code", "result_id"])
    o1 = b.loc[("AFR", "O1")]
    # O1 across sources: 780 / 1200 = 0.65; median of 0.2, 0.5, 1.5 = 0.5; expected 0.6
    assert math.isclose(o1["share_spent"], 0.65) and o1["delivery"] == 0.5 and o1["expected_delivery"] == 0.6
    assert (o1["n_kpis"], o1["spending"], o1["delivering"], o1["quadrant"]) == (3, "on pace", "on pace", "on plan")
    assert b.loc[("AFR", "O2"), "quadrant"] == "slow start"
    assert b.loc[("AFR", "O3"), "quadrant"] == "overspending for delivery"
    assert b.loc[("AFR", "O5"), "quadrant"] == "efficient"
    assert b.loc[("AFR", "O6"), "quadrant"] == "front-loaded"
    assert b.loc[("AFR", "O4"), "quadrant"] == "no budget"
    assert b.loc[("ASP", "O9"), "quadrant"] == "no budget"
    assert ("AFR", "R1") not in b.index


def test_burn_vs_delivery_lagging_and_no_data():
    st = _state()
    progress = _progress(
        [
            ("AFR", "K1", "O1", "output", "a", "number", "increase", 0, 0, 0.3, 0.6, "off_track"),
            ("AFR", "K2", "O2", "output", "b", "number", "increase", 0, 0, float("nan"), 0.6, "no_data"),
        ]
    )
    b = burn_vs_delivery(money_by_output(st, "2026-Q3"), progress).set_index("result_id")
    assert b.loc["O1", "quadrant"] == "delivery lagging"  # spending on pace, delivery 0.3 vs 0.6
    assert b.loc["O2", "quadrant"] == "no delivery data" and b.loc["O2", "n_kpis_with_data"] == 0
    assert b.loc["O3", "quadrant"] == "no delivery data"  # no KPI at all


def test_cost_per_result():
    progress = _progress(
        [
            ("AFR", "K1", "O1", "output", "People trained", "number", "increase", 10, 50, 0.5, 0.6, "on_track"),
            ("AFR", "K2", "O1", "output", "Share passing", "percent", "increase", 10, 50, 0.5, 0.6, "on_track"),
            ("AFR", "K3", "O1", "output", "Days lost", "number", "decrease", 10, 5, 0.5, 0.6, "on_track"),
            ("AFR", "K4", "O2", "output", "Guides", "number", "increase", 0, 0, 0.0, 0.6, "off_track"),
            ("AFR", "K5", "R1", "reach", "People reached", "number", "increase", 0, 200, 0.5, 0.6, "on_track"),
            ("AFR", "K6", "I1", "impact", "Use", "number", "increase", 0, 200, 0.5, 0.6, "on_track"),
        ]
    )
    c = cost_per_result(_state(), "2026-Q3", progress).set_index("kpi_id")
    assert sorted(c.index) == ["K1", "K4", "K5"]
    # O1 spent up to 2026-Q3: 300 + 200 + 400 + 180 = 1080
    assert c.loc["K1", "spent"] == 1080.0 and math.isclose(c.loc["K1", "cost_per_unit"], 1080 / 50)
    assert c.loc["K1", "delivered"] == 40 and math.isclose(c.loc["K1", "cost_per_delivered"], 27.0)
    assert pd.isna(c.loc["K4", "cost_per_unit"])  # nothing delivered yet
    # reach: the whole unit's spending, 1080 + 10 + 91 + 20 + 100 = 1301
    assert c.loc["K5", "basis"] == "reach" and c.loc["K5", "spent"] == 1301.0
    assert math.isclose(c.loc["K5", "cost_per_unit"], 1301 / 200)


def test_money_flows_layers_balance():
    f = money_flows(_state(), "2026-Q3")
    by_kind = f.groupby("source_kind")["amount"].sum()
    assert by_kind["source"] == by_kind["unit"] == by_kind["programme"] == 1600.0
    rb_afr = f[(f["source_id"] == "source:RB") & (f["target_id"] == "unit:AFR")]["amount"].item()
    assert rb_afr == 1400.0
    prog = f[(f["source_id"] == "programme:(no programme)")]
    assert prog["target_id"].tolist() == ["output:AFR/O3"] and prog["target"].tolist() == ["O3"]
    assert f[f["target_id"] == "programme:Cyber"]["amount"].sum() == 1300.0
    spent = money_flows(_state(), "2026-Q3", measure="spent_cumulative")
    assert spent[spent["source_kind"] == "source"]["amount"].sum() == 1080 + 10 + 91 + 20 + 100 + 50
    with pytest.raises(ValueError):
        money_flows(_state(), "2026-Q3", measure="anything")


def test_inputs_not_mutated_and_empty():
    st = _state()
    before = {k: v.copy() for k, v in st.items()}
    money_by_output(st, "2026-Q3")
    money_flows(st, "2026-Q3")
    for k in st:
        pd.testing.assert_frame_equal(st[k], before[k])
    assert money_by_output({}, "2026-Q3").empty
    assert money_flows({}, "2026-Q3").empty
    assert cost_per_result({}, "2026-Q3", _progress([])).empty
