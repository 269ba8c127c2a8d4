"""Every chart of the workbench: plotly figures built from the analytics output frames.

Each function takes the frame an analytics function returns (never recomputes it) and
returns a :class:`plotly.graph_objects.Figure`. Figures reference nothing on the internet:
no CDN, no web font, no image URL; plotly.js comes with the page (Voila's plotly extension,
or ``include_plotlyjs=True`` for a static file). Plotly renders a subset of HTML in labels
and hover text, so every piece of free text from the workbooks is HTML-escaped with
:func:`rbm_utils.analytics.review.escape_text`; hover text goes through ``hovertext`` (never a
``hovertemplate``, which would also expand ``%{...}`` written by an officer).

Colours: :data:`STATUS_COLORS` (from ``kpi.STATUS_COLORS``, plus ``no_kpi``) is the one
status colour map of every chart and table.

Example:
    >>> import pandas as pd
    >>> from rbm_utils import kpi
    >>> p = pd.DataFrame({"unit_code": ["AFR", "AFR"], "status": ["on_track", "off_track"]})
    >>> fig = status_summary(kpi.rollup(p, "unit_code"))
    >>> [t.name for t in fig.data][:2]
    ['Off track', 'No data']
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from rbm_utils.core import schema
from rbm_utils.analytics.kpi import STATUS_COLORS as _KPI_STATUS_COLORS
from rbm_utils.analytics.kpi import STATUS_LABELS as _KPI_STATUS_LABELS
from rbm_utils.analytics.kpi import STATUS_ORDER
from rbm_utils.analytics.pathway import NO_KPI, NODE_STATUS_COLORS
from rbm_utils.analytics.pathway import layout as pathway_layout
from rbm_utils.analytics.review import escape_text, fmt_number, fmt_share

log = logging.getLogger(__name__)

#: The shared status colour map: ``kpi.STATUS_COLORS`` plus ``no_kpi`` (a result with no KPI).
STATUS_COLORS: dict[str, str] = {**_KPI_STATUS_COLORS, NO_KPI: NODE_STATUS_COLORS[NO_KPI]}
#: Legend words for each status.
STATUS_LABELS: dict[str, str] = {**_KPI_STATUS_LABELS, NO_KPI: "No KPI"}
#: Statuses in legend order (worst first, as ``kpi.STATUS_ORDER``), then ``no_kpi``.
STATUS_LEGEND_ORDER: tuple[str, ...] = (*STATUS_ORDER, NO_KPI)
#: Colour of a status the map does not know.
UNKNOWN_COLOR = "#7f7f7f"

#: Risk rating colours (risks.RATINGS), low to critical.
RATING_COLORS: dict[str, str] = {"low": "#8cc084", "medium": "#f6d55c", "high": "#f0a30a", "critical": "#c0392b"}
RATING_ORDER: tuple[str, ...] = ("low", "medium", "high", "critical")

#: Quadrant colours of :func:`burn_vs_delivery` (finance.burn_vs_delivery quadrants).
QUADRANT_COLORS: dict[str, str] = {
    "efficient": "#1b5e20",
    "on plan": "#2e9e4f",
    "front-loaded": "#f0a30a",
    "slow start": "#f6d55c",
    "delivery lagging": "#e8590c",
    "overspending for delivery": "#c0392b",
    "no budget": "#9e9e9e",
    "no delivery data": "#b8c7d9",
}

#: Node colours of :func:`money_sankey` by layer (finance.money_flows kinds).
FLOW_KIND_COLORS: dict[str, str] = {"source": "#1f4e79", "unit": "#2e75b6", "programme": "#9dc3e6", "output": "#c9d9ea"}
FLOW_KIND_ORDER: tuple[str, ...] = ("source", "unit", "programme", "output")

#: Template and margins of every figure (a plotly built-in template: nothing is fetched).
TEMPLATE = "plotly_white"
_MARGIN = dict(l=60, r=30, t=60, b=50)
_EDGE_COLOR = "#8a8a8a"
_STALL_COLOR = "#c0392b"


def status_color(status: Any) -> str:
    """Colour of a status code (:data:`UNKNOWN_COLOR` when unknown).

    >>> status_color("off_track")
    '#c0392b'
    """
    return STATUS_COLORS.get(str(status), UNKNOWN_COLOR) if status is not None else UNKNOWN_COLOR


def _esc(value: Any) -> str:
    return escape_text(value)


def _s(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _f(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _short(text: str, n: int = 28) -> str:
    """Shorten plain text to ``n`` characters (escape afterwards)."""
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _figure(title: str | None) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(template=TEMPLATE, margin=_MARGIN, title=dict(text=_esc(title) if title else None),
                      hoverlabel=dict(align="left"))
    return fig


def _empty(fig: go.Figure, message: str) -> go.Figure:
    fig.add_annotation(text=_esc(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=14, color="#555"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


# --------------------------------------------------------------------------------------
# theory of change
# --------------------------------------------------------------------------------------

def toc_diagram(nodes: pd.DataFrame, edges: pd.DataFrame, layout: pd.DataFrame | None,
                stalls: pd.DataFrame | None = None, title: str | None = "Theory of change") -> go.Figure:
    """The theory of change as a left-to-right diagram (activity ... impact), each result a
    marker coloured by its status.

    ``nodes``, ``edges``: :func:`rbm_utils.analytics.pathway.pathway`; ``layout``:
    :func:`rbm_utils.analytics.pathway.layout` (x, y per result; None: computed from nodes and edges); ``stalls`` (optional):
    :func:`rbm_utils.analytics.pathway.stalls`, drawn as red dashed links. Traces: one line trace
    "Links" for all edges (None-separated segments), one "Stalled link" trace if any stall,
    then one marker trace per status present, in :data:`STATUS_LEGEND_ORDER`, coloured from
    :data:`STATUS_COLORS`. Several units are stacked vertically (unit i at y + i).

    >>> n = pd.DataFrame({"unit_code": ["U"] * 2, "result_id": ["A", "B"], "level": ["output", "impact"],
    ...                   "title": ["x", "y"], "n_kpis": [1, 1], "status": ["on_track", "off_track"]})
    >>> e = pd.DataFrame({"unit_code": ["U"], "source": ["A"], "target": ["B"]})
    >>> from rbm_utils.analytics.pathway import layout as lay
    >>> [t.name for t in toc_diagram(n, e, lay(n, e)).data]
    ['Links', 'Off track', 'On track']
    """
    fig = _figure(title)
    if nodes is None or nodes.empty:
        return _empty(fig, "No results in the theory of change.")
    keys = ["unit_code", "result_id"]
    if layout is None:
        layout = pathway_layout(nodes, edges if edges is not None else pd.DataFrame(columns=["unit_code", "source", "target"]))
    pos = layout[[*keys, "x", "y"]].drop_duplicates(keys)
    n = nodes.drop(columns=[c for c in ("x", "y") if c in nodes.columns]).merge(pos, on=keys, how="left")
    units = sorted(n["unit_code"].astype(str).unique())
    offset = {u: i for i, u in enumerate(units)}
    n = n.assign(_x=n["x"].astype("float64"),
                 _y=n["y"].astype("float64") + n["unit_code"].astype(str).map(offset).astype("float64"))
    missing = n["_x"].isna() | n["_y"].isna()
    if missing.any():
        log.warning("toc_diagram: %d result(s) without a position are not drawn", int(missing.sum()))
        n = n.loc[~missing]
    xy = {(u, r): (x, y) for u, r, x, y in zip(n["unit_code"], n["result_id"], n["_x"], n["_y"])}

    def segments(pairs) -> tuple[list, list]:
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
        plain = [(u, s, t) for u, s, t in zip(edges["unit_code"], edges["source"], edges["target"])
                 if (u, s, t) not in stalled]
        xs, ys = segments(plain)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="Links", line=dict(color=_EDGE_COLOR, width=1.5),
                                 hoverinfo="skip", showlegend=False))
    if stalled:
        xs, ys = segments(sorted(stalled))
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="Stalled link",
                                 line=dict(color=_STALL_COLOR, width=2.5, dash="dash"), hoverinfo="skip"))
    status = n["status"].astype(object).map(_s)
    order = list(STATUS_LEGEND_ORDER) + sorted(set(status) - set(STATUS_LEGEND_ORDER))
    for st in order:
        sel = n.loc[status.eq(st).to_numpy()]
        if sel.empty:
            continue
        label = STATUS_LABELS.get(st, st or "unknown")
        hover = [
            f"<b>{_esc(r)}</b> ({_esc(u)})<br>{_esc(t)}<br>Level: {_esc(lv)}<br>Status: {_esc(label)}"
            f"<br>KPIs: {int(_f(k)) if not math.isnan(_f(k)) else 0}"
            for u, r, t, lv, k in zip(sel["unit_code"], sel["result_id"], sel["title"], sel["level"],
                                      sel["n_kpis"] if "n_kpis" in sel.columns else [0] * len(sel))
        ]
        text = [f"{_esc(r)}<br>{_esc(_short(_s(t)))}" for r, t in zip(sel["result_id"], sel["title"])]
        fig.add_trace(go.Scatter(
            x=sel["_x"].tolist(), y=sel["_y"].tolist(), mode="markers+text", name=_esc(label),
            marker=dict(size=26, color=status_color(st), line=dict(width=1, color="#333333")),
            text=text, textposition="bottom center", textfont=dict(size=10),
            hovertext=hover, hoverinfo="text",
        ))
    levels = list(schema.LEVELS)
    fig.update_xaxes(tickvals=list(range(len(levels))), ticktext=[lv.capitalize() for lv in levels],
                     range=[-0.6, max(len(levels) - 0.4, float(n["_x"].max()) + 0.6)], showgrid=False,
                     zeroline=False)
    fig.update_yaxes(visible=False, range=[-0.1, len(units) + 0.05])
    fig.update_layout(height=max(380, 300 * len(units)), legend=dict(orientation="h", y=-0.12))
    return fig


# --------------------------------------------------------------------------------------
# KPI trend
# --------------------------------------------------------------------------------------

def _as_row(progress_row: pd.Series | pd.DataFrame | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(progress_row, pd.DataFrame):
        if len(progress_row) != 1:
            raise ValueError(f"kpi_trend: progress_row must be one KPI, got {len(progress_row)} rows")
        return progress_row.iloc[0].to_dict()
    if isinstance(progress_row, pd.Series):
        return progress_row.to_dict()
    return dict(progress_row)


def _period_sort(periods) -> list[str]:
    ok = sorted({p for p in periods if isinstance(p, str) and schema.parse_period(p)}, key=schema.period_index)
    return ok


def kpi_trend(series_one_kpi: pd.DataFrame, progress_row: pd.Series | pd.DataFrame | Mapping[str, Any],
              milestones: pd.DataFrame | None = None, currency: str = "CHF") -> go.Figure:
    """Trend of one KPI with its baseline, expected path, milestones, target and forecast.

    ``series_one_kpi``: rows of :func:`rbm_utils.analytics.kpi.kpi_series` (filtered to the KPI of
    ``progress_row`` if it holds more); ``progress_row``: its row of
    :func:`rbm_utils.analytics.kpi.kpi_progress` (a Series, a dict or a one-row frame);
    ``milestones``: sheet Milestones (rows of other KPIs are ignored).

    Traces, in order (absent ones skipped): "Current value" (lines+markers, each marker
    coloured by the status at that period, filled where a value was reported), "Expected"
    (baseline + expected x (target - baseline), the rule's expectation), "Baseline",
    "Milestones", "Target", "Forecast" (dashed, from the last reported quarter to the target
    period, when ``forecast_value`` is known). The x axis lists every quarter from the
    baseline to the later of the last series quarter and the target period.
    """
    row = _as_row(progress_row)
    kid, unit = _s(row.get("kpi_id")), _s(row.get("unit_code"))
    name = _s(row.get("name")) or kid
    measure = _s(row.get("measure")) or "number"
    status = _s(row.get("status"))
    fig = _figure(f"{kid}: {name}" + (f" ({STATUS_LABELS.get(status, status)})" if status else ""))
    s = series_one_kpi if series_one_kpi is not None else pd.DataFrame(columns=["kpi_id", "period"])
    if "kpi_id" in s.columns and kid:
        s = s.loc[s["kpi_id"].astype(object).map(_s).eq(kid).to_numpy()]
    if "unit_code" in s.columns and unit:
        s = s.loc[s["unit_code"].astype(object).map(_s).eq(unit).to_numpy()]
    s = s.assign(_p=s["period"].map(lambda p: schema.period_index(p) if isinstance(p, str) and schema.parse_period(p) else np.nan))
    s = s.loc[s["_p"].notna()].sort_values("_p", kind="stable")
    ms = milestones if milestones is not None else pd.DataFrame(columns=["kpi_id", "period", "target_value"])
    if len(ms):
        ms = ms.loc[ms["kpi_id"].astype(object).map(_s).eq(kid).to_numpy()]
        if "unit_code" in ms.columns and unit:
            ms = ms.loc[ms["unit_code"].astype(object).map(_s).eq(unit).to_numpy()]
    bp, tp = _s(row.get("baseline_period")), _s(row.get("target_period"))
    bv, tv = _f(row.get("baseline_value")), _f(row.get("target_value"))
    fv = _f(row.get("forecast_value"))
    fig_ = lambda v: fmt_number(v, measure, currency)  # noqa: E731

    periods = _period_sort(list(s["period"]) + list(ms["period"]) + [bp, tp])
    if periods:
        periods = schema.period_range(periods[0], periods[-1])
    if len(s):
        cur = s["current"].astype("float64").tolist()
        rep = s["reported"].fillna(False).astype(bool).tolist() if "reported" in s.columns else [True] * len(s)
        st = s["status"].astype(object).map(_s).tolist() if "status" in s.columns else [""] * len(s)
        val = s["value"].astype("float64").tolist() if "value" in s.columns else [float("nan")] * len(s)
        hover = [
            f"{_esc(p)}: current value {_esc(fig_(c))}"
            + (f" (reported {_esc(fig_(v))})" if r and not math.isnan(v) else " (nothing reported)")
            + (f"<br>Status: {_esc(STATUS_LABELS.get(x, x))}" if x else "")
            for p, c, v, r, x in zip(s["period"], cur, val, rep, st)
        ]
        fig.add_trace(go.Scatter(
            x=s["period"].tolist(), y=cur, mode="lines+markers", name="Current value",
            line=dict(color="#34495e", width=2),
            marker=dict(size=10, color=[status_color(x) for x in st],
                        symbol=["circle" if r else "circle-open" for r in rep], line=dict(width=2, color=[status_color(x) for x in st])),
            hovertext=hover, hoverinfo="text"))
        if "expected" in s.columns and not (math.isnan(bv) or math.isnan(tv)):
            exp = s["expected"].astype("float64")
            ev = (bv + exp * (tv - bv)).tolist()
            fig.add_trace(go.Scatter(
                x=s["period"].tolist(), y=ev, mode="lines", name="Expected",
                line=dict(color="#7f8c8d", width=1.5, dash="dot"),
                hovertext=[f"{_esc(p)}: expected {_esc(fig_(v))}" for p, v in zip(s["period"], ev)], hoverinfo="text"))
    if bp and not math.isnan(bv):
        fig.add_trace(go.Scatter(x=[bp], y=[bv], mode="markers", name="Baseline",
                                 marker=dict(size=11, symbol="square", color="#7f8c8d"),
                                 hovertext=[f"Baseline {_esc(fig_(bv))} ({_esc(bp)})"], hoverinfo="text"))
    if len(ms):
        ms = ms.assign(_p=ms["period"].map(lambda p: schema.period_index(p) if isinstance(p, str) and schema.parse_period(p) else np.nan))
        ms = ms.loc[ms["_p"].notna()].sort_values("_p", kind="stable")
        mv = ms["target_value"].astype("float64").tolist()
        fig.add_trace(go.Scatter(x=ms["period"].tolist(), y=mv, mode="markers", name="Milestones",
                                 marker=dict(size=11, symbol="diamond", color="#2e75b6"),
                                 hovertext=[f"Milestone {_esc(fig_(v))} by {_esc(p)}" for p, v in zip(ms["period"], mv)],
                                 hoverinfo="text"))
    if tp and not math.isnan(tv):
        fig.add_trace(go.Scatter(x=[tp], y=[tv], mode="markers", name="Target",
                                 marker=dict(size=15, symbol="star", color="#1b5e20"),
                                 hovertext=[f"Target {_esc(fig_(tv))} by {_esc(tp)}"], hoverinfo="text"))
    if tp and not math.isnan(fv) and len(s):
        rep_rows = s.loc[s["reported"].fillna(False).astype(bool).to_numpy()] if "reported" in s.columns else s
        if len(rep_rows):
            last = rep_rows.iloc[-1]
            likely = row.get("likely_to_meet")
            words = "" if likely is None or likely is pd.NA or (isinstance(likely, float) and math.isnan(likely)) else (
                "; likely to meet the target" if bool(likely) else "; not likely to meet the target")
            fig.add_trace(go.Scatter(
                x=[last["period"], tp], y=[float(last["current"]), fv], mode="lines+markers", name="Forecast",
                line=dict(color="#8e44ad", width=1.5, dash="dash"), marker=dict(size=[0, 9], color="#8e44ad"),
                hovertext=[f"Last reported {_esc(last['period'])}: {_esc(fig_(last['current']))}",
                           f"Forecast {_esc(fig_(fv))} by {_esc(tp)}{_esc(words)}"], hoverinfo="text"))
    if not fig.data:
        return _empty(fig, "Nothing to plot for this KPI.")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=periods, title="Quarter")
    unit_title = {"percent": "%", "currency": currency}.get(measure, "")
    fig.update_yaxes(title=_esc(unit_title) or None, rangemode="tozero" if measure != "ratio" else "normal")
    fig.update_layout(legend=dict(orientation="h", y=-0.2))
    return fig


# --------------------------------------------------------------------------------------
# status summary
# --------------------------------------------------------------------------------------

def status_summary(rollup_frame: pd.DataFrame, title: str | None = "KPI status") -> go.Figure:
    """Stacked horizontal bars of KPI counts per status for each group of
    :func:`rbm_utils.analytics.kpi.rollup` (group keys: every column that is not ``n_kpis``,
    ``n_<status>`` or ``share_<status>``; several keys are joined with " / "; no key gives
    one bar "Bureau"). One ``go.Bar`` trace per status of ``kpi.STATUS_ORDER`` (always all
    six, so legends stay stable), coloured from :data:`STATUS_COLORS`.
    """
    fig = _figure(title)
    if rollup_frame is None or rollup_frame.empty:
        return _empty(fig, "No KPIs.")
    keys = [c for c in rollup_frame.columns
            if c != "n_kpis" and not c.startswith("n_") and not c.startswith("share_")]
    if keys:
        labels = [" / ".join(_s(v) or "(blank)" for v in vals)
                  for vals in rollup_frame[keys].astype(object).itertuples(index=False)]
    else:
        labels = ["Bureau"] * len(rollup_frame)
    shown = [_esc(x) for x in labels]
    total = rollup_frame["n_kpis"].astype("float64").tolist() if "n_kpis" in rollup_frame.columns else None
    for st in STATUS_ORDER:
        col = f"n_{st}"
        counts = rollup_frame[col].astype("float64").fillna(0).tolist() if col in rollup_frame.columns else [0.0] * len(labels)
        tot = total or [float("nan")] * len(labels)
        hover = [f"{lab}<br>{_esc(STATUS_LABELS[st])}: {int(c)} of {int(t) if not math.isnan(t) else '?'} KPIs"
                 + (f" ({fmt_share(c / t)})" if t and not math.isnan(t) else "")
                 for lab, c, t in zip(shown, counts, tot)]
        fig.add_trace(go.Bar(y=shown, x=counts, orientation="h", name=_esc(STATUS_LABELS[st]),
                             marker=dict(color=STATUS_COLORS[st]), hovertext=hover, hoverinfo="text"))
    fig.update_layout(barmode="stack", height=max(300, 60 + 32 * len(labels)),
                      legend=dict(orientation="h", y=-0.15, traceorder="normal"))
    fig.update_xaxes(title="KPIs")
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


# --------------------------------------------------------------------------------------
# risks
# --------------------------------------------------------------------------------------

def risk_heatmap(heatmap_frame: pd.DataFrame, title: str | None = "Open risks: likelihood x impact") -> go.Figure:
    """The 5 x 5 risk matrix of :func:`rbm_utils.analytics.risks.risk_heatmap`: one ``go.Heatmap``,
    impact on x (1-5), likelihood on y (1-5); each cell coloured by its rating
    (:data:`RATING_COLORS`) and labelled with its count of open risks (blank when 0).
    ``z`` holds the rating index (0 low .. 3 critical), ``text`` the counts.
    """
    fig = _figure(title)
    rng = [1, 2, 3, 4, 5]
    cells = {}
    if heatmap_frame is not None and len(heatmap_frame):
        for r in heatmap_frame.to_dict("records"):
            cells[(int(r["likelihood"]), int(r["impact"]))] = r
    z, text, hover = [], [], []
    for lk in rng:
        zr, tr, hr = [], [], []
        for im in rng:
            r = cells.get((lk, im), {})
            score = int(_f(r.get("score"))) if not math.isnan(_f(r.get("score"))) else lk * im
            rating = _s(r.get("rating"))
            n = int(_f(r.get("n_risks"))) if not math.isnan(_f(r.get("n_risks"))) else 0
            zr.append(RATING_ORDER.index(rating) if rating in RATING_ORDER else None)
            tr.append(str(n) if n else "")
            hr.append(f"Likelihood {lk}, impact {im}: score {score}" + (f" ({_esc(rating)})" if rating else "")
                      + f"<br>{n} open risk{'s' if n != 1 else ''}")
        z.append(zr)
        text.append(tr)
        hover.append(hr)
    k = len(RATING_ORDER)
    scale = []
    for i, rating in enumerate(RATING_ORDER):
        scale += [[i / k, RATING_COLORS[rating]], [(i + 1) / k, RATING_COLORS[rating]]]
    fig.add_trace(go.Heatmap(
        x=rng, y=rng, z=z, text=text, texttemplate="%{text}", textfont=dict(size=16),
        zmin=-0.5, zmax=k - 0.5, colorscale=scale, showscale=False, xgap=2, ygap=2,
        hovertext=hover, hoverinfo="text", name="Open risks"))
    fig.update_xaxes(title="Impact", tickvals=rng, constrain="domain")
    fig.update_yaxes(title="Likelihood", tickvals=rng, scaleanchor="x")
    fig.update_layout(height=460, width=520)
    return fig


# --------------------------------------------------------------------------------------
# money
# --------------------------------------------------------------------------------------

def burn_vs_delivery(frame: pd.DataFrame, title: str | None = "Money spent against results delivered",
                     currency: str = "CHF") -> go.Figure:
    """Quadrant scatter of :func:`rbm_utils.analytics.finance.burn_vs_delivery`: x = share of the
    year's budget spent, y = delivery (median clipped achievement of the output's KPIs), one
    marker trace per quadrant (coloured from :data:`QUADRANT_COLORS`, in that order). Outputs
    lacking either figure are not drawn (logged). Guides: a vertical dashed line at the
    share of the year elapsed, a horizontal one at the median expected delivery.
    """
    fig = _figure(title)
    if frame is None or frame.empty:
        return _empty(fig, "No outputs with budget or KPIs.")
    df = frame.assign(_x=pd.to_numeric(frame["share_spent"], errors="coerce").astype("float64"),
                      _y=pd.to_numeric(frame["delivery"], errors="coerce").astype("float64"))
    lost = df["_x"].isna() | df["_y"].isna()
    if lost.any():
        log.info("burn_vs_delivery: %d output(s) lack share spent or delivery; not drawn", int(lost.sum()))
    df = df.loc[~lost]
    if df.empty:
        return _empty(fig, "No output has both a budget this year and KPI data.")
    quadrant = df["quadrant"].astype(object).map(_s)
    order = list(QUADRANT_COLORS) + sorted(set(quadrant) - set(QUADRANT_COLORS))
    money = lambda v: fmt_number(v, "currency", currency)  # noqa: E731
    for q in order:
        sel = df.loc[quadrant.eq(q).to_numpy()]
        if sel.empty:
            continue
        hover = [
            f"<b>{_esc(t) or _esc(r)}</b> ({_esc(u)} {_esc(r)})<br>Spent {_esc(money(sp))} of {_esc(money(b))}"
            f" ({fmt_share(x)}); {fmt_share(te)} of the year elapsed<br>Delivery {fmt_share(y)}"
            f" against {fmt_share(ed)} expected<br>{_esc(q)}"
            for u, r, t, sp, b, x, te, y, ed in zip(
                sel["unit_code"], sel["result_id"], sel.get("title", sel["result_id"]), sel.get("spent_year", sel["_x"]),
                sel.get("budget_year", sel["_x"]), sel["_x"], sel.get("time_elapsed", sel["_x"]), sel["_y"],
                sel.get("expected_delivery", sel["_y"]))
        ]
        fig.add_trace(go.Scatter(
            x=sel["_x"].tolist(), y=sel["_y"].tolist(), mode="markers+text", name=_esc(q.capitalize()),
            marker=dict(size=13, color=QUADRANT_COLORS.get(q, UNKNOWN_COLOR), line=dict(width=1, color="#333")),
            text=[_esc(r) for r in sel["result_id"]], textposition="top center", textfont=dict(size=9),
            hovertext=hover, hoverinfo="text"))
    te = pd.to_numeric(df.get("time_elapsed"), errors="coerce").dropna() if "time_elapsed" in df.columns else pd.Series(dtype=float)
    if len(te):
        x0 = float(te.median())
        fig.add_vline(x=x0, line=dict(color="#555", dash="dash", width=1),
                      annotation_text=f"{fmt_share(x0)} of the year elapsed", annotation_position="top")
    ed = pd.to_numeric(df.get("expected_delivery"), errors="coerce").dropna() if "expected_delivery" in df.columns else pd.Series(dtype=float)
    if len(ed):
        y0 = float(ed.median())
        fig.add_hline(y=y0, line=dict(color="#555", dash="dot", width=1),
                      annotation_text=f"expected delivery {fmt_share(y0)} (median)", annotation_position="right")
    fig.update_xaxes(title="Share of the year's budget spent", tickformat=".0%", rangemode="tozero")
    fig.update_yaxes(title="Delivery (share of the way to target)", tickformat=".0%", rangemode="tozero")
    fig.update_layout(height=500)
    return fig


def money_sankey(flows: pd.DataFrame, title: str | None = "Where the money goes", currency: str = "CHF") -> go.Figure:
    """Sankey diagram funding source -> unit -> programme -> output from
    :func:`rbm_utils.analytics.finance.money_flows` (source_id / target_id identify nodes, source /
    target are their labels, source_kind / target_kind their layer). One ``go.Sankey`` trace;
    nodes ordered by layer (:data:`FLOW_KIND_ORDER`) then first appearance, coloured by layer
    (:data:`FLOW_KIND_COLORS`); labels escaped. Without id columns, labels are the ids.
    """
    fig = _figure(title)
    if flows is None or flows.empty:
        return _empty(fig, "No budget or spending to show.")
    f = flows.loc[pd.to_numeric(flows["amount"], errors="coerce").fillna(0).to_numpy() > 0]
    sid = f["source_id"] if "source_id" in f.columns else f["source"]
    tid = f["target_id"] if "target_id" in f.columns else f["target"]
    skind = f["source_kind"] if "source_kind" in f.columns else pd.Series([""] * len(f), index=f.index)
    tkind = f["target_kind"] if "target_kind" in f.columns else pd.Series([""] * len(f), index=f.index)
    nodes: dict[str, tuple[str, str]] = {}
    for i, lab, kind in [*zip(sid, f["source"], skind), *zip(tid, f["target"], tkind)]:
        nodes.setdefault(_s(i), (_s(lab), _s(kind)))
    kind_rank = {k: j for j, k in enumerate(FLOW_KIND_ORDER)}
    ids = sorted(nodes, key=lambda i: (kind_rank.get(nodes[i][1], len(kind_rank)), list(nodes).index(i)))
    index = {i: j for j, i in enumerate(ids)}
    labels = [_esc(nodes[i][0]) for i in ids]
    amounts = pd.to_numeric(f["amount"], errors="coerce").astype("float64").tolist()
    money = lambda v: fmt_number(v, "currency", currency)  # noqa: E731
    fig.add_trace(go.Sankey(
        arrangement="snap",
        node=dict(label=labels, color=[FLOW_KIND_COLORS.get(nodes[i][1], UNKNOWN_COLOR) for i in ids],
                  pad=14, thickness=16, line=dict(color="#555", width=0.5),
                  customdata=[_esc(nodes[i][1]) for i in ids]),
        link=dict(source=[index[_s(i)] for i in sid], target=[index[_s(i)] for i in tid], value=amounts,
                  label=[f"{_esc(s)} → {_esc(t)}: {_esc(money(a))}" for s, t, a in zip(f["source"], f["target"], amounts)],
                  color="rgba(46,117,182,0.25)"),
        valueformat=",.0f", valuesuffix=f" {_esc(currency)}"))
    fig.update_layout(height=max(420, 22 * len(ids)))
    return fig


# --------------------------------------------------------------------------------------
# linkages
# --------------------------------------------------------------------------------------

def linkage_network(matrix: pd.DataFrame, title: str | None = "Links to study groups and sectors") -> go.Figure:
    """Units x references heat map of :func:`rbm_utils.analytics.linkages.linkage_matrix` (a
    ``unit_code`` column, then one column per "body reference" with the number of the unit's
    results linked to it). One ``go.Heatmap``: y = units (sorted), x = references, shared
    references (linked by most units) first, then by label; cell text = count (blank when 0).
    """
    fig = _figure(title)
    if matrix is None or matrix.empty or len(matrix.columns) <= 1:
        return _empty(fig, "No linkages recorded.")
    m = matrix.set_index("unit_code").sort_index()
    m = m.apply(pd.to_numeric, errors="coerce").fillna(0)
    n_units = (m > 0).sum(axis=0)
    cols = sorted(m.columns, key=lambda c: (-int(n_units[c]), str(c)))
    m = m[cols]
    units = [str(u) for u in m.index]
    z = m.to_numpy(dtype=float)
    text = [[str(int(v)) if v else "" for v in row] for row in z]
    hover = [[f"{_esc(u)} — {_esc(c)}: {int(v)} result{'s' if int(v) != 1 else ''} linked"
              + (f"<br>linked by {int(n_units[c])} units" if int(n_units[c]) > 1 else "")
              for c, v in zip(cols, row)] for u, row in zip(units, z)]
    fig.add_trace(go.Heatmap(
        x=[_esc(c) for c in cols], y=[_esc(u) for u in units], z=z.tolist(), text=text, texttemplate="%{text}",
        colorscale=[[0, "#f7fbff"], [1, "#2e75b6"]], zmin=0, showscale=False, xgap=1, ygap=1,
        hovertext=hover, hoverinfo="text", name="Linked results"))
    fig.update_xaxes(type="category", tickangle=-45, title="Body and reference")
    fig.update_yaxes(type="category", autorange="reversed", title="Unit")
    fig.update_layout(height=max(320, 80 + 28 * len(units)))
    return fig


# --------------------------------------------------------------------------------------
# scale-up
# --------------------------------------------------------------------------------------

def scaleup_comparison(candidates: pd.DataFrame, scores: pd.DataFrame | None = None,
                       title: str | None = "Initiatives compared by theme") -> go.Figure:
    """Dot plot comparing initiatives by theme: x = composite score, y = theme.

    With ``scores`` (:func:`rbm_utils.analytics.scaleup.initiative_scores`, or passed as the first
    argument: a frame with a ``rank`` column), every ranked initiative is a dot in one of
    three traces: "Best on its theme" (rank 1, not off track), "Other initiatives", "Off
    track"; the hover of a best initiative lists the regions ``candidates``
    (:func:`rbm_utils.analytics.scaleup.scaleup_candidates`) propose to replicate it in. With
    ``candidates`` only, one trace "Proposed for replication": a dot per (theme, initiative)
    with its target regions as the label.
    """
    fig = _figure(title)
    cand = candidates if candidates is not None else pd.DataFrame()
    if scores is None and "rank" in cand.columns and "target_region" not in cand.columns:
        scores, cand = cand, pd.DataFrame()
    targets: dict[tuple[str, str], list[str]] = {}
    if len(cand) and {"theme", "initiative", "target_region"} <= set(cand.columns):
        for th, ini, reg in zip(cand["theme"], cand["initiative"], cand["target_region"]):
            targets.setdefault((_s(th), _s(ini)), []).append(_s(reg))

    def dot_hover(r: Mapping[str, Any]) -> str:
        key = (_s(r.get("theme")), _s(r.get("initiative")))
        parts = [f"<b>{_esc(key[1])}</b> on {_esc(key[0])}"]
        if _s(r.get("units")) or _s(r.get("source_units")):
            parts.append(f"Units: {_esc(_s(r.get('units')) or _s(r.get('source_units')))}")
        if not math.isnan(_f(r.get("composite"))):
            rank = _f(r.get("rank"))
            parts.append(f"Composite {_f(r.get('composite')):.2f}"
                         + (f", rank {int(rank)} of {int(_f(r.get('n_in_theme')))}" if not math.isnan(rank) else ""))
        parts.append(f"Mean achievement {fmt_share(r.get('mean_achievement')) or 'n/a'}, consistency "
                     f"{fmt_share(r.get('consistency')) or 'n/a'}, evidence {fmt_share(r.get('evidence_share')) or 'n/a'}")
        cpt = _f(r.get("cost_per_target"))
        if math.isfinite(cpt):
            parts.append(f"Cost per target achieved: {fmt_number(cpt)}")
        if key in targets:
            parts.append(f"Replicate in: {_esc(', '.join(sorted(set(targets[key]))))}")
        return "<br>".join(parts)

    if scores is not None and len(scores):
        sc = scores.loc[pd.to_numeric(scores["composite"], errors="coerce").notna().to_numpy()]
        if sc.empty:
            return _empty(fig, "No initiative has KPI values to compare.")
        rank = pd.to_numeric(sc["rank"], errors="coerce")
        off = sc["off_track"].astype(object).eq(True) if "off_track" in sc.columns else pd.Series(False, index=sc.index)
        groups = [("Best on its theme", (rank == 1) & ~off, "#1b5e20"),
                  ("Other initiatives", (rank != 1) & ~off, "#2e75b6"),
                  ("Off track", off, STATUS_COLORS["off_track"])]
        themes = sorted({_s(t) for t in sc["theme"]}, key=str.casefold)
        for name, mask, color in groups:
            sel = sc.loc[mask.to_numpy()]
            if sel.empty:
                continue
            recs = sel.to_dict("records")
            fig.add_trace(go.Scatter(
                x=sel["composite"].astype("float64").tolist(), y=[_esc(_s(t)) for t in sel["theme"]],
                mode="markers+text", name=name, marker=dict(size=14, color=color, line=dict(width=1, color="#333")),
                text=[_esc(_short(_s(i), 18)) for i in sel["initiative"]], textposition="top center",
                textfont=dict(size=9), hovertext=[dot_hover(r) for r in recs], hoverinfo="text"))
    elif len(cand):
        first = cand.drop_duplicates(["theme", "initiative"])
        themes = sorted({_s(t) for t in first["theme"]}, key=str.casefold)
        recs = first.to_dict("records")
        fig.add_trace(go.Scatter(
            x=pd.to_numeric(first["composite"], errors="coerce").astype("float64").tolist(),
            y=[_esc(_s(t)) for t in first["theme"]], mode="markers+text", name="Proposed for replication",
            marker=dict(size=14, color="#1b5e20", line=dict(width=1, color="#333")),
            text=[f"{_esc(_short(_s(r['initiative']), 18))} → {_esc(', '.join(sorted(set(targets.get((_s(r['theme']), _s(r['initiative'])), [])))))}"
                  for r in recs],
            textposition="top center", textfont=dict(size=9), hovertext=[dot_hover(r) for r in recs], hoverinfo="text"))
    else:
        return _empty(fig, "No initiative to compare.")
    fig.update_xaxes(title="Composite score (0-1)", range=[-0.05, 1.05])
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=[_esc(t) for t in themes], title="Theme")
    fig.update_layout(height=max(320, 90 + 60 * len(themes)), legend=dict(orientation="h", y=-0.2))
    return fig
