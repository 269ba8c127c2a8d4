"""The Decisions sheet: each validation rule on a small workbook (code, sheet, Excel row, column
letter), and the template carrying open decisions into the next quarter's workbook."""

from __future__ import annotations

import copy
import datetime as dt

import openpyxl
import pandas as pd
import pytest
from factories import col_index, minimal_decisions, minimal_unit, sheet_rows, write_grid_xlsx

from rbm_utils.core.codes import DECISION_KINDS, DECISION_STATUSES, DECISION_TARGETS
from rbm_utils.core.config import load_config
from rbm_utils.core.schema import column_letter
from rbm_utils.intake import template as tpl
from rbm_utils.intake.validate import parse_source

CFG = load_config()
TODAY = dt.date(2026, 11, 28)
DECISION_CODES = {
    "decision_unknown_concern",
    "decision_due_before_meeting",
    "decision_meeting_after_report",
    "decision_closed_without_note",
    "decision_unknown_unit",
}


@pytest.fixture(scope="module")
def base_grids():
    unit, frames = minimal_unit(with_decisions=True)
    return sheet_rows(unit, frames)


def _parse(tmp_path, grids, previous=None):
    return parse_source(write_grid_xlsx(tmp_path / "unit.xlsx", grids), CFG, today=TODAY, previous=previous)


def _set(grids, row, column, value):
    """Set a Decisions cell: ``row`` is the Excel row (header = 1; AFR-D1 on row 2 ... AFR-D4 on row 5)."""
    grids["Decisions"][row - 1][col_index("Decisions", column)] = value


def _at(parsed, code, row, column):
    letter = column_letter(col_index("Decisions", column))
    return [
        p for p in parsed.problems if p.code == code and p.sheet == "Decisions" and (p.row, p.column) == (row, letter)
    ]


def test_valid_decisions_pass_and_are_read(tmp_path, base_grids):
    parsed = _parse(tmp_path, copy.deepcopy(base_grids))
    assert parsed.ok and parsed.problems == [], parsed.problems_frame().to_string()
    d = parsed.frames["Decisions"]
    assert list(d["decision_id"]) == ["AFR-D1", "AFR-D2", "AFR-D3", "AFR-D4"]
    assert list(d["status"]) == ["open", "in_progress", "done", "dropped"]
    assert parsed.rows["Decisions"] == [2, 3, 4, 5]


def test_a_workbook_without_decisions_is_fine(tmp_path):
    unit, frames = minimal_unit()
    grids = sheet_rows(unit, frames)
    del grids["Decisions"]
    parsed = _parse(tmp_path, grids)
    assert parsed.ok and parsed.problems == []
    assert len(parsed.frames["Decisions"]) == 0


# (concerns_kind, an id of that kind in minimal_unit)
KNOWN = [
    ("kpi", "AFR-K2"),
    ("result", "AFR-R1"),
    ("risk", "AFR-RK1"),
    ("assumption", "AFR-AS2"),
    ("budget", "AFR-O1"),
    ("activity", "AFR-ACT1"),
    ("initiative", "AFR3"),
]


def test_every_target_kind_is_tested():
    assert {k for k, _ in KNOWN} == set(DECISION_TARGETS)


@pytest.mark.parametrize("kind,concerns", KNOWN)
def test_a_decision_may_concern_each_kind_of_item(tmp_path, base_grids, kind, concerns):
    grids = copy.deepcopy(base_grids)
    _set(grids, 2, "concerns_kind", kind)
    _set(grids, 2, "concerns", concerns)
    parsed = _parse(tmp_path, grids)
    assert parsed.problems == [], parsed.problems_frame().to_string()


# (concerns_kind, an id defined in the workbook but not of that kind, or defined nowhere)
UNKNOWN = [
    ("kpi", "AFR-O1"),  # a result, not a KPI
    ("result", "AFR-K1"),
    ("risk", "AFR-RK9"),
    ("assumption", "AFR-AS9"),
    ("budget", "AFR-R1"),  # a result with no budget line
    ("activity", "AFR-ACT9"),
    ("initiative", "AFR9"),
]


@pytest.mark.parametrize("kind,concerns", UNKNOWN)
def test_an_unknown_concern_is_named_at_its_cell(tmp_path, base_grids, kind, concerns):
    grids = copy.deepcopy(base_grids)
    _set(grids, 3, "concerns_kind", kind)
    _set(grids, 3, "concerns", concerns)
    parsed = _parse(tmp_path, grids)
    (hit,) = _at(parsed, "decision_unknown_concern", 3, "concerns")
    assert hit.severity == "error" and hit.value == concerns and hit.header == "concerns" and hit.file == "unit.xlsx"
    assert hit.where == "Decisions!C3"
    assert f"concerns {kind} '{concerns}'" in hit.message and "AFR-D2" in hit.message
    assert not parsed.ok


def test_an_unknown_kind_is_a_code_problem_only(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, 2, "concerns_kind", "kpis")
    parsed = _parse(tmp_path, grids)
    assert [p.code for p in parsed.problems] == ["unknown_code"]
    assert parsed.problems[0].where == "Decisions!D2"


def test_a_risk_named_by_a_workbook_without_risks_is_unknown(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    del grids["Risks"]  # optional sheet absent: AFR-D3 (row 4) concerns a risk it does not define
    parsed = _parse(tmp_path, grids)
    assert [(p.code, p.row) for p in parsed.problems] == [("decision_unknown_concern", 4)]


def test_due_before_the_meeting(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, 3, "due_quarter", "2026-Q1")  # AFR-D2 was taken at 2026-Q2
    parsed = _parse(tmp_path, grids)
    (hit,) = _at(parsed, "decision_due_before_meeting", 3, "due_quarter")
    assert hit.value == "2026-Q1" and "2026-Q2" in hit.message
    assert [p.code for p in parsed.problems] == ["decision_due_before_meeting"]


def test_due_in_the_meeting_quarter_is_fine(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, 3, "due_quarter", "2026-Q2")
    assert _parse(tmp_path, grids).problems == []


def test_a_meeting_after_the_reporting_quarter(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, 2, "meeting_quarter", "2026-Q4")  # the workbook reports on 2026-Q3; due 2027-Q1 stays after it
    parsed = _parse(tmp_path, grids)
    (hit,) = _at(parsed, "decision_meeting_after_report", 2, "meeting_quarter")
    assert hit.where == "Decisions!B2" and "2026-Q3" in hit.message
    assert [p.code for p in parsed.problems] == ["decision_meeting_after_report"]


def test_a_meeting_before_the_workbench_started(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, 4, "meeting_quarter", "2022-Q4")
    parsed = _parse(tmp_path, grids)
    assert [(p.code, p.where) for p in parsed.problems] == [("before_first_quarter", "Decisions!B4")]


@pytest.mark.parametrize("row,note", [(4, None), (5, "   ")])
def test_done_or_dropped_needs_a_follow_up_note(tmp_path, base_grids, row, note):
    grids = copy.deepcopy(base_grids)
    _set(grids, row, "follow_up", note)
    parsed = _parse(tmp_path, grids)
    (hit,) = _at(parsed, "decision_closed_without_note", row, "follow_up")
    assert hit.where == f"Decisions!K{row}" and hit.header == "follow_up"
    assert [p.code for p in parsed.problems] == ["decision_closed_without_note"]


def test_open_decisions_need_no_note(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    assert grids["Decisions"][1][col_index("Decisions", "follow_up")] is None  # AFR-D1, open
    assert _parse(tmp_path, grids).ok


@pytest.mark.parametrize("other,why", [("XYZ", "not a unit listed"), ("AFR", "own unit"), ("../x", "not a unit")])
def test_the_other_unit_must_be_another_configured_unit(tmp_path, base_grids, other, why):
    grids = copy.deepcopy(base_grids)
    _set(grids, 2, "other_unit", other)
    parsed = _parse(tmp_path, grids)
    hits = _at(parsed, "decision_unknown_unit", 2, "other_unit")
    if other == "../x":  # not even an id: the cell check reports it, the unit check sees no value
        assert [p.code for p in parsed.problems] == ["bad_id"]
        return
    (hit,) = hits
    assert hit.where == "Decisions!E2" and why in hit.message
    assert [p.code for p in parsed.problems] == ["decision_unknown_unit"]


def test_a_joint_decision_with_a_configured_unit_is_fine(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, 2, "other_unit", "CYB")
    assert _parse(tmp_path, grids).problems == []


def test_a_joint_decision_may_concern_the_other_units_stored_item(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, 2, "other_unit", "CYB")
    _set(grids, 2, "concerns_kind", "kpi")
    _set(grids, 2, "concerns", "CYB-K1")
    _, cyb = minimal_unit("CYB")
    asked: list[str] = []

    def stored(code):
        asked.append(code)
        return cyb if code == "CYB" else None

    assert _parse(tmp_path, grids, previous=stored).problems == []
    assert "CYB" in asked
    (hit,) = _at(_parse(tmp_path, grids), "decision_unknown_concern", 2, "concerns")  # no store: not found
    assert hit.value == "CYB-K1"
    _set(grids, 2, "concerns", "CYB-K9")
    (hit,) = _at(_parse(tmp_path, grids, previous=stored), "decision_unknown_concern", 2, "concerns")
    assert "other unit's stored framework" in hit.message


def test_every_problem_of_a_bad_sheet_at_once(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, 2, "concerns", "AFR-K99")
    _set(grids, 3, "due_quarter", "2025-Q4")
    _set(grids, 4, "follow_up", None)
    _set(grids, 5, "other_unit", "ZZZ")
    parsed = _parse(tmp_path, grids)
    got = sorted((p.code, p.where) for p in parsed.problems)
    assert got == [
        ("decision_closed_without_note", "Decisions!K4"),
        ("decision_due_before_meeting", "Decisions!I3"),
        ("decision_unknown_concern", "Decisions!C2"),
        ("decision_unknown_unit", "Decisions!E5"),
    ]
    assert {p.code for p in parsed.problems} <= DECISION_CODES


def test_a_duplicate_decision_id_is_a_duplicate_key(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, 3, "decision_id", "AFR-D1")
    parsed = _parse(tmp_path, grids)
    assert [(p.code, p.where) for p in parsed.problems] == [("duplicate_key", "Decisions!A3")]


# ------------------------------------------------------------------ template: open decisions carried over


def test_template_frames_carry_only_open_and_in_progress_decisions():
    _, frames = minimal_unit(with_decisions=True)
    state = {**frames, "Unit": pd.DataFrame([{"unit_code": "AFR", "quarter": "2026-Q3"}])}
    before = frames["Decisions"].copy()
    carried = tpl.template_frames(state)["Decisions"]
    assert list(carried["decision_id"]) == ["AFR-D1", "AFR-D2"]
    assert list(carried["status"]) == ["open", "in_progress"]
    assert list(carried.index) == [0, 1]
    pd.testing.assert_frame_equal(frames["Decisions"], before)  # input untouched
    assert len(tpl.template_frames(None)["Decisions"]) == 0


def test_write_workbook_keeps_every_decision_it_is_given(tmp_path):
    unit, frames = minimal_unit(with_decisions=True)
    path = tpl.write_workbook(tmp_path / "AFR.xlsx", unit, frames)
    ws = openpyxl.load_workbook(path)["Decisions"]
    assert [ws.cell(row=r, column=1).value for r in range(2, 6)] == ["AFR-D1", "AFR-D2", "AFR-D3", "AFR-D4"]


def test_next_quarters_template_from_the_stored_state_validates(tmp_path):
    unit, frames = minimal_unit(with_decisions=True)
    nxt = {**unit, "reporting_quarter": "2026-Q4"}
    path = tpl.write_workbook(tmp_path / "AFR_2026-Q4.xlsx", nxt, tpl.template_frames(frames))
    wb = openpyxl.load_workbook(path)
    ws = wb["Decisions"]
    assert [c.value for c in ws[1]] == list(minimal_decisions().columns)
    assert [ws.cell(row=r, column=1).value for r in (2, 3, 4)] == ["AFR-D1", "AFR-D2", None]
    coded = {
        str(dv.sqref).split(":")[0][0]
        for dv in ws.data_validations.dataValidation
        if str(dv.formula1).startswith("Lists!")
    }
    assert coded == {"D", "G", "J"}  # concerns_kind, kind, status
    parsed = parse_source(path, CFG, today=TODAY)
    assert parsed.ok, parsed.problems_frame().to_string()
    assert list(parsed.frames["Decisions"]["decision_id"]) == ["AFR-D1", "AFR-D2"]


def test_code_lists_of_the_contract():
    assert DECISION_STATUSES == ("open", "in_progress", "done", "dropped")
    assert "no_change" in DECISION_KINDS and len(DECISION_KINDS) == 11
