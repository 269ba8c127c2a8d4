"""The bureau overview (``dashboards/overview.ipynb``): ``?quarter=2026-Q3``, optionally ``&unit=AFR``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rbm_utils.core.config import Config
from rbm_utils.serve.pages.context import page_context, page_parameters
from rbm_utils.serve.pages.review import ReviewDashboard


def page(
    outputs: Path | None = None,
    config: Config | None = None,
    query_string: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ReviewDashboard:
    """The bureau overview dashboard. Query string: ``quarter``, ``unit`` (validated)."""
    ctx = page_context(outputs, config, query_string, env)
    params, notice = page_parameters(ctx, ("bureau_unit",))
    return ReviewDashboard(
        ctx.outputs, ctx.config, params.get("quarter"), params.get("unit"), bureau=True, notice=notice
    )
