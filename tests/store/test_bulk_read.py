"""The bureau read in a few queries (``store/bulk_read``): the same frames as unit by unit, and the
same frames from PostgreSQL as from SQLite for the same submissions, dtypes included."""

from __future__ import annotations

import pandas as pd
import pytest
from factories import minimal_unit, three_unit_config

import rbm_utils.store.database as store_mod
from rbm_utils.core.config import Authority
from rbm_utils.store.bulk_read import baseline_pick, latest_pick, picked, sheets_at
from rbm_utils.store.database import Store
from rbm_utils.store.escalation import approval_frames
from rbm_utils.store.snapshot import freeze_snapshot, snapshot_tables, table_content_sha256
from rbm_utils.store.tables import DATA_SHEETS
from rbm_utils.store.versions import sheets_as_of

CONFIG = three_unit_config(Authority(bureau_role="Deputy Director", bureau_approvers=("Nadia Rahman",)))
QUARTERS = ("2026-Q1", "2026-Q2", "2026-Q3")


def _put(st: Store, unit: str, quarter: str, frames: dict, hour: int) -> None:
    out = st.ingest(
        unit,
        quarter,
        frames,
        file_name=f"{unit}_{quarter}.xlsx",
        sha256="ab" * 32,
        submitted_by="Ada Obi",
        ingested_by="tester",
        authority=CONFIG.authority,
        received_at=pd.Timestamp(f"2026-10-01T{hour:02d}:00:00Z").to_pydatetime(),
    )
    assert out.status == "stored"


def _bureau(url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Three units: AFR approved in Q2 then changed in Q3 (a KPI target, an activity dropped, a risk
    closed); CYB approved in Q1, its Q2 change beyond its authority approved by the unit and the
    bureau, resubmitted twice in Q3 (rows replaced in place: versions are picked, not just read);
    EMT never approved."""
    monkeypatch.setattr(store_mod, "_utcnow", lambda: "2026-10-02T10:00:00Z")
    st = Store(url)
    _, afr = minimal_unit("AFR", "2026-Q2")
    _put(st, "AFR", "2026-Q2", afr, 1)
    st.approve("AFR", "2026-Q2", "Amara Diallo", CONFIG)
    for hour, (quarter, target) in enumerate((("2026-Q1", 8.0), ("2026-Q2", 20.0)), start=2):
        _, cyb = minimal_unit("CYB", quarter)
        cyb["KPIs"].loc[1, "target_value"] = target
        _put(st, "CYB", quarter, cyb, hour)
        st.approve("CYB", quarter, "Sofia Marin", CONFIG)
    st.approve("CYB", "2026-Q2", "Nadia Rahman", CONFIG)
    hour = 4
    _, afr = minimal_unit("AFR", "2026-Q3", with_decisions=True)
    afr["KPIs"].loc[0, "target_value"] = 900.0
    afr["Activities"] = afr["Activities"].iloc[:0]
    afr["Risks"] = afr["Risks"].iloc[:1]
    _put(st, "AFR", "2026-Q3", afr, hour := hour + 1)
    for target in (12.0, 40.0):
        _, cyb = minimal_unit("CYB", "2026-Q3")
        cyb["KPIs"].loc[1, "target_value"] = target
        _put(st, "CYB", "2026-Q3", cyb, hour := hour + 1)
    _, emt = minimal_unit("EMT", "2026-Q1")
    _put(st, "EMT", "2026-Q1", emt, hour + 1)
    return st


def test_sheets_at_gives_each_unit_the_frames_it_has_alone(tmp_path, monkeypatch):
    with _bureau(f"sqlite:///{tmp_path / 'rbm.sqlite'}", monkeypatch) as st, st.reading() as conn:
        for quarter in QUARTERS:
            for pick in (latest_pick(quarter), baseline_pick(quarter)):
                sids = picked(conn, pick)
                units = ["AFR", "CYB", "EMT", "ZZZ"]  # ZZZ: no submission, empty sheets
                got = sheets_at(conn, pick, [*DATA_SHEETS, "NoSuchSheet"], units)
                assert list(got) == units
                for unit in units:
                    alone = sheets_as_of(conn, unit, sids.get(unit))
                    assert list(got[unit]) == list(alone)
                    for name, frame in alone.items():
                        pd.testing.assert_frame_equal(got[unit][name], frame, check_index_type=True)
        assert picked(conn, baseline_pick("2026-Q3")) == {"AFR": 1, "CYB": 3}
        states, changes = approval_frames(conn, "2026-Q3", CONFIG.authority, "CHF")
    assert states[["unit_code", "state", "n_pending"]].values.tolist() == [
        ["AFR", "draft", 1],
        ["CYB", "draft", 1],
        ["EMT", "draft", 0],
    ]
    assert changes[["unit_code", "change_kind", "item_id", "authority"]].values.tolist() == [
        ["AFR", "target_value", "AFR-K1", "bureau"],
        ["AFR", "activity_dropped", "AFR-ACT1", "unit"],
        ["CYB", "target_value", "CYB-K2", "bureau"],
    ]


@pytest.mark.postgres
def test_postgres_reads_the_same_frames_as_sqlite(tmp_path, pg_url, monkeypatch):
    with _bureau(f"sqlite:///{tmp_path / 'rbm.sqlite'}", monkeypatch) as lite, _bureau(pg_url, monkeypatch) as pg:
        for quarter in QUARTERS:
            for units in (None, ["AFR", "EMT"], []):
                want, got = lite.bureau_state(quarter, units), pg.bureau_state(quarter, units)
                assert list(got) == list(want)
                for name in want:
                    pd.testing.assert_frame_equal(got[name], want[name], check_index_type=True)
            for a, b in zip(
                pg.approval_tables(quarter, CONFIG.authority, "CHF"),
                lite.approval_tables(quarter, CONFIG.authority, "CHF"),
                strict=True,
            ):
                pd.testing.assert_frame_equal(a, b, check_index_type=True)
        want, got = (
            snapshot_tables(lite, "2026-Q3", CONFIG.authority, "CHF"),
            snapshot_tables(pg, "2026-Q3", CONFIG.authority, "CHF"),
        )
        assert list(got) == list(want)
        for name in want:
            pd.testing.assert_frame_equal(got[name], want[name], check_index_type=True)
        assert len(want["FrameworkChanges"]) == 3 and len(want["KPIs"]) == 12
        # the freeze hashes each table's rows as made for its sort: the hash of the frame itself
        frozen = [freeze_snapshot(st, "2026-Q3", tmp_path / name, CONFIG) for name, st in (("lite", lite), ("pg", pg))]
    assert {k: v["content_sha256"] for k, v in frozen[0]["tables"].items()} == {
        k: table_content_sha256(v) for k, v in want.items()
    }
    assert frozen[0]["content_sha256"] == frozen[1]["content_sha256"]
