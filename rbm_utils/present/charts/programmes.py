"""The bureau's work against the Action Plan: KPIs by status, and money, per programme.

Example:
    >>> frame = pd.DataFrame({"programme": ["connectivity"], "programme_name": ["Affordable connectivity"],
    ...     "n_kpis": [2], "n_on_track": [1], "n_off_track": [1], "budget_year": [1000.0], "spent_year": [600.0]})
    >>> fig = action_plan(frame)
    >>> [t.name for t in fig.data][-2:], fig.data[-1].x
    (['Budget of the year', 'Spent so far this year'], (600.0,))
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from rbm_utils.core.codes import KPI_STATUSES
from rbm_utils.core.text import cell_number, cell_text, escape_text, fmt_number, fmt_share
from rbm_utils.present.charts.figure import empty_figure, new_figure, shorten
from rbm_utils.present.labels import STATUS_COLORS, STATUS_LABELS

#: Colours of the two money bars.
MONEY_COLORS = {"budget_year": "#9dc3e6", "spent_year": "#1f4e79"}


def _num(frame: pd.DataFrame, col: str) -> list[float]:
    if col not in frame.columns:
        return [0.0] * len(frame)
    return [0.0 if math.isnan(v := cell_number(x)) else float(v) for x in frame[col]]


def action_plan(
    frame: pd.DataFrame, currency: str = "CHF", title: str | None = "Work against the Action Plan"
) -> go.Figure:
    """Two panels side by side, one row per programme of
    :func:`rbm_utils.analytics.programmes.programme_rollup` (by name, shortened; the full name
    in the hover): its KPIs stacked by status (one ``go.Bar`` per status of
    :data:`rbm_utils.core.codes.KPI_STATUSES`, always all six, each starting where the previous
    ends), and its budget of the year with what is spent so far this year drawn inside it
    (hover: share spent, staff-months planned and used).
    """
    if frame is None or frame.empty:
        return empty_figure(new_figure(title), "No programme.")
    names = [
        cell_text(n) or cell_text(p) or "(no programme)" for n, p in zip(frame["programme_name"], frame["programme"])
    ]
    shown = [escape_text(shorten(n, 44)) for n in names]
    full = [escape_text(n) for n in names]
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=("KPIs by status", f"Money of the year ({escape_text(currency)})"),
    )
    total = _num(frame, "n_kpis")
    base = [0.0] * len(frame)
    for st in KPI_STATUSES:
        counts = _num(frame, f"n_{st}")
        hover = [
            f"{f}<br>{escape_text(STATUS_LABELS[st])}: {int(c)} of {int(t)} KPIs"
            + (f" ({fmt_share(c / t)})" if t else "")
            for f, c, t in zip(full, counts, total)
        ]
        fig.add_trace(
            go.Bar(
                y=shown,
                x=counts,
                base=list(base),
                orientation="h",
                name=escape_text(STATUS_LABELS[st]),
                marker=dict(color=STATUS_COLORS[st]),
                hovertext=hover,
                hoverinfo="text",
                legendgroup="status",
            ),
            row=1,
            col=1,
        )
        base = [b + c for b, c in zip(base, counts)]
    budget, spent = _num(frame, "budget_year"), _num(frame, "spent_year")
    planned, used = _num(frame, "staff_months_planned_year"), _num(frame, "staff_months_used_year")
    money_hover = [
        f"{f}<br>Budget of the year: {fmt_number(b, 'currency', currency)}"
        f"<br>Spent so far this year: {fmt_number(s, 'currency', currency)}"
        + (f" ({fmt_share(s / b)})" if b else "")
        + f"<br>Staff-months planned {fmt_number(p)}, used {fmt_number(u)}"
        for f, b, s, p, u in zip(full, budget, spent, planned, used)
    ]
    for values, label, width in ((budget, "Budget of the year", 0.8), (spent, "Spent so far this year", 0.4)):
        fig.add_trace(
            go.Bar(
                y=shown,
                x=values,
                width=width,
                orientation="h",
                name=label,
                marker=dict(color=MONEY_COLORS["budget_year" if width == 0.8 else "spent_year"]),
                hovertext=money_hover,
                hoverinfo="text",
                legendgroup="money",
            ),
            row=1,
            col=2,
        )
    fig.update_layout(
        title=dict(text=escape_text(title)) if title else None,
        barmode="overlay",
        height=max(420, 220 + 45 * len(shown)),
        legend=dict(orientation="h", yanchor="top", y=-0.18, traceorder="normal"),
    )
    fig.update_xaxes(title_text="KPIs", row=1, col=1)
    fig.update_xaxes(title_text=escape_text(currency), row=1, col=2)
    fig.update_yaxes(autorange="reversed", type="category", row=1, col=1)
    return fig
