"""Bureau-wide comparisons: units linked to the same study groups and sectors, and initiatives
compared by theme for scaling up.

Example:
    >>> m = pd.DataFrame({"unit_code": ["AFR", "CYB"], "ITU-D SG1 Q5": [2, 1]})
    >>> linkage_network(m).data[0].text
    (['2'], ['1'])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from rbm_utils.core.text import cell_number, cell_text, escape_text, fmt_number, fmt_share
from rbm_utils.present.charts.figure import empty_figure, legend_below, new_figure, shorten
from rbm_utils.present.labels import STATUS_COLORS


def linkage_network(matrix: pd.DataFrame, title: str | None = "Links to study groups and sectors") -> go.Figure:
    """Units x references heat map of :func:`rbm_utils.analytics.linkages.linkage_matrix` (a
    ``unit_code`` column, then one column per "body reference" with the number of the unit's
    results linked to it). One ``go.Heatmap``: y = units (sorted), x = references, shared
    references (linked by most units) first, then by label; cell text = count (blank when 0).
    """
    fig = new_figure(title)
    if matrix is None or matrix.empty or len(matrix.columns) <= 1:
        return empty_figure(fig, "No linkages recorded.")
    m = matrix.set_index("unit_code").sort_index()
    m = m.apply(pd.to_numeric, errors="coerce").fillna(0)
    n_units = (m > 0).sum(axis=0)
    cols = sorted(m.columns, key=lambda c: (-int(n_units[c]), str(c)))
    m = m[cols]
    units = [str(u) for u in m.index]
    z = m.to_numpy(dtype=float)
    text = [[str(int(v)) if v else "" for v in row] for row in z]
    # each column's and each unit's words once (a 200-unit bureau has thousands of cells)
    shared = [f"<br>linked by {int(n_units[c])} units" if int(n_units[c]) > 1 else "" for c in cols]
    col_names = [escape_text(c) for c in cols]
    hover = [
        [
            f"{name} — {cname}: {int(v)} result{'s' if int(v) != 1 else ''} linked" + by
            for cname, by, v in zip(col_names, shared, row)
        ]
        for name, row in zip((escape_text(u) for u in units), z)
    ]
    fig.add_trace(
        go.Heatmap(
            x=col_names,
            y=[escape_text(u) for u in units],
            z=z.tolist(),
            text=text,
            texttemplate="%{text}",
            colorscale=[[0, "#f7fbff"], [1, "#2e75b6"]],
            zmin=0,
            showscale=False,
            xgap=1,
            ygap=1,
            hovertext=hover,
            hoverinfo="text",
            name="Linked results",
        )
    )
    fig.update_xaxes(type="category", tickangle=-45, title="Body and reference")
    fig.update_yaxes(type="category", autorange="reversed", title="Unit")
    fig.update_layout(height=max(320, 80 + 28 * len(units)))
    return fig


def scaleup_comparison(
    candidates: pd.DataFrame, scores: pd.DataFrame | None = None, title: str | None = "Initiatives compared by theme"
) -> go.Figure:
    """Dot plot comparing initiatives by theme: x = composite score, y = theme.

    With ``scores`` (:func:`rbm_utils.analytics.scaleup.initiative_scores`, or passed as the first
    argument: a frame with a ``rank`` column), every ranked initiative is a dot in one of
    three traces: "Best on its theme" (rank 1, not off track), "Other initiatives", "Off
    track"; the hover of a best initiative lists the regions ``candidates``
    (:func:`rbm_utils.analytics.scaleup.scaleup_candidates`) propose to replicate it in. With
    ``candidates`` only, one trace "Proposed for replication": a dot per (theme, initiative)
    with its target regions as the label.
    """
    fig = new_figure(title)
    cand = candidates if candidates is not None else pd.DataFrame()
    if scores is None and "rank" in cand.columns and "target_region" not in cand.columns:
        scores, cand = cand, pd.DataFrame()
    targets: dict[tuple[str, str], list[str]] = {}
    if len(cand) and {"theme", "initiative", "target_region"} <= set(cand.columns):
        for th, ini, reg in zip(cand["theme"], cand["initiative"], cand["target_region"]):
            targets.setdefault((cell_text(th), cell_text(ini)), []).append(cell_text(reg))

    def dot_hover(r: Mapping[str, Any]) -> str:
        key = (cell_text(r.get("theme")), cell_text(r.get("initiative")))
        parts = [f"<b>{escape_text(key[1])}</b> on {escape_text(key[0])}"]
        if cell_text(r.get("units")) or cell_text(r.get("source_units")):
            parts.append(f"Units: {escape_text(cell_text(r.get('units')) or cell_text(r.get('source_units')))}")
        if not math.isnan(cell_number(r.get("composite"))):
            rank = cell_number(r.get("rank"))
            parts.append(
                f"Composite {cell_number(r.get('composite')):.2f}"
                + (f", rank {int(rank)} of {int(cell_number(r.get('n_in_theme')))}" if not math.isnan(rank) else "")
            )
        parts.append(
            f"Mean achievement {fmt_share(r.get('mean_achievement')) or 'n/a'}, consistency "
            f"{fmt_share(r.get('consistency')) or 'n/a'}, evidence {fmt_share(r.get('evidence_share')) or 'n/a'}"
        )
        cpt = cell_number(r.get("cost_per_target"))
        if math.isfinite(cpt):
            parts.append(f"Cost per target achieved: {fmt_number(cpt)}")
        if key in targets:
            parts.append(f"Replicate in: {escape_text(', '.join(sorted(set(targets[key]))))}")
        return "<br>".join(parts)

    if scores is not None and len(scores):
        sc = scores.loc[pd.to_numeric(scores["composite"], errors="coerce").notna().to_numpy()]
        if sc.empty:
            return empty_figure(fig, "No initiative has KPI values to compare.")
        rank = pd.to_numeric(sc["rank"], errors="coerce")
        off = sc["off_track"].astype(object).eq(True) if "off_track" in sc.columns else pd.Series(False, index=sc.index)
        groups = [
            ("Best on its theme", (rank == 1) & ~off, "#1b5e20"),
            ("Other initiatives", (rank != 1) & ~off, "#2e75b6"),
            ("Off track", off, STATUS_COLORS["off_track"]),
        ]
        themes = sorted({cell_text(t) for t in sc["theme"]}, key=str.casefold)
        for name, mask, color in groups:
            sel = sc.loc[mask.to_numpy()]
            if sel.empty:
                continue
            recs = sel.to_dict("records")
            fig.add_trace(
                go.Scatter(
                    x=sel["composite"].astype("float64").tolist(),
                    y=[escape_text(cell_text(t)) for t in sel["theme"]],
                    mode="markers+text",
                    name=name,
                    marker=dict(size=14, color=color, line=dict(width=1, color="#333")),
                    text=[escape_text(shorten(cell_text(i), 18)) for i in sel["initiative"]],
                    textposition="top center",
                    textfont=dict(size=9),
                    hovertext=[dot_hover(r) for r in recs],
                    hoverinfo="text",
                )
            )
    elif len(cand):
        first = cand.drop_duplicates(["theme", "initiative"])
        themes = sorted({cell_text(t) for t in first["theme"]}, key=str.casefold)
        recs = first.to_dict("records")
        fig.add_trace(
            go.Scatter(
                x=pd.to_numeric(first["composite"], errors="coerce").astype("float64").tolist(),
                y=[escape_text(cell_text(t)) for t in first["theme"]],
                mode="markers+text",
                name="Proposed for replication",
                marker=dict(size=14, color="#1b5e20", line=dict(width=1, color="#333")),
                text=[
                    f"{escape_text(shorten(cell_text(r['initiative']), 18))} → {escape_text(', '.join(sorted(set(targets.get((cell_text(r['theme']), cell_text(r['initiative'])), [])))))}"
                    for r in recs
                ],
                textposition="top center",
                textfont=dict(size=9),
                hovertext=[dot_hover(r) for r in recs],
                hoverinfo="text",
            )
        )
    else:
        return empty_figure(fig, "No initiative to compare.")
    fig.update_xaxes(title="Composite score (0-1)", range=[-0.05, 1.05])
    fig.update_yaxes(
        type="category", categoryorder="array", categoryarray=[escape_text(t) for t in themes], title="Theme"
    )
    fig.update_layout(height=max(320, 90 + 60 * len(themes)))
    legend_below(fig)
    return fig
