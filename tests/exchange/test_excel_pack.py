"""The Excel review pack (rbm_utils.exchange.excel_pack), opened back with openpyxl."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from rbm_utils.core.config import load_config
from rbm_utils.exchange import excel_pack
from rbm_utils.present import labels

CFG = load_config()
Q = "2026-Q3"
EVIL = '=HYPERLINK("http://x","click")'


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """A quarter folder with a snapshot manifest, its Unit table and AFR's published tables."""
    qdir = tmp_path / Q
    (qdir / "snapshot").mkdir(parents=True)
    (qdir / "analysis").mkdir()
    (qdir / "snapshot" / "manifest.json").write_text(
        json.dumps({"content_sha256": "ab" * 32, "created_at": "2026-10-05T08:00:00Z", "quarter": Q})
    )
    (qdir / "analysis" / "manifest.json").write_text(json.dumps({"content_sha256": "cd" * 32}))
    pd.DataFrame(
        {"unit_code": ["AFR", "AMS"], "quarter": [Q, Q], "submission_id": [183, 184], "submitted_by": ["Ama", "Bo"]}
    ).to_parquet(qdir / "snapshot" / "Unit.parquet")
    afr = qdir / "AFR"
    afr.mkdir()
    pd.DataFrame(
        {
            "unit_code": ["AFR", "AFR"],
            "kpi_id": ["AFR-K01", "AFR-K02"],
            "level": ["output", "outcome"],
            "name": [EVIL, "Teachers trained"],
            "target_value": [100.0, 40.0],
            "current_value": [30.0, 38.0],
            "achievement": [0.3, 0.95],
            "status": ["off_track", "on_track"],
            "likely_to_meet": [False, True],
        }
    ).to_parquet(afr / "kpi_progress.parquet")
    pd.DataFrame(
        {
            "unit_code": ["AFR"] * 3,
            "assumption_id": ["A1", "A1", "A2"],
            "period": ["2026-Q2", Q, Q],
            "statement": ["old", "Schools stay open", "-2 is fine"],
            "verdict": ["holds", "broken", "holds"],
        }
    ).to_parquet(afr / "assumption_tests.parquet")
    pd.DataFrame(
        {
            "unit_code": ["AFR"],
            "result_id": ["AFR-O1"],
            "title": ["Training"],
            "budget_year": [120000.0],
            "spent_year": [30000.0],
            "execution_rate": [0.25],
            "flag": ["underspending"],
        }
    ).to_parquet(afr / "money.parquet")
    pd.DataFrame(
        {"unit_code": ["AFR"], "risk_id": ["R1"], "title": ["@SUM(A1)"], "score": [20], "rating": ["critical"]}
    ).to_parquet(afr / "red_flags.parquet")
    pd.DataFrame(
        {"decision_id": ["D1"], "meeting_quarter": ["2026-Q1"], "decision": ["Hire"], "overdue": [True]}
    ).to_parquet(afr / "decisions.parquet")
    return qdir


def test_the_pack_has_a_cover_and_one_sheet_per_published_table(published):
    out = excel_pack.write_pack(published / "AFR", published, "AFR", CFG)
    assert out == published / "AFR" / excel_pack.PACK_FILE
    wb = openpyxl.load_workbook(out)
    # risks, funding and agenda were not published here: no sheet for them
    assert wb.sheetnames == [excel_pack.COVER, "KPI progress", "Assumptions", "Red flags", "Money", "Decisions"]
    assert not list(published.joinpath("AFR").glob(".*.tmp"))


def test_headers_are_readable_frozen_and_filtered(published):
    wb = openpyxl.load_workbook(excel_pack.write_pack(published / "AFR", published, "AFR", CFG))
    ws = wb["KPI progress"]
    heads = [c.value for c in ws[1]]
    # the unit's KPI columns of present.columns.KPIS that the table has, in that order
    assert heads == [
        "KPI",
        "Level",
        "Name",
        "Status",
        "Current value",
        "Target",
        "Achievement",
        "Likely to meet the target",
    ]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:H3"
    assert ws["A1"].font.bold


def test_numbers_keep_their_type_and_format(published):
    wb = openpyxl.load_workbook(excel_pack.write_pack(published / "AFR", published, "AFR", CFG))
    ws = wb["KPI progress"]
    ach = ws.cell(row=2, column=[c.value for c in ws[1]].index("Achievement") + 1)
    assert ach.value == pytest.approx(0.3) and ach.data_type == "n" and ach.number_format == "0%"
    money = wb["Money"]
    heads = [c.value for c in money[1]]
    budget = money.cell(row=2, column=heads.index("Budget (year)") + 1)
    assert budget.value == 120000 and budget.number_format == "#,##0"
    assert ws.cell(row=2, column=8).value == "No" and ws.cell(row=3, column=8).value == "Yes"


def test_status_cells_show_words_on_their_colours(published):
    wb = openpyxl.load_workbook(excel_pack.write_pack(published / "AFR", published, "AFR", CFG))
    kpis = wb["KPI progress"]
    col = [c.value for c in kpis[1]].index("Status") + 1
    off, on = kpis.cell(row=2, column=col), kpis.cell(row=3, column=col)
    assert (off.value, on.value) == ("Off track", "On track")
    assert off.fill.fgColor.rgb == "FF" + labels.STATUS_COLORS["off_track"].lstrip("#").upper()
    assert on.fill.fgColor.rgb == "FF" + labels.STATUS_COLORS["on_track"].lstrip("#").upper()
    flags = wb["Red flags"]
    rating = flags.cell(row=2, column=[c.value for c in flags[1]].index("Rating") + 1)
    assert rating.value == "Critical" and rating.fill.fgColor.rgb.endswith(labels.RATING_COLORS["critical"][1:].upper())
    overdue = wb["Decisions"].cell(row=2, column=[c.value for c in wb["Decisions"][1]].index("Overdue") + 1)
    assert overdue.value == "Yes" and overdue.fill.fgColor.rgb.endswith(labels.RATING_COLORS["critical"][1:].upper())
    # a cell that is not a status has no fill
    assert kpis.cell(row=2, column=1).fill.fgColor.rgb in (None, "00000000")


def test_formula_looking_text_stays_text(published):
    wb = openpyxl.load_workbook(excel_pack.write_pack(published / "AFR", published, "AFR", CFG))
    name = wb["KPI progress"].cell(row=2, column=3)
    assert name.value == "'" + EVIL and name.data_type == "s"
    title = wb["Red flags"].cell(row=2, column=3)
    assert title.value == "'@SUM(A1)" and title.data_type == "s"
    statement = wb["Assumptions"].cell(row=3, column=2)
    assert statement.value == "'-2 is fine"
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate)


def test_assumptions_are_those_tested_this_quarter(published):
    wb = openpyxl.load_workbook(excel_pack.write_pack(published / "AFR", published, "AFR", CFG))
    ws = wb["Assumptions"]
    assert [r[0] for r in ws.iter_rows(min_row=2, values_only=True)] == ["A1", "A2"]
    assert ws.cell(row=2, column=[c.value for c in ws[1]].index("Verdict") + 1).value == "Broken"


def test_cover_gives_the_provenance(published):
    wb = openpyxl.load_workbook(excel_pack.write_pack(published / "AFR", published, "AFR", CFG))
    cover = {r[0]: r[1] for r in wb[excel_pack.COVER].iter_rows(values_only=True) if r[0]}
    assert cover["Review of"] == f"{CFG.unit('AFR').name} (AFR, {CFG.unit('AFR').type})"
    assert cover["Quarter"] == Q
    assert cover["Snapshot content (sha256)"] == "ab" * 32
    assert cover["Analysis content (sha256)"] == "cd" * 32
    assert cover["Figures of AFR"] == "submission 183 by Ama"
    assert "Figures of AMS" not in cover  # only the unit's own submission
    assert cover["KPI progress"].endswith("(2 rows)")
    assert wb.active.title == excel_pack.COVER


def test_overview_pack_lists_units_and_funding_when_published(published):
    ov = published / "overview"
    ov.mkdir()
    pd.read_parquet(published / "AFR" / "kpi_progress.parquet").to_parquet(ov / "kpi_progress.parquet")
    pd.DataFrame({"unit_code": ["AFR"], "partner": ["Fund"], "amount": [5000.0], "extra": ["x"]}).to_parquet(
        ov / "funding.parquet"
    )
    wb = openpyxl.load_workbook(excel_pack.write_pack(ov, published, None, CFG))
    assert wb.sheetnames == [excel_pack.COVER, "KPI progress", "Funding"]
    assert [c.value for c in wb["KPI progress"][1]][:2] == ["Unit", "KPI"]
    assert [c.value for c in wb["Funding"][1]] == ["Unit", "Partner", "Amount"]
    cover = {r[0]: r[1] for r in wb[excel_pack.COVER].iter_rows(values_only=True) if r[0]}
    assert cover["Review of"].endswith("(all units)") and "Figures of AMS" in cover


def test_an_empty_table_says_so(published):
    pd.DataFrame(columns=["decision_id", "decision"]).to_parquet(published / "AFR" / "decisions.parquet")
    wb = openpyxl.load_workbook(excel_pack.write_pack(published / "AFR", published, "AFR", CFG))
    assert wb["Decisions"]["A2"].value == "Nothing to show for this quarter."
