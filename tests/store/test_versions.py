"""Bulk inserts of row versions and change-log rows (rbm_utils/store/versions.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

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
