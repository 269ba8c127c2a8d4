"""The review loop: decisions followed up, agenda items carried over, the learning log, and the
approval tables passed through analyse(). Hand-computed on tests/factories.py ``minimal_unit()``.

The unit (AFR, reviewed at 2026-Q3, KPIs from a 2025-Q4 baseline to a 2026-Q4 target):
AFR-K1 People trained (sum, 80 + 90 + 100 reported in 2026-Q1..Q3, on track), AFR-K2 Workshops
held (sum, 3 reported in 2026-Q3 only), AFR-RK1 a risk of likelihood 4 x impact 4 = 16.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from factories import minimal_unit

from rbm_utils.analytics import bureau
from rbm_utils.analytics.agenda import AGENDA_COLUMNS, carry_over
from rbm_utils.analytics.decisions import (
    APPROVAL_COLUMNS,
    FOLLOW_UP_COLUMNS,
    FRAMEWORK_CHANGE_COLUMNS,
    approvals,
    follow_up,
    framework_changes,
    pending_escalations,
)
from rbm_utils.analytics.learning import LEARNING_COLUMNS, lessons
from rbm_utils.core import schema
from rbm_utils.core.config import load_config

CFG = load_config()
Q = "2026-Q3"


def unit_state(unit_code: str = "AFR", **overrides) -> dict[str, pd.DataFrame]:
    """minimal_unit() as a state (unit_code column, conformed); ``overrides`` replace sheets."""
    _, frames = minimal_unit(unit_code)
    frames = {**frames, **overrides}
    state = {n: schema.conform(n, df.assign(unit_code=unit_code), with_unit=True) for n, df in frames.items()}
    state["Unit"] = pd.DataFrame({"unit_code": [unit_code], "quarter": [Q], "submission_id": [1]})
    return state


def decisions(rows: list[dict]) -> pd.DataFrame:
    base = dict(concerns_kind="kpi", decision="Act", kind="adjust_target", owner="Head of unit", other_unit=None)
    return pd.DataFrame([{"follow_up": None, **base, **r} for r in rows])


def _risks(likelihood: int) -> pd.DataFrame:
    return minimal_unit()[1]["Risks"].assign(likelihood=likelihood)


@pytest.fixture(scope="module")
def loop():
    """2026-Q2 (previous) and 2026-Q3 (now) states of AFR with decisions of earlier reviews."""
    previous = unit_state(
        Decisions=decisions(
            [
                dict(
                    decision_id="AFR-D0",
                    meeting_quarter="2026-Q1",
                    concerns="AFR-K4",
                    due_quarter="2026-Q1",
                    status="done",
                    follow_up="Survey ordered",
                )
            ]
        )
    )
    now = unit_state(
        Risks=_risks(3),
        Decisions=decisions(
            [
                dict(
                    decision_id="AFR-D1",
                    meeting_quarter="2026-Q1",
                    concerns="AFR-K2",
                    due_quarter="2026-Q2",
                    status="open",
                ),
                dict(
                    decision_id="AFR-D2",
                    meeting_quarter="2026-Q2",
                    concerns="AFR-RK1",
                    concerns_kind="risk",
                    kind="mitigate_risk",
                    due_quarter="2026-Q4",
                    status="in_progress",
                ),
                dict(
                    decision_id="AFR-D3",
                    meeting_quarter="2026-Q2",
                    concerns="AFR-K1",
                    due_quarter="2026-Q2",
                    status="done",
                    follow_up="Added a session",
                ),
                dict(
                    decision_id="AFR-D4",
                    meeting_quarter="2026-Q3",
                    concerns="AFR-AS1",
                    concerns_kind="assumption",
                    kind="revise_assumption",
                    due_quarter="2026-Q4",
                    status="open",
                ),
                dict(
                    decision_id="AFR-D5",
                    meeting_quarter="2026-Q2",
                    concerns="AFR-O1",
                    concerns_kind="budget",
                    other_unit="CYB",
                    kind="reallocate_budget",
                    due_quarter="2026-Q3",
                    status="open",
                ),
                dict(
                    decision_id="AFR-D6",
                    meeting_quarter="2026-Q4",
                    concerns="AFR-K1",
                    due_quarter="2026-Q4",
                    status="open",
                ),
            ]
        ),
    )
    return now, previous, bureau.analyse(now, Q, CFG, previous_state=previous)


def _by_id(frame: pd.DataFrame, unit: str = "AFR") -> dict[str, dict]:
    return {r["decision_id"]: r for r in frame[frame["unit_code"] == unit].to_dict("records")}


def test_overdue_is_a_due_quarter_passed_and_not_closed(loop):
    d = _by_id(loop[2]["decisions"])
    assert list(loop[2]["decisions"].columns) == FOLLOW_UP_COLUMNS
    # D1 was due in 2026-Q2 and is still open at 2026-Q3: one quarter overdue
    assert d["AFR-D1"]["overdue"] and d["AFR-D1"]["quarters_overdue"] == 1
    # D3 was due in 2026-Q2 too, but is done; D5 is due this very quarter; D2 next quarter
    assert not d["AFR-D3"]["overdue"] and d["AFR-D3"]["quarters_overdue"] == 0
    assert not d["AFR-D5"]["overdue"] and not d["AFR-D2"]["overdue"]
    # D6 is of a meeting after the reviewed quarter: not listed
    assert "AFR-D6" not in d
    # D0 is no longer in this quarter's workbook (closed last quarter): listed with its last status
    assert d["AFR-D0"]["status"] == "done" and d["AFR-D0"]["follow_up"] == "Survey ordered"
    # overdue first, then open by due quarter (D5 2026-Q3, then D2 and D4 2026-Q4), then closed
    assert list(d) == ["AFR-D1", "AFR-D5", "AFR-D2", "AFR-D4", "AFR-D0", "AFR-D3"]


def test_what_moved_on_a_kpi_a_risk_and_an_assumption(loop):
    d = _by_id(loop[2]["decisions"])
    # K1: 80 + 90 = 170 trained by 2026-Q2 (the meeting), 170 + 100 = 270 now; on track both times
    k1 = d["AFR-D3"]
    assert (k1["then_quarter"], k1["then_value"], k1["now_value"]) == ("2026-Q2", 170.0, 270.0)
    assert k1["then_status"] == k1["now_status"] == "on_track"
    assert k1["moved"] == "value 170 -> 270"
    # K2: nothing reported by 2026-Q1 (no data), 3 workshops of the 6 expected by 2026-Q3 (off track)
    k2 = d["AFR-D1"]
    assert (k2["then_status"], k2["now_status"], k2["then_value"], k2["now_value"]) == (
        "no_data",
        "off_track",
        0.0,
        3.0,
    )
    assert k2["moved"] == "status no recent data -> off track; value 0 -> 3"
    # RK1: 4 x 4 = 16 in the register of 2026-Q2, 3 x 4 = 12 now
    rk = d["AFR-D2"]
    assert (rk["then_score"], rk["now_score"], rk["moved"]) == (16.0, 12.0, "score 16 -> 12")
    assert math.isnan(rk["then_value"]) and rk["then_status"] == ""
    # a decision of this quarter's meeting has nothing to compare yet
    assert d["AFR-D4"]["moved"] == "taken at this review"
    assert d["AFR-D4"]["then_status"] == d["AFR-D4"]["now_status"] == "holds"
    # a budget decision: no figure to follow
    assert d["AFR-D5"]["moved"] == ""


def test_a_risk_decided_before_last_quarter_compares_with_last_quarter(loop):
    previous = loop[1]
    old = dict(concerns="AFR-RK1", concerns_kind="risk", due_quarter="2026-Q4", status="open")
    dec = decisions([dict(decision_id="AFR-D9", meeting_quarter="2025-Q4", **old)])
    now = unit_state(Risks=_risks(3), Decisions=dec)
    d = _by_id(bureau.analyse(now, Q, CFG, previous_state=previous)["decisions"])["AFR-D9"]
    # the frozen state holds the register of 2026-Q2 at the earliest: 'then' is 2026-Q2
    assert (d["then_quarter"], d["then_score"], d["now_score"]) == ("2026-Q2", 16.0, 12.0)
    closed = unit_state(Risks=_risks(3).assign(status="closed"), Decisions=dec)
    d = _by_id(bureau.analyse(closed, Q, CFG, previous_state=previous)["decisions"])["AFR-D9"]
    assert d["moved"] == "risk closed (score was 16)"


def test_a_joint_decision_shows_in_both_units_and_in_the_joint_review(loop):
    now, _, res = loop
    cyb = _by_id(res["decisions"], "CYB")
    assert list(cyb) == ["AFR-D5"] and cyb["AFR-D5"]["recorded_by"] == "AFR"
    assert bureau.unit_view(res, "CYB")["decisions"]["decision_id"].tolist() == ["AFR-D5"]
    joint = bureau.joint_view(now, res, "CYB", "AFR", CFG)["decisions"]
    assert joint["decision_id"].tolist() == ["AFR-D5"] and joint["unit_code"].tolist() == ["AFR"]


def test_follow_up_alone_needs_no_analytics_outputs():
    dec = decisions(
        [dict(decision_id="AFR-D1", meeting_quarter="2026-Q1", concerns="AFR-K2", due_quarter="2026-Q2", status="open")]
    )
    out = follow_up({"Decisions": dec.assign(unit_code="AFR")}, Q)
    assert out[["decision_id", "overdue", "quarters_overdue", "then_quarter", "moved"]].values.tolist() == [
        ["AFR-D1", True, 1, "2026-Q1", ""]
    ]
    assert follow_up({"Decisions": dec.assign(unit_code="AFR")}, "2026-Q2")["overdue"].tolist() == [False]
    assert follow_up({}, Q).empty


def test_without_decisions_or_approvals_the_tables_are_empty_with_their_columns():
    res = bureau.analyse(unit_state(), Q, CFG)
    for key, cols in (
        ("decisions", FOLLOW_UP_COLUMNS),
        ("approvals", APPROVAL_COLUMNS),
        ("framework_changes", FRAMEWORK_CHANGE_COLUMNS),
        ("learning", LEARNING_COLUMNS),
    ):
        assert res[key].empty and list(res[key].columns) == cols, key
    assert res["decisions"]["overdue"].dtype == bool
    # no previous state: the previous agenda is recomputed from the same data as of 2026-Q2,
    # where K3 and K4 were already off track
    carried = res["agenda"].loc[res["agenda"]["carried_over"], "item_id"]
    assert {"AFR-K3", "AFR-K4"} <= set(carried)
    assert {"decisions", "approvals", "framework_changes", "learning"} <= set(bureau.PUBLISHED_TABLES)
    assert set(bureau.PUBLISHED_TABLES.values()) <= set(res)


# --------------------------------------------------------------------------- carry-over


def _agenda(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            dict(unit_code="AFR", priority=p, kind=k, item_id=i, title=i, owner="o", evidence="e", question="q")
            for i, p, k in rows
        ]
    ).assign(carried_over=False)[AGENDA_COLUMNS[: AGENDA_COLUMNS.index("carried_over") + 1]]  # no score: kept order


def test_carry_over_marks_returning_items_without_a_decision_and_raises_them():
    now = _agenda(
        [
            ("K1", 1, "kpi_off_track"),
            ("R1", 2, "risk_red_flag"),
            ("A->B", 2, "stalled_link"),
            ("O1", 3, "spending_gap"),
            ("K9", 3, "kpi_no_data"),
        ]
    )
    before = _agenda(
        [("K1", 1, "kpi_off_track"), ("R1", 1, "risk_red_flag"), ("A->B", 2, "stalled_link"), ("O1", 3, "spending_gap")]
    )
    dec = pd.DataFrame(
        {
            "unit_code": ["AFR", "AFR", "AFR"],
            "concerns": ["R1", "B", "O1"],
            "meeting_quarter": ["2026-Q2", "2025-Q4", "2025-Q4"],
            "status": ["done", "done", "in_progress"],
        }
    )
    out = carry_over(now, before, dec, Q)
    # R1: decided at the previous review; A->B: a closed decision of 2025-Q4 on B does not count;
    # O1: an older decision still in progress counts; K9: new this quarter
    assert out[["item_id", "priority", "carried_over"]].values.tolist() == [
        ["K1", 1, True],
        ["A->B", 1, True],
        ["R1", 2, False],
        ["O1", 3, False],
        ["K9", 3, False],
    ]
    assert not now["carried_over"].any()  # input untouched
    assert carry_over(now, None, dec, Q)["carried_over"].tolist() == [False] * 5


def test_carry_over_in_analyse(loop):
    agenda = loop[2]["agenda"]
    marked = dict(zip(agenda["item_id"], agenda["carried_over"]))
    # K3 and K4 were off track at 2026-Q2 too and no decision concerns them; K2 has D1 (open)
    assert marked["AFR-K3"] and marked["AFR-K4"] and not marked["AFR-K2"]
    assert not marked["AFR-O1"]  # D5 (open) concerns the output's budget
    assert agenda["item_id"].tolist()[:2] == ["AFR-K3", "AFR-K4"]  # first within priority 1


# --------------------------------------------------------------------------- learning log


def test_learning_log_lists_each_revision_with_the_note_and_verdicts():
    _, frames = minimal_unit()
    a = frames["Assumptions"]
    before = unit_state(Assumptions=pd.concat([a, a.iloc[[1]].assign(assumption_id="AFR-AS3", statement="Old idea")]))
    revised = a.copy()
    revised.loc[0, ["threshold", "to_result", "review_note"]] = [20, "AFR-R1", "Workshops are smaller than planned"]
    revised.loc[1, "review_note"] = "Budget laws passed"
    new = revised.iloc[[1]].assign(assumption_id="AFR-AS4", statement="Regulators share data", review_note="")
    now = unit_state(Assumptions=pd.concat([revised, new]))
    tests = pd.DataFrame(
        {
            "unit_code": ["AFR"] * 3,
            "assumption_id": ["AFR-AS1", "AFR-AS1", "AFR-AS4"],
            "period": ["2026-Q2", Q, Q],
            "verdict": ["broken", "holds", "holds"],
        }
    )
    log = lessons(now, before, Q, tests)
    assert list(log.columns) == LEARNING_COLUMNS
    rows = log[["assumption_id", "what_changed", "before", "after", "verdict_before", "verdict_after", "review_note"]]
    assert rows.values.tolist() == [
        ["AFR-AS1", "threshold", "30", "20", "broken", "holds", "Workshops are smaller than planned"],
        [
            "AFR-AS1",
            "link",
            "AFR-A1 -> AFR-O1",
            "AFR-A1 -> AFR-R1",
            "broken",
            "holds",
            "Workshops are smaller than planned",
        ],
        ["AFR-AS2", "note", "", "Budget laws passed", "", "", "Budget laws passed"],
        ["AFR-AS3", "dropped", "Old idea", "", "", "", ""],
        ["AFR-AS4", "added", "", "Regulators share data", "", "holds", ""],
    ]
    assert set(log["quarter"]) == {Q}


def test_learning_log_compares_only_units_that_had_submitted():
    now = unit_state()
    assert lessons(now, {}, Q).empty  # the first submission sets the framework
    assert lessons(now, None, Q).empty
    assert lessons(now, now, Q).empty  # nothing changed


# --------------------------------------------------------------------------- approvals


def test_approvals_and_framework_changes_pass_through_for_the_quarter():
    state = {
        "Approvals": pd.DataFrame(
            {
                "unit_code": ["AFR", "AMS", "AFR"],
                "quarter": [Q, Q, "2026-Q2"],
                "state": ["pending", "draft", "approved"],
                "approved_by": ["Amina Diallo", "", "Amina Diallo"],
                "n_pending": [1, 0, 0],
            }
        ),
        "FrameworkChanges": pd.DataFrame(
            {
                "unit_code": ["AFR", "AFR"],
                "quarter": [Q, Q],
                "change_kind": ["target_value", "target_value"],
                "item_id": ["AFR-K1", "AFR-K2"],
                "old": ["400", "8"],
                "new": ["300", "8.4"],
                "amount": [-100.0, 0.4],
                "share": [0.25, 0.05],
                "authority": ["bureau", "unit"],
                "status": ["pending", "pending"],
            }
        ),
    }
    ap = approvals(state, Q)
    assert list(ap.columns) == APPROVAL_COLUMNS and ap["unit_code"].tolist() == ["AFR", "AMS"]
    assert (
        ap["n_pending"].tolist() == [1, 0]
        and ap["n_pending"].dtype == "int64"
        and ap["bureau_approved_by"].tolist() == ["", ""]
    )
    ch = framework_changes(state, Q)
    assert list(ch.columns) == FRAMEWORK_CHANGE_COLUMNS
    assert pending_escalations(ch)["item_id"].tolist() == ["AFR-K1"]
    # a draft quarter's bureau-level change is still to be escalated; an approved one is not
    assert pending_escalations(ch.assign(status="draft"))["item_id"].tolist() == ["AFR-K1"]
    assert pending_escalations(ch.assign(status="approved")).empty
    res = bureau.analyse({**unit_state(), **state}, Q, CFG)
    pd.testing.assert_frame_equal(res["approvals"], ap)
    assert bureau.unit_view(res, "AFR")["framework_changes"]["item_id"].tolist() == ["AFR-K1", "AFR-K2"]
