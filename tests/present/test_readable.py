"""Readable tables: codes as coloured words, booleans as words, numbers with separators, KPIs
worst first, moves since last quarter, trends, and the statement's Markdown, all escaped."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rbm_utils.core.codes import KPI_STATUSES
from rbm_utils.present import readable
from rbm_utils.present.labels import STATUS_COLORS, STATUS_LABELS, VERDICT_COLORS
from rbm_utils.present.reports import table_html

EVIL = "<script>alert(1)</script>"


def test_every_kpi_status_reads_as_its_word_in_its_colour():
    for status in KPI_STATUSES:
        cell = readable.cell_html("status", status)
        assert STATUS_LABELS[status] in cell and STATUS_COLORS[status] in cell and status not in cell.replace("-", "")


def test_codes_only_in_coded_columns_and_unknown_codes_stay_text():
    assert "Broken" in readable.cell_html("verdict", "broken") and VERDICT_COLORS["broken"] in readable.cell_html(
        "previous_verdict", "broken"
    )
    assert readable.cell_html("title", "broken") == "broken"  # free text is never recoded
    assert readable.cell_html("status", "open") == "open"  # a risk's status: not a KPI code
    assert readable.cell_html("status", EVIL) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert readable.cell_html("kind", "kpi_status") == "KPI status"
    assert "▲" in readable.cell_html("direction", "better") and "▼" in readable.cell_html("direction", "worse")


def test_booleans_numbers_and_blanks():
    assert [readable.text(v) for v in (True, np.bool_(True), False, pd.NA, None, np.nan)] == [
        "Yes",
        "Yes",
        "No",
        "",
        "",
        "",
    ]
    assert readable.text(np.int64(1234567)) == "1,234,567" and readable.text(1234.5) == "1,234"
    assert readable.text(0.125) == "0.12" and readable.text("AFR-K01") == "AFR-K01"


def test_table_html_uses_the_words_for_notebooks_and_dashboards_alike():
    df = pd.DataFrame({"status": ["on_track"], "likely_to_meet": [pd.NA], "n": [12000], "name": [EVIL]}).astype(
        {"likely_to_meet": "boolean"}
    )
    out = table_html(df)
    assert "On track" in out and "on_track" not in out and "12,000" in out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert ">True<" not in table_html(pd.DataFrame({"likely_to_meet": [True]}))


def test_kpis_worst_first_then_lowest_achievement():
    p = pd.DataFrame(
        {
            "kpi_id": ["on", "met", "off_hi", "risk", "off_lo", "none", "odd"],
            "status": ["on_track", "target_met", "off_track", "at_risk", "off_track", "no_data", "weird"],
            "achievement": [0.9, 1.0, 0.5, 0.4, 0.1, None, 0.0],
        }
    )
    order = readable.by_severity(p)["kpi_id"].tolist()
    expected = sorted(
        p["kpi_id"], key=lambda k: (KPI_STATUSES + ("weird",)).index(p.set_index("kpi_id").at[k, "status"])
    )
    assert order[:2] == ["off_lo", "off_hi"] and order[-1] == "odd"
    assert [p.set_index("kpi_id").at[k, "status"] for k in order] == [
        p.set_index("kpi_id").at[k, "status"] for k in expected
    ]


def test_moves_and_trends_come_from_the_published_changes_and_series():
    p = pd.DataFrame(
        {"unit_code": ["A", "A", "B"], "kpi_id": ["K1", "K2", "K1"], "status": ["off_track", "on_track", "at_risk"]}
    )
    changes = pd.DataFrame(
        {
            "unit_code": ["A", "A", "A"],
            "kind": ["kpi_status", "kpi_status", "risk_score"],
            "item_id": ["K1", "K2", "K1"],
            "previous": ["on_track", "on_track", "9"],
            "current": ["off_track", "on_track", "12"],
            "direction": ["worse", "same", "worse"],
        }
    )
    series = pd.DataFrame(
        {
            "unit_code": ["A"] * 3 + ["B"],
            "kpi_id": ["K1"] * 3 + ["K1"],
            "period": ["2026-Q2", "2026-Q1", "2026-Q3", "2026-Q3"],
            "reported": [True, True, True, True],
            "value": [20.0, 10.0, 1500.0, 7.0],
        }
    )
    t = readable.kpi_table(p, changes, series).set_index(["unit_code", "kpi_id"])
    assert (
        t.loc[("A", "K1"), "moved"] == "▼ worse (was On track)" and t.loc[("A", "K1"), "previous_status"] == "on_track"
    )
    assert t.loc[("A", "K2"), "moved"] == "= same" and t.loc[("B", "K1"), "moved"] == ""
    assert t.loc[("A", "K1"), "trend"] == "since 2026-Q1: 10.00 → 20.00 → 1,500"
    assert t.loc[("B", "K1"), "trend"] == "since 2026-Q3: 7.00"
    assert list(t.index)[0] == ("A", "K1")  # worst first


def test_statement_markdown_is_escaped_before_it_is_marked_up():
    out = readable.markdown_html(f"# Title {EVIL}\n\nText **bold**\n- item {EVIL}\n  - sub\n- two\n\nEnd")
    assert "<script>" not in out and out.count("&lt;script&gt;") == 2
    assert out.startswith("<h4>Title ") and "<strong>bold</strong>" in out
    assert "<ul><li>item" in out and "<ul><li>sub</li></ul></li><li>two</li></ul><p>End</p>" in out


def test_officer_text_made_inert_for_markdown_is_shown_as_typed_and_escaped_once():
    from rbm_utils.core.text import markdown_text

    out = readable.markdown_html("- " + markdown_text(f"{EVIL} [link](x) `code`"))
    assert out == "<ul><li>&lt;script&gt;alert(1)&lt;/script&gt; [link](x) `code`</li></ul>"


def test_every_agenda_kind_reads_as_words():
    from rbm_utils.core.codes import AGENDA_KINDS

    words = [readable.cell_html("kind", k) for k in AGENDA_KINDS]
    assert all("_" not in w and w[0].isupper() for w in words) and len(set(words)) == len(AGENDA_KINDS)


def test_fractions_read_as_percentages():
    df = pd.DataFrame({"achievement": [0.425, None], "execution_rate": [1.13, 0.0], "performance": [0.83, 1.0]})
    out = table_html(df)
    assert "<td>43%</td>" in out or "<td>42%</td>" in out
    assert "<td>113%</td><td>0.83</td>" in out and "<td>0%</td><td>1.00</td>" in out


def test_every_kpis_trend_at_once_is_each_kpis_trend_alone():
    import random

    from rbm_utils.present.readable import trend_text, trend_texts

    rng = random.Random(7)
    rows = []
    for u in ("AFR", "CYB", "EUR"):
        for k in ("K1", "K2", "K3", "K4"):
            for q in rng.sample(["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"], rng.randint(0, 6)):
                rows.append((u, k, q, rng.random() < 0.8, rng.choice([None, rng.uniform(0, 5000)])))
    series = pd.DataFrame(rows, columns=["unit_code", "kpi_id", "period", "reported", "value"])
    texts = trend_texts(series)
    for u in ("AFR", "CYB", "EUR", "NONE"):
        for k in ("K1", "K2", "K3", "K4"):
            assert texts.get((u, k), "") == trend_text(series, u, k), (u, k)
    assert any(texts.values())  # the case holds trends to compare


def _moves_row_by_row(progress: pd.DataFrame | None, changes: pd.DataFrame | None) -> pd.DataFrame:
    """:func:`readable.with_moves` as it was, one KPI row at a time: the reference the faster one must equal."""
    from rbm_utils.present.readable import CODE_WORDS, MOVE_ARROWS

    if progress is None:
        return pd.DataFrame()
    out = progress.copy()
    out["previous_status"] = pd.Series([None] * len(out), index=out.index, dtype=object)
    out["moved"] = ""
    if changes is None or changes.empty or out.empty or not {"kind", "item_id", "direction"} <= set(changes.columns):
        return out
    c = changes[changes["kind"] == "kpi_status"]
    key = ["unit_code", "item_id"] if "unit_code" in c.columns and "unit_code" in out.columns else ["item_id"]
    look = {tuple(r[k] for k in key): (r.get("previous"), str(r["direction"])) for r in c.to_dict("records")}
    for i, r in out.iterrows():
        k = tuple(r["unit_code" if k == "unit_code" else "kpi_id"] for k in key)
        if k in look:
            prev, move = look[k]
            known = isinstance(prev, str) and bool(prev)
            out.at[i, "previous_status"] = prev if known else None
            was = f" (was {CODE_WORDS[prev][0] if prev in CODE_WORDS else prev})" if known and move != "same" else ""
            out.at[i, "moved"] = MOVE_ARROWS.get(move, move) + was
    return out


def _moves_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    """KPIs of two units with every kind of change, and some without: missing last quarter,
    new, a previous status unknown to the code lists, blank or missing, an unknown direction,
    a KPI id shared by two units, two changes of one KPI (the last counts), other kinds of change
    on the same ids, and an index that is not 0..n-1."""
    progress = pd.DataFrame(
        {
            "unit_code": ["A", "A", "A", "A", "A", "A", "A", "B", "B", "B", "B", "B"],
            "kpi_id": ["K1", "K2", "K3", "K4", "K5", "K6", "K7", "K1", "K2", "K3", "K4", "K1"],
            "status": ["off_track", "on_track", "at_risk", "no_data", "off_track", "on_track", "at_risk"]
            + ["target_met", "off_track", "on_track", "at_risk", "target_met"],
            "achievement": [0.2, 0.9, 0.5, np.nan, 0.2, 0.9, 0.5, 1.0, 0.2, np.nan, 0.4, 1.0],
        },
        index=[10, 3, 7, 1, 99, 5, 6, 42, 0, 11, 12, 13],
    )
    changes = pd.DataFrame(
        {
            "unit_code": ["A", "A", "A", "A", "A", "A", "B", "B", "B", "B", "A", "C"],
            "kind": ["kpi_status"] * 10 + ["risk_score", "kpi_status"],
            "item_id": ["K1", "K2", "K3", "K4", "K5", "K6", "K1", "K2", "K2", "K3", "K7", "K1"],
            "previous": ["on_track", "on_track", None, np.nan, "odd_code", "", "at_risk", "on_track", "at_risk"]
            + ["off_track", "9", "on_track"],
            "current": ["off_track", "on_track", "at_risk", "no_data", "off_track", "on_track", "target_met"]
            + ["on_track", "off_track", "on_track", "12", "off_track"],
            "direction": ["worse", "same", "new", np.nan, "worse", "better", "better", "better", "worse"]
            + ["better", "worse", "worse"],
        },
        index=[5, 4, 3, 2, 1, 0, 20, 21, 22, 23, 24, 25],
    )
    return progress, changes


def test_moves_at_once_equal_moves_row_by_row():
    progress, changes = _moves_case()
    fast = readable.with_moves(progress, changes)
    pd.testing.assert_frame_equal(fast, _moves_row_by_row(progress, changes))
    moved = dict(zip(zip(fast["unit_code"], fast["kpi_id"], fast.index), fast["moved"], strict=True))
    assert moved[("A", "K1", 10)] == "▼ worse (was On track)" and moved[("A", "K2", 3)] == "= same"
    assert moved[("A", "K3", 7)] == "new" and moved[("A", "K4", 1)] == "nan"  # no direction: as published
    assert moved[("A", "K5", 99)] == "▼ worse (was odd_code)" and moved[("A", "K6", 5)] == "▲ better"
    assert moved[("A", "K7", 6)] == "" and moved[("B", "K4", 12)] == ""  # a risk's change; none at all
    assert moved[("B", "K2", 0)] == "▼ worse (was At risk)"  # two changes of one KPI: the last
    assert moved[("B", "K1", 42)] == moved[("B", "K1", 13)] == "▲ better (was At risk)"  # C's K1 is not B's
    assert fast["previous_status"].tolist()[:4] == ["on_track", "on_track", None, None]


def test_moves_at_once_equal_moves_row_by_row_in_every_shape():
    progress, changes = _moves_case()
    cases = [
        (progress, changes.drop(columns="unit_code")),  # changes of one unit: by KPI id alone
        (progress.drop(columns="unit_code"), changes),  # KPIs of one unit: by KPI id alone
        (progress, changes.drop(columns="previous")),  # no previous status published
        (progress, changes[changes["kind"] != "kpi_status"]),  # no KPI change at all
        (progress, changes.iloc[0:0]),
        (progress.iloc[0:0], changes),
        (progress, None),
        (progress, changes.drop(columns="direction")),
        (progress, changes.astype({"previous": "str", "direction": "str"})),
        (progress.astype({"unit_code": "category"}), changes),
    ]
    for p, c in cases:
        pd.testing.assert_frame_equal(readable.with_moves(p, c), _moves_row_by_row(p, c))
    assert readable.with_moves(None, changes).empty


def test_moves_ties_and_order_of_the_kpi_table_do_not_change():
    """Ties of status and achievement keep their order: the table reads the same as before."""
    progress, changes = _moves_case()
    series = pd.DataFrame(columns=["unit_code", "kpi_id", "period", "value"])
    fast = readable.kpi_table(progress, changes, series)
    slow = readable.by_severity(readable.with_trends(_moves_row_by_row(progress, changes), series))
    pd.testing.assert_frame_equal(fast, slow)


def test_moves_and_trends_of_some_kpis_are_theirs_in_the_whole_table():
    """A dashboard words what moved and the trend one page of KPIs at a time: any rows get what
    the whole table gives them."""
    progress, changes = _moves_case()
    series = pd.DataFrame(
        {
            "unit_code": ["A", "A", "B", "B", "A", "C"],
            "kpi_id": ["K1", "K1", "K1", "K2", "K3", "K1"],
            "period": ["2026-Q2", "2026-Q3", "2026-Q3", "2026-Q3", "2026-Q1", "2026-Q3"],
            "reported": [True, True, True, False, True, True],
            "value": [1.0, 2.0, 3.0, 4.0, np.nan, 5.0],
        }
    )
    whole = readable.with_trends(readable.with_moves(progress, changes), series)
    for rows in (progress.iloc[:3], progress.iloc[7:], progress.iloc[[11, 0]], progress.iloc[[4]]):
        part = readable.with_trends(readable.with_moves(rows, changes), series)
        pd.testing.assert_frame_equal(part, whole.loc[rows.index])
    assert whole["trend"].tolist()[:2] == ["since 2026-Q2: 1.00 → 2.00", ""]
    assert whole.loc[42, "trend"] == "since 2026-Q3: 3.00"  # B's K1, not C's
