"""Long tables on a page (rbm_utils.serve.tables): pages of as many rows as a notebook shows, a
text filter compared and never evaluated, controls only for tables longer than a page."""

from __future__ import annotations

import ipywidgets as w
import pandas as pd

from rbm_utils.serve.tables import MAX_QUERY, NO_MATCH, PAGE_ROWS, PagedTable

EVIL = "<script>alert(1)</script>"


def shown(t: PagedTable) -> str:
    return t.out.outputs[0]["data"]["text/html"]


def kpis(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kpi_id": [f"K{i:03d}" for i in range(n)],
            "status": ["off_track" if i % 10 == 0 else "on_track" for i in range(n)],
            "name": [EVIL if i == 7 else f"KPI {i}" for i in range(n)],
        }
    )


def test_pages_turn_within_their_bounds():
    t = PagedTable(w.Output(), "kpi")
    t.set(kpis(130), ("kpi_id", "status"), "No KPI.")
    assert t.widget.layout.display == "flex" and shown(t).count("<tr>") == PAGE_ROWS + 1
    assert t.prev.disabled and not t.next.disabled
    t.turn(-1)
    assert t.page == 0 and "K000" in shown(t)
    t.turn(1), t.turn(1), t.turn(1), t.turn(1)
    assert t.page == 2 and t.next.disabled and shown(t).count("<tr>") == 130 - 2 * PAGE_ROWS + 1
    assert "K129" in shown(t) and t.info.value == "Rows 121–130 of 130"
    t.set(kpis(130), ("kpi_id", "status"), "No KPI.")  # new rows (another filter): back to page one
    assert t.page == 0


def test_the_filter_matches_the_shown_words_case_ignored_and_is_never_evaluated():
    t = PagedTable(w.Output(), "kpi")
    t.set(kpis(130), ("kpi_id", "status", "name"), "No KPI.")
    t.query.value = "OFF TRACK"  # the words shown, not the code
    assert shown(t).count("<tr>") == 13 + 1 and "Rows 1–13 of 13 matching" in t.info.value
    t.query.value = "off_track"
    assert NO_MATCH in shown(t)
    t.query.value = "<script>"
    assert shown(t).count("<tr>") == 2 and "<script>" not in shown(t) + t.info.value
    t.query.value = "__import__('os').system('x')"
    assert NO_MATCH in shown(t)
    t.query.value = "K12" + "x" * (MAX_QUERY * 5)
    assert len(t.text()) == MAX_QUERY
    t.query.value = ""
    assert shown(t).count("<tr>") == PAGE_ROWS + 1


def test_short_tables_have_no_controls_and_say_when_empty():
    t = PagedTable(w.Output(), "agenda")
    t.set(kpis(5), None, "Nothing needs a decision.")
    assert t.widget.layout.display == "none" and shown(t).count("<tr>") == 6
    assert t.widget.children == ()  # no control made: no widget for the browser to build
    t.set(pd.DataFrame(), None, "Nothing needs a decision.")
    assert "Nothing needs a decision." in shown(t) and t.widget.children == ()


def test_a_table_worded_by_page_shows_what_the_whole_table_worded_shows():
    """``complete`` (what moved, the trend: costly to word for 3,000 KPIs) words the page shown
    only; the filter words every row once; what is shown is the same as with every row worded first."""
    calls: list[int] = []

    def words(rows: pd.DataFrame) -> pd.DataFrame:
        calls.append(len(rows))
        return rows.assign(moved=["▼ worse" if int(k[1:]) % 7 == 0 else "" for k in rows["kpi_id"]])

    cols = ("kpi_id", "status", "moved")
    lazy, eager = PagedTable(w.Output(), "kpi"), PagedTable(w.Output(), "kpi")
    lazy.set(kpis(130), cols, "No KPI.", words)
    eager.set(words(kpis(130)), cols, "No KPI.")
    calls.clear()
    for step in (1, 1, -1):
        lazy.turn(step), eager.turn(step)
        assert shown(lazy) == shown(eager) and lazy.info.value == eager.info.value
    assert calls == [PAGE_ROWS, 130 - 2 * PAGE_ROWS, PAGE_ROWS] and "moved" not in lazy.frame.columns
    for query in ("WORSE", "k01", "off track", "nothing like it", ""):
        lazy.query.value, eager.query.value = query, query
        assert shown(lazy) == shown(eager) and lazy.info.value == eager.info.value, query
        lazy.turn(1), eager.turn(1)
        assert shown(lazy) == shown(eager), query
    assert calls[3:] == [130]  # the filter worded every row once, then kept them
    lazy.set(kpis(3), cols, "No KPI.", words)  # new rows: worded anew
    assert calls[-1] == 3 and shown(lazy).count("▼ worse") == 1
