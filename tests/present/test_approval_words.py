"""What reviews and dashboards say of the loop: approval state in words, pending escalations,
decisions of earlier reviews and overdue ones (rbm_utils.present.followup), escaped where HTML."""

from __future__ import annotations

import pandas as pd

from rbm_utils.present import followup

Q = "2026-Q3"


def _approvals(**row) -> pd.DataFrame:
    base = dict(unit_code="AFR", quarter=Q, state="draft", approved_by="", approved_at="")
    base |= dict(bureau_approved_by="", bureau_approved_at="", n_pending=0, pending_summary="")
    return pd.DataFrame([{**base, **row}])


CHANGES = pd.DataFrame(
    {
        "unit_code": ["AFR", "AFR", "AFR", "CYB"],
        "quarter": [Q] * 4,
        "change_kind": ["target_value", "budget_moved", "target_value", "kpi_dropped"],
        "item_id": ["AFR-K2", "2026", "AFR-K1", "CYB-K5"],
        "title": ["Workshops held", "Budget 2026", "People trained", "Incidents"],
        "old": ["60", "", "400", ""],
        "new": ["72", "", "410", ""],
        "amount": [12.0, 80000.0, 10.0, float("nan")],
        "share": [0.2, 0.2, 0.025, float("nan")],
        "authority": ["bureau", "bureau", "unit", "bureau"],
        "decision_id": ["AFR-D7", "", "", "CYB-D2"],
        "status": ["pending", "pending", "pending", "pending"],
    }
)


def test_approval_states_in_words():
    assert followup.approval_text(None, None, "AFR") == "Draft: not approved yet."
    assert followup.approval_text(_approvals(), CHANGES.assign(status="approved"), "AFR") == "Draft: not approved yet."
    assert followup.approval_text(_approvals(unit_code="CYB"), None, "AFR") == "Draft: not approved yet."
    approved = _approvals(state="approved", approved_by="Amara Diallo", approved_at="2026-10-12T09:30:00Z")
    assert followup.approval_text(approved, None, "AFR") == "Approved by Amara Diallo on 2026-10-12."
    both = approved.assign(bureau_approved_by="Nadia Rahman", bureau_approved_at="2026-10-20T08:00:00Z")
    assert followup.approval_text(both, None, "AFR") == (
        "Approved by Amara Diallo on 2026-10-12; the changes beyond the unit's authority approved by "
        "Nadia Rahman on 2026-10-20."
    )


def test_a_pending_escalation_names_each_change_and_its_amount():
    pending = _approvals(state="pending", approved_by="Amara Diallo", approved_at="2026-10-12T09:30:00Z", n_pending=2)
    text = followup.approval_text(pending, CHANGES, "AFR", "Deputy Director", "CHF")
    assert text == (
        "Pending escalation: approved by Amara Diallo on 2026-10-12 within the unit's authority; 2 changes "
        "beyond it await the Deputy Director: target of AFR-K2 60 -> 72 (+20%); "
        "budget 2026: CHF 80,000 moved between outputs (20%)."
    )
    # without the changes table the stored summary is the reason
    summary = pending.assign(pending_summary="target of AFR-K2 60 -> 72 (+20%)")
    assert followup.approval_text(summary, None, "AFR").endswith(
        "await the bureau approver: target of AFR-K2 60 -> 72 (+20%)."
    )
    # before the unit's approver approved the quarter, the changes are escalations to come
    draft = _approvals(n_pending=2)
    assert followup.approval_text(draft, CHANGES.assign(status="draft"), "AFR", "Deputy Director", "CHF") == (
        "Draft: not approved yet; 2 changes beyond the unit's authority also need the Deputy Director: "
        "target of AFR-K2 60 -> 72 (+20%); budget 2026: CHF 80,000 moved between outputs (20%)."
    )
    approved = CHANGES.assign(status="approved")
    assert followup.approval_text(_approvals(state="approved"), approved, "AFR") == "Approved."
    assert followup.unit_escalations(approved).empty
    one = pending.assign(n_pending=1)
    assert "; 1 change beyond it awaits the bureau approver: target of AFR-K2" in followup.approval_text(
        one, CHANGES[CHANGES["change_kind"] != "budget_moved"], "AFR"
    )
    esc = followup.unit_escalations(CHANGES)
    assert esc["item_id"].tolist() == ["AFR-K2", "2026", "CYB-K5"]  # the unit-level change is not escalated
    assert followup.unit_escalations(CHANGES, "CYB")["change"].tolist() == ["KPI CYB-K5 dropped"]
    assert followup.unit_escalations(None).empty


def test_approval_html_is_escaped_with_a_badge():
    hostile = _approvals(state="approved", approved_by="<script>alert(1)</script>")
    out = followup.approval_html(hostile, None, "AFR")
    assert "<script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert 'class="rbm-approval-state"' in out and ">Approved</span>" in out


def test_decisions_split_by_meeting_and_overdue_once_across_units():
    d = pd.DataFrame(
        {
            "decision_id": ["D1", "D2", "D3", "D3"],
            "unit_code": ["AFR", "AFR", "AFR", "CYB"],
            "recorded_by": ["AFR", "AFR", "AFR", "AFR"],
            "meeting_quarter": ["2026-Q1", Q, "2026-Q2", "2026-Q2"],
            "overdue": [True, False, True, True],
        }
    )
    assert followup.earlier(d, Q)["decision_id"].tolist() == ["D1", "D3", "D3"]
    assert followup.taken_at(d, Q)["decision_id"].tolist() == ["D2"]
    late = followup.overdue(d)
    assert late[["decision_id", "unit_code"]].values.tolist() == [["D1", "AFR"], ["D3", "AFR"]]
    assert followup.overdue(None).empty and followup.earlier(None, Q).empty


def test_every_units_approval_word_at_once_is_each_units_word_alone():
    """A unit's last row counts; a unit without a row, a blank or missing state, or no state
    column reads Draft; an unknown state is shown as it is."""
    approvals = pd.DataFrame(
        {
            "unit_code": ["AFR", "CYB", "AFR", "EUR", "ENV", "STA", "NDI"],
            "state": ["draft", "pending", "approved", None, "", "odd", float("nan")],
        }
    )
    units = ["AFR", "CYB", "EUR", "ENV", "STA", "NDI", "ARB"]
    for table in (approvals, approvals.drop(columns="state"), approvals.iloc[0:0], None):
        assert followup.approval_labels(table, units) == [followup.approval_label(table, u) for u in units]
    assert followup.approval_labels(approvals, units) == [
        "Approved",
        "Pending escalation",
        "Draft",
        "Draft",
        "odd",
        "Draft",
        "Draft",
    ]
