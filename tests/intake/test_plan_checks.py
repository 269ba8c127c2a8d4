"""Results.programme and Results.theme against the Action Plan's code lists (rbm_utils/intake/plan_checks.py)."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt

import pandas as pd
import pytest
from factories import col_index, minimal_unit, sheet_rows, write_grid_xlsx

from rbm_utils.core.config import ActionPlan, load_config
from rbm_utils.core.errors import ERROR, WARNING
from rbm_utils.intake.validate import parse_source

CFG = load_config()
TODAY = dt.date(2026, 11, 28)
# Results rows of the minimal unit: 2 = AFR-A1 and 3 = AFR-O1 (theme cybersecurity), 4 = AFR-R1 (no theme)


@pytest.fixture(scope="module")
def base_grids():
    unit, frames = minimal_unit()
    return sheet_rows(unit, frames)


def _parse(tmp_path, grids, config=CFG):
    return parse_source(write_grid_xlsx(tmp_path / "unit.xlsx", grids), config, today=TODAY)


def _set(grids, row, column, value):
    grids["Results"][row - 1][col_index("Results", column)] = value


def _plan_problems(parsed):
    codes = ("unknown_programme", "unknown_theme", "programme_theme_mismatch")
    return [p for p in parsed.problems if p.code in codes]


def test_the_minimal_unit_uses_the_codes_of_the_shipped_action_plan(tmp_path, base_grids):
    parsed = _parse(tmp_path, copy.deepcopy(base_grids))
    assert parsed.ok and _plan_problems(parsed) == []


def test_an_unknown_programme_is_an_error_at_its_cell_with_the_nearest_code(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, 2, "programme", "Affordable connectivity")  # the name typed instead of the code
    _set(grids, 4, "programme", "inclusive_secur")  # a typo
    _set(grids, 5, "programme", "Space")  # nothing near
    parsed = _parse(tmp_path, grids)
    assert not parsed.ok
    probs = {p.row: p for p in _plan_problems(parsed)}
    assert set(probs) == {2, 4, 5}
    p = probs[2]
    assert (p.code, p.severity, p.file, p.sheet, p.header, p.value) == (
        "unknown_programme",
        ERROR,
        "unit.xlsx",
        "Results",
        "programme",
        "Affordable connectivity",
    )
    assert p.column == "E" and "did you mean connectivity (Affordable connectivity)?" in p.message
    assert "did you mean inclusive_secure" in probs[4].message
    assert probs[5].message.endswith(
        "the codes are: connectivity, transformation, enabling_env, cooperation, inclusive_secure."
    )


def test_an_unknown_theme_is_an_error_with_the_nearest_code(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, 3, "theme", "cyber-security")
    parsed = _parse(tmp_path, grids)
    (p,) = _plan_problems(parsed)  # no mismatch warning on top of the error
    assert (p.code, p.row, p.header, p.severity) == ("unknown_theme", 3, "theme", ERROR)
    assert "did you mean cybersecurity (Cybersecurity and trust)?" in p.message


def test_a_programme_other_than_its_themes_is_a_warning_and_a_blank_one_is_fine(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, 2, "programme", "connectivity")  # theme cybersecurity is filed under inclusive_secure
    _set(grids, 3, "programme", None)  # counts under its theme's programme: no problem
    parsed = _parse(tmp_path, grids)
    assert parsed.ok
    (p,) = _plan_problems(parsed)
    assert (p.code, p.severity, p.row, p.header, p.value) == (
        "programme_theme_mismatch",
        WARNING,
        2,
        "programme",
        "connectivity",
    )
    assert "filed under programme inclusive_secure" in p.message
    stored = parsed.frames["Results"]["programme"].iloc[1]
    assert pd.isna(stored) or stored == ""  # stored as typed: the programme is derived by the analysis


def test_without_code_lists_programme_and_theme_are_free_text(tmp_path, base_grids):
    grids = copy.deepcopy(base_grids)
    _set(grids, 2, "programme", "Affordable connectivity")
    _set(grids, 3, "theme", "cyber-security")
    parsed = _parse(tmp_path, grids, dataclasses.replace(CFG, action_plan=ActionPlan()))
    assert parsed.ok and _plan_problems(parsed) == []
