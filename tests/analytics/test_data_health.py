"""Data health per unit and quarter (docs/rules.md, "Data health"), on hand-computed cases."""

from __future__ import annotations

import pandas as pd
import pytest

from rbm_utils.analytics import data_health as dh
from rbm_utils.analytics.bureau import PUBLISHED_TABLES, analyse
from rbm_utils.core.config import load_config

Q = "2026-Q3"


def _state(**extra: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Unit U: 3 KPIs (quarterly K1, K2; annual K3), 2 outputs budgeted in 2026, 2 risks."""
    state = {
        "Unit": pd.DataFrame({"unit_code": ["U"], "quarter": [Q], "submission_id": [1]}),
        "KPIs": pd.DataFrame(
            {
                "unit_code": ["U"] * 3,
                "kpi_id": ["K1", "K2", "K3"],
                "frequency": ["quarterly", None, "annual"],
                "baseline_period": ["2025-Q1"] * 3,
            }
        ),
        "Actuals": pd.DataFrame(
            {
                "unit_code": ["U"] * 3,
                "kpi_id": ["K1", "K1", "K1"],
                "period": [Q, Q, "2026-Q2"],
                "value": [5.0, 2.0, 4.0],
                "disaggregation": ["", "sex=female", ""],
                "evidence": ["report.pdf", None, ""],
            }
        ),
        "Budget": pd.DataFrame(
            {
                "unit_code": ["U"] * 3,
                "result_id": ["O1", "O2", "O3"],
                "funding_source": ["RB"] * 3,
                "year": [2026, 2026, 2025],
                "amount": [100.0, 50.0, 80.0],
            }
        ),
        "Expenditure": pd.DataFrame({"unit_code": ["U"], "result_id": ["O1"], "period": [Q]}),
        "Risks": pd.DataFrame(
            {
                "unit_code": ["U"] * 2,
                "risk_id": ["R1", "R2"],
                "status": ["open", "open"],
                "review_on": ["2026-08-01", "2026-12-01"],
            }
        ),
    }
    state.update(extra)
    return state


def test_expected_against_arrived_by_hand() -> None:
    row = dh.data_health(_state(), Q).iloc[0]
    # K3 is annual (due in Q4 only): K1 and K2 are due, K1 has a total for Q3.
    assert (row["kpis_due"], row["kpis_reported"]) == (2, 1)
    # O1 and O2 are budgeted in 2026 (O3 in 2025); only O1 spent in Q3.
    assert (row["expenditure_expected"], row["expenditure_reported"]) == (2, 1)
    # R1's review fell on 2026-08-01, inside Q3, and is still set there: due, not done.
    assert (row["risk_reviews_due"], row["risk_reviews_done"]) == (1, 0)
    assert row["evidence_share"] == 1.0  # the one Q3 total has evidence; breakdowns do not count
    assert row["outliers"] == 0
    assert pd.isna(row["on_time"]) and row["submitted_at"] is None  # this Unit frame carries no time
    # (35*1/2 + 20*1/2 + 15*0 + 10*1 + 10*1) / (35+20+15+10+10) = 47.5/90
    assert row["score"] == pytest.approx(52.8)
    assert row["missing"] == "KPIs not reported: K2; expenditure not reported: O2; risk reviews overdue: R1"


def test_columns_are_the_published_contract() -> None:
    out = dh.data_health(_state(), Q)
    assert list(out.columns) == [
        "unit_code",
        "quarter",
        "kpis_due",
        "kpis_reported",
        "expenditure_expected",
        "expenditure_reported",
        "risk_reviews_due",
        "risk_reviews_done",
        "submitted_at",
        "on_time",
        "evidence_share",
        "outliers",
        "score",
        "missing",
    ]
    assert out["score"].dtype == "float64"
    assert PUBLISHED_TABLES["data_health"] == "data_health"


def test_a_rescheduled_review_is_done_and_a_closed_risk_too() -> None:
    before = _state()["Risks"].assign(review_on=["2026-08-01", "2026-09-15"])
    now = _state()["Risks"].assign(review_on=["2026-11-01", "2026-12-01"], status=["open", "closed"])
    row = dh.data_health(_state(Risks=now), Q, previous_state=_state(Risks=before)).iloc[0]
    assert (row["risk_reviews_due"], row["risk_reviews_done"]) == (2, 2)


def test_on_time_against_the_deadline_when_the_time_is_known() -> None:
    def at(first: str, latest: str | None = None) -> pd.Series:
        unit = _state()["Unit"].assign(first_received_at=[first], ingested_at=[latest or first])
        return dh.data_health(_state(Unit=unit), Q, report_due_days=20).iloc[0]

    assert bool(at("2026-10-20T23:59:00Z")["on_time"]) is True  # 30 Sep + 20 days
    late = at("2026-10-21T08:00:00Z")
    assert bool(late["on_time"]) is False and late["submitted_at"] == "2026-10-21T08:00:00Z"
    assert "submitted late (2026-10-21, due 2026-10-20)" in late["missing"]
    # the late part weighs 10: 47.5 / 100
    assert late["score"] == pytest.approx(47.5)
    # the worked example of docs/rules.md: on time on 12 Oct, a correction on 27 Oct does not make it late
    fixed = at("2026-10-12T09:00:00Z", "2026-10-27T15:00:00Z")
    assert bool(fixed["on_time"]) is True and fixed["submitted_at"] == "2026-10-12T09:00:00Z"
    assert fixed["score"] == pytest.approx(57.5)  # (47.5 + 10) / 100
    assert at("2026-10-27T15:00:00Z")["score"] == pytest.approx(47.5)


def test_a_longer_delay_setting_moves_the_deadline() -> None:
    unit = _state()["Unit"].assign(first_received_at=["2026-10-27T15:00:00Z"])
    assert bool(dh.data_health(_state(Unit=unit), Q, report_due_days=30).iloc[0]["on_time"]) is True
    assert bool(dh.data_health(_state(Unit=unit), Q, report_due_days=20).iloc[0]["on_time"]) is False


def test_a_unit_without_a_workbook_for_the_quarter_scores_zero_on_what_it_owed() -> None:
    unit = pd.DataFrame({"unit_code": ["U"], "quarter": ["2026-Q2"], "submission_id": [1]})
    actuals = _state()["Actuals"].iloc[2:]  # only Q2 values
    row = dh.data_health(_state(Unit=unit, Actuals=actuals, Expenditure=None), Q).iloc[0]
    assert bool(row["on_time"]) is False
    assert row["kpis_reported"] == 0 and row["expenditure_reported"] == 0
    assert pd.isna(row["evidence_share"])
    assert row["score"] == 0.0
    assert row["missing"].startswith("no workbook for 2026-Q3; KPIs not reported: K1, K2")


def test_outlier_uses_the_intake_rule_and_thresholds() -> None:
    periods = ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", Q]
    actuals = pd.DataFrame(
        {
            "unit_code": ["U"] * 5,
            "kpi_id": ["K1"] * 5,
            "period": periods,
            "value": [10.0, 11.0, 10.0, 12.0, 90.0],
            "disaggregation": [None] * 5,
            "evidence": ["x"] * 5,
        }
    )
    # median 11, MAD 1: z(90) = 0.6745 * 79 = 53.3 > 3.5
    row = dh.data_health(_state(Actuals=actuals), Q, {"outlier_z": 3.5, "outlier_min_points": 5}).iloc[0]
    assert row["outliers"] == 1
    assert row["missing"].endswith("outliers to check: K1")
    fewer = dh.data_health(_state(Actuals=actuals), Q, {"outlier_z": 3.5, "outlier_min_points": 6}).iloc[0]
    assert fewer["outliers"] == 0


def test_score_weights_sum_to_100_and_unknown_parts_are_left_out() -> None:
    assert sum(dh.WEIGHTS.values()) == 100
    assert dh.score({"kpis": 1.0, "on_time": None}) == 100.0
    assert dh.score({}) == 100.0
    assert dh.score(dict.fromkeys(dh.WEIGHTS, 0.0)) == 0.0


def test_semi_annual_and_annual_kpis_are_due_in_their_quarters() -> None:
    kpis = pd.DataFrame(
        {"kpi_id": ["S", "A"], "frequency": ["semi-annual", "annual"], "baseline_period": ["2025-Q1", "2025-Q1"]}
    )
    assert [dh.kpis_due(kpis, f"2026-Q{n}") for n in (1, 2, 3, 4)] == [[], ["S"], [], ["S", "A"]]


def test_analyse_gives_every_configured_unit_a_score() -> None:
    config = load_config()
    out = analyse({}, Q, config)["data_health"]
    assert sorted(out["unit_code"]) == sorted(config.units)
    assert out["score"].notna().all()


def test_input_is_not_mutated() -> None:
    state = _state()
    copies = {k: v.copy() for k, v in state.items()}
    dh.data_health(state, Q)
    for k, v in state.items():
        pd.testing.assert_frame_equal(v, copies[k])
