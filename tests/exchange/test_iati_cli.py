"""``rbm export iati`` and ``rbm import iati`` end to end: the round trip through the store and
the benchmarks folder, the sample bureau's quarter, and refusals without a traceback."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from factories import minimal_unit, sheet_rows, write_grid_xlsx
from test_iati_export import assert_round_trip

from rbm_utils.cli import main
from rbm_utils.exchange.iati_export import xsd_errors
from rbm_utils.intake.iati import read_iati
from rbm_utils.present.benchmarks import benchmark_table, load_benchmarks
from rbm_utils.store.database import Store

EXAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "iati" / "activity-standard-example-annotated.xml"
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<iati-activities version="2.03"><iati-activity><iati-identifier>&lol1;</iati-identifier></iati-activity></iati-activities>
"""


@pytest.fixture()
def afr_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    unit, frames = minimal_unit()
    path = write_grid_xlsx(tmp_path / "AFR.xlsx", sheet_rows(unit, frames))
    assert main(["ingest", str(path), "--store", url, "--by", "tester"]) == 0
    return url


def test_export_then_import_through_the_commands(tmp_path, afr_store, capsys):
    out = tmp_path / "bdt.xml"
    args = ["export", "iati", "--quarter", "2026-Q3", "--unit", "AFR", "--out", str(out)]
    assert main([*args, "--store", afr_store, "--outputs", str(tmp_path / "outputs")]) == 0
    said = capsys.readouterr().out
    assert "1 activities" in said and "not frozen yet" in said and "valid against the IATI schema" in said
    assert xsd_errors(out.read_bytes()) == []
    bench = tmp_path / "bench"
    assert main(["import", "iati", str(out), "--theme", "cybersecurity", "--name", "own", "--folder", str(bench)]) == 0
    assert "4 indicators of 1 activities" in capsys.readouterr().out
    kept = pd.read_parquet(bench / "own.parquet")
    with Store(afr_store) as st:
        state = st.bureau_state("2026-Q3")
    assert_round_trip(state, kept)
    shown = benchmark_table(load_benchmarks(bench), pd.DataFrame())
    assert len(shown) == 4 and set(shown["theme"]) == {"cybersecurity"}


def test_export_needs_units_and_a_format(tmp_path, afr_store, capsys):
    assert main(["export", "iati", "--out", str(tmp_path / "x.xml"), "--store", afr_store]) == 2
    assert "--unit U ... or give --all" in capsys.readouterr().err
    assert main(["export"]) == 2
    assert main(["export", "iati", "--unit", "CYB", "--out", str(tmp_path / "x.xml"), "--store", afr_store]) == 1
    assert "no KPIs of CYB" in capsys.readouterr().err


def test_hostile_or_broken_imports_fail_with_one_line(tmp_path, capsys):
    bad = tmp_path / "lol.xml"
    bad.write_bytes(BILLION_LAUGHS)
    assert main(["import", "iati", str(bad), "--folder", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "lol.xml: refused" in err
    assert not (tmp_path / "b").exists()


def test_the_iati_example_imports_as_a_benchmark(tmp_path, capsys):
    assert main(["import", "iati", str(EXAMPLE), "--theme", "broadband", "--folder", str(tmp_path)]) == 0
    kept = pd.read_parquet(tmp_path / "activity-standard-example-annotated.parquet")
    assert kept["indicator"].tolist() == ["Indicator title"] and kept["actual"].tolist() == [11.0]


@pytest.mark.slow
def test_the_sample_quarter_exports_valid_and_comes_back(tmp_path, sample_bureau, capsys):
    out = tmp_path / "bdt.xml"
    q = sample_bureau["quarter"]
    args = ["export", "iati", "--quarter", q, "--all", "--out", str(out), "--store", sample_bureau["store_url"]]
    assert main([*args, "--outputs", str(tmp_path / "outputs")]) == 0
    data = out.read_bytes()
    assert xsd_errors(data) == []
    with Store(sample_bureau["store_url"]) as st:
        state = st.bureau_state(q)
    assert_round_trip(state, read_iati(data).table, q)


def test_a_frozen_quarter_is_exported_from_its_snapshot(tmp_path, afr_store, capsys):
    from rbm_utils.core.config import load_config
    from rbm_utils.store.snapshot import freeze_snapshot

    outputs = tmp_path / "outputs"
    with Store(afr_store) as st:
        freeze_snapshot(st, "2026-Q3", outputs, load_config())
    live, frozen = tmp_path / "live.xml", tmp_path / "frozen.xml"
    base = ["export", "iati", "--quarter", "2026-Q3", "--all", "--store", afr_store]
    assert main([*base, "--out", str(live), "--outputs", str(tmp_path / "none")]) == 0
    assert main([*base, "--out", str(frozen), "--outputs", str(outputs)]) == 0
    assert "from the frozen snapshot" in capsys.readouterr().out
    assert frozen.read_bytes() == live.read_bytes()  # the same quarter, the same file
