"""Quarterly review: quarter_changes, review_agenda, results_statement, escape_text.

Inputs are the analytics output frames, built by hand with only the columns the review
reads (hand-computed expectations), plus a few end-to-end checks on tests/factories.py
``minimal_unit()`` through the real analytics.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from factories import minimal_unit

from rbm_utils.analytics import finance, kpi, pathway, risks
from rbm_utils.analytics.agenda import AGENDA_COLUMNS, HEAD_OF_UNIT, review_agenda
from rbm_utils.analytics.changes import CHANGE_COLUMNS, quarter_changes
from rbm_utils.analytics.statement import results_statement
from rbm_utils.core import schema
from rbm_utils.core.text import escape_text, fmt_number, markdown_text

Q = "2026-Q3"


def unit_state(unit_code: str = "AFR", **overrides) -> dict[str, pd.DataFrame]:
    """minimal_unit() as a state (unit_code column, conformed); ``overrides`` replace sheets."""
    _, frames = minimal_unit(unit_code)
    frames = {**frames, **overrides}
    return {name: schema.conform(name, df.assign(unit_code=unit_code), with_unit=True) for name, df in frames.items()}


def progress_frame(rows: list[dict]) -> pd.DataFrame:
    base = dict(
        unit_code="AFR",
        level="output",
        measure="number",
        direction="increase",
        aggregation="sum",
        baseline_value=0.0,
        baseline_period="2026-Q1",
        target_value=100.0,
        target_period="2027-Q1",
        last_period=Q,
        quarters_since_report=0,
        n_reports=2,
    )
    return pd.DataFrame([{**base, **r} for r in rows])


def rows_by(df: pd.DataFrame, col: str = "item_id") -> dict[str, dict]:
    return {r[col]: r for r in df.to_dict("records")}


# --------------------------------------------------------------------------- escape_text


def test_escape_text_escapes_html_and_blanks():
    assert escape_text("<script>alert('x')</script>") == "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    assert escape_text('a "b" & c') == "a &quot;b&quot; &amp; c"
    assert escape_text(None) == ""
    assert escape_text(float("nan")) == ""
    assert escape_text(pd.NA) == ""
    assert escape_text(12) == "12"


def test_fmt_number():
    assert fmt_number(1234567) == "1,234,567"
    assert fmt_number(72.456, "percent") == "72.46%"
    assert fmt_number(0.5, "ratio") == "0.5"
    assert fmt_number(50000, "currency", "USD") == "USD 50,000"
    assert fmt_number(float("nan")) == ""


# --------------------------------------------------------------------------- quarter_changes


def test_quarter_changes_kpi_status_directions():
    prev = {
        "progress": pd.DataFrame(
            {
                "unit_code": ["AFR"] * 5,
                "kpi_id": ["K1", "K2", "K3", "K5", "K6"],
                "name": ["One", "Two", "Three", "Five", "Six"],
                "status": ["on_track", "off_track", "at_risk", "not_started", "no_data"],
            }
        )
    }
    cur = {
        "progress": pd.DataFrame(
            {
                "unit_code": ["AFR"] * 6,
                "kpi_id": ["K1", "K2", "K3", "K4", "K5", "K6"],
                "name": ["One", "Two", "Three", "Four", "Five", "Six"],
                "status": ["off_track", "at_risk", "at_risk", "on_track", "on_track", "off_track"],
            }
        )
    }
    out = quarter_changes(cur, prev)
    assert list(out.columns) == CHANGE_COLUMNS
    assert set(out["kind"]) == {"kpi_status"}
    got = {r["item_id"]: (r["previous"], r["current"], r["direction"]) for r in out.to_dict("records")}
    assert got == {
        "K1": ("on_track", "off_track", "worse"),
        "K2": ("off_track", "at_risk", "better"),
        "K3": ("at_risk", "at_risk", "same"),
        "K4": ("", "on_track", "new"),
        "K5": ("not_started", "on_track", "same"),  # not_started ranks as on_track
        "K6": ("no_data", "off_track", "worse"),  # kpi.STATUS_ORDER: off_track is the worst
    }
    assert rows_by(out)["K2"]["title"] == "Two"


def test_quarter_changes_uses_latest_assumption_verdict():
    def tests(rows):
        return pd.DataFrame(rows, columns=["unit_code", "assumption_id", "period", "verdict", "statement"])

    prev = {
        "assumptions": tests(
            [
                ("AFR", "A1", "2026-Q1", "broken", "Each workshop trains 30"),
                ("AFR", "A1", "2026-Q2", "holds", "Each workshop trains 30"),
                ("AFR", "A2", "2026-Q2", "untested", "Funding continues"),
            ]
        )
    }
    cur = {
        "assumptions": tests(
            [
                ("AFR", "A1", "2026-Q1", "broken", "Each workshop trains 30"),
                ("AFR", "A1", "2026-Q3", "weakening", "Each workshop trains 30"),
                ("AFR", "A1", "2026-Q2", "holds", "Each workshop trains 30"),
                ("AFR", "A2", "2026-Q3", "holds", "Funding continues"),
            ]
        )
    }
    got = rows_by(quarter_changes(cur, prev))
    assert (got["A1"]["previous"], got["A1"]["current"], got["A1"]["direction"]) == ("holds", "weakening", "worse")
    assert (got["A2"]["previous"], got["A2"]["current"], got["A2"]["direction"]) == ("untested", "holds", "better")
    assert got["A1"]["kind"] == "assumption_verdict"
    assert got["A1"]["title"] == "Each workshop trains 30"


def test_quarter_changes_risk_scores_and_closing():
    def reg(rows):
        return pd.DataFrame(rows, columns=["unit_code", "risk_id", "title", "score", "rating", "status"])

    prev = {
        "risks": reg(
            [
                ("AFR", "R1", "Funding", 12, "medium", "open"),
                ("AFR", "R2", "Staff", 16, "high", "open"),
                ("AFR", "R3", "Elections", 9, "low", "monitoring"),
                ("AFR", "R5", "Old", 4, "low", "closed"),
                ("AFR", "R6", "Back", 6, "low", "closed"),
            ]
        )
    }
    cur = {
        "risks": reg(
            [
                ("AFR", "R1", "Funding", 16, "high", "open"),
                ("AFR", "R2", "Staff", 10, "medium", "open"),
                ("AFR", "R3", "Elections", 9, "low", "closed"),
                ("AFR", "R4", "New one", 20, "critical", "open"),
                ("AFR", "R5", "Old", 4, "low", "closed"),
                ("AFR", "R6", "Back", 8, "low", "open"),
                ("AFR", "R7", "Born closed", 3, "low", "closed"),
            ]
        )
    }
    out = quarter_changes(cur, prev)
    got = {r["item_id"]: (r["previous"], r["current"], r["direction"]) for r in out.to_dict("records")}
    assert got == {
        "R1": ("12 (medium)", "16 (high)", "worse"),
        "R2": ("16 (high)", "10 (medium)", "better"),
        "R3": ("9 (low)", "closed", "better"),
        "R4": ("", "20 (critical)", "new"),
        "R6": ("closed", "8 (low)", "new"),  # reopened: new, as risks.risk_register's trend
    }


def test_quarter_changes_spending():
    def money(rows):
        return pd.DataFrame(
            rows,
            columns=[
                "unit_code",
                "result_id",
                "title",
                "funding_source",
                "execution_rate",
                "time_elapsed",
                "execution_gap",
                "flag",
            ],
        )

    prev = {
        "money": money(
            [
                ("AFR", "O1", "Trainings", "RB", 0.5, 0.5, 0.0, "on pace"),
                ("AFR", "O2", "Plans", "RB", 0.2, 0.5, -0.3, "underspending"),
                ("AFR", "O2", "Plans", "Donor", 0.6, 0.5, 0.1, "on pace"),
            ]
        )
    }
    cur = {
        "money": money(
            [
                ("AFR", "O1", "Trainings", "RB", 0.5, 0.75, -0.25, "underspending"),
                ("AFR", "O2", "Plans", "RB", 0.55, 0.75, -0.2, "underspending"),
                ("AFR", "O2", "Plans", "Donor", 0.8, 0.75, 0.05, "on pace"),
                ("AFR", "O3", "Reach", "RB", 0.9, 0.75, 0.15, "on pace"),
            ]
        )
    }
    out = quarter_changes(cur, prev)
    assert set(out["kind"]) == {"spending"}
    got = {r["title"]: (r["item_id"], r["direction"]) for r in out.to_dict("records")}
    assert got == {
        "Trainings — RB": ("O1", "worse"),
        "Plans — RB": ("O2", "better"),  # |gap| 0.30 -> 0.20
        "Plans — Donor": ("O2", "same"),
        "Reach — RB": ("O3", "new"),
    }
    o1 = out.loc[out["item_id"] == "O1"].iloc[0]
    assert o1["previous"] == "on pace (50% of the year's budget spent, 50% of the year elapsed)"
    assert o1["current"] == "underspending (50% of the year's budget spent, 75% of the year elapsed)"


def test_quarter_changes_kinds_in_order_and_empty():
    cur = {
        "money": pd.DataFrame({"unit_code": ["AFR"], "result_id": ["O1"], "flag": ["on pace"]}),
        "progress": pd.DataFrame(
            {
                "unit_code": ["CYB", "AFR"],
                "kpi_id": ["K9", "K1"],
                "name": ["x", "y"],
                "status": ["on_track", "on_track"],
            }
        ),
    }
    out = quarter_changes(cur, {})
    assert out["kind"].tolist() == ["kpi_status", "kpi_status", "spending"]
    assert out["unit_code"].tolist() == ["AFR", "CYB", "AFR"]
    assert (out["direction"] == "new").all()
    empty = quarter_changes({}, {"progress": cur["progress"]})
    assert empty.empty and list(empty.columns) == CHANGE_COLUMNS


def test_quarter_changes_does_not_mutate_inputs():
    prog = pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"], "name": ["x"], "status": ["on_track"]})
    before = prog.copy()
    quarter_changes({"progress": prog}, {"progress": prog})
    pd.testing.assert_frame_equal(prog, before)


def test_quarter_changes_on_real_outputs_of_two_quarters():
    state = unit_state()
    cur = {
        "progress": kpi.kpi_progress(state, Q),
        "money": finance.money_by_output(state, Q),
        "risks": risks.risk_register(state, Q),
    }
    prev = {
        "progress": kpi.kpi_progress(state, "2026-Q2"),
        "money": finance.money_by_output(state, "2026-Q2"),
        "risks": risks.risk_register(state, "2026-Q2"),
    }
    got = {
        (r["kind"], r["item_id"]): (r["previous"], r["current"], r["direction"])
        for r in quarter_changes(cur, prev).to_dict("records")
    }
    # K1: 170 of 400 at Q2 (expected 150 milestone -> on track), 270 at Q3 (performance 0.9 -> on track)
    assert got[("kpi_status", "AFR-K1")] == ("on_track", "on_track", "same")
    # K2: nothing reported in Q1-Q2 -> no data; 3 of 8 at Q3 -> off track
    assert got[("kpi_status", "AFR-K2")] == ("no_data", "off_track", "worse")
    assert got[("risk_score", "AFR-RK1")] == ("16 (high)", "16 (high)", "same")
    # 50,000 of 100,000: 50% spent at Q2 (50% elapsed, on pace), still 50% at Q3 (75% elapsed)
    assert got[("spending", "AFR-O1")][2] == "worse"
    assert got[("spending", "AFR-O1")][1].startswith("underspending")


# --------------------------------------------------------------------------- review_agenda


def agenda_inputs():
    progress = progress_frame(
        [
            dict(
                kpi_id="K1",
                result_id="O1",
                name="People trained",
                current_value=25.0,
                achievement=0.25,
                expected=0.5,
                performance=0.5,
                status="off_track",
            ),
            dict(
                kpi_id="K2",
                result_id="O2",
                name="Plans adopted",
                current_value=30.0,
                achievement=0.3,
                expected=0.5,
                performance=0.6,
                status="off_track",
            ),
            dict(
                kpi_id="K3",
                result_id="R1",
                name="Countries reached",
                current_value=10.0,
                achievement=0.1,
                expected=0.5,
                performance=0.2,
                status="no_data",
                last_period="2026-Q1",
                quarters_since_report=2,
            ),
            dict(
                kpi_id="K4",
                result_id="R1",
                name="Fine KPI",
                current_value=60.0,
                achievement=0.6,
                expected=0.5,
                performance=1.2,
                status="on_track",
            ),
        ]
    )
    kpis = schema.conform(
        "KPIs",
        pd.DataFrame(
            {
                "unit_code": ["AFR", "AFR", "AFR"],
                "kpi_id": ["K1", "K3", "K4"],
                "result_id": ["O1", "R1", "R1"],
                "responsible": ["Ana Lopes", None, "Reach lead"],
            }
        ),
        with_unit=True,
    )
    tests = pd.DataFrame(
        [
            dict(
                unit_code="AFR",
                assumption_id="AS1",
                period=Q,
                test="min_value",
                kpi_id="K1",
                observed=25.0,
                threshold=40.0,
                verdict="broken",
                explanation="K1 = 25 at 2026-Q3; below the threshold 40: broken",
                from_result="O1",
                to_result="R1",
                statement="Trainings fill up",
            ),
            dict(
                unit_code="AFR",
                assumption_id="AS2",
                period="2026-Q2",
                test="min_value",
                kpi_id="K1",
                observed=5.0,
                threshold=40.0,
                verdict="broken",
                explanation="old",
                from_result="O1",
                to_result="R1",
                statement="Old",
            ),
            dict(
                unit_code="AFR",
                assumption_id="AS3",
                period=Q,
                test="manual",
                kpi_id="",
                observed=np.nan,
                threshold=np.nan,
                verdict="holds",
                explanation="fine",
                from_result="O1",
                to_result="R1",
                statement="Ok",
            ),
        ]
    )
    flags = pd.DataFrame(
        [
            dict(
                unit_code="AFR",
                risk_id="RK1",
                title="Donor funding delayed",
                owner="Risk Owner",
                category="Financial",
                result_id="O1",
                status="open",
                score=20,
                rating="critical",
                n_reasons=1,
                reasons="critical risk: score 20 = likelihood 4 x impact 5 (>= 20)",
            ),
            dict(
                unit_code="AFR",
                risk_id="RK2",
                title="Review late",
                owner=None,
                category="Operational",
                result_id="O2",
                status="open",
                score=6,
                rating="low",
                n_reasons=1,
                reasons="review overdue: due 2026-06-30, 92 days late",
            ),
        ]
    )
    money = pd.DataFrame(
        [
            dict(
                quarter=Q,
                unit_code="AFR",
                result_id="O1",
                title="Trainings",
                funding_source="RB",
                budget_year=100000.0,
                spent_year=40000.0,
                execution_rate=0.4,
                time_elapsed=0.75,
                execution_gap=-0.35,
                flag="underspending",
            ),
            dict(
                quarter=Q,
                unit_code="AFR",
                result_id="O2",
                title="Plans",
                funding_source="RB",
                budget_year=10000.0,
                spent_year=9500.0,
                execution_rate=0.95,
                time_elapsed=0.75,
                execution_gap=0.2,
                flag="overspending",
            ),
            dict(
                quarter=Q,
                unit_code="AFR",
                result_id="O3",
                title="Fine",
                funding_source="RB",
                budget_year=100.0,
                spent_year=75.0,
                execution_rate=0.75,
                time_elapsed=0.75,
                execution_gap=0.0,
                flag="on pace",
            ),
            dict(
                quarter=Q,
                unit_code="AFR",
                result_id="O4",
                title="Extra",
                funding_source="Donor",
                budget_year=0.0,
                spent_year=5000.0,
                execution_rate=np.nan,
                time_elapsed=0.75,
                execution_gap=np.nan,
                flag="unbudgeted",
            ),
            dict(
                quarter="2026-Q2",
                unit_code="AFR",
                result_id="O9",
                title="Old",
                funding_source="RB",
                budget_year=100.0,
                spent_year=0.0,
                execution_rate=0.0,
                time_elapsed=0.5,
                execution_gap=-0.5,
                flag="underspending",
            ),
        ]
    )
    stalls = pd.DataFrame(
        [
            dict(
                unit_code="AFR",
                source="O1",
                source_title="Trainings",
                source_status="on_track",
                target="R1",
                target_title="Countries reached",
                target_status="off_track",
                message="O1 'Trainings' is on track, but R1 'Countries reached', which it feeds, "
                "is off track: check whether the link still holds.",
            )
        ]
    )
    return progress, tests, flags, money, stalls, kpis


def test_review_agenda_items_order_and_owners():
    progress, tests, flags, money, stalls, kpis = agenda_inputs()
    out = review_agenda(progress, tests, flags, money, stalls, Q, kpis=kpis)
    assert list(out.columns) == AGENDA_COLUMNS
    got = [(r["priority"], r["kind"], r["item_id"], r["owner"]) for r in out.to_dict("records")]
    # ordered by priority score (test_agenda_priority.py computes each score by hand)
    assert got == [
        (1, "assumption_broken", "AS1", "Ana Lopes"),  # responsible of the tested KPI; 45.67
        (1, "risk_red_flag", "RK1", "Risk Owner"),  # 42.33
        (1, "kpi_off_track", "K1", "Ana Lopes"),  # performance 0.5; 36.33
        (2, "stalled_link", "O1->R1", "Reach lead"),  # responsible of the stalled result's KPI; 31.67
        (1, "kpi_off_track", "K2", HEAD_OF_UNIT),  # no responsible known; 31.63
        (2, "spending_gap", "O1", HEAD_OF_UNIT),  # |gap| 0.35 >= 2 x 0.15; 28.00
        (2, "spending_gap", "O4", HEAD_OF_UNIT),  # unbudgeted spending; 27.33
        (2, "risk_red_flag", "RK2", HEAD_OF_UNIT),  # low risk flagged for an overdue review; no owner; 18.43
        (3, "kpi_no_data", "K3", HEAD_OF_UNIT),  # responsible blank in KPIs; 16.33
        (3, "spending_gap", "O2", HEAD_OF_UNIT),  # |gap| 0.20; 10.30
    ]
    assert out["rank"].tolist() == list(range(1, 11))


def test_review_agenda_evidence_and_questions():
    progress, tests, flags, money, stalls, kpis = agenda_inputs()
    out = review_agenda(progress, tests, flags, money, stalls, Q, kpis=kpis)
    by = {(r["kind"], r["item_id"]): r for r in out.to_dict("records")}
    k1 = by[("kpi_off_track", "K1")]
    assert k1["title"] == "People trained"
    assert k1["evidence"] == (
        "current value 25 where 50 was expected by 2026-Q3 (target 100 by 2027-Q1); 25% of "
        "the way from baseline to target against 50% expected, performance 0.50"
    )
    assert "off track" in k1["question"] and k1["question"].endswith("?")
    k3 = by[("kpi_no_data", "K3")]
    assert k3["evidence"].startswith("last value reported for 2026-Q1 (2 quarters before 2026-Q3)")
    assert by[("assumption_broken", "AS1")]["evidence"] == (
        "broken at 2026-Q3; K1 = 25 at 2026-Q3; below the threshold 40: broken"
    )
    assert "O1 -> R1" in by[("assumption_broken", "AS1")]["question"]
    assert by[("risk_red_flag", "RK1")]["evidence"].startswith("score 20 (critical); critical risk")
    assert by[("spending_gap", "O1")]["evidence"] == (
        "CHF 40,000 spent of CHF 100,000 budgeted for 2026 (40%) with 75% of the year elapsed: gap -35 points"
    )
    assert by[("spending_gap", "O1")]["title"] == "Trainings — RB"
    assert by[("spending_gap", "O4")]["evidence"] == "CHF 5,000 spent in 2026 with no budget for 2026"
    assert by[("stalled_link", "O1->R1")]["title"] == "Trainings -> Countries reached"
    assert "check whether the link still holds" in by[("stalled_link", "O1->R1")]["evidence"]
    assert all(q.endswith("?") for q in out["question"])


def test_review_agenda_excludes_other_quarters_and_good_items():
    progress, tests, flags, money, stalls, kpis = agenda_inputs()
    out = review_agenda(progress, tests, flags, money, stalls, Q, kpis=kpis)
    ids = set(out["item_id"])
    assert "AS2" not in ids  # broken at 2026-Q2 only
    assert "AS3" not in ids  # holds
    assert "O9" not in ids  # money row of another quarter
    assert "O3" not in ids  # on pace
    assert "K4" not in ids  # on track


def test_review_agenda_responsible_from_progress_and_threshold():
    progress, tests, flags, money, stalls, kpis = agenda_inputs()
    prog = progress.assign(responsible=["P1", "P2", "P3", "P4"])
    out = review_agenda(prog, None, None, money, None, Q, thresholds={"execution_gap": 0.05})
    owners = dict(zip(out["item_id"], out["owner"]))
    assert owners["K1"] == "P1" and owners["K3"] == "P3"
    # with execution_gap 0.05, |gap| 0.20 >= 0.10: priority 2
    assert int(out.loc[out["item_id"] == "O2", "priority"].iloc[0]) == 2


def test_review_agenda_empty_and_no_mutation():
    out = review_agenda(None, None, None, None, None, Q)
    assert out.empty and list(out.columns) == AGENDA_COLUMNS
    progress, tests, flags, money, stalls, kpis = agenda_inputs()
    copies = [df.copy() for df in (progress, tests, flags, money, stalls, kpis)]
    review_agenda(progress, tests, flags, money, stalls, Q, kpis=kpis)
    for before, after in zip(copies, (progress, tests, flags, money, stalls, kpis)):
        pd.testing.assert_frame_equal(before, after)


def test_review_agenda_on_real_outputs():
    state = unit_state()
    progress = kpi.kpi_progress(state, Q)
    reg = risks.risk_register(state, Q)
    nodes, edges = pathway.pathway(state, progress)
    out = review_agenda(
        progress,
        None,
        risks.red_flags(reg, progress),
        finance.money_by_output(state, Q),
        pathway.stalls(nodes, edges),
        Q,
        kpis=state["KPIs"],
    )
    got = [(r["priority"], r["kind"], r["item_id"], r["owner"]) for r in out.to_dict("records")]
    # K3 performance 0.444, K4 0.489, K2 0.5 (see test_kpi); spending 50% spent at 75% elapsed: gap -25 points
    assert got == [
        (1, "risk_red_flag", "AFR-RK1", "Head of unit"),
        (1, "kpi_off_track", "AFR-K3", "Training lead"),
        (1, "kpi_off_track", "AFR-K4", "Statistics unit"),
        (1, "kpi_off_track", "AFR-K2", "Programme officer"),
        (3, "spending_gap", "AFR-O1", "Head of unit"),
    ]
    k2 = out.loc[out["item_id"] == "AFR-K2", "evidence"].iloc[0]
    assert k2.startswith("current value 3 where 6 was expected by 2026-Q3 (target 8 by 2026-Q4)")


# --------------------------------------------------------------------------- results_statement


def test_results_statement_mentions_figures_and_sections():
    state = unit_state()
    progress = kpi.kpi_progress(state, Q)
    text = results_statement(state, progress, "AFR", Q)
    assert text.startswith("## Results statement: AFR, 2026-Q3\n")
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert headings == [
        "### What was delivered",
        "### Whom it reached",
        "### What changed",
        "### Money spent",
        "### In short",
    ]
    # output KPI: 80 + 90 + 100 = 270 of 400, 67.5% -> "68%", on track
    assert (
        "People trained: 270 against a target of 400 by 2026-Q4, from a baseline of 0 (2025-Q4); "
        "68% of the way to the target — on track."
    ) in text
    # reach result with no KPI
    assert "**Countries reached** (AFR-R1, reach): no KPI measures this result yet." in text
    # percent KPIs in "What changed"
    changed = text.split("### What changed")[1].split("### Money spent")[0]
    assert "Share of trainees passing: 60% against a target of 80%" in changed
    assert "Internet use: 40% against a target of 45% by 2026-Q4, from a baseline of 37.1% (2025-Q4)" in changed
    assert "off track" in changed
    # money: 20,000 + 30,000 spent of a 100,000 budget for 2026
    assert (
        "CHF 50,000 spent up to 2026-Q3, CHF 50,000 of it in 2026: 50% of the 2026 budget of CHF 100,000 "
        "with 75% of the year elapsed (underspending)."
    ) in text
    assert text.rstrip().endswith("4 KPIs: 3 off track, 1 on track.")
    assert "<" not in text  # no HTML


def test_results_statement_is_deterministic_and_escapes_free_text():
    _, frames = minimal_unit()
    results = frames["Results"].copy()
    results.loc[results["result_id"] == "AFR-O1", "title"] = "<script>alert(1)</script> [x](javascript:y)"
    state = unit_state(Results=results)
    other = unit_state("AMS")
    both = {k: pd.concat([state[k], other[k]], ignore_index=True) for k in state}
    progress = kpi.kpi_progress(both, Q)
    a = results_statement(both, progress, "AFR", Q, currency="USD")
    b = results_statement(both, progress.iloc[::-1], "AFR", Q, currency="USD")
    assert a == b
    assert "<script" not in a
    assert "&lt;script&gt;alert(1)&lt;/script&gt; \\[x\\](javascript:y)" in a
    assert "AMS-" not in a  # only the unit asked for
    assert "USD 50,000 spent up to 2026-Q3" in a


def test_results_statement_uses_money_frame_when_given():
    state = unit_state()
    progress = kpi.kpi_progress(state, Q)
    money = finance.money_by_output(state, Q).assign(spent_cumulative=123456.0)
    text = results_statement(state, progress, "AFR", Q, money=money)
    assert "CHF 123,456 spent up to 2026-Q3" in text


def test_results_statement_empty_unit():
    text = results_statement({}, pd.DataFrame(), "AFR", Q)
    assert "No result at this level of the chain." in text
    assert "No budget or spending is recorded for this unit." in text
    assert "No KPI is defined for this unit." in text


def test_results_statement_on_sample_unit():
    sample = pytest.importorskip("rbm_utils.demo.sample")
    from rbm_utils.core.config import load_config

    cfg = load_config()
    _, frames = sample.sample_unit(cfg, "AFR")
    state = {n: schema.conform(n, df.assign(unit_code="AFR"), with_unit=True) for n, df in frames.items()}
    progress = kpi.kpi_progress(state, cfg.current_quarter)
    text = results_statement(state, progress, "AFR", cfg.current_quarter)
    n = len(progress)
    assert f"{n} KPIs:" in text
    # every KPI is mentioned by name, with its current value
    for r in progress.to_dict("records"):
        assert markdown_text(r["name"]) in text
    assert math.isfinite(float(progress["current_value"].iloc[0]))
