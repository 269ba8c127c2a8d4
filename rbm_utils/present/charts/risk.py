"""The open-risk matrix: likelihood against impact, each cell coloured by its rating.

Example:
    >>> fig = risk_heatmap(pd.DataFrame({"likelihood": [5], "impact": [5], "score": [25],
    ...                                  "rating": ["critical"], "n_risks": [2]}))
    >>> fig.data[0].text[4][4], fig.data[0].z[4][4]
    ('2', 3)
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from rbm_utils.core.text import cell_number, cell_text, escape_text
from rbm_utils.present.charts.figure import new_figure
from rbm_utils.present.labels import RATING_COLORS, RATING_ORDER


def risk_heatmap(heatmap_frame: pd.DataFrame, title: str | None = "Open risks: likelihood x impact") -> go.Figure:
    """The 5 x 5 risk matrix of :func:`rbm_utils.analytics.risks.risk_heatmap`: one ``go.Heatmap``,
    impact on x (1-5), likelihood on y (1-5); each cell coloured by its rating
    (:data:`rbm_utils.present.labels.RATING_COLORS`) and labelled with its count of open risks (blank when 0).
    ``z`` holds the rating index (0 low .. 3 critical), ``text`` the counts.
    """
    fig = new_figure(title)
    rng = [1, 2, 3, 4, 5]
    cells: dict[tuple[int, int], dict[str, Any]] = {}
    if heatmap_frame is not None and len(heatmap_frame):
        for r in heatmap_frame.to_dict("records"):
            cells[(int(r["likelihood"]), int(r["impact"]))] = r
    z: list[list] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    for lk in rng:
        zr: list = []
        tr: list[str] = []
        hr: list[str] = []
        for im in rng:
            r = cells.get((lk, im), {})
            score = int(cell_number(r.get("score"))) if not math.isnan(cell_number(r.get("score"))) else lk * im
            rating = cell_text(r.get("rating"))
            n = int(cell_number(r.get("n_risks"))) if not math.isnan(cell_number(r.get("n_risks"))) else 0
            zr.append(RATING_ORDER.index(rating) if rating in RATING_ORDER else None)
            tr.append(str(n) if n else "")
            hr.append(
                f"Likelihood {lk}, impact {im}: score {score}"
                + (f" ({escape_text(rating)})" if rating else "")
                + f"<br>{n} open risk{'s' if n != 1 else ''}"
            )
        z.append(zr)
        text.append(tr)
        hover.append(hr)
    k = len(RATING_ORDER)
    scale = []
    for i, rating in enumerate(RATING_ORDER):
        scale += [[i / k, RATING_COLORS[rating]], [(i + 1) / k, RATING_COLORS[rating]]]
    fig.add_trace(
        go.Heatmap(
            x=rng,
            y=rng,
            z=z,
            text=text,
            texttemplate="%{text}",
            textfont=dict(size=16),
            zmin=-0.5,
            zmax=k - 0.5,
            colorscale=scale,
            showscale=False,
            xgap=2,
            ygap=2,
            hovertext=hover,
            hoverinfo="text",
            name="Open risks",
        )
    )
    fig.update_xaxes(title="Impact", tickvals=rng, constrain="domain")
    fig.update_yaxes(title="Likelihood", tickvals=rng, scaleanchor="x")
    fig.update_layout(height=460, width=520)
    return fig
