"""The store's tables (SQLAlchemy Core), derived from the workbook contract, and rows back to frames.

``submissions``, ``submission_problems``, ``change_log``, ``approvals`` (the unit-level approval
that locks a unit-quarter), ``bureau_approvals`` (the bureau's approval of the changes beyond the
unit's authority) and ``meta``, plus one table per data sheet of :mod:`rbm_utils.core.schema`
(``sheet_<name>``): the sheet's columns, the ``unit_code``, and the submissions that added
(``sub_from``) and replaced or deleted (``sub_to``, NULL while current) each row version. Opening
a store creates the tables it lacks, so a store written by an older version gains the new ones.

Example:
    >>> [c.name for c in TABLES["sheet_risks"].columns][:3]
    ['row_id', 'unit_code', 'risk_id']
    >>> list(unit_frame([("AFR", "2026-Q3", 1, "Ada", "2026-10-12T09:00:00Z", "2026-10-15T16:20:00Z")]).columns)
    ['unit_code', 'quarter', 'submission_id', 'submitted_by', 'first_received_at', 'ingested_at']
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa

from rbm_utils.core import schema

#: Data sheets by name: the sheets the store keeps (every sheet but Unit).
DATA_SHEETS: dict[str, schema.Sheet] = {s.name: s for s in schema.DATA_SHEETS}
#: Columns of the ``"Unit"`` frame of a state: each unit's submission used, when the unit's first
#: submission for that quarter arrived (``first_received_at``) and when this one did (``ingested_at``),
#: both UTC ISO text such as ``2026-10-12T09:00:00Z``.
UNIT_COLUMNS = ["unit_code", "quarter", "submission_id", "submitted_by", "first_received_at", "ingested_at"]


def _sa_type(column: schema.Column) -> sa.types.TypeEngine:
    if column.type == "number":
        return sa.Float()
    if column.type in ("integer", "year"):
        return sa.Integer()
    return sa.Text()


def _build_metadata() -> tuple[sa.MetaData, dict[str, sa.Table]]:
    md = sa.MetaData()
    submissions = sa.Table(
        "submissions",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("unit_code", sa.Text, nullable=False),
        sa.Column("quarter", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("submitted_by", sa.Text, nullable=False),
        sa.Column("ingested_by", sa.Text, nullable=False),
        sa.Column("ingested_at", sa.Text, nullable=False),
        sa.Column("n_warnings", sa.Integer, nullable=False),
        sa.Column("n_changes", sa.Integer, nullable=False),
        sa.Column("based_on", sa.Integer),  # the submission the workbook was made from (its Unit sheet)
        sa.Column("forced_over", sa.Integer),  # the newer submission it replaced by rbm ingest --force-over
        sa.Index("ix_submissions_unit_quarter", "unit_code", "quarter"),
        sqlite_autoincrement=True,
    )
    sa.Table(
        "submission_problems",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("file", sa.Text),
        sa.Column("sheet", sa.Text),
        sa.Column("row", sa.Integer),
        sa.Column("column", sa.Text),
        sa.Column("header", sa.Text),
        sa.Column("value", sa.Text),
        sa.Column("message", sa.Text),
        sa.Index("ix_submission_problems_submission", "submission_id"),
    )
    sa.Table(
        "change_log",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False),
        sa.Column("unit_code", sa.Text, nullable=False),
        sa.Column("sheet", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("field", sa.Text, nullable=False),
        sa.Column("old", sa.Text),
        sa.Column("new", sa.Text),
        sa.Index("ix_change_log_unit", "unit_code", "submission_id"),
    )
    for name in ("approvals", "bureau_approvals"):  # the unit approver's event (the lock), the bureau's
        sa.Table(
            name,
            md,
            sa.Column("unit_code", sa.Text, primary_key=True),
            sa.Column("quarter", sa.Text, primary_key=True),
            sa.Column("approved_by", sa.Text, nullable=False),
            sa.Column("approved_at", sa.Text, nullable=False),
            sa.Column("submission_id", sa.Integer, sa.ForeignKey(submissions.c.id), nullable=False),
        )
    sa.Table(  # the people who may sign in (store/users.py); passwords only as argon2 hashes
        "users",
        md,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("units", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("active", sa.Integer, nullable=False),
        sa.Column("os_login", sa.Text, unique=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("changed_at", sa.Text, nullable=False),
    )
    sa.Table(
        "meta",
        md,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    reserved = {"row_id", "unit_code", "sub_from", "sub_to"}
    for sh in schema.DATA_SHEETS:
        clash = reserved.intersection(sh.column_names)
        if clash:  # pragma: no cover - guards the contract
            raise RuntimeError(f"sheet {sh.name}: column names {sorted(clash)} are reserved by the store")
        sa.Table(
            sh.table_name,
            md,
            sa.Column("row_id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("unit_code", sa.Text, nullable=False),
            *[sa.Column(c.name, _sa_type(c)) for c in sh.columns],
            sa.Column("sub_from", sa.Integer, sa.ForeignKey(submissions.c.id), nullable=False),
            sa.Column("sub_to", sa.Integer, sa.ForeignKey(submissions.c.id)),
            sa.Index(f"ix_{sh.table_name}_unit_sub_to", "unit_code", "sub_to"),
        )
    return md, dict(md.tables)


METADATA, TABLES = _build_metadata()


# --------------------------------------------------------------------------- rows to frames


def frame_of(result: sa.engine.Result) -> pd.DataFrame:
    """Rows as a frame: whole-number columns Int64, text columns object with None for missing."""
    cols = list(result.keys())
    df = pd.DataFrame([tuple(r) for r in result], columns=cols, dtype=object)
    for c in cols:
        vals = [v for v in df[c] if v is not None]
        if vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            df[c] = df[c].astype("Int64")
    return df


def sheet_frame(sh: schema.Sheet, recs: Sequence, with_unit: bool) -> pd.DataFrame:
    """A data sheet's rows as its conformed frame, sorted by (unit and) key."""
    if not recs:
        return schema.empty_frame(sh.name, with_unit=with_unit)
    cols = (["unit_code"] if with_unit else []) + list(sh.column_names)
    df = schema.conform(
        sh.name, pd.DataFrame([tuple(r) for r in recs], columns=cols, dtype=object), with_unit=with_unit
    )
    by = (["unit_code"] if with_unit else []) + list(sh.key)
    return df.sort_values(by, kind="stable", na_position="first").reset_index(drop=True)


def unit_frame(rows: list[tuple]) -> pd.DataFrame:
    """The ``"Unit"`` frame of a state: one row per unit, columns :data:`UNIT_COLUMNS`."""
    df = pd.DataFrame(rows, columns=UNIT_COLUMNS, dtype=object)
    df["submission_id"] = df["submission_id"].astype("Int64")
    return df
