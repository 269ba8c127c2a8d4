"""Every chart of the workbench: plotly figures built from the analytics' output frames.

Each function takes the frame an analytics function returns (never recomputes it) and returns
a :class:`plotly.graph_objects.Figure`; notebooks and dashboards call them as
``charts.<name>(...)``. One module per subject: :mod:`.toc` (theory of change), :mod:`.kpis`
(KPI trend, status counts), :mod:`.risk`, :mod:`.money`, :mod:`.funding` (funding framework, resources by stage), :mod:`.portfolio` (linkages, scale-up);
(KPI trend, status counts), :mod:`.risk`, :mod:`.money`, :mod:`.portfolio` (linkages, scale-up), :mod:`.programmes` (work against the Action Plan);
:mod:`.figure` holds what they share. Colours and words of the status codes come from
:mod:`rbm_utils.present.labels`; free text is escaped with :func:`rbm_utils.core.text.escape_text`.

Example:
    >>> import pandas as pd
    >>> from rbm_utils.analytics import kpi
    >>> p = pd.DataFrame({"unit_code": ["AFR", "AFR"], "status": ["on_track", "off_track"]})
    >>> [t.name for t in status_summary(kpi.rollup(p, "unit_code")).data][:2]
    ['Off track', 'No data']
"""

from __future__ import annotations

from rbm_utils.present.charts.funding import funding_framework, resources_by_stage
from rbm_utils.present.charts.kpis import kpi_trend, status_summary
from rbm_utils.present.charts.money import burn_vs_delivery, money_sankey
from rbm_utils.present.charts.portfolio import linkage_network, scaleup_comparison
from rbm_utils.present.charts.programmes import action_plan
from rbm_utils.present.charts.risk import risk_heatmap
from rbm_utils.present.charts.toc import toc_diagram

__all__ = [
    "action_plan",
    "burn_vs_delivery",
    "funding_framework",
    "kpi_trend",
    "linkage_network",
    "money_sankey",
    "resources_by_stage",
    "risk_heatmap",
    "scaleup_comparison",
    "status_summary",
    "toc_diagram",
]
