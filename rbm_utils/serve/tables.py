"""Long tables on a page: a filter and pages.

A :class:`PagedTable` shows a published table in an ``Output`` widget one page of
:data:`PAGE_ROWS` rows at a time (the notebooks show as many, then say how many more), with a
text filter that keeps the rows whose shown text contains it (case ignored) and buttons to turn
the pages. The controls are made, and appear, only when the table is longer than a page (a short
table costs the browser no widget). What a browser types in the filter is compared with the rows'
text, never evaluated, and cut to :data:`MAX_QUERY` characters; the buttons only move the page
within its bounds.

Example:
    >>> out = w.Output()
    >>> t = PagedTable(out, "kpi")
    >>> t.set(pd.DataFrame({"kpi_id": [f"K{i}" for i in range(130)]}), None, "No KPI.")
    >>> t.info.value, t.turn(1), t.info.value
    ('Rows 1–60 of 130', None, 'Rows 61–120 of 130')
    >>> t.query.value = "k12"
    >>> t.info.value
    'Rows 1–11 of 11 matching “k12”'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import ipywidgets as w
import pandas as pd

from rbm_utils.core.text import escape_text
from rbm_utils.present import readable
from rbm_utils.present.reports import table_html
from rbm_utils.serve.widgets import FILTER_STYLE, html, show

#: Rows per page: as many as a notebook's table shows.
PAGE_ROWS = 60
#: Longest filter text used (the rest is ignored).
MAX_QUERY = 100
#: What a page says when the filter keeps no row.
NO_MATCH = "No row matches the filter."


class PagedTable:
    """One long table of a page in ``out`` with its controls (``widget``, class ``rbm-<name>-pager``)."""

    def __init__(self, out: w.Output, name: str) -> None:
        self.out = out
        #: The controls, made the first time a table is longer than a page (a short table's page
        #: carries no filter nor buttons: fewer widgets for the browser to build).
        self.widget = w.HBox(layout=w.Layout(flex_flow="row wrap", align_items="center", display="none"))
        self.widget.add_class(f"rbm-{name}-pager")
        self.frame = pd.DataFrame()
        self.columns: Sequence[str] | None = None
        self.empty = ""
        self.page = 0
        self.complete: Callable[[pd.DataFrame], pd.DataFrame] | None = None
        self.completed: pd.DataFrame | None = None

    def controls(self) -> None:
        """Make the filter, the buttons and the rows' count (once)."""
        if hasattr(self, "query"):
            return
        self.query = w.Text(
            value="",
            placeholder="any word of the rows",
            description="Filter",
            style=FILTER_STYLE,
            layout=w.Layout(width="22em"),
        )
        self.prev = w.Button(description="◀ Previous", layout=w.Layout(width="auto"))
        self.next = w.Button(description="Next ▶", layout=w.Layout(width="auto"))
        self.info = w.HTML()
        self.widget.children = (self.query, self.prev, self.info, self.next)
        self.query.observe(lambda _change: self.filtered(), names="value")
        self.prev.on_click(lambda _button: self.turn(-1))
        self.next.on_click(lambda _button: self.turn(1))

    def set(
        self,
        frame: pd.DataFrame | None,
        columns: Sequence[str] | None,
        empty: str,
        complete: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    ) -> None:
        """Show ``frame`` (its ``columns``) from its first page; the filter text stays. ``complete``
        adds the columns that cost the most to word, row by row (the same on any rows): given, it
        words only the page shown, and every row only once the filter is used."""
        self.frame = frame if frame is not None else pd.DataFrame()
        self.columns, self.empty, self.page = columns, empty, 0
        self.complete, self.completed = complete, None
        self.draw()

    def whole(self) -> pd.DataFrame:
        """Every row with the columns ``complete`` adds (worded once per :meth:`set`)."""
        if self.complete is None or self.frame.empty:
            return self.frame
        if self.completed is None:
            self.completed = self.complete(self.frame)
        return self.completed

    def text(self) -> str:
        """The filter text used: a string, trimmed, at most :data:`MAX_QUERY` characters."""
        value = self.query.value if hasattr(self, "query") else ""
        return value.strip()[:MAX_QUERY] if isinstance(value, str) else ""

    def rows(self) -> pd.DataFrame:
        """The rows the filter keeps: those whose cells, in the words shown, contain its text (case ignored)."""
        q = self.text().casefold()
        if not q or self.frame.empty:
            return self.frame if self.completed is None else self.completed
        frame = self.whole()
        cols = [c for c in (self.columns or list(frame.columns)) if c in frame.columns]
        if not cols:
            return frame.iloc[0:0]
        words = {c: frame[c].map(lambda v, c=c: readable.plain(c, v)) for c in cols}
        shown = pd.DataFrame(words, index=frame.index).agg(" ".join, axis=1).str.casefold()
        return frame[shown.str.contains(q, regex=False).to_numpy()]

    def filtered(self) -> None:
        self.page = 0
        self.draw()

    def turn(self, step: int) -> None:
        """One page on (``step`` 1) or back (-1), never beyond the first or the last."""
        self.page += 1 if step > 0 else -1
        self.draw()

    def draw(self) -> None:
        rows = self.rows()
        n = len(rows)
        pages = max(1, math.ceil(n / PAGE_ROWS))
        self.page = min(max(self.page, 0), pages - 1)
        first = self.page * PAGE_ROWS
        shown = rows.iloc[first : first + PAGE_ROWS]
        q = self.text()
        if self.complete is not None and self.completed is None and len(shown):
            shown = self.complete(shown)  # the page alone, until the filter needed every row
        empty = NO_MATCH if q and not self.frame.empty else self.empty
        show(self.out, html(table_html(shown, self.columns, max_rows=PAGE_ROWS, empty=empty)))
        if len(self.frame) <= PAGE_ROWS and not q:
            self.widget.layout.display = "none"
            return
        self.controls()
        matching = f" matching “{escape_text(q)}”" if q else ""
        self.info.value = f"Rows {first + 1 if n else 0}–{first + len(shown)} of {n}{matching}"
        self.prev.disabled = self.page == 0
        self.next.disabled = self.page >= pages - 1
        self.widget.layout.display = "flex"
