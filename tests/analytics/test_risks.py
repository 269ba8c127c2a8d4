"""Risk register rules: score, rating boundaries, trend, overdue reviews, heat map, red flags."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from rbm_utils.analytics.risks import (
    bureau_risks,
    rate,
    red_flag_rules,
    red_flag_share,
    red_flags,
    risk_heatmap,
    risk_register,
)
from rbm_utils.core import schema
from rbm_utils.core.quarters import Quarter


def _risks(rows: list[dict]) -> dict[str, pd.DataFrame]:
    base = {"unit_code": "AFR", "category": "Operational", "owner": "Ana", "status": "open"}
    return {"Risks": schema.conform("Risks", pd.DataFrame([{**base, **r} for r in rows]), with_unit=True)}


def _by_id(reg: pd.DataFrame) -> pd.DataFrame:
    return reg.set_index("risk_id")


def test_quarter_end_dates():
    # the end date the register and the work programme use (Quarter.end)
    assert Quarter.parse("2026-Q1").end == dt.date(2026, 3, 31)
    assert Quarter.parse("2026-Q2").end == dt.date(2026, 6, 30)
    assert Quarter.parse("2026-Q4").end == dt.date(2026, 12, 31)


def test_rating_boundaries():
    assert rate(pd.Series([1, 9, 10, 14, 15, 19, 20, 25])).tolist() == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]
    # thresholds are configurable
    assert rate(pd.Series([12]), {"risk_medium": 13}).tolist() == ["low"]


def test_score_and_rating_boundaries_in_register():
    state = _risks(
        [
            {"risk_id": "R12", "likelihood": 3, "impact": 4, "title": "x"},  # 14 cannot occur with 1-5 scales
            {"risk_id": "R15", "likelihood": 3, "impact": 5, "title": "x"},
            {"risk_id": "R20", "likelihood": 4, "impact": 5, "title": "x"},
            {"risk_id": "R9", "likelihood": 3, "impact": 3, "title": "x"},
            {"risk_id": "R10", "likelihood": 2, "impact": 5, "title": "x"},
        ]
    )
    reg = _by_id(risk_register(state, "2026-Q3"))
    assert reg.loc["R12", "score"] == 12 and reg.loc["R12", "rating"] == "medium"
    assert reg.loc["R15", "score"] == 15 and reg.loc["R15", "rating"] == "high"
    assert reg.loc["R20", "score"] == 20 and reg.loc["R20", "rating"] == "critical"
    assert reg.loc["R9", "rating"] == "low"
    assert reg.loc["R10", "rating"] == "medium"
    # sorted by score, highest first
    assert risk_register(state, "2026-Q3")["risk_id"].tolist() == ["R20", "R15", "R12", "R10", "R9"]


def test_register_does_not_mutate_input():
    state = _risks([{"risk_id": "R1", "likelihood": 3, "impact": 3, "title": "x"}])
    before = state["Risks"].copy()
    risk_register(state, "2026-Q3", previous_state=state)
    pd.testing.assert_frame_equal(state["Risks"], before)


def test_review_overdue_against_quarter_end_and_today():
    state = _risks(
        [
            {"risk_id": "A", "likelihood": 1, "impact": 1, "review_on": "2026-09-29"},  # before 30 Sep
            {"risk_id": "B", "likelihood": 1, "impact": 1, "review_on": "2026-09-30"},  # the end date itself
            {"risk_id": "C", "likelihood": 1, "impact": 1, "review_on": "2026-01-01", "status": "closed"},
            {"risk_id": "D", "likelihood": 1, "impact": 1, "review_on": None},
            {"risk_id": "E", "likelihood": 1, "impact": 1, "review_on": "2026-08-31", "status": "monitoring"},
        ]
    )
    reg = _by_id(risk_register(state, "2026-Q3"))
    assert reg["review_overdue"].to_dict() == {"A": True, "B": False, "C": False, "D": False, "E": True}
    assert reg.loc["A", "days_overdue"] == 1
    assert reg.loc["E", "days_overdue"] == 30
    assert reg.loc[["B", "C", "D"], "days_overdue"].tolist() == [0, 0, 0]  # not late: 0
    # with today given, it replaces the end of the quarter
    reg2 = _by_id(risk_register(state, "2026-Q3", today="2026-09-01"))
    assert reg2["review_overdue"].to_dict() == {"A": False, "B": False, "C": False, "D": False, "E": True}
    assert reg2.loc["E", "days_overdue"] == 1


def test_trend_against_previous_quarter():
    prev = _risks(
        [
            {"risk_id": "UP", "likelihood": 2, "impact": 3},
            {"risk_id": "DOWN", "likelihood": 4, "impact": 4},
            {"risk_id": "SAME", "likelihood": 2, "impact": 2},
            {"risk_id": "CLOSING", "likelihood": 2, "impact": 2},
            {"risk_id": "REOPEN", "likelihood": 2, "impact": 2, "status": "closed"},
        ]
    )
    cur = _risks(
        [
            {"risk_id": "UP", "likelihood": 3, "impact": 3},
            {"risk_id": "DOWN", "likelihood": 3, "impact": 4},
            {"risk_id": "SAME", "likelihood": 1, "impact": 4},  # 4 == 4
            {"risk_id": "CLOSING", "likelihood": 2, "impact": 2, "status": "closed"},
            {"risk_id": "REOPEN", "likelihood": 2, "impact": 2},
            {"risk_id": "NEW", "likelihood": 1, "impact": 1},
        ]
    )
    reg = _by_id(risk_register(cur, "2026-Q3", previous_state=prev))
    assert reg["trend"].to_dict() == {
        "UP": "up",
        "DOWN": "down",
        "SAME": "same",
        "CLOSING": "closed",
        "REOPEN": "new",
        "NEW": "new",
    }
    assert reg.loc["UP", "previous_score"] == 6
    assert reg.loc["CLOSING", "previous_status"] == "open"
    assert reg.loc["NEW", "previous_status"] is None
    # without a previous state everything not closed is new
    assert set(risk_register(cur, "2026-Q3")["trend"]) == {"new", "closed"}


def test_trend_matches_on_unit_as_well_as_risk_id():
    prev = _risks([{"risk_id": "R1", "likelihood": 5, "impact": 5, "unit_code": "ASP"}])
    cur = _risks([{"risk_id": "R1", "likelihood": 1, "impact": 1}])
    assert risk_register(cur, "2026-Q3", previous_state=prev)["trend"].tolist() == ["new"]


def test_heatmap_counts_open_risks_only():
    state = _risks(
        [
            {"risk_id": "A", "likelihood": 3, "impact": 5},
            {"risk_id": "B", "likelihood": 3, "impact": 5, "status": "monitoring"},
            {"risk_id": "C", "likelihood": 3, "impact": 5, "status": "closed"},
            {"risk_id": "D", "likelihood": 1, "impact": 2},
        ]
    )
    hm = risk_heatmap(risk_register(state, "2026-Q3"))
    assert len(hm) == 25
    cell = hm[(hm["likelihood"] == 3) & (hm["impact"] == 5)].iloc[0]
    assert cell["n_risks"] == 2 and cell["score"] == 15 and cell["rating"] == "high"
    assert hm["n_risks"].sum() == 3
    assert hm[(hm["likelihood"] == 5) & (hm["impact"] == 4)]["rating"].item() == "critical"


def _flag_register() -> pd.DataFrame:
    """A small register, hand-computed: 2026-Q3 ends 30 Sep; progress has AFR-O1 off track."""
    m = {"mitigation": "Plan B"}
    prev = _risks(
        [
            {"risk_id": "WORSE", "likelihood": 3, "impact": 4, **m},  # 12 -> 16: up
            {"risk_id": "STEADY", "likelihood": 4, "impact": 4, **m},  # 16 -> 16: same
            {"risk_id": "MEDUP", "likelihood": 2, "impact": 3, **m},  # 6 -> 12: up, but only medium
        ]
    )
    cur = _risks(
        [
            {"risk_id": "CRIT", "likelihood": 4, "impact": 5, "result_id": "AFR-O1", "review_on": "2027-01-01", **m},
            {"risk_id": "WORSE", "likelihood": 4, "impact": 4, "review_on": "2027-01-01", **m},
            {"risk_id": "STEADY", "likelihood": 4, "impact": 4, "review_on": "2027-01-01", **m},
            {"risk_id": "MEDUP", "likelihood": 3, "impact": 4, "review_on": "2027-01-01", **m},
            {"risk_id": "OFF", "likelihood": 3, "impact": 5, "result_id": "AFR-O1", "review_on": "2027-01-01", **m},
            {"risk_id": "OFFMED", "likelihood": 2, "impact": 5, "result_id": "AFR-O1", "review_on": "2027-01-01", **m},
            {"risk_id": "BARE", "likelihood": 5, "impact": 3, "review_on": "2027-01-01"},
            {"risk_id": "LATE", "likelihood": 3, "impact": 5, "review_on": "2026-08-01", **m},  # 60 days
            {"risk_id": "LATE30", "likelihood": 3, "impact": 5, "review_on": "2026-08-31", **m},  # 30 days
            {"risk_id": "LOWLATE", "likelihood": 1, "impact": 2, "review_on": "2026-01-01"},
            {"risk_id": "GONE", "likelihood": 5, "impact": 5, "status": "closed", "result_id": "AFR-O1"},
        ]
    )
    return risk_register(cur, "2026-Q3", previous_state=prev)


_PROGRESS = pd.DataFrame(
    {
        "unit_code": ["AFR", "AFR", "AFR", "ASP"],
        "kpi_id": ["K2", "K1", "K3", "K9"],
        "result_id": ["AFR-O1", "AFR-O1", "AFR-O2", "AFR-O2"],
        "status": ["off_track", "off_track", "on_track", "off_track"],
    }
)


def test_red_flags_one_rule_each_hand_computed():
    flags = red_flags(_flag_register(), _PROGRESS).set_index("risk_id")
    # highest score first; STEADY (16, same score, mitigated, reviewed), MEDUP and OFFMED (medium),
    # LATE30 (exactly 30 days: not more), LOWLATE (low) and GONE (closed) stay with the unit
    assert list(flags.index) == ["CRIT", "WORSE", "BARE", "LATE", "OFF"]
    assert flags["rule"].to_dict() == {
        "CRIT": "critical",
        "WORSE": "worsening",
        "BARE": "no_mitigation",
        "LATE": "review_overdue",
        "OFF": "off_track_result",
    }
    assert flags.loc["CRIT", "reasons"] == (
        "critical risk: score 20 = likelihood 4 x impact 5 (>= 20); threatens AFR-O1, whose KPIs are off track: K1, K2"
    )
    assert flags.loc["CRIT", "n_reasons"] == 2 and flags.loc["CRIT", "rules"] == "critical, off_track_result"
    assert flags["rules"].drop("CRIT").tolist() == flags["rule"].drop("CRIT").tolist()  # one rule each
    assert flags["days_overdue"].to_dict() == {"CRIT": 0, "WORSE": 0, "BARE": 0, "LATE": 60, "OFF": 0}
    assert flags.loc["CRIT", "asks"].startswith("Bureau decision: accept this critical risk")
    assert "AFR-O1" in flags.loc["CRIT", "asks"]
    assert flags.loc["WORSE", "reasons"] == (
        "worsening: score 16 = likelihood 4 x impact 4 (>= 15), up from 12 last quarter"
    )
    assert flags.loc["OFF", "reasons"] == "threatens AFR-O1, whose KPIs are off track: K1, K2"
    assert flags.loc["BARE", "reasons"] == "no mitigation for a risk scoring 15 (>= 15)"
    assert flags.loc["LATE", "reasons"] == "review overdue: due 2026-08-01, 60 days late at the quarter's end (> 30)"
    assert flags.loc["LATE", "mitigation"] == "Plan B" and flags.loc["BARE", "mitigation"] in ("", None)
    assert flags.loc["CRIT", "owner"] == "Ana"
    assert all(flags["asks"].str.startswith("Bureau decision: "))


def test_red_flag_thresholds_come_from_the_settings():
    reg = _flag_register()
    # without progress the off-track rule cannot fire
    assert "OFF" not in set(red_flags(reg)["risk_id"])
    # lowering the floor brings the medium risks in: MEDUP worsening, OFFMED on the off-track result
    low = red_flags(reg, _PROGRESS, {"escalate_high": 10}).set_index("risk_id")
    assert low.loc["MEDUP", "rule"] == "worsening" and low.loc["OFFMED", "rule"] == "off_track_result"
    # a shorter grace period catches LATE30; a higher critical bar demotes CRIT to its other rule
    assert "LATE30" in set(red_flags(reg, _PROGRESS, {"escalate_overdue_days": 29})["risk_id"])
    crit = red_flags(reg, _PROGRESS, {"escalate_critical": 25}).set_index("risk_id")
    assert crit.loc["CRIT", "rule"] == "off_track_result"


def test_red_flag_share():
    reg = _flag_register()
    flags = red_flags(reg, _PROGRESS)
    assert red_flag_share(reg, flags) == 5 / 10  # GONE is closed: 10 open risks
    assert pd.isna(red_flag_share(risk_register({}, "2026-Q3"), flags.iloc[:0]))
    # every rule that fired counts, CRIT under critical and off_track_result
    assert red_flag_rules(flags) == {
        "critical": 1,
        "worsening": 1,
        "off_track_result": 2,
        "no_mitigation": 1,
        "review_overdue": 1,
    }
    assert red_flag_rules(flags.iloc[:0]) == {}


def test_bureau_risks_aggregates_by_unit_and_category():
    state = _risks(
        [
            {"risk_id": "A", "likelihood": 4, "impact": 5, "category": "Financial"},
            {"risk_id": "B", "likelihood": 3, "impact": 5, "category": "Financial"},
            {"risk_id": "C", "likelihood": 5, "impact": 5, "category": "Financial", "status": "closed"},
            {"risk_id": "D", "likelihood": 1, "impact": 2, "category": "Political"},
            {"risk_id": "E", "likelihood": 2, "impact": 5, "category": "Political", "unit_code": "ASP"},
        ]
    )
    b = bureau_risks(risk_register(state, "2026-Q3")).set_index(["unit_code", "category"])
    fin = b.loc[("AFR", "Financial")]
    assert (fin["n_risks"], fin["n_open"], fin["n_closed"]) == (3, 2, 1)
    assert (fin["low"], fin["medium"], fin["high"], fin["critical"]) == (0, 0, 1, 1)
    assert fin["max_score"] == 20  # the closed 25 does not count
    assert b.loc[("AFR", "Political"), "low"] == 1
    assert b.loc[("ASP", "Political"), "medium"] == 1
    assert len(b) == 3


def test_empty_inputs():
    reg = risk_register({}, "2026-Q3")
    assert reg.empty and list(reg.columns)[:3] == ["unit_code", "risk_id", "category"]
    assert red_flags(reg, None).empty
    assert bureau_risks(reg).empty
    assert len(risk_heatmap(reg)) == 25
