"""Pure views of published tables for the dashboards: filters, drop-down choices, a KPI's
evidence, and the figures of a review drawn with the notebooks' own chart calls.

Nothing here recomputes an analysis: a KPI count by status (:func:`rbm_utils.analytics.kpi.rollup`)
and the open-risk matrix (:func:`rbm_utils.analytics.risks.risk_heatmap`) are counts over the
published rows, the same calls the published notebooks make, so the figures are equal.

Example:
    >>> d = pd.DataFrame({"unit_code": ["A", "B"], "status": ["on_track", "off_track"]})
    >>> filter_frame(d, status="off_track")["unit_code"].tolist()
    ['B']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from rbm_utils.analytics.kpi import rollup
from rbm_utils.analytics.risks import risk_heatmap
from rbm_utils.core import quarters
from rbm_utils.core.config import Config
from rbm_utils.serve.params import ALL

if TYPE_CHECKING:
    import plotly.graph_objects as go

#: Columns of a KPI's evidence table, newest report first.
EVIDENCE_COLUMNS: tuple[str, ...] = (
    "period",
    "disaggregation",
    "value",
    "numerator",
    "denominator",
    "evidence",
    "comment",
)


def filter_frame(
    df: pd.DataFrame | None, *, unit: str | None = None, programme: str | None = None, status: str | None = None
) -> pd.DataFrame:
    """Rows of ``df`` for a unit, a programme and a KPI status; ``None`` (or :data:`ALL`) keeps all.
    A filter on a column ``df`` lacks is skipped. Values are compared, never evaluated.

    >>> d = pd.DataFrame({"unit_code": ["A", "B"], "programme": ["P", "P or 1==1"]})
    >>> filter_frame(d, programme="P")["unit_code"].tolist(), len(filter_frame(None))
    (['A'], 0)
    """
    if df is None:
        return pd.DataFrame()
    mask = pd.Series(True, index=df.index)
    for col, val in (("unit_code", unit), ("programme", programme), ("status", status)):
        if val is not None and val != ALL and col in df.columns:
            mask &= df[col].astype(object).eq(val).to_numpy()
    return df.loc[mask.to_numpy()].reset_index(drop=True)


def programmes(progress: pd.DataFrame | None) -> list[str]:
    """Programme names of the KPIs, sorted, blanks dropped.

    >>> programmes(pd.DataFrame({"programme": ["P2", "P1", None, " ", "P1"]}))
    ['P1', 'P2']
    """
    if progress is None or progress.empty or "programme" not in progress.columns:
        return []
    vals = progress["programme"].dropna().astype(str)
    return sorted(v for v in set(vals) if v.strip())


def kpi_options(progress: pd.DataFrame | None) -> list[tuple[str, str]]:
    """(label, kpi_id) for a Dropdown; labels are plain text (the widget shows them as text).

    >>> kpi_options(pd.DataFrame({"kpi_id": ["K1", "K2"], "name": ["Trained", None]}))
    [('K1: Trained', 'K1'), ('K2', 'K2')]
    """
    if progress is None or progress.empty:
        return []
    ids, names = progress["kpi_id"].tolist(), progress["name"].tolist()  # lists: 3,000 KPIs in a 200-unit overview
    return [(f"{k}: {n}" if isinstance(n, str) and n else str(k), str(k)) for k, n in zip(ids, names, strict=True)]


def kpi_evidence(actuals: pd.DataFrame | None, unit: str, kpi_id: str) -> pd.DataFrame:
    """A KPI's reported values with their evidence and comments, newest first (snapshot sheet Actuals)."""
    cols = list(EVIDENCE_COLUMNS)
    if actuals is None or actuals.empty:
        return pd.DataFrame(columns=cols)
    a = actuals[(actuals["unit_code"] == unit) & (actuals["kpi_id"] == kpi_id)]
    a = a.assign(_p=quarters.index_of(a["period"]).fillna(-1))
    a = a.sort_values(["_p", "disaggregation"], ascending=[False, True], na_position="first", kind="stable")
    return a[[c for c in cols if c in a.columns]].reset_index(drop=True)


def kpi_figure(
    tables: Mapping[str, pd.DataFrame], milestones: pd.DataFrame, unit: str, kpi_id: str, currency: str = "CHF"
) -> go.Figure:
    """The trend chart of one KPI (baseline, milestones, target, forecast) from published rows;
    the same call as the published review's :func:`rbm_utils.present.reports.kpi_trends`."""
    from rbm_utils.present import charts  # plotly: imported when a figure is drawn, not by a page's first paint

    prog = tables["progress"]
    row = prog[(prog["unit_code"] == unit) & (prog["kpi_id"] == kpi_id)]
    if row.empty:
        raise ValueError(f"no KPI {kpi_id!r} for {unit!r}")
    series = tables["series"]
    s = series[(series["unit_code"] == unit) & (series["kpi_id"] == kpi_id)]
    m = (
        milestones[(milestones["unit_code"] == unit) & (milestones["kpi_id"] == kpi_id)]
        if len(milestones)
        else milestones
    )
    return charts.kpi_trend(s, row.iloc[0], m, currency=currency)


def review_figures(tables: Mapping[str, pd.DataFrame], config: Config, *, bureau: bool = False) -> dict[str, Any]:
    """The summary figures of a review from its published tables: KPI status (by level for a
    unit, by unit for the bureau), the open-risk matrix and money against delivery."""
    from rbm_utils.present import charts

    prog = tables.get("progress", pd.DataFrame(columns=["unit_code", "level", "status"]))
    if bureau:
        status = charts.status_summary(rollup(prog, "unit_code"), title="KPI status by unit")
    else:
        status = charts.status_summary(rollup(prog, ["unit_code", "level"]), title="KPI status by level of the chain")
    risks = tables.get("risks", pd.DataFrame(columns=["status", "likelihood", "impact"]))
    return {
        "status": status,
        "risks": charts.risk_heatmap(risk_heatmap(risks, config.thresholds)),
        "burn": charts.burn_vs_delivery(tables.get("burn", pd.DataFrame()), currency=config.currency),
    }
