"""A joint review of a thematic cluster with a regional office (``dashboards/joint.ipynb``):
``?quarter=2026-Q3&pair=CYB-AFR``.

The page shows the joint tables the batch froze in ``outputs/<Q>/joint/<CLUSTER>-<REGION>/``
(:func:`rbm_utils.serve.data.load_joint_tables`); it never recomputes the analysis. A quarter
published before the batch froze joint tables says so instead. The money section shows the
cluster's money and staff months attributed to the region, with how each was attributed, beside
the cluster's total (:mod:`rbm_utils.present.joint`, as the joint review notebook shows it).
"""

from __future__ import annotations

import html as html_text
from collections.abc import Mapping
from pathlib import Path

from IPython.display import HTML

from rbm_utils.core.config import Config
from rbm_utils.core.quarters import Quarter
from rbm_utils.core.text import escape_text
from rbm_utils.present import columns, reports
from rbm_utils.present import joint as regional
from rbm_utils.present.reports import Review, table_html
from rbm_utils.serve import data, downloads
from rbm_utils.serve.pages.context import page_context, page_parameters
from rbm_utils.serve.params import page_link
from rbm_utils.serve.widgets import html

#: What a page shows when the joint tables of a published pair are missing.
NOT_PUBLISHED = "joint tables not published for this quarter; run rbm review"

#: (heading, table of :data:`rbm_utils.publish.frozen.JOINT_TABLES`, columns, message when empty), in page order;
#: headings and columns are the published joint review notebook's (:mod:`rbm_utils.present.columns`); an
#: empty heading continues the section above. The page opens with the provenance, as the notebook.
JOINT_SECTIONS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (
        "The cluster's KPIs in the region",
        "cluster_kpis_in_region",
        columns.JOINT_KPIS_IN_REGION,
        "No KPI broken down for this region.",
    ),
    ("The cluster's activities in the region", "cluster_activities", columns.JOINT_ACTIVITIES, "No activity."),
    (
        "The region's initiatives on the cluster's themes",
        "region_kpis",
        columns.JOINT_REGION_KPIS,
        "No KPI on these themes.",
    ),
    ("Shared risks and assumptions", "risks", columns.JOINT_RISKS, "No shared risk."),
    (
        "",  # under the same heading as the risks, as in the notebook
        "assumptions",
        columns.JOINT_ASSUMPTIONS,
        "No shared assumption tested this quarter.",
    ),
    (
        "The cluster's money and people in the region",
        "money",
        columns.JOINT_MONEY,
        "No money of the cluster is attributed to the region.",
    ),
    ("Joint decisions", "decisions", columns.JOINT_DECISIONS, "No joint decision recorded."),
    ("Joint agenda", "agenda", columns.JOINT_AGENDA, "Nothing needs a decision."),
)


def _not_published() -> str:
    return f'<p class="rbm-empty">{escape_text(NOT_PUBLISHED)}</p>'


def provenance_html(outputs: Path, quarter: str, cluster: str, region: str, config: Config) -> str:
    """The two units' submissions behind the figures and the snapshot (the notebook's provenance)."""
    r = Review(
        Quarter.parse(quarter),
        config,
        state={name: data.load_snapshot_table(outputs, quarter, name) for name in ("Unit", "Approvals")},
        results={},
        unit=cluster,
        region=region,
        manifest=data.snapshot_manifest(outputs, quarter) or None,
    )
    return table_html(reports.provenance_frame(r), empty="No submission for this quarter.")


def joint_html(outputs: Path, quarter: str, pair: str, config: Config) -> str:
    """The joint review of a published ``pair`` for ``quarter``, from its frozen tables
    (``ValueError`` when the pair is not published for that quarter)."""
    tables = data.load_joint_tables(outputs, quarter, pair, config)  # checks quarter and pair
    q = quarter
    cluster, region = pair.split("-", 1)
    parts = [
        f'<h2 class="rbm-title">{escape_text(config.unit(cluster).name)} with {escape_text(config.unit(region).name)}: '
        f"joint review {escape_text(q)}</h2>",
        f'<p><a href="{escape_text(page_link("index.ipynb", quarter=q))}">All units</a> · '
        "Figures as published by the quarterly review (frozen snapshot).</p>",
        downloads.links_html(outputs, config, q, pair),
    ]
    if not tables:
        return "".join(parts) + _not_published()
    parts.append("<h3>Provenance</h3>" + provenance_html(outputs, q, cluster, region, config))
    for title, key, cols, empty in JOINT_SECTIONS:
        frame = tables.get(key)
        if frame is None:
            parts.append(f"<h3>{html_text.escape(title)}</h3>" + _not_published())
            continue
        if key == "money":  # the region's share beside the cluster's total, then by output (with money_summary)
            shown = regional.money_html(tables, region) if "money_summary" in tables else _not_published()
            parts.append(f"<h3>{html_text.escape(title)}</h3>" + shown)
            continue
        if key == "assumptions" and "period" in frame.columns:
            frame = frame[frame["period"] == q]
        head = f"<h3>{html_text.escape(title)}</h3>" if title else ""
        parts.append(head + table_html(frame, cols, empty=empty))
    return "".join(parts)


def page(
    outputs: Path | None = None,
    config: Config | None = None,
    query_string: str | None = None,
    env: Mapping[str, str] | None = None,
) -> HTML:
    """The joint review page, or the list of published joint reviews when no valid pair is asked."""
    ctx = page_context(outputs, config, query_string, env)
    params, _ = page_parameters(ctx, ("pair",))
    q = params.get("quarter")
    pair = params.get("pair")
    if q is None or pair is None:
        pairs = data.published_joint(ctx.outputs, q, ctx.config) if q else []
        links = "".join(
            f'<li><a href="{escape_text(page_link("joint.ipynb", quarter=q or "", pair=x))}">{escape_text(x)}</a></li>'
            for x in pairs
        )
        return html(
            "<h2>Joint reviews</h2>"
            + (f"<p>Pick a joint review:</p><ul>{links}</ul>" if links else "<p>No joint review is published.</p>")
        )
    return html(joint_html(ctx.outputs, q, pair, ctx.config))
