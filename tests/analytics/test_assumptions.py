"""Assumption tests: every test type, the threshold and margin boundaries, untested cases,
quarter-on-quarter changes and the learning log."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rbm_utils.analytics.assumptions import (
    assumption_changes,
    assumption_tests,
    fmt,
    learning_log,
    threshold_verdicts,
)
from rbm_utils.core import schema

Q = "2026-Q3"


def _assumptions(rows: list[dict], unit: str = "AFR") -> pd.DataFrame:
    base = {"unit_code": unit, "from_result": "R1", "to_result": "R2", "statement": "s"}
    return schema.conform("Assumptions", pd.DataFrame([{**base, **r} for r in rows]), with_unit=True)


def _series(rows: list[tuple]) -> pd.DataFrame:
    """rows: (kpi_id, period, reported, current, achievement); unit AFR."""
    df = pd.DataFrame(rows, columns=["kpi_id", "period", "reported", "current", "achievement"])
    return df.assign(unit_code="AFR")


def _verdicts(t: pd.DataFrame, aid: str) -> dict[str, str]:
    sub = t[t["assumption_id"] == aid]
    return dict(zip(sub["period"], sub["verdict"]))


SERIES = _series(
    [
        # K1 people trained (cumulative), K2 workshops (cumulative); baseline 2025-Q4 not reported
        ("K1", "2025-Q4", False, 0.0, 0.0),
        ("K1", "2026-Q1", True, 100.0, 0.25),
        ("K1", "2026-Q2", True, 160.0, 0.4),
        ("K1", "2026-Q3", True, 200.0, 0.5),
        ("K2", "2025-Q4", False, 0.0, 0.0),
        ("K2", "2026-Q1", True, 3.0, 0.3),
        ("K2", "2026-Q2", True, 5.0, 0.5),
        ("K2", "2026-Q3", True, 7.0, 0.7),
        # K3 reported once, in Q1, then carried
        ("K3", "2026-Q1", True, 50.0, 0.5),
        ("K3", "2026-Q2", False, 50.0, 0.5),
        ("K3", "2026-Q3", False, 50.0, 0.5),
        # K0 is 0 in Q3
        ("K0", "2026-Q3", True, 0.0, 0.0),
        # K9 never reported
        ("K9", "2026-Q2", False, 0.0, 0.0),
        ("K9", "2026-Q3", False, 0.0, 0.0),
    ]
)


def test_threshold_verdict_boundaries():
    # T = 10, margin 10 %: below 10 broken, 10 (threshold exactly met) up to 11 weakening, 11 holds
    assert threshold_verdicts([9.999, 10, 10.999, 11, 12], [10] * 5).tolist() == [
        "broken",
        "weakening",
        "weakening",
        "holds",
        "holds",
    ]
    # 3 + 10 % = 3.3000000000000003 in floating point: 3.3 still holds
    assert threshold_verdicts([3.3], [3]).tolist() == ["holds"]
    # a negative threshold: the margin is 10 % of |T| above T
    assert threshold_verdicts([-10, -9.5, -9], [-10] * 3).tolist() == ["weakening", "weakening", "holds"]
    assert threshold_verdicts([np.nan, 1], [1, np.nan]).tolist() == ["untested", "untested"]
    assert threshold_verdicts([10.5], [10], margin=0.0).tolist() == ["holds"]


def test_min_ratio_quarter_by_quarter():
    st = {
        "Assumptions": _assumptions(
            [{"assumption_id": "AS1", "test": "min_ratio", "kpi_id": "K1", "reference_kpi_id": "K2", "threshold": 30}]
        )
    }
    t = assumption_tests(st, Q, SERIES)
    assert list(t.columns) == [
        "unit_code",
        "assumption_id",
        "period",
        "test",
        "kpi_id",
        "reference_kpi_id",
        "observed",
        "threshold",
        "verdict",
        "explanation",
        "from_result",
        "to_result",
        "statement",
    ]
    # first reported quarter of K1 is 2026-Q1: 100/3 = 33.3 holds, 160/5 = 32 weakening, 200/7 = 28.6 broken
    assert _verdicts(t, "AS1") == {"2026-Q1": "holds", "2026-Q2": "weakening", "2026-Q3": "broken"}
    assert math.isclose(t["observed"].iloc[0], 100 / 3)
    assert t["explanation"].tolist() == [
        "K1 / K2 = 100 / 3 = 33.33 at 2026-Q1; at least the threshold 30 plus the 10% margin (33): holds",
        "K1 / K2 = 160 / 5 = 32 at 2026-Q2; meets the threshold 30 but by less than the 10% margin (below 33): weakening",
        "K1 / K2 = 200 / 7 = 28.57 at 2026-Q3; below the threshold 30: broken",
    ]
    assert t["statement"].tolist() == ["s"] * 3


def test_min_value_threshold_exactly_met_and_margin_boundary():
    st = {
        "Assumptions": _assumptions(
            [
                {"assumption_id": "AT", "test": "min_value", "kpi_id": "K1", "threshold": 160},  # Q2 exactly 160
                {
                    "assumption_id": "AM",
                    "test": "min_value",
                    "kpi_id": "K1",
                    "threshold": 200 / 1.1,
                },  # Q3 200 = T + 10 %
            ]
        )
    }
    t = assumption_tests(st, Q, SERIES)
    assert _verdicts(t, "AT") == {"2026-Q1": "broken", "2026-Q2": "weakening", "2026-Q3": "holds"}
    assert _verdicts(t, "AM")["2026-Q3"] == "holds"


def test_min_achievement():
    st = {
        "Assumptions": _assumptions(
            [{"assumption_id": "AA", "test": "min_achievement", "kpi_id": "K2", "threshold": 0.5}]
        )
    }
    t = assumption_tests(st, Q, SERIES)
    # 0.3 broken, 0.5 = threshold weakening, 0.7 >= 0.55 holds
    assert _verdicts(t, "AA") == {"2026-Q1": "broken", "2026-Q2": "weakening", "2026-Q3": "holds"}
    assert t["explanation"].iloc[2] == (
        "achievement of K2 = 0.7 (70%) at 2026-Q3; at least the threshold 0.5 plus the 10% margin (0.55): holds"
    )


def test_untested_when_data_is_missing_or_stale():
    st = {
        "Assumptions": _assumptions(
            [
                {"assumption_id": "STALE", "test": "min_value", "kpi_id": "K3", "threshold": 10},
                {
                    "assumption_id": "ZERO",
                    "test": "min_ratio",
                    "kpi_id": "K1",
                    "reference_kpi_id": "K0",
                    "threshold": 1,
                },
                {"assumption_id": "NEVER", "test": "min_value", "kpi_id": "K9", "threshold": 1},
                {"assumption_id": "NOKPI", "test": "min_value", "kpi_id": "KX", "threshold": 1},
                {"assumption_id": "NOREF", "test": "min_ratio", "kpi_id": "K1", "threshold": 1},
                {"assumption_id": "NOTHR", "test": "min_value", "kpi_id": "K1"},
            ]
        )
    }
    t = assumption_tests(st, Q, SERIES)
    # K3 reported in Q1 only: Q2 still within the 2-quarter window, Q3 is not
    assert _verdicts(t, "STALE") == {"2026-Q1": "holds", "2026-Q2": "holds", "2026-Q3": "untested"}
    stale = t[(t["assumption_id"] == "STALE") & (t["period"] == Q)]["explanation"].item()
    assert stale == "no report of K3 in the 2 quarters up to 2026-Q3"
    # the ratio's reference K0 exists only in Q3 (and is 0): Q1, Q2 untested for lack of K0, Q3 undefined
    zero = t[t["assumption_id"] == "ZERO"].set_index("period")
    assert set(zero["verdict"]) == {"untested"}
    assert zero.loc["2026-Q1", "explanation"] == "no report of K0 in the 2 quarters up to 2026-Q1"
    assert zero.loc[Q, "explanation"] == "K0 is 0 at 2026-Q3: the ratio K1 / K0 is undefined"
    one_row = t[t["assumption_id"].isin(["NEVER", "NOKPI", "NOREF", "NOTHR"])].set_index("assumption_id")
    assert (one_row["period"] == Q).all() and (one_row["verdict"] == "untested").all()
    assert one_row.loc["NEVER", "explanation"] == "no value of K9 reported up to 2026-Q3"
    assert one_row.loc["NOREF", "explanation"] == "incomplete test: no reference_kpi_id"
    assert one_row.loc["NOTHR", "explanation"] == "incomplete test: no threshold"
    # no series at all: everything untested at the quarter
    t0 = assumption_tests(st, Q, None)
    assert (t0["verdict"] == "untested").all() and (t0["period"] == Q).all()


def test_stale_window_follows_the_threshold():
    st = {
        "Assumptions": _assumptions([{"assumption_id": "STALE", "test": "min_value", "kpi_id": "K3", "threshold": 10}])
    }
    t = assumption_tests(st, Q, SERIES, thresholds={"no_data_quarters": 3})
    assert _verdicts(t, "STALE")["2026-Q3"] == "holds"


def test_non_decreasing_increase_and_decrease():
    series = pd.concat(
        [
            SERIES,
            _series(
                [
                    ("N1", "2026-Q1", True, 100.0, 0.1),
                    ("N1", "2026-Q2", True, 95.0, 0.1),
                    ("N1", "2026-Q3", False, 95.0, 0.1),
                    ("N1", "2026-Q4", True, 80.0, 0.1),
                    ("N2", "2026-Q1", True, 100.0, 0.1),
                    ("N2", "2026-Q2", True, 90.0, 0.1),
                    ("N2", "2026-Q3", True, 89.0, 0.1),
                    ("D1", "2026-Q1", True, 50.0, 0.1),
                    ("D1", "2026-Q2", True, 52.0, 0.1),
                    ("D1", "2026-Q3", True, 45.0, 0.1),
                    ("D1", "2026-Q4", True, 55.0, 0.1),
                ]
            ),
        ],
        ignore_index=True,
    )
    st = {
        "Assumptions": _assumptions(
            [
                {"assumption_id": "N1", "test": "non_decreasing", "kpi_id": "N1"},
                {"assumption_id": "N2", "test": "non_decreasing", "kpi_id": "N2"},
                {"assumption_id": "D1", "test": "non_decreasing", "kpi_id": "D1"},
            ]
        )
    }
    progress = pd.DataFrame(
        {
            "unit_code": ["AFR", "AFR", "AFR"],
            "kpi_id": ["N1", "N2", "D1"],
            "direction": ["increase", "increase", "decrease"],
        }
    )
    t = assumption_tests(st, "2026-Q4", series, progress)
    # N1: first report untested; -5 within 10 (10 % of 100) weakening; Q3 no new report; 95 -> 80 is -15 > 9.5 broken
    assert _verdicts(t, "N1") == {
        "2026-Q1": "untested",
        "2026-Q2": "weakening",
        "2026-Q3": "untested",
        "2026-Q4": "broken",
    }
    n1 = t[t["assumption_id"] == "N1"].set_index("period")
    assert n1.loc["2026-Q4", "observed"] == -15.0 and n1.loc["2026-Q4", "threshold"] == -9.5
    assert n1.loc["2026-Q4", "explanation"] == (
        "N1 went from 95 (2026-Q2) to 80 (2026-Q4), a change of -15; against its direction (increase) by 15, "
        "more than the 10% margin of 9.5: broken"
    )
    assert n1.loc["2026-Q3", "explanation"] == "no new report of N1 in 2026-Q3"
    # N2: a fall of exactly 10 % is weakening (broken only when MORE than the margin); -1 of 90 weakening
    assert _verdicts(t, "N2") == {"2026-Q1": "untested", "2026-Q2": "weakening", "2026-Q3": "weakening"}
    # D1 (lower is better): +2 (within 5.2) weakening, -7 holds, +10 (more than 4.5) broken
    assert _verdicts(t, "D1") == {
        "2026-Q1": "untested",
        "2026-Q2": "weakening",
        "2026-Q3": "holds",
        "2026-Q4": "broken",
    }
    d1 = t[t["assumption_id"] == "D1"].set_index("period")
    assert d1.loc["2026-Q4", "threshold"] == 4.5
    assert d1.loc["2026-Q3", "explanation"] == (
        "D1 went from 52 (2026-Q2) to 45 (2026-Q3), a change of -7; not against its direction (decrease): holds"
    )


def test_non_decreasing_direction_from_kpis_sheet():
    series = _series([("D1", "2026-Q2", True, 50.0, 0.1), ("D1", "2026-Q3", True, 45.0, 0.1)])
    kpis = schema.conform(
        "KPIs", pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["D1"], "direction": ["decrease"]}), with_unit=True
    )
    st = {
        "Assumptions": _assumptions([{"assumption_id": "D1", "test": "non_decreasing", "kpi_id": "D1"}]),
        "KPIs": kpis,
    }
    assert _verdicts(assumption_tests(st, Q, series), "D1")[Q] == "holds"
    del st["KPIs"]  # no direction known: increase, so a fall of 5 (= 10 % of 50) weakens
    assert _verdicts(assumption_tests(st, Q, series), "D1")[Q] == "weakening"


def test_manual_tests_only_at_the_quarter():
    st = {
        "Assumptions": _assumptions(
            [
                {"assumption_id": "M1", "test": "manual", "verdict": "broken", "evidence": "Budget law cut CIRT funds"},
                {"assumption_id": "M2", "test": "manual"},
            ]
        )
    }
    t = assumption_tests(st, Q, SERIES).set_index("assumption_id")
    assert t.loc["M1", "verdict"] == "broken" and t.loc["M1", "period"] == Q
    assert t.loc["M1", "explanation"] == "officer's verdict: broken; evidence: Budget law cut CIRT funds"
    assert t.loc["M2", "verdict"] == "untested"
    assert t.loc["M2", "explanation"] == "no verdict recorded; no evidence given"
    assert math.isnan(t.loc["M1", "observed"])


def test_units_are_kept_apart():
    a = pd.concat(
        [
            _assumptions([{"assumption_id": "AS1", "test": "min_value", "kpi_id": "K1", "threshold": 150}]),
            _assumptions([{"assumption_id": "AS1", "test": "min_value", "kpi_id": "K1", "threshold": 150}], unit="ASP"),
        ],
        ignore_index=True,
    )
    series = pd.concat([SERIES, _series([("K1", Q, True, 10.0, 0.1)]).assign(unit_code="ASP")], ignore_index=True)
    t = assumption_tests({"Assumptions": a}, Q, series)
    got = {(u, p): v for u, p, v in zip(t["unit_code"], t["period"], t["verdict"])}
    assert got[("AFR", Q)] == "holds" and got[("ASP", Q)] == "broken"
    assert len(t) == 4


def test_assumption_changes():
    st = {
        "Assumptions": _assumptions(
            [
                {
                    "assumption_id": "AS1",
                    "test": "min_ratio",
                    "kpi_id": "K1",
                    "reference_kpi_id": "K2",
                    "threshold": 30,
                },
                {"assumption_id": "AA", "test": "min_achievement", "kpi_id": "K2", "threshold": 0.5},
                {"assumption_id": "M1", "test": "manual", "verdict": "weakening", "evidence": "e"},
            ]
        )
    }
    t = assumption_tests(st, Q, SERIES)
    c = assumption_changes(t, Q).set_index("assumption_id")
    assert (c.loc["AS1", "previous_verdict"], c.loc["AS1", "verdict"]) == ("weakening", "broken")
    assert c.loc["AS1", "changed"] and c.loc["AS1", "worsened"]
    assert c.loc["AA", "changed"] and not c.loc["AA", "worsened"]  # weakening -> holds
    assert c.loc["M1", "previous_verdict"] is None and not c.loc["M1", "changed"]
    # the previous quarter's run gives manual tests their previous verdict
    prev_state = {"Assumptions": _assumptions([{"assumption_id": "M1", "test": "manual", "verdict": "holds"}])}
    prev = assumption_tests(prev_state, "2026-Q2", SERIES)
    c2 = assumption_changes(t, Q, previous=prev).set_index("assumption_id")
    assert c2.loc["M1", "previous_verdict"] == "holds" and c2.loc["M1", "worsened"]


def test_learning_log_from_states_and_long_frame():
    def st(note, verdict=None):
        return {
            "Assumptions": _assumptions(
                [{"assumption_id": "AS1", "test": "manual", "verdict": verdict, "review_note": note}]
            )
        }

    history = {
        "2026-Q2": st("Workshops draw fewer people in rainy season", "holds"),
        "2026-Q1": st(""),
        "2026-Q3": st("Workshops  draw fewer people in rainy season", "weakening"),
        "2026-Q4": st("Online sessions restored turnout", "holds"),
    }
    log = learning_log(history)
    assert log["quarter"].tolist() == ["2026-Q2", "2026-Q4"]
    assert log["review_note"].tolist()[1] == "Online sessions restored turnout"
    assert learning_log(history, changed_only=False)["quarter"].tolist() == ["2026-Q2", "2026-Q3", "2026-Q4"]
    long = pd.concat([s["Assumptions"].assign(quarter=q) for q, s in history.items()], ignore_index=True)
    pd.testing.assert_frame_equal(learning_log(long), log)


def test_fmt_and_no_mutation():
    assert fmt(-15.0) == "-15" and fmt(0.004) == "0.004" and fmt(1e6) == "1,000,000"
    st = {"Assumptions": _assumptions([{"assumption_id": "AS1", "test": "min_value", "kpi_id": "K1", "threshold": 1}])}
    before_a, before_s = st["Assumptions"].copy(), SERIES.copy()
    assumption_tests(st, Q, SERIES)
    pd.testing.assert_frame_equal(st["Assumptions"], before_a)
    pd.testing.assert_frame_equal(SERIES, before_s)


def test_with_the_kpi_module_series():
    """End to end with rbm_utils.analytics.kpi: a sum KPI over a count of workshops."""
    from rbm_utils.analytics import kpi

    kpis = schema.conform(
        "KPIs",
        pd.DataFrame(
            {
                "unit_code": ["AFR", "AFR"],
                "kpi_id": ["K1", "K2"],
                "result_id": ["O1", "A1"],
                "measure": ["number"] * 2,
                "direction": ["increase"] * 2,
                "aggregation": ["sum"] * 2,
                "baseline_value": [0, 0],
                "baseline_period": ["2025-Q4"] * 2,
                "target_value": [400, 8],
                "target_period": ["2026-Q4"] * 2,
            }
        ),
        with_unit=True,
    )
    actuals = schema.conform(
        "Actuals",
        pd.DataFrame(
            {
                "unit_code": ["AFR"] * 4,
                "kpi_id": ["K1", "K1", "K2", "K2"],
                "period": ["2026-Q1", "2026-Q2", "2026-Q1", "2026-Q2"],
                "value": [90, 60, 3, 2],
                "disaggregation": [""] * 4,
            }
        ),
        with_unit=True,
    )
    st = {
        "KPIs": kpis,
        "Actuals": actuals,
        "Assumptions": _assumptions(
            [{"assumption_id": "AS1", "test": "min_ratio", "kpi_id": "K1", "reference_kpi_id": "K2", "threshold": 30}]
        ),
    }
    t = assumption_tests(st, "2026-Q2", kpi.kpi_series(st, "2026-Q2"), kpi.kpi_progress(st, "2026-Q2"))
    # Q1: 90 / 3 = 30 (threshold exactly met: weakening); Q2: 150 / 5 = 30 again
    assert _verdicts(t, "AS1") == {"2026-Q1": "weakening", "2026-Q2": "weakening"}
    assert t["observed"].tolist() == [30.0, 30.0]
