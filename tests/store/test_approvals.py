"""Approvals within delegated authority, on SQLite and PostgreSQL (``store_url`` is parametrised):
framework changes listed on ingest, pending until the bureau approves, every event in the change log,
the approval state frozen in the snapshot."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest
import sqlalchemy as sa
from factories import three_unit_config

import rbm_utils.store.database as store_mod
from rbm_utils.core import schema
from rbm_utils.core.config import Authority
from rbm_utils.store.database import ApprovalError, Store
from rbm_utils.store.escalation import APPROVAL_COLUMNS, FRAMEWORK_CHANGE_COLUMNS
from rbm_utils.store.snapshot import freeze_snapshot, load_snapshot

T1, T2, T3 = "2026-07-01T09:00:00Z", "2026-10-03T14:02:11Z", "2026-10-05T08:30:00Z"

CONFIG = three_unit_config(Authority(bureau_role="Deputy Director", bureau_approvers=("Nadia Rahman",)))

RESULTS = [
    {"result_id": "O1", "level": "output", "title": "Regulators trained"},
    {"result_id": "O2", "level": "output", "title": "Toolkits published"},
]
KPI = {
    "result_id": "O1",
    "measure": "number",
    "direction": "increase",
    "aggregation": "sum",
    "baseline_value": 0,
    "baseline_period": "2025-Q4",
    "target_period": "2027-Q4",
    "data_source": "Attendance lists",
    "responsible": "M&E officer",
}


def frames(k1=100.0, k2=60.0, budget=(200_000.0, 200_000.0), decisions=(), kpis=("K1", "K2")) -> dict:
    targets = {"K1": k1, "K2": k2}
    out = {
        "Results": pd.DataFrame(RESULTS),
        "KPIs": pd.DataFrame([{**KPI, "kpi_id": k, "name": f"KPI {k}", "target_value": targets[k]} for k in kpis]),
        "Budget": pd.DataFrame(
            [{"result_id": o, "funding_source": "RB", "year": 2026, "amount": a} for o, a in zip(("O1", "O2"), budget)]
        ),
        "Decisions": pd.DataFrame(
            [
                {
                    "decision_id": d,
                    "meeting_quarter": "2026-Q2",
                    "concerns": c,
                    "concerns_kind": ck,
                    "decision": "As agreed at the review",
                    "kind": k,
                    "owner": "Head of office",
                    "due_quarter": "2026-Q3",
                    "status": "done",
                    "follow_up": "Done",
                }
                for d, c, ck, k in decisions
            ]
        ),
    }
    return {name: schema.conform(name, df) for name, df in out.items()}


def put(st: Store, fr: dict, quarter: str, unit: str = "AFR"):
    return st.ingest(
        unit,
        quarter,
        fr,
        file_name=f"{unit}_{quarter}.xlsx",
        sha256="ab" * 32,
        submitted_by="Ada Obi",
        ingested_by="tester",
        authority=CONFIG.authority,
    )


class Clock:
    """The store's clock: each approval takes the next time of T1, T2, T3 (then T3 again)."""

    def __init__(self) -> None:
        self.times = [T1, T2, T3]

    def __call__(self) -> str:
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


@pytest.fixture
def st(store_url, monkeypatch):
    with Store(store_url) as s:
        clock = Clock()
        real = store_mod.Store.approve

        def timed(self, *args, **kwargs):
            with monkeypatch.context() as m:
                m.setattr(store_mod, "_utcnow", clock)
                return real(self, *args, **kwargs)

        monkeypatch.setattr(store_mod.Store, "approve", timed)
        yield s


# K1 +30 % (beyond the unit's 10 %), covered by D1; K2 +5 % with no decision.
Q3 = frames(k1=130.0, k2=63.0, decisions=[("D1", "K1", "kpi", "adjust_target")])


def test_the_first_submission_sets_the_framework_and_later_ones_list_their_changes(st):
    first = put(st, frames(), "2026-Q2")
    assert first.framework_changes.empty and first.warnings == []
    st.approve("AFR", "2026-Q2", "Amara Diallo", CONFIG)
    out = put(st, Q3, "2026-Q3")
    assert out.status == "stored"
    got = out.framework_changes[["change_kind", "item_id", "old", "new", "amount", "authority", "decision_id"]]
    assert got.values.tolist() == [
        ["target_value", "K1", "100", "130", 30.0, "bureau", "D1"],
        ["target_value", "K2", "60", "63", 3.0, "unit", ""],
    ]
    # the warnings are stored with the submission, as the validator's are
    stored = st.submission_problems(out.submission_id)
    assert stored[["code", "severity", "sheet", "header", "value"]].values.tolist() == [
        ["change_needs_bureau", "warning", "KPIs", "target_value", "K1"],
        ["change_without_decision", "warning", "KPIs", "target_value", "K2"],
    ]
    assert "Deputy Director (Nadia Rahman)" in stored.loc[0, "message"]
    assert int(st.submissions("AFR")["n_warnings"].iloc[-1]) == 2
    # the Store lists the same changes, as drafts, for the quarter
    listed = st.framework_changes("2026-Q3", CONFIG.authority)
    assert list(listed.columns) == FRAMEWORK_CHANGE_COLUMNS
    assert listed[["unit_code", "quarter", "item_id", "status"]].values.tolist() == [
        ["AFR", "2026-Q3", "K1", "draft"],
        ["AFR", "2026-Q3", "K2", "draft"],
    ]


def test_pending_until_the_bureau_approves_and_every_event_in_the_change_log(st):
    put(st, frames(), "2026-Q2")
    assert st.approve("AFR", "2026-Q2", "Amara Diallo", CONFIG)["state"] == "approved"
    put(st, Q3, "2026-Q3")
    states = st.approval_states("2026-Q3", CONFIG.authority)
    assert list(states.columns) == APPROVAL_COLUMNS
    assert states[["unit_code", "state", "n_pending"]].values.tolist() == [["AFR", "draft", 1]]

    unit = st.approve("AFR", "2026-Q3", "Amara Diallo", CONFIG)
    assert (unit["state"], unit["approved_by"], unit["approved_at"], unit["bureau_approved_by"]) == (
        "pending",
        "Amara Diallo",
        T2,
        "",
    )
    assert [(c["item_id"], c["status"]) for c in unit["changes"]] == [("K1", "pending"), ("K2", "approved")]
    row = st.approval_states("2026-Q3", CONFIG.authority).iloc[0].to_dict()
    assert row == {
        "unit_code": "AFR",
        "quarter": "2026-Q3",
        "state": "pending",
        "approved_by": "Amara Diallo",
        "approved_at": T2,
        "bureau_approved_by": "",
        "bureau_approved_at": "",
        "n_pending": 1,
        "pending_summary": "target of K1 100 -> 130 (+30%)",
    }
    # the quarter is locked while pending; the unit approver cannot lift the escalation
    assert put(st, frames(k1=140.0), "2026-Q3").status == "locked"
    with pytest.raises(ApprovalError) as info:
        st.approve("AFR", "2026-Q3", "Amara Diallo", CONFIG)
    assert str(info.value) == (
        "AFR 2026-Q3 was already approved by Amara Diallo on 2026-10-03 14:02 UTC; its changes beyond the "
        "unit's authority await the Deputy Director (Nadia Rahman)"
    )

    bureau = st.approve("AFR", "2026-Q3", "  nadia RAHMAN ", CONFIG)  # stored as the settings spell it
    assert (bureau["state"], bureau["by"], bureau["role"]) == ("approved", "Nadia Rahman", "Deputy Director")
    assert (bureau["approved_by"], bureau["bureau_approved_by"], bureau["bureau_approved_at"]) == (
        "Amara Diallo",
        "Nadia Rahman",
        T3,
    )
    row = st.approval_states("2026-Q3", CONFIG.authority).iloc[0]
    assert (row["state"], row["bureau_approved_by"], row["n_pending"], row["pending_summary"]) == (
        "approved",
        "Nadia Rahman",
        0,
        "",
    )
    assert st.framework_changes("2026-Q3", CONFIG.authority)["status"].tolist() == ["approved", "approved"]
    with pytest.raises(ApprovalError, match="and by Nadia Rahman on 2026-10-05 08:30 UTC"):
        st.approve("AFR", "2026-Q3", "Nadia Rahman", CONFIG)

    _, log = st.history("AFR")
    events = log[log["sheet"] == "approval"]
    assert events[["quarter", "key", "field", "old", "new"]].values.tolist() == [
        ["2026-Q2", '["2026-Q2"]', "approved_by", None, '"Amara Diallo"'],
        ["2026-Q2", '["2026-Q2"]', "approved_at", None, json.dumps(T1)],
        ["2026-Q3", '["2026-Q3"]', "approved_by", None, '"Amara Diallo"'],
        ["2026-Q3", '["2026-Q3"]', "approved_at", None, json.dumps(T2)],
        ["2026-Q3", '["2026-Q3"]', "bureau_approved_by", None, '"Nadia Rahman"'],
        ["2026-Q3", '["2026-Q3"]', "bureau_approved_at", None, json.dumps(T3)],
    ]


def test_a_name_not_in_the_settings_is_refused_and_nothing_is_written(st):
    put(st, frames(), "2026-Q2")
    before = st.dump()
    for name in ("Somebody Else", "Nadia", "", "Amara Diallo Jr"):
        with pytest.raises(ApprovalError) as info:
            st.approve("AFR", "2026-Q2", name, CONFIG)
        assert str(info.value) == (
            "Only the Regional Director of AFR (Amara Diallo) or the Deputy Director (Nadia Rahman) may approve AFR"
        )
    # another unit's approver is not AFR's
    with pytest.raises(ApprovalError, match="may approve AFR"):
        st.approve("AFR", "2026-Q2", "Sofia Marin", CONFIG)
    # a unit with no approver of its own: only the bureau
    with pytest.raises(ApprovalError) as info:
        st.approve("EMT", "2026-Q2", "Amara Diallo", CONFIG)
    assert str(info.value) == "Only the Deputy Director (Nadia Rahman) may approve EMT"
    no_bureau = replace(CONFIG, authority=Authority())
    with pytest.raises(ApprovalError, match="nobody may approve EMT"):
        st.approve("EMT", "2026-Q2", "Nadia Rahman", no_bureau)
    assert st.dump() == before


def test_a_bureau_approver_may_approve_any_unit_at_once(st):
    put(st, frames(), "2026-Q2", unit="EMT")
    got = st.approve("EMT", "2026-Q2", "Nadia Rahman", CONFIG)  # no bureau-level change: one event
    assert (got["state"], got["approved_by"], got["bureau_approved_by"]) == ("approved", "Nadia Rahman", "")
    # a dropped KPI and 80,000 of 400,000 moved: both beyond the unit; the bureau approves both levels at once
    put(st, frames(kpis=("K1",), budget=(280_000.0, 120_000.0)), "2026-Q3", unit="EMT")
    got = st.approve("EMT", "2026-Q3", "Nadia Rahman", CONFIG)
    assert (got["state"], got["approved_by"], got["bureau_approved_by"]) == ("approved", "Nadia Rahman", "Nadia Rahman")
    changes = st.framework_changes("2026-Q3", CONFIG.authority)
    assert changes[["change_kind", "item_id", "amount", "authority", "status"]].values.tolist() == [
        ["kpi_dropped", "K2", pytest.approx(float("nan"), nan_ok=True), "bureau", "approved"],
        ["budget_moved", "2026", 80_000.0, "bureau", "approved"],
    ]
    # within the unit's authority the bureau has nothing left to approve
    put(st, frames(), "2026-Q2", unit="CYB")
    st.approve("CYB", "2026-Q2", "Sofia Marin", CONFIG)
    with pytest.raises(ApprovalError, match="none of its changes needs the bureau"):
        st.approve("CYB", "2026-Q2", "Nadia Rahman", CONFIG)


def test_an_older_store_gains_the_new_tables_on_open(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    with Store(url) as st:
        put(st, frames(), "2026-Q2")
        st.approve("AFR", "2026-Q2", "Amara Diallo", CONFIG)
        with st._engine.begin() as conn:  # as a store written before approvals by the bureau and decisions
            conn.exec_driver_sql("DROP TABLE bureau_approvals")
            conn.exec_driver_sql("DROP TABLE sheet_decisions")
    with Store(url) as st:
        names = set(sa.inspect(st._engine).get_table_names())
        assert {"bureau_approvals", "sheet_decisions"} <= names
        assert st.approvals()["approved_by"].tolist() == ["Amara Diallo"]
        assert put(st, Q3, "2026-Q3").status == "stored"
        assert st.approve("AFR", "2026-Q3", "Amara Diallo", CONFIG)["state"] == "pending"
        assert st.approve("AFR", "2026-Q3", "Nadia Rahman", CONFIG)["state"] == "approved"


def test_the_snapshot_freezes_approvals_and_framework_changes(st, tmp_path):
    put(st, frames(), "2026-Q2")
    put(st, frames(), "2026-Q2", unit="CYB")
    st.approve("AFR", "2026-Q2", "Amara Diallo", CONFIG)
    put(st, Q3, "2026-Q3")
    st.approve("AFR", "2026-Q3", "Amara Diallo", CONFIG)
    first = freeze_snapshot(st, "2026-Q3", tmp_path, CONFIG)
    frames_ = load_snapshot(tmp_path / "2026-Q3" / "snapshot")
    appr = frames_["Approvals"]
    assert list(appr.columns) == APPROVAL_COLUMNS
    assert appr[["unit_code", "state", "approved_by", "n_pending", "pending_summary"]].values.tolist() == [
        ["AFR", "pending", "Amara Diallo", 1, "target of K1 100 -> 130 (+30%)"],
        ["CYB", "draft", "", 0, ""],
    ]
    ch = frames_["FrameworkChanges"]
    assert list(ch.columns) == FRAMEWORK_CHANGE_COLUMNS
    assert ch[["unit_code", "item_id", "authority", "decision_id", "status"]].values.tolist() == [
        ["AFR", "K1", "bureau", "D1", "pending"],
        ["AFR", "K2", "unit", "", "approved"],
    ]
    assert first["tables"]["Approvals"]["rows"] == 2 and first["tables"]["FrameworkChanges"]["rows"] == 2
    # unchanged store: the same content hash, the snapshot left as it is
    assert freeze_snapshot(st, "2026-Q3", tmp_path, CONFIG)["content_sha256"] == first["content_sha256"]
    # the bureau's approval changes the frozen state
    st.approve("AFR", "2026-Q3", "Nadia Rahman", CONFIG)
    second = freeze_snapshot(st, "2026-Q3", tmp_path, CONFIG, force=True)
    changed = sorted(
        t for t in first["tables"] if first["tables"][t]["content_sha256"] != second["tables"][t]["content_sha256"]
    )
    assert changed == ["Approvals", "FrameworkChanges"]
