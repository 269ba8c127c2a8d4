"""The ``rbm`` command end to end: ingest, re-ingest, rejection, approval, history, template."""

from __future__ import annotations

import copy

import openpyxl
import pandas as pd
import pytest
from factories import col_index, minimal_unit, register, register_approvers, sheet_rows, sign_in_as, write_grid_xlsx

from rbm_utils.cli import main
from rbm_utils.store.database import Store


@pytest.fixture()
def store_url(tmp_path):
    return f"sqlite:///{tmp_path / 'rbm.sqlite'}"


@pytest.fixture()
def grids():
    unit, frames = minimal_unit()
    return sheet_rows(unit, frames)


def _dump(url):
    with Store(url) as st:
        return st.dump()


def test_ingest_reingest_and_history(tmp_path, store_url, grids, capsys):
    path = write_grid_xlsx(tmp_path / "AFR.xlsx", grids)
    assert main(["ingest", str(path), "--store", store_url, "--by", "tester"]) == 0
    first = _dump(store_url)
    assert main(["ingest", str(path), "--store", store_url, "--by", "tester"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-2] == "Unchanged: AFR 2026-Q3 is the same as submission 1; nothing stored."
    assert _dump(store_url) == first
    with Store(store_url) as st:
        subs = st.submissions("AFR")
        assert len(subs) == 1 and subs.iloc[0]["ingested_by"] == "tester"
        assert len(st.state("AFR")["KPIs"]) == 4
    # a changed value is a new submission with one change-log row
    grids2 = copy.deepcopy(grids)
    grids2["Actuals"][2][col_index("Actuals", "value")] = 95
    path2 = write_grid_xlsx(tmp_path / "AFR_v2.xlsx", grids2)
    assert main(["ingest", str(path2), "--store", store_url, "--by", "tester"]) == 0
    with Store(store_url) as st:
        subs, changes = st.history("AFR")
    assert len(subs) == 2
    last = changes[changes.submission_id == subs.iloc[-1]["id"]]
    assert len(last) == 1 and last.iloc[0]["field"] == "value"
    capsys.readouterr()
    assert main(["history", "AFR", "--store", store_url]) == 0
    assert "AFR_v2.xlsx" in capsys.readouterr().out


def test_ten_planted_errors_exit_1_store_unchanged(tmp_path, store_url, grids, capsys):
    ok = write_grid_xlsx(tmp_path / "ok.xlsx", grids)
    assert main(["ingest", str(ok), "--store", store_url]) == 0
    before = _dump(store_url)
    bad = copy.deepcopy(grids)
    edits = [
        ("KPIs", 2, "baseline_value", "n/a"),
        ("KPIs", 3, "direction", "up"),
        ("KPIs", 5, "target_period", "2025-Q1"),
        ("Actuals", 3, "period", "2027-Q1"),
        ("Actuals", 4, "kpi_id", "AFR-K42"),
        ("Actuals", 7, "value", 140),
        ("Risks", 2, "likelihood", 9),
        ("Budget", 2, "result_id", "AFR-B1"),
        ("Activities", 2, "planned_start", "first of May"),
        ("Partners", 2, "amount", -10),
    ]
    for sheet, row, column, value in edits:
        bad[sheet][row - 1][col_index(sheet, column)] = value
    path = write_grid_xlsx(tmp_path / "bad.xlsx", bad)
    report = tmp_path / "problems.csv"
    capsys.readouterr()
    assert main(["ingest", str(path), "--store", store_url, "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "Rejected: bad.xlsx has 10 errors" in out
    assert "Traceback" not in out
    assert _dump(store_url) == before
    table = pd.read_csv(report)
    assert len(table[table.severity == "error"]) == 10
    assert set(table.sheet) >= {"KPIs", "Actuals", "Risks", "Budget", "Activities", "Partners"}


def test_approval_lock_and_authority(tmp_path, store_url, grids, capsys, monkeypatch):
    register_approvers(store_url)
    register(store_url, "somebody.else", "regional_director", ("AFR",), "somebody")
    sign_in_as(monkeypatch, "ann")
    path = write_grid_xlsx(tmp_path / "AFR.xlsx", grids)
    assert main(["ingest", str(path), "--store", store_url]) == 0
    sign_in_as(monkeypatch, "somebody")
    assert main(["approve", "AFR", "2026-Q3", "--store", store_url]) == 1
    assert "Regional Director" in capsys.readouterr().err
    assert main(["approve", "AFR", "2026-Q3", "--by", "Amara Diallo", "--store", store_url]) == 1
    assert "--by may only name yourself" in capsys.readouterr().err
    sign_in_as(monkeypatch, "amara")
    assert main(["approve", "AFR", "2026-Q3", "--by", "Amara Diallo", "--store", store_url]) == 0
    before = _dump(store_url)
    changed = copy.deepcopy(grids)
    changed["Actuals"][3][col_index("Actuals", "value")] = 111
    path2 = write_grid_xlsx(tmp_path / "late.xlsx", changed)
    capsys.readouterr()
    assert main(["ingest", str(path2), "--store", store_url]) == 1
    out = capsys.readouterr().out
    assert "Amara Diallo" in out
    assert _dump(store_url) == before


def test_dry_run_stores_nothing(tmp_path, store_url, grids):
    path = write_grid_xlsx(tmp_path / "AFR.xlsx", grids)
    assert main(["ingest", str(path), "--store", store_url, "--dry-run"]) == 0
    with Store(store_url) as st:
        assert st.submissions().empty


def test_template_from_store_round_trip(tmp_path, store_url, grids):
    path = write_grid_xlsx(tmp_path / "AFR.xlsx", grids)
    assert main(["ingest", str(path), "--store", store_url]) == 0
    out = tmp_path / "AFR_next.xlsx"
    assert (
        main(
            [
                "template",
                "AFR",
                "--from-store",
                "--out",
                str(out),
                "--store",
                store_url,
                "--submitted-by",
                "Test Officer",
            ]
        )
        == 0
    )
    # the quarter's missing rows are added with the value empty: ingest refuses it until filled in
    before = _dump(store_url)
    assert main(["ingest", str(out), "--store", store_url]) == 1
    assert _dump(store_url) == before
    wb = openpyxl.load_workbook(out)
    ws = wb["Expenditure"]
    added = [r for r in ws.iter_rows(min_row=2, values_only=True) if r[1] == "2026-Q3"]
    assert added == [("AFR-O1", "2026-Q3", "Regular budget", None, None, None)]  # the one budget line
    ws.cell(row=ws.max_row, column=4, value=25000)
    wb.save(out)
    # filled in, it stores exactly that row: nothing lost, nothing invented
    assert main(["ingest", str(out), "--store", store_url]) == 0
    with Store(store_url) as st:
        assert len(st.submissions()) == 2
        changed = st.history("AFR")[1]
    assert set(changed[changed.submission_id == 2]["sheet"]) == {"Expenditure"}


def test_unknown_unit_is_usage_error(tmp_path, store_url):
    assert main(["template", "NOPE", "--out", str(tmp_path / "x.xlsx"), "--store", store_url]) == 2


def test_status_summary(tmp_path, store_url, grids, capsys):
    path = write_grid_xlsx(tmp_path / "AFR.xlsx", grids)
    assert main(["ingest", str(path), "--store", store_url]) == 0
    capsys.readouterr()
    assert main(["status", "--quarter", "2026-Q3", "--store", store_url]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("AFR"))
    assert " 4 " in line  # 4 KPIs
    assert "No submission yet" in out and "CYB" in out


def _q2_and_q3(tmp_path, grids, k1_target):
    """AFR's 2026-Q2 workbook (no 2026-Q3 figures) and its 2026-Q3 one with K1's target set to ``k1_target``."""
    unit, frames = minimal_unit(quarter="2026-Q2")
    frames["Actuals"] = frames["Actuals"][frames["Actuals"]["period"] != "2026-Q3"]
    q2 = write_grid_xlsx(tmp_path / "AFR_2026-Q2.xlsx", sheet_rows(unit, frames))
    q3 = copy.deepcopy(grids)
    row = next(r for r in q3["KPIs"] if r[col_index("KPIs", "kpi_id")] == "AFR-K1")
    row[col_index("KPIs", "target_value")] = k1_target
    return q2, write_grid_xlsx(tmp_path / "AFR_2026-Q3.xlsx", q3)


def test_changes_beyond_authority_are_listed_on_ingest_and_pending_until_the_bureau_approves(
    tmp_path, store_url, grids, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: each table row on one line
    register_approvers(store_url)
    register(store_url, "someone", "regional_director", ("AFR",), "someone")
    sign_in_as(monkeypatch, "amara")
    q2, q3 = _q2_and_q3(tmp_path, grids, 500)  # AFR-K1's target 400 -> 500: +25 %, beyond the unit's 10 %
    assert main(["ingest", str(q2), "--store", store_url]) == 0
    assert main(["approve", "AFR", "2026-Q2", "--by", "Amara Diallo", "--store", store_url]) == 0
    capsys.readouterr()
    assert main(["ingest", str(q3), "--store", store_url, "--show-warnings"]) == 0
    out = capsys.readouterr().out
    assert "Changes of the framework since AFR's last approved quarter" in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("target_value"))
    assert "AFR-K1" in line and "400 -> 500" in line and "25%" in line and "bureau" in line
    assert "change_needs_bureau" in out and "change_without_decision" in out

    assert main(["approve", "AFR", "2026-Q3", "--by", "amara diallo", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "AFR 2026-Q3 approved by Amara Diallo (Regional Director)" in out
    assert "Pending: 1 change(s) beyond the unit's authority await the Deputy Director (Nadia Rahman)" in out
    assert "400 -> 500" in out and "AFR 2026-Q3 is pending." in out
    assert main(["status", "--quarter", "2026-Q3", "--store", store_url]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("AFR"))
    assert "pending" in line and "Amara Diallo" in line
    assert "AFR: target of AFR-K1 400 -> 500 (+25%)" in out

    sign_in_as(monkeypatch, "someone")
    assert main(["approve", "AFR", "2026-Q3", "--store", store_url]) == 1
    err = capsys.readouterr().err
    assert (
        "Only the Regional Director of AFR (Amara Diallo) or the Deputy Director (Nadia Rahman) may approve AFR" in err
    )
    sign_in_as(monkeypatch, "nadia")
    assert main(["approve", "AFR", "2026-Q3", "--by", "Nadia Rahman", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "beyond the unit's authority approved by Nadia Rahman (Deputy Director)" in out
    assert "AFR 2026-Q3 is approved." in out
    assert main(["status", "--quarter", "2026-Q3", "--store", store_url]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("AFR"))
    assert "approved" in line and "Amara Diallo + Nadia Rahman" in line
    assert main(["history", "AFR", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "approved +" in out  # the approval events are in the change log, with the signed-in person
    line = next(ln for ln in out.splitlines() if "approved for the bureau" in ln)
    assert "2026-Q3" in line and "Nadia Rahman" in line and "nadia.rahman" in line
    assert main(["history", "AFR", "--submission", "2", "--store", store_url]) == 0
    assert "Nadia Rahman" in capsys.readouterr().out


def test_a_change_within_authority_is_approved_by_the_unit_alone(tmp_path, store_url, grids, capsys, monkeypatch):
    register_approvers(store_url)
    sign_in_as(monkeypatch, "amara")
    q2, q3 = _q2_and_q3(tmp_path, grids, 420)  # +5 %
    assert main(["ingest", str(q2), "--store", store_url]) == 0
    assert main(["approve", "AFR", "2026-Q2", "--by", "Amara Diallo", "--store", store_url]) == 0
    assert main(["ingest", str(q3), "--store", store_url]) == 0
    capsys.readouterr()
    assert main(["approve", "AFR", "2026-Q3", "--by", "Amara Diallo", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "1 change(s) of the framework since the last approved quarter, all approved" in out
    assert "Pending" not in out and "AFR 2026-Q3 is approved." in out
