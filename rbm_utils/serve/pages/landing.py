"""The landing page (``dashboards/index.ipynb``), a manager's start: the published quarters; the
bureau's ten items needing decisions (the published agenda, by rank); every unit with its review's
publication, approval state, data health, KPI status counts, red flags, open and overdue
decisions, what changed since last quarter (better, worse, new), the submission its figures come
from and its between-review refresh (queued, running, up to date, failed), in a table that sorts by any
column and filters by text and unit type (in the page: the template's script, no kernel call);
links to each review, the joint reviews and the bureau overview. From published tables only.

Everything shown is escaped; links are built from the published lists only.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> "Nothing is published yet" in landing_html(Path("/nonexistent"), None, load_config())
    True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from IPython.display import HTML

from rbm_utils.core.codes import KPI_STATUSES
from rbm_utils.core.config import Config
from rbm_utils.core.text import escape_text
from rbm_utils.present.followup import moment
from rbm_utils.present.labels import (
    APPROVAL_COLORS,
    APPROVAL_LABELS,
    BADGE_COLORS,
    REFRESH_COLORS,
    REFRESH_LABELS,
    STATUS_COLORS,
    STATUS_LABELS,
    UNKNOWN_COLOR,
)
from rbm_utils.present.reports import table_html
from rbm_utils.serve import access, data
from rbm_utils.serve.pages.context import page_context
from rbm_utils.serve.params import page_link, pick, request_parameters
from rbm_utils.serve.widgets import badge, html

RED_FLAG_COLOR = STATUS_COLORS["off_track"]
#: Columns of the bureau's items needing decisions at the top of the page.
TOP_COLUMNS = ("rank", "unit_code", "kind", "title", "owner", "question")
#: The units table's columns: (header, kind of sort) -- "text" or "number" (the cell's data-sort).
UNIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("unit", "text"),
    ("name", "text"),
    ("type", "text"),
    ("review", "text"),
    ("approval", "text"),
    ("data health", "number"),
    ("KPI status", "number"),
    ("red flags", "number"),
    ("open decisions", "number"),
    ("overdue decisions", "number"),
    ("since last quarter", "number"),
    ("figures as of", "text"),
    ("refresh", "text"),
)


def status_badges(row: Mapping[str, Any]) -> str:
    """A badge per KPI status of a unit's row of :func:`rbm_utils.serve.data.unit_badges` (counts > 0)."""
    parts = [
        badge(f"{STATUS_LABELS[s]} {int(row[f'n_{s}'])}", STATUS_COLORS[s])
        for s in KPI_STATUSES
        if int(row.get(f"n_{s}", 0))
    ]
    return "".join(parts) or '<span style="color:#595959">no KPI</span>'


def health_cell(score: float | None) -> str:
    """The data health score (0-100, docs/rules.md) as a table cell's text; a dash when not published.

    >>> health_cell(87.46), health_cell(None)
    ('<span class="rbm-health">87/100</span>', '<span style="color:#595959">&#8212;</span>')
    """
    if score is None or score != score:  # None or NaN
        return '<span style="color:#595959">&#8212;</span>'
    return f'<span class="rbm-health">{score:.0f}/100</span>'


def approval_cell(row: Mapping[str, Any]) -> str:
    """The approval state in words (a badge), who approved, and the changes waiting for the bureau.

    >>> "Approved" in approval_cell({"approval": "approved", "approved_by": "A. Director", "n_pending": 0})
    True
    >>> "2 changes for the bureau" in approval_cell({"approval": "pending", "approved_by": "", "n_pending": 2})
    True
    """
    state = str(row.get("approval") or "")
    if not state:
        return '<span style="color:#595959">&#8212;</span>'
    words = APPROVAL_LABELS.get(state, state)
    out = badge(words, APPROVAL_COLORS.get(state, UNKNOWN_COLOR))
    if state == "approved" and row.get("approved_by"):
        out += f" by {escape_text(row['approved_by'])}"
    n = int(row.get("n_pending") or 0)
    if state == "pending" and n:
        out += f" ({n} change{'s' if n != 1 else ''} for the bureau)"
    return f'<span class="rbm-approval">{out}</span>'


def changes_cell(row: Mapping[str, Any]) -> str:
    """Items better, worse and new since last quarter, in words (from the published changes table).

    >>> changes_cell({"better": 2, "worse": 1, "new": 0})
    '<span class="rbm-changes">2 better, 1 worse</span>'
    """
    parts = [f"{int(row.get(d) or 0)} {d}" for d in data.CHANGE_DIRECTIONS if int(row.get(d) or 0)]
    return f'<span class="rbm-changes">{", ".join(parts) or "no change"}</span>'


def figures_cell(row: Mapping[str, Any]) -> str:
    """The submission the published figures come from, and when a refresh last republished them.

    >>> figures_cell({"submission_id": 7, "submitted_by": "Ada", "figures_at": "2026-10-12T09:30:00Z",
    ...               "refreshed_at": "2026-10-12T09:33:00Z"})
    '<span class="rbm-figures">submission 7 by Ada, 2026-10-12 09:30 UTC; refreshed 2026-10-12 09:33 UTC</span>'
    """
    sid = row.get("submission_id")
    if sid is None or sid != sid:
        return '<span style="color:#595959">&#8212;</span>'
    who, when = str(row.get("submitted_by") or ""), moment(row.get("figures_at"))
    text = f"submission {int(sid)}" + (f" by {who}" if who else "") + (f", {when}" if when else "")
    if row.get("refreshed_at"):
        text += f"; refreshed {moment(row['refreshed_at'])}"
    return f'<span class="rbm-figures">{escape_text(text)}</span>'


def refresh_cell(row: Mapping[str, Any]) -> str:
    """The unit's between-review refresh in words with its colour: queued, running, up to date,
    or failed with what went wrong (the last good figures stay published).

    >>> "Refresh failed" in refresh_cell({"refresh": "failed", "refresh_message": "store unreachable"})
    True
    >>> refresh_cell({"refresh": ""})
    '<span style="color:#595959">no refresh since the review</span>'
    """
    state = str(row.get("refresh") or "")
    if not state:
        return '<span style="color:#595959">no refresh since the review</span>'
    out = badge(REFRESH_LABELS.get(state, state), REFRESH_COLORS.get(state, UNKNOWN_COLOR))
    sid = row.get("refresh_submission")
    if state in ("queued", "running") and sid is not None and sid == sid:
        out += f" (submission {int(sid)})"
    if state == "failed":
        message = str(row.get("refresh_message") or "")
        out += f": {escape_text(message)}" if message else ""
        out += "; the figures shown are the last good ones"
    return f'<span class="rbm-refresh">{out}</span>'


def _sort_key(value: Any) -> str:
    """A cell's ``data-sort`` attribute: numbers as they are, missing as -1 (sorted first)."""
    return "-1" if value is None or value != value else f"{float(value):g}"


def _count(n: Any, word: str, color: str | None = None) -> str:
    n = int(n or 0)
    if not n:
        return '<span style="color:#595959">0</span>'
    text = f"{n} {word}{'s' if n != 1 and not word.endswith('s') else ''}"
    return badge(text, color) if color else escape_text(text)


def hidden_note(hidden: list[str]) -> str:
    """Says which units' reviews of the quarter are drafts the reader cannot open yet.

    >>> "Not shown: CYB, EUR" in hidden_note(["EUR", "CYB"]), hidden_note([])
    (True, '')
    """
    if not hidden:
        return ""
    return (
        f'<p class="rbm-hidden">Not shown: {escape_text(", ".join(sorted(hidden)))} (this quarter is not approved '
        "yet; only the unit and the bureau's leadership read it until then).</p>"
    )


def _units_table(outputs: Path, q: str, config: Config) -> str:
    rows = []
    seen = access.current()
    badges = data.unit_badges(outputs, q, config).to_dict("records")
    hidden = [str(r["unit_code"]) for r in badges if seen is not None and not seen.unit(q, str(r["unit_code"]))]
    for r in badges:
        if str(r["unit_code"]) in hidden:
            continue
        code = escape_text(r["unit_code"])
        if r["publication"] == "published":
            link = escape_text(page_link("review.ipynb", quarter=q, unit=r["unit_code"]))
            cell = f'<a class="rbm-unit" href="{link}">{code}</a>'
        else:
            cell = code
        pub = badge(r["publication"], BADGE_COLORS.get(r["publication"], UNKNOWN_COLOR))
        worst = int(r.get("n_off_track", 0)) * 1000 + int(r.get("n_at_risk", 0))
        cells = [
            (r["unit_code"], cell),
            (r["name"], escape_text(r["name"])),
            (r["type"], escape_text(r["type"])),
            (r["publication"], pub),
            (r.get("approval") or "", approval_cell(r)),
            (_sort_key(r.get("data_health")), health_cell(r.get("data_health"))),
            (str(worst), status_badges(r)),
            (str(int(r["red_flags"])), _count(r["red_flags"], "red flag", RED_FLAG_COLOR)),
            (str(int(r["open_decisions"])), _count(r["open_decisions"], "open")),
            (str(int(r["overdue_decisions"])), _count(r["overdue_decisions"], "overdue", RED_FLAG_COLOR)),
            (str(int(r["worse"])), changes_cell(r)),
            (str(r.get("refreshed_at") or r.get("figures_at") or ""), figures_cell(r)),
            (str(r.get("refresh") or ""), refresh_cell(r)),
        ]
        tds = "".join(f'<td data-sort="{escape_text(str(key))}">{shown}</td>' for key, shown in cells)
        rows.append(f'<tr data-unit="{code}" data-type="{escape_text(r["type"])}">{tds}</tr>')
    head = "".join(
        f'<th scope="col" aria-sort="none"><button type="button" class="rbm-sort" data-col="{i}" data-kind="{kind}">'
        f"{escape_text(name)}</button></th>"
        for i, (name, kind) in enumerate(UNIT_COLUMNS)
    )
    filters = (
        '<p class="rbm-filters"><label>Filter units: <input type="search" class="rbm-filter" '
        'data-table="rbm-units" placeholder="code, name, approval, ..."></label> '
        '<label>Type: <select class="rbm-filter-type" data-table="rbm-units">'
        '<option value="">all</option><option value="region">regions</option>'
        '<option value="cluster">clusters</option></select></label> '
        '<span class="rbm-filter-count" role="status" aria-live="polite"></span></p>'
    )
    return (
        '<h2 id="rbm-units-heading">Units</h2><p>Click a column heading (or press Enter on it) to sort; '
        "worst first for KPI status (off track, then at risk), red flags, decisions and changes for the worse.</p>"
        + hidden_note(hidden)
        + filters
        + '<table class="rbm-table rbm-units rbm-sortable" id="rbm-units" aria-labelledby="rbm-units-heading">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _top_items(outputs: Path, q: str, config: Config) -> str:
    top = data.top_agenda(outputs, q, config)
    title = "<h2>The bureau's ten items needing decisions</h2>"
    if top.empty:
        return title + '<p class="rbm-empty">No agenda is published for this quarter.</p>'
    labels = {"unit_code": "unit", "kind": "what"}
    top = top.assign(kind=top["kind"].astype(str).str.replace("_", " ").str.capitalize()) if "kind" in top else top
    return title + f'<div class="rbm-top-agenda">{table_html(top, TOP_COLUMNS, labels=labels)}</div>'


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


def signed_in_line(env: Mapping[str, str] | None = None) -> str:
    """Who the page is for (``$RBM_VIEWER``, set by the server) and the sign-out link ('' outside the server).

    >>> signed_in_line({"RBM_VIEWER": "ada (officer: AFR)"})
    '<p class="rbm-viewer">Signed in as ada (officer: AFR). <a href="../../logout">Sign out</a></p>'
    """
    who = (os.environ if env is None else env).get(access.VIEWER_ENV)
    if not who:
        return ""
    return f'<p class="rbm-viewer">Signed in as {escape_text(who)}. <a href="../../logout">Sign out</a></p>'


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
    out = [title, signed_in_line(), f'<p class="rbm-quarters">Quarter: {nav}</p>']
    if data.has_overview(outputs, q):
        out.append(
            f'<p><a class="rbm-overview" href="{escape_text(page_link("overview.ipynb", quarter=q))}">'
            f"Bureau overview {escape_text(q)}</a></p>"
        )
    out.append(_top_items(outputs, q, config))
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
