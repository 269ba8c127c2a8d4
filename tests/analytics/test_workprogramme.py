"""Work programme rules: counts, the three delay rules with their boundaries, partners."""

from __future__ import annotations

import math

import pandas as pd

from rbm_utils.analytics.workprogramme import activities_summary, delayed_activities, partners_summary
from rbm_utils.core import schema


def _acts(rows: list[dict]) -> pd.DataFrame:
    base = {"unit_code": "AFR", "result_id": "AFR-O1", "title": "t", "type": "project", "status": "ongoing"}
    return schema.conform("Activities", pd.DataFrame([{**base, **r} for r in rows]), with_unit=True)


STATE = {
    "Activities": _acts(
        [
            {"activity_id": "A1", "status": "delayed", "title": "Marked late"},
            {"activity_id": "A2", "planned_start": "2026-01-01", "planned_end": "2026-06-30", "percent_complete": 90},
            {"activity_id": "A3", "status": "completed", "planned_end": "2026-03-31", "percent_complete": 100},
            {"activity_id": "A4", "status": "cancelled", "planned_end": "2026-03-31"},
            # 50 of 100 planned days elapsed at 30 Sep: planned share 50 %
            {"activity_id": "A5", "planned_start": "2026-08-11", "planned_end": "2026-11-19", "percent_complete": 25},
            {"activity_id": "A6", "planned_start": "2026-08-11", "planned_end": "2026-11-19", "percent_complete": 24},
            {"activity_id": "A7", "planned_start": "2026-01-01", "planned_end": "2026-09-30"},
            {
                "activity_id": "A8",
                "status": "planned",
                "planned_start": "2026-10-01",
                "planned_end": "2027-03-31",
                "percent_complete": 0,
                "type": "regional_initiative",
            },
        ]
    )
}


def test_delay_rules_and_reasons():
    d = delayed_activities(STATE, "2026-Q3").set_index("activity_id")
    assert list(d.index) == ["A1", "A2", "A6"]
    assert d.loc["A1", "reasons"] == "status is delayed"
    assert d.loc["A2", "reasons"] == (
        "planned end 2026-06-30 has passed (92 days before the end of 2026-Q3) and it is not completed"
    )
    assert d.loc["A2", "days_overdue"] == 92
    assert d.loc["A2", "planned_percent"] == 100.0  # clipped
    assert d.loc["A6", "reasons"] == "24% complete while 50% of the planned time has elapsed (26 points behind)"
    assert math.isclose(d.loc["A6", "planned_percent"], 50.0)
    assert math.isclose(d.loc["A6", "lag_points"], 26.0)


def test_lag_boundary_exactly_25_points_is_not_delayed():
    d = delayed_activities(STATE, "2026-Q3")
    assert "A5" not in set(d["activity_id"])
    # a looser rule (20 points) catches it
    assert "A5" in set(delayed_activities(STATE, "2026-Q3", {"activity_lag_points": 20})["activity_id"])


def test_planned_end_on_the_last_day_of_the_quarter_is_not_late_yet():
    d = delayed_activities(STATE, "2026-Q3")
    assert "A7" not in set(d["activity_id"])
    # one quarter later it is, and it is 92 days late
    d4 = delayed_activities(STATE, "2026-Q4").set_index("activity_id")
    assert d4.loc["A7", "days_overdue"] == 92


def test_several_reasons_are_joined():
    st = {
        "Activities": _acts(
            [
                {
                    "activity_id": "X",
                    "status": "delayed",
                    "planned_start": "2026-01-01",
                    "planned_end": "2026-03-31",
                    "percent_complete": 10,
                }
            ]
        )
    }
    d = delayed_activities(st, "2026-Q3")
    assert d.loc[0, "reasons"].split("; ") == [
        "status is delayed",
        "planned end 2026-03-31 has passed (183 days before the end of 2026-Q3) and it is not completed",
        "10% complete while 100% of the planned time has elapsed (90 points behind)",
    ]


def test_activities_summary_counts():
    s = activities_summary(STATE).set_index(["unit_code", "type"])
    proj = s.loc[("AFR", "project")]
    assert (proj["planned"], proj["ongoing"], proj["completed"], proj["delayed"], proj["cancelled"]) == (0, 4, 1, 1, 1)
    assert proj["n_activities"] == 7
    # mean of 90, 100, 25, 24 (blank cells ignored)
    assert math.isclose(proj["mean_percent_complete"], (90 + 100 + 25 + 24) / 4)
    ri = s.loc[("AFR", "regional_initiative")]
    assert (ri["planned"], ri["n_activities"]) == (1, 1)


def test_partners_summary():
    partners = schema.conform(
        "Partners",
        pd.DataFrame(
            [
                {
                    "unit_code": "AFR",
                    "partner": "GSMA",
                    "partner_type": "private",
                    "activity_id": "A1",
                    "contribution_type": "cash",
                    "amount": 1000,
                },
                {
                    "unit_code": "AFR",
                    "partner": "gsma",
                    "partner_type": "private",
                    "activity_id": "A2",
                    "contribution_type": "in-kind",
                    "amount": 250,
                },
                {
                    "unit_code": "AFR",
                    "partner": "Telco",
                    "partner_type": "private",
                    "activity_id": "A2",
                    "contribution_type": "cash",
                    "amount": 50,
                },
                {
                    "unit_code": "AFR",
                    "partner": "Uni",
                    "partner_type": None,
                    "activity_id": "A2",
                    "contribution_type": "in-kind",
                    "amount": 10,
                },
            ]
        ),
        with_unit=True,
    )
    p = partners_summary({"Partners": partners}).set_index(["unit_code", "partner_type"])
    priv = p.loc[("AFR", "private")]
    assert (priv["cash"], priv["in_kind"], priv["total"]) == (1050.0, 250.0, 1300.0)
    assert (priv["n_partners"], priv["n_contributions"]) == (2, 3)
    assert p.loc[("AFR", "unspecified"), "in_kind"] == 10.0


def test_inputs_not_mutated_and_empty_state():
    before = STATE["Activities"].copy()
    delayed_activities(STATE, "2026-Q3")
    activities_summary(STATE)
    pd.testing.assert_frame_equal(STATE["Activities"], before)
    assert delayed_activities({}, "2026-Q3").empty
    assert activities_summary({}).empty
    assert partners_summary({}).empty
