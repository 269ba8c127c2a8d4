"""Hostile values (issue 18, part B): look-alike text and far-future quarters, built in code.

Each case is one kind of break from the attack on ``rbm ingest``: the expected codes at their
cells, and either the store untouched (``Store.dump()`` before and after) or the value stored
in its one normalised spelling.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from factories import col_index, minimal_unit, sheet_rows, write_grid_xlsx

from rbm_utils.core.config import load_config
from rbm_utils.store.database import Store
from rbm_utils.store.ingest import ingest_file

CFG = load_config()
TODAY = dt.date(2026, 11, 28)  # the settings' current quarter is 2026-Q3; today is in 2026-Q4
Grids = dict[str, list[list[Any]]]


def _set(grids: Grids, sheet: str, row: int, column: str, value: Any) -> None:
    grids[sheet][row][col_index(sheet, column)] = value


def _unit(grids: Grids, field: str, value: Any) -> None:
    next(r for r in grids["Unit"] if r[0] == field)[1] = value


def _ingest(tmp_path: Path, edit: Callable[[Grids], None], today: dt.date = TODAY):
    grids = sheet_rows(*minimal_unit())
    edit(grids)
    path = write_grid_xlsx(tmp_path / "AFR.xlsx", grids)
    store = Store(f"sqlite:///{tmp_path / 'rbm.sqlite'}")
    before = store.dump()
    rep = ingest_file(path, store, CFG, by="pytest", today=today)
    return rep, store, before


def _found(rep) -> set[tuple[str, str, str]]:
    return set(zip(rep.problems["code"], rep.problems["severity"], rep.problems["where"]))


#: (case, edit, expected (code, severity, where) among the problems): every one refused, store untouched.
REFUSED = [
    (
        "zero-width space makes a second row of the same KPI and quarter",
        lambda g: (_set(g, "Actuals", 1, "kpi_id", "AFR-K1\u200b"), _set(g, "Actuals", 1, "period", "2026-Q2")),
        {("invisible_characters", "warning", "Actuals!A2"), ("duplicate_key", "error", "Actuals!A3")},
    ),
    (
        "a joiner inside an id and a BOM before it: the same id as the plain one",
        lambda g: (_set(g, "Actuals", 2, "kpi_id", "\ufeffAFR\u200d-K1"), _set(g, "Actuals", 2, "period", "2026-Q1")),
        {("invisible_characters", "warning", "Actuals!A3"), ("duplicate_key", "error", "Actuals!A3")},
    ),
    (
        "Arabic-Indic digits in a quarter duplicate a row",
        lambda g: _set(g, "Actuals", 1, "period", "\u0662\u0660\u0662\u0666-Q2"),
        {("non_ascii_digits", "warning", "Actuals!B2"), ("duplicate_key", "error", "Actuals!A3")},
    ),
    (
        "a breakdown key differing only by case duplicates a row",
        lambda g: (
            g["Actuals"].append(["AFR-K2", "2026-Q3", 1, None, None, "Sex=female", "doc-4", None]),
            g["Actuals"].append(["AFR-K2", "2026-Q3", 2, None, None, "sex=female", "doc-4", None]),
        ),
        {("disaggregation_case", "warning", "Actuals!F8"), ("duplicate_key", "error", "Actuals!A9")},
    ),
    (
        "a far-future reporting quarter",
        lambda g: _unit(g, "reporting_quarter", "2031-Q3"),
        {("quarter_in_future", "error", "Unit!B5")},
    ),
    (
        "a far-future quarter in full-width digits",
        lambda g: _unit(g, "reporting_quarter", "\uff12\uff10\uff13\uff11-Q3"),
        {("non_ascii_digits", "warning", "Unit!B5"), ("quarter_in_future", "error", "Unit!B5")},
    ),
]


@pytest.mark.parametrize("case,edit,expected", REFUSED, ids=[c[0] for c in REFUSED])
def test_hostile_values_are_refused_and_the_store_is_untouched(tmp_path, case, edit, expected):
    rep, store, before = _ingest(tmp_path, edit)
    with store:
        assert rep.status == "rejected", rep.problems.to_string()
        assert expected <= _found(rep), rep.problems.to_string()
        assert store.dump() == before


def test_look_alike_text_is_stored_in_one_spelling_with_warnings(tmp_path):
    def edit(g: Grids) -> None:
        _unit(g, "reporting_quarter", "\uff12\uff10\uff12\uff16-Q3")  # full-width digits
        _set(g, "Actuals", 4, "value", "\u0663")  # AFR-K2 2026-Q3: Arabic-Indic 3
        _set(g, "Actuals", 4, "kpi_id", "AFR-K2\u00a0")  # a no-break space after the id
        _set(g, "Results", 2, "title", "Cafe\u0301 owners reached")  # e + combining accent
        _set(g, "Expenditure", 1, "funding_source", "Regular\u00a0budget\u200b")  # a key's text column

    rep, store, _ = _ingest(tmp_path, edit)
    with store:
        assert rep.status == "stored", rep.problems.to_string()
        assert {
            ("non_ascii_digits", "warning", "Unit!B5"),
            ("non_ascii_digits", "warning", "Actuals!C5"),
            ("invisible_characters", "warning", "Actuals!A5"),
            ("invisible_characters", "warning", "Expenditure!C2"),
        } <= _found(rep)
        assert store.submissions("AFR")["quarter"].tolist() == ["2026-Q3"]
        state = store.state("AFR")
        k2 = state["Actuals"][state["Actuals"]["kpi_id"] == "AFR-K2"]
        assert k2["value"].tolist() == [3.0]
        assert "Caf\u00e9 owners reached" in state["Results"]["title"].tolist()
        assert set(state["Expenditure"]["funding_source"]) == {"Regular budget"}  # matches its Budget line


def test_the_quarter_containing_today_is_reportable_but_not_the_next(tmp_path):
    rep, store, _ = _ingest(tmp_path, lambda g: _unit(g, "reporting_quarter", "2026-Q4"))
    with store:
        assert "quarter_in_future" not in set(rep.problems["code"])
    (tmp_path / "x").mkdir()
    rep, store, _ = _ingest(tmp_path / "x", lambda g: _unit(g, "reporting_quarter", "2026-Q4"), dt.date(2026, 9, 1))
    with store:
        assert ("quarter_in_future", "error", "Unit!B5") in _found(rep)
