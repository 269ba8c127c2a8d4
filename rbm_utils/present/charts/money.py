"""Money charts: money spent against results delivered, and where the money goes.

Example:
    >>> flows = pd.DataFrame({"source": ["Regular budget"], "target": ["AFR"], "amount": [100.0],
    ...                       "source_kind": ["source"], "target_kind": ["unit"]})
    >>> list(money_sankey(flows).data[0].node.label)
    ['Regular budget', 'AFR']
"""

from __future__ import annotations

import logging

import pandas as pd
import plotly.graph_objects as go

from rbm_utils.core.text import cell_text, escape_text, fmt_number, fmt_share
from rbm_utils.present.charts.figure import empty_figure, new_figure
from rbm_utils.present.labels import FLOW_KIND_COLORS, FLOW_KIND_ORDER, QUADRANT_COLORS, UNKNOWN_COLOR

log = logging.getLogger(__name__)


def burn_vs_delivery(
    frame: pd.DataFrame, title: str | None = "Money spent against results delivered", currency: str = "CHF"
) -> go.Figure:
    """Quadrant scatter of :func:`rbm_utils.analytics.finance.burn_vs_delivery`: x = share of the
    year's budget spent, y = delivery (median clipped achievement of the output's KPIs), one
    marker trace per quadrant (coloured from :data:`rbm_utils.present.labels.QUADRANT_COLORS`, in that order). Outputs
    lacking either figure are not drawn (logged). Guides: a vertical dashed line at the
    share of the year elapsed, a horizontal one at the median expected delivery.
    """
    fig = new_figure(title)
    if frame is None or frame.empty:
        return empty_figure(fig, "No outputs with budget or KPIs.")
    df = frame.assign(
        _x=pd.to_numeric(frame["share_spent"], errors="coerce").astype("float64"),
        _y=pd.to_numeric(frame["delivery"], errors="coerce").astype("float64"),
    )
    lost = df["_x"].isna() | df["_y"].isna()
    if lost.any():
        log.info("burn_vs_delivery: %d output(s) lack share spent or delivery; not drawn", int(lost.sum()))
    df = df.loc[~lost]
    if df.empty:
        return empty_figure(fig, "No output has both a budget this year and KPI data.")
    quadrant = df["quadrant"].astype(object).map(cell_text)
    order = list(QUADRANT_COLORS) + sorted(set(quadrant) - set(QUADRANT_COLORS))
    money = lambda v: fmt_number(v, "currency", currency)  # noqa: E731
    for q in order:
        sel = df.loc[quadrant.eq(q).to_numpy()]
        if sel.empty:
            continue
        hover = [
            f"<b>{escape_text(t) or escape_text(r)}</b> ({escape_text(u)} {escape_text(r)})<br>Spent {escape_text(money(sp))} of {escape_text(money(b))}"
            f" ({fmt_share(x)}); {fmt_share(te)} of the year elapsed<br>Delivery {fmt_share(y)}"
            f" against {fmt_share(ed)} expected<br>{escape_text(q)}"
            for u, r, t, sp, b, x, te, y, ed in zip(
                sel["unit_code"],
                sel["result_id"],
                sel.get("title", sel["result_id"]),
                sel.get("spent_year", sel["_x"]),
                sel.get("budget_year", sel["_x"]),
                sel["_x"],
                sel.get("time_elapsed", sel["_x"]),
                sel["_y"],
                sel.get("expected_delivery", sel["_y"]),
            )
        ]
        fig.add_trace(
            go.Scatter(
                x=sel["_x"].tolist(),
                y=sel["_y"].tolist(),
                mode="markers+text",
                name=escape_text(q.capitalize()),
                marker=dict(size=13, color=QUADRANT_COLORS.get(q, UNKNOWN_COLOR), line=dict(width=1, color="#333")),
                text=[escape_text(r) for r in sel["result_id"]],
                textposition="top center",
                textfont=dict(size=9),
                hovertext=hover,
                hoverinfo="text",
            )
        )
    te = (
        pd.to_numeric(df.get("time_elapsed"), errors="coerce").dropna()
        if "time_elapsed" in df.columns
        else pd.Series(dtype=float)
    )
    if len(te):
        x0 = float(te.median())
        fig.add_vline(
            x=x0,
            line=dict(color="#555", dash="dash", width=1),
            annotation_text=f"{fmt_share(x0)} of the year elapsed",
            annotation_position="top",
        )
    ed = (
        pd.to_numeric(df.get("expected_delivery"), errors="coerce").dropna()
        if "expected_delivery" in df.columns
        else pd.Series(dtype=float)
    )
    if len(ed):
        y0 = float(ed.median())
        fig.add_hline(
            y=y0,
            line=dict(color="#555", dash="dot", width=1),
            annotation_text=f"expected delivery {fmt_share(y0)} (median)",
            annotation_position="right",
        )
    fig.update_xaxes(title="Share of the year's budget spent", tickformat=".0%", rangemode="tozero")
    fig.update_yaxes(title="Delivery (share of the way to target)", tickformat=".0%", rangemode="tozero")
    fig.update_layout(height=500)
    return fig


def money_sankey(flows: pd.DataFrame, title: str | None = "Where the money goes", currency: str = "CHF") -> go.Figure:
    """Sankey diagram funding source -> unit -> programme -> output from
    :func:`rbm_utils.analytics.finance.money_flows` (source_id / target_id identify nodes, source /
    target are their labels, source_kind / target_kind their layer). One ``go.Sankey`` trace;
    nodes ordered by layer (:data:`rbm_utils.present.labels.FLOW_KIND_ORDER`) then first appearance, coloured by layer
    (:data:`rbm_utils.present.labels.FLOW_KIND_COLORS`); labels escaped. Without id columns, labels are the ids.
    """
    fig = new_figure(title)
    if flows is None or flows.empty:
        return empty_figure(fig, "No budget or spending to show.")
    f = flows.loc[pd.to_numeric(flows["amount"], errors="coerce").fillna(0).to_numpy() > 0]
    sid = f["source_id"] if "source_id" in f.columns else f["source"]
    tid = f["target_id"] if "target_id" in f.columns else f["target"]
    skind = f["source_kind"] if "source_kind" in f.columns else pd.Series([""] * len(f), index=f.index)
    tkind = f["target_kind"] if "target_kind" in f.columns else pd.Series([""] * len(f), index=f.index)
    sids, tids = [cell_text(i) for i in sid.tolist()], [cell_text(i) for i in tid.tolist()]
    sources, targets = f["source"].tolist(), f["target"].tolist()
    nodes: dict[str, tuple[str, str]] = {}
    for i, lab, kind in [*zip(sids, sources, skind.tolist()), *zip(tids, targets, tkind.tolist())]:
        if i not in nodes:
            nodes[i] = (cell_text(lab), cell_text(kind))
    kind_rank = {k: j for j, k in enumerate(FLOW_KIND_ORDER)}
    first = {i: j for j, i in enumerate(nodes)}  # order of first appearance
    ids = sorted(nodes, key=lambda i: (kind_rank.get(nodes[i][1], len(kind_rank)), first[i]))
    index = {i: j for j, i in enumerate(ids)}
    labels = [escape_text(nodes[i][0]) for i in ids]
    amounts = pd.to_numeric(f["amount"], errors="coerce").astype("float64").tolist()
    money = lambda v: fmt_number(v, "currency", currency)  # noqa: E731
    names: dict[str, str] = {}  # each node's label escaped once, not once per link

    def name(v: object) -> str:
        if not isinstance(v, str):
            return escape_text(v)
        if v not in names:
            names[v] = escape_text(v)
        return names[v]

    fig.add_trace(
        go.Sankey(
            arrangement="snap",
            node=dict(
                label=labels,
                color=[FLOW_KIND_COLORS.get(nodes[i][1], UNKNOWN_COLOR) for i in ids],
                pad=14,
                thickness=16,
                line=dict(color="#555", width=0.5),
                customdata=[escape_text(nodes[i][1]) for i in ids],
            ),
            link=dict(
                source=[index[i] for i in sids],
                target=[index[i] for i in tids],
                value=amounts,
                label=[f"{name(s)} → {name(t)}: {escape_text(money(a))}" for s, t, a in zip(sources, targets, amounts)],
                color="rgba(46,117,182,0.25)",
            ),
            valueformat=",.0f",
            valuesuffix=f" {escape_text(currency)}",
        )
    )
    fig.update_layout(height=max(420, 22 * len(ids)))
    return fig
