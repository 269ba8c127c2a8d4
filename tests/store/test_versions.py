"""Bulk inserts of row versions and change-log rows (rbm_utils/store/versions.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from rbm_utils.store.database import Store
from rbm_utils.store.diff import ADDED_ROWS
from rbm_utils.store.engine import make_engine
from rbm_utils.store.tables import METADATA, TABLES
from rbm_utils.store.versions import SQLITE_PARAMETERS, bulk_insert, insert_submission

COLUMNS = ["submission_id", "unit_code", "sheet", "key", "field", "old", "new"]


@pytest.mark.parametrize("n", [1, SQLITE_PARAMETERS // len(COLUMNS), SQLITE_PARAMETERS // len(COLUMNS) * 3 + 7])
def test_bulk_insert_keeps_every_row_its_values_and_order(n):
    """SQLite takes the rows as multi-row statements plus a remainder: every row once, in order,
    ids consecutive, None stays NULL, texts and quotes intact."""
    engine = make_engine("sqlite://")
    with engine.begin() as conn:
        METADATA.create_all(conn)
        sid = insert_submission(
            conn, "AFR", "2026-Q3", ingested_at="2026-10-03T14:02:11Z", file_name="AFR.xlsx",
            sha256="0" * 64, submitted_by="Ada", ingested_by="cli", n_warnings=0, n_changes=n,
        )  # fmt: skip
        rows = [(sid, "AFR", "Actuals", f'["K{i}", "2026-Q1"]', f"f{i % 6}", None, f'"it\'s {i}"') for i in range(n)]
        bulk_insert(conn, TABLES["change_log"], COLUMNS, rows)
        cl = TABLES["change_log"]
        got = conn.execute(sa.select(cl.c.id, *(cl.c[c] for c in COLUMNS)).order_by(cl.c.id)).all()
    assert [tuple(r[1:]) for r in got] == rows
    ids = [r[0] for r in got]
    assert ids == list(range(ids[0], ids[0] + n))


# --------------------------------------------------------------------------- rows only added: one change-log row


def _log(st) -> list[tuple]:
    cl = TABLES["change_log"]
    with st.reading() as conn:
        return [tuple(r) for r in conn.execute(sa.select(cl.c.sheet, cl.c.key, cl.c.field, cl.c.new).order_by(cl.c.id))]


def _fields(frame) -> list[tuple]:
    return [tuple(r) for r in frame[["sheet", "key", "field", "old", "new"]].itertuples(index=False, name=None)]


def test_rows_only_added_are_one_log_row_each_sheet_and_history_lists_their_fields(store_url):
    """A new unit's sheets are one change-log row each ('*', the number of rows); ``history``
    lists every non-missing field of every added row, in key order, as the outcome does; a
    later quarter's new Actuals rows are one row again; a value changed after is one row per
    field, in its place; rows replaced or removed later still list under the submission
    that added them."""
    from tests.store.test_store import KPIS, put, unit_frames

    with Store(store_url) as st:
        first = put(st, unit_frames([("K2", "2026-Q2", 25.0), ("K1", "2026-Q2", 10.0)]))
        assert _log(st) == [
            ("Results", ADDED_ROWS, ADDED_ROWS, "2"),
            ("KPIs", ADDED_ROWS, ADDED_ROWS, "2"),
            ("Actuals", ADDED_ROWS, ADDED_ROWS, "2"),
        ]
        second = put(st, unit_frames([("K1", "2026-Q3", 12.0)]), quarter="2026-Q3", sha256="cd" * 32)
        kpis = [dict(KPIS[0], name="Regulators trained in person"), KPIS[1]]
        third = put(st, unit_frames([("K1", "2026-Q3", 14.0)], kpis=kpis), quarter="2026-Q3", sha256="ef" * 32)
        assert [r[2] for r in _log(st)[3:]] == [ADDED_ROWS, "name", "value"]
        subs, log = st.history("AFR")
    assert first.n_changes == len(first.changes) == 39 and subs["n_changes"].tolist() == [39, 4, 2]
    assert (
        log["submission_id"].tolist()
        == [first.submission_id] * 39 + [second.submission_id] * 4 + [third.submission_id] * 2
    )
    assert _fields(log[log["submission_id"] == first.submission_id]) == _fields(first.changes)
    assert (
        _fields(log[log["submission_id"] == second.submission_id])
        == _fields(second.changes)
        == [
            ("Actuals", '["K1", "2026-Q3", ""]', "kpi_id", None, '"K1"'),
            ("Actuals", '["K1", "2026-Q3", ""]', "period", None, '"2026-Q3"'),
            ("Actuals", '["K1", "2026-Q3", ""]', "value", None, "12.0"),
            ("Actuals", '["K1", "2026-Q3", ""]', "disaggregation", None, '""'),
        ]
    )
    assert _fields(log[log["submission_id"] == third.submission_id]) == _fields(third.changes)
    assert log["id"].is_monotonic_increasing and str(log["id"].dtype) == "Int64"
    assert log.loc[log["submission_id"] == second.submission_id, "quarter"].tolist() == ["2026-Q3"] * 4


def test_a_change_log_of_one_row_per_field_reads_as_it_is(store_url):
    """Stores written before the one-row form keep one row per field of an added row: read as they are."""
    with Store(store_url) as st:
        with st.writing("AFR") as conn:
            sid = insert_submission(
                conn, "AFR", "2026-Q2", ingested_at="2026-07-03T14:02:11Z", file_name="AFR.xlsx",
                sha256="0" * 64, submitted_by="Ada", ingested_by="cli", n_warnings=0, n_changes=2,
            )  # fmt: skip
            rows = [
                (sid, "AFR", "Results", '["R1"]', "result_id", None, '"R1"'),
                (sid, "AFR", "Results", '["R1"]', "level", None, '"output"'),
            ]
            bulk_insert(conn, TABLES["change_log"], COLUMNS, rows)
        _, log = st.history("AFR")
    cols = [c for c in COLUMNS if c != "unit_code"]  # history gives the unit's log: no unit column
    assert [tuple(r) for r in log[cols].itertuples(index=False, name=None)] == [r[:1] + r[2:] for r in rows]
