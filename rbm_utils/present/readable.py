"""Tables a manager can read: codes as words with their colour, booleans as words, numbers with
thousands separators, KPIs worst first, and what moved since last quarter.

Every table of the review notebooks and the dashboards goes through
:func:`rbm_utils.present.reports.table_html`, which formats each cell with :func:`cell_html`, so
a status reads the same (word and colour from :mod:`rbm_utils.present.labels`) in a notebook,
a dashboard and a chart legend.

Example:
    >>> cell_html("status", "off_track")
    '<span class="rbm-code" style="background:#D55E00;color:#000;padding:0 6px;border-radius:8px">Off track</span>'
    >>> cell_html("likely_to_meet", False), cell_html("budget_year", 1234567.0), cell_html("n_kpis", 12000)
    ('No', '1,234,567', '12,000')
    >>> by_severity(pd.DataFrame({"kpi_id": ["A", "B", "C"], "status": ["on_track", "off_track", "at_risk"]}))["kpi_id"].tolist()
    ['B', 'C', 'A']
"""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np
import pandas as pd

from rbm_utils.core.codes import KPI_STATUSES
from rbm_utils.core.text import escape_text
from rbm_utils.present.labels import (
    APPROVAL_COLORS,
    APPROVAL_LABELS,
    RATING_COLORS,
    RATING_LABELS,
    STATUS_COLORS,
    STATUS_LABELS,
    VERDICT_COLORS,
    VERDICT_LABELS,
    text_color,
)

#: Columns whose cells are codes shown as a coloured word (KPI statuses, verdicts, ratings, approvals).
CODED_COLUMNS: frozenset[str] = frozenset(
    {
        "status",
        "source_status",
        "target_status",
        "previous_status",
        "verdict",
        "previous_verdict",
        "verdict_before",
        "verdict_after",
        "rating",
        "previous",
        "current",
        "state",
        "approval",
    }
)
#: Code -> (word, colour): one map for every coded column.
CODE_WORDS: dict[str, tuple[str, str]] = {
    **{c: (RATING_LABELS[c], RATING_COLORS[c]) for c in RATING_COLORS},
    **{c: (VERDICT_LABELS[c], VERDICT_COLORS[c]) for c in VERDICT_LABELS if c in VERDICT_COLORS},
    **{c: (APPROVAL_LABELS[c], APPROVAL_COLORS[c]) for c in APPROVAL_LABELS},
    **{c: (STATUS_LABELS[c], STATUS_COLORS[c]) for c in STATUS_LABELS if c in STATUS_COLORS},
}
#: Kinds of change since last quarter (published ``changes`` table) in words.
CHANGE_KIND_WORDS: dict[str, str] = {
    "kpi_status": "KPI status",
    "assumption_verdict": "Assumption verdict",
    "risk_score": "Risk score",
    "spending": "Spending",
}
#: Kinds of review agenda item (:data:`rbm_utils.core.codes.AGENDA_KINDS`) in words.
AGENDA_KIND_WORDS: dict[str, str] = {
    "risk_red_flag": "Red-flag risk",
    "kpi_off_track": "KPI off track",
    "assumption_broken": "Assumption broken",
    "stalled_link": "Stalled link",
    "spending_gap": "Spending gap",
    "kpi_no_data": "KPI without data",
}
#: Every ``kind`` column's words.
KIND_WORDS: dict[str, str] = {**CHANGE_KIND_WORDS, **AGENDA_KIND_WORDS}
#: Columns holding a fraction shown as a percentage (achievement 0.42 reads "42%").
PERCENT_COLUMNS: frozenset[str] = frozenset(
    {
        "achievement",
        "expected",
        "forecast_achievement",
        "mean_achievement",
        "evidence_share",
        "execution_rate",
        "time_elapsed",
        "largest_share",
        "secured_share",
        "share",
        "share_of_secured",
        "share_of_spending",
        "share_of_total",
        "share_off_track",
        "share_on_track",
    }
)
#: Boolean cells in words.
YES, NO = "Yes", "No"
#: Arrows of a change since last quarter (column ``direction`` of the published ``changes`` table).
MOVE_ARROWS: dict[str, str] = {"better": "▲ better", "worse": "▼ worse", "same": "= same", "new": "new"}
#: Colours of those arrows.
MOVE_COLORS: dict[str, str] = {"better": "#2e9e4f", "worse": "#c0392b", "same": "#7f7f7f", "new": "#7f7f7f"}


def missing(v: Any) -> bool:
    """True for None, NaN and pandas' NA.

    >>> missing(None), missing(float("nan")), missing(pd.NA), missing(0)
    (True, True, True, False)
    """
    if v is None or v is pd.NA:
        return True
    return isinstance(v, float | np.floating) and bool(np.isnan(v))


def text(v: Any) -> str:
    """Plain text of a cell: '' when missing, Yes/No for booleans, numbers with thousands separators.

    >>> text(True), text(np.bool_(False)), text(0.256), text(np.int64(1500)), text(2500.4)
    ('Yes', 'No', '0.26', '1,500', '2,500')
    """
    if missing(v):
        return ""
    if isinstance(v, bool | np.bool_):
        return YES if v else NO
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        x = float(v)
        return f"{x:,.2f}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(v)


def code_html(code: Any) -> str | None:
    """A code as its word (escaped) on its colour, the text black or white, whichever reads better
    on it (the word carries the meaning, the colour repeats it); None when ``code`` is not a known code.

    >>> code_html("broken")
    '<span class="rbm-code" style="background:#D55E00;color:#000;padding:0 6px;border-radius:8px">Broken</span>'
    """
    if not isinstance(code, str) or code not in CODE_WORDS:
        return None
    word, color = CODE_WORDS[code]
    return (
        f'<span class="rbm-code" style="background:{color};color:{text_color(color)};padding:0 6px;'
        f'border-radius:8px">{html.escape(word)}</span>'
    )


def plain(column: str, v: Any) -> str:
    """A cell as the words a reader sees (unescaped text, no colour): what :func:`cell_html` shows.

    >>> plain("status", "off_track"), plain("achievement", 0.5), plain("kind", "stalled_link"), plain("n", 3)
    ('Off track', '50%', 'Stalled link', '3')
    """
    if column in CODED_COLUMNS and isinstance(v, str) and v in CODE_WORDS:
        return CODE_WORDS[v][0]
    if column in PERCENT_COLUMNS and isinstance(v, float | np.floating | int | np.integer) and not missing(v):
        if not isinstance(v, bool | np.bool_):
            return f"{float(v):.0%}"
    if column == "kind" and isinstance(v, str) and v in KIND_WORDS:
        return KIND_WORDS[v]
    if column == "direction" and isinstance(v, str) and v in MOVE_ARROWS:
        return MOVE_ARROWS[v]
    return text(v)


def cell_html(column: str, v: Any) -> str:
    """One table cell as escaped HTML: a code of a coded column as its coloured word, a fraction
    of a share column as a percentage, a change's direction as a coloured arrow, a kind in
    words, anything else as :func:`text` (the words of :func:`plain`).

    >>> cell_html("direction", "worse"), cell_html("title", "<b>"), cell_html("achievement", -0.094)
    ('<span class="rbm-move" style="color:#c0392b">▼ worse</span>', '&lt;b&gt;', '-9%')
    """
    if column in CODED_COLUMNS:
        coded = code_html(v)
        if coded is not None:
            return coded
    if column == "direction" and isinstance(v, str) and v in MOVE_ARROWS:
        return f'<span class="rbm-move" style="color:{MOVE_COLORS[v]}">{MOVE_ARROWS[v]}</span>'
    return escape_text(plain(column, v))


def by_severity(progress: pd.DataFrame | None) -> pd.DataFrame:
    """KPIs worst status first (the order of :data:`rbm_utils.core.codes.KPI_STATUSES`), then
    the lowest achievement, then as they came; an unknown status last.

    >>> p = pd.DataFrame({"kpi_id": list("ABC"), "status": ["off_track", "odd", "off_track"],
    ...                   "achievement": [0.5, 0.1, 0.2]})
    >>> by_severity(p)["kpi_id"].tolist()
    ['C', 'A', 'B']
    """
    if progress is None or progress.empty or "status" not in progress.columns:
        return pd.DataFrame() if progress is None else progress.reset_index(drop=True)
    rank = progress["status"].map({s: i for i, s in enumerate(KPI_STATUSES)}).fillna(len(KPI_STATUSES))
    keys = progress.assign(_rank=rank)
    by = ["_rank"]
    if "achievement" in progress.columns:
        keys["_ach"] = pd.to_numeric(progress["achievement"], errors="coerce")
        by.append("_ach")
    order = keys.sort_values(by, kind="stable", na_position="last").index
    return progress.loc[order].reset_index(drop=True)


def with_moves(progress: pd.DataFrame | None, changes: pd.DataFrame | None) -> pd.DataFrame:
    """``progress`` with ``previous_status`` and ``moved`` (▲ better, ▼ worse, = same, new, with the
    previous status in words) from the published ``changes`` table's KPI status rows (empty
    where the KPI has none; a KPI with several such rows takes the last).

    Each change's words are made once, then every KPI finds its change in one lookup (an
    overview of 200 units has 3,000 KPIs: row by row through the frame took half a second).

    >>> p = pd.DataFrame({"unit_code": ["A"], "kpi_id": ["K1"], "status": ["off_track"]})
    >>> c = pd.DataFrame({"unit_code": ["A"], "kind": ["kpi_status"], "item_id": ["K1"],
    ...                   "previous": ["on_track"], "current": ["off_track"], "direction": ["worse"]})
    >>> with_moves(p, c)[["previous_status", "moved"]].values.tolist()
    [['on_track', '▼ worse (was On track)']]
    """
    if progress is None:
        return pd.DataFrame()
    out = progress.copy()
    out["previous_status"] = pd.Series([None] * len(out), index=out.index, dtype=object)
    out["moved"] = ""
    if changes is None or changes.empty or out.empty or not {"kind", "item_id", "direction"} <= set(changes.columns):
        return out
    c = changes[changes["kind"] == "kpi_status"]
    kpi_ids = set(out["kpi_id"].tolist())  # the changes of these KPIs only (a page of them)
    c = c[np.array([k in kpi_ids for k in c["item_id"].tolist()], dtype=bool)]
    by_unit = "unit_code" in c.columns and "unit_code" in out.columns
    key = ["unit_code", "item_id"] if by_unit else ["item_id"]
    previous = c["previous"].tolist() if "previous" in c.columns else [None] * len(c)
    known = [p if isinstance(p, str) and bool(p) else None for p in previous]
    moves = [str(d) for d in c["direction"].tolist()]
    words = [
        MOVE_ARROWS.get(m, m) + (f" (was {CODE_WORDS[p][0] if p in CODE_WORDS else p})" if p and m != "same" else "")
        for p, m in zip(known, moves, strict=True)
    ]
    # the row of each change's key (the last of several), then each KPI's row in one pass
    row = {k: i for i, k in enumerate(zip(*(c[k].tolist() for k in key), strict=True))}
    kpi_key = ["unit_code", "kpi_id"] if by_unit else ["kpi_id"]
    at = np.array([row.get(k, -1) for k in zip(*(out[k].tolist() for k in kpi_key), strict=True)], dtype=np.int64)
    found = at >= 0
    if found.any():
        prev_col = np.full(len(out), None, dtype=object)
        prev_col[found] = np.array(known, dtype=object)[at[found]]
        moved_col = np.full(len(out), "", dtype=object)
        moved_col[found] = np.array(words, dtype=object)[at[found]]
        out["previous_status"] = pd.Series(prev_col, index=out.index, dtype=object)
        out["moved"] = pd.Series(moved_col, index=out.index, dtype=out["moved"].dtype)  # text, as ""
    return out


def trend_text(series: pd.DataFrame | None, unit: str, kpi_id: str, n: int = 4) -> str:
    """A KPI's reported values over its last ``n`` reported quarters, oldest first, from the first
    of them (the trend chart of the drill-down shows every quarter).

    >>> s = pd.DataFrame({"unit_code": ["A"] * 3, "kpi_id": ["K"] * 3, "period": ["2026-Q1", "2026-Q2", "2026-Q3"],
    ...                   "reported": [True, False, True], "value": [10.0, None, 1500.0]})
    >>> trend_text(s, "A", "K")
    'since 2026-Q1: 10.00 → 1,500'
    """
    if series is None or series.empty:
        return ""
    s = series[(series["unit_code"] == unit) & (series["kpi_id"] == kpi_id)]
    if "reported" in s.columns:
        s = s[s["reported"].fillna(False).astype(bool)]
    s = s.sort_values("period").tail(n)
    if s.empty:
        return ""
    return f"since {s['period'].iloc[0]}: " + " → ".join(text(v) for v in s["value"])


def trend_texts(series: pd.DataFrame | None, n: int = 4) -> dict[tuple[str, str], str]:
    """:func:`trend_text` of every (unit, KPI) of ``series`` at once, in one pass over it (an
    overview of 200 units has 3,000 KPIs: one filter of the whole series per KPI took seconds).

    >>> s = pd.DataFrame({"unit_code": ["A"] * 3 + ["B"], "kpi_id": ["K"] * 4,
    ...                   "period": ["2026-Q2", "2026-Q1", "2026-Q3", "2026-Q3"], "value": [5.0, 10.0, 1500.0, 2.0]})
    >>> trend_texts(s)
    {('A', 'K'): 'since 2026-Q1: 10.00 → 5.00 → 1,500', ('B', 'K'): 'since 2026-Q3: 2.00'}
    """
    if series is None or series.empty:
        return {}
    s = series
    if "reported" in s.columns:
        s = s[s["reported"].fillna(False).astype(bool)]
    s = s.assign(_u=s["unit_code"].astype(str), _k=s["kpi_id"].astype(str))
    s = s.sort_values(["_u", "_k", "period"], kind="stable").groupby(["_u", "_k"], sort=False).tail(n)
    values = s["value"].tolist()
    # float values (the published series) as text() words them, without its checks of other types
    words = [_float_text(v) for v in values] if s["value"].dtype == np.float64 else [text(v) for v in values]
    out: dict[tuple[str, str], str] = {}
    for u, k, p, word in zip(s["_u"].tolist(), s["_k"].tolist(), s["period"].tolist(), words, strict=True):
        key = (u, k)
        out[key] = out[key] + " → " + word if key in out else f"since {p}: " + word
    return out


def _float_text(x: float) -> str:
    """:func:`text` of a float: '' when NaN, two decimals under 1,000, else none.

    >>> [_float_text(v) for v in (float("nan"), 0.256, 2500.4, -1234.5)] == [text(v) for v in (np.nan, 0.256, 2500.4, -1234.5)]
    True
    """
    if x != x:
        return ""
    return f"{x:,.2f}" if abs(x) < 1000 else f"{x:,.0f}"


def with_trends(progress: pd.DataFrame | None, series: pd.DataFrame | None) -> pd.DataFrame:
    """``progress`` with a column ``trend``: each KPI's reported values over the published quarters
    (:func:`trend_text`, all KPIs at once: :func:`trend_texts`)."""
    if progress is None:
        return pd.DataFrame()
    out = progress.copy()
    if series is not None and len(series) and len(out):  # only the series of these KPIs (a page of a long table)
        kpi_ids = {str(k) for k in out["kpi_id"].tolist()}
        series = series[np.array([str(k) in kpi_ids for k in series["kpi_id"].tolist()], dtype=bool)]
    texts = trend_texts(series)
    out["trend"] = [texts.get((str(u), str(k)), "") for u, k in zip(out["unit_code"], out["kpi_id"], strict=True)]
    return out


def kpi_table(progress: pd.DataFrame | None, changes: pd.DataFrame | None, series: pd.DataFrame | None) -> pd.DataFrame:
    """The KPI table of a review (notebook and dashboard): worst status first (:func:`by_severity`),
    with what moved since last quarter (:func:`with_moves`) and each KPI's trend (:func:`with_trends`).

    >>> p = pd.DataFrame({"unit_code": ["A", "A"], "kpi_id": ["K1", "K2"], "status": ["on_track", "at_risk"]})
    >>> kpi_table(p, None, None)[["kpi_id", "moved", "trend"]].values.tolist()
    [['K2', '', ''], ['K1', '', '']]
    """
    return by_severity(with_trends(with_moves(progress, changes), series))


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ESCAPED = re.compile(r"\\([\\\[\]`])")


def markdown_html(markdown: str) -> str:
    """The few Markdown forms of a results statement (``#`` headings, ``-`` bullets one or two
    levels deep, ``**bold**``, paragraphs) as HTML. Officer text arrives made inert for Markdown
    (entities, backslash escapes): it is turned back into plain text, then every piece of text
    is escaped, once.

    >>> markdown_html("Done: &lt;b&gt; \\\\[x\\\\]")
    '<p>Done: &lt;b&gt; [x]</p>'

    >>> markdown_html("## Title\\n\\n- **A** <b>\\n  - x")
    '<h4>Title</h4><ul><li><strong>A</strong> &lt;b&gt;<ul><li>x</li></ul></li></ul>'
    """
    out: list[str] = []
    depth = 0
    for raw in markdown.splitlines():
        # back to plain text (entities and Markdown escapes of rbm_utils.core.text.markdown_text), escaped below
        line = html.unescape(_ESCAPED.sub(r"\1", raw.rstrip()))
        bullet = re.match(r"^(\s*)- (.*)$", line)
        level = (len(bullet.group(1)) // 2 + 1) if bullet else 0
        while depth > level:
            out.append("</li></ul>")
            depth -= 1
        if bullet:
            body = _BOLD.sub(r"<strong>\1</strong>", escape_text(bullet.group(2)))
            if level > depth:
                out.append("<ul><li>" + body)
                depth = level
            else:
                out.append("</li><li>" + body)
            continue
        if not line.strip():
            continue
        heading = re.match(r"^#+\s+(.*)$", line)
        body = _BOLD.sub(r"<strong>\1</strong>", escape_text(heading.group(1) if heading else line.strip()))
        out.append(f"<h4>{body}</h4>" if heading else f"<p>{body}</p>")
    out.extend("</li></ul>" for _ in range(depth))
    return "".join(out)
