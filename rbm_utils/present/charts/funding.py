"""Funding charts: the funding framework per output (required, secured, received, spent, the gap
and the weighted pipeline that could close it) and resources mobilised by stage per unit.

Example:
    >>> f = pd.DataFrame({"level": ["output"], "unit_code": ["AFR"], "result_id": ["AFR-O1"],
    ...     "title": ["CIRTs"], "required": [100.0], "secured": [60.0], "received": [50.0],
    ...     "spent": [40.0], "gap": [40.0], "weighted_pipeline": [10.0]})
    >>> [t.name for t in funding_framework(f).data]
    ['Required', 'Secured', 'Received', 'Spent', 'Funding gap', 'Pipeline (weighted)']
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from rbm_utils.core.codes import PARTNER_STAGES
from rbm_utils.core.text import escape_text, fmt_number
from rbm_utils.present.charts.figure import empty_figure, legend_below, new_figure, shorten
from rbm_utils.present.labels import FUNDING_COLORS, FUNDING_LABELS, STAGE_COLORS, STAGE_LABELS


def funding_framework(
    frame: pd.DataFrame,
    title: str | None = "Funding per output: required, secured, spent, the gap and the pipeline",
    currency: str = "CHF",
    level: str = "output",
) -> go.Figure:
    """Grouped bars of the ``level`` rows of :func:`rbm_utils.analytics.funding.funding_framework`:
    for each output (or initiative, or unit) required, secured, received, spent, the funding gap
    and the weighted pipeline (colours :data:`rbm_utils.present.labels.FUNDING_COLORS`)."""
    fig = new_figure(title)
    if frame is None or frame.empty or "level" not in frame.columns:
        return empty_figure(fig, "No budget or partner contribution this year.")
    df = frame[frame["level"] == level]
    if df.empty:
        return empty_figure(fig, "No budget or partner contribution this year.")
    name = {"output": "result_id", "initiative": "initiative"}.get(level, "unit_code")
    several = df["unit_code"].nunique() > 1 and level != "unit"
    x = [escape_text(f"{u} {n}" if several else str(n)) for u, n in zip(df["unit_code"], df[name])]
    titles = df["title"].fillna("").astype(str) if "title" in df.columns else pd.Series([""] * len(df))
    heads = [f"<b>{xx}</b> {escape_text(shorten(t, 60))}<br>" for xx, t in zip(x, titles.tolist())]  # once per row
    for measure, color in FUNDING_COLORS.items():
        values = pd.to_numeric(df[measure], errors="coerce").fillna(0.0).astype("float64")
        hover = [
            f"{head}{FUNDING_LABELS[measure]}: {escape_text(fmt_number(v, 'currency', currency))}"
            for head, v in zip(heads, values.tolist())
        ]
        fig.add_trace(
            go.Bar(
                x=x,
                y=values.tolist(),
                name=FUNDING_LABELS[measure],
                marker_color=color,
                hovertext=hover,
                hoverinfo="text",
            )
        )
    fig.update_layout(barmode="group", yaxis_title=escape_text(currency))
    return legend_below(fig)


def resources_by_stage(
    frame: pd.DataFrame, title: str | None = "Resources mobilised by stage, per unit", currency: str = "CHF"
) -> go.Figure:
    """Stacked bars of :func:`rbm_utils.analytics.partners.resources_by_stage` per unit (the
    bureau's total row left out), one trace per stage of the register (declined not drawn)."""
    fig = new_figure(title)
    df = frame[frame["unit_code"] != "bureau"] if frame is not None and not frame.empty else None
    if df is None or df.empty:
        return empty_figure(fig, "No partner contribution in the register.")
    units = [escape_text(u) for u in df["unit_code"].astype(str)]
    for stage in PARTNER_STAGES:
        if stage == "declined":
            continue
        values = pd.to_numeric(df[stage], errors="coerce").fillna(0.0).astype("float64")
        fig.add_trace(
            go.Bar(
                x=units,
                y=values.tolist(),
                name=STAGE_LABELS[stage],
                marker_color=STAGE_COLORS[stage],
                hovertext=[
                    f"<b>{u}</b><br>{STAGE_LABELS[stage]}: {escape_text(fmt_number(v, 'currency', currency))}"
                    for u, v in zip(units, values)
                ],
                hoverinfo="text",
            )
        )
    fig.update_layout(barmode="stack", yaxis_title=escape_text(currency))
    return legend_below(fig)
