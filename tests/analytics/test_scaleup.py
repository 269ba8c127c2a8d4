"""Scale-up: initiative scores and composite rank by theme, replicate candidates with reasons."""

from __future__ import annotations

import math

import pandas as pd

from rbm_utils.analytics.scaleup import initiative_scores, scaleup_candidates
from rbm_utils.core import schema

Q = "2026-Q3"
UNIT_TYPES = {
    "AFR": "region",
    "AMS": "region",
    "ARB": "region",
    "ASP": "region",
    "CIS": "region",
    "EUR": "region",
    "CYB": "cluster",
}


def _state() -> dict[str, pd.DataFrame]:
    results = pd.DataFrame(
        [
            ("AFR", "AFR-O1", "output", "AFR3", "cybersecurity"),
            ("ASP", "ASP-O1", "output", "ASP2", " Cybersecurity"),
            ("ARB", "ARB-O1", "output", "ARB1", "cybersecurity"),
            ("CIS", "CIS-O1", "output", "", "cybersecurity"),  # no initiative
            ("EUR", "EUR-O1", "output", "EUR1", "youth"),
        ],
        columns=["unit_code", "result_id", "level", "initiative", "theme"],
    )
    actuals = pd.DataFrame(
        [
            ("AFR", "K1", "2026-Q1", 1, "", "doc"),
            ("AFR", "K1", "2026-Q2", 1, "", "doc"),
            ("AFR", "K1", "2026-Q2", 1, "sex=female", None),  # a breakdown: not counted
            ("AFR", "K2", "2026-Q2", 1, "", None),
            ("AFR", "K2", "2026-Q4", 1, "", None),  # after the quarter: not counted
            ("ASP", "K3", "2026-Q3", 1, "", "doc"),
            ("ARB", "K5", "2026-Q2", 1, "", "doc"),
            ("ARB", "K5", "2026-Q3", 1, "", None),
        ],
        columns=["unit_code", "kpi_id", "period", "value", "disaggregation", "evidence"],
    )
    return {
        "Results": schema.conform("Results", results, with_unit=True),
        "Actuals": schema.conform("Actuals", actuals, with_unit=True),
    }


PROGRESS = pd.DataFrame(
    [
        ("AFR", "K1", "AFR-O1", 1.2, "on_track"),
        ("AFR", "K2", "AFR-O1", 2.0, "target_met"),
        ("ASP", "K3", "ASP-O1", 0.3, "off_track"),
        ("ASP", "K4", "ASP-O1", 0.5, "at_risk"),
        ("ARB", "K5", "ARB-O1", 0.9, "on_track"),
        ("EUR", "K6", "EUR-O1", 0.2, "off_track"),
    ],
    columns=["unit_code", "kpi_id", "result_id", "achievement", "status"],
)

MONEY = pd.DataFrame(
    [
        ("AFR", "AFR-O1", 2700.0),
        ("ASP", "ASP-O1", 800.0),
        ("ARB", "ARB-O1", 1800.0),
        ("EUR", "EUR-O1", 10.0),
    ],
    columns=["unit_code", "result_id", "spent_cumulative"],
)

SERIES = pd.DataFrame(
    [
        ("AFR", "K1", "2026-Q1", "on_track"),
        ("AFR", "K1", "2026-Q2", "at_risk"),
        ("AFR", "K1", "2026-Q3", "on_track"),
        ("AFR", "K1", "2025-Q4", "not_started"),
        ("AFR", "K2", "2026-Q3", "target_met"),
        ("AFR", "K2", "2026-Q4", "off_track"),  # after the quarter
        ("ASP", "K3", "2026-Q2", "off_track"),
        ("ASP", "K3", "2026-Q3", "off_track"),
        ("ASP", "K4", "2026-Q3", "on_track"),
        ("ARB", "K5", "2026-Q2", "on_track"),
        ("ARB", "K5", "2026-Q3", "off_track"),
    ],
    columns=["unit_code", "kpi_id", "period", "status"],
)


def test_initiative_scores_by_hand():
    s = initiative_scores(_state(), PROGRESS, MONEY, Q, SERIES, UNIT_TYPES).set_index("initiative")
    afr = s.loc["AFR3"]
    assert afr["theme"] == "cybersecurity" and afr["units"] == "AFR" and afr["regions"] == "AFR"
    assert math.isclose(afr["mean_achievement"], (1.2 + 1.5) / 2)  # 2.0 clipped to 1.5
    assert math.isclose(afr["cost_per_target"], 2700 / 2.7)
    assert math.isclose(afr["evidence_share"], 2 / 3)
    assert math.isclose(afr["consistency"], 3 / 4)
    assert math.isclose(afr["composite"], 0.4 * 0.9 + 0.2 * 0.75 + 0.2 * (2 / 3) + 0.2 * 1.0)
    asp = s.loc["ASP2"]
    assert asp["theme"] == "cybersecurity"  # " Cybersecurity" is the same theme
    assert asp["off_track"] and (asp["n_off_track"], asp["n_kpis_rated"]) == (1, 2)
    assert math.isclose(asp["composite"], 0.4 * (0.4 / 1.5) + 0.2 * (1 / 3) + 0.2 * 1.0 + 0.2 * 1.0)
    arb = s.loc["ARB1"]
    assert math.isclose(arb["cost_score"], 0.5) and not arb["off_track"]
    assert math.isclose(arb["composite"], 0.4 * 0.6 + 0.2 * 0.5 + 0.2 * 0.5 + 0.2 * 0.5)
    assert (s.loc["AFR3", "rank"], s.loc["ASP2", "rank"], s.loc["ARB1", "rank"]) == (1, 2, 3)
    assert s.loc["AFR3", "n_in_theme"] == 3
    assert s.loc["EUR1", "rank"] == 1 and s.loc["EUR1", "n_in_theme"] == 1


def test_composite_without_series_renormalises_weights():
    s = initiative_scores(_state(), PROGRESS, MONEY, Q, None, UNIT_TYPES).set_index("initiative")
    assert pd.isna(s.loc["AFR3", "consistency"])
    assert math.isclose(s.loc["AFR3", "composite"], (0.4 * 0.9 + 0.2 * (2 / 3) + 0.2 * 1.0) / 0.8)


def test_money_spent_with_nothing_achieved_scores_zero_on_cost():
    progress = PROGRESS.assign(achievement=PROGRESS["achievement"].where(PROGRESS["kpi_id"] != "K5", 0.0))
    s = initiative_scores(_state(), progress, MONEY, Q, SERIES, UNIT_TYPES).set_index("initiative")
    assert math.isinf(s.loc["ARB1", "cost_per_target"]) and s.loc["ARB1", "cost_score"] == 0.0


def test_replicate_candidates_with_reasons():
    c = scaleup_candidates(_state(), PROGRESS, MONEY, Q, SERIES, unit_types=UNIT_TYPES)
    # AFR3 is best on cybersecurity; ARB runs an initiative that is not off track; AFR is AFR3's own
    assert c["target_region"].tolist() == ["AMS", "ASP", "CIS", "EUR"]
    assert set(c["initiative"]) == {"AFR3"}  # EUR1, best on youth, is off track itself: no candidate
    by = c.set_index("target_region")
    strength = (
        "AFR3 ranks 1 of 3 on cybersecurity (composite 0.84: mean achievement 135%, consistency 75%, "
        "evidence 67%, 1,000 per target achieved)"
    )
    assert by.loc["ASP", "situation"] == "off track" and by.loc["ASP", "target_initiatives"] == "ASP2"
    assert by.loc["ASP", "reasons"] == (
        strength + "; ASP's initiative(s) on cybersecurity are off track (ASP2: 1 of 2 KPIs off track)"
    )
    assert by.loc["CIS", "situation"] == "no initiative"
    assert by.loc["CIS", "reasons"] == strength + "; CIS has no initiative on cybersecurity"
    assert by.loc["AMS", "reasons"].endswith("AMS has no initiative on cybersecurity (no results from it in the data)")
    assert by.loc["EUR", "situation"] == "no initiative"


def test_a_region_with_a_working_initiative_is_not_a_candidate():
    progress = PROGRESS.assign(status=PROGRESS["status"].where(PROGRESS["kpi_id"] != "K3", "at_risk"))
    c = scaleup_candidates(_state(), progress, MONEY, Q, SERIES, unit_types=UNIT_TYPES)
    assert "ASP" not in set(c["target_region"])


def test_clusters_are_never_targets_and_empty_inputs():
    c = scaleup_candidates(_state(), PROGRESS, MONEY, Q, SERIES, unit_types=UNIT_TYPES)
    assert "CYB" not in set(c["target_region"])
    assert scaleup_candidates({}, PROGRESS, MONEY, Q, unit_types=UNIT_TYPES).empty
    # no KPI values at all: nothing ranked, nothing proposed
    s = initiative_scores(_state(), PROGRESS.iloc[0:0], MONEY, Q)
    assert s["rank"].isna().all()
    assert scaleup_candidates(_state(), PROGRESS.iloc[0:0], MONEY, Q, unit_types=UNIT_TYPES).empty
