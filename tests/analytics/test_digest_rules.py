"""The digest's comparisons, hand-made tables: a KPI added, removed and moved; red flags new and
old; overdue decisions new and old, a joint one counted once; submissions on the date's edge."""

from __future__ import annotations

import pandas as pd

from rbm_utils.analytics import digest


def test_status_moves_name_new_removed_and_moved_kpis_worst_first():
    before = pd.DataFrame(
        {"unit_code": ["AFR"] * 3, "kpi_id": ["K1", "K2", "K3"], "name": ["a", "b", "c"], "status": ["on_track"] * 3}
    )
    now = pd.DataFrame(
        {
            "unit_code": ["AFR"] * 3,
            "kpi_id": ["K1", "K2", "K4"],
            "name": ["a", "b", "d"],
            "status": ["on_track", "off_track", "at_risk"],
        }
    )
    moves = digest.status_moves(before, now)
    assert moves[["kpi_id", "status_before", "status_now"]].values.tolist() == [
        ["K2", "on_track", "off_track"],
        ["K4", "new", "at_risk"],
        ["K3", "on_track", "removed"],
    ]


def test_new_red_flags_and_overdue_decisions_compare_by_unit_and_id():
    flags = pd.DataFrame({"unit_code": ["AFR", "EUR"], "risk_id": ["R1", "R1"], "score": [16, 20]})
    assert digest.new_red_flags(flags.iloc[:1], flags)[["unit_code", "risk_id"]].values.tolist() == [["EUR", "R1"]]
    d = pd.DataFrame(
        {
            "unit_code": ["AFR", "CYB", "AFR", "AFR"],
            "recorded_by": ["AFR", "AFR", "AFR", "AFR"],  # D1 is joint: listed for CYB too
            "decision_id": ["D1", "D1", "D2", "D3"],
            "overdue": [True, True, True, False],
        }
    )
    out = digest.overdue_now(d.iloc[[0]], d)
    assert out[["unit_code", "decision_id", "new"]].values.tolist() == [["AFR", "D2", True], ["AFR", "D1", False]]


def test_received_counts_from_midnight_and_missing_keeps_the_units_order():
    subs = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "unit_code": ["AFR", "AFR", "EUR"],
            "quarter": ["2026-Q2", "2026-Q3", "2026-Q3"],
            "submitted_by": ["Ada", "Ada", "Eve"],
            "ingested_at": ["2026-08-31T23:59:59Z", "2026-09-01T00:00:00Z", "2026-09-02T10:00:00+02:00"],
            "file_name": ["a", "b", "c"],
        }
    )
    assert digest.received_since(subs, "2026-09-01")["submission_id"].tolist() == [2, 3]
    missing = digest.missing_submissions(subs[subs["id"] == 1], ["EUR", "AFR"], "2026-Q3")
    assert missing.values.tolist() == [["EUR", ""], ["AFR", "2026-Q2"]]
