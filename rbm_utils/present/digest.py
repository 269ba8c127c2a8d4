"""A digest (:mod:`rbm_utils.analytics.digest`) in words: its sections as Markdown and as a
standalone HTML page, every officer's text escaped (HTML escaped in both; ``|`` and line breaks
too in a Markdown table cell, so a title cannot break the table or inject markup).

Example:
    >>> parts = {"status_moves": pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"], "name": ["<b>x|y</b>"],
    ...          "status_before": ["on_track"], "status_now": ["off_track"]})}
    >>> md = digest_markdown(parts, "2026-09-01", "2026-Q3")
    >>> "| AFR | K1 | &lt;b&gt;x\\\\|y&lt;/b&gt; | On track | Off track |" in md
    True
    >>> "<b>" in digest_html(parts, "2026-09-01", "2026-Q3")
    False
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd

from rbm_utils.analytics.digest import (
    MISSING_COLUMNS,
    OVERDUE_COLUMNS,
    RECEIVED_COLUMNS,
    RED_FLAG_COLUMNS,
    STATUS_MOVE_COLUMNS,
)
from rbm_utils.core.text import cell_text, escape_text
from rbm_utils.present.followup import moment
from rbm_utils.present.labels import label, status_label

#: The digest's sections in order: key, heading, columns, header words, what to say when empty.
SECTIONS: tuple[tuple[str, str, list[str], dict[str, str], str], ...] = (
    (
        "status_moves",
        "KPIs whose status moved",
        STATUS_MOVE_COLUMNS,
        {"unit_code": "unit", "kpi_id": "KPI", "name": "name", "status_before": "was", "status_now": "now"},
        "No KPI changed status.",
    ),
    (
        "new_red_flags",
        "New red flags",
        RED_FLAG_COLUMNS,
        {"unit_code": "unit", "risk_id": "risk", "asks": "what it asks"},
        "No new red flag.",
    ),
    (
        "overdue",
        "Decisions now overdue",
        OVERDUE_COLUMNS,
        {"unit_code": "unit", "decision_id": "decision id", "due_quarter": "due", "new": "overdue since the date"},
        "No decision is overdue.",
    ),
    (
        "received",
        "Submissions received",
        RECEIVED_COLUMNS,
        {"unit_code": "unit", "submission_id": "submission", "submitted_by": "by", "ingested_at": "received"},
        "No submission was received.",
    ),
    (
        "missing",
        "Units with no submission for the quarter",
        MISSING_COLUMNS,
        {"unit_code": "unit", "latest_quarter": "latest quarter submitted"},
        "Every unit has submitted for the quarter.",
    ),
)


def _word(column: str, value: object) -> str:
    """A cell in plain words (text, not escaped).

    >>> _word("status_now", "at_risk"), _word("new", True), _word("ingested_at", "2026-09-03T08:00:00Z")
    ('At risk', 'yes', '2026-09-03 08:00 UTC')
    """
    if column in ("status_before", "status_now"):
        text = cell_text(value)
        return {"new": "New KPI", "removed": "Removed"}.get(text) or status_label(text)
    if column == "new":
        return "yes" if bool(value) and value == value else "no"
    if column == "ingested_at":
        return moment(value)
    if column in ("rating", "status"):
        return label(cell_text(value)).replace("_", " ")
    text = cell_text(value)
    return text[:-2] if column in ("score", "submission_id") and text.endswith(".0") else text


def worded(parts: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each section's table with its columns in words (:data:`SECTIONS`), cells as plain text."""
    out = {}
    for key, _, cols, names, _ in SECTIONS:
        df = parts.get(key)
        df = pd.DataFrame(columns=cols) if df is None else df.reindex(columns=cols)
        out[key] = pd.DataFrame({names.get(c, c.replace("_", " ")): [_word(c, v) for v in df[c]] for c in cols})
    return out


def _title(since: str, quarter: str, unit: str | None) -> str:
    return f"What changed since {since}: {quarter}" + (f", {unit}" if unit else "")


def _intro(since: str, quarter: str) -> str:
    return (
        f"The quarter's figures as they stood on {since} against the figures now, computed as the quarterly "
        f"review computes them; submissions received since {since}; units still to submit for {quarter}."
    )


def _md_cell(text: str) -> str:
    """A Markdown table cell: HTML escaped, ``|`` escaped, on one line."""
    return escape_text(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def digest_markdown(parts: Mapping[str, pd.DataFrame], since: str, quarter: str, unit: str | None = None) -> str:
    """The digest as Markdown: a heading, one section per part, each a table or a sentence."""
    lines = [f"# {_md_cell(_title(since, quarter, unit))}", "", _intro(since, quarter), ""]
    tables = worded(parts)
    for key, heading, _, _, empty in SECTIONS:
        df = tables[key]
        lines += [f"## {heading} ({len(df)})", ""]
        if df.empty:
            lines += [empty, ""]
            continue
        lines.append("| " + " | ".join(_md_cell(str(c)) for c in df.columns) + " |")
        lines.append("|" + "---|" * len(df.columns))
        lines += ["| " + " | ".join(_md_cell(str(v)) for v in row) + " |" for row in df.itertuples(index=False)]
        lines.append("")
    return "\n".join(lines)


def digest_html(parts: Mapping[str, pd.DataFrame], since: str, quarter: str, unit: str | None = None) -> str:
    """The digest as a standalone HTML page (no script, no request), every cell escaped."""
    title = escape_text(_title(since, quarter, unit))
    body = [f"<h1>{title}</h1>", f"<p>{escape_text(_intro(since, quarter))}</p>"]
    tables = worded(parts)
    for key, heading, _, _, empty in SECTIONS:
        df = tables[key]
        body.append(f"<h2>{escape_text(heading)} ({len(df)})</h2>")
        if df.empty:
            body.append(f'<p class="rbm-empty">{escape_text(empty)}</p>')
            continue
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape_text(str(v))}</td>" for v in row) + "</tr>"
            for row in df.itertuples(index=False)
        )
        body.append(f'<table class="rbm-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>')
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}th,td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;"
        "vertical-align:top}th{background:#f3f5f7}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )
