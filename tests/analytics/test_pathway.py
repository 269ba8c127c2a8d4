"""Impact pathway: nodes with the worst-status rule, edges, stalls and layout."""

from __future__ import annotations

import pandas as pd
import pytest

from rbm_utils.analytics.kpi import kpi_progress
from rbm_utils.analytics.pathway import (
    EDGE_COLUMNS,
    NODE_COLUMNS,
    NODE_STATUS_COLORS,
    STALL_COLUMNS,
    layout,
    pathway,
    stalls,
    worst_status,
)
from rbm_utils.core import schema

# A1 (activity) -> O1 (output) -> R1 (reach) -> I1 (impact); O2 -> R2 -> I1
CHAIN = [
    ("A1", "activity", "Workshops held", "O1"),
    ("O1", "output", "Trainers certified", "R1"),
    ("O2", "output", "Toolkit published", "R2; R1"),
    ("R1", "reach", "People trained", "I1"),
    ("R2", "reach", "Regulators using toolkit", "I1;I1;  NOPE"),
    ("I1", "impact", "Safer networks", None),
]


def make_state(rows=CHAIN, unit="AFR") -> dict[str, pd.DataFrame]:
    res = pd.DataFrame(
        [{"unit_code": unit, "result_id": r, "level": lvl, "title": t, "contributes_to": c} for r, lvl, t, c in rows]
    )
    return {"Results": schema.conform("Results", res, with_unit=True)}


def progress(pairs, unit="AFR") -> pd.DataFrame:
    """(result_id, status) pairs -> a minimal progress frame, one KPI per pair."""
    return pd.DataFrame(
        {
            "unit_code": unit,
            "kpi_id": [f"K{i}" for i in range(len(pairs))],
            "result_id": [r for r, _ in pairs],
            "status": [s for _, s in pairs],
        }
    )


PROGRESS = progress(
    [
        ("O1", "on_track"),
        ("O1", "not_started"),
        ("R1", "off_track"),
        ("R1", "on_track"),
        ("O2", "target_met"),
        ("R2", "no_data"),
        ("I1", "not_started"),
        ("I1", "not_started"),
    ]
)


def test_nodes_worst_status_and_counts():
    nodes, _ = pathway(make_state(), PROGRESS)
    assert list(nodes.columns) == list(NODE_COLUMNS)
    got = nodes.set_index("result_id")[["n_kpis", "status"]].to_dict("index")
    assert got == {
        "A1": {"n_kpis": 0, "status": "no_kpi"},
        "O1": {"n_kpis": 2, "status": "on_track"},  # not_started ignored
        "O2": {"n_kpis": 1, "status": "target_met"},
        "R1": {"n_kpis": 2, "status": "off_track"},  # worst of off_track, on_track
        "R2": {"n_kpis": 1, "status": "no_data"},
        "I1": {"n_kpis": 2, "status": "not_started"},  # all not started
    }


@pytest.mark.parametrize(
    "statuses, worst",
    [
        (["on_track", "at_risk", "not_started"], "at_risk"),
        (["target_met", "no_data"], "no_data"),
        (["no_data", "off_track"], "off_track"),
        (["not_started", "not_started"], "not_started"),
        (["target_met", "not_started"], "target_met"),
        ([], "no_kpi"),
    ],
)
def test_worst_status_rule(statuses, worst):
    assert worst_status(pd.Series(statuses, dtype=object)) == worst
    nodes, _ = pathway(make_state([("X", "output", "x", None)]), progress([("X", s) for s in statuses]))
    assert nodes.loc[0, "status"] == worst


def test_edges_split_deduplicated_and_unknown_dropped():
    _, edges = pathway(make_state(), PROGRESS)
    assert list(edges.columns) == list(EDGE_COLUMNS)
    assert sorted(map(tuple, edges[["source", "target"]].values.tolist())) == [
        ("A1", "O1"),
        ("O1", "R1"),
        ("O2", "R1"),
        ("O2", "R2"),
        ("R1", "I1"),
        ("R2", "I1"),
    ]
    assert set(edges["unit_code"]) == {"AFR"}


def test_edges_do_not_cross_units():
    state = {
        "Results": pd.concat(
            [
                make_state([("O1", "output", "a", "R1")], "AFR")["Results"],
                make_state([("R1", "reach", "b", None)], "EUR")["Results"],
            ]
        )
    }
    _, edges = pathway(state, progress([]))
    assert edges.empty  # AFR's O1 points at R1, which only EUR defines


def test_stalls_found_in_chain():
    nodes, edges = pathway(make_state(), PROGRESS)
    s = stalls(nodes, edges)
    assert list(s.columns) == list(STALL_COLUMNS)
    found = sorted(map(tuple, s[["source", "target", "source_status", "target_status"]].values.tolist()))
    # O1 on track -> R1 off track; O2 target met -> R1 off track and -> R2 no data.
    # R1 -> I1 is no stall (source off track); A1 has no KPI.
    assert found == [
        ("O1", "R1", "on_track", "off_track"),
        ("O2", "R1", "target_met", "off_track"),
        ("O2", "R2", "target_met", "no_data"),
    ]
    msg = s.set_index(["source", "target"]).loc[("O1", "R1"), "message"]
    assert msg == (
        "O1 'Trainers certified' is on track, but R1 'People trained', which it feeds, "
        "is off track: check whether the link still holds."
    )


def test_no_stall_when_target_is_on_track_or_at_risk():
    nodes, edges = pathway(
        make_state(), progress([("O1", "on_track"), ("R1", "at_risk"), ("O2", "on_track"), ("R2", "on_track")])
    )
    assert stalls(nodes, edges).empty


def test_pathway_from_real_progress():
    res = make_state([("O1", "output", "Trainers", "R1"), ("R1", "reach", "People", None)])
    kp = pd.DataFrame(
        [
            {
                "unit_code": "AFR",
                "kpi_id": "KO",
                "result_id": "O1",
                "baseline_period": "2026-Q1",
                "target_period": "2027-Q1",
                "baseline_value": 0,
                "target_value": 10,
            },
            {
                "unit_code": "AFR",
                "kpi_id": "KR",
                "result_id": "R1",
                "baseline_period": "2026-Q1",
                "target_period": "2027-Q1",
                "baseline_value": 0,
                "target_value": 100,
            },
        ]
    ).assign(measure="number", direction="increase", aggregation="sum")
    acts = pd.DataFrame(
        {"unit_code": "AFR", "kpi_id": ["KO", "KR"], "period": "2026-Q3", "value": [10, 5], "disaggregation": ""}
    )
    state = {
        **res,
        "KPIs": schema.conform("KPIs", kp, with_unit=True),
        "Actuals": schema.conform("Actuals", acts, with_unit=True),
    }
    nodes, edges = pathway(state, kpi_progress(state, "2026-Q3"))
    assert nodes.set_index("result_id")["status"].to_dict() == {"O1": "target_met", "R1": "off_track"}
    assert stalls(nodes, edges)[["source", "target"]].values.tolist() == [["O1", "R1"]]


def test_layout_levels_and_spread():
    nodes, edges = pathway(make_state(), PROGRESS)
    before = nodes.copy()
    lay = layout(nodes, edges).set_index("result_id")
    pd.testing.assert_frame_equal(nodes, before)  # input untouched
    assert lay["x"].to_dict() == {"A1": 0, "O1": 1, "O2": 1, "R1": 2, "R2": 2, "I1": 5}
    assert lay.loc["I1", "y"] == 0.5
    # R1 and R2 both feed I1 (y 0.5): tie broken by id
    assert (lay.loc["R1", "y"], lay.loc["R2", "y"]) == (1 / 3, 2 / 3)
    # O1 feeds R1 (1/3); O2 feeds R1 and R2 (mean 0.5) -> O1 below O2
    assert (lay.loc["O1", "y"], lay.loc["O2", "y"]) == (1 / 3, 2 / 3)
    assert lay.loc["A1", "y"] == 0.5


def test_colours_cover_node_statuses():
    assert NODE_STATUS_COLORS["no_kpi"] and NODE_STATUS_COLORS["off_track"]


def test_empty():
    nodes, edges = pathway({}, progress([]))
    assert nodes.empty and edges.empty
    assert stalls(nodes, edges).empty
    assert layout(nodes, edges).empty
