"""KPI charts: the trend of one KPI against its path to target, and KPI counts by status.

Example:
    >>> from rbm_utils.analytics import kpi
    >>> p = pd.DataFrame({"unit_code": ["AFR", "AFR"], "status": ["on_track", "off_track"]})
    >>> fig = status_summary(kpi.rollup(p, "unit_code"))
    >>> [t.name for t in fig.data][:2]
    ['Off track', 'No data']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from rbm_utils.core import quarters
from rbm_utils.core.codes import KPI_STATUSES, LEVELS
from rbm_utils.core.quarters import Quarter
from rbm_utils.core.text import cell_number, cell_text, escape_text, fmt_number, fmt_share
from rbm_utils.present.charts.figure import empty_figure, legend_below, new_figure
from rbm_utils.present.labels import STATUS_COLORS, STATUS_LABELS, status_color, status_label


def _as_row(progress_row: pd.Series | pd.DataFrame | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(progress_row, pd.DataFrame):
        if len(progress_row) != 1:
            raise ValueError(f"kpi_trend: progress_row must be one KPI, got {len(progress_row)} rows")
        return progress_row.iloc[0].to_dict()
    if isinstance(progress_row, pd.Series):
        return progress_row.to_dict()
    return dict(progress_row)


def quarter_axis(periods: Iterable[object]) -> list[str]:
    """Every quarter from the earliest to the latest of ``periods`` (what is not a quarter is ignored).

    >>> quarter_axis(["2026-Q2", "x", None, "2025-Q4"])
    ['2025-Q4', '2026-Q1', '2026-Q2']
    """
    found = [q for q in (Quarter.parse_or_none(p) for p in periods if isinstance(p, str)) if q is not None]
    return [str(q) for q in Quarter.span(min(found), max(found))] if found else []


def kpi_trend(
    series_one_kpi: pd.DataFrame,
    progress_row: pd.Series | pd.DataFrame | Mapping[str, Any],
    milestones: pd.DataFrame | None = None,
    currency: str = "CHF",
) -> go.Figure:
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
    kid, unit = cell_text(row.get("kpi_id")), cell_text(row.get("unit_code"))
    name = cell_text(row.get("name")) or kid
    measure = cell_text(row.get("measure")) or "number"
    status = cell_text(row.get("status"))
    fig = new_figure(f"{kid}: {name}" + (f" ({status_label(status)})" if status else ""))
    s = series_one_kpi if series_one_kpi is not None else pd.DataFrame(columns=["kpi_id", "period"])
    if "kpi_id" in s.columns and kid:
        s = s.loc[s["kpi_id"].astype(object).map(cell_text).eq(kid).to_numpy()]
    if "unit_code" in s.columns and unit:
        s = s.loc[s["unit_code"].astype(object).map(cell_text).eq(unit).to_numpy()]
    s = s.assign(_p=quarters.index_of(s["period"]))
    s = s.loc[s["_p"].notna()].sort_values("_p", kind="stable")
    ms = milestones if milestones is not None else pd.DataFrame(columns=["kpi_id", "period", "target_value"])
    if len(ms):
        ms = ms.loc[ms["kpi_id"].astype(object).map(cell_text).eq(kid).to_numpy()]
        if "unit_code" in ms.columns and unit:
            ms = ms.loc[ms["unit_code"].astype(object).map(cell_text).eq(unit).to_numpy()]
    bp, tp = cell_text(row.get("baseline_period")), cell_text(row.get("target_period"))
    bv, tv = cell_number(row.get("baseline_value")), cell_number(row.get("target_value"))
    fv = cell_number(row.get("forecast_value"))
    fig_ = lambda v: fmt_number(v, measure, currency)  # noqa: E731

    periods = quarter_axis([*s["period"], *ms["period"], bp, tp])
    if len(s):
        cur = s["current"].astype("float64").tolist()
        rep = s["reported"].fillna(False).astype(bool).tolist() if "reported" in s.columns else [True] * len(s)
        st = s["status"].astype(object).map(cell_text).tolist() if "status" in s.columns else [""] * len(s)
        val = s["value"].astype("float64").tolist() if "value" in s.columns else [float("nan")] * len(s)
        hover = [
            f"{escape_text(p)}: current value {escape_text(fig_(c))}"
            + (f" (reported {escape_text(fig_(v))})" if r and not math.isnan(v) else " (nothing reported)")
            + (f"<br>Status: {escape_text(status_label(x))}" if x else "")
            for p, c, v, r, x in zip(s["period"], cur, val, rep, st)
        ]
        fig.add_trace(
            go.Scatter(
                x=s["period"].tolist(),
                y=cur,
                mode="lines+markers",
                name="Current value",
                line=dict(color="#34495e", width=2),
                marker=dict(
                    size=10,
                    color=[status_color(x) for x in st],
                    symbol=["circle" if r else "circle-open" for r in rep],
                    line=dict(width=2, color=[status_color(x) for x in st]),
                ),
                hovertext=hover,
                hoverinfo="text",
            )
        )
        if "expected" in s.columns and not (math.isnan(bv) or math.isnan(tv)):
            exp = s["expected"].astype("float64")
            ev = (bv + exp * (tv - bv)).tolist()
            fig.add_trace(
                go.Scatter(
                    x=s["period"].tolist(),
                    y=ev,
                    mode="lines",
                    name="Expected",
                    line=dict(color="#7f8c8d", width=1.5, dash="dot"),
                    hovertext=[f"{escape_text(p)}: expected {escape_text(fig_(v))}" for p, v in zip(s["period"], ev)],
                    hoverinfo="text",
                )
            )
    if bp and not math.isnan(bv):
        fig.add_trace(
            go.Scatter(
                x=[bp],
                y=[bv],
                mode="markers",
                name="Baseline",
                marker=dict(size=11, symbol="square", color="#7f8c8d"),
                hovertext=[f"Baseline {escape_text(fig_(bv))} ({escape_text(bp)})"],
                hoverinfo="text",
            )
        )
    if len(ms):
        ms = ms.assign(_p=quarters.index_of(ms["period"]))
        ms = ms.loc[ms["_p"].notna()].sort_values("_p", kind="stable")
        mv = ms["target_value"].astype("float64").tolist()
        fig.add_trace(
            go.Scatter(
                x=ms["period"].tolist(),
                y=mv,
                mode="markers",
                name="Milestones",
                marker=dict(size=11, symbol="diamond", color="#2e75b6"),
                hovertext=[f"Milestone {escape_text(fig_(v))} by {escape_text(p)}" for p, v in zip(ms["period"], mv)],
                hoverinfo="text",
            )
        )
    if tp and not math.isnan(tv):
        fig.add_trace(
            go.Scatter(
                x=[tp],
                y=[tv],
                mode="markers",
                name="Target",
                marker=dict(size=15, symbol="star", color="#1b5e20"),
                hovertext=[f"Target {escape_text(fig_(tv))} by {escape_text(tp)}"],
                hoverinfo="text",
            )
        )
    if tp and not math.isnan(fv) and len(s):
        rep_rows = s.loc[s["reported"].fillna(False).astype(bool).to_numpy()] if "reported" in s.columns else s
        if len(rep_rows):
            last = rep_rows.iloc[-1]
            likely = row.get("likely_to_meet")
            words = (
                ""
                if likely is None or likely is pd.NA or (isinstance(likely, float) and math.isnan(likely))
                else ("; likely to meet the target" if bool(likely) else "; not likely to meet the target")
            )
            fig.add_trace(
                go.Scatter(
                    x=[last["period"], tp],
                    y=[float(last["current"]), fv],
                    mode="lines+markers",
                    name="Forecast",
                    line=dict(color="#8e44ad", width=1.5, dash="dash"),
                    marker=dict(size=[0, 9], color="#8e44ad"),
                    hovertext=[
                        f"Last reported {escape_text(last['period'])}: {escape_text(fig_(last['current']))}",
                        f"Forecast {escape_text(fig_(fv))} by {escape_text(tp)}{escape_text(words)}",
                    ],
                    hoverinfo="text",
                )
            )
    if not fig.data:
        return empty_figure(fig, "Nothing to plot for this KPI.")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=periods, title="Quarter")
    unit_title = {"percent": "%", "currency": currency}.get(measure, "")
    fig.update_yaxes(title=escape_text(unit_title) or None, rangemode="tozero" if measure != "ratio" else "normal")
    return legend_below(fig)


# --------------------------------------------------------------------------------------
# status summary
# --------------------------------------------------------------------------------------


def status_summary(rollup_frame: pd.DataFrame, title: str | None = "KPI status") -> go.Figure:
    """Stacked horizontal bars of KPI counts per status for each group of
    :func:`rbm_utils.analytics.kpi.rollup` (group keys: every column that is not ``n_kpis``,
    ``n_<status>`` or ``share_<status>``; several keys are joined with " / "; no key gives
    one bar "Bureau"). One ``go.Bar`` trace per status of
    :data:`rbm_utils.core.codes.KPI_STATUSES` (always all six, so legends stay stable), coloured
    from :data:`rbm_utils.present.labels.STATUS_COLORS`.
    """
    fig = new_figure(title)
    if rollup_frame is None or rollup_frame.empty:
        return empty_figure(fig, "No KPIs.")
    keys = [c for c in rollup_frame.columns if c != "n_kpis" and not c.startswith("n_") and not c.startswith("share_")]
    if "level" in keys:  # the chain's levels in chain order, not alphabetical
        rank = rollup_frame["level"].map({lv: i for i, lv in enumerate(LEVELS)}).fillna(len(LEVELS))
        order = rollup_frame.assign(_rank=rank).sort_values(
            [*(k for k in keys if k != "level"), "_rank"], kind="stable"
        )
        rollup_frame = rollup_frame.loc[order.index].reset_index(drop=True)
    if keys:
        labels = [
            " / ".join(cell_text(v) or "(blank)" for v in vals)
            for vals in rollup_frame[keys].astype(object).itertuples(index=False)
        ]
    else:
        labels = ["Bureau"] * len(rollup_frame)
    shown = [escape_text(x) for x in labels]
    total = rollup_frame["n_kpis"].astype("float64").tolist() if "n_kpis" in rollup_frame.columns else None
    for st in KPI_STATUSES:
        col = f"n_{st}"
        counts = (
            rollup_frame[col].astype("float64").fillna(0).tolist()
            if col in rollup_frame.columns
            else [0.0] * len(labels)
        )
        tot = total or [float("nan")] * len(labels)
        hover = [
            f"{lab}<br>{escape_text(STATUS_LABELS[st])}: {int(c)} of {int(t) if not math.isnan(t) else '?'} KPIs"
            + (f" ({fmt_share(c / t)})" if t and not math.isnan(t) else "")
            for lab, c, t in zip(shown, counts, tot)
        ]
        fig.add_trace(
            go.Bar(
                y=shown,
                x=counts,
                orientation="h",
                name=escape_text(STATUS_LABELS[st]),
                marker=dict(color=STATUS_COLORS[st]),
                hovertext=hover,
                hoverinfo="text",
            )
        )
    fig.update_layout(
        barmode="stack",
        height=max(300, 60 + 32 * len(labels)),
    )
    legend_below(fig, traceorder="normal")
    fig.update_xaxes(title="KPIs")
    fig.update_yaxes(autorange="reversed", type="category")
    return fig
