"""A cluster's money and people by region: hand-computed cases and the invariant that what goes
to regions never exceeds the total."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbm_utils.analytics import finance
from rbm_utils.analytics.regional_money import (
    REGIONAL_COLUMNS,
    REGIONAL_MEASURES,
    activity_shares,
    pair_money,
    pair_summary,
    regional_money,
)
from rbm_utils.core.schema import REGIONS, conform

Q = "2026-Q3"


def _sheet(name, rows, unit="CYB"):
    return conform(name, pd.DataFrame([{"unit_code": unit, **r} for r in rows]), with_unit=True)


def _state():
    """CYB-O1: regular budget 1,200 (no region) and a fund line of 400 for AFR in 2026, 999 in
    2027; spent 2026-Q1 300 (no region), 2026-Q2 100 (AFR), 2025-Q4 200 (no region), 2026-Q4 50
    (later, ignored). Activities of O1: AFR, AFR, EUR, none. CYB-O2: 80 spent, no activities."""
    budget = _sheet(
        "Budget",
        [
            dict(result_id="O1", funding_source="RB", year=2026, amount=1200.0, staff_months=12.0),
            dict(result_id="O1", funding_source="Fund", year=2026, amount=400.0, staff_months=4.0, region="AFR"),
            dict(result_id="O1", funding_source="RB", year=2027, amount=999.0),
        ],
    )
    spent = _sheet(
        "Expenditure",
        [
            dict(result_id="O1", period="2026-Q1", funding_source="RB", amount=300.0, staff_months=2.0),
            dict(result_id="O1", period="2026-Q2", funding_source="Fund", amount=100.0, staff_months=1.0, region="AFR"),
            dict(result_id="O1", period="2025-Q4", funding_source="RB", amount=200.0, staff_months=1.0),
            dict(result_id="O1", period="2026-Q4", funding_source="RB", amount=50.0),
            dict(result_id="O2", period="2026-Q2", funding_source="RB", amount=80.0),
        ],
    )
    acts = _sheet(
        "Activities",
        [
            dict(activity_id="A1", result_id="O1", region="AFR"),
            dict(activity_id="A2", result_id="O1", region="AFR"),
            dict(activity_id="A3", result_id="O1", region="EUR"),
            dict(activity_id="A4", result_id="O1", region=None),
        ],
    )
    results = _sheet("Results", [dict(result_id="O1", title="CIRTs"), dict(result_id="O2", title="Drills")])
    return {"Budget": budget, "Expenditure": spent, "Activities": acts, "Results": results}


def test_hand_computed_attribution():
    m = regional_money(_state(), Q)
    assert list(m.columns) == list(REGIONAL_COLUMNS)
    rows = m.set_index(["result_id", "region", "basis"])
    # the AFR line counts whole
    afr_lines = rows.loc[("O1", "AFR", "lines")]
    assert (afr_lines.budget_year, afr_lines.spent_year, afr_lines.staff_months_planned_year) == (400.0, 100.0, 4.0)
    # the unregioned 1,200 is shared by 4 activities: AFR 2/4, EUR 1/4, global 1/4 unattributed
    afr = rows.loc[("O1", "AFR", "activities")]
    assert (afr.share, afr.n_activities, afr.budget_year) == (0.5, 2, 600.0)
    assert afr.spent_year == pytest.approx(150.0)  # 300 of 2026 x 1/2
    assert afr.spent_cumulative == pytest.approx(250.0)  # (300 + 200) x 1/2; 2026-Q4 ignored
    assert afr.staff_months_used_year == pytest.approx(1.0)  # 2 x 1/2
    eur = rows.loc[("O1", "EUR", "activities")]
    assert (eur.share, eur.budget_year) == (0.25, 300.0)
    glob = rows.loc[("O1", "", "unattributed")]
    assert (glob.share, glob.n_activities, glob.budget_year) == (0.25, 1, 300.0)
    # an output without activities keeps all its money unattributed
    o2 = rows.loc[("O2", "", "unattributed")]
    assert o2.spent_year == 80.0 and pd.isna(o2.share) and o2.title == "Drills"
    assert m["basis"].tolist() == ["lines", "activities", "activities", "unattributed", "unattributed"]


def test_rows_add_up_to_the_money_of_finance():
    state = _state()
    m = regional_money(state, Q)
    money = finance.money_by_output(state, Q)
    for measure in ("budget_year", "spent_year", "spent_cumulative", "staff_months_used_year"):
        assert m[measure].sum() == pytest.approx(money[measure].sum()), measure


def test_pair_summary_puts_the_region_beside_the_cluster_total():
    m = regional_money(_state(), Q)
    s = pair_summary(m, "CYB", "AFR").set_index(["scope", "basis"])
    assert s.loc[("in AFR", "lines"), "spent_year"] == 100.0
    assert s.loc[("in AFR", "activities"), "spent_year"] == pytest.approx(150.0)
    assert s.loc[("in AFR", "all"), "spent_year"] == pytest.approx(250.0)
    # cluster total: 300 + 100 + 80 spent in 2026 to date
    assert s.loc[("cluster total", "all"), "spent_year"] == pytest.approx(480.0)
    assert s.loc[("in AFR", "all"), "share_of_spending"] == pytest.approx(250 / 480)
    assert len(pair_money(m, "CYB", "AFR")) == 2 and pair_money(m, "CYB", "ASP").empty
    # a region with nothing attributed: zeros beside the total
    none = pair_summary(m, "CYB", "ASP").set_index(["scope", "basis"])
    assert none.loc[("in ASP", "all"), "budget_year"] == 0.0 and len(none) == 2


def test_only_the_units_asked_for_and_nothing_at_all():
    state = _state()
    state["Budget"] = pd.concat(
        [
            state["Budget"],
            _sheet("Budget", [dict(result_id="X", funding_source="RB", year=2026, amount=5.0)], unit="AFR"),
        ]
    )
    assert set(regional_money(state, Q, ["CYB"])["unit_code"]) == {"CYB"}
    assert set(regional_money(state, Q)["unit_code"]) == {"CYB", "AFR"}
    assert regional_money({}, Q).empty
    assert activity_shares(_state()["Activities"])["share"].sum() == pytest.approx(1.0)


def test_a_blank_region_stored_as_empty_text_is_no_region():
    """The store keys a blank region as ''; it counts as a line without a region."""
    state = _state()
    state["Budget"] = state["Budget"].assign(region=state["Budget"]["region"].fillna(""))
    rows = regional_money(state, Q).set_index(["result_id", "region", "basis"])
    assert rows.loc[("O1", "EUR", "activities"), "budget_year"] == 300.0


_regions = st.sampled_from([*REGIONS, None])
_line = st.tuples(st.sampled_from(["O1", "O2", "O3"]), _regions, st.floats(0, 1e6), st.floats(0, 100))


@settings(max_examples=60, deadline=None)
@given(
    budget=st.lists(_line, max_size=8),
    spent=st.lists(_line, max_size=8),
    acts=st.lists(st.tuples(st.sampled_from(["O1", "O2", "O3"]), _regions), max_size=8),
)
def test_regional_sums_never_exceed_the_total(budget, spent, acts):
    """Per cluster, output and figure: the sum over regions <= the total, and every row adds up to it."""
    state = {
        "Budget": _sheet(
            "Budget",
            [
                dict(result_id=o, funding_source=f"S{i}", year=2026, amount=a, staff_months=s, region=r)
                for i, (o, r, a, s) in enumerate(budget)
            ],
        )
        if budget
        else conform("Budget", pd.DataFrame(), with_unit=True),
        "Expenditure": _sheet(
            "Expenditure",
            [
                dict(result_id=o, period="2026-Q2", funding_source=f"S{i}", amount=a, staff_months=s, region=r)
                for i, (o, r, a, s) in enumerate(spent)
            ],
        )
        if spent
        else conform("Expenditure", pd.DataFrame(), with_unit=True),
        "Activities": _sheet(
            "Activities", [dict(activity_id=f"A{i}", result_id=o, region=r) for i, (o, r) in enumerate(acts)]
        )
        if acts
        else conform("Activities", pd.DataFrame(), with_unit=True),
    }
    m = regional_money(state, Q)
    money = finance.money_by_output(state, Q)
    totals = money.groupby("result_id")[["budget_year", "spent_year", "staff_months_planned_year"]].sum()
    regional = m[m["region"] != ""].groupby("result_id")[list(REGIONAL_MEASURES)].sum()
    everything = m.groupby("result_id")[list(REGIONAL_MEASURES)].sum()
    for rid, row in totals.iterrows():
        for measure in totals.columns:
            tol = 1e-9 * max(1.0, row[measure])
            got = regional[measure].get(rid, 0.0)
            assert got <= row[measure] + tol, (rid, measure)
            assert everything[measure].get(rid, 0.0) == pytest.approx(row[measure], rel=1e-9, abs=1e-6)
    assert (m[list(REGIONAL_MEASURES)] >= 0).all().all()
