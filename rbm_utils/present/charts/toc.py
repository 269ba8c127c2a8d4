"""The theory of change drawn as a diagram: results left to right by level, coloured by status.

Example:
    >>> n = pd.DataFrame({"unit_code": ["U"], "result_id": ["A"], "level": ["output"], "title": ["x"],
    ...                   "n_kpis": [1], "status": ["on_track"]})
    >>> [t.name for t in toc_diagram(n, None, None).data]
    ['On track']
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import pandas as pd
import plotly.graph_objects as go

from rbm_utils.analytics.pathway import layout as pathway_layout
from rbm_utils.core import schema
from rbm_utils.core.text import cell_number, cell_text, escape_text
from rbm_utils.present.charts.figure import empty_figure, legend_below, new_figure, shorten
from rbm_utils.present.labels import STATUS_LEGEND_ORDER, status_color, status_label

log = logging.getLogger(__name__)

EDGE_COLOR = "#8a8a8a"
STALL_COLOR = "#c0392b"


def toc_diagram(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    layout: pd.DataFrame | None,
    stalls: pd.DataFrame | None = None,
    title: str | None = "Theory of change",
) -> go.Figure:
    """The theory of change as a left-to-right diagram (activity ... impact), each result a
    marker coloured by its status.

    ``nodes``, ``edges``: :func:`rbm_utils.analytics.pathway.pathway`; ``layout``:
    :func:`rbm_utils.analytics.pathway.layout` (x, y per result; None: computed from nodes and edges); ``stalls`` (optional):
    :func:`rbm_utils.analytics.pathway.stalls`, drawn as red dashed links. Traces: one line trace
    "Links" for all edges (None-separated segments), one "Stalled link" trace if any stall,
    then one marker trace per status present, in :data:`~rbm_utils.present.labels.STATUS_LEGEND_ORDER`, coloured from
    :data:`~rbm_utils.present.labels.STATUS_COLORS`. Several units are stacked vertically (unit i at y + i).

    >>> n = pd.DataFrame({"unit_code": ["U"] * 2, "result_id": ["A", "B"], "level": ["output", "impact"],
    ...                   "title": ["x", "y"], "n_kpis": [1, 1], "status": ["on_track", "off_track"]})
    >>> e = pd.DataFrame({"unit_code": ["U"], "source": ["A"], "target": ["B"]})
    >>> from rbm_utils.analytics.pathway import layout as lay
    >>> [t.name for t in toc_diagram(n, e, lay(n, e)).data]
    ['Links', 'Off track', 'On track']
    """
    fig = new_figure(title)
    if nodes is None or nodes.empty:
        return empty_figure(fig, "No results in the theory of change.")
    keys = ["unit_code", "result_id"]
    if layout is None:
        layout = pathway_layout(
            nodes, edges if edges is not None else pd.DataFrame(columns=["unit_code", "source", "target"])
        )
    pos = layout[[*keys, "x", "y"]].drop_duplicates(keys)
    n = nodes.drop(columns=[c for c in ("x", "y") if c in nodes.columns]).merge(pos, on=keys, how="left")
    units = sorted(n["unit_code"].astype(str).unique())
    offset = {u: i for i, u in enumerate(units)}
    n = n.assign(
        _x=n["x"].astype("float64"),
        _y=n["y"].astype("float64") + n["unit_code"].astype(str).map(offset).astype("float64"),
    )
    missing = n["_x"].isna() | n["_y"].isna()
    if missing.any():
        log.warning("toc_diagram: %d result(s) without a position are not drawn", int(missing.sum()))
        n = n.loc[~missing]
    xy = {(u, r): (x, y) for u, r, x, y in zip(n["unit_code"], n["result_id"], n["_x"], n["_y"])}

    def segments(pairs: Iterable[tuple]) -> tuple[list, list]:
        xs: list = []
        ys: list = []
        for u, s, t in pairs:
            if (u, s) in xy and (u, t) in xy:
                (x0, y0), (x1, y1) = xy[(u, s)], xy[(u, t)]
                xs += [x0, x1, None]
                ys += [y0, y1, None]
        return xs, ys

    stalled: set = set()
    if stalls is not None and len(stalls):
        stalled = set(zip(stalls["unit_code"], stalls["source"], stalls["target"]))
    if edges is not None and len(edges):
        plain = [
            (u, s, t)
            for u, s, t in zip(edges["unit_code"], edges["source"], edges["target"])
            if (u, s, t) not in stalled
        ]
        xs, ys = segments(plain)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name="Links",
                line=dict(color=EDGE_COLOR, width=1.5),
                hoverinfo="skip",
                showlegend=False,
            )
        )
    if stalled:
        xs, ys = segments(sorted(stalled))
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name="Stalled link",
                line=dict(color=STALL_COLOR, width=2.5, dash="dash"),
                hoverinfo="skip",
            )
        )
    status = n["status"].astype(object).map(cell_text)
    order = list(STATUS_LEGEND_ORDER) + sorted(set(status) - set(STATUS_LEGEND_ORDER))
    for st in order:
        sel = n.loc[status.eq(st).to_numpy()]
        if sel.empty:
            continue
        label = status_label(st)
        hover = [
            f"<b>{escape_text(r)}</b> ({escape_text(u)})<br>{escape_text(t)}<br>Level: {escape_text(lv)}<br>Status: {escape_text(label)}"
            f"<br>KPIs: {int(cell_number(k)) if not math.isnan(cell_number(k)) else 0}"
            for u, r, t, lv, k in zip(
                sel["unit_code"],
                sel["result_id"],
                sel["title"],
                sel["level"],
                sel["n_kpis"] if "n_kpis" in sel.columns else [0] * len(sel),
            )
        ]
        text = [
            f"{escape_text(r)}<br>{escape_text(shorten(cell_text(t)))}" for r, t in zip(sel["result_id"], sel["title"])
        ]
        fig.add_trace(
            go.Scatter(
                x=sel["_x"].tolist(),
                y=sel["_y"].tolist(),
                mode="markers+text",
                name=escape_text(label),
                marker=dict(size=26, color=status_color(st), line=dict(width=1, color="#333333")),
                text=text,
                textposition="bottom center",
                textfont=dict(size=10),
                hovertext=hover,
                hoverinfo="text",
            )
        )
    levels = list(schema.LEVELS)
    fig.update_xaxes(
        tickvals=list(range(len(levels))),
        ticktext=[lv.capitalize() for lv in levels],
        range=[-0.6, max(len(levels) - 0.4, float(n["_x"].max()) + 0.6)],
        showgrid=False,
        zeroline=False,
    )
    fig.update_yaxes(visible=False, range=[-0.1, len(units) + 0.05])
    fig.update_layout(height=max(380, 300 * len(units)))
    legend_below(fig)
    return fig
