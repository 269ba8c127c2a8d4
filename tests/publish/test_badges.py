"""The bureau table of the units' badges: counted from the published unit folders, one row per
published unit, with the source of each row; read back typed as counted."""

from __future__ import annotations

import os

import pandas as pd

from rbm_utils.publish import badges

Q = "2026-Q3"


def _unit(qdir, code, statuses, sid=None):
    f = qdir / code
    f.mkdir(parents=True)
    pd.DataFrame({"unit_code": code, "status": statuses}).to_parquet(f / "kpi_progress.parquet")
    if sid is not None:
        pd.DataFrame(
            {"unit_code": [code], "submission_id": [sid], "submitted_by": ["Ada"], "ingested_at": ["2026-10-12"]}
        ).to_parquet(f / "provenance.parquet")
    return f


def test_one_row_per_published_unit_counted_from_its_folder(tmp_path):
    qdir = tmp_path / Q
    _unit(qdir, "AFR", ["off_track", "on_track", "on_track"], sid=7)
    _unit(qdir, "EUR", ["at_risk"])
    (qdir / "CYB").mkdir()  # a folder without a review: no row
    pd.DataFrame({"quarter": ["2026-Q2", Q], "score": [60.0, 87.5]}).to_parquet(qdir / "AFR" / "data_health.parquet")
    table = badges.bureau_badges(qdir, ["AFR", "CYB", "EUR"])
    assert list(table.columns) == list(badges.BADGE_COLUMNS)
    t = table.set_index("unit_code")
    assert list(t.index) == ["AFR", "EUR"]
    assert t.loc["AFR", ["n_kpis", "n_off_track", "n_on_track"]].tolist() == [3, 1, 2]
    assert t.loc["AFR", "data_health"] == 87.5 and pd.isna(t.loc["EUR", "data_health"])  # this quarter's row
    assert t.loc["AFR", "submission_id"] == 7 and pd.isna(t.loc["EUR", "submission_id"])
    assert t.loc["EUR", "approval"] == "draft"
    assert t.loc["AFR", "badge_source"] == badges.badge_source(qdir / "AFR")


def test_stored_badges_read_back_as_counted(tmp_path):
    qdir = tmp_path / Q
    _unit(qdir, "AFR", ["off_track", "on_track"], sid=7)
    _unit(qdir, "EUR", ["at_risk"])
    path = badges.write_bureau_badges(qdir, ["AFR", "EUR"])
    assert path == qdir / badges.BADGES_FILE
    stored = badges.stored_badges(path)
    for code in ("AFR", "EUR"):
        source, counts = stored[code]
        assert source == badges.badge_source(qdir / code)
        expected = badges.count_badges(badges.read_badge_tables(qdir / code), code, Q)
        assert counts == expected and list(counts) == list(expected)  # same keys, order, values
        assert [type(v) for v in counts.values()] == [type(v) for v in expected.values()]  # 7 stays an int


def test_another_version_of_a_table_changes_the_source(tmp_path):
    qdir = tmp_path / Q
    f = _unit(qdir, "AFR", ["on_track"])
    before = badges.badge_source(f)
    assert "red_flags:-" in before  # an absent table is part of the source too
    pd.DataFrame({"unit_code": ["AFR"], "risk_id": ["R1"]}).to_parquet(f / "red_flags.parquet")
    assert badges.badge_source(f) != before
    after = badges.badge_source(f)
    st = os.stat(f / "kpi_progress.parquet")
    os.utime(f / "kpi_progress.parquet", ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # rewritten, same size
    assert badges.badge_source(f) != after


def test_a_missing_or_foreign_table_is_empty(tmp_path):
    assert badges.stored_badges(tmp_path / badges.BADGES_FILE) == {}
    (tmp_path / "bad.parquet").write_bytes(b"not a parquet file")
    assert badges.stored_badges(tmp_path / "bad.parquet") == {}
    pd.DataFrame({"unit_code": ["AFR"], "n_kpis": [3]}).to_parquet(tmp_path / "old.parquet")
    assert badges.stored_badges(tmp_path / "old.parquet") == {}  # another form: counted from the units' tables
