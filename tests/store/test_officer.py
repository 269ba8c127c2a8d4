"""The officer's quarter through the ``rbm`` commands: template ready for the quarter, fill,
dry run, ingest, approve, history, review; one true final line per file, nothing cut, the next
command named; and ``make run``'s steps afterwards still end with published reviews."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from factories import minimal_unit, register_approvers, sheet_rows, sign_in_as, write_grid_xlsx

from rbm_utils.cli import main
from rbm_utils.store.database import Store
from rbm_utils.store.ingest import IngestReport
from rbm_utils.store.officer import final_line, new_warnings, who_submits

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'rbm.sqlite'}"


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def _fill(path: Path, quarter: str, values: dict[str, float]) -> None:
    """What the officer does: a value in every empty Actuals row and amount of the quarter."""
    wb = openpyxl.load_workbook(path)
    for sheet, col in (("Actuals", 3), ("Expenditure", 4)):
        ws = wb[sheet]
        for r in range(2, ws.max_row + 1):
            if ws.cell(r, 2).value == quarter and ws.cell(r, col).value is None:
                ws.cell(r, col, value=values.get(ws.cell(r, 1).value, 1000.0))
                if sheet == "Actuals":
                    ws.cell(r, 7, value=f"report {quarter}")
    wb.save(path)


# --------------------------------------------------------------------------- pieces


def test_who_submits_flag_then_env_then_login():
    assert who_submits("Ann", {"RBM_OFFICER": "Bo"}) == ("Ann", "--submitted-by")
    assert who_submits(None, {"RBM_OFFICER": " Bo "}) == ("Bo", "$RBM_OFFICER")
    name, source = who_submits(None, {})
    assert source in ("the login name", "nobody")


def test_warnings_stored_before_are_not_new():
    p = pd.DataFrame(
        {
            "code": ["missing_evidence", "missing_evidence", "required"],
            "severity": ["warning", "warning", "error"],
            "sheet": ["Actuals"] * 3,
            "header": ["evidence", "evidence", "value"],
            "value": ["", "", ""],
            "message": ["No evidence for K1 2026-Q2", "No evidence for K1 2026-Q3", "'value' is required"],
            "row": [5, 9, 9],
        }
    )
    earlier = p.iloc[:1].assign(row=4)  # stored before, at another row
    assert new_warnings(p, earlier).tolist() == [False, True, True]
    assert new_warnings(p, None).all()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("stored", "Done: AFR 2026-Q4 stored as submission 7 (2 rows added, 1 changed, 0 removed) with 3 warnings"),
        ("dry_run", "Dry run: AFR 2026-Q4 would be stored (2 rows added, 1 changed, 0 removed) with 3 warnings"),
        ("unchanged", "Unchanged: AFR 2026-Q4 is the same as submission 7; nothing stored."),
        ("locked", "Refused: nothing stored. AFR 2026-Q4 was approved by Amara Diallo"),
    ],
)
def test_one_final_line_that_says_what_happened(status, expected):
    counts = pd.DataFrame({"sheet": ["Actuals", "KPIs"], "added": [2, 0], "changed": [0, 1], "removed": [0, 0]})
    problems = pd.DataFrame({"severity": ["warning"] * 3})
    rep = IngestReport(
        "AFR.xlsx",
        status,
        "AFR.xlsx: AFR 2026-Q4 was approved by Amara Diallo on 2027-01-09; changes to it are refused",
        "AFR",
        "2026-Q4",
        7,
        problems,
        counts=counts,
    )
    line = final_line(rep, 1, 2, 6)
    assert line.startswith(expected)
    if status in ("stored", "dry_run"):
        assert "(2 already stored with submission 6)" in line
    assert ("nothing" in line) == (status != "stored")  # only a stored file says nothing about "nothing"


# --------------------------------------------------------------------------- the quarter, end to end


def test_the_officers_quarter_transcript(tmp_path, url, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("RBM_OFFICER", "Ann Officer")
    register_approvers(url)  # the officer ann, the approver amara (logins)
    sign_in_as(monkeypatch, "amara")
    unit, frames = minimal_unit()
    q3 = write_grid_xlsx(tmp_path / "AFR_2026-Q3.xlsx", sheet_rows(unit, frames))
    sign_in_as(monkeypatch, "ann")
    assert _run(capsys, "ingest", str(q3), "--store", url, "--by", "ann")[0] == 0
    sign_in_as(monkeypatch, "amara")
    assert _run(capsys, "approve", "AFR", "2026-Q3", "--by", "Amara Diallo", "--store", url)[0] == 0
    sign_in_as(monkeypatch, "ann")
    transcript = []  # what ingest and history print: tables and their final lines

    # 1. the template of the next quarter: rows to fill in, the officer's name from $RBM_OFFICER
    q4 = tmp_path / "AFR_2026-Q4.xlsx"
    code, out = _run(
        capsys, "template", "AFR", "--from-store", "--quarter", "2026-Q4", "--out", str(q4), "--store", url
    )
    assert code == 0 and "…" not in out
    assert "Added 5 rows of 2026-Q4 to fill in" in out  # 4 KPIs due + 1 budget line
    assert "submitted_by: Ann Officer (from $RBM_OFFICER" in out
    assert out.splitlines()[-1] == f"Next: fill in the values, then check it without storing: rbm ingest {q4} --dry-run"
    wb = openpyxl.load_workbook(q4)
    unit_sheet = {r[0]: r[1] for r in wb["Unit"].iter_rows(min_row=2, values_only=True)}
    assert unit_sheet["submitted_by"] == "Ann Officer" and unit_sheet["reporting_quarter"] == "2026-Q4"
    new_rows = [r for r in wb["Actuals"].iter_rows(min_row=2, values_only=True) if r[1] == "2026-Q4"]
    assert [r[0] for r in new_rows] == ["AFR-K1", "AFR-K2", "AFR-K3", "AFR-K4"] and {r[2] for r in new_rows} == {None}

    # 2. as written, ingest refuses it (values are missing) and says nothing was stored
    code, out = _run(capsys, "ingest", str(q4), "--store", url, "--dry-run")
    transcript.append(out)
    assert code == 1
    assert re.search(r"^Rejected: AFR_2026-Q4\.xlsx has 5 errors and \d+ warnings?; nothing stored\.$", out, re.M)

    # 3. values only: filled in, the dry run would store it and writes nothing
    _fill(q4, "2026-Q4", {"AFR-K1": 110.0, "AFR-K2": 4.0, "AFR-K3": 65.0, "AFR-K4": 45.0})
    with Store(url) as st:
        before = st.dump()
    code, out = _run(capsys, "ingest", str(q4), "--store", url, "--dry-run")
    transcript.append(out)
    assert code == 0
    assert re.search(r"^Dry run: AFR 2026-Q4 would be stored \(5 rows added, 0 changed, 0 removed\)", out, re.M)
    assert "stored with the submission" not in out and "nothing was written" in out
    assert out.splitlines()[-1] == f"Next: store it: rbm ingest {q4} --by ann"
    with Store(url) as st:
        assert st.dump() == before

    # 4. stored, then the same file again: unchanged, nothing stored
    code, out = _run(capsys, "ingest", str(q4), "--store", url, "--by", "ann")
    transcript.append(out)
    assert code == 0
    assert re.search(r"^Done: AFR 2026-Q4 stored as submission 2 \(5 rows added, 0 changed, 0 removed\)", out, re.M)
    assert (
        out.splitlines()[-1]
        == "Next: the unit's approver (Amara Diallo, signed in) locks the quarter: rbm approve AFR 2026-Q4"
    )
    code, out = _run(capsys, "ingest", str(q4), "--store", url)
    transcript.append(out)
    assert "Unchanged: AFR 2026-Q4 is the same as submission 2; nothing stored." in out
    assert "stored with the submission" not in out

    # 5. approved; a changed file for the locked quarter is refused, and says so
    sign_in_as(monkeypatch, "amara")
    code, out = _run(capsys, "approve", "AFR", "2026-Q4", "--by", "Amara Diallo", "--store", url)
    assert code == 0 and out.splitlines()[-1] == "Next: the quarter's review: rbm review --unit AFR --quarter 2026-Q4"
    _fill(q4, "2026-Q4", {})
    wb = openpyxl.load_workbook(q4)
    wb["Actuals"].cell(wb["Actuals"].max_row, 3, value=46.0)
    wb.save(q4)
    code, out = _run(capsys, "ingest", str(q4), "--store", url)
    transcript.append(out)
    assert code == 1
    assert re.search(r"^Refused: nothing stored\. AFR 2026-Q4 was approved by Amara Diallo", out, re.M)
    assert "warning(s) stored" not in out

    # 6. history: one line per submission, short hashes, details on request
    code, out = _run(capsys, "history", "AFR", "--store", url)
    transcript.append(out)
    assert code == 0
    assert "Actuals +4" in out and "Expenditure +1" in out
    assert not re.search(r"[0-9a-f]{20}", out)  # no full hash
    code, out = _run(capsys, "history", "AFR", "--submission", "2", "--store", url)
    transcript.append(out)
    assert "AFR-K1 / 2026-Q4" in out and "110.0" in out

    sentences = ("Next:", "Done:", "Dry run:", "Rejected:", "Refused:", "Unchanged:", "Wrote", "  ")
    for text in transcript:
        assert "…" not in text and "Traceback" not in text
        tables = [line for line in text.splitlines() if not line.startswith(sentences)]
        assert all(len(line) <= 100 for line in tables)  # tables fit a 100-column terminal


def test_make_run_reviews_with_update():
    review = next(line for line in (ROOT / "Makefile").read_text().splitlines() if "rbm review" in line)
    assert "--update" in review and "--all" in review


@pytest.mark.slow
def test_make_run_after_the_readme_officer_workflow_still_publishes(tmp_path, capsys, monkeypatch):
    """``make run``'s steps (the sample into the store, the review) after an officer reported and
    approved the next quarter and the bureau approved a pending change: nothing strands. The review
    is limited to AFR and one joint review to stay fast; ``make run`` reviews every unit the same way."""
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    outputs = str(tmp_path / "outputs")
    review = ["review", "--unit", "AFR", "--joint", "CYB-AFR", "--quarter", "2026-Q3", "--quiet"]
    make_run = [
        ["sample", "--out", str(tmp_path / "sample"), "--store", url],
        [*review, "--update", "--store", url, "--outputs", outputs],
    ]
    outs = []
    for argv in make_run:
        code, out = _run(capsys, *argv)
        assert code == 0, out
        outs.append(out)
    assert outs[0].count("the sample plants problems on purpose") == 1  # said once, as intended
    # the officer's quarter on the sample (README): AFR 2026-Q4, and the bureau's pending approval
    q4 = tmp_path / "AFR_2026-Q4.xlsx"
    assert (
        _run(capsys, "template", "AFR", "--from-store", "--quarter", "2026-Q4", "--out", str(q4), "--store", url)[0]
        == 0
    )
    with Store(url) as st:
        acts = st.state("AFR")["Actuals"]
    latest = acts.sort_values("period").groupby("kpi_id")["value"].last().to_dict()
    _fill(q4, "2026-Q4", latest)
    register_approvers(url)  # the people at the terminal from here on: ann, amara, nadia
    sign_in_as(monkeypatch, "ann")
    code, out = _run(capsys, "ingest", str(q4), "--store", url, "--by", "ann")
    assert code == 0, out
    sign_in_as(monkeypatch, "amara")
    assert _run(capsys, "approve", "AFR", "2026-Q4", "--by", "Amara Diallo", "--store", url)[0] == 0
    sign_in_as(monkeypatch, "nadia")
    assert _run(capsys, "approve", "NDI", "2026-Q3", "--by", "Nadia Rahman", "--store", url)[0] == 0
    # without --update the changed quarter would be refused; make run's steps go through
    code, out = _run(capsys, *review, "--store", url, "--outputs", outputs)
    assert code == 1 and "--update" in out
    for argv in make_run:
        code, out = _run(capsys, *argv)
        assert code == 0, out
    assert out.splitlines()[-1] == "Next: the managers' dashboards: rbm serve --quarter 2026-Q3   (or: make serve)"
    assert (Path(outputs) / "2026-Q3" / "AFR").is_dir()


def test_the_samples_planted_warnings_are_announced_once(tmp_path, url, capsys):
    paths = []
    for code in ("AFR", "AMS"):
        unit, frames = minimal_unit(code)
        unit["submitted_by"] = f"{code} M&E focal point (illustrative)"
        paths.append(str(write_grid_xlsx(tmp_path / f"{code}.xlsx", sheet_rows(unit, frames))))
    code, out = _run(capsys, "ingest", *paths, "--store", url, "--dry-run")
    assert code == 0
    assert out.count("the sample plants problems on purpose") == 1
    assert out.count("Dry run: ") == 2
    unit, frames = minimal_unit()
    own = write_grid_xlsx(tmp_path / "own.xlsx", sheet_rows(unit, frames))
    assert "plants problems" not in _run(capsys, "ingest", str(own), "--store", url, "--dry-run")[1]
