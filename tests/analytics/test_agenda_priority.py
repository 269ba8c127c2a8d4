"""The review agenda's priority score and rank (docs/rules.md, "Priority score"), on small
hand-computed cases. Default weights: severity 40, money 15 (full at 500,000), people 10
(full at 24 staff-months), reach 10 (full at 3 results), waited 10 (full at 4 quarters),
carried over 15 (full at 3 reviews in a row).
"""

from __future__ import annotations

import pandas as pd
import pytest

from rbm_utils.analytics.agenda import carry_over, review_agenda
from rbm_utils.analytics.priority import at_stake, priority_score, stakes_by_result

Q = "2026-Q3"


def parts(**kw) -> pd.DataFrame:
    base = dict(severity=0.0, money_at_stake=0.0, people_at_stake=0.0, n_results=0, waited=0.0, carried_over=False)
    return pd.DataFrame([{**base, **kw}])


@pytest.mark.parametrize(
    "kw, expected",
    [
        (dict(severity=1.0), 40.0),
        (dict(money_at_stake=250_000.0), 7.5),  # 15 x 250,000 / 500,000
        (dict(money_at_stake=2_000_000.0), 15.0),  # capped at 1
        (dict(people_at_stake=6.0), 2.5),  # 10 x 6 / 24
        (dict(n_results=2), 6.67),  # 10 x 2 / 3
        (dict(waited=1.0), 2.5),  # 10 x 1 / 4
        (dict(waited=float("inf")), 10.0),
        (dict(carried_over=True), 5.0),  # no count: one review, 15 x 1/3
        (dict(carried_over=True, carried_reviews=1), 5.0),
        (dict(carried_over=True, carried_reviews=2), 10.0),
        (dict(carried_over=True, carried_reviews=3), 15.0),
        (dict(carried_over=True, carried_reviews=7), 15.0),  # capped
        (
            dict(
                severity=1.0,
                money_at_stake=500_000.0,
                people_at_stake=24.0,
                n_results=3,
                waited=4.0,
                carried_over=True,
                carried_reviews=3,
            ),
            100.0,
        ),
    ],
)
def test_score_parts(kw, expected):
    assert float(priority_score(parts(**kw)).iloc[0]) == pytest.approx(expected, abs=0.005)


def test_weights_come_from_thresholds():
    df = parts(severity=0.5, carried_over=True)
    # severity weight 10 and carried weight 0: 10 x 0.5
    th = {"agenda_weight_severity": 10, "agenda_weight_carried": 0}
    assert float(priority_score(df, th).iloc[0]) == 5.0


def test_stakes_sum_funding_sources_and_ignore_other_quarters():
    money = pd.DataFrame(
        {
            "quarter": [Q, Q, "2026-Q2"],
            "unit_code": ["AFR", "AFR", "AFR"],
            "result_id": ["O1", "O1", "O2"],
            "budget_year": [100_000.0, 50_000.0, 999.0],
            "staff_months_planned_year": [6.0, 3.0, 9.0],
        }
    )
    stakes = stakes_by_result(money, Q)
    assert stakes == {("AFR", "O1"): (150_000.0, 9.0)}
    # an item touching O1 twice and O2 (no money this quarter): 2 results
    assert at_stake("AFR", ["O1", "O2", "O1"], stakes) == (150_000.0, 9.0, 2)
    assert at_stake("EUR", ["O1"], stakes) == (0.0, 0.0, 1)  # another unit's O1 is not this one's


def progress_row(**kw) -> dict:
    base = dict(
        unit_code="AFR",
        result_id="O1",
        measure="number",
        baseline_value=0.0,
        baseline_period="2024-Q4",
        target_value=100.0,
        target_period="2027-Q4",
        current_value=0.0,
        achievement=0.0,
        expected=0.5,
        performance=0.0,
        last_period="",
        quarters_since_report=float("nan"),
    )
    return {**base, **kw}


def small_agenda() -> tuple[pd.DataFrame, pd.DataFrame]:
    progress = pd.DataFrame(
        [
            # off track, performance 0.4: severity (1 + 0.6) / 2 = 0.8 -> 32; O1 with 250,000 and 12 staff-months:
            # 7.5 + 5; one result: 3.33 => 47.83
            progress_row(kpi_id="K1", name="Trained", status="off_track", performance=0.4),
            # off track, performance 0.9 on O2 (no money): severity 0.55 -> 22; reach 3.33 => 25.33
            progress_row(kpi_id="K2", result_id="O2", name="Plans", status="off_track", performance=0.9),
            # no data since 2025-Q3 (4 quarters): severity (0 + 0.4) / 2 = 0.2 -> 8; reach 3.33; waited 10 => 21.33
            progress_row(
                kpi_id="K3",
                result_id="O2",
                name="Reach",
                status="no_data",
                last_period="2025-Q3",
                quarters_since_report=4,
            ),
            # never reported, baseline 2024-Q4: 7 quarters waited (capped: 10) => 21.33
            progress_row(kpi_id="K4", result_id="O2", name="Never", status="no_data", current_value=float("nan")),
        ]
    )
    money = pd.DataFrame(
        {
            "quarter": [Q],
            "unit_code": ["AFR"],
            "result_id": ["O1"],
            "title": ["Trainings"],
            "funding_source": ["RB"],
            "budget_year": [250_000.0],
            "staff_months_planned_year": [12.0],
            "spent_year": [187_500.0],
            "execution_rate": [0.75],
            "time_elapsed": [0.75],
            "execution_gap": [0.0],
            "flag": ["on pace"],
        }
    )
    return progress, money


def test_review_agenda_scores_and_ranks_by_hand():
    progress, money = small_agenda()
    out = review_agenda(progress, None, None, money, None, Q)
    got = {r["item_id"]: r for r in out.to_dict("records")}
    assert got["K1"]["score"] == pytest.approx(47.83)
    assert (got["K1"]["money_at_stake"], got["K1"]["people_at_stake"], got["K1"]["n_results"]) == (250_000.0, 12.0, 1)
    assert got["K2"]["score"] == pytest.approx(25.33)
    assert got["K3"]["waited"] == 4.0 and got["K3"]["score"] == pytest.approx(21.33)
    assert got["K4"]["waited"] == 7.0 and got["K4"]["score"] == pytest.approx(21.33)
    # equal scores: the longer silence first (the kind's own severity), then item_id
    assert out["item_id"].tolist() == ["K1", "K2", "K4", "K3"]
    assert out["rank"].tolist() == [1, 2, 3, 4]
    assert out["score"].is_monotonic_decreasing


def test_rank_runs_across_units():
    progress, money = small_agenda()
    eur = progress.iloc[[1]].assign(unit_code="EUR", kpi_id="E1", performance=0.0)  # severity 1 -> 40 + 3.33
    out = review_agenda(pd.concat([progress, eur], ignore_index=True), None, None, money, None, Q)
    assert out[["unit_code", "item_id"]].values.tolist()[:2] == [["AFR", "K1"], ["EUR", "E1"]]
    assert out.loc[out["item_id"] == "E1", "score"].iloc[0] == pytest.approx(43.33)
    assert out["rank"].tolist() == list(range(1, 6))
    # a unit's agenda is a slice of the bureau's: ordered by score, ranks keep the bureau's numbering
    afr = out[out["unit_code"] == "AFR"]
    assert afr["rank"].tolist() == [1, 3, 4, 5]


def test_carried_over_adds_its_weight_and_reranks():
    progress, money = small_agenda()
    now = review_agenda(progress, None, None, money, None, Q)
    previous = now[now["item_id"] == "K3"]
    out = carry_over(now, previous, None, Q)
    k3 = out[out["item_id"] == "K3"].iloc[0]
    assert bool(k3["carried_over"]) and k3["carried_reviews"] == 1 and k3["score"] == pytest.approx(21.33 + 5)
    assert int(k3["priority"]) == 2  # climbs one priority too
    assert out["item_id"].tolist() == ["K1", "K3", "K2", "K4"]
    assert out["rank"].tolist() == [1, 2, 3, 4]
    # a decision on K3 at the previous review: not carried over
    decisions = pd.DataFrame(
        {"unit_code": ["AFR"], "concerns": ["K3"], "meeting_quarter": ["2026-Q2"], "status": ["done"]}
    )
    assert not carry_over(now, previous, decisions, Q)["carried_over"].any()


def test_inputs_not_mutated():
    progress, money = small_agenda()
    before = progress.copy(), money.copy()
    out = review_agenda(progress, None, None, money, None, Q)
    carry_over(out, out, None, Q)
    pd.testing.assert_frame_equal(before[0], progress)
    pd.testing.assert_frame_equal(before[1], money)


def test_carried_over_weight_grows_with_each_review_without_a_decision():
    progress, money = small_agenda()
    now = review_agenda(progress, None, None, money, None, Q)  # K3: 21.33 before the carried-over part
    q1 = now[now["item_id"].isin(["K3", "K4"])]  # on the agenda of 2026-Q1 ...
    q2 = carry_over(now[now["item_id"].isin(["K3", "K4"])], q1, None, "2026-Q2")  # ... back at 2026-Q2
    assert q2["carried_reviews"].tolist() == [1, 1]
    q2 = q2[q2["item_id"] == "K3"]  # K4 left the 2026-Q2 agenda (say it was met); K3 stayed
    out = carry_over(now, q2, None, Q)
    got = out.set_index("item_id")
    assert got.loc["K3", "carried_reviews"] == 2 and got.loc["K3", "score"] == pytest.approx(21.33 + 10)
    assert got.loc["K4", "carried_reviews"] == 0 and not got.loc["K4", "carried_over"]
    third = carry_over(now, out, None, "2026-Q4").set_index("item_id")
    assert third.loc["K3", "carried_reviews"] == 3 and third.loc["K3", "score"] == pytest.approx(21.33 + 15)
    assert third.loc["K1", "carried_reviews"] == 1  # K1 was on the 2026-Q3 agenda, not carried there
    # a decision taken at the previous review stops the count
    dec = pd.DataFrame({"unit_code": ["AFR"], "concerns": ["K3"], "meeting_quarter": [Q], "status": ["done"]})
    assert carry_over(now, out, dec, "2026-Q4").set_index("item_id").loc["K3", "carried_reviews"] == 0


def test_a_risk_waits_by_the_days_its_review_is_overdue():
    from rbm_utils.analytics.risks import red_flags, risk_register
    from rbm_utils.core import schema

    risks = schema.conform(
        "Risks",
        pd.DataFrame(
            {
                "unit_code": ["AFR", "AFR"],
                "risk_id": ["R1", "R2"],
                "title": ["Funding gap", "Staff leave"],
                "result_id": ["O9", "O9"],
                "likelihood": [3, 4],
                "impact": [5, 5],
                "mitigation": ["Diversify donors", "Cross-training"],
                "status": ["open", "open"],
                "review_on": ["2026-07-01", "2026-12-01"],
            }
        ),
        with_unit=True,
    )
    flags = red_flags(risk_register({"Risks": risks}, Q))
    # R1 (15, high): review due 1 July, 91 days late at 30 September (> 30); R2 (20, critical) not late
    assert flags.set_index("risk_id")["days_overdue"].to_dict() == {"R1": 91, "R2": 0}
    got = review_agenda(None, None, flags, None, None, Q).set_index("item_id")
    assert got.loc["R1", "waited"] == pytest.approx(91 / 91.25)
    # R1: severity (1 + 15/25) / 2 = 0.8 -> 32; one result 3.33; waited 10 x (91/91.25) / 4 = 2.49 => 37.83
    assert got.loc["R1", "score"] == pytest.approx(37.83)
    # R2: severity (1 + 20/25) / 2 = 0.9 -> 36; one result 3.33; no wait => 39.33
    assert got.loc["R2", "waited"] == 0.0 and got.loc["R2", "score"] == pytest.approx(39.33)
