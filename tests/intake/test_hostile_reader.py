"""Hostile workbooks, the reader and the shape of a file (issue 18, part A).

One case per kind of break: a second row of a Unit field, hidden and very hidden sheets,
two sheets of one name, hidden columns, Excel's ``_x000D_`` escapes, numbers that are not
finite, a 1,500-step results chain, and CSV folders (separator, decimal mark, encoding, links).
Each refused case asserts its named code and that the store is unchanged (``Store.dump()``
before and after); each normalised case asserts the value stored and the warning.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rbm_utils.analytics import bureau
from rbm_utils.core.config import load_config
from rbm_utils.core.schema import conform
from rbm_utils.intake import xlsx_guard
from rbm_utils.intake.checks import find_loops
from rbm_utils.intake.validate import parse_source
from rbm_utils.intake.workbook import read_source
from rbm_utils.store.database import Store
from rbm_utils.store.ingest import ingest_file

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "bad"))
import make_fixtures as mf  # noqa: E402

CFG = load_config()
TODAY = dt.date(2026, 11, 28)


@pytest.fixture(scope="module")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile_store")
    good = folder / "AFR.xlsx"
    mf.xlsx(good, mf.base())
    db = folder / "rbm.sqlite"
    with Store(f"sqlite:///{db}") as st:
        assert ingest_file(good, st, CFG, by="pytest", today=TODAY).status == "stored"
    return db


@pytest.fixture
def store_url(base_store: Path, tmp_path: Path) -> str:
    dest = tmp_path / "rbm.sqlite"
    for suffix in ("", "-wal", "-shm"):
        src = base_store.with_name(base_store.name + suffix)
        if src.exists():
            shutil.copy(src, dest.with_name(dest.name + suffix))
    return f"sqlite:///{dest}"


@pytest.fixture(params=["calamine", "openpyxl"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each case through both cell readers: openpyxl forced by the scan's choice."""
    if request.param == "openpyxl":
        monkeypatch.setattr(xlsx_guard.Scan, "fast_reader_refusal", lambda self: "forced by the test")
    return request.param


def _refused(path: Path, url: str, code: str) -> pd.DataFrame:
    """Ingest ``path``: rejected, ``code`` among the problems, the store unchanged."""
    with Store(url) as st:
        before = st.dump()
        rep = ingest_file(path, st, CFG, by="pytest", today=TODAY)
        after = st.dump()
    assert rep.status == "rejected", rep.message
    assert code in set(rep.problems["code"]), rep.problems.to_string()
    assert before == after, "a rejected file changed the store"
    return rep.problems


def _stored(path: Path, url: str) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    with Store(url) as st:
        rep = ingest_file(path, st, CFG, by="pytest", today=TODAY)
        assert rep.status in ("stored", "unchanged"), rep.problems.to_string()  # unchanged: the same values
        return rep.problems, st.state("AFR")


def _at(problems: pd.DataFrame, code: str) -> list[str]:
    return problems.loc[problems["code"] == code, "where"].tolist()


# --------------------------------------------------------------------------- singleton sheet


def test_a_unit_field_given_twice_is_refused_naming_the_row(tmp_path: Path, store_url: str, reader: str):
    g = mf.base()
    g["Unit"].append(["reporting_quarter", "2026-Q2"])  # the last row: the second value of a field
    path = tmp_path / "AFR.xlsx"
    mf.xlsx(path, g)
    problems = _refused(path, store_url, "duplicate_unit_row")
    assert _at(problems, "duplicate_unit_row") == [f"Unit!A{len(g['Unit'])}"]
    assert f"rows 5 and {len(g['Unit'])}" in problems.loc[problems["code"] == "duplicate_unit_row", "message"].iloc[0]


def test_a_unit_field_given_twice_in_a_csv_folder_is_refused(tmp_path: Path, store_url: str):
    g = mf.base()
    g["Unit"].insert(2, ["Unit Code", "AMS"])  # the same field under another spelling, row 3
    mf.csv_folder(tmp_path / "AFR", g)
    problems = _refused(tmp_path / "AFR", store_url, "duplicate_unit_row")
    assert _at(problems, "duplicate_unit_row") == ["Unit!A3"]


# --------------------------------------------------------------------------- hidden content


def _with_twin(path: Path, twin: str, state: str = "veryHidden") -> Path:
    """The valid unit with a second KPIs sheet named ``twin`` listed first, in ``state``,
    holding a target of 4 instead of 400."""
    g = mf.base()
    plain = path.with_name("plain.xlsx")
    mf.xlsx(plain, g)
    import zipfile

    with zipfile.ZipFile(plain) as z:
        kpis = z.read(mf.sheet_part(g, "KPIs"))
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    tag = f'<sheet xmlns:r="{rel}" name="{twin}" sheetId="99" state="{state}" r:id="rId99"/>'.encode()
    ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    mf.rezip(
        plain,
        path,
        {
            "xl/workbook.xml": lambda b: b.replace(b"<sheets>", b"<sheets>" + tag),
            "xl/_rels/workbook.xml.rels": lambda b: b.replace(
                b"</Relationships>",
                f'<Relationship Type="{rel}/worksheet" Target="/xl/worksheets/sheet99.xml" Id="rId99"/>'
                "</Relationships>".encode(),
            ),
            "[Content_Types].xml": lambda b: b.replace(
                b"</Types>",
                f'<Override PartName="/xl/worksheets/sheet99.xml" ContentType="{ctype}"/></Types>'.encode(),
            ),
        },
        extra={"xl/worksheets/sheet99.xml": kpis.replace(b"<v>400</v>", b"<v>4</v>")},
    )
    assert b"<v>400</v>" in kpis
    return path


@pytest.mark.parametrize("twin", ["KPIs", "kpis"])
def test_a_very_hidden_twin_of_a_sheet_is_refused(twin: str, tmp_path: Path, store_url: str, reader: str):
    path = _with_twin(tmp_path / "AFR.xlsx", twin)
    problems = _refused(path, store_url, "hidden_sheet")
    assert "duplicate_sheet" in set(problems["code"])
    assert problems.loc[problems["code"] == "hidden_sheet", "sheet"].tolist() == [twin]
    assert "very hidden" in problems.loc[problems["code"] == "hidden_sheet", "message"].iloc[0]


def test_a_hidden_contract_sheet_is_refused(tmp_path: Path, store_url: str, reader: str):
    path = tmp_path / "AFR.xlsx"
    mf.xlsx(path, mf.base(), lambda wb: setattr(wb["Budget"], "sheet_state", "veryHidden"))
    problems = _refused(path, store_url, "hidden_sheet")
    assert _at(problems, "hidden_sheet") == ["Budget"]


def test_a_hidden_column_with_data_is_read_and_named(tmp_path: Path, store_url: str, reader: str):
    def hide(wb) -> None:
        wb["Results"].column_dimensions["C"].hidden = True  # title: holds data
        wb["Risks"].column_dimensions.group("Z", "AD", hidden=True)  # beyond the data: nothing to say

    path = tmp_path / "AFR.xlsx"
    mf.xlsx(path, mf.base(), hide)
    problems, state = _stored(path, store_url)
    assert _at(problems, "hidden_data") == ["Results!C:C"]
    hit = problems[problems["code"] == "hidden_data"].iloc[0]
    assert hit["header"] == "title" and "rows 2, 3, 4, 5, 6 and 1 more" in hit["message"]
    assert "Workshops held" in state["Results"]["title"].tolist()


# --------------------------------------------------------------------------- Excel's escapes


def test_excel_escapes_are_unescaped_once_with_a_warning(tmp_path: Path, store_url: str):
    g = mf.base()
    mf.put(g, "Risks", 2, "title", "Funding late_x000D_\nsecond line")
    mf.put(g, "Results", 2, "title", "Typed as is: _x005F_x000D_")  # Excel's escape of a typed _x000D_
    path = tmp_path / "AFR.xlsx"
    mf.xlsx(path, g)
    assert read_source(path).reader == "openpyxl"  # calamine would unescape unseen
    problems, state = _stored(path, store_url)
    assert sorted(_at(problems, "excel_escape")) == ["Results!C2", "Risks!C2"]
    assert "Funding late\r\nsecond line" in state["Risks"]["title"].tolist()
    assert "Typed as is: _x000D_" in state["Results"]["title"].tolist()


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("text", ["1e309", "-1e309", "inf", "-inf", "nan", "NaN", "Infinity"])
def test_numbers_that_are_not_finite_are_refused(text: str, tmp_path: Path, store_url: str):
    g = mf.base()
    mf.put(g, "Actuals", 2, "value", text)
    mf.put(g, "Budget", 2, "amount", text)
    path = tmp_path / "AFR.xlsx"
    mf.xlsx(path, g)
    problems = _refused(path, store_url, "not_a_number")
    assert set(_at(problems, "not_a_number")) == {"Actuals!C2", "Budget!D2"}


def test_a_number_cell_of_1e309_is_refused_by_both_readers(tmp_path: Path, store_url: str, reader: str):
    g = mf.base()
    mf.put(g, "Actuals", 2, "value", 12345.5)
    plain, path = tmp_path / "plain.xlsx", tmp_path / "AFR.xlsx"
    mf.xlsx(plain, g)
    mf.rezip(plain, path, {mf.sheet_part(g, "Actuals"): lambda b: b.replace(b"<v>12345.5</v>", b"<v>1e309</v>")})
    assert read_source(path).reader == reader
    problems = _refused(path, store_url, "not_a_number")
    assert _at(problems, "not_a_number") == ["Actuals!C2"]


# --------------------------------------------------------------------------- shape


def test_a_chain_of_1500_results_validates_and_is_analysed(tmp_path: Path):
    unit, frames = mf.minimal_unit()
    n = 1500
    chain = [
        {
            "result_id": f"AFR-X{i}",
            "level": "activity",
            "title": f"Step {i}",
            "contributes_to": f"AFR-X{i + 1}" if i < n - 1 else "AFR-O1",
            "programme": "inclusive_secure",
        }
        for i in range(n)
    ]
    frames["Results"] = pd.concat([frames["Results"], pd.DataFrame(chain)], ignore_index=True)
    path = tmp_path / "AFR.xlsx"
    mf.write_grid_xlsx(path, mf.sheet_rows(unit, frames))
    parsed = parse_source(path, CFG, today=TODAY)
    assert parsed.ok, parsed.problems_frame().to_string()
    assert len(parsed.frames["Results"]) == n + 6
    state = {k: conform(k, v.assign(unit_code="AFR"), with_unit=True) for k, v in parsed.frames.items()}
    out = bureau.analyse(state, "2026-Q3", CFG)
    assert {f"AFR-X{i}" for i in range(n)} <= set(out["nodes"]["result_id"])


def test_a_loop_closing_a_1500_step_chain_is_found():
    n = 1500
    chain = {f"R{i}": [f"R{(i + 1) % n}"] for i in range(n)}
    (loop,) = find_loops(chain)
    assert len(loop) == n + 1 and loop[0] == loop[-1] == "R0"


# --------------------------------------------------------------------------- CSV folders


def _whole(g: mf.Grids) -> mf.Grids:
    """The unit with every number whole: no number says which decimal mark is used."""
    return {s: [[round(v) if isinstance(v, float) else v for v in row] for row in grid] for s, grid in g.items()}


def test_a_semicolon_file_with_decimal_points_is_never_read_a_thousand_times(tmp_path: Path, store_url: str):
    g = _whole(mf.base())
    mf.put(g, "Budget", 2, "amount", "1.250")  # one and a quarter, as the other numbers say
    mf.put(g, "Actuals", 3, "value", "80.5")
    mf.csv_folder(tmp_path / "AFR", g, delimiter=";")
    _, state = _stored(tmp_path / "AFR", store_url)
    assert 1.25 in state["Budget"]["amount"].tolist() and 1250 not in state["Budget"]["amount"].tolist()
    assert 80.5 in state["Actuals"]["value"].tolist()


def test_a_semicolon_folder_with_decimal_commas_reads_them(tmp_path: Path, store_url: str):
    g = _whole(mf.base())
    mf.put(g, "Actuals", 3, "value", "80,5")
    mf.put(g, "Budget", 2, "amount", "100.000")  # a hundred thousand: the thousands point of the folder
    mf.csv_folder(tmp_path / "AFR", g, delimiter=";")
    _, state = _stored(tmp_path / "AFR", store_url)
    assert 80.5 in state["Actuals"]["value"].tolist()
    assert 100000 in state["Budget"]["amount"].tolist()


@pytest.mark.parametrize(
    "values,where",
    [
        ({("Actuals", 3, "value"): "80,5", ("Budget", 2, "amount"): "12.5"}, "Budget!D2"),  # both marks
        ({("Budget", 2, "amount"): "1.250"}, "Budget!D2"),  # only numbers that may be either
    ],
)
def test_an_ambiguous_decimal_mark_is_refused(values: dict, where: str, tmp_path: Path, store_url: str):
    g = _whole(mf.base())
    for (sheet, row, column), v in values.items():
        mf.put(g, sheet, row, column, v)
    mf.csv_folder(tmp_path / "AFR", g, delimiter=";")
    problems = _refused(tmp_path / "AFR", store_url, "csv_ambiguous_format")
    assert _at(problems, "csv_ambiguous_format") == [where]


def test_a_header_line_with_two_separators_is_refused(tmp_path: Path, store_url: str):
    g = mf.base()
    text = mf.csv_bytes(g["Risks"]).decode().replace(",", ";", 3)
    mf.csv_folder(tmp_path / "AFR", g, raw={"Risks.csv": text.encode()})
    problems = _refused(tmp_path / "AFR", store_url, "csv_ambiguous_format")
    assert _at(problems, "csv_ambiguous_format") == ["Risks!1:1"]


def test_a_tab_separated_utf16_folder_is_read(tmp_path: Path, store_url: str):
    """Excel's 'Unicode Text': UTF-16 with its BOM, tab-separated."""
    g = mf.base()
    mf.put(g, "KPIs", 3, "name", "Ateliers réalisés")
    mf.csv_folder(tmp_path / "AFR", g, delimiter="\t", encoding="utf-16")
    _, state = _stored(tmp_path / "AFR", store_url)
    assert "Ateliers réalisés" in state["KPIs"]["name"].tolist()
    assert 37.1 in state["KPIs"]["baseline_value"].tolist()


def test_a_latin1_file_is_refused_at_the_row_excel_shows(tmp_path: Path, store_url: str):
    g = mf.base()
    mf.put(g, "KPIs", 2, "name", "Trained\nover three\nlines")  # one row, three lines
    mf.put(g, "KPIs", 4, "name", "Taux de réussite")
    mf.csv_folder(tmp_path / "AFR", g, raw={"KPIs.csv": mf.csv_bytes(g["KPIs"], "latin-1")})
    problems = _refused(tmp_path / "AFR", store_url, "bad_encoding")
    assert _at(problems, "bad_encoding") == ["KPIs!C4"]


def test_utf16_without_bom_is_refused_naming_the_file(tmp_path: Path, store_url: str):
    g = mf.base()
    mf.csv_folder(tmp_path / "AFR", g, raw={"Risks.csv": mf.csv_bytes(g["Risks"]).decode().encode("utf-16-le")})
    problems = _refused(tmp_path / "AFR", store_url, "bad_encoding")
    assert problems.loc[problems["code"] == "bad_encoding", "file"].tolist() == ["AFR/Risks.csv"]


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="POSIX links and pipes")
@pytest.mark.parametrize("kind", ["link_outside", "link_inside", "pipe"])
def test_links_and_pipes_in_a_csv_folder_are_refused_unread(kind: str, tmp_path: Path, store_url: str):
    folder = tmp_path / "AFR"
    g = mf.base()
    mf.csv_folder(folder, g)
    secret = tmp_path / "secret.csv"
    secret.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" + mf.csv_bytes(g["KPIs"]))
    (folder / "KPIs.csv").unlink()
    if kind == "link_outside":
        (folder / "KPIs.csv").symlink_to(secret)
    elif kind == "link_inside":
        shutil.copy(secret, folder / "kpis_copy.txt")
        (folder / "KPIs.csv").symlink_to("kpis_copy.txt")
    else:
        os.mkfifo(folder / "KPIs.csv")  # reading it would block forever
    problems = _refused(folder, store_url, "unsafe_file")
    assert _at(problems, "unsafe_file") == ["KPIs"]
    assert "root:" not in problems.to_string()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX links")
def test_rbm_ingest_of_a_linked_file_exits_1_and_never_echoes_it(tmp_path: Path, store_url: str):
    folder = tmp_path / "AFR"
    mf.csv_folder(folder, mf.base())
    (folder / "KPIs.csv").unlink()
    (folder / "KPIs.csv").symlink_to("/etc/passwd")
    out = subprocess.run(
        [sys.executable, "-m", "rbm_utils.cli", "ingest", str(folder), "--store", store_url, "--by", "pytest"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 1 and "unsafe_file" in out.stdout, text[-3000:]
    assert "root:" not in text and "/bin/" not in text and "Traceback" not in text
