"""Tests for rbm_utils.store.snapshot: freezing the bureau state to parquet + manifest, and reading it back."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from factories import minimal_unit
from filelock import FileLock

from rbm_utils.core import schema
from rbm_utils.core.config import load_config
from rbm_utils.core.quarters import Quarter
from rbm_utils.store import snapshot
from rbm_utils.store.snapshot import (
    PREVIOUS_PREFIX,
    PublishedError,
    SnapshotError,
    SnapshotTables,
    freeze_snapshot,
    load_snapshot,
    read_manifest,
    table_content_sha256,
)

QUARTER = "2026-Q3"
SUBMISSION_IDS = {"AFR": 7, "CYB": 12}


class FakeStore:
    """Duck-typed store: bureau_state() built from factories.minimal_unit for each unit."""

    def __init__(self, units=("AFR", "CYB"), reverse_rows: bool = False, edit=None) -> None:
        self.units = list(units)
        self.reverse_rows = reverse_rows
        self.edit = edit  # callable(dict[str, DataFrame]) -> None, applied to the built frames
        self.calls = 0

    def bureau_state(self, quarter: Quarter | str) -> dict[str, pd.DataFrame]:
        self.asked = quarter
        quarter = str(quarter)
        self.calls += 1
        out: dict[str, pd.DataFrame] = {}
        per_unit = {u: minimal_unit(u, quarter)[1] for u in self.units}
        for sh in schema.DATA_SHEETS:
            parts = [
                schema.conform(
                    sh.name, per_unit[u].get(sh.name, schema.empty_frame(sh.name)).assign(unit_code=u), with_unit=True
                )
                for u in self.units
            ]
            df = pd.concat(parts, ignore_index=True) if parts else schema.empty_frame(sh.name, with_unit=True)
            if self.reverse_rows:
                df = df.iloc[::-1].reset_index(drop=True)
            out[sh.name] = df
        out["Unit"] = pd.DataFrame(
            {
                "unit_code": self.units,
                "quarter": [quarter] * len(self.units),
                "submission_id": pd.array([SUBMISSION_IDS[u] for u in self.units], dtype="Int64"),
                "submitted_by": ["Test Officer"] * len(self.units),
            }
        )
        if self.edit is not None:
            self.edit(out)
        return out


@pytest.fixture(scope="module")
def config():
    return load_config()


def _file_state(folder: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime_ns of every file under folder, by relative path."""
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_freeze_writes_every_table_and_a_manifest(tmp_path, config):
    manifest = freeze_snapshot(FakeStore(), QUARTER, tmp_path, config)
    snap = tmp_path / QUARTER / "snapshot"
    expected_tables = {s.name for s in schema.DATA_SHEETS} | {"Unit", "Approvals", "FrameworkChanges"}
    assert set(manifest["tables"]) == expected_tables
    assert sorted(p.name for p in snap.iterdir()) == sorted(
        [f"{t}.parquet" for t in expected_tables] + ["manifest.json"]
    )
    # minimal_unit: 6 results, 4 KPIs, 6 actuals, 2 assumptions, 2 expenditure lines per unit; two units
    rows = {t: e["rows"] for t, e in manifest["tables"].items()}
    assert rows["Results"] == 12 and rows["KPIs"] == 8 and rows["Actuals"] == 12
    assert rows["Assumptions"] == 4 and rows["Expenditure"] == 4 and rows["Unit"] == 2
    for entry in manifest["tables"].values():
        assert entry["sha256"] == hashlib.sha256((snap / entry["file"]).read_bytes()).hexdigest()
    assert manifest["quarter"] == QUARTER
    assert manifest["schema_version"] == schema.SCHEMA_VERSION
    assert manifest["created_at"].endswith("Z")
    assert manifest["submissions"] == [
        {"unit_code": "AFR", "submission_id": 7, "quarter": QUARTER},
        {"unit_code": "CYB", "submission_id": 12, "quarter": QUARTER},
    ]
    assert json.loads((snap / "manifest.json").read_text()) == manifest
    assert not [p for p in (tmp_path / QUARTER).iterdir() if p.name.startswith(".snapshot-tmp")]


def test_parquet_rows_are_sorted_by_unit_and_key(tmp_path, config):
    freeze_snapshot(FakeStore(units=("CYB", "AFR"), reverse_rows=True), QUARTER, tmp_path, config)
    actuals = pq.read_table(tmp_path / QUARTER / "snapshot" / "Actuals.parquet").to_pandas()
    assert list(actuals.columns) == ["unit_code", *schema.sheet("Actuals").column_names]
    keys = list(zip(actuals["unit_code"], actuals["kpi_id"], actuals["period"]))
    assert keys == sorted(keys)
    assert keys[0] == ("AFR", "AFR-K1", "2026-Q1") and keys[-1] == ("CYB", "CYB-K4", "2026-Q3")


def test_freeze_twice_same_content_leaves_files_untouched(tmp_path, config):
    first = freeze_snapshot(FakeStore(), QUARTER, tmp_path, config)
    snap = tmp_path / QUARTER / "snapshot"
    before = _file_state(snap)
    # same content, rows and units delivered in another order
    second = freeze_snapshot(FakeStore(units=("CYB", "AFR"), reverse_rows=True), QUARTER, tmp_path, config)
    assert second["content_sha256"] == first["content_sha256"]
    assert second["created_at"] == first["created_at"]  # the existing manifest is returned
    assert _file_state(snap) == before
    assert not (tmp_path / QUARTER / "archive").exists()


def test_parquet_bytes_are_deterministic(tmp_path, config):
    a = freeze_snapshot(FakeStore(), QUARTER, tmp_path / "a", config)
    b = freeze_snapshot(FakeStore(reverse_rows=True), QUARTER, tmp_path / "b", config)
    assert {t: e["sha256"] for t, e in a["tables"].items()} == {t: e["sha256"] for t, e in b["tables"].items()}


def _bump_first_actual(frames):
    df = frames["Actuals"].copy()
    df.loc[0, "value"] = df.loc[0, "value"] + 1
    frames["Actuals"] = df


def test_changed_store_refused_without_force(tmp_path, config):
    first = freeze_snapshot(FakeStore(), QUARTER, tmp_path, config)
    snap = tmp_path / QUARTER / "snapshot"
    before = _file_state(snap)
    with pytest.raises(PublishedError, match=r"2026-Q3 is already published.*--force"):
        freeze_snapshot(FakeStore(edit=_bump_first_actual), QUARTER, tmp_path, config)
    assert _file_state(snap) == before
    assert read_manifest(snap)["content_sha256"] == first["content_sha256"]


def test_changed_store_with_force_archives_the_old_snapshot(tmp_path, config):
    first = freeze_snapshot(FakeStore(), QUARTER, tmp_path, config)
    old_state = _file_state(tmp_path / QUARTER / "snapshot")
    second = freeze_snapshot(FakeStore(edit=_bump_first_actual), QUARTER, tmp_path, config, force=True)
    assert second["content_sha256"] != first["content_sha256"]
    # only the changed table's content hash moved
    changed = [
        t for t in first["tables"] if first["tables"][t]["content_sha256"] != second["tables"][t]["content_sha256"]
    ]
    assert changed == ["Actuals"]
    archives = list((tmp_path / QUARTER / "archive").iterdir())
    assert len(archives) == 1
    archived = archives[0] / "snapshot"
    assert {k: v[0] for k, v in _file_state(archived).items()} == {k: v[0] for k, v in old_state.items()}
    assert read_manifest(archived)["content_sha256"] == first["content_sha256"]
    assert read_manifest(tmp_path / QUARTER / "snapshot")["content_sha256"] == second["content_sha256"]
    frames = load_snapshot(tmp_path / QUARTER / "snapshot")
    assert frames["Actuals"].loc[0, "value"] == 81.0  # AFR-K1 2026-Q1 was 80


def test_load_snapshot_round_trip(tmp_path, config):
    store = FakeStore()
    freeze_snapshot(store, QUARTER, tmp_path, config)
    frames = load_snapshot(tmp_path / QUARTER / "snapshot")
    assert set(frames) == {s.name for s in schema.DATA_SHEETS} | {"Unit", "Approvals", "FrameworkChanges"}
    state = store.bureau_state(QUARTER)
    for sh in schema.DATA_SHEETS:
        got = frames[sh.name]
        assert list(got.columns) == ["unit_code", *sh.column_names]
        assert len(got) == len(state[sh.name])
        assert table_content_sha256(got) == table_content_sha256(
            state[sh.name].sort_values(["unit_code", *sh.key]).reset_index(drop=True)
        )
    assert frames["Budget"]["year"].dtype == "Int64"
    assert frames["KPIs"]["target_value"].dtype == "float64"
    risks = frames["Risks"]
    assert risks["likelihood"].tolist() == [4, 4] and risks["unit_code"].tolist() == ["AFR", "CYB"]
    assert frames["Unit"]["submission_id"].tolist() == [7, 12]
    assert frames["Actuals"]["comment"].tolist() == [None] * 12


def test_a_store_without_approvals_freezes_empty_authority_tables(tmp_path, config):
    freeze_snapshot(FakeStore(), QUARTER, tmp_path, config)
    frames = load_snapshot(tmp_path / QUARTER / "snapshot")
    assert list(frames["Approvals"].columns) == snapshot.AUTHORITY_TABLES["Approvals"] and frames["Approvals"].empty
    changes = frames["FrameworkChanges"]
    assert list(changes.columns) == snapshot.AUTHORITY_TABLES["FrameworkChanges"] and changes.empty
    assert changes["amount"].dtype == "float64" and frames["Approvals"]["n_pending"].dtype == "int64"


def test_load_snapshot_detects_a_tampered_parquet(tmp_path, config):
    freeze_snapshot(FakeStore(), QUARTER, tmp_path, config)
    snap = tmp_path / QUARTER / "snapshot"
    path = snap / "Actuals.parquet"
    df = pq.read_table(path).to_pandas()
    df.loc[0, "value"] = 9999.0  # a valid parquet file with one number changed
    df.to_parquet(path, index=False)
    with pytest.raises(SnapshotError, match="Actuals.parquet does not match its manifest"):
        load_snapshot(snap)


def test_snapshot_tables_read_each_table_when_asked_for_and_check_it_then(tmp_path, config):
    freeze_snapshot(FakeStore(), QUARTER, tmp_path, config)
    snap = tmp_path / QUARTER / "snapshot"
    eager = load_snapshot(snap)
    path = snap / "Actuals.parquet"
    df = pq.read_table(path).to_pandas()
    df.loc[0, "value"] = 9999.0
    df.to_parquet(path, index=False)
    lazy = SnapshotTables(snap)
    assert list(lazy) == list(eager)  # every table listed, none read yet
    pd.testing.assert_frame_equal(lazy["Risks"], eager["Risks"])  # an untouched table reads as before
    assert lazy["Risks"] is lazy["Risks"]  # read once
    with pytest.raises(SnapshotError, match="Actuals.parquet does not match its manifest"):
        lazy["Actuals"]  # the altered one is refused when it is asked for


def test_snapshot_tables_without_the_previous_quarter(tmp_path, config):
    freeze_snapshot(FakeStore(), QUARTER, tmp_path, config)
    snap = tmp_path / QUARTER / "snapshot"
    manifest = read_manifest(snap)  # the previous quarter's KPIs: the same file under its name
    (snap / f"{PREVIOUS_PREFIX}KPIs.parquet").write_bytes((snap / "KPIs.parquet").read_bytes())
    manifest["tables"][f"{PREVIOUS_PREFIX}KPIs"] = {
        **manifest["tables"]["KPIs"],
        "file": f"{PREVIOUS_PREFIX}KPIs.parquet",
    }
    (snap / snapshot.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    current = SnapshotTables(snap, previous=False)
    assert set(current) == set(manifest["tables"]) - {f"{PREVIOUS_PREFIX}KPIs"}
    everything = SnapshotTables(snap)
    assert set(everything) == set(manifest["tables"])
    pd.testing.assert_frame_equal(everything[f"{PREVIOUS_PREFIX}KPIs"], current["KPIs"])


def test_load_snapshot_detects_a_missing_file_and_missing_manifest(tmp_path, config):
    freeze_snapshot(FakeStore(), QUARTER, tmp_path, config)
    snap = tmp_path / QUARTER / "snapshot"
    (snap / "Risks.parquet").unlink()
    with pytest.raises(SnapshotError, match="missing"):
        load_snapshot(snap)
    with pytest.raises(SnapshotError, match="no snapshot manifest"):
        load_snapshot(tmp_path / "nowhere")


def test_empty_store_freezes_empty_tables(tmp_path, config):
    manifest = freeze_snapshot(FakeStore(units=()), QUARTER, tmp_path, config)
    assert all(e["rows"] == 0 for e in manifest["tables"].values())
    assert manifest["submissions"] == []
    frames = load_snapshot(tmp_path / QUARTER / "snapshot")
    assert list(frames["KPIs"].columns) == ["unit_code", *schema.sheet("KPIs").column_names]


def test_a_quarter_object_freezes_the_same_snapshot(tmp_path, config):
    store = FakeStore()
    by_text = freeze_snapshot(store, QUARTER, tmp_path / "a", config)
    assert store.asked == Quarter(2026, 3)  # the text parsed once, the store asked with the type
    by_type = freeze_snapshot(FakeStore(), Quarter.parse(QUARTER), tmp_path / "b", config)
    assert by_type["content_sha256"] == by_text["content_sha256"] and by_type["quarter"] == QUARTER
    assert (tmp_path / "b" / QUARTER / "snapshot" / "manifest.json").is_file()


def test_a_freeze_waits_for_the_quarter_lock_and_gives_up_with_a_message(tmp_path, config, monkeypatch):
    monkeypatch.setattr(snapshot, "_LOCK_WAIT_S", 0.2)
    lock_dir = tmp_path / QUARTER / ".locks"
    lock_dir.mkdir(parents=True)
    with FileLock(lock_dir / "snapshot.lock"):  # another process freezing the quarter
        with pytest.raises(SnapshotError, match=f"another process is freezing {QUARTER}; try again later"):
            freeze_snapshot(FakeStore(), QUARTER, tmp_path, config)
    assert not (tmp_path / QUARTER / "snapshot").exists()
    assert freeze_snapshot(FakeStore(), QUARTER, tmp_path, config)["quarter"] == QUARTER  # free again


@pytest.mark.parametrize("quarter", ["2026-Q5", "../2026-Q3", "2026Q3", "", " 2026-Q3"])
def test_bad_quarter_is_refused_before_any_write(tmp_path, config, quarter):
    store = FakeStore()
    with pytest.raises(ValueError, match="not a quarter"):
        freeze_snapshot(store, quarter, tmp_path, config)
    assert store.calls == 0
    assert list(tmp_path.iterdir()) == []


def test_unknown_table_name_is_refused(tmp_path, config):
    def add_bad(frames):
        frames["../evil"] = pd.DataFrame({"unit_code": ["AFR"]})

    with pytest.raises(ValueError, match="not a valid table name"):
        freeze_snapshot(FakeStore(edit=add_bad), QUARTER, tmp_path, config)
    assert not (tmp_path / QUARTER / "snapshot").exists()


def test_the_snapshot_freezes_when_each_unit_s_workbooks_arrived(store_url, tmp_path, config):
    """On SQLite and PostgreSQL: a unit sends 2026-Q3 on 12 October and a correction on 27
    October; the frozen Unit table keeps both times, and they come back as frozen."""
    import datetime as dt

    from rbm_utils.store.database import Store

    _, frames = minimal_unit()
    kw = dict(file_name="AFR.xlsx", sha256="0" * 64, submitted_by="Ada", ingested_by="tester")
    with Store(store_url) as st:
        st.ingest("AFR", QUARTER, frames, received_at=dt.datetime(2026, 10, 12, 9, 30, tzinfo=dt.UTC), **kw)
        fixed = dict(frames, Risks=frames["Risks"].iloc[:0])
        st.ingest("AFR", QUARTER, fixed, received_at=dt.datetime(2026, 10, 27, 15, 0, tzinfo=dt.UTC), **kw)
        freeze_snapshot(st, QUARTER, tmp_path, config)
    unit = load_snapshot(tmp_path / QUARTER / "snapshot")["Unit"]
    assert unit[["unit_code", "first_received_at", "ingested_at"]].values.tolist() == [
        ["AFR", "2026-10-12T09:30:00Z", "2026-10-27T15:00:00Z"]
    ]
