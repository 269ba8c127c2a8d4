"""Tests of the versioned store, on SQLite and PostgreSQL (``store_url`` is parametrised)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time

import pandas as pd
import pytest
import sqlalchemy as sa
from factories import three_unit_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import rbm_utils.store.database as store_mod
from rbm_utils.core import schema
from rbm_utils.core.errors import problem
from rbm_utils.core.quarters import Quarter
from rbm_utils.store.database import ApprovalError, Store, StoreError
from rbm_utils.store.engine import SQLITE_BUSY_TIMEOUT_MS
from rbm_utils.store.tables import TABLES

APPROVED_AT = "2026-10-03T14:02:11Z"
#: The Unit frame's columns that say which submission a state rests on (the times follow).
WHO = ["unit_code", "quarter", "submission_id", "submitted_by"]
LOCK_MSG = "AFR 2026-Q2 was approved by Amara Diallo on 2026-10-03 14:02 UTC; changes to it are refused"

CONFIG = three_unit_config(cyb_heads=("Sofia Marin", "Ola Nordmann"))

RESULTS = [
    {"result_id": "AFR-O1", "level": "output", "title": "Regulators trained", "contributes_to": "AFR-I1"},
    {"result_id": "AFR-I1", "level": "impact", "title": "Better regulation"},
]
KPI_COMMON = {
    "measure": "number",
    "direction": "increase",
    "baseline_period": "2025-Q4",
    "target_period": "2027-Q4",
    "data_source": "Attendance lists",
    "responsible": "M&E officer",
}
KPIS = [
    {
        "kpi_id": "K1",
        "result_id": "AFR-O1",
        "name": "Regulators trained",
        "aggregation": "sum",
        "baseline_value": 0,
        "target_value": 100,
        **KPI_COMMON,
    },
    {
        "kpi_id": "K2",
        "result_id": "AFR-I1",
        "name": "Countries with updated regulation",
        "aggregation": "latest",
        "baseline_value": 20,
        "target_value": 60,
        **KPI_COMMON,
    },
]
Q2_ACTUALS = [("K1", "2026-Q2", 10.0), ("K2", "2026-Q2", 25.0)]
RISK = {
    "risk_id": "R1",
    "category": "Financial",
    "title": "Donor delay",
    "likelihood": 4,
    "impact": 5,
    "owner": "Head of office",
    "status": "open",
}


def actuals(rows, **extra) -> pd.DataFrame:
    return schema.conform(
        "Actuals",
        pd.DataFrame([{"kpi_id": k, "period": p, "value": v, "disaggregation": "", **extra} for k, p, v in rows]),
    )


def unit_frames(actual_rows=Q2_ACTUALS, results=RESULTS, kpis=KPIS, **sheets) -> dict[str, pd.DataFrame]:
    """A tiny unit: 2 results, 2 KPIs, its actuals; extra sheets as lists of dicts."""
    out = {
        "Results": schema.conform("Results", pd.DataFrame(results)),
        "KPIs": schema.conform("KPIs", pd.DataFrame(kpis)),
        "Actuals": actuals(actual_rows),
    }
    for name, rows in sheets.items():
        out[name] = schema.conform(name, pd.DataFrame(rows))
    return out


def put(st: Store, frames, quarter="2026-Q2", unit="AFR", **kw):
    args = {"file_name": f"{unit}.xlsx", "sha256": "ab" * 32, "submitted_by": "Ada Obi", "ingested_by": "tester"}
    return st.ingest(unit, quarter, frames, **{**args, **kw})


@pytest.fixture
def st(store_url):
    with Store(store_url) as s:
        yield s


def changes_of(outcome) -> list[tuple]:
    return [tuple(r) for r in outcome.changes.itertuples(index=False, name=None)]


def current_keys(st: Store, sheet: str) -> list[tuple]:
    """Keys of current row versions in a sheet's table, straight from the database."""
    sh = schema.sheet(sheet)
    t = TABLES[sh.table_name]
    with st._engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(sa.select(t.c.unit_code, *[t.c[k] for k in sh.key]).where(t.c.sub_to.is_(None)))
        ]


# --------------------------------------------------------------------------- opening


def test_open_creates_tables_once_and_records_schema_version(store_url):
    with Store(store_url) as st:
        assert st.meta()["schema_version"] == schema.SCHEMA_VERSION
        first = st.dump()
    expected = {s.table_name for s in schema.DATA_SHEETS} | {
        "submissions",
        "submission_problems",
        "change_log",
        "approvals",
        "bureau_approvals",
        "meta",
        "users",
    }
    assert set(first) == expected
    assert all(rows == [] for name, rows in first.items() if name != "meta")
    with Store(store_url) as again:  # idempotent: nothing recreated, nothing added
        assert again.dump() == first
        cols = [c["name"] for c in sa.inspect(again._engine).get_columns("sheet_actuals")]
        assert cols == ["row_id", "unit_code", *schema.sheet("Actuals").column_names, "sub_from", "sub_to"]
        assert again.units() == [] and again.latest_quarter("AFR") is None


def test_sqlite_store_creates_folder_and_uses_wal_and_foreign_keys(tmp_path):
    path = tmp_path / "new" / "deeper" / "rbm.sqlite"
    with Store(f"sqlite:///{path}") as st:
        assert path.exists()
        with st._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_store_of_a_newer_schema_is_refused(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    Store(url).close()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", "0.9")
    with pytest.raises(StoreError, match="schema version 1.0.*reads version 0.9; use a newer workbench"):
        Store(url)


def test_older_store_gains_new_columns_and_keeps_its_rows(store_url, monkeypatch):
    """A store written before a column existed: the column is added (a text key defaults to ""),
    old rows keep their values, the version is raised, and the store reads and ingests as usual."""
    money = unit_frames(
        Expenditure=[{"result_id": "AFR-O1", "period": "2026-Q3", "funding_source": "RB", "amount": 120}]
    )
    with Store(store_url) as st:
        put(st, money, quarter="2026-Q3")
        with st._engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE sheet_expenditure DROP COLUMN funding_source")
            conn.exec_driver_sql("ALTER TABLE sheet_expenditure DROP COLUMN staff_months")
            conn.exec_driver_sql("UPDATE meta SET value = '0.9' WHERE key = 'schema_version'")
    with Store(store_url) as st:
        assert st.meta()["schema_version"] == schema.SCHEMA_VERSION
        spent = st.state("AFR")["Expenditure"]
        assert spent["funding_source"].tolist() == [""] and spent["amount"].tolist() == [120.0]
        assert spent["staff_months"].isna().all()
        out = put(st, money, quarter="2026-Q3", sha256="cd" * 32)
        assert out.status == "stored"  # the blank key became the submitted one: a change, not an error
        assert st.state("AFR")["Expenditure"]["funding_source"].tolist() == ["RB"]


def test_bad_urls_give_plain_store_errors(tmp_path):
    with pytest.raises(StoreError, match="not a valid store URL"):
        Store("no url at all")
    with pytest.raises(StoreError, match="unsupported store"):
        Store("mysql://rbm@localhost/rbm")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StoreError, match="cannot create the folder"):
        Store(f"sqlite:///{tmp_path / 'afile' / 'rbm.sqlite'}")
    with pytest.raises(StoreError) as info:  # nothing listens on port 1
        Store("postgresql+psycopg://rbm:secret@127.0.0.1:1/rbm")
    msg = str(info.value)
    assert msg.startswith("the store postgresql+psycopg://rbm:***@127.0.0.1:1/rbm could not be opened: ")
    assert "secret" not in msg and "Traceback" not in msg and "\n" not in msg


# --------------------------------------------------------------------------- ingest and history


def test_history_after_two_ingests(st):
    first = put(st, unit_frames())
    second = put(st, unit_frames([("K1", "2026-Q3", 15.0)]), quarter="2026-Q3", submitted_by="Bo Lee")
    assert (first.status, second.status) == ("stored", "stored")
    subs, changes = st.history("AFR")
    assert list(subs["id"]) == [first.submission_id, second.submission_id]
    assert list(subs["quarter"]) == ["2026-Q2", "2026-Q3"]
    assert list(subs["submitted_by"]) == ["Ada Obi", "Bo Lee"]
    assert list(subs["sha256"]) == ["ab" * 32] * 2
    # first: Results 4 + 3 non-null fields, KPIs 12 + 12, Actuals 2 rows x 4 (kpi, period, value, "" total)
    # second: one Actuals row added (4 fields)
    assert list(subs["n_changes"]) == [39, 4]
    assert len(changes) == 43
    assert changes["submission_id"].tolist() == [first.submission_id] * 39 + [second.submission_id] * 4
    assert {"submitted_by", "ingested_at", "sha256", "file_name"} <= set(changes.columns)
    last = changes[changes["submission_id"] == second.submission_id]
    assert [tuple(r) for r in last[["sheet", "key", "field", "old", "new"]].itertuples(index=False)] == [
        ("Actuals", '["K1", "2026-Q3", ""]', "kpi_id", None, '"K1"'),
        ("Actuals", '["K1", "2026-Q3", ""]', "period", None, '"2026-Q3"'),
        ("Actuals", '["K1", "2026-Q3", ""]', "value", None, "15.0"),
        ("Actuals", '["K1", "2026-Q3", ""]', "disaggregation", None, '""'),
    ]
    counts = second.counts.set_index("sheet")
    assert list(counts.index) == [s.name for s in schema.DATA_SHEETS]
    assert counts.loc["Actuals"].tolist() == [1, 0, 0] and int(counts[["added", "changed", "removed"]].sum().sum()) == 1
    assert st.units() == ["AFR"] and st.latest_quarter("AFR") == "2026-Q3"
    assert st.history("CYB")[0].empty and st.history("CYB")[1].empty


def test_identical_reingest_is_unchanged_and_writes_nothing(st):
    first = put(st, unit_frames())
    before = st.dump()
    again = put(st, unit_frames(), sha256="cd" * 32)
    assert again.status == "unchanged"
    assert again.submission_id == first.submission_id
    assert again.changes.empty and "nothing stored" in again.message
    assert st.dump() == before
    # Row order, a 1e-12 relative wobble and "" for a blank text cell are no change either.
    frames = unit_frames([("K2", "2026-Q2", 25.0), ("K1", "2026-Q2", 10.0 * (1 + 1e-12))])
    frames["Actuals"]["comment"] = ""
    frames["Results"] = frames["Results"].iloc[::-1]
    assert put(st, frames).status == "unchanged"
    assert st.dump() == before


def test_changed_values_give_exact_change_log_rows(st):
    first = put(st, unit_frames())
    kpis = [dict(KPIS[0]), dict(KPIS[1], name="Countries with modern regulation")]
    frames = unit_frames([("K1", "2026-Q2", 12.5), ("K2", "2026-Q2", 25.0)], kpis=kpis)
    frames["Actuals"].loc[1, "comment"] = "Survey"
    out = put(st, frames, sha256="ef" * 32)
    expected = [
        ("KPIs", '["K2"]', "name", '"Countries with updated regulation"', '"Countries with modern regulation"'),
        ("Actuals", '["K1", "2026-Q2", ""]', "value", "10.0", "12.5"),
        ("Actuals", '["K2", "2026-Q2", ""]', "comment", None, '"Survey"'),
    ]
    assert out.status == "stored" and changes_of(out) == expected
    assert out.counts.set_index("sheet").loc[["KPIs", "Actuals"], "changed"].tolist() == [1, 2]
    _, log = st.history("AFR")
    logged = log[log["submission_id"] == out.submission_id]
    assert [tuple(r) for r in logged[["sheet", "key", "field", "old", "new"]].itertuples(index=False)] == expected
    assert st.state("AFR")["Actuals"]["value"].tolist() == [12.5, 25.0]
    assert st.state("AFR", submission_id=first.submission_id)["Actuals"]["value"].tolist() == [10.0, 25.0]
    assert st.submissions("AFR")["n_changes"].tolist() == [39, 3]


def test_added_and_removed_rows_log_every_non_null_field(st):
    first = put(st, unit_frames(Risks=[RISK]))
    out = put(
        st, unit_frames(Linkages=[{"result_id": "AFR-O1", "body": "ITU-D SG1", "reference": "Q1/1"}]), sha256="11" * 32
    )
    assert changes_of(out) == [
        ("Risks", '["R1"]', "risk_id", '"R1"', None),
        ("Risks", '["R1"]', "category", '"Financial"', None),
        ("Risks", '["R1"]', "title", '"Donor delay"', None),
        ("Risks", '["R1"]', "likelihood", "4", None),
        ("Risks", '["R1"]', "impact", "5", None),
        ("Risks", '["R1"]', "owner", '"Head of office"', None),
        ("Risks", '["R1"]', "status", '"open"', None),
        ("Linkages", '["AFR-O1", "ITU-D SG1", "Q1/1"]', "result_id", None, '"AFR-O1"'),
        ("Linkages", '["AFR-O1", "ITU-D SG1", "Q1/1"]', "body", None, '"ITU-D SG1"'),
        ("Linkages", '["AFR-O1", "ITU-D SG1", "Q1/1"]', "reference", None, '"Q1/1"'),
    ]  # sheets in contract order (Risks before Linkages), fields in column order
    assert st.state("AFR")["Risks"].empty
    assert st.state("AFR", submission_id=first.submission_id)["Risks"]["likelihood"].tolist() == [4]


def test_periodic_sheets_replace_only_the_submitted_periods(st):
    results3 = RESULTS + [{"result_id": "AFR-A1", "level": "activity", "title": "Workshops"}]
    spend = [{"result_id": "AFR-O1", "period": "2026-Q2", "funding_source": "Regular budget", "amount": 5000}]
    put(st, unit_frames(results=results3, Expenditure=spend))
    # Q3: only the new quarter's actuals, no Expenditure sheet, one result dropped.
    out = put(st, unit_frames([("K1", "2026-Q3", 15.0)]), quarter="2026-Q3")
    now = st.state("AFR")
    assert list(zip(now["Actuals"]["kpi_id"], now["Actuals"]["period"], now["Actuals"]["value"])) == [
        ("K1", "2026-Q2", 10.0),
        ("K1", "2026-Q3", 15.0),
        ("K2", "2026-Q2", 25.0),
    ]
    assert now["Expenditure"]["amount"].tolist() == [5000.0]  # periodic sheet absent: kept
    assert now["Results"]["result_id"].tolist() == ["AFR-I1", "AFR-O1"]  # non-periodic: AFR-A1 dropped
    counts = out.counts.set_index("sheet")
    assert counts.loc["Actuals"].tolist() == [1, 0, 0] and counts.loc["Results"].tolist() == [0, 0, 1]
    assert counts.loc["Expenditure"].tolist() == [0, 0, 0]
    # A submission that carries 2026-Q2 replaces all of 2026-Q2: K2's Q2 value is removed.
    out = put(st, unit_frames([("K1", "2026-Q2", 11.0), ("K1", "2026-Q3", 15.0)]), quarter="2026-Q3")
    assert out.counts.set_index("sheet").loc["Actuals"].tolist() == [0, 1, 1]
    now = st.state("AFR")["Actuals"]
    assert list(zip(now["kpi_id"], now["period"], now["value"])) == [("K1", "2026-Q2", 11.0), ("K1", "2026-Q3", 15.0)]
    assert sorted(current_keys(st, "Actuals")) == [("AFR", "K1", "2026-Q2", ""), ("AFR", "K1", "2026-Q3", "")]


def test_state_as_of_quarter_and_submission(st):
    s1 = put(st, unit_frames(Risks=[RISK])).submission_id
    kpis = [dict(KPIS[0], target_value=120), KPIS[1]]
    s2 = put(
        st, unit_frames([("K1", "2026-Q3", 15.0)], kpis=kpis), quarter="2026-Q3", submitted_by="Bo Lee"
    ).submission_id
    q2 = st.state("AFR", quarter="2026-Q2")
    by_sub = st.state("AFR", submission_id=s1)
    assert set(q2) == {s.name for s in schema.DATA_SHEETS} | {"Unit"}
    for name in q2:
        pd.testing.assert_frame_equal(q2[name], by_sub[name])
    assert q2["KPIs"]["target_value"].tolist() == [100.0, 60.0]
    assert q2["Actuals"]["period"].tolist() == ["2026-Q2", "2026-Q2"]
    assert q2["Unit"][WHO].to_dict("records") == [
        {"unit_code": "AFR", "quarter": "2026-Q2", "submission_id": s1, "submitted_by": "Ada Obi"}
    ]
    expected_kpis = schema.conform("KPIs", pd.DataFrame(kpis))
    pd.testing.assert_frame_equal(st.state("AFR")["KPIs"], expected_kpis)
    pd.testing.assert_frame_equal(st.state("AFR", quarter="2026-Q4")["KPIs"], expected_kpis)
    assert st.state("AFR", quarter="2026-Q3")["Unit"]["submission_id"].tolist() == [s2]
    assert str(st.state("AFR")["Risks"]["likelihood"].dtype) == "Int64"
    # Nothing before the first submission; unknown unit: empty frames with the contract's columns.
    for frames in (st.state("AFR", quarter="2026-Q1"), st.state("NOPE")):
        assert all(df.empty for df in frames.values())
        assert list(frames["KPIs"].columns) == list(schema.sheet("KPIs").column_names)
        assert list(frames["Unit"].columns) == [*WHO, "first_received_at", "ingested_at"]
    with pytest.raises(StoreError, match="not a submission of AFR"):
        st.state("AFR", submission_id=s2 + 1000)
    with pytest.raises(StoreError, match="not a quarter"):
        st.state("AFR", quarter="Q3-2026")


def test_a_quarter_is_given_as_a_quarter_or_its_text(st):
    q2 = Quarter(2026, 2)
    assert put(st, unit_frames(), quarter=q2).status == "stored"
    assert put(st, unit_frames(), quarter="2026-Q2").status == "unchanged"
    assert st.submissions("AFR")["quarter"].tolist() == ["2026-Q2"]
    pd.testing.assert_frame_equal(st.state("AFR", quarter=q2)["Actuals"], st.state("AFR", quarter="2026-Q2")["Actuals"])
    pd.testing.assert_frame_equal(st.bureau_state(q2 + 1)["KPIs"], st.bureau_state("2026-Q3")["KPIs"])
    assert st.approve("AFR", q2, "Amara Diallo", CONFIG)["quarter"] == "2026-Q2"


def test_new_quarter_without_change_is_recorded_once(st):
    put(st, unit_frames())
    out = put(st, unit_frames(), quarter="2026-Q3")
    assert out.status == "stored" and out.changes.empty
    assert st.state("AFR", quarter="2026-Q3")["Unit"]["quarter"].tolist() == ["2026-Q3"]
    assert put(st, unit_frames(), quarter="2026-Q3").status == "unchanged"
    assert st.submissions("AFR")["n_changes"].tolist() == [39, 0]


def test_warnings_are_stored_with_the_submission(st):
    warn = problem("missing_evidence", "AFR.xlsx", "Actuals", 3, "G", "evidence", None)
    out = put(st, unit_frames(), problems=[warn])
    assert st.submissions()["n_warnings"].tolist() == [1]
    got = st.submission_problems(out.submission_id)
    assert got[["code", "severity", "where", "message"]].values.tolist() == [
        ["missing_evidence", "warning", "Actuals!G3", "A reported value has no evidence."]
    ]
    assert st.submission_problems(out.submission_id + 99).empty


def test_bad_input_is_refused_before_anything_is_written(st):
    before = st.dump()
    with pytest.raises(StoreError, match="unknown sheet 'Actual'"):
        put(st, {"Actual": actuals(Q2_ACTUALS)})
    with pytest.raises(StoreError, match="appears on more than one row"):
        put(st, unit_frames([("K1", "2026-Q2", 1.0), ("K1", "2026-Q2", 2.0)]))
    with pytest.raises(StoreError, match="not a unit code"):
        put(st, unit_frames(), unit="../etc")
    with pytest.raises(StoreError, match="not a quarter"):
        put(st, unit_frames(), quarter="2026Q2")
    assert st.dump() == before
    frames = {**unit_frames(), "Unit": pd.DataFrame({"field": ["unit_code"], "value": ["AFR"]})}
    assert put(st, frames).status == "stored"  # the Unit sheet is not stored as data


# --------------------------------------------------------------------------- approvals


def test_approval_rules(st, monkeypatch):
    monkeypatch.setattr(store_mod, "_utcnow", lambda: APPROVED_AT)
    put(st, unit_frames())
    with pytest.raises(ApprovalError) as info:
        st.approve("AFR", "2026-Q2", "Ada Obi", CONFIG)
    assert str(info.value) == "Only the Regional Director of AFR (Amara Diallo) may approve AFR"
    with pytest.raises(ApprovalError, match=r"Only the Cluster Facilitator of CYB \(Sofia Marin or Ola Nordmann\)"):
        st.approve("CYB", "2026-Q2", "Amara Diallo", CONFIG)
    with pytest.raises(ApprovalError, match="nobody may approve EMT"):
        st.approve("EMT", "2026-Q2", "Amara Diallo", CONFIG)
    with pytest.raises(ApprovalError, match="unknown unit 'XYZ'"):
        st.approve("XYZ", "2026-Q2", "Amara Diallo", CONFIG)
    with pytest.raises(ApprovalError, match="AFR has no submission for 2026-Q3"):
        st.approve("AFR", "2026-Q3", "Amara Diallo", CONFIG)
    assert st.approvals().empty
    got = st.approve("AFR", "2026-Q2", " amara  DIALLO ", CONFIG)
    record = {
        "unit_code": "AFR",
        "quarter": "2026-Q2",
        "approved_by": "Amara Diallo",
        "approved_at": APPROVED_AT,
        "submission_id": int(st.submissions("AFR")["id"].iloc[0]),
    }
    assert got == {
        **record,
        "bureau_approved_by": "",
        "bureau_approved_at": "",
        "state": "approved",
        "by": "Amara Diallo",
        "role": "Regional Director",
        "changes": [],
    }
    with pytest.raises(ApprovalError) as info:
        st.approve("AFR", "2026-Q2", "Amara Diallo", CONFIG)
    assert str(info.value) == "AFR 2026-Q2 was already approved by Amara Diallo on 2026-10-03 14:02 UTC"
    assert st.approvals().to_dict("records") == [record]
    assert isinstance(info.value, StoreError)


def test_approval_locks_the_quarter(st, monkeypatch):
    monkeypatch.setattr(store_mod, "_utcnow", lambda: APPROVED_AT)
    put(st, unit_frames())
    st.approve("AFR", "2026-Q2", "Amara Diallo", CONFIG)
    before = st.dump()
    changed = put(st, unit_frames([("K1", "2026-Q2", 99.0), ("K2", "2026-Q2", 25.0)]))
    assert (changed.status, changed.submission_id, changed.message) == ("locked", None, LOCK_MSG)
    assert changes_of(changed) == [("Actuals", '["K1", "2026-Q2", ""]', "value", "10.0", "99.0")]
    # A later quarter's file that rewrites an approved quarter's actuals is refused too.
    sneaky = put(
        st, unit_frames([("K1", "2026-Q2", 99.0), ("K2", "2026-Q2", 25.0), ("K1", "2026-Q3", 5.0)]), quarter="2026-Q3"
    )
    assert sneaky.status == "locked" and sneaky.message == LOCK_MSG + " (Actuals rows of 2026-Q2 differ)"
    # So is a file for an earlier quarter (it would become the approved quarter's state).
    assert put(st, unit_frames([("K1", "2026-Q1", 3.0)]), quarter="2026-Q1").status == "locked"
    # Dry runs report the lock as well.
    assert put(st, unit_frames([("K1", "2026-Q2", 99.0)]), dry_run=True).status == "locked"
    # Re-ingesting the approved file is harmless.
    assert put(st, unit_frames()).status == "unchanged"
    assert st.dump() == before
    # The next quarter still works, and the approved state does not move.
    nxt = put(
        st, unit_frames([("K1", "2026-Q3", 15.0)], kpis=[dict(KPIS[0], target_value=150), KPIS[1]]), quarter="2026-Q3"
    )
    assert nxt.status == "stored"
    assert st.state("AFR", quarter="2026-Q2")["KPIs"]["target_value"].tolist() == [100.0, 60.0]
    assert st.state("AFR")["KPIs"]["target_value"].tolist() == [150.0, 60.0]


# --------------------------------------------------------------------------- dry run, bureau


def test_dry_run_writes_nothing(st):
    empty = st.dump()
    first_dry = put(st, unit_frames(), dry_run=True)
    assert (first_dry.status, first_dry.submission_id) == ("dry_run", None)
    assert len(first_dry.changes) == 39 and "nothing was written" in first_dry.message
    assert st.dump() == empty
    put(st, unit_frames())
    before = st.dump()
    frames = unit_frames([("K1", "2026-Q2", 12.0), ("K2", "2026-Q2", 25.0)])
    dry = put(st, frames, dry_run=True)
    assert dry.status == "dry_run" and st.dump() == before
    real = put(st, frames)
    assert real.status == "stored"
    pd.testing.assert_frame_equal(dry.changes, real.changes)
    pd.testing.assert_frame_equal(dry.counts, real.counts)


def test_bureau_state_concatenates_units(st):
    a1 = put(st, unit_frames()).submission_id
    cyb = unit_frames(
        [("C1", "2026-Q3", 7.0)],
        results=[{"result_id": "CYB-O1", "level": "output", "title": "CIRTs"}],
        kpis=[dict(KPIS[0], kpi_id="C1", result_id="CYB-O1", name="CIRTs set up")],
    )
    c1 = put(st, cyb, quarter="2026-Q3", unit="CYB", submitted_by="Cy Ber").submission_id
    a2 = put(st, unit_frames([("K1", "2026-Q3", 15.0)]), quarter="2026-Q3").submission_id

    q2 = st.bureau_state("2026-Q2")
    assert q2["Unit"][WHO].to_dict("records") == [
        {"unit_code": "AFR", "quarter": "2026-Q2", "submission_id": a1, "submitted_by": "Ada Obi"}
    ]
    assert q2["Actuals"]["unit_code"].tolist() == ["AFR", "AFR"]

    q3 = st.bureau_state("2026-Q3")
    assert q3["Unit"][["unit_code", "submission_id"]].values.tolist() == [["AFR", a2], ["CYB", c1]]
    assert list(q3["Actuals"].columns) == ["unit_code", *schema.sheet("Actuals").column_names]
    assert list(zip(q3["Actuals"]["unit_code"], q3["Actuals"]["kpi_id"], q3["Actuals"]["period"])) == [
        ("AFR", "K1", "2026-Q2"),
        ("AFR", "K1", "2026-Q3"),
        ("AFR", "K2", "2026-Q2"),
        ("CYB", "C1", "2026-Q3"),
    ]
    for name in ("Results", "KPIs", "Actuals"):
        for unit in ("AFR", "CYB"):
            part = q3[name][q3[name]["unit_code"] == unit].drop(columns="unit_code").reset_index(drop=True)
            pd.testing.assert_frame_equal(part, st.state(unit, quarter="2026-Q3")[name])
    assert q3["Risks"].empty and list(q3["Risks"].columns)[0] == "unit_code"
    only = st.bureau_state("2026-Q3", units=["CYB"])
    assert only["Unit"]["unit_code"].tolist() == ["CYB"] and set(only["KPIs"]["unit_code"]) == {"CYB"}
    assert st.bureau_state("2026-Q3", units=[])["KPIs"].empty

    statements: list[str] = []
    sa.event.listen(st._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    st.bureau_state("2026-Q3")
    n_two_units = len(statements)
    statements.clear()
    st.bureau_state("2026-Q3", units=["AFR"])
    assert len(statements) == n_two_units <= len(schema.DATA_SHEETS) + 4


# --------------------------------------------------------------------------- failures, concurrency


def test_exception_mid_transaction_leaves_store_unchanged(st, monkeypatch):
    put(st, unit_frames(Risks=[RISK]))
    before = st.dump()
    frames = unit_frames([("K1", "2026-Q3", 15.0)], Risks=[dict(RISK, likelihood=2)])

    def boom(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(store_mod, "insert_change_log", boom)  # after submission, sub_to and new versions
    with pytest.raises(RuntimeError, match="power cut"):
        put(st, frames, quarter="2026-Q3")
    assert st.dump() == before

    def db_fault(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT INTO change_log", {}, Exception("disk I/O error"))

    monkeypatch.setattr(store_mod, "insert_change_log", db_fault)
    with pytest.raises(StoreError) as info:
        put(st, frames, quarter="2026-Q3")
    assert str(info.value).endswith("could not store the submission: disk I/O error")
    assert st.dump() == before
    monkeypatch.undo()
    assert put(st, frames, quarter="2026-Q3").status == "stored"
    assert len(st.submissions("AFR")) == 2


def test_concurrent_ingests_of_one_unit_are_serialised(store_url, monkeypatch):
    with Store(store_url) as st:
        put(st, unit_frames())
    real_diff = store_mod.diff_rows

    def slow_diff(*args):
        out = real_diff(*args)
        time.sleep(0.3)  # widen the read-then-write window: without a unit lock both would read the same rows
        return out

    monkeypatch.setattr(store_mod, "diff_rows", slow_diff)
    variants = {"a": [("K1", "2026-Q3", 15.0)], "b": [("K2", "2026-Q3", 30.0)]}
    stores = {k: Store(store_url) for k in variants}
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def worker(name: str) -> None:
        barrier.wait()
        try:
            results[name] = put(stores[name], unit_frames(variants[name]), quarter="2026-Q3", sha256=name * 64)
        except Exception as exc:  # noqa: BLE001 - reported below
            results[name] = exc

    threads = [threading.Thread(target=worker, args=(k,)) for k in variants]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in stores.values():
        s.close()
    assert all(getattr(r, "status", r) == "stored" for r in results.values()), results
    with Store(store_url) as st:
        subs, log = st.history("AFR")
        assert len(subs) == 3
        last = "a" if subs["sha256"].iloc[-1] == "a" * 64 else "b"
        other = "b" if last == "a" else "a"
        # The later writer saw the earlier one's Q3 row and replaced it (same period submitted).
        now = st.state("AFR")["Actuals"]
        q3 = now[now["period"] == "2026-Q3"]
        assert list(zip(q3["kpi_id"], q3["value"])) == [variants[last][0][::2]]
        removed = log[(log["submission_id"] == subs["id"].iloc[-1]) & log["new"].isna()]
        assert set(removed["key"]) == {json.dumps([variants[other][0][0], "2026-Q3", ""])}
        keys = current_keys(st, "Actuals")
        assert len(keys) == len(set(keys)) == 3


# --------------------------------------------------------------------------- property

_actual_rows = hs.dictionaries(
    hs.tuples(hs.sampled_from(["K1", "K2"]), hs.sampled_from(["2026-Q1", "2026-Q2", "2026-Q3"])),
    hs.integers(0, 3).map(float),
    max_size=4,
)
_submission = hs.tuples(
    hs.sampled_from(["2026-Q1", "2026-Q2", "2026-Q3"]),
    _actual_rows,
    hs.sampled_from(["Regulators trained", "People trained"]),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.lists(_submission, min_size=1, max_size=4))
def test_versions_replay_like_a_model(sequence):
    """Against a plain-dict model of the rules: periodic replace per period, others whole."""
    with Store("sqlite://") as store:
        model: dict[tuple, float] = {}
        seen: list[tuple[int, dict, str]] = []
        name = None
        for quarter, rows, kpi_name in sequence:
            periods = {p for _, p in rows}
            expected = {k: v for k, v in model.items() if k[1] not in periods} | rows
            kpis = [dict(KPIS[0], name=kpi_name), KPIS[1]]
            out = put(store, unit_frames([(k, p, v) for (k, p), v in rows.items()], kpis=kpis), quarter=quarter)
            changed = expected != model or kpi_name != name
            assert out.status == ("stored" if changed or quarter not in {q for *_, q in seen} else "unchanged")
            assert (len(out.changes) > 0) == changed
            model, name = expected, kpi_name
            if out.status == "stored":
                seen.append((out.submission_id, dict(model), quarter))
        for sid, snapshot, _ in seen:
            got = store.state("AFR", submission_id=sid)["Actuals"]
            assert dict(zip(zip(got["kpi_id"], got["period"]), got["value"])) == snapshot
        # The change log replays to the current state.
        replay: dict[tuple, float] = {}
        _, log = store.history("AFR")
        for key, field, new in log[log["sheet"] == "Actuals"][["key", "field", "new"]].itertuples(index=False):
            kpi, period, _ = json.loads(key)
            if field == "value":
                if new is None:
                    replay.pop((kpi, period), None)
                else:
                    replay[(kpi, period)] = json.loads(new)
        assert replay == model


# ------------------------------------------------------------------------ when the workbooks arrived


def test_received_at_is_stored_and_the_unit_frame_keeps_the_first_and_latest_times(st):
    utc = dt.UTC
    put(st, unit_frames(), received_at=dt.datetime(2026, 7, 14, 9, 0, tzinfo=utc))
    first = dt.datetime(2026, 10, 12, 11, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 09:30 UTC
    s2 = put(st, unit_frames([("K1", "2026-Q3", 15.0)]), quarter="2026-Q3", received_at=first).submission_id
    s3 = put(
        st, unit_frames([("K1", "2026-Q3", 16.0)]), quarter="2026-Q3", received_at=dt.datetime(2026, 10, 27, tzinfo=utc)
    ).submission_id
    subs = st.submissions("AFR")
    assert subs["ingested_at"].tolist() == ["2026-07-14T09:00:00Z", "2026-10-12T09:30:00Z", "2026-10-27T00:00:00Z"]
    want = {"submission_id": s3, "first_received_at": "2026-10-12T09:30:00Z", "ingested_at": "2026-10-27T00:00:00Z"}
    for unit in (st.state("AFR", "2026-Q3")["Unit"], st.bureau_state("2026-Q3")["Unit"]):
        assert unit[list(want)].to_dict("records") == [want]
    assert st.state("AFR", submission_id=s2)["Unit"][["first_received_at", "ingested_at"]].values.tolist() == [
        ["2026-10-12T09:30:00Z", "2026-10-12T09:30:00Z"]
    ]
    q2 = st.bureau_state("2026-Q2")["Unit"]
    assert q2[["first_received_at", "ingested_at"]].values.tolist() == [["2026-07-14T09:00:00Z"] * 2]


def test_received_at_needs_a_time_zone_and_defaults_to_now(st, monkeypatch):
    with pytest.raises(StoreError, match="time zone"):
        put(st, unit_frames(), received_at=dt.datetime(2026, 10, 12, 9, 0))
    assert st.submissions().empty
    monkeypatch.setattr(store_mod, "_utcnow", lambda: APPROVED_AT)
    put(st, unit_frames())
    assert st.state("AFR")["Unit"][["first_received_at", "ingested_at"]].values.tolist() == [[APPROVED_AT] * 2]
