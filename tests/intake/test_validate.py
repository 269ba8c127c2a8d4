"""Each validation rule with a small bad fixture: code, sheet, Excel row and column letter."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from factories import col_index, minimal_unit, sheet_rows, write_grid_xlsx

from rbm_utils.core.config import load_config
from rbm_utils.core.schema import column_letter
from rbm_utils.intake.checks import MAX_LOOPS, find_loops
from rbm_utils.intake.validate import parse_source

CFG = load_config()
TODAY = dt.date(2026, 11, 28)


@pytest.fixture(scope="module")
def base_grids():
    unit, frames = minimal_unit()
    return sheet_rows(unit, frames)


def _parse(tmp_path, grids, name="unit.xlsx"):
    path = write_grid_xlsx(tmp_path / name, grids)
    return parse_source(path, CFG, today=TODAY)


def _set(grids, sheet, row, column, value):
    """Set a cell: ``row`` is the Excel row number (header = 1)."""
    if sheet == "Unit":
        for r in grids["Unit"]:
            if r[0] == column:
                r[1] = value
        return
    grids[sheet][row - 1][col_index(sheet, column)] = value


def test_minimal_unit_is_clean(tmp_path, base_grids):
    parsed = _parse(tmp_path, copy.deepcopy(base_grids))
    assert parsed.ok, parsed.problems_frame().to_string()
    assert parsed.problems == []
    assert len(parsed.frames["KPIs"]) == 4
    assert parsed.unit["reporting_quarter"] == "2026-Q3"
    assert parsed.rows["Actuals"] == [2, 3, 4, 5, 6, 7]


# (sheet, excel row, column, bad value, expected code)
CELL_CASES = [
    ("KPIs", 2, "baseline_value", "ten", "not_a_number"),
    ("KPIs", 3, "target_value", "1,250", "not_a_number"),
    ("KPIs", 2, "baseline_value", None, "smart_incomplete"),
    ("KPIs", 2, "data_source", None, "smart_incomplete"),
    ("KPIs", 2, "responsible", "  ", "smart_incomplete"),
    ("KPIs", 2, "target_period", "2025-Q2", "smart_incomplete"),
    ("KPIs", 2, "measure", "people", "unknown_code"),
    ("KPIs", 2, "baseline_period", "Q4 2025", "not_a_period"),
    ("KPIs", 2, "result_id", "AFR-X9", "unknown_reference"),
    ("KPIs", 4, "target_value", 180, "percent_over_100"),
    ("KPIs", 3, "kpi_id", "AFR-K1", "duplicate_key"),
    ("Results", 2, "level", "outcome", "unknown_code"),
    ("Results", 3, "contributes_to", "AFR-O1", "cycle"),
    ("Results", 2, "result_id", "AFR A1", "bad_id"),
    ("Actuals", 2, "value", -5, "negative_value"),
    ("Actuals", 2, "value", "TBD", "placeholder"),
    ("Actuals", 2, "period", "2026-Q4", "future_period"),
    ("Actuals", 2, "period", "2022-Q4", "before_first_quarter"),
    ("Actuals", 2, "kpi_id", "AFR-K99", "unknown_reference"),
    ("Actuals", 6, "denominator", 0, "bad_denominator"),
    ("Actuals", 6, "value", 75, "ratio_mismatch"),
    ("Actuals", 2, "evidence", None, "missing_evidence"),
    ("Actuals", 2, "disaggregation", "region AFR", "bad_disaggregation"),
    ("Actuals", 2, "value", "45%", "not_a_number"),
    ("Risks", 2, "likelihood", 6, "out_of_range"),
    ("Risks", 2, "impact", 2.5, "not_an_integer"),
    ("Risks", 2, "status", "active", "unknown_code"),
    ("Risks", 2, "result_id", "AFR-Q1", "unknown_reference"),
    ("Risks", 2, "review_on", "15/10/2026", "not_a_date"),
    ("Budget", 2, "result_id", "AFR-I1", "not_an_output"),
    ("Budget", 2, "amount", -100, "negative_value"),
    ("Budget", 2, "year", 26.5, "not_a_year"),
    ("Expenditure", 2, "result_id", "AFR-A1", "not_an_output"),
    ("Budget", 2, "region", "EUR", "foreign_region"),
    ("Expenditure", 3, "region", "CYB", "unknown_code"),
    ("Expenditure", 3, "region", "ASP", "foreign_region"),
    ("Assumptions", 2, "reference_kpi_id", None, "incomplete_test"),
    ("Assumptions", 3, "verdict", None, "incomplete_test"),
    ("Assumptions", 2, "to_result", "AFR-Z1", "unknown_reference"),
    ("Activities", 2, "planned_end", "2025-06-30", "period_order"),
    ("Activities", 2, "actual_start", "2027-01-01", "date_in_future"),
    ("Activities", 2, "percent_complete", 120, "out_of_range"),
    ("Partners", 2, "activity_id", "AFR-ACT9", "unknown_reference"),
    ("Partners", 2, "contribution_type", "loan", "unknown_code"),
    ("Linkages", 2, "body", "ITU-X", "unknown_code"),
    ("Milestones", 2, "period", "2026Q5", "not_a_period"),
]


@pytest.mark.parametrize("sheet,row,column,value,code", CELL_CASES, ids=[f"{c[0]}.{c[2]}-{c[4]}" for c in CELL_CASES])
def test_cell_rule(tmp_path, base_grids, sheet, row, column, value, code):
    grids = copy.deepcopy(base_grids)
    _set(grids, sheet, row, column, value)
    parsed = _parse(tmp_path, grids)
    letter = column_letter(col_index(sheet, column))
    hits = [p for p in parsed.problems if p.code == code and p.sheet == sheet and p.row == row and p.column == letter]
    assert hits, f"expected {code} at {sheet}!{letter}{row}; got:\n{parsed.problems_frame().to_string()}"
    assert hits[0].header == column
    assert hits[0].message
    assert hits[0].file == "unit.xlsx"


def test_a_loop_through_three_results_is_reported_once_at_the_row_closing_it(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, "Results", 5, "contributes_to", "AFR-O1")  # C1 (row 5) closes O1 -> R1 -> C1 -> O1
    parsed = _parse(tmp_path, grids)
    loops = [p for p in parsed.problems if p.code == "cycle"]
    assert [(p.sheet, p.row, p.column, p.value) for p in loops] == [("Results", 5, "D", "AFR-O1")]
    assert loops[0].message == "The results chain loops: AFR-O1 -> AFR-R1 -> AFR-C1 -> AFR-O1."


def test_long_results_chains_are_checked_without_recursion():
    steps = 1500
    chain = {f"R{i}": [f"R{i + 1}"] for i in range(steps)} | {f"R{steps}": []}
    assert find_loops(chain) == []
    chain[f"R{steps}"] = ["R0"]  # close it: one loop of 1,501 results
    (loop,) = find_loops(chain)
    assert loop[0] == loop[-1] == "R0" and loop[1] == "R1" and loop[-2] == f"R{steps}" and len(loop) == steps + 2


def test_every_separate_loop_is_found_up_to_the_limit():
    chain = {"A": ["B"], "B": ["A"], "C": ["D"], "D": ["E"], "E": ["C"], "F": ["A", "G"], "G": ["Z"]}
    assert find_loops(chain) == [["A", "B", "A"], ["C", "D", "E", "C"]]  # Z is not a result: no link
    many = {f"P{i}": [f"Q{i}"] for i in range(MAX_LOOPS + 5)} | {f"Q{i}": [f"P{i}"] for i in range(MAX_LOOPS + 5)}
    assert len(find_loops(many)) == MAX_LOOPS


def test_errors_block_warnings_do_not(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, "Actuals", 2, "evidence", None)
    parsed = _parse(tmp_path, grids)
    assert parsed.ok and [p.code for p in parsed.warnings] == ["missing_evidence"]
    _set(grids, "Actuals", 3, "value", "abc")
    assert not _parse(tmp_path, grids).ok


def test_unit_sheet_rules(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, "Unit", 0, "unit_code", "XYZ")
    parsed = _parse(tmp_path, grids)
    (p,) = [p for p in parsed.problems if p.code == "unknown_unit"]
    assert (p.sheet, p.row, p.column) == ("Unit", 2, "B")
    grids = copy.deepcopy(base_grids)
    _set(grids, "Unit", 0, "unit_type", "cluster")
    _set(grids, "Unit", 0, "reporting_quarter", "2026-13")
    codes = {(p.code, p.row) for p in _parse(tmp_path, grids).problems}
    assert ("unit_mismatch", 4) in codes and ("not_a_period", 5) in codes


def test_structure_missing_sheet_and_columns(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    del grids["KPIs"]
    grids["Risks"] = [[c for c in row if True] for row in grids["Risks"]]
    grids["Risks"][0][col_index("Risks", "owner")] = "Owner name"  # renamed header
    grids["Results"][0].append("level")  # duplicate header
    grids["Results"][1].append("output")
    grids["Extra"] = [["a"], [1]]
    parsed = _parse(tmp_path, grids)
    got = {(p.code, p.sheet, p.column) for p in parsed.problems}
    assert ("missing_sheet", "KPIs", "") in got
    assert ("missing_column", "Risks", "") in got
    assert ("unknown_column", "Risks", column_letter(col_index("Risks", "owner"))) in got
    assert ("duplicate_column", "Results", column_letter(len(grids["Results"][0]) - 1)) in got
    assert ("unknown_sheet", "Extra", "") in got
    # a missing KPIs sheet makes every KPI reference unknown, reported on the referring rows
    assert any(p.code == "unknown_reference" and p.sheet == "Actuals" for p in parsed.problems)


def test_total_row_and_blank_rows(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    width = len(grids["Actuals"][0])
    grids["Actuals"].append([None] * width)
    total = [None] * width
    total[0] = "Total"
    total[col_index("Actuals", "value")] = 273
    grids["Actuals"].append(total)
    parsed = _parse(tmp_path, grids)
    assert [(p.code, p.row) for p in parsed.errors] == [("total_row", 9)]
    assert len(parsed.frames["Actuals"]) == 6


def test_ten_planted_errors_all_reported(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    planted = [
        ("KPIs", 2, "baseline_value", "n/a", "placeholder"),
        ("KPIs", 3, "direction", "up", "unknown_code"),
        ("KPIs", 5, "target_period", "2025-Q1", "smart_incomplete"),
        ("Actuals", 3, "period", "2027-Q1", "future_period"),
        ("Actuals", 4, "kpi_id", "AFR-K42", "unknown_reference"),
        ("Actuals", 7, "value", 140, "percent_over_100"),
        ("Risks", 2, "likelihood", 9, "out_of_range"),
        ("Budget", 2, "result_id", "AFR-B1", "not_an_output"),
        ("Activities", 2, "planned_start", "first of May", "not_a_date"),
        ("Partners", 2, "amount", -10, "negative_value"),
    ]
    for sheet, row, column, value, _ in planted:
        _set(grids, sheet, row, column, value)
    parsed = _parse(tmp_path, grids)
    errors = {(p.code, p.sheet, p.row, p.column) for p in parsed.errors}
    for sheet, row, column, _, code in planted:
        assert (code, sheet, row, column_letter(col_index(sheet, column))) in errors, (code, sheet, row)
    assert len(parsed.errors) == 10, parsed.problems_frame().to_string()


def test_csv_folder_equals_workbook(tmp_path, base_grids):
    import csv

    folder = tmp_path / "AFR_csv"
    folder.mkdir()
    for name, grid in base_grids.items():
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([["" if v is None else v for v in row] for row in grid])
    from_csv = parse_source(folder, CFG, today=TODAY)
    from_xlsx = _parse(tmp_path, copy.deepcopy(base_grids))
    assert from_csv.ok, from_csv.problems_frame().to_string()
    assert from_csv.format == "csv" and from_xlsx.format == "xlsx"
    for name, frame in from_xlsx.frames.items():
        assert from_csv.frames[name].equals(frame), name
    assert from_csv.unit == from_xlsx.unit


def test_csv_semicolon_decimal_comma_and_bom(tmp_path, base_grids):
    folder = tmp_path / "eu"
    folder.mkdir()
    for name, grid in base_grids.items():
        lines = []
        for row in grid:
            cells = []
            for v in row:
                s = "" if v is None else (str(v).replace(".", ",") if isinstance(v, float) else str(v))
                cells.append(s)
            lines.append(";".join(cells))
        (folder / f"{name}.csv").write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    parsed = parse_source(folder, CFG, today=TODAY)
    assert parsed.ok, parsed.problems_frame().to_string()
    kpis = parsed.frames["KPIs"].set_index("kpi_id")
    assert kpis.loc["AFR-K4", "baseline_value"] == pytest.approx(37.1)


def test_unreadable_inputs_never_raise(tmp_path):
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    text = tmp_path / "notes.xlsx"
    text.write_text("hello")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04garbage")
    for path, code in (
        (empty, "unsupported_format"),
        (text, "unsupported_format"),
        (broken, "corrupt_file"),
        (tmp_path / "absent.xlsx", "file_not_found"),
    ):
        parsed = parse_source(path, CFG, today=TODAY)
        assert not parsed.ok
        assert parsed.errors[0].code == code
        assert parsed.errors[0].file == path.name


def test_formula_cells(tmp_path, base_grids):
    import openpyxl

    path = write_grid_xlsx(tmp_path / "f.xlsx", copy.deepcopy(base_grids))
    wb = openpyxl.load_workbook(path)
    ws = wb["Actuals"]
    ws["C2"] = "=1/0"  # formula, never calculated: no cached value
    ws["C3"].value = "#REF!"
    ws["C3"].data_type = "e"
    wb.save(path)
    parsed = parse_source(path, CFG, today=TODAY)
    got = {(p.code, p.row, p.column) for p in parsed.errors}
    assert ("formula_no_value", 2, "C") in got
    assert ("formula_error", 3, "C") in got


# --------------------------------------------------------------------------- money by region


def test_a_regional_office_may_name_its_own_region_on_its_money_lines(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, "Budget", 2, "region", "AFR")
    _set(grids, "Expenditure", 2, "region", "AFR")
    parsed = _parse(tmp_path, grids)
    assert parsed.ok and parsed.problems == [], parsed.problems_frame().to_string()
    assert parsed.frames["Budget"]["region"].tolist() == ["AFR"]
    assert parsed.frames["Expenditure"]["region"].fillna("").tolist() == ["AFR", ""]


def test_a_foreign_region_is_reported_at_each_line_naming_the_unit(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, "Expenditure", 2, "region", "EUR")
    _set(grids, "Expenditure", 3, "region", "ARB")
    parsed = _parse(tmp_path, grids)
    hits = [p for p in parsed.problems if p.code == "foreign_region"]
    letter = column_letter(col_index("Expenditure", "region"))
    assert [(p.where, p.value) for p in hits] == [(f"Expenditure!{letter}2", "EUR"), (f"Expenditure!{letter}3", "ARB")]
    assert "AFR is a regional office" in hits[0].message and not parsed.ok


def _cluster_grids():
    unit, frames = minimal_unit("CYB")
    grids = sheet_rows(unit, frames)
    _set(grids, "Unit", 0, "unit_name", CFG.unit("CYB").name)
    return grids


def _money_rows(grids, sheet, rows):
    """Replace the data rows of a money sheet with ``rows`` (dicts by column name)."""
    header = grids[sheet][0]
    grids[sheet] = [header] + [[r.get(c) for c in header] for r in rows]


def test_a_cluster_may_split_an_output_by_region_beside_a_line_without_region(tmp_path):
    """Same output, period and source, once for AFR, once for EUR and once with no region: three
    keys, no duplicate; the budget of the three lines (60 000) covers the spending (55 000)."""
    grids = _cluster_grids()
    line = {"result_id": "CYB-O1", "funding_source": "Regular budget", "year": 2026, "staff_months": 2}
    _money_rows(grids, "Budget", [{**line, "amount": 20000, "region": r} for r in ("AFR", "EUR", None)])
    spent = {"result_id": "CYB-O1", "period": "2026-Q2", "funding_source": "Regular budget", "staff_months": 1}
    _money_rows(
        grids,
        "Expenditure",
        [
            {**spent, "amount": 25000, "region": "AFR"},
            {**spent, "amount": 20000, "region": "EUR"},
            {**spent, "amount": 10000, "region": None},
        ],
    )
    parsed = _parse(tmp_path, grids, "CYB.xlsx")
    assert parsed.ok and not parsed.problems, parsed.problems_frame().to_string()
    assert parsed.frames["Expenditure"]["region"].fillna("").tolist() == ["AFR", "EUR", ""]


def test_over_budget_adds_up_the_lines_of_every_region(tmp_path):
    """Budget 20 000 for AFR + 20 000 for EUR = 40 000; spending 25 000 + 20 000 = 45 000 is over
    the output's budget (though EUR alone is within its line): one warning naming both lines."""
    grids = _cluster_grids()
    line = {"result_id": "CYB-O1", "funding_source": "Regular budget", "year": 2026}
    _money_rows(grids, "Budget", [{**line, "amount": 20000, "region": r} for r in ("AFR", "EUR")])
    spent = {"result_id": "CYB-O1", "period": "2026-Q2", "funding_source": "Regular budget"}
    _money_rows(
        grids, "Expenditure", [{**spent, "amount": 25000, "region": "AFR"}, {**spent, "amount": 20000, "region": "EUR"}]
    )
    parsed = _parse(tmp_path, grids, "CYB.xlsx")
    (hit,) = [p for p in parsed.problems if p.code == "over_budget"]
    assert "45,000" in hit.message and "40,000" in hit.message and "rows 2, 3" in hit.message
