"""The landing page (``dashboards/index.ipynb``): published quarters, every unit with its
publication and KPI status badges, links to each review, the joint reviews and the bureau overview.

Everything shown is escaped; links are built from the published lists only.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> "Nothing is published yet" in landing_html(Path("/nonexistent"), None, load_config())
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from IPython.display import HTML

from rbm_utils.core.codes import KPI_STATUSES
from rbm_utils.core.config import Config
from rbm_utils.core.text import escape_text
from rbm_utils.present.labels import BADGE_COLORS, STATUS_COLORS, STATUS_LABELS, UNKNOWN_COLOR
from rbm_utils.serve import data
from rbm_utils.serve.pages.context import page_context
from rbm_utils.serve.params import page_link, pick, request_parameters
from rbm_utils.serve.widgets import badge, html

RED_FLAG_COLOR = STATUS_COLORS["off_track"]


def status_badges(row: Mapping[str, Any]) -> str:
    """A badge per KPI status of a unit's row of :func:`rbm_utils.serve.data.unit_badges` (counts > 0)."""
    parts = [
        badge(f"{STATUS_LABELS[s]} {int(row[f'n_{s}'])}", STATUS_COLORS[s])
        for s in KPI_STATUSES
        if int(row.get(f"n_{s}", 0))
    ]
    return "".join(parts) or '<span style="color:#777">no KPI</span>'


def health_cell(score: float | None) -> str:
    """The data health score (0-100, docs/rules.md) as a table cell's text; a dash when not published.

    >>> health_cell(87.46), health_cell(None)
    ('<span class="rbm-health">87/100</span>', '<span style="color:#777">&#8212;</span>')
    """
    if score is None or score != score:  # None or NaN
        return '<span style="color:#777">&#8212;</span>'
    return f'<span class="rbm-health">{score:.0f}/100</span>'


def _units_table(outputs: Path, q: str, config: Config) -> str:
    rows = []
    for r in data.unit_badges(outputs, q, config).to_dict("records"):
        if r["publication"] == "published":
            link = escape_text(page_link("review.ipynb", quarter=q, unit=r["unit_code"]))
            cell = f'<a class="rbm-unit" href="{link}">{escape_text(r["unit_code"])}</a>'
        else:
            cell = escape_text(r["unit_code"])
        pub = badge(r["publication"], BADGE_COLORS.get(r["publication"], UNKNOWN_COLOR))
        flags = (
            badge(f"{r['red_flags']} red flag{'s' if r['red_flags'] != 1 else ''}", RED_FLAG_COLOR)
            if r["red_flags"]
            else ""
        )
        rows.append(
            f"<tr><td>{cell}</td><td>{escape_text(r['name'])}</td><td>{escape_text(r['type'])}</td><td>{pub}</td>"
            f"<td>{status_badges(r)} {flags}</td><td>{health_cell(r.get('data_health'))}</td></tr>"
        )
    return (
        '<h2>Units</h2><table class="rbm-table rbm-units"><thead><tr><th>unit</th><th>name</th><th>type</th>'
        f"<th>review</th><th>KPI status</th><th>data health</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _joint_list(outputs: Path, q: str, config: Config) -> str:
    joint = data.published_joint(outputs, q, config)
    if not joint:
        return ""
    status = data.run_status(outputs, q)
    items = []
    for name in joint:
        c, r = name.split("-", 1)
        pub = data.publication(status.get(f"joint-{name}")) if f"joint-{name}" in status else "published"
        label = f"{config.unit(c).name} with {config.unit(r).name}"
        items.append(
            f'<li><a class="rbm-joint" href="{escape_text(page_link("joint.ipynb", quarter=q, pair=name))}">'
            f"{escape_text(name)}</a> {escape_text(label)} {badge(pub, BADGE_COLORS.get(pub, UNKNOWN_COLOR))}</li>"
        )
    return f"<h2>Joint reviews</h2><ul>{''.join(items)}</ul>"


def landing_html(outputs: Path, quarter: str | None, config: Config) -> str:
    """The landing page's HTML for ``quarter`` (the newest published when not published)."""
    quarters = data.published_quarters(outputs)
    title = f"<h1>{escape_text(config.name)}: quarterly reviews</h1>"
    if not quarters:
        return (
            title
            + "<p>Nothing is published yet. The M&amp;E team runs <code>rbm review</code> to publish a quarter.</p>"
        )
    q = pick(quarter, quarters) or quarters[0]
    nav = " ".join(
        f"<b>{escape_text(x)}</b>"
        if x == q
        else f'<a href="{escape_text(page_link("index.ipynb", quarter=x))}">{escape_text(x)}</a>'
        for x in quarters
    )
    out = [title, f'<p class="rbm-quarters">Quarter: {nav}</p>']
    if data.has_overview(outputs, q):
        out.append(
            f'<p><a class="rbm-overview" href="{escape_text(page_link("overview.ipynb", quarter=q))}">'
            f"Bureau overview {escape_text(q)}</a></p>"
        )
    out.append(_units_table(outputs, q, config))
    out.append(_joint_list(outputs, q, config))
    return "".join(out)


def page(
    outputs: Path | None = None,
    config: Config | None = None,
    query_string: str | None = None,
    env: Mapping[str, str] | None = None,
) -> HTML:
    """The landing page (displayable HTML). Query string: ``quarter``."""
    ctx = page_context(outputs, config, query_string, env)
    params = request_parameters(ctx.query, {"quarter": data.published_quarters(ctx.outputs)})
    return html(
        landing_html(ctx.outputs, params.get("quarter") or data.default_quarter(ctx.outputs, ctx.env), ctx.config)
    )
