"""The landing page's badges come from the overview's bureau table of them
(:mod:`rbm_utils.publish.badges`) and are the very badges counted from the units' own tables:
on a quarter published by the batch, after a unit is republished, and without the table."""

from __future__ import annotations

import json
import os
import shutil

import pandas as pd
import pytest
from test_serve import published_site

from rbm_utils.core.config import load_config
from rbm_utils.publish import badges
from rbm_utils.serve import access, data

CFG = load_config()
Q = "2026-Q3"


def _write_unit(folder, statuses, flags):
    folder.mkdir(parents=True)
    code = folder.name.removeprefix(".tmp-")
    pd.DataFrame({"unit_code": code, "status": statuses}).to_parquet(folder / "kpi_progress.parquet")
    pd.DataFrame({"unit_code": code, "risk_id": [f"R{i}" for i in range(flags)]}).to_parquet(
        folder / "red_flags.parquet"
    )
    pd.DataFrame(
        {"unit_code": [code], "quarter": [Q], "state": ["approved"], "approved_by": ["A. Director"]}
    ).to_parquet(folder / "approvals.parquet")


def _site(tmp_path):
    out = tmp_path / "outputs"
    (out / Q / "snapshot").mkdir(parents=True)
    (out / Q / "snapshot" / "manifest.json").write_text("{}")
    (out / Q / "run_report.json").write_text(
        json.dumps({"jobs": [{"name": u, "status": "ok"} for u in ("AFR", "EUR")]})
    )
    _write_unit(out / Q / "AFR", ["off_track", "on_track"], 1)
    _write_unit(out / Q / "EUR", ["at_risk"], 0)
    (out / Q / "overview").mkdir()
    badges.write_bureau_badges(out / Q, list(CFG.units))
    return out


def _counted(out, monkeypatch):
    """The badges counted from the units' tables alone (no bureau table)."""
    with monkeypatch.context() as m:
        m.setattr(badges, "stored_badges", lambda path: {})
        return data.unit_badges(out, Q, CFG)


def _units_read(monkeypatch):
    """The unit folders :func:`data.unit_badges` opens, recorded."""
    read: list[str] = []
    real = data.read_folder_tables

    def spy(folder, stems):
        read.append(folder.name)
        return real(folder, stems)

    monkeypatch.setattr(data, "read_folder_tables", spy)
    return read


def test_a_current_table_is_read_instead_of_the_units_tables(tmp_path, monkeypatch):
    out = _site(tmp_path)
    expected = _counted(out, monkeypatch)
    read = _units_read(monkeypatch)
    got = data.unit_badges(out, Q, CFG)
    assert read == []
    pd.testing.assert_frame_equal(got, expected)
    b = got.set_index("unit_code")
    assert b.loc["AFR", ["n_kpis", "n_off_track", "red_flags", "approval"]].tolist() == [2, 1, 1, "approved"]


def test_a_unit_republished_after_the_table_is_counted_from_its_new_tables(tmp_path, monkeypatch):
    out = _site(tmp_path)
    # AFR's review published again (its folder replaced whole, as the batch does); the table is not rewritten
    _write_unit(out / Q / ".tmp-AFR", ["on_track"] * 4, 3)
    os.rename(out / Q / "AFR", out / Q / ".old-AFR")
    os.rename(out / Q / ".tmp-AFR", out / Q / "AFR")
    read = _units_read(monkeypatch)
    got = data.unit_badges(out, Q, CFG)
    assert read == ["AFR"]  # EUR still from the table
    b = got.set_index("unit_code")
    assert b.loc["AFR", ["n_kpis", "n_on_track", "n_off_track", "red_flags"]].tolist() == [4, 4, 0, 3]
    monkeypatch.undo()
    pd.testing.assert_frame_equal(got, _counted(out, monkeypatch))


def test_without_the_table_every_unit_is_counted_from_its_tables(tmp_path, monkeypatch):
    out = _site(tmp_path)
    expected = _counted(out, monkeypatch)
    (out / Q / badges.BADGES_FILE).unlink()  # a quarter published before the table existed
    read = _units_read(monkeypatch)
    pd.testing.assert_frame_equal(data.unit_badges(out, Q, CFG), expected)
    assert sorted(read) == ["AFR", "EUR"]
    (out / Q / badges.BADGES_FILE).write_bytes(b"torn")  # unreadable: the same
    pd.testing.assert_frame_equal(data.unit_badges(out, Q, CFG), expected)


def test_a_unit_the_reader_may_not_see_stays_out(tmp_path, monkeypatch):
    out = _site(tmp_path)
    monkeypatch.setenv(access.VISIBLE_ENV, access.to_env(access.Visible({Q: ("AFR",)}, ())))  # EUR's draft: not hers
    b = data.unit_badges(out, Q, CFG).set_index("unit_code")
    assert b.loc["AFR", "n_kpis"] == 2
    assert b.loc["EUR", ["n_kpis", "n_at_risk", "approval"]].tolist() == [0, 0, ""]  # the table's row is not shown
    shutil.rmtree(out / Q / "AFR")  # no longer published: nor is its row
    monkeypatch.delenv(access.VISIBLE_ENV)
    b = data.unit_badges(out, Q, CFG).set_index("unit_code")
    assert b.loc["AFR", "n_kpis"] == 0 and b.loc["EUR", "n_kpis"] == 1


@pytest.fixture(scope="module")
def site(sample_bureau, tmp_path_factory):
    return published_site(sample_bureau, tmp_path_factory)


@pytest.mark.slow
def test_the_batchs_table_gives_the_badges_counted_from_the_units_tables(site, monkeypatch):
    out, q = site["outputs"], site["quarter"]
    assert (out / q / badges.BADGES_FILE).is_file()  # written by the batch
    expected = _counted(out, monkeypatch)
    read = _units_read(monkeypatch)
    got = data.unit_badges(out, q, CFG)
    assert read == []  # every published unit from the table
    pd.testing.assert_frame_equal(got, expected)
    assert (got["n_kpis"] > 0).sum() == len(data.published_units(out, q, CFG))
