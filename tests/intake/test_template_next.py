"""The next quarter's rows of a pre-filled template: one Actuals row per KPI due, one Expenditure
row per budget line, values empty, nothing added twice; the risks to review."""

from __future__ import annotations

import pandas as pd
from factories import minimal_unit

from rbm_utils.analytics.data_health import DUE_IN as HEALTH_DUE_IN
from rbm_utils.intake.template_next import DUE_IN, due_kpis, next_quarter_frames, risks_to_review


def _kpis() -> pd.DataFrame:
    return pd.DataFrame({"kpi_id": ["Q", "S", "A", "B"], "frequency": ["quarterly", "semi-annual", "annual", None]})


def test_due_rule_is_the_data_health_rule():
    assert DUE_IN == HEALTH_DUE_IN


def test_kpis_due_by_frequency():
    assert due_kpis(_kpis(), "2026-Q1") == ["Q", "B"]
    assert due_kpis(_kpis(), "2026-Q2") == ["Q", "S", "B"]
    assert due_kpis(_kpis(), "2026-Q4") == ["Q", "S", "A", "B"]
    assert due_kpis(None, "2026-Q4") == []


def test_one_actuals_row_per_kpi_due_with_its_breakdowns_and_the_value_empty():
    acts = pd.DataFrame(
        {
            "kpi_id": ["Q", "Q", "Q", "S"],
            "period": ["2026-Q2", "2026-Q3", "2026-Q3", "2026-Q2"],
            "value": [1.0, 2.0, 3.0, 4.0],
            "disaggregation": [None, "sex=female", "sex=male", None],
        }
    )
    out = next_quarter_frames({"KPIs": _kpis(), "Actuals": acts}, "2026-Q4")["Actuals"]
    new = out[out["period"] == "2026-Q4"]
    # Q was last reported by sex: one row per breakdown; S, A, B (semi-annual, annual, blank) once each
    assert list(zip(new["kpi_id"], new["disaggregation"].fillna(""))) == [
        ("Q", "sex=female"),
        ("Q", "sex=male"),
        ("S", ""),
        ("A", ""),
        ("B", ""),
    ]
    assert new["value"].isna().all()
    assert len(out) == len(acts) + 5  # the stored rows kept as they are, first
    assert list(out["value"].iloc[:4]) == [1.0, 2.0, 3.0, 4.0]


def test_rows_already_there_are_not_added_twice():
    acts = pd.DataFrame({"kpi_id": ["Q"], "period": ["2026-Q1"], "value": [5.0]})
    once = next_quarter_frames({"KPIs": _kpis(), "Actuals": acts}, "2026-Q1")
    twice = next_quarter_frames(once, "2026-Q1")
    assert list(once["Actuals"]["kpi_id"]) == ["Q", "B"]  # Q's row of 2026-Q1 is there already
    assert len(twice["Actuals"]) == len(once["Actuals"])


def test_one_expenditure_row_per_budget_line_of_the_year():
    budget = pd.DataFrame(
        {
            "result_id": ["O1", "O1", "O2", "O9"],
            "funding_source": ["Regular budget", "Donor X", "Regular budget", "Regular budget"],
            "year": [2026, 2026, 2026, 2025],
            "amount": [100.0, 50.0, 80.0, 10.0],
            "region": [None, None, "AFR", None],
        }
    )
    spent = pd.DataFrame(
        {"result_id": ["O1"], "period": ["2026-Q4"], "funding_source": ["Regular budget"], "amount": [9.0]}
    )
    out = next_quarter_frames({"Budget": budget, "Expenditure": spent}, "2026-Q4")["Expenditure"]
    new = out.iloc[1:]
    assert list(zip(new["result_id"], new["funding_source"], new["region"].fillna(""))) == [
        ("O1", "Donor X", ""),
        ("O2", "Regular budget", "AFR"),
    ]
    assert set(new["period"]) == {"2026-Q4"} and new["amount"].isna().all()
    # a year without a budget yet: the latest year's lines
    later = next_quarter_frames({"Budget": budget}, "2027-Q1")["Expenditure"]
    assert list(later["result_id"]) == ["O1", "O1", "O2"]


def test_the_minimal_unit_next_quarter_needs_values_only():
    _, frames = minimal_unit()
    out = next_quarter_frames(frames, "2026-Q4")
    assert list(out["Actuals"].loc[out["Actuals"]["period"] == "2026-Q4", "kpi_id"]) == [
        "AFR-K1",
        "AFR-K2",
        "AFR-K3",
        "AFR-K4",
    ]
    assert list(out["Expenditure"].loc[out["Expenditure"]["period"] == "2026-Q4", "result_id"]) == ["AFR-O1"]
    assert out["KPIs"].equals(frames["KPIs"])  # the framework is left as it is
    assert len(frames["Actuals"]) == 6  # the state is not mutated


def test_risks_to_review_by_the_quarters_end():
    risks = pd.DataFrame(
        {
            "risk_id": ["R1", "R2", "R3", "R4"],
            "status": ["open", "closed", "monitoring", "open"],
            "review_on": ["2026-12-31", "2026-10-01", "2027-01-01", None],
        }
    )
    assert risks_to_review(risks, "2026-Q4") == ["R1 (review due 2026-12-31)", "R4 (no review date)"]
    assert risks_to_review(None, "2026-Q4") == []
