"""Why a KPI is off track or at risk: hand-built frames with the documented columns."""

from __future__ import annotations

import pandas as pd

from rbm_utils.analytics.kpi_reasons import SEPARATOR, kpi_reasons

Q = "2026-Q3"


def progress(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"unit_code": "AFR", "kpi_id": k, "result_id": r, "status": s} for k, r, s in rows],
    )


def test_the_officers_comment_on_the_latest_reported_value_up_to_the_quarter():
    p = progress(("K1", "O1", "off_track"))
    actuals = pd.DataFrame(
        {
            "unit_code": ["AFR"] * 4,
            "kpi_id": ["K1"] * 4,
            "period": ["2026-Q1", "2026-Q2", "2026-Q2", "2026-Q4"],
            "comment": ["old news", "Partner funding late", " ", "from the future"],
        }
    )
    assert kpi_reasons(p, actuals, quarter=Q)["why"].tolist() == ["Officer: Partner funding late"]


def test_stalls_open_risks_and_weak_assumptions_in_that_order():
    p = progress(("K1", "O1", "at_risk"), ("K2", "O2", "on_track"), ("K3", "O9", "off_track"))
    stalls = pd.DataFrame({"unit_code": ["AFR"], "source": ["O1"], "target": ["C1"]})
    risks = pd.DataFrame(
        {
            "unit_code": ["AFR", "AFR", "AFR"],
            "risk_id": ["R1", "R2", "R3"],
            "result_id": ["O1", "O1", "O2"],
            "title": ["Key posts vacant", "Closed one", "Other result"],
            "rating": ["high", "critical", "high"],
            "is_open": [True, False, True],
        }
    )
    tests = pd.DataFrame(
        {
            "unit_code": ["AFR"] * 4,
            "assumption_id": ["AS1", "AS2", "AS3", "AS4"],
            "period": [Q, Q, "2026-Q2", Q],
            "kpi_id": [None, "K1", "K1", "K3"],
            "verdict": ["weakening", "holds", "broken", "broken"],
            "from_result": ["C1", "O1", "O1", "X"],
            "to_result": ["O1", "C1", "C1", "Y"],
            "statement": ["Staff stay", "Held", "Last quarter", "Demand is there"],
        }
    )
    why = kpi_reasons(p, None, stalls, risks, tests, Q)["why"].tolist()
    assert why[0] == SEPARATOR.join(
        ["Stalled link O1 → C1", "Risk R1 (high): Key posts vacant", "Assumption AS1 weakening: Staff stay"]
    )
    assert why[1] == ""  # on track: no reason asked
    assert why[2] == "Assumption AS4 broken: Demand is there"  # tested on the KPI itself


def test_without_any_reason_the_kpis_own_figures_and_other_units_never_mix():
    p = pd.DataFrame(
        {
            "unit_code": ["AFR", "EUR"],
            "kpi_id": ["K1", "K1"],
            "result_id": ["O1", "O1"],
            "status": ["off_track", "off_track"],
            "achievement": [0.25, None],
            "expected": [0.5, 0.5],
        }
    )
    risks = pd.DataFrame(
        {"unit_code": ["EUR"], "risk_id": ["R1"], "result_id": ["O1"], "title": ["t"], "rating": ["low"]}
    )
    why = kpi_reasons(p, risks=risks, quarter=Q)["why"].tolist()
    assert why == ["Achieved 25% of the target; 50% expected by now", "Risk R1 (low): t"]
    assert kpi_reasons(p.iloc[0:0])["why"].tolist() == []
