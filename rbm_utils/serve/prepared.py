"""The figures a unit's published review notebook drew (``figures.json``,
:mod:`rbm_utils.publish.figures`), picked for a page: shown as they are, so the page's kernel
neither imports plotly nor validates a figure (most of a page's work before this).

Example:
    >>> prog = pd.DataFrame({"kpi_id": ["K1", "K2"]})
    >>> figs = {"status": [{"data": [], "layout": {}}],
    ...         "trends": [{"data": [], "layout": {"title": {"text": f"{k}: a KPI"}}} for k in ("K1", "K2")]}
    >>> figure(figs, "status") is not None, figure(figs, "burn")
    (True, None)
    >>> trend(figs, prog, "K2")["layout"]["title"]["text"], trend(figs, prog, "K3")
    ('K2: a KPI', None)
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from rbm_utils.core.text import escape_text
from rbm_utils.serve.widgets import PlotlyJSON

Prepared = Mapping[str, list[dict]]


def figure(prepared: Prepared, name: str) -> PlotlyJSON | None:
    """The review's first figure ``name`` (None when the review did not keep it)."""
    figs = prepared.get(name)
    return PlotlyJSON(figs[0]) if figs else None


def trend(prepared: Prepared, progress: pd.DataFrame | None, kpi: str | None) -> PlotlyJSON | None:
    """A KPI's trend as the review drew it. The review draws one per row of the published KPI
    table (``progress``, unfiltered), in its order; the figure's title must name the KPI, else
    None (the page then draws it from the tables)."""
    trends = prepared.get("trends") or []
    if not kpi or progress is None or len(trends) != len(progress) or "kpi_id" not in progress.columns:
        return None
    rows = [i for i, k in enumerate(progress["kpi_id"].astype(str)) if k == kpi]
    if len(rows) != 1:
        return None
    fig = trends[rows[0]]
    title = (fig.get("layout", {}).get("title") or {}).get("text")
    return PlotlyJSON(fig) if isinstance(title, str) and title.startswith(escape_text(kpi) + ":") else None
