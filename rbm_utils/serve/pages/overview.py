"""The bureau overview (``dashboards/overview.ipynb``): ``?quarter=2026-Q3``, optionally ``&unit=AFR``.

Below the review's sections it shows the benchmarks: other organisations' IATI results beside
the bureau's KPIs on the same theme (:mod:`rbm_utils.present.benchmarks`), as the notebook does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import ipywidgets as w
import pandas as pd

from rbm_utils.core.config import Config
from rbm_utils.present import columns
from rbm_utils.present.benchmarks import NO_BENCHMARK, overview_benchmarks
from rbm_utils.present.reports import table_html
from rbm_utils.serve.pages.context import page_context, page_parameters
from rbm_utils.serve.pages.review import ReviewDashboard
from rbm_utils.serve.widgets import heading

#: Heading of the benchmarks section (the notebook's, word for word).
BENCHMARKS_HEADING = "Benchmarks from other organisations' IATI results"


def benchmarks_html(dash: ReviewDashboard) -> str:
    """The benchmarks beside the KPIs of the quarter shown, escaped (one line if none)."""
    kpis = dash.state.tables.get("progress", pd.DataFrame()) if dash.state.quarter else pd.DataFrame()
    return table_html(overview_benchmarks(dash.state.config, kpis), columns.BENCHMARKS, empty=NO_BENCHMARK)


def page(
    outputs: Path | None = None,
    config: Config | None = None,
    query_string: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ReviewDashboard:
    """The bureau overview dashboard. Query string: ``quarter``, ``unit`` (validated)."""
    ctx = page_context(outputs, config, query_string, env)
    params, notice = page_parameters(ctx, ("bureau_unit",))
    dash = ReviewDashboard(
        ctx.outputs, ctx.config, params.get("quarter"), params.get("unit"), bureau=True, notice=notice
    )
    bench = w.HTML(benchmarks_html(dash))
    bench.add_class("rbm-benchmarks")
    dash.quarter_dd.observe(lambda _change: setattr(bench, "value", benchmarks_html(dash)), names="value")
    dash.widget.children = (*dash.widget.children, heading(BENCHMARKS_HEADING), bench)
    return dash
