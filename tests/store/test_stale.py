"""Lost updates (issue 18, part B): two officers start from the same submission; the second is
refused, naming both, unless ``--force-over`` names the newer one, which is then recorded."""

from __future__ import annotations

import openpyxl
import pytest
from factories import minimal_unit, sheet_rows, write_grid_xlsx

from rbm_utils.cli import main
from rbm_utils.store.database import Store
from rbm_utils.store.stale import stale_check


@pytest.fixture()
def store_url(tmp_path):
    return f"sqlite:///{tmp_path / 'rbm.sqlite'}"


def _dump(url):
    with Store(url) as st:
        return st.dump()


def _template(tmp_path, url, who):
    out = tmp_path / f"{who}.xlsx"
    args = ["template", "AFR", "--from-store", "--store", url, "--out", str(out), "--submitted-by", who]
    assert main([*args, "--quarter", "2026-Q3"]) == 0
    return out


def _unit_value(path, field):
    ws = openpyxl.load_workbook(path)["Unit"]
    return next(r[1] for r in ws.iter_rows(values_only=True) if r[0] == field)


def _edit_title(path, title):
    wb = openpyxl.load_workbook(path)
    wb["Results"].cell(row=2, column=3).value = title
    spent = wb["Expenditure"]
    amount = [c.value for c in spent[1]].index("amount") + 1
    for row in range(2, spent.max_row + 1):  # the quarter's rows the template added to fill in
        if spent.cell(row=row, column=1).value and spent.cell(row=row, column=amount).value is None:
            spent.cell(row=row, column=amount).value = 10
    wb.save(path)


def test_a_workbook_made_before_someone_elses_newer_submission_is_refused_unless_forced(tmp_path, store_url, capsys):
    first = write_grid_xlsx(tmp_path / "AFR.xlsx", sheet_rows(*minimal_unit()))
    assert main(["ingest", str(first), "--store", store_url, "--by", "tester"]) == 0  # submission 1
    ann, bo = _template(tmp_path, store_url, "Ann"), _template(tmp_path, store_url, "Bo")
    assert _unit_value(ann, "based_on_submission") == _unit_value(bo, "based_on_submission") == 1
    _edit_title(bo, "Workshops held by Bo")
    assert main(["ingest", str(bo), "--store", store_url, "--by", "bo"]) == 0  # submission 2
    _edit_title(ann, "Workshops held by Ann")
    before = _dump(store_url)
    capsys.readouterr()

    assert main(["ingest", str(ann), "--store", store_url, "--by", "ann"]) == 3
    out = capsys.readouterr().out
    assert "stale_submission" in out
    said = " ".join(out.split())
    assert "made from submission 1 (2026-Q3, by Test Officer," in said
    assert "but submission 2 (2026-Q3, by Bo," in said
    assert "Refused: nothing stored." in said and "--force-over 2" in said
    assert _dump(store_url) == before

    assert main(["ingest", str(ann), "--store", store_url, "--by", "ann", "--force-over", "1"]) == 3  # not the newest
    assert _dump(store_url) == before
    assert main(["ingest", str(ann), "--store", store_url, "--by", "ann", "--force-over", "2"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Stored over submission 2 by Bo" in out
    with Store(store_url) as st:
        subs = st.submissions("AFR").set_index("id")
        assert subs.loc[3, "forced_over"] == 2 and subs.loc[3, "based_on"] == 1
        assert st.state("AFR")["Results"]["title"].tolist()[0] == "Workshops held by Ann"
    assert main(["history", "AFR", "--store", store_url]) == 0
    assert "forced over submission 2" in " ".join(capsys.readouterr().out.split())

    # Ann corrects her workbook again: her own submission 3 holds Bo's, so nothing is stale
    _edit_title(ann, "Workshops held by Ann, corrected")
    assert main(["ingest", str(ann), "--store", store_url, "--by", "ann"]) == 0


def test_a_workbook_without_the_field_is_stored_as_before(tmp_path, store_url):
    grids = sheet_rows(*minimal_unit())
    first = write_grid_xlsx(tmp_path / "AFR.xlsx", grids)
    assert main(["ingest", str(first), "--store", store_url, "--by", "a"]) == 0
    grids["Unit"] = [r for r in grids["Unit"] if r[0] != "based_on_submission"]  # an older template
    grids["Unit"][5][1] = "Someone Else"
    grids["Results"][1][2] = "Changed title"
    old = write_grid_xlsx(tmp_path / "old.xlsx", grids)
    assert main(["ingest", str(old), "--store", store_url, "--by", "b"]) == 0


def test_a_csv_template_records_the_submission_too(tmp_path, store_url):
    first = write_grid_xlsx(tmp_path / "AFR.xlsx", sheet_rows(*minimal_unit()))
    assert main(["ingest", str(first), "--store", store_url, "--by", "a"]) == 0
    out = tmp_path / "csv"
    assert main(["template", "AFR", "--from-store", "--store", store_url, "--out", str(out), "--csv"]) == 0
    assert "based_on_submission,1" in (out / "Unit.csv").read_text(encoding="utf-8").splitlines()


def test_a_base_the_store_does_not_know_is_refused_naming_the_latest():
    rows = [{"id": 4, "quarter": "2026-Q3", "submitted_by": "Ann", "ingested_at": "2026-10-05T12:19:00Z"}]
    refusal, forced = stale_check(rows, "AFR", "Ann", based_on=9, force_over=None)
    assert forced is None and refusal is not None
    assert "not a submission of AFR in this store" in refusal and "--force-over 4" in refusal
    assert stale_check(rows, "AFR", "Ann", based_on=9, force_over=4) == (None, 4)
    assert stale_check([], "AFR", "Ann", based_on=9, force_over=None) == (None, None)
