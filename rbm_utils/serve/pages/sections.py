"""The sections of one unit's review page, in the order a manager reads them: what needs a
decision first, then the summary and results statement, then the evidence.

Each section has the heading of the review notebook's section (``notebooks/quarterly_review.ipynb``)
and shows the same published tables and figures through the same calls
(:mod:`rbm_utils.present`); ``tests/serve/test_dashboard.py`` checks that every heading of the
notebook is here. :func:`unit_parts` is pure: tables in, displayable parts out.

Example:
    >>> UNIT_SECTIONS[0], UNIT_SECTIONS[1]
    (('Review agenda', 'agenda'), ('Summary', 'summary'))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from rbm_utils.core.config import Config
from rbm_utils.core.quarters import Quarter
from rbm_utils.present import columns, followup, readable, reports
from rbm_utils.present.reports import Review, table_html

#: (heading, output name) of the unit page, in page order. The KPI drill-down follows "KPIs".
UNIT_SECTIONS: tuple[tuple[str, str], ...] = (
    ("Review agenda", "agenda"),
    ("Summary", "summary"),
    ("Results statement", "statement"),
    ("Decisions of earlier reviews", "followup"),
    ("Approval of this quarter", "approval"),
    ("Changes since last quarter", "changes"),
    ("Theory of change", "toc"),
    ("KPIs", "kpi"),
    ("Assumptions tested against actuals", "assumptions"),
    ("What we learnt", "learning"),
    ("Risks", "risk"),
    ("Money and people", "money"),
    ("Funding and partners", "funding"),
    ("Work programme", "work"),
    ("Linkages", "linkages"),
    ("Scale-up opportunities", "scaleup"),
    ("Data health", "health"),
    ("Provenance", "provenance"),
    ("Decisions taken at this review", "taken"),
)
#: The output names only the unit page has (the others are shared with the overview).
UNIT_ONLY: tuple[str, ...] = (
    "statement",
    "approval",
    "changes",
    "toc",
    "assumptions",
    "learning",
    "work",
    "linkages",
    "scaleup",
    "health",
    "provenance",
    "taken",
)


def review_of(
    tables: Mapping[str, pd.DataFrame],
    config: Config,
    quarter: str,
    unit: str | None,
    *,
    units: pd.DataFrame | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> Review:
    """A :class:`rbm_utils.present.reports.Review` over a unit's published tables (``unit``
    None: the bureau's), so the page calls the notebook's own helpers (summary, scale-up,
    provenance, escalations) on the same rows."""
    return Review(
        Quarter.parse(quarter),
        config,
        state={"Unit": units} if units is not None else {},
        results=dict(tables),
        unit=unit,
        view=dict(tables),
        manifest=dict(manifest) if manifest else None,
        source="snapshot",
    )


def _table(df: pd.DataFrame | None, cols: tuple[str, ...] | None = None, empty: str = "Nothing to show.") -> str:
    return table_html(df if df is not None else pd.DataFrame(), cols, empty=empty)


def _changes(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    c = tables.get("changes")
    if c is None or c.empty or "direction" not in c.columns:
        return pd.DataFrame()
    return c[c["direction"] != "same"].reset_index(drop=True)


def unit_parts(r: Review, status_figure: Any = None, toc_figure: Any = None) -> dict[str, list[Any]]:
    """What each unit-only section shows (and the summary), from the review's published tables;
    ``toc_figure``: the theory of change as the review notebook drew it, else drawn here."""
    v, q, cur = r.view, r.quarter, r.config.currency
    statement = v.get("statement")
    text = str(statement["statement"].iloc[0]) if statement is not None and len(statement) else ""
    toc: list[Any] = []
    if toc_figure is not None:
        toc = [toc_figure]
    elif all(k in v for k in ("nodes", "edges", "layout", "stalls")):
        from rbm_utils.present import charts  # plotly: only when a chart is drawn here

        toc = [charts.toc_diagram(v["nodes"], v["edges"], v["layout"], v["stalls"])]
    return {
        "summary": [_table(reports.summary_frame(r)), *([status_figure] if status_figure is not None else [])],
        "statement": [
            f'<div class="rbm-statement">{readable.markdown_html(text)}</div>'
            if text
            else '<p class="rbm-empty">No results statement.</p>'
        ],
        "approval": [
            followup.approval_html(
                v.get("approvals"),
                v.get("framework_changes"),
                r.unit or "",
                r.config.authority.bureau_role,
                cur,
                provenance=v.get("provenance"),
            ),
            _table(reports.escalations(r), columns.PENDING_ESCALATIONS, "No change awaits the bureau's approval."),
        ],
        "changes": [_table(_changes(v), columns.CHANGES, "Nothing changed.")],
        "toc": [*toc, _table(v.get("stalls"), columns.STALLS, "No stalled link.")],
        "assumptions": [_table(v.get("assumption_changes"), columns.ASSUMPTION_CHANGES, "No assumption tested.")],
        "learning": [_table(v.get("learning"), columns.LEARNING, "No assumption was revised this quarter.")],
        "work": [
            _table(v.get("activities"), columns.ACTIVITIES, "No activity."),
            _table(v.get("delayed"), columns.DELAYED_ACTIVITIES, "No delayed activity."),
            _table(v.get("partner_types"), columns.PARTNER_TYPES, "No partner."),
        ],
        "linkages": [
            _table(v.get("linkages"), columns.LINKAGES, "No linkage."),
            _table(
                reports.involving(r.results.get("synergies", pd.DataFrame()), r.unit or "", ["unit_a", "unit_b"]),
                columns.SYNERGIES,
                "No synergy opportunity.",
            ),
        ],
        "scaleup": [_table(reports.scaleup_for(r), columns.SCALEUP, "No scale-up candidate involving this unit.")],
        "health": [_table(v.get("data_health"), columns.DATA_HEALTH, "No data health for this quarter.")],
        "provenance": [_table(reports.provenance_frame(r), None, "No submission for this quarter.")],
        "taken": [
            _table(
                followup.taken_at(v.get("decisions"), q),
                columns.DECISIONS_TAKEN,
                "No decision recorded for this meeting yet.",
            )
        ],
        "followup": [
            _table(
                followup.earlier(v.get("decisions"), q),
                columns.DECISIONS,
                "No decision was recorded at an earlier review.",
            )
        ],
    }


def money_parts(r: Review, burn_figure: Any, money: pd.DataFrame, flows_figure: Any = None) -> list[Any]:
    """Money and people: money against delivery, money per output, where the money goes and the
    cost per result (the notebook's section); ``flows_figure``: where the money goes as the
    review notebook drew it, else drawn here."""
    flows = r.view.get("flows")
    if flows_figure is None and flows is not None:
        from rbm_utils.present import charts  # plotly: only when a chart is drawn here

        flows_figure = charts.money_sankey(flows, currency=r.config.currency)
    return [
        burn_figure,
        _table(money, columns.MONEY, "No budget line."),
        *([flows_figure] if flows_figure is not None else []),
        _table(r.view.get("cost"), columns.COST_PER_RESULT, "No cost per result."),
    ]


def kpi_table(r: Review, kpis: pd.DataFrame) -> pd.DataFrame:
    """The KPIs shown, worst first, with what moved since last quarter and each KPI's trend."""
    return readable.kpi_table(kpis, r.view.get("changes"), r.view.get("series"))
