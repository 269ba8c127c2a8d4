"""The roll-up by programme of the Action Plan (rbm_utils/analytics/programmes.py), on hand-computed frames."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rbm_utils.analytics import finance
from rbm_utils.analytics.programmes import NO_PROGRAMME, ROLLUP_COLUMNS, programme_rollup, result_programmes
from rbm_utils.core import schema

PROGRAMMES = {
    "connectivity": "Affordable connectivity",
    "cooperation": "International cooperation",
    "secure": "Secure ICTs",
}
THEMES = {"broadband": "connectivity", "cybersecurity": "secure"}


def _state() -> dict[str, pd.DataFrame]:
    results = pd.DataFrame(
        [
            # unit, result, level, title, programme, theme
            ("AFR", "O1", "output", "Broadband plans", "", "broadband"),  # blank: its theme's -> connectivity
            ("AFR", "O2", "output", "CIRTs", "secure", "cybersecurity"),
            ("AFR", "I1", "impact", "Internet use", "connectivity", ""),
            ("CYB", "O1", "output", "Drills", "", "cybersecurity"),  # -> secure
            ("CYB", "O2", "output", "Guides", "connectivity", "cybersecurity"),  # its own programme wins
            ("EUR", "O1", "output", "Old plan", "Legacy work", ""),  # free text (older settings)
            ("EUR", "O2", "output", "Nothing", "", "gender"),  # theme not listed: no programme
        ],
        columns=["unit_code", "result_id", "level", "title", "programme", "theme"],
    )
    budget = pd.DataFrame(
        [
            ("AFR", "O1", "RB", 2026, 1000.0, 10.0),
            ("AFR", "O1", "XB", 2026, 500.0, 2.0),
            ("AFR", "O2", "RB", 2026, 400.0, 4.0),
            ("AFR", "O2", "RB", 2025, 9999.0, 99.0),  # another year: not in the year's budget
            ("CYB", "O1", "RB", 2026, 600.0, 6.0),
            ("CYB", "O2", "RB", 2026, 200.0, 1.0),
            ("EUR", "O2", "RB", 2026, 50.0, 0.0),
        ],
        columns=["unit_code", "result_id", "funding_source", "year", "amount", "staff_months"],
    )
    spend = pd.DataFrame(
        [
            ("AFR", "O1", "RB", "2026-Q1", 300.0, 3.0),
            ("AFR", "O1", "XB", "2026-Q2", 150.0, 1.0),
            ("AFR", "O2", "RB", "2026-Q3", 100.0, 1.0),
            ("CYB", "O1", "RB", "2026-Q2", 600.0, 5.0),
            ("CYB", "O1", "RB", "2025-Q4", 77.0, 7.0),  # last year: not spent this year
        ],
        columns=["unit_code", "result_id", "funding_source", "period", "amount", "staff_months"],
    )
    return {
        "Results": schema.conform("Results", results, with_unit=True),
        "Budget": schema.conform("Budget", budget, with_unit=True),
        "Expenditure": schema.conform("Expenditure", spend, with_unit=True),
    }


def _progress() -> pd.DataFrame:
    rows = [
        # unit, kpi, result, programme, theme, status (the result's programme and theme, as kpi_progress gives them)
        ("AFR", "K1", "O1", "", "broadband", "on_track"),
        ("AFR", "K2", "O1", "", "broadband", "off_track"),
        ("AFR", "K3", "I1", "connectivity", "", "no_data"),
        ("AFR", "K4", "O2", "secure", "cybersecurity", "at_risk"),
        ("CYB", "K1", "O1", "", "cybersecurity", "off_track"),
        ("CYB", "K2", "O2", "connectivity", "cybersecurity", "target_met"),
        ("EUR", "K1", "O2", "", "gender", "on_track"),
    ]
    return pd.DataFrame(rows, columns=["unit_code", "kpi_id", "result_id", "programme", "theme", "status"])


@pytest.fixture
def rollup() -> pd.DataFrame:
    state = _state()
    money = finance.money_by_output(state, "2026-Q3")
    return programme_rollup(state["Results"], _progress(), money, PROGRAMMES, THEMES).set_index("programme")


def test_each_result_counts_under_its_programme_or_its_themes():
    got = result_programmes(_state()["Results"], THEMES)
    assert got["programme"].tolist() == [
        "connectivity",
        "secure",
        "connectivity",
        "secure",
        "connectivity",
        "Legacy work",
        "",
    ]


def test_rows_are_the_listed_programmes_in_order_then_free_text_then_none(rollup):
    assert rollup.index.tolist() == ["connectivity", "cooperation", "secure", "Legacy work", ""]
    assert rollup["programme_name"].tolist() == [
        "Affordable connectivity",
        "International cooperation",
        "Secure ICTs",
        "Legacy work",
        NO_PROGRAMME,
    ]
    assert rollup["listed"].tolist() == [True, True, True, False, False]
    assert list(rollup.reset_index().columns) == ROLLUP_COLUMNS


def test_kpis_results_and_units_per_programme(rollup):
    c = rollup.loc["connectivity"]
    # results AFR-O1 (by theme), AFR-I1, CYB-O2 (its own); KPIs AFR K1 K2 K3, CYB K2
    assert (c["n_results"], c["n_units"], c["units"]) == (3, 2, "AFR, CYB")
    assert (c["n_kpis"], c["n_on_track"], c["n_off_track"], c["n_no_data"], c["n_target_met"]) == (4, 1, 1, 1, 1)
    assert c["share_off_track"] == pytest.approx(0.25)
    s = rollup.loc["secure"]
    assert (s["n_results"], s["units"], s["n_kpis"], s["n_at_risk"], s["n_off_track"]) == (2, "AFR, CYB", 2, 1, 1)
    assert s["share_off_track"] == pytest.approx(0.5)
    idle = rollup.loc["cooperation"]  # a priority with no work shows with zeros
    assert (idle["n_units"], idle["units"], idle["n_results"], idle["n_kpis"], idle["budget_year"]) == (
        0,
        "",
        0,
        0,
        0.0,
    )
    assert math.isnan(idle["share_off_track"]) and math.isnan(idle["execution_rate"])
    none = rollup.loc[""]
    assert (none["units"], none["n_results"], none["n_kpis"], none["n_on_track"]) == ("EUR", 1, 1, 1)


def test_money_and_people_of_the_year_per_programme(rollup):
    c = rollup.loc["connectivity"]
    # AFR-O1 (RB 1000 + XB 500) and CYB-O2 (200); spent this year AFR-O1 300 + 150
    assert (c["budget_year"], c["spent_year"]) == (1700.0, 450.0)
    assert c["execution_rate"] == pytest.approx(450 / 1700)
    assert (c["staff_months_planned_year"], c["staff_months_used_year"]) == (13.0, 4.0)
    s = rollup.loc["secure"]
    # AFR-O2 400 (the 2025 line is another year) and CYB-O1 600; spent 100 + 600 (2025-Q4 is last year)
    assert (s["budget_year"], s["spent_year"], s["staff_months_planned_year"], s["staff_months_used_year"]) == (
        1000.0,
        700.0,
        10.0,
        6.0,
    )
    assert rollup.loc["", "budget_year"] == 50.0 and rollup.loc["Legacy work", "budget_year"] == 0.0


def test_without_code_lists_the_written_programmes_are_rolled_up_as_they_are():
    state = _state()
    r = programme_rollup(state["Results"], _progress(), finance.money_by_output(state, "2026-Q3"))
    assert r["programme"].tolist() == ["Legacy work", "connectivity", "secure", ""]
    assert r["programme_name"].tolist() == ["Legacy work", "connectivity", "secure", NO_PROGRAMME]
    assert not r["listed"].any()
    # with no theme to derive from, AFR-O1's and CYB-O1's blank programme stays blank
    assert r.set_index("programme").loc["", "n_results"] == 3


def test_nothing_in_gives_the_listed_programmes_with_zeros():
    r = programme_rollup(None, None, None, PROGRAMMES, THEMES)
    assert r["programme"].tolist() == list(PROGRAMMES) and (r["n_kpis"] == 0).all()
    assert programme_rollup(pd.DataFrame(), pd.DataFrame(), pd.DataFrame()).empty
