"""The officer's workbook writer: contract sheets, headers, comments, dropdowns, text safety,
CSV folder, atomic writes, and a round trip through the reader and validator."""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rbm_utils.core import schema
from rbm_utils.core.config import ConfigError, load_config
from rbm_utils.intake import template as tpl
from rbm_utils.intake import template_xlsx

UNIT = {
    "unit_code": "AFR",
    "unit_name": "Regional Office for Africa",
    "unit_type": "region",
    "reporting_quarter": "2026-Q3",
    "submitted_by": "Test Officer",
    "based_on_submission": None,  # written by rbm template --from-store only
}
TRICKY = ["=SUM(A1)", "+1", "-x", "@x", "=1+1", "#N/A", "-1", "0012", " padded ", "tab\there", "line\nbreak"]
TABLES = [s for s in schema.SHEETS if s.kind == "table"]
LIST_RE = re.compile(r"^'?Lists'?!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)$")


def _frames() -> dict[str, pd.DataFrame]:
    """A few rows in several sheets: numbers, integers, dates, missing values, tricky text."""
    results = pd.DataFrame(
        {
            "result_id": [f"R{i}" for i in range(len(TRICKY))],
            "level": ["output"] * len(TRICKY),
            "title": TRICKY,
        }
    )
    kpis = pd.DataFrame(
        [
            {
                "kpi_id": "K1",
                "result_id": "R0",
                "name": "People trained",
                "measure": "number",
                "direction": "increase",
                "aggregation": "sum",
                "baseline_value": 0.0,
                "baseline_period": "2025-Q4",
                "target_value": 400.5,
                "target_period": "2026-Q4",
                "data_source": "lists",
                "responsible": "PO",
            }
        ]
    )
    risks = pd.DataFrame(
        [
            {
                "risk_id": "RK1",
                "category": "Safety and Security",
                "title": "Delay",
                "likelihood": 4,
                "impact": 5,
                "owner": "Head",
                "status": "open",
                "identified_on": "2026-01-15",
            }
        ]
    )
    budget = pd.DataFrame(
        {
            "result_id": ["R0", "R1"],
            "funding_source": ["Regular budget", "ICT Development Fund"],
            "year": [2026, 2027],
            "amount": [1234567.5, 0.1],
            "staff_months": [12.0, np.nan],
        }
    )
    return {"Results": results, "KPIs": kpis, "Risks": risks, "Budget": budget}


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> tuple[Path, openpyxl.Workbook]:
    path = tmp_path_factory.mktemp("wb") / "AFR.xlsx"
    out = tpl.write_workbook(path, UNIT, _frames(), notice="ILLUSTRATIVE DATA - invented figures", rows_for_entry=20)
    assert out == path
    return path, openpyxl.load_workbook(path)


def _resolve(wb: openpyxl.Workbook, formula: str) -> list[str]:
    m = LIST_RE.match(formula)
    assert m, f"dropdown formula does not reference the Lists sheet: {formula!r}"
    col, first, col2, last = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
    assert col == col2
    return [wb["Lists"][f"{col}{r}"].value for r in range(first, last + 1)]


def _validations(ws) -> dict[str, object]:
    """The dropdowns of coded columns (lists on the Lists sheet); Excel's other checks aside."""
    return {
        str(dv.sqref): dv
        for dv in ws.data_validations.dataValidation
        if dv.type == "list" and str(dv.formula1).startswith("Lists!")
    }


# ------------------------------------------------------------------ unit_fields / template_frames


def test_unit_fields_from_settings(tmp_path):
    cfg_file = tmp_path / "wb.yaml"
    cfg_file.write_text(
        "units:\n"
        "  - {code: AFR, name: 'Regional Office for Africa', type: region}\n"
        "  - {code: CYB, name: Cybersecurity, type: cluster}\n",
        encoding="utf-8",
    )
    cfg = load_config(cfg_file)
    got = tpl.unit_fields(cfg, "CYB", "2026-Q3", submitted_by="Ann")
    assert list(got) == list(schema.sheet("Unit").column_names)
    assert got == {
        "unit_code": "CYB",
        "unit_name": "Cybersecurity",
        "unit_type": "cluster",
        "reporting_quarter": "2026-Q3",
        "submitted_by": "Ann",
        "based_on_submission": None,
    }
    assert tpl.unit_fields(cfg, "AFR", "2026-Q1")["submitted_by"] == ""
    with pytest.raises(ConfigError):
        tpl.unit_fields(cfg, "XYZ", "2026-Q3")
    with pytest.raises(ValueError):
        tpl.unit_fields(cfg, "AFR", "2026Q3")


def test_template_frames_empty_when_no_state():
    frames = tpl.template_frames(None)
    assert list(frames) == [s.name for s in TABLES]
    for s in TABLES:
        assert list(frames[s.name].columns) == list(s.column_names)
        assert len(frames[s.name]) == 0


def test_template_frames_conforms_state_and_ignores_unit():
    state = {
        "Unit": pd.DataFrame({"field": ["unit_code"], "value": ["AFR"]}),
        "Milestones": pd.DataFrame(
            {"unit_code": ["AFR"], "target_value": [3], "kpi_id": ["K1"], "period": ["2026-Q1"]}
        ),
    }
    before = state["Milestones"].copy()
    frames = tpl.template_frames(state)
    ms = frames["Milestones"]
    assert list(ms.columns) == ["kpi_id", "period", "target_value"]
    assert ms.loc[0, "kpi_id"] == "K1" and ms.loc[0, "target_value"] == 3.0
    assert ms["target_value"].dtype == "float64"
    assert "Unit" not in frames and len(frames["Actuals"]) == 0
    pd.testing.assert_frame_equal(state["Milestones"], before)  # input untouched
    with pytest.raises(ValueError, match="Kpis"):
        tpl.template_frames({"Kpis": pd.DataFrame()})


# ------------------------------------------------------------------ workbook structure


def test_sheets_in_contract_order_guide_first_lists_hidden(book):
    _, wb = book
    assert wb.sheetnames == ["Guide", *schema.sheet_names(), "Lists"]
    assert wb["Lists"].sheet_state == "hidden"
    assert all(wb[n].sheet_state == "visible" for n in wb.sheetnames if n != "Lists")
    assert wb.active.title == "Guide"


def test_table_headers_are_exactly_schema_columns(book):
    _, wb = book
    for s in TABLES:
        ws = wb[s.name]
        header = [c.value for c in ws[1]]
        assert header == list(s.column_names), s.name
        assert ws.max_column == len(s.columns)


def test_required_columns_marked_by_colour_not_text(book):
    _, wb = book
    for s in TABLES:
        for cell, col in zip(wb[s.name][1], s.columns):
            assert cell.value == col.name
            assert cell.font.b
            colour = cell.fill.fgColor.rgb[-6:]
            assert colour == (template_xlsx.REQUIRED_FILL if col.required else template_xlsx.OPTIONAL_FILL), (
                s.name,
                col.name,
            )


def test_every_header_has_a_comment(book):
    _, wb = book
    for s in TABLES:
        for cell, col in zip(wb[s.name][1], s.columns):
            assert cell.comment is not None, (s.name, col.name)
            text = cell.comment.text
            assert col.note in text and f"Type: {col.type}" in text
            assert ("Required" in text) == col.required and ("Optional" in text) == (not col.required)
            if col.codes:
                assert "Allowed values: " + ", ".join(col.codes) in text
    assert "Range: 1 to 5" in wb["Risks"]["F1"].comment.text  # likelihood


def test_unit_sheet_is_key_value_with_comments_and_dropdown(book):
    _, wb = book
    ws = wb["Unit"]
    cols = schema.sheet("Unit").columns
    assert [ws["A1"].value, ws["B1"].value] == ["field", "value"]
    assert [ws.cell(row=i, column=1).value for i in range(2, 2 + len(cols))] == [c.name for c in cols]
    assert [ws.cell(row=i, column=2).value for i in range(2, 2 + len(cols))] == [UNIT[c.name] for c in cols]
    assert ws.max_row == 1 + len(cols)
    for i, c in enumerate(cols, start=2):
        assert c.note in ws.cell(row=i, column=1).comment.text
    row = 2 + [c.name for c in cols].index("unit_type")
    dvs = _validations(ws)
    assert list(dvs) == [f"B{row}"]
    assert _resolve(wb, dvs[f"B{row}"].formula1) == list(schema.UNIT_TYPES)
    assert ws.freeze_panes == "A2"


def test_every_coded_column_has_a_dropdown_resolving_to_its_codes(book):
    _, wb = book
    data_rows = {name: len(f) for name, f in _frames().items()}
    for s in TABLES:
        ws = wb[s.name]
        dvs = _validations(ws)
        coded = [(i, c) for i, c in enumerate(s.columns) if c.codes]
        assert len(dvs) == len(coded), s.name  # dropdowns on coded columns only
        last = data_rows.get(s.name, 0) + 20
        for i, col in coded:
            letter = schema.column_letter(i)
            dv = dvs.get(f"{letter}2:{letter}{last}")
            assert dv is not None, (s.name, col.name, list(dvs))
            assert dv.type == "list" and dv.showErrorMessage and dv.allowBlank
            assert not dv.showDropDown  # True would HIDE the in-cell arrow
            assert _resolve(wb, dv.formula1) == list(col.codes), (s.name, col.name)
            assert col.codes[0] in dv.error and len(dv.error) <= 255


def test_lists_sheet_has_one_column_per_code_list(book):
    _, wb = book
    ws = wb["Lists"]
    coded = [(s.name, c) for s in schema.SHEETS for c in s.columns if c.codes]
    assert ws.max_column == len(coded)
    for j, (sheet_name, col) in enumerate(coded, start=1):
        values = [v for v in next(ws.iter_cols(min_col=j, max_col=j, values_only=True)) if v is not None]
        assert values == [f"{sheet_name}.{col.name}", *col.codes]


def test_panes_frozen_and_autofilter(book):
    _, wb = book
    assert wb["Results"].auto_filter.ref == f"A1:G{len(TRICKY) + 1}"
    assert wb["Partners"].auto_filter.ref == "A1:M1"
    for s in TABLES:
        assert wb[s.name].freeze_panes == "A2", s.name
        assert wb[s.name].column_dimensions["A"].width >= len(s.columns[0].name)


def test_guide_has_notice_and_lists_every_schema_column(book):
    _, wb = book
    ws = wb["Guide"]
    rows = [tuple(r) for r in ws.iter_rows(values_only=True)]
    texts = [r[0] for r in rows if r[0]]
    assert "ILLUSTRATIVE DATA - invented figures" in texts
    assert any("AFR" in t and "2026-Q3" in t for t in texts[:2])
    start = next(i for i, r in enumerate(rows) if tuple(r[:6]) == template_xlsx.GUIDE_COLUMNS)
    table = [r[:6] for r in rows[start + 1 :] if r[0]]
    expected = [(s.name, c.name) for s in schema.SHEETS for c in s.columns]
    assert [(r[0], r[1]) for r in table] == expected
    by_key = {(r[0], r[1]): r for r in table}
    assert by_key[("KPIs", "direction")][2:5] == ("required", "code", "increase, decrease")
    assert by_key[("Actuals", "comment")][2] == "optional"
    assert by_key[("Risks", "impact")][4] == "1 to 5"
    assert by_key[("Budget", "amount")][5] == schema.sheet("Budget").column("amount").note


# ------------------------------------------------------------------ cell values


def test_formula_looking_text_stays_text(book):
    path, wb = book
    ws = wb["Results"]
    for i, text in enumerate(TRICKY, start=2):
        cell = ws.cell(row=i, column=3)
        assert cell.data_type == "s", (text, cell.data_type)
        assert cell.value == text
    with zipfile.ZipFile(path) as zf:  # no formula element anywhere in the sheets
        for name in zf.namelist():
            if name.startswith("xl/worksheets/sheet"):
                body = zf.read(name)
                assert b"<f>" not in body and b"<f " not in body, name
    read = pd.read_excel(path, sheet_name="Results", dtype=object, keep_default_na=False)
    assert read["title"].tolist() == TRICKY


def test_numbers_stay_numeric_and_missing_stay_empty(book):
    _, wb = book
    b = wb["Budget"]
    assert [b["C2"].value, b["C3"].value] == [2026, 2027]
    assert b["D2"].value == 1234567.5 and b["D2"].data_type == "n"
    assert b["D3"].value == 0.1 and b["E2"].value == 12 and b["E2"].data_type == "n"
    assert b["E3"].value is None
    k = wb["KPIs"]
    assert k["H2"].value == 0 and k["H2"].data_type == "n"  # baseline 0 is a value, not empty
    assert k["J2"].value == 400.5
    assert k["M2"].value is None  # frequency left empty
    r = wb["Risks"]
    assert (r["F2"].value, r["G2"].value) == (4, 5)
    assert r["K2"].is_date and r["K2"].value.date() == dt.date(2026, 1, 15)
    assert r["K2"].number_format == "yyyy-mm-dd"
    assert r["L2"].value is None


def test_unwritable_values_are_refused_with_their_cell(tmp_path):
    bad_text = {"Results": pd.DataFrame({"result_id": ["R1"], "level": ["output"], "title": ["bell\x07"]})}
    with pytest.raises(ValueError, match=r"Results!C2 \(title\)"):
        tpl.write_workbook(tmp_path / "a.xlsx", UNIT, bad_text)
    long_text = {"Results": pd.DataFrame({"result_id": ["R1"], "level": ["output"], "title": ["x" * 32768]})}
    with pytest.raises(ValueError, match="32767"):
        tpl.write_workbook(tmp_path / "a.xlsx", UNIT, long_text)
    inf = {
        "Budget": pd.DataFrame({"result_id": ["R1"], "funding_source": ["RB"], "year": [2026], "amount": [math.inf]})
    }
    with pytest.raises(ValueError, match=r"Budget!D2 \(amount\)"):
        tpl.write_workbook(tmp_path / "a.xlsx", UNIT, inf)
    with pytest.raises(ValueError, match="Kpis"):
        tpl.write_workbook(tmp_path / "a.xlsx", UNIT, {"Kpis": pd.DataFrame()})
    with pytest.raises(ValueError, match="unit_kode"):
        tpl.write_workbook(tmp_path / "a.xlsx", {"unit_kode": "AFR"})
    assert list(tmp_path.iterdir()) == []  # nothing written, no temp file left


def test_validation_range_follows_data_and_rows_for_entry(tmp_path):
    frames = {
        "Linkages": pd.DataFrame({"result_id": ["R1", "R2", "R3"], "body": ["ITU-T"] * 3, "reference": ["a", "b", "c"]})
    }
    wb = openpyxl.load_workbook(tpl.write_workbook(tmp_path / "x.xlsx", UNIT, frames, rows_for_entry=10))
    assert set(_validations(wb["Linkages"])) == {"B2:B13", "D2:D13"}
    assert set(_validations(wb["Partners"])) == {"B2:B10", "F2:F10", "G2:G10"}  # rows 2..max(10, 0 + 10)


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), max_size=40).filter(
    lambda s: not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", s)
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_TEXT, min_size=1, max_size=5))
def test_any_text_round_trips_through_xlsx(tmp_path, texts):
    frame = pd.DataFrame({"result_id": [f"R{i}" for i in range(len(texts))], "level": "output", "title": texts})
    path = tpl.write_workbook(tmp_path / "h.xlsx", UNIT, {"Results": frame}, rows_for_entry=1)
    ws = openpyxl.load_workbook(path)["Results"]
    got = [ws.cell(row=i, column=3).value for i in range(2, 2 + len(texts))]
    assert got == [t if t != "" else None for t in texts]


# ------------------------------------------------------------------ atomic writes


def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "AFR.xlsx"
    target.write_bytes(b"old")
    tpl.write_workbook(target, UNIT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AFR.xlsx"]
    assert openpyxl.load_workbook(target)["Unit"]["B2"].value == "AFR"


def test_failed_save_keeps_old_file_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "AFR.xlsx"
    target.write_bytes(b"old")

    def broken_save(self, filename):
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(openpyxl.Workbook, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        tpl.write_workbook(target, UNIT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AFR.xlsx"]
    assert target.read_bytes() == b"old"


# ------------------------------------------------------------------ CSV folder


def _read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_csv_folder_one_file_per_sheet_with_exact_headers(tmp_path):
    out = tpl.write_csv_folder(tmp_path / "AFR", UNIT, _frames())
    assert out == tmp_path / "AFR"
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.csv" for n in schema.sheet_names())
    unit_rows = _read_csv(out / "Unit.csv")
    assert unit_rows[0] == ["field", "value"]
    assert unit_rows[1:] == [[c.name, UNIT[c.name] or ""] for c in schema.sheet("Unit").columns]
    for s in TABLES:
        assert _read_csv(out / f"{s.name}.csv")[0] == list(s.column_names)
    assert len(_read_csv(out / "Partners.csv")) == 1  # header only


def test_csv_values_plain_numbers_empty_missing_verbatim_text(tmp_path):
    frames = _frames()
    frames["Milestones"] = pd.DataFrame(
        {"kpi_id": ["K1", "K1"], "period": ["2026-Q1", "2026-Q2"], "target_value": [1e-7, 2e16]}
    )
    frames["Actuals"] = pd.DataFrame(
        {"kpi_id": ["K1"], "period": ["2026-Q1"], "value": [3.0], "comment": ['says "hi", then\nleaves; é']}
    )
    out = tpl.write_csv_folder(tmp_path / "AFR", UNIT, frames)
    budget = _read_csv(out / "Budget.csv")
    assert budget[1] == ["R0", "Regular budget", "2026", "1234567.5", "12", ""]
    assert budget[2] == ["R1", "ICT Development Fund", "2027", "0.1", "", ""]
    assert [r[2] for r in _read_csv(out / "Milestones.csv")[1:]] == ["0.0000001", "20000000000000000"]
    assert _read_csv(out / "Actuals.csv")[1] == ["K1", "2026-Q1", "3", "", "", "", "", 'says "hi", then\nleaves; é']
    assert [r[2] for r in _read_csv(out / "Results.csv")[1:]] == TRICKY
    assert _read_csv(out / "Risks.csv")[1][10:] == ["2026-01-15", ""]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AFR"]
    assert not [p for p in out.iterdir() if p.suffix != ".csv"]  # no temp files


# ------------------------------------------------------------------ round trip through the reader


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_round_trip_through_reader_and_validator(tmp_path, fmt):
    validate = pytest.importorskip("rbm_utils.intake.validate")
    from factories import minimal_unit  # tests/ is on sys.path (pytest rootdir, no __init__.py)

    unit, frames = minimal_unit("AFR", "2026-Q3")
    frames["Results"].loc[0, "title"] = "=1+1 workshops"  # formula-looking text survives
    frames["Actuals"].loc[0, "comment"] = "-dash, @at"
    pledge = {  # the register carries its stages, dates, owner and note both ways
        "partner": "Development bank",
        "partner_type": "development_bank",
        "initiative": "AFR3",
        "contribution_type": "cash",
        "stage": "pledged",
        "amount": 250000,
        "expected_date": "2026-11-15",
        "actual_date": "2026-08-20",
        "owner": "A. Diallo",
        "note": "Pledged at the regional forum",
    }
    frames["Partners"] = schema.conform("Partners", pd.concat([frames["Partners"], pd.DataFrame([pledge])]))
    if fmt == "xlsx":
        path = tpl.write_workbook(tmp_path / "AFR.xlsx", unit, frames, notice="ILLUSTRATIVE")
    else:
        path = tpl.write_csv_folder(tmp_path / "AFR", unit, frames)
    parsed = validate.parse_source(path, load_config(), today=dt.date(2026, 10, 1))
    assert parsed.ok, parsed.problems_frame().to_string()
    assert not parsed.problems, parsed.problems_frame().to_string()  # Guide/Lists raise nothing
    assert parsed.unit == unit
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(parsed.frames[name], frame, check_dtype=False, obj=name)


# ------------------------------------------------------------------ Excel's own checks (issue 19)


def _checks(ws) -> dict[str, object]:
    """Every data validation that is not a Lists dropdown, by its range."""
    return {
        str(dv.sqref): dv
        for dv in ws.data_validations.dataValidation
        if not (dv.type == "list" and str(dv.formula1).startswith("Lists!"))
    }


def test_excel_checks_numbers_by_type_and_range(book):
    _, wb = book
    likelihood = _checks(wb["Risks"])["F2:F21"]  # Risks: 1 row pre-filled, then 20 for entry
    assert (likelihood.type, likelihood.operator, likelihood.formula1, likelihood.formula2) == (
        "whole",
        "between",
        "1",
        "5",
    )
    assert likelihood.errorStyle == "stop" and likelihood.allow_blank and "from 1 to 5" in likelihood.error
    amount = next(dv for ref, dv in _checks(wb["Budget"]).items() if ref.startswith("D2:"))
    assert (amount.type, amount.formula1) == ("decimal", "0")  # an amount is 0 or more
    year = next(dv for ref, dv in _checks(wb["Budget"]).items() if ref.startswith("C2:"))
    assert (year.type, year.formula1, year.formula2) == ("whole", "1990", "2100")


def test_excel_checks_ids_against_the_units_own_sheets(book):
    _, wb = book
    kpi_ids = next(dv for ref, dv in _checks(wb["Actuals"]).items() if ref.startswith("A2:"))
    assert kpi_ids.type == "list" and kpi_ids.formula1.startswith("'KPIs'!$A$2:$A$")
    result_ids = next(dv for ref, dv in _checks(wb["KPIs"]).items() if ref.startswith("B2:"))
    assert result_ids.formula1.startswith("'Results'!$A$2:$A$")
    activity = next(dv for ref, dv in _checks(wb["Partners"]).items() if ref.startswith("E2:"))
    assert activity.formula1.startswith("'Activities'!$A$2:$A$")
    # the referenced range covers the pre-filled rows and the rows left for entry
    assert int(kpi_ids.formula1.rsplit("$", 1)[1]) >= 2 + 20


def test_excel_checks_periods_and_the_units_quarter(book):
    _, wb = book
    period = next(dv for ref, dv in _checks(wb["Actuals"]).items() if ref.startswith("B2:"))
    assert period.type == "custom" and 'MID(B2,5,2)="-Q"' in period.formula1
    unit = _checks(wb["Unit"])
    row = 2 + list(schema.sheet("Unit").column_names).index("reporting_quarter")
    assert unit[f"B{row}"].type == "custom"
    # free text is never checked
    assert not any(ref.startswith("C2:") for ref in _checks(wb["Results"]))


def test_todo_lines_on_the_guide(tmp_path):
    path = tpl.write_workbook(tmp_path / "AFR.xlsx", UNIT, todo=["Actuals: fill in 4 rows.", "Risks to review: R1."])
    guide = [c.value for c in openpyxl.load_workbook(path)["Guide"]["A"]]
    i = guide.index("To do this quarter")
    assert guide[i + 1 : i + 3] == ["Actuals: fill in 4 rows.", "Risks to review: R1."]
    assert guide.index("How to fill in") > i
