"""Scale-up: initiative scores, success thresholds, replicate candidates with reasons and partners."""

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
    activities = pd.DataFrame(
        [("AFR", "A1", "AFR-O1"), ("AFR", "A2", "AFR-O1"), ("ASP", "A3", "ASP-O1")],
        columns=["unit_code", "activity_id", "result_id"],
    )
    partners = pd.DataFrame(
        [
            ("AFR", "GSMA", "A1", "cash", 100.0),
            ("AFR", "GSMA", "A2", "in_kind", 50.0),
            ("AFR", "EU", "A1", "cash", 300.0),
            ("AFR", "Nobody", "A9", "cash", 999.0),  # no such activity
            ("ASP", "JICA", "A3", "cash", 10.0),
        ],
        columns=["unit_code", "partner", "activity_id", "contribution_type", "amount"],
    )
    return {
        "Results": schema.conform("Results", results, with_unit=True),
        "Actuals": schema.conform("Actuals", actuals, with_unit=True),
        "Activities": schema.conform("Activities", activities, with_unit=True),
        "Partners": schema.conform("Partners", partners, with_unit=True),
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


STRENGTH = (
    "AFR3 ranks 1 of 3 on cybersecurity (composite 0.84: mean achievement 135%, consistency 75%, "
    "evidence 67%, 1,000 per target achieved); a success: achievement >= 70% and consistency >= 60% "
    "over 3 quarters (at least 3); funded by EU (300); GSMA (150)"
)


def test_success_needs_achievement_consistency_and_quarters():
    s = initiative_scores(_state(), PROGRESS, MONEY, Q, SERIES, UNIT_TYPES).set_index("initiative")
    # AFR3: 1.35 >= 0.7, 3/4 >= 0.6, rated in 2026-Q1, Q2, Q3 (3 quarters)
    assert s.loc["AFR3", "n_quarters"] == 3 and s.loc["AFR3", "success"]
    assert s.loc["ARB1", "n_quarters"] == 2 and not s.loc["ARB1", "success"]  # consistency 1/2 < 0.6
    assert not s.loc["ASP2", "success"]  # 0.4 < 0.7 and off track
    t = initiative_scores(_state(), PROGRESS, MONEY, Q, SERIES, UNIT_TYPES, {"scaleup_min_quarters": 4})
    assert not t.set_index("initiative").loc["AFR3", "success"]


def test_replicate_candidates_with_reasons_and_partners():
    c = scaleup_candidates(_state(), PROGRESS, MONEY, Q, SERIES, unit_types=UNIT_TYPES)
    # AFR3 is best on cybersecurity; AFR is AFR3's own; ARB1 and ASP2 perform worse and fail the thresholds
    assert c["target_region"].tolist() == ["AMS", "ARB", "ASP", "CIS", "EUR"]
    assert set(c["initiative"]) == {"AFR3"}  # EUR1, alone on youth, is weak: no candidate
    by = c.set_index("target_region")
    assert by.loc["ASP", "partners"] == "EU (300); GSMA (150)" and by.loc["ASP", "n_quarters"] == 3
    assert by.loc["ASP", "situation"] == "off track" and by.loc["ASP", "target_initiatives"] == "ASP2"
    assert by.loc["ASP", "reasons"] == (
        STRENGTH + "; ASP's initiative(s) on cybersecurity are off track (ASP2: 1 of 2 KPIs off track)"
        "; ASP works on cybersecurity with JICA (10)"
    )
    # the target region's partners on the theme: JICA funds ASP-O1 (cybersecurity) through A3
    assert by.loc["ASP", "target_partners"] == "JICA (10)" and by.loc["ARB", "target_partners"] == ""
    assert by.loc["ARB", "situation"] == "performing worse"
    assert math.isclose(by.loc["ARB", "target_composite"], 0.54)
    assert by.loc["ARB", "reasons"] == (
        STRENGTH + "; ARB's initiative(s) on cybersecurity perform worse (ARB1: composite 0.54, below 0.84)"
        " and none is a success"
    )
    assert by.loc["CIS", "situation"] == "no initiative"
    assert by.loc["CIS", "reasons"] == STRENGTH + "; CIS has no initiative on cybersecurity"
    assert by.loc["AMS", "reasons"].endswith("AMS has no initiative on cybersecurity (no results from it in the data)")
    assert by.loc["EUR", "situation"] == "no initiative"


def test_a_region_with_a_successful_initiative_is_not_a_target():
    series = SERIES.assign(status=SERIES["status"].where(SERIES["kpi_id"] != "K5", "on_track"))
    th = {"scaleup_min_quarters": 2}  # ARB1: 0.9, 2 of 2 quarters on track: a success
    c = scaleup_candidates(_state(), PROGRESS, MONEY, Q, series, unit_types=UNIT_TYPES, thresholds=th)
    assert "ARB" not in set(c["target_region"]) and "ASP" in set(c["target_region"])


def test_a_weak_source_is_never_proposed_even_alone():
    # nobody reaches 140 % achievement: no source at all
    c = scaleup_candidates(
        _state(), PROGRESS, MONEY, Q, SERIES, unit_types=UNIT_TYPES, thresholds={"scaleup_min_achievement": 1.4}
    )
    assert c.empty
    # without quarterly statuses there is no evidence of consistency: no source
    assert scaleup_candidates(_state(), PROGRESS, MONEY, Q, None, unit_types=UNIT_TYPES).empty
    # EUR1 is alone on youth but fails: no youth candidate even with a low bar on consistency
    c = scaleup_candidates(
        _state(), PROGRESS, MONEY, Q, SERIES, unit_types=UNIT_TYPES, thresholds={"scaleup_min_consistency": 0.0}
    )
    assert "youth" not in set(c["theme"])


def test_the_best_successful_initiative_is_the_source_when_rank_1_is_weak():
    # ARB1 on track in both its quarters: consistency 1; composite 0.4*0.6 + 0.2*1 + 0.2*0.5 + 0.2*0.5 = 0.64
    series = SERIES.assign(status=SERIES["status"].where(SERIES["kpi_id"] != "K5", "on_track"))
    th = {"scaleup_min_consistency": 0.8, "scaleup_min_quarters": 2}  # AFR3 (consistency 0.75) fails
    c = scaleup_candidates(_state(), PROGRESS, MONEY, Q, series, unit_types=UNIT_TYPES, thresholds=th)
    assert set(c["initiative"]) == {"ARB1"}
    assert c["reasons"].iloc[0].startswith("ARB1 ranks 2 of 3 on cybersecurity (composite 0.64")
    # AFR's AFR3 performs better than ARB1 (0.84): AFR is no target; ASP2 (0.57) is worse
    assert c["target_region"].tolist() == ["AMS", "ASP", "CIS", "EUR"]
    assert c["partners"].tolist() == [""] * 4  # no partner funds ARB1's activities


def test_clusters_are_never_targets_and_empty_inputs():
    c = scaleup_candidates(_state(), PROGRESS, MONEY, Q, SERIES, unit_types=UNIT_TYPES)
    assert "CYB" not in set(c["target_region"])
    assert scaleup_candidates({}, PROGRESS, MONEY, Q, unit_types=UNIT_TYPES).empty
    # no KPI values at all: nothing ranked, nothing proposed
    s = initiative_scores(_state(), PROGRESS.iloc[0:0], MONEY, Q)
    assert s["rank"].isna().all()
    assert scaleup_candidates(_state(), PROGRESS.iloc[0:0], MONEY, Q, unit_types=UNIT_TYPES).empty


def test_partners_from_the_register_by_stage_and_initiative():
    """Source partners: signed or received only, for the initiative itself or its outputs; the
    target region's partners: any stage but declined, on the theme."""
    st = dict(_state())
    extra = pd.DataFrame(
        [
            ("AFR", "ITU-D donor", None, None, "AFR3", "agreement_signed", 70.0),  # funds the initiative itself
            ("AFR", "Prospect Co", "AFR-O1", None, None, "prospect", 500.0),  # not secured: not named
            ("ASP", "Bank", "ASP-O1", None, None, "pledged", 40.0),  # open: a partner of ASP on the theme
            ("ASP", "Gone", "ASP-O1", None, None, "declined", 80.0),  # declined: never named
        ],
        columns=["unit_code", "partner", "result_id", "activity_id", "initiative", "stage", "amount"],
    )
    st["Partners"] = schema.conform("Partners", pd.concat([st["Partners"], extra]), with_unit=True)
    c = scaleup_candidates(st, PROGRESS, MONEY, Q, SERIES, unit_types=UNIT_TYPES).set_index("target_region")
    assert c.loc["ASP", "partners"] == "EU (300); GSMA (150); ITU-D donor (70)"
    assert c.loc["ASP", "target_partners"] == "Bank (40); JICA (10)"
