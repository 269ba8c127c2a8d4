"""Delegated authority: framework changes against the last approved quarter, classified by hand-computed cases."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rbm_utils.core.config import Authority
from rbm_utils.store.authority import (
    CHANGE_COLUMNS,
    change_problems,
    classify_changes,
    describe_change,
    empty_changes,
    item_rows,
    pending_summary,
)

AUTH = Authority(bureau_role="Deputy Director", bureau_approvers=("Nadia Rahman",))


def kpis(*targets: tuple[str, float, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"kpi_id": k, "name": f"KPI {k}", "target_value": v, "target_period": p} for k, v, p in targets]
    )


def budget(*lines: tuple[str, str, int, float]) -> pd.DataFrame:
    return pd.DataFrame([{"result_id": r, "funding_source": f, "year": y, "amount": a} for r, f, y, a in lines])


def decisions(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"decision_id": d, "concerns": c, "kind": k} for d, c, k in rows])


def brief(changes: pd.DataFrame) -> list[tuple]:
    return [
        (r.change_kind, r.item_id, r.authority, r.decision_id, None if math.isnan(r.amount) else round(r.amount, 6))
        for r in changes.itertuples(index=False)
    ]


BASE = kpis(("K1", 100.0, "2027-Q4"), ("K2", 60.0, "2027-Q4"))


def test_no_change_is_an_empty_table_with_the_columns():
    out = classify_changes({"KPIs": BASE}, {"KPIs": BASE.copy()}, AUTH)
    assert out.empty and list(out.columns) == CHANGE_COLUMNS
    assert list(empty_changes().columns) == CHANGE_COLUMNS
    assert classify_changes({}, {}, AUTH).empty


def test_a_five_percent_target_change_is_the_units_and_twenty_percent_the_bureaus():
    new = kpis(("K1", 105.0, "2027-Q4"), ("K2", 48.0, "2027-Q4"))  # +5 % and -20 %
    out = classify_changes({"KPIs": BASE}, {"KPIs": new}, AUTH)
    assert brief(out) == [("target_value", "K1", "unit", "", 5.0), ("target_value", "K2", "bureau", "", -12.0)]
    assert out["share"].round(9).tolist() == [0.05, 0.2]
    assert out[["old", "new", "title"]].values.tolist() == [["100", "105", "KPI K1"], ["60", "48", "KPI K2"]]
    # exactly at the boundary (10 %) is still the unit's; just above is not
    edge = classify_changes({"KPIs": BASE}, {"KPIs": kpis(("K1", 110.0, "2027-Q4"), ("K2", 66.01, "2027-Q4"))}, AUTH)
    assert edge["authority"].tolist() == ["unit", "bureau"]
    # a wider delegation makes 20 % the unit's too
    wide = classify_changes({"KPIs": BASE}, {"KPIs": new}, Authority(target_change_share=0.25))
    assert wide["authority"].tolist() == ["unit", "unit"]


def test_a_target_of_zero_changed_needs_the_bureau():
    out = classify_changes({"KPIs": kpis(("K1", 0.0, "2027-Q4"))}, {"KPIs": kpis(("K1", 1.0, "2027-Q4"))}, AUTH)
    assert brief(out) == [("target_value", "K1", "bureau", "", 1.0)] and math.isnan(out.loc[0, "share"])


def test_a_moved_target_period_and_a_dropped_kpi_need_the_bureau():
    new = kpis(("K1", 100.0, "2028-Q2"))  # K2 dropped, K1's period moved
    out = classify_changes({"KPIs": BASE}, {"KPIs": new}, AUTH)
    assert brief(out) == [("target_period", "K1", "bureau", "", None), ("kpi_dropped", "K2", "bureau", "", None)]
    assert out[["old", "new"]].values.tolist() == [["2027-Q4", "2028-Q2"], ["K2", ""]]
    # when the settings delegate results and KPIs to the unit, they are the unit's
    out = classify_changes({"KPIs": BASE}, {"KPIs": new}, Authority(add_drop_results=True))
    assert out["authority"].tolist() == ["unit", "unit"]


def test_results_added_and_dropped():
    old = {"Results": pd.DataFrame({"result_id": ["O1", "O2"], "title": ["One", "Two"]})}
    new = {"Results": pd.DataFrame({"result_id": ["O1", "O3"], "title": ["One", "Three"]})}
    out = classify_changes(old, new, AUTH)
    assert brief(out) == [("result_added", "O3", "bureau", "", None), ("result_dropped", "O2", "bureau", "", None)]
    assert out["title"].tolist() == ["Three", "Two"]


def test_budget_moved_30000_of_400000_is_the_units_and_80000_the_bureaus():
    old = budget(("O1", "RB", 2026, 150_000.0), ("O1", "Fund", 2026, 50_000.0), ("O2", "RB", 2026, 200_000.0))
    # 30,000 from O2 to O1 (split over two funding sources on O1): 7.5 % of 400,000
    small = budget(("O1", "RB", 2026, 170_000.0), ("O1", "Fund", 2026, 60_000.0), ("O2", "RB", 2026, 170_000.0))
    out = classify_changes({"Budget": old}, {"Budget": small}, AUTH)
    assert brief(out) == [("budget_moved", "2026", "unit", "", 30_000.0)]
    assert out.loc[0, "share"] == pytest.approx(0.075)
    assert out.loc[0, "title"] == "Budget 2026: O1 +30,000, O2 -30,000"
    assert out[["old", "new"]].values.tolist() == [["400,000", "400,000"]]
    # 80,000: 20 % and above 50,000
    big = budget(("O1", "RB", 2026, 230_000.0), ("O1", "Fund", 2026, 50_000.0), ("O2", "RB", 2026, 120_000.0))
    assert brief(classify_changes({"Budget": old}, {"Budget": big}, AUTH)) == [
        ("budget_moved", "2026", "bureau", "", 80_000.0)
    ]
    # within the share (8 % of 1,000,000) but above the amount: the bureau
    old_m = budget(("O1", "RB", 2026, 500_000.0), ("O2", "RB", 2026, 500_000.0))
    new_m = budget(("O1", "RB", 2026, 580_000.0), ("O2", "RB", 2026, 420_000.0))
    assert classify_changes({"Budget": old_m}, {"Budget": new_m}, AUTH)["authority"].tolist() == ["bureau"]


def test_budget_years_are_judged_apart_and_a_new_years_plan_is_no_move():
    old = budget(("O1", "RB", 2025, 100.0), ("O2", "RB", 2025, 100.0))
    new = budget(
        ("O1", "RB", 2025, 100.0), ("O2", "RB", 2025, 100.0), ("O1", "RB", 2026, 500.0), ("O2", "RB", 2026, 1.0)
    )
    assert classify_changes({"Budget": old}, {"Budget": new}, AUTH).empty
    cut = budget(("O1", "RB", 2025, 100.0), ("O2", "RB", 2025, 50.0))  # a cut is no move
    assert classify_changes({"Budget": old}, {"Budget": cut}, AUTH).empty


def test_an_added_activity_is_the_units():
    old = {"Activities": pd.DataFrame({"activity_id": ["A1"], "title": ["Workshop"]})}
    new = {"Activities": pd.DataFrame({"activity_id": ["A1", "A2"], "title": ["Workshop", "Webinar"]})}
    out = classify_changes(old, new, AUTH)
    assert brief(out) == [("activity_added", "A2", "unit", "", None)]
    assert classify_changes(new, old, AUTH)["change_kind"].tolist() == ["activity_dropped"]
    assert classify_changes(old, new, Authority(add_drop_activities=False))["authority"].tolist() == ["bureau"]


def test_a_decision_covers_a_change_only_with_a_fitting_kind():
    old = {
        "KPIs": BASE,
        "Budget": budget(("O1", "RB", 2026, 200.0), ("O2", "RB", 2026, 200.0)),
        "Activities": pd.DataFrame({"activity_id": ["A1"], "title": ["Workshop"]}),
    }
    new = {
        "KPIs": kpis(("K1", 150.0, "2027-Q4")),  # K1 +50 %, K2 dropped
        "Budget": budget(("O1", "RB", 2026, 150.0), ("O2", "RB", 2026, 250.0)),
        "Activities": pd.DataFrame({"activity_id": ["A1", "A2"], "title": ["Workshop", "Webinar"]}),
        "Decisions": decisions(
            ("D2", "K1", "adjust_target"),
            ("D1", "K1", "adjust_target"),  # the first by id covers
            ("D3", "K2", "escalate"),  # any kind covers a dropped KPI
            ("D4", "O1", "reallocate_budget"),  # a budget line of an output that moved
            ("D5", "A2", "adjust_target"),  # wrong kind for an activity
        ),
    }
    out = classify_changes(old, new, AUTH)
    assert brief(out) == [
        ("target_value", "K1", "bureau", "D1", 50.0),
        ("kpi_dropped", "K2", "bureau", "D3", None),
        ("budget_moved", "2026", "bureau", "D4", 50.0),
        ("activity_added", "A2", "unit", "", None),
    ]
    assert old["KPIs"]["target_value"].tolist() == [100.0, 60.0]  # inputs untouched


def test_warnings_name_the_sheet_row_item_and_who_approves():
    new_kpis = kpis(("K1", 105.0, "2027-Q4"), ("K2", 72.0, "2027-Q4"))
    out = classify_changes(
        {"KPIs": BASE}, {"KPIs": new_kpis, "Decisions": decisions(("D1", "K2", "adjust_target"))}, AUTH
    )
    rows = item_rows({"KPIs": new_kpis}, {"KPIs": [2, 3]})
    probs = change_problems(out, "AFR.xlsx", AUTH, rows)
    assert [(p.code, p.severity, p.sheet, p.row, p.header, p.value) for p in probs] == [
        ("change_without_decision", "warning", "KPIs", 2, "target_value", "K1"),
        ("change_needs_bureau", "warning", "KPIs", 3, "target_value", "K2"),
    ]
    assert probs[0].message == (
        "Target of K1 100 -> 105 (+5%), against the last approved quarter, has no decision recorded for it: "
        "add a row to sheet Decisions of kind adjust_target concerning K1."
    )
    assert probs[1].message == (
        "Target of K2 60 -> 72 (+20%) is beyond the unit approver's authority (the unit may change a target by "
        "up to 10% alone); once approved, the quarter stays pending until the Deputy Director (Nadia Rahman) "
        "approves it."
    )


def test_pending_summary_lists_only_bureau_changes_in_words():
    out = classify_changes(
        {"KPIs": BASE, "Budget": budget(("O1", "RB", 2026, 200_000.0), ("O2", "RB", 2026, 200_000.0))},
        {
            "KPIs": kpis(("K1", 105.0, "2027-Q4")),
            "Budget": budget(("O1", "RB", 2026, 280_000.0), ("O2", "RB", 2026, 120_000.0)),
        },
        AUTH,
    )
    assert pending_summary(out, "CHF") == "KPI K2 dropped; budget 2026: CHF 80,000 moved between outputs (20%)"
    assert pending_summary(empty_changes()) == ""
    assert (
        describe_change(
            {"change_kind": "target_value", "item_id": "K", "old": "10", "new": "8", "amount": -2.0, "share": 0.2}
        )
        == "target of K 10 -> 8 (-20%)"
    )
