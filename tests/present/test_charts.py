"""Charts: each figure holds the traces it claims (types, counts, points, colours by status),
escapes free text, and references nothing on the internet.

Frames are the analytics outputs, made by hand with the documented columns, or computed from
tests/factories.py ``minimal_unit()`` (and the sample bureau, when rbm_utils.demo.sample exists).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from factories import minimal_unit

from rbm_utils.analytics import finance, kpi, linkages, pathway, risks
from rbm_utils.core import schema
from rbm_utils.core.codes import KPI_STATUSES
from rbm_utils.core.quarters import Quarter
from rbm_utils.core.text import escape_text
from rbm_utils.present import charts, labels
from rbm_utils.present.labels import STATUS_COLORS

Q = "2026-Q3"
EVIL = "<script>alert(1)</script>"
EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def unit_state(unit_code: str = "AFR", **overrides) -> dict[str, pd.DataFrame]:
    _, frames = minimal_unit(unit_code)
    frames = {**frames, **overrides}
    return {name: schema.conform(name, df.assign(unit_code=unit_code), with_unit=True) for name, df in frames.items()}


def trace(fig: go.Figure, name: str):
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, [t.name for t in fig.data]
    return found[0]


def assert_escaped(fig: go.Figure) -> None:
    j = json.loads(fig.to_json())
    flat = json.dumps(j, ensure_ascii=False)
    assert "<script" not in flat
    assert EVIL_ESCAPED in flat


# --------------------------------------------------------------------------- colour map


def test_status_colors_come_from_kpi():
    for status, colour in kpi.STATUS_COLORS.items():
        assert STATUS_COLORS[status] == colour
    assert STATUS_COLORS[pathway.NO_KPI] == pathway.NODE_STATUS_COLORS[pathway.NO_KPI]
    assert labels.status_color("on_track") == kpi.STATUS_COLORS["on_track"]
    assert labels.status_color("nonsense") == labels.UNKNOWN_COLOR


# --------------------------------------------------------------------------- theory of change


def toc_frames(title_o1: str = "Trainings"):
    nodes = pd.DataFrame(
        {
            "unit_code": ["U"] * 4,
            "result_id": ["A1", "O1", "R1", "I1"],
            "level": ["activity", "output", "reach", "impact"],
            "title": ["Workshops", title_o1, "People", "Trust"],
            "n_kpis": [1, 2, 1, 0],
            "status": ["on_track", "on_track", "off_track", "no_kpi"],
        }
    )
    edges = pd.DataFrame({"unit_code": ["U"] * 3, "source": ["A1", "O1", "R1"], "target": ["O1", "R1", "I1"]})
    return nodes, edges


def test_toc_diagram_traces_positions_and_colours():
    nodes, edges = toc_frames()
    lay = pathway.layout(nodes, edges)
    st = pathway.stalls(nodes, edges)  # O1 on track feeds R1 off track
    assert st[["source", "target"]].values.tolist() == [["O1", "R1"]]
    fig = charts.toc_diagram(nodes, edges, lay, st)
    assert [(t.type, t.name) for t in fig.data] == [
        ("scatter", "Links"),
        ("scatter", "Stalled link"),
        ("scatter", "Off track"),
        ("scatter", "On track"),
        ("scatter", "No KPI"),
    ]
    links = trace(fig, "Links")
    # two plain links, each two points and a None separator; x = level order
    assert list(links.x) == [0.0, 1.0, None, 2.0, 5.0, None]
    stalled = trace(fig, "Stalled link")
    assert list(stalled.x) == [1.0, 2.0, None] and stalled.line.dash == "dash"
    on = trace(fig, "On track")
    assert len(on.x) == 2 and sorted(on.x) == [0.0, 1.0]
    assert on.marker.color == kpi.STATUS_COLORS["on_track"]
    assert trace(fig, "Off track").marker.color == kpi.STATUS_COLORS["off_track"]
    assert trace(fig, "No KPI").marker.color == pathway.NODE_STATUS_COLORS["no_kpi"]
    assert list(fig.layout.xaxis.ticktext) == ["Activity", "Output", "Reach", "Capacity", "Behaviour", "Impact"]


def test_toc_diagram_escapes_titles_and_stacks_units():
    nodes, edges = toc_frames(title_o1=EVIL)
    nodes2 = nodes.assign(unit_code="V")
    edges2 = edges.assign(unit_code="V")
    n = pd.concat([nodes, nodes2], ignore_index=True)
    e = pd.concat([edges, edges2], ignore_index=True)
    fig = charts.toc_diagram(n, e, pathway.layout(n, e))
    assert_escaped(fig)
    assert any(EVIL_ESCAPED in h for h in trace(fig, "On track").hovertext)
    # unit V drawn one unit higher than unit U
    on = trace(fig, "On track")
    ys = sorted(on.y)
    assert len(ys) == 4 and all(y < 1 for y in ys[:2]) and all(1 < y < 2 for y in ys[2:])


def test_toc_diagram_computes_layout_when_not_given():
    nodes, edges = toc_frames()
    given = charts.toc_diagram(nodes, edges, pathway.layout(nodes, edges))
    computed = charts.toc_diagram(nodes, edges, None)
    assert [list(t.x) for t in computed.data] == [list(t.x) for t in given.data]
    assert [list(t.y) for t in computed.data] == [list(t.y) for t in given.data]


def test_toc_diagram_empty():
    fig = charts.toc_diagram(
        pd.DataFrame(columns=pathway.NODE_COLUMNS),
        pd.DataFrame(columns=pathway.EDGE_COLUMNS),
        pd.DataFrame(columns=[*pathway.NODE_COLUMNS, "x", "y"]),
    )
    assert len(fig.data) == 0 and fig.layout.annotations


# --------------------------------------------------------------------------- KPI trend


def test_kpi_trend_from_real_series():
    state = unit_state()
    progress = kpi.kpi_progress(state, Q)
    series = kpi.kpi_series(state, Q)
    row = progress.loc[progress["kpi_id"] == "AFR-K1"].iloc[0]
    fig = charts.kpi_trend(series, row, state["Milestones"])  # series of every KPI: filtered to K1
    assert [t.name for t in fig.data] == ["Current value", "Expected", "Baseline", "Milestones", "Target", "Forecast"]
    assert all(t.type == "scatter" for t in fig.data)
    cur = trace(fig, "Current value")
    assert list(cur.x) == ["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
    assert list(cur.y) == [0.0, 80.0, 170.0, 270.0]
    # marker colour = status at that quarter: not started, at risk (0.8), on track, on track
    assert list(cur.marker.color) == [kpi.STATUS_COLORS[s] for s in ("not_started", "at_risk", "on_track", "on_track")]
    assert list(cur.marker.symbol) == ["circle-open", "circle", "circle", "circle"]
    # expected: linear 0, 100, milestone 150, 300 (0.75 of 400)
    assert list(trace(fig, "Expected").y) == pytest.approx([0.0, 100.0, 150.0, 300.0])
    assert (list(trace(fig, "Milestones").x), list(trace(fig, "Milestones").y)) == (["2026-Q2"], [150.0])
    assert (list(trace(fig, "Target").x), list(trace(fig, "Target").y)) == (["2026-Q4"], [400.0])
    assert (list(trace(fig, "Baseline").x), list(trace(fig, "Baseline").y)) == (["2025-Q4"], [0.0])
    fc = trace(fig, "Forecast")
    assert list(fc.x) == ["2026-Q3", "2026-Q4"]
    assert fc.y[0] == 270.0 and fc.y[1] == pytest.approx(363.3333, abs=1e-3)
    assert "not likely to meet the target" in fc.hovertext[1]
    assert list(fig.layout.xaxis.categoryarray) == ["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert "On track" in fig.layout.title.text


def test_kpi_trend_hand_frames_escape_and_no_forecast():
    series = pd.DataFrame(
        {
            "unit_code": ["AFR"] * 3,
            "kpi_id": ["K9"] * 3,
            "period": ["2026-Q1", "2026-Q2", "2026-Q3"],
            "reported": [False, True, False],
            "value": [np.nan, 40.0, np.nan],
            "current": [50.0, 40.0, 40.0],
            "achievement": [0, 0.5, 0.5],
            "expected": [0.0, 0.25, 0.5],
            "performance": [np.nan, 2.0, 1.0],
            "status": ["not_started", "on_track", "on_track"],
        }
    )
    row = {
        "unit_code": "AFR",
        "kpi_id": "K9",
        "name": EVIL,
        "measure": "percent",
        "direction": "decrease",
        "baseline_value": 50.0,
        "baseline_period": "2026-Q1",
        "target_value": 30.0,
        "target_period": "2027-Q1",
        "status": "on_track",
        "forecast_value": np.nan,
        "likely_to_meet": pd.NA,
    }
    fig = charts.kpi_trend(series, pd.DataFrame([row]), None)
    assert [t.name for t in fig.data] == ["Current value", "Expected", "Baseline", "Target"]
    assert list(trace(fig, "Expected").y) == pytest.approx([50.0, 45.0, 40.0])
    assert_escaped(fig)
    assert fig.layout.title.text == f"K9: {EVIL_ESCAPED} (On track)"
    assert fig.layout.yaxis.title.text == "%"
    assert list(fig.layout.xaxis.categoryarray) == [str(q) for q in Quarter.span("2026-Q1", "2027-Q1")]
    with pytest.raises(ValueError):
        charts.kpi_trend(series, pd.DataFrame([row, row]), None)


# --------------------------------------------------------------------------- status summary


def test_status_summary_stacked_bars():
    p = pd.DataFrame(
        {"unit_code": ["AFR", "AFR", "AFR", EVIL], "status": ["on_track", "off_track", "on_track", "no_data"]}
    )
    fig = charts.status_summary(kpi.rollup(p, "unit_code"))
    assert [t.type for t in fig.data] == ["bar"] * 6
    assert [t.name for t in fig.data] == [kpi.STATUS_LABELS[s] for s in kpi.STATUS_ORDER]
    assert [t.marker.color for t in fig.data] == [kpi.STATUS_COLORS[s] for s in kpi.STATUS_ORDER]
    assert fig.layout.barmode == "stack"
    groups = sorted(["AFR", EVIL])  # rollup sorts the groups
    on = trace(fig, "On track")
    assert list(on.y) == [escape_text(g) for g in groups]
    assert list(on.x) == [2.0 if g == "AFR" else 0.0 for g in groups]
    assert list(trace(fig, "No data").x) == [0.0 if g == "AFR" else 1.0 for g in groups]
    afr = groups.index("AFR")
    assert on.hovertext[afr] == "AFR<br>On track: 2 of 3 KPIs (67%)"
    assert_escaped(fig)


def test_status_summary_bureau_and_multiple_keys():
    p = pd.DataFrame({"unit_code": ["A", "B"], "level": ["output", "impact"], "status": ["at_risk", "target_met"]})
    bureau = charts.status_summary(kpi.rollup(p))
    assert list(trace(bureau, "At risk").y) == ["Bureau"] and list(trace(bureau, "Target met").x) == [1.0]
    two = charts.status_summary(kpi.rollup(p, ["unit_code", "level"]))
    assert list(trace(two, "At risk").y) == ["A / output", "B / impact"]


# --------------------------------------------------------------------------- risks


def test_risk_heatmap_cells():
    reg_in = schema.conform(
        "Risks",
        pd.DataFrame(
            {
                "unit_code": ["AFR"] * 4,
                "risk_id": ["R1", "R2", "R3", "R4"],
                "title": ["a", "b", "c", "d"],
                "likelihood": [4, 4, 1, 5],
                "impact": [4, 4, 2, 5],
                "status": ["open", "monitoring", "open", "closed"],
            }
        ),
        with_unit=True,
    )
    heat = risks.risk_heatmap(risks.risk_register({"Risks": reg_in}, Q))
    fig = charts.risk_heatmap(heat)
    assert len(fig.data) == 1 and fig.data[0].type == "heatmap"
    hm = fig.data[0]
    z = np.array(hm.z, dtype=float)
    assert z.shape == (5, 5)
    # rows = likelihood 1..5, columns = impact 1..5; rating index low 0 .. critical 3
    assert z[0][0] == 0 and z[3][3] == 2 and z[4][4] == 3 and z[1][4] == 1  # 1 low, 16 high, 25 critical, 10 medium
    assert hm.text[3][3] == "2"  # two open risks at likelihood 4, impact 4
    assert hm.text[0][1] == "1"  # likelihood 1, impact 2
    assert hm.text[4][4] == ""  # the closed risk is not counted
    assert hm.hovertext[3][3] == "Likelihood 4, impact 4: score 16 (high)<br>2 open risks"
    assert hm.showscale is False


# --------------------------------------------------------------------------- money


def test_burn_vs_delivery_quadrants():
    frame = pd.DataFrame(
        {
            "unit_code": ["AFR"] * 4,
            "result_id": ["O1", "O2", "O3", "O4"],
            "title": [EVIL, "Plans", "Slow", "Nothing"],
            "budget_year": [100.0, 100.0, 100.0, 0.0],
            "spent_year": [50.0, 95.0, 10.0, 0.0],
            "share_spent": [0.5, 0.95, 0.1, np.nan],
            "time_elapsed": [0.75] * 4,
            "delivery": [0.8, 0.2, 0.1, 0.5],
            "expected_delivery": [0.75, 0.75, 0.75, 0.75],
            "quadrant": ["efficient", "overspending for delivery", "slow start", "no budget"],
        }
    )
    fig = charts.burn_vs_delivery(frame)
    assert [(t.type, t.name) for t in fig.data] == [
        ("scatter", "Efficient"),
        ("scatter", "Slow start"),
        ("scatter", "Overspending for delivery"),
    ]
    eff = trace(fig, "Efficient")
    assert (list(eff.x), list(eff.y)) == ([0.5], [0.8])
    assert eff.marker.color == labels.QUADRANT_COLORS["efficient"]
    assert "Spent CHF 50 of CHF 100 (50%); 75% of the year elapsed" in eff.hovertext[0]
    assert_escaped(fig)
    shapes = fig.layout.shapes
    assert len(shapes) == 2 and shapes[0].x0 == 0.75 and shapes[1].y0 == 0.75


def test_burn_vs_delivery_from_finance():
    state = unit_state()
    progress = kpi.kpi_progress(state, Q)
    bvd = finance.burn_vs_delivery(finance.money_by_output(state, Q), progress)
    fig = charts.burn_vs_delivery(bvd)
    drawn = bvd.dropna(subset=["share_spent", "delivery"])
    assert sum(len(t.x) for t in fig.data) == len(drawn) == 1
    # O1: 50% spent, delivery 0.675 (K1's achievement)
    assert fig.data[0].x[0] == pytest.approx(0.5) and fig.data[0].y[0] == pytest.approx(0.675)


def test_money_sankey_nodes_and_links():
    flows = finance.money_flows(unit_state(), Q, programme_names={"inclusive_secure": "Inclusive and secure ICTs"})
    fig = charts.money_sankey(flows)
    assert len(fig.data) == 1 and fig.data[0].type == "sankey"
    sk = fig.data[0]
    # Regular budget -> AFR -> programme inclusive_secure, by its name -> AFR-O1, 100,000 each
    assert list(sk.node.label) == ["Regular budget", "AFR", "Inclusive and secure ICTs", "AFR-O1"]
    assert "programme:inclusive_secure" in set(flows["target_id"])  # the node is the code, its label the name
    assert "inclusive_secure" in set(finance.money_flows(unit_state(), Q)["target"])  # no names: the code
    assert list(sk.link.source) == [0, 1, 2] and list(sk.link.target) == [1, 2, 3]
    assert list(sk.link.value) == [100000.0] * 3
    assert list(sk.node.color) == [labels.FLOW_KIND_COLORS[k] for k in labels.FLOW_KIND_ORDER]


def test_money_sankey_escapes_labels_and_keeps_same_names_apart():
    flows = pd.DataFrame(
        {
            "source": [EVIL, "AFR"],
            "target": ["AFR", "AFR"],
            "amount": [10.0, 10.0],
            "source_kind": ["source", "unit"],
            "target_kind": ["unit", "programme"],
            "source_id": [f"source:{EVIL}", "unit:AFR"],
            "target_id": ["unit:AFR", "programme:AFR"],
        }
    )
    fig = charts.money_sankey(flows)
    sk = fig.data[0]
    assert list(sk.node.label) == [EVIL_ESCAPED, "AFR", "AFR"]  # a programme named like the unit is its own node
    assert list(sk.link.source) == [0, 1] and list(sk.link.target) == [1, 2]
    assert_escaped(fig)


# --------------------------------------------------------------------------- the Action Plan


def _plan_rollup(name: str = "Affordable connectivity") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "programme": ["connectivity", ""],
            "programme_name": [name, "(no programme)"],
            "n_kpis": [4, 1],
            "n_off_track": [1, 0],
            "n_on_track": [2, 1],
            "n_no_data": [1, 0],
            "budget_year": [1700.0, 0.0],
            "spent_year": [450.0, 0.0],
            "staff_months_planned_year": [13.0, 0.0],
            "staff_months_used_year": [4.0, 0.0],
        }
    )


def test_action_plan_stacks_kpis_by_status_and_draws_spent_inside_budget():
    fig = charts.action_plan(_plan_rollup(), currency="CHF")
    status = [t for t in fig.data if t.legendgroup == "status"]
    money = [t for t in fig.data if t.legendgroup == "money"]
    assert [t.name for t in status] == [labels.STATUS_LABELS[s] for s in KPI_STATUSES]
    assert list(status[0].y) == ["Affordable connectivity", "(no programme)"]
    # each status starts where the previous ones end: off track 1, no data after it, then on track
    by = {t.name: t for t in status}
    assert list(by["Off track"].x) == [1, 0] and list(by["No data"].base) == [1, 0]
    assert list(by["On track"].base) == [2, 0] and list(by["On track"].x) == [2, 1]
    assert fig.layout.barmode == "overlay"
    assert [t.name for t in money] == ["Budget of the year", "Spent so far this year"]
    assert list(money[0].x) == [1700.0, 0.0] and list(money[1].x) == [450.0, 0.0] and money[1].width < money[0].width
    assert "CHF 450 (26%)" in money[1].hovertext[0] and "Staff-months planned 13, used 4" in money[1].hovertext[0]
    assert charts.action_plan(pd.DataFrame()).layout.annotations[0].text == "No programme."


def test_action_plan_escapes_and_shortens_names():
    fig = charts.action_plan(_plan_rollup(EVIL + " and a very long programme name indeed"))
    assert_escaped(fig)
    assert fig.data[0].y[0].endswith("…") and len(fig.data[0].y[0]) < len(escape_text(EVIL)) + 30


# --------------------------------------------------------------------------- linkages


def test_linkage_network_heatmap():
    links = schema.conform(
        "Linkages",
        pd.DataFrame(
            {
                "unit_code": ["AFR", "AFR", "CYB", "CYB", "CYB"],
                "result_id": ["A-O1", "A-O2", "C-O1", "C-O2", "C-O3"],
                "body": ["ITU-T", "ITU-T", "ITU-T", "ITU-D SG2", "other"],
                "reference": ["SG17", "SG17", "SG17", "Q3/2", EVIL],
            }
        ),
        with_unit=True,
    )
    matrix = linkages.linkage_matrix({"Linkages": links})
    fig = charts.linkage_network(matrix)
    assert len(fig.data) == 1 and fig.data[0].type == "heatmap"
    hm = fig.data[0]
    assert list(hm.y) == ["AFR", "CYB"]
    # shared reference first (2 units), then by label
    assert list(hm.x) == ["ITU-T SG17", "ITU-D SG2 Q3/2", f"other {EVIL_ESCAPED}"]
    assert np.array(hm.z).tolist() == [[2, 0, 0], [1, 1, 1]]
    assert hm.text[0] == ("2", "", "") or list(hm.text[0]) == ["2", "", ""]
    assert "linked by 2 units" in hm.hovertext[0][0]
    assert_escaped(fig)


def test_linkage_network_empty():
    fig = charts.linkage_network(linkages.linkage_matrix({}))
    assert len(fig.data) == 0


# --------------------------------------------------------------------------- scale-up


def scaleup_frames():
    scores = pd.DataFrame(
        {
            "theme": ["cybersecurity", "cybersecurity", "cybersecurity", "broadband", "broadband"],
            "initiative": ["AFR3", "EUR2", EVIL, "AFR2", "ASP1"],
            "units": ["AFR", "EUR", "ARB", "AFR", "ASP"],
            "regions": ["AFR", "EUR", "ARB", "AFR", "ASP"],
            "off_track": [False, False, True, False, False],
            "mean_achievement": [0.9, 0.6, 0.2, 0.7, np.nan],
            "consistency": [0.8, 0.5, 0.1, 0.6, np.nan],
            "evidence_share": [1.0, 0.9, 0.5, 0.8, np.nan],
            "cost_per_target": [1000.0, 2000.0, np.inf, 500.0, np.nan],
            "composite": [0.85, 0.6, 0.2, 0.7, np.nan],
            "rank": pd.array([1, 2, 3, 1, pd.NA], dtype="Int64"),
            "n_in_theme": [3, 3, 3, 1, 1],
        }
    )
    cands = pd.DataFrame(
        {
            "theme": ["cybersecurity", "cybersecurity", "broadband"],
            "initiative": ["AFR3", "AFR3", "AFR2"],
            "source_units": ["AFR", "AFR", "AFR"],
            "target_region": ["AMS", "ARB", "EUR"],
            "situation": ["no initiative", "off track", "no initiative"],
            "composite": [0.85, 0.85, 0.7],
        }
    )
    return scores, cands


def test_scaleup_comparison_with_scores():
    scores, cands = scaleup_frames()
    fig = charts.scaleup_comparison(cands, scores)
    assert [(t.type, t.name) for t in fig.data] == [
        ("scatter", "Best on its theme"),
        ("scatter", "Other initiatives"),
        ("scatter", "Off track"),
    ]
    best = trace(fig, "Best on its theme")
    assert sorted(zip(best.y, best.x)) == [("broadband", 0.7), ("cybersecurity", 0.85)]
    hover = dict(zip(best.y, best.hovertext))
    assert "Replicate in: AMS, ARB" in hover["cybersecurity"]
    assert "rank 1 of 3" in hover["cybersecurity"]
    assert list(trace(fig, "Other initiatives").x) == [0.6]  # ASP1 has no composite: not drawn
    assert trace(fig, "Off track").marker.color == kpi.STATUS_COLORS["off_track"]
    assert list(fig.layout.yaxis.categoryarray) == ["broadband", "cybersecurity"]
    assert_escaped(fig)
    # scores passed alone as the first argument
    alone = charts.scaleup_comparison(scores)
    assert [t.name for t in alone.data] == [t.name for t in fig.data]


def test_scaleup_comparison_candidates_only():
    _, cands = scaleup_frames()
    fig = charts.scaleup_comparison(cands)
    assert len(fig.data) == 1 and fig.data[0].name == "Proposed for replication"
    assert sorted(zip(fig.data[0].y, fig.data[0].text)) == [
        ("broadband", "AFR2 → EUR"),
        ("cybersecurity", "AFR3 → AMS, ARB"),
    ]


# --------------------------------------------------------------------------- offline, sample


def every_chart(state: dict[str, pd.DataFrame], unit: str, quarter: str) -> list[go.Figure]:
    progress = kpi.kpi_progress(state, quarter)
    series = kpi.kpi_series(state, quarter)
    nodes, edges = pathway.pathway(state, progress)
    reg = risks.risk_register(state, quarter)
    money = finance.money_by_output(state, quarter)
    row = progress.loc[progress["unit_code"] == unit].iloc[0]
    figs = [
        charts.toc_diagram(nodes, edges, pathway.layout(nodes, edges), pathway.stalls(nodes, edges)),
        charts.kpi_trend(series, row, state["Milestones"]),
        charts.status_summary(kpi.rollup(progress, "level")),
        charts.risk_heatmap(risks.risk_heatmap(reg)),
        charts.burn_vs_delivery(finance.burn_vs_delivery(money, progress)),
        charts.money_sankey(finance.money_flows(state, quarter)),
        charts.linkage_network(linkages.linkage_matrix(state)),
    ]
    try:
        from rbm_utils.analytics import scaleup
    except ImportError:
        return figs
    types = {u: ("region" if u in schema.REGIONS else "cluster") for u in state["KPIs"]["unit_code"].unique()}
    figs.append(
        charts.scaleup_comparison(
            scaleup.scaleup_candidates(state, progress, money, quarter, series, unit_types=types),
            scaleup.initiative_scores(state, progress, money, quarter, series, types),
        )
    )
    return figs


def test_figures_reference_nothing_online():
    figs = every_chart(unit_state(), "AFR", Q)
    for fig in figs:
        assert isinstance(fig, go.Figure)
        assert not re.search(r"https?://", fig.to_json())
        page = fig.to_html(include_plotlyjs=True, full_html=True)
        assert not re.search(r"<script[^>]+src=", page)  # plotly.js inline, no CDN
        assert not re.search(r"<link[^>]+href=", page)  # no web font or stylesheet


def test_every_chart_on_sample_units():
    sample = pytest.importorskip("rbm_utils.demo.sample")
    from rbm_utils.core.config import load_config

    cfg = load_config()
    parts: dict[str, list[pd.DataFrame]] = {}
    for code in ("AFR", "EUR", "CYB"):
        _, frames = sample.sample_unit(cfg, code)
        for name, df in frames.items():
            parts.setdefault(name, []).append(df.assign(unit_code=code))
    state = {n: schema.conform(n, pd.concat(v, ignore_index=True), with_unit=True) for n, v in parts.items()}
    figs = every_chart(state, "AFR", cfg.current_quarter)
    assert all(isinstance(f, go.Figure) and len(f.data) >= 1 for f in figs)
    progress = kpi.kpi_progress(state, cfg.current_quarter)
    nodes, edges = pathway.pathway(state, progress)
    toc = figs[0]
    drawn = sum(len(t.x) for t in toc.data if t.name not in ("Links", "Stalled link"))
    assert drawn == len(nodes)
    colours = {t.name: t.marker.color for t in toc.data if t.name not in ("Links", "Stalled link")}
    for status in set(nodes["status"]):
        assert colours[labels.STATUS_LABELS[status]] == STATUS_COLORS[status]


def test_status_summary_puts_the_chain_levels_in_chain_order_and_the_legend_below():
    """Levels read activity -> impact (schema.LEVELS), not alphabetically; the legend sits at the
    foot of the figure, below the axis labels and title (plotly widens the margin for it)."""
    p = pd.DataFrame(
        {
            "unit_code": ["A"] * 4 + ["B"],
            "level": ["impact", "activity", "output", "behaviour", "capacity"],
            "status": ["off_track", "on_track", "at_risk", "on_track", "no_data"],
        }
    )
    fig = charts.status_summary(kpi.rollup(p, ["unit_code", "level"]))
    assert list(trace(fig, "On track").y) == [
        "A / activity",
        "A / output",
        "A / behaviour",
        "A / impact",
        "B / capacity",
    ]
    assert list(trace(fig, "Off track").x) == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert (fig.layout.legend.yref, fig.layout.legend.y, fig.layout.legend.yanchor) == ("container", 0, "bottom")
    assert fig.layout.xaxis.automargin is True
