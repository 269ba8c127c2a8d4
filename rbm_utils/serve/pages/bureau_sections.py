"""The sections of the bureau overview's page, in the overview notebook's order
(``notebooks/bdt_overview.ipynb``), each from the same published tables through the notebook's
own calls. ``tests/serve/test_sections.py`` checks every heading of the notebook is here.
:func:`bureau_parts` is pure: tables in, displayable parts out.

Example:
    >>> BUREAU_SECTIONS[0][0], BUREAU_SECTIONS[-1][0]
    ('The ten decisions the bureau must take first', 'The rest of the bureau agenda')
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from rbm_utils.present import columns, reports
from rbm_utils.present.reports import Review, table_html

#: (heading, output name) of the overview page, in page order. After "Units side by side" come
#: the KPIs and their drill-down (the dashboard's own), after "Risks" money against delivery,
#: at the end the benchmarks (:mod:`rbm_utils.serve.pages.overview`).
BUREAU_SECTIONS: tuple[tuple[str, str], ...] = (
    ("The ten decisions the bureau must take first", "top"),
    ("Provenance", "provenance"),
    ("Approvals and pending escalations", "followup"),
    ("Overdue decisions", "overdue"),
    ("Units side by side", "summary"),
    ("Work against the Action Plan", "plan"),
    ("Data health", "health"),
    ("Risks", "risk"),
    ("Cross-regional scale-up candidates", "scaleup"),
    ("Linkage map", "linkages"),
    ("Money flows", "flows"),
    ("Partners and resource mobilisation", "funding"),
    ("Lessons of the quarter", "learning"),
    ("The rest of the bureau agenda", "agenda"),
)
#: Output names only the overview has.
BUREAU_ONLY: tuple[str, ...] = ("overdue", "scaleup", "linkages", "flows")


def _table(df: pd.DataFrame | None, cols: tuple[str, ...] | None = None, empty: str = "Nothing to show.") -> str:
    return table_html(df if df is not None else pd.DataFrame(), cols, empty=empty)


def bureau_parts(r: Review, status_figure: Any = None) -> dict[str, list[Any]]:
    """What the overview's own sections show (the whole bureau, as its notebook), from the
    overview's published tables (``r.view``) and the frozen analysis (``r.results``)."""
    from rbm_utils.present import charts  # plotly: imported by the pages that draw

    v, res, cur = r.view, r.results, r.config.currency
    scale, scores = res.get("scaleup"), res.get("scaleup_scores")
    return {
        "provenance": [_table(reports.provenance_frame(r), None, "No submission for this quarter.")],
        "followup": [
            _table(reports.escalations(r), columns.PENDING_ESCALATIONS, "No change awaits the bureau's approval."),
            _table(v.get("approvals"), columns.APPROVALS, "No approval recorded."),
        ],
        "overdue": [_table(reports.overdue_decisions(r), columns.OVERDUE_DECISIONS, "No decision is overdue.")],
        "summary": [
            *([status_figure] if status_figure is not None else []),
            _table(res.get("rollup_unit"), columns.UNIT_ROLLUP),
            _table(res.get("money_units"), columns.UNIT_MONEY),
        ],
        "health": [_table(reports.data_health_short(r), columns.DATA_HEALTH_SHORT, "No data health for this quarter.")],
        "scaleup": [
            *([charts.scaleup_comparison(scale, scores)] if scale is not None and scores is not None else []),
            _table(scale, columns.SCALEUP, "No candidate."),
        ],
        "linkages": [
            *([charts.linkage_network(res["linkage_matrix"])] if "linkage_matrix" in res else []),
            _table(res.get("synergies"), columns.SYNERGIES_COUNTED, "No synergy opportunity."),
        ],
        "flows": [charts.money_sankey(res["flows"], currency=cur)] if "flows" in res else [],
        "learning": [
            _table(v.get("learning"), columns.LEARNING_ACROSS_UNITS, "No assumption was revised this quarter.")
        ],
    }


def risk_groups_html(tables: dict[str, pd.DataFrame]) -> str:
    """The red flags that recur across units, grouped (published ``red_flag_groups``)."""
    return _table(tables.get("red_flag_groups"), columns.RED_FLAG_GROUPS, "No red flag.")
