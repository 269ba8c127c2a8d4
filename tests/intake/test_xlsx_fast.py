"""The fast cell reader (python-calamine) against openpyxl, on the whole bad-input corpus.

For every .xlsx case the guard lets through: when the scan allows calamine, both readers give
the same raw sheets (blank cells alike) and the validator reports the very same problems (code,
sheet, row, column, header, value) and the same frames; when it does not (formulas, error
cells, zero-padded formats, sparse sheets), it says why, and calamine would indeed have read
something else.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rbm_utils.core.config import load_config
from rbm_utils.intake.raw import RawWorkbook, shown
from rbm_utils.intake.validate import validate_raw
from rbm_utils.intake.workbook import read_source, read_with_openpyxl
from rbm_utils.intake.xlsx_fast import range_text, read_with_calamine
from rbm_utils.intake.xlsx_guard import Scan, check_zip

ROOT = Path(__file__).resolve().parent.parent.parent
BAD = ROOT / "tests" / "fixtures" / "bad"
sys.path.insert(0, str(BAD))
import make_fixtures  # noqa: E402

CFG = load_config()
TODAY = dt.date(2026, 11, 28)
XLSX = [
    c["file"] for c in yaml.safe_load((BAD / "cases.yaml").read_text(encoding="utf-8")) if c["file"].endswith(".xlsx")
]
LIMITS = {**CFG.ingest, "max_cells": 500_000}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_fixtures.build_all(tmp_path_factory.mktemp("fast_reader"), XLSX)


def _cells(rows: list[tuple[int, list]]) -> list[tuple[int, list]]:
    """Rows with blank cells alike ('' or None) and trailing blanks dropped."""
    out = []
    for r, vals in rows:
        vals = [None if v == "" else shown(v) for v in vals]
        while vals and vals[-1] is None:
            vals.pop()
        out.append((r, vals))
    return out


def _problems(raw: RawWorkbook) -> tuple[list[tuple], dict[str, pd.DataFrame]]:
    parsed = validate_raw(raw, CFG, today=TODAY)
    probs = [(p.code, p.severity, p.sheet, p.row, p.column, p.header, p.value) for p in parsed.problems]
    return probs, parsed.frames


@pytest.mark.parametrize("name", XLSX)
def test_both_readers_agree_or_calamine_is_not_used(name: str, corpus: dict[str, Path]):
    path = corpus[name]
    problems, scan = check_zip(path, path.name, LIMITS)
    if any(p.severity == "error" for p in problems):
        pytest.skip("refused by the guard: neither reader opens it")
    refusal = scan.fast_reader_refusal()
    fast = read_with_calamine(path, scan)
    assert fast is not None, "calamine read every file the guard let through"
    slow = read_with_openpyxl(path, scan.has_formulas)
    same_cells = set(fast) == set(slow) and all(
        _cells(fast[s].rows) == _cells(slow[s].rows)
        and _cells([(1, fast[s].headers)]) == _cells([(1, slow[s].headers)])
        for s in fast
    )
    if refusal is not None:  # the reason is real: calamine would have lost something
        assert not same_cells, f"{name}: refused for {refusal} but calamine reads the same"
        assert read_source(path, LIMITS).reader == "openpyxl"
        return
    assert read_source(path, LIMITS).reader == "calamine"
    assert same_cells
    for s in fast:
        a, b = fast[s], slow[s]
        assert (a.merged, a.hidden, a.hidden_rows) == (b.merged, b.hidden, b.hidden_rows), s
    raw = lambda sheets: RawWorkbook(path.name, path, "xlsx", "0" * 64, sheets=sheets)  # noqa: E731
    (pf, ff), (ps, fs) = _problems(raw(fast)), _problems(raw(slow))
    assert pf == ps
    assert ff.keys() == fs.keys()
    for k in ff:
        pd.testing.assert_frame_equal(ff[k], fs[k], check_dtype=False)


def test_the_refusals_name_what_calamine_cannot_see(corpus: dict[str, Path]):
    reasons = {}
    for name in ("formula_no_value.xlsx", "formula_ref_error.xlsx", "ok_leading_zeros_number_format.xlsx"):
        path = corpus[name]
        reasons[name] = check_zip(path, path.name, LIMITS)[1].fast_reader_refusal()
    assert reasons == {
        "formula_no_value.xlsx": "formulas",
        "formula_ref_error.xlsx": "error cells",
        "ok_leading_zeros_number_format.xlsx": "zero-padded number format",
    }


def test_hidden_rows_come_from_the_scan(corpus: dict[str, Path]):
    path = corpus["hidden_row.xlsx"]
    scan = check_zip(path, path.name, LIMITS)[1]
    assert scan.hidden_rows == {"Actuals": {4}}
    fast = read_with_calamine(path, scan)
    assert fast is not None and fast["Actuals"].hidden_rows == {4}


def test_a_sparse_sheet_goes_to_openpyxl(tmp_path: Path):
    """A stray cell far from the data: calamine would build the whole rectangle."""
    path = tmp_path / "far.xlsx"
    make_fixtures.xlsx(path, make_fixtures.base(), lambda wb: wb["Risks"].cell(row=5_000, column=60, value="stray"))
    scan = check_zip(path, path.name, LIMITS)[1]
    assert scan.fast_reader_refusal() == "sparse sheet Risks"
    assert read_source(path, LIMITS).reader == "openpyxl"
    assert Scan(extents={"Actuals": (50_000, 8, 250_000)}).fast_reader_refusal() is None


def test_a_sheet_the_scan_did_not_see_goes_to_openpyxl(corpus: dict[str, Path]):
    path = corpus["hidden_row.xlsx"]
    scan = check_zip(path, path.name, LIMITS)[1]
    scan.extents.pop("Actuals")
    assert read_with_calamine(path, scan) is None


def test_range_text():
    assert range_text((1, 2), (3, 27)) == "C2:AB4"


def test_cells_keep_their_excel_rows_and_columns_when_the_data_starts_late(tmp_path: Path):
    """Calamine's grid starts at A1 whatever the first used cell: rows and columns stay Excel's."""
    import openpyxl

    path = tmp_path / "late.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Notes"
    ws["C3"], ws["D5"] = "x", 2
    wb.save(path)
    scan = check_zip(path, path.name, LIMITS)[1]
    fast, slow = read_with_calamine(path, scan), read_with_openpyxl(path, False)
    assert fast is not None
    assert (
        _cells(fast["Notes"].rows) == _cells(slow["Notes"].rows) == [(3, [None, None, "x"]), (5, [None, None, None, 2])]
    )
