"""The versioned, append-only store of unit submissions (SQLAlchemy Core).

An SQLite file by default (WAL mode, busy timeout, foreign keys on); any
``postgresql+psycopg://`` URL for a shared deployment. Nothing is ever deleted: every
row version carries the submission that added it (``sub_from``) and the one that
replaced or deleted it (``sub_to``, NULL while current), so a unit's content can be
rebuilt as of any submission or quarter. Every field change is in ``change_log``;
approvals lock a unit-quarter.

Example:
    >>> import pandas as pd
    >>> from rbm_utils import schema
    >>> from rbm_utils.store.database import Store
    >>> res = schema.conform("Results", pd.DataFrame(
    ...     {"result_id": ["AFR-O1"], "level": ["output"], "title": ["Regulators trained"]}))
    >>> with Store("sqlite://") as st:
    ...     out = st.ingest("AFR", "2026-Q3", {"Results": res}, file_name="AFR.xlsx",
    ...                     sha256="0" * 64, submitted_by="Ada", ingested_by="cli")
    ...     (out.status, len(st.state("AFR")["Results"]))
    ('stored', 1)
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from rbm_utils.core import schema
from rbm_utils.core.config import Config, ConfigError
from rbm_utils.core.errors import WARNING, Problem, problems_frame

log = logging.getLogger(__name__)

#: How long a writer waits for another one to finish (SQLite busy timeout).
SQLITE_BUSY_TIMEOUT_MS = 60_000
#: Numbers are equal when they differ by less than this, relatively.
REL_TOL = 1e-9
STATUSES = ("stored", "unchanged", "locked", "dry_run")
_CHUNK = 500

_DATA_SHEETS: dict[str, schema.Sheet] = {s.name: s for s in schema.DATA_SHEETS}


class StoreError(RuntimeError):
    """The store cannot do what was asked; ``str(exc)`` is a plain-language message."""


class ApprovalError(StoreError):
    """An approval was refused (wrong person, unknown unit, nothing to approve, already approved)."""


# --------------------------------------------------------------------------- tables

def _sa_type(column: schema.Column) -> sa.types.TypeEngine:
    if column.type == "number":
        return sa.Float()
    if column.type in ("integer", "year"):
        return sa.Integer()
    return sa.Text()


def _build_metadata() -> tuple[sa.MetaData, dict[str, sa.Table]]:
    md = sa.MetaData()
    submissions = sa.Table(
        "submissions", md,
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
        sa.Index("ix_submissions_unit_quarter", "unit_code", "quarter"),
        sqlite_autoincrement=True,
    )
    sa.Table(
        "submission_problems", md,
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
        "change_log", md,
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
    sa.Table(
        "approvals", md,
        sa.Column("unit_code", sa.Text, primary_key=True),
        sa.Column("quarter", sa.Text, primary_key=True),
        sa.Column("approved_by", sa.Text, nullable=False),
        sa.Column("approved_at", sa.Text, nullable=False),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey(submissions.c.id), nullable=False),
    )
    sa.Table(
        "meta", md,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    reserved = {"row_id", "unit_code", "sub_from", "sub_to"}
    for sh in schema.DATA_SHEETS:
        clash = reserved.intersection(sh.column_names)
        if clash:  # pragma: no cover - guards the contract
            raise RuntimeError(f"sheet {sh.name}: column names {sorted(clash)} are reserved by the store")
        sa.Table(
            sh.table_name, md,
            sa.Column("row_id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("unit_code", sa.Text, nullable=False),
            *[sa.Column(c.name, _sa_type(c)) for c in sh.columns],
            sa.Column("sub_from", sa.Integer, sa.ForeignKey(submissions.c.id), nullable=False),
            sa.Column("sub_to", sa.Integer, sa.ForeignKey(submissions.c.id)),
            sa.Index(f"ix_{sh.table_name}_unit_sub_to", "unit_code", "sub_to"),
        )
    return md, dict(md.tables)


METADATA, TABLES = _build_metadata()


# --------------------------------------------------------------------------- values

def _utcnow() -> str:
    """Current UTC time as ISO text, e.g. ``2026-10-03T14:02:11Z`` (tests monkeypatch it)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _show_time(iso: str) -> str:
    """``2026-10-03T14:02:11Z`` -> ``2026-10-03 14:02 UTC``."""
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(timezone.utc)
    except (TypeError, ValueError):
        return str(iso)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _missing(v: Any) -> bool:
    if v is None or isinstance(v, str):
        return v is None
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _norm(col: schema.Column, v: Any, is_key: bool, where: str) -> Any:
    """A cell as a plain Python value of the column's store type (None when missing).

    Text keys that are missing become ``""`` (e.g. the total's disaggregation); other
    empty text becomes None, so blank and missing compare equal.
    """
    if _missing(v):
        return "" if is_key and col.type not in ("number", "integer", "year") else None
    if col.type == "number":
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise StoreError(f"{where}: {col.name} is not a number: {v!r}") from None
        if not math.isfinite(f):
            raise StoreError(f"{where}: {col.name} is not a finite number: {v!r}")
        return f
    if col.type in ("integer", "year"):
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise StoreError(f"{where}: {col.name} is not a whole number: {v!r}") from None
        if not f.is_integer():
            raise StoreError(f"{where}: {col.name} is not a whole number: {v!r}")
        return int(f)
    text = str(v)
    if text == "" and not is_key:
        return None
    return text


def _same(col: schema.Column, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if col.type == "number":
        return a == b or abs(a - b) <= REL_TOL * max(abs(a), abs(b))
    return a == b


def _json(v: Any) -> str | None:
    return None if v is None else json.dumps(v, ensure_ascii=False)


def _sort_key(values: Sequence[Any]) -> tuple:
    return tuple((v is None, 0 if v is None else v) for v in values)


def _lock_key(name: str) -> int:
    """A stable signed 64-bit number for ``pg_advisory_xact_lock``."""
    return int.from_bytes(hashlib.sha256(("rbm-store:" + name).encode()).digest()[:8], "big", signed=True)


def _check_unit_code(unit_code: str) -> None:
    if not isinstance(unit_code, str) or not schema.UNIT_CODE_RE.match(unit_code):
        raise StoreError(f"not a unit code: {unit_code!r} (expected e.g. AFR or CYB)")


def _check_quarter(quarter: str) -> None:
    if not isinstance(quarter, str) or schema.parse_period(quarter) is None:
        raise StoreError(f"not a quarter: {quarter!r} (expected e.g. 2026-Q3)")


# --------------------------------------------------------------------------- outcome

CHANGE_COLUMNS = ["sheet", "key", "field", "old", "new"]
COUNT_COLUMNS = ["sheet", "added", "changed", "removed"]


@dataclass
class IngestOutcome:
    """What :meth:`Store.ingest` did (or, for ``dry_run``/``locked``, would have done).

    ``changes`` has columns sheet, key, field, old, new (JSON text, None for missing), one
    row per field change, exactly as written to ``change_log``; ``counts`` has one row per
    data sheet with the number of rows added, changed and removed.
    """

    status: str
    submission_id: int | None
    changes: pd.DataFrame
    message: str
    counts: pd.DataFrame
    unit_code: str = ""
    quarter: str = ""

    @property
    def n_changes(self) -> int:
        return len(self.changes)


@dataclass
class _SheetDiff:
    sheet: schema.Sheet
    added: list[tuple] = field(default_factory=list)      # new value tuples
    changed: list[tuple] = field(default_factory=list)    # (row_id, old values, new values)
    removed: list[tuple] = field(default_factory=list)    # (row_id, old values)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def touched(self) -> list[tuple]:
        """Every old or new value tuple involved in the diff."""
        return ([v for v in self.added] + [o for _, o, _ in self.changed] + [n for _, _, n in self.changed]
                + [o for _, o in self.removed])


# --------------------------------------------------------------------------- engine

def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own handling defers it).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
    finally:
        cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front: two writers queue instead of failing
    # when a read transaction tries to upgrade.
    write = conn.get_execution_options().get("rbm_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _make_engine(url: str) -> Engine:
    try:
        u = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        raise StoreError(f"not a valid store URL: {url!r}; expected e.g. sqlite:///data/rbm.sqlite "
                         "or postgresql+psycopg://user@host/dbname") from None
    backend = u.get_backend_name()
    try:
        if backend == "sqlite":
            db = u.database or ""
            memory = db in ("", ":memory:") or u.query.get("mode") == "memory"
            kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False,
                                                      "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
            if memory:
                kwargs["poolclass"] = sa.pool.StaticPool
            else:
                try:
                    Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(f"cannot create the folder of the store {db}: {exc.strerror or exc}") from None
            engine = sa.create_engine(u, **kwargs)
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
            return engine
        if backend == "postgresql":
            connect_args = {} if "connect_timeout" in u.query else {"connect_timeout": 10}
            return sa.create_engine(u, pool_pre_ping=True, connect_args=connect_args)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"cannot use the store URL {u.render_as_string(hide_password=True)}: {exc}") from None
    raise StoreError(f"unsupported store {u.render_as_string(hide_password=True)}: "
                     "use an SQLite file (sqlite:///path) or PostgreSQL (postgresql+psycopg://...)")


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "database is locked" in first:
        return "the store is busy with another writer; try again in a moment"
    return first


def _guarded(what: str) -> Callable:
    """Turn database errors of a public method into a plain :class:`StoreError`."""

    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(self: "Store", *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except StoreError:
                raise
            except (sa.exc.SQLAlchemyError, OSError) as exc:
                log.debug("store error", exc_info=True)
                raise StoreError(f"the store {self.safe_url} could not {what}: {_reason(exc)}") from exc

        return wrapper

    return deco


# --------------------------------------------------------------------------- store

class Store:
    """A versioned store of unit submissions. ``Store(url)`` creates missing tables.

    Example:
        >>> with Store("sqlite://") as st:
        ...     st.units()
        []
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = _make_engine(url)
        self.safe_url = self._engine.url.render_as_string(hide_password=True)
        self.dialect = self._engine.dialect.name
        try:
            self._init_schema()
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"Store({self.safe_url!r})"

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Release every connection."""
        self._engine.dispose()

    # ---- transactions

    @contextmanager
    def _write(self, lock_name: str) -> Iterator[Connection]:
        """One write transaction, serialised with every other writer of ``lock_name``."""
        with self._engine.connect() as conn:
            conn.execution_options(rbm_write=True)
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(lock_name)})
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """One read transaction: every query sees the same snapshot."""
        with self._engine.connect() as conn:
            if self.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @_guarded("be opened")
    def _init_schema(self) -> None:
        meta = TABLES["meta"]
        with self._write("__schema__") as conn:
            METADATA.create_all(conn)
            found = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
            if found is None:
                conn.execute(sa.insert(meta), [
                    {"key": "schema_version", "value": schema.SCHEMA_VERSION},
                    {"key": "created_at", "value": _utcnow()},
                ])
            elif found != schema.SCHEMA_VERSION:
                raise StoreError(f"the store {self.safe_url} holds workbooks of schema version {found}, "
                                 f"this workbench reads version {schema.SCHEMA_VERSION}; migrate the store first")

    # ---- ingest

    @_guarded("store the submission")
    def ingest(self, unit_code: str, quarter: str, frames: Mapping[str, pd.DataFrame], *, file_name: str,
               sha256: str, submitted_by: str, ingested_by: str, problems: Sequence[Problem] = (),
               dry_run: bool = False) -> IngestOutcome:
        """Store a unit's validated workbook for ``quarter`` as a new submission.

        Non-periodic sheets are replaced whole (absent sheet = empty); periodic sheets
        (Actuals, Expenditure) only for the periods the submission carries. No change ->
        ``unchanged`` and nothing written; an approved quarter -> ``locked``.

        Example:
            >>> res = schema.conform("Results", pd.DataFrame(
            ...     {"result_id": ["R1"], "level": ["output"], "title": ["T"]}))
            >>> with Store("sqlite://") as st:
            ...     kw = dict(file_name="f.xlsx", sha256="0" * 64, submitted_by="Ada", ingested_by="me")
            ...     [st.ingest("AFR", "2026-Q3", {"Results": res}, **kw).status for _ in range(2)]
            ['stored', 'unchanged']
        """
        _check_unit_code(unit_code)
        _check_quarter(quarter)
        new = _prepare(frames)
        problems = list(problems)
        with (self._read() if dry_run else self._write(unit_code)) as conn:
            current = _current_rows(conn, unit_code)
            diffs = _diff(current, new)
            changes = _changes_frame(diffs)
            counts = _counts_frame(diffs)
            subs = conn.execute(
                sa.select(TABLES["submissions"].c.id, TABLES["submissions"].c.quarter)
                .where(TABLES["submissions"].c.unit_code == unit_code).order_by(TABLES["submissions"].c.id)
            ).all()
            latest = subs[-1][0] if subs else None

            def outcome(status: str, sid: int | None, message: str) -> IngestOutcome:
                return IngestOutcome(status, sid, changes, message, counts, unit_code, quarter)

            if changes.empty and any(q == quarter for _, q in subs):
                return outcome("unchanged", latest,
                               f"{unit_code} {quarter}: no change since submission {latest}; nothing stored.")
            refusal = _lock_refusal(conn, unit_code, quarter, diffs)
            if refusal:
                return outcome("locked", None, refusal)
            summary = _summary(counts, len(changes))
            if dry_run:
                return outcome("dry_run", None, f"Dry run for {unit_code} {quarter}: would store {summary}; "
                                                "nothing was written.")
            sid = _insert_submission(conn, unit_code, quarter, file_name=file_name, sha256=sha256,
                                     submitted_by=submitted_by, ingested_by=ingested_by,
                                     n_warnings=sum(1 for p in problems if p.severity == WARNING),
                                     n_changes=len(changes))
            _insert_problems(conn, sid, problems)
            _close_versions(conn, sid, diffs)
            _insert_versions(conn, unit_code, sid, diffs)
            _insert_change_log(conn, unit_code, sid, changes)
        log.info("stored submission %s for %s %s (%d field changes)", sid, unit_code, quarter, len(changes))
        return outcome("stored", sid, f"Stored submission {sid} for {unit_code} {quarter}: {summary}.")

    # ---- approvals

    @_guarded("record the approval")
    def approve(self, unit_code: str, quarter: str, by: str, config: Config) -> dict:
        """Approve (lock) a unit-quarter. Only an approver listed in the settings may.

        Returns the approval: unit_code, quarter, approved_by, approved_at, submission_id
        (the submission the approved state rests on). Raises :class:`ApprovalError`.

        Example:
            >>> st.approve("AFR", "2026-Q3", "Amara Diallo", cfg)["approved_by"]  # doctest: +SKIP
            'Amara Diallo'
        """
        try:
            unit = config.unit(unit_code)
        except ConfigError:
            raise ApprovalError(f"unknown unit {unit_code!r}: it is not listed in the workbench settings; "
                                "there is nothing to approve") from None
        if not isinstance(quarter, str) or schema.parse_period(quarter) is None:
            raise ApprovalError(f"not a quarter: {quarter!r} (expected e.g. 2026-Q3)")
        who = " ".join(str(by or "").split())
        match = next((a for a in unit.approvers if a.casefold() == who.casefold()), None) if who else None
        if match is None:
            if not unit.approvers:
                raise ApprovalError(f"No approver is listed for {unit_code} in the workbench settings; "
                                    f"nobody may approve {unit_code}")
            role = unit.approver_role or "approver"
            raise ApprovalError(f"Only the {role} of {unit_code} ({' or '.join(unit.approvers)}) "
                                f"may approve {unit_code}")
        subs, appr = TABLES["submissions"], TABLES["approvals"]
        with self._write(unit_code) as conn:
            done = conn.execute(sa.select(appr.c.approved_by, appr.c.approved_at)
                                .where(appr.c.unit_code == unit_code, appr.c.quarter == quarter)).first()
            if done is not None:
                raise ApprovalError(f"{unit_code} {quarter} was already approved by {done.approved_by} "
                                    f"on {_show_time(done.approved_at)}")
            has = conn.execute(sa.select(sa.func.count()).select_from(subs)
                               .where(subs.c.unit_code == unit_code, subs.c.quarter == quarter)).scalar_one()
            if not has:
                raise ApprovalError(f"{unit_code} has no submission for {quarter}; there is nothing to approve")
            sid = conn.execute(sa.select(sa.func.max(subs.c.id))
                               .where(subs.c.unit_code == unit_code, subs.c.quarter <= quarter)).scalar_one()
            row = {"unit_code": unit_code, "quarter": quarter, "approved_by": match,
                   "approved_at": _utcnow(), "submission_id": int(sid)}
            conn.execute(sa.insert(appr), [row])
        log.info("%s %s approved by %s", unit_code, quarter, match)
        return row

    # ---- reading

    @_guarded("read the history")
    def history(self, unit_code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The unit's submissions and its change log (with who/when/source of each change)."""
        subs, cl = TABLES["submissions"], TABLES["change_log"]
        with self._read() as conn:
            s = _frame_of(conn.execute(sa.select(subs).where(subs.c.unit_code == unit_code).order_by(subs.c.id)))
            q = (sa.select(cl.c.id, cl.c.submission_id, subs.c.quarter, cl.c.sheet, cl.c.key, cl.c.field,
                           cl.c.old, cl.c.new, subs.c.submitted_by, subs.c.ingested_by, subs.c.ingested_at,
                           subs.c.file_name, subs.c.sha256)
                 .join(subs, subs.c.id == cl.c.submission_id)
                 .where(cl.c.unit_code == unit_code).order_by(cl.c.id))
            c = _frame_of(conn.execute(q))
        return s, c

    @_guarded("read the unit's state")
    def state(self, unit_code: str, quarter: str | None = None,
              submission_id: int | None = None) -> dict[str, pd.DataFrame]:
        """The unit's content as of a submission, as of a quarter, or now.

        Returns every data sheet (conformed, sorted by key; empty when none) and ``"Unit"``:
        one row with unit_code, quarter, submission_id, submitted_by (no row if the unit
        has no submission). As of a quarter means as of the unit's latest submission for
        that quarter or an earlier one.

        Example:
            >>> with Store("sqlite://") as st:
            ...     len(st.state("AFR")["KPIs"])
            0
        """
        if quarter is not None and submission_id is not None:
            raise StoreError("ask for the state as of a quarter or as of a submission, not both")
        if quarter is not None:
            _check_quarter(quarter)
        subs = TABLES["submissions"]
        with self._read() as conn:
            rows = conn.execute(sa.select(subs.c.id, subs.c.unit_code, subs.c.quarter, subs.c.submitted_by)
                                .where(subs.c.unit_code == unit_code).order_by(subs.c.id)).all()
            if submission_id is not None:
                pick = [r for r in rows if r.id == submission_id]
                if not pick:
                    raise StoreError(f"submission {submission_id} is not a submission of {unit_code}")
            elif quarter is not None:
                pick = [r for r in rows if r.quarter <= quarter][-1:]
            else:
                pick = rows[-1:]
            out: dict[str, pd.DataFrame] = {}
            for sh in schema.DATA_SHEETS:
                recs: list = []
                if pick:
                    t, s = TABLES[sh.table_name], pick[0].id
                    recs = conn.execute(
                        sa.select(*[t.c[c] for c in sh.column_names])
                        .where(t.c.unit_code == unit_code, t.c.sub_from <= s,
                               sa.or_(t.c.sub_to.is_(None), t.c.sub_to > s))).all()
                out[sh.name] = _sheet_frame(sh, recs, with_unit=False)
        out["Unit"] = _unit_frame([(r.unit_code, r.quarter, r.id, r.submitted_by) for r in pick])
        return out

    @_guarded("read the bureau's state")
    def bureau_state(self, quarter: str, units: list[str] | None = None) -> dict[str, pd.DataFrame]:
        """Every unit's state as of ``quarter``, concatenated with a leading ``unit_code``.

        Units without a submission up to ``quarter`` are absent; ``"Unit"`` lists each
        unit's submission used. One query per sheet.

        Example:
            >>> with Store("sqlite://") as st:
            ...     list(st.bureau_state("2026-Q3")["Risks"].columns[:2])
            ['unit_code', 'risk_id']
        """
        _check_quarter(quarter)
        subs = TABLES["submissions"]
        latest_q = sa.select(subs.c.unit_code, sa.func.max(subs.c.id).label("sid")).where(subs.c.quarter <= quarter)
        if units is not None:
            latest_q = latest_q.where(subs.c.unit_code.in_(list(units)))
        latest = latest_q.group_by(subs.c.unit_code).subquery("latest")
        with self._read() as conn:
            unit_rows = conn.execute(
                sa.select(subs.c.unit_code, subs.c.quarter, subs.c.id, subs.c.submitted_by)
                .join(latest, subs.c.id == latest.c.sid).order_by(subs.c.unit_code)).all()
            out: dict[str, pd.DataFrame] = {}
            for sh in schema.DATA_SHEETS:
                t = TABLES[sh.table_name]
                recs = conn.execute(
                    sa.select(t.c.unit_code, *[t.c[c] for c in sh.column_names])
                    .join(latest, t.c.unit_code == latest.c.unit_code)
                    .where(t.c.sub_from <= latest.c.sid,
                           sa.or_(t.c.sub_to.is_(None), t.c.sub_to > latest.c.sid))).all() if unit_rows else []
                out[sh.name] = _sheet_frame(sh, recs, with_unit=True)
        out["Unit"] = _unit_frame([tuple(r) for r in unit_rows])
        return out

    @_guarded("list the submissions")
    def submissions(self, unit_code: str | None = None) -> pd.DataFrame:
        """Every submission (of one unit if given), oldest first."""
        subs = TABLES["submissions"]
        q = sa.select(subs).order_by(subs.c.id)
        if unit_code is not None:
            q = q.where(subs.c.unit_code == unit_code)
        with self._read() as conn:
            return _frame_of(conn.execute(q))

    @_guarded("list the approvals")
    def approvals(self) -> pd.DataFrame:
        """Every approval, by unit and quarter."""
        appr = TABLES["approvals"]
        with self._read() as conn:
            return _frame_of(conn.execute(sa.select(appr).order_by(appr.c.unit_code, appr.c.quarter)))

    @_guarded("read the latest quarter")
    def latest_quarter(self, unit_code: str) -> str | None:
        """The latest quarter the unit submitted for, or None."""
        subs = TABLES["submissions"]
        with self._read() as conn:
            return conn.execute(sa.select(sa.func.max(subs.c.quarter)).where(subs.c.unit_code == unit_code)).scalar()

    @_guarded("list the units")
    def units(self) -> list[str]:
        """Units with at least one submission, sorted."""
        subs = TABLES["submissions"]
        with self._read() as conn:
            return list(conn.execute(sa.select(subs.c.unit_code).distinct().order_by(subs.c.unit_code)).scalars())

    @_guarded("read the submission's problems")
    def submission_problems(self, submission_id: int) -> pd.DataFrame:
        """The warnings stored with a submission, as :func:`rbm_utils.core.errors.problems_frame`."""
        t = TABLES["submission_problems"]
        with self._read() as conn:
            rows = conn.execute(sa.select(t).where(t.c.submission_id == submission_id).order_by(t.c.id)).all()
        return problems_frame(Problem(r.code, r.severity, r.file or "", r.sheet or "", r.row or 0,
                                      r.column or "", r.header or "", r.value, r.message or "") for r in rows)

    @_guarded("read the store")
    def dump(self) -> dict[str, list[tuple]]:
        """Every table, every row, sorted: to check the store did not change."""
        with self._read() as conn:
            return {t.name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=_sort_key)
                    for t in METADATA.sorted_tables}

    @_guarded("read the store's settings")
    def meta(self) -> dict[str, str]:
        """The ``meta`` table: schema_version, created_at."""
        m = TABLES["meta"]
        with self._read() as conn:
            return {k: v for k, v in conn.execute(sa.select(m.c.key, m.c.value))}


# --------------------------------------------------------------------------- ingest steps

def _prepare(frames: Mapping[str, pd.DataFrame]) -> dict[str, dict[tuple, tuple]]:
    """Submitted sheets as {sheet: {key: values}} of normalised Python values."""
    out: dict[str, dict[tuple, tuple]] = {}
    for name, frame in frames.items():
        if name == "Unit":
            continue
        sh = _DATA_SHEETS.get(name)
        if sh is None:
            raise StoreError(f"unknown sheet {name!r}; the store keeps {', '.join(_DATA_SHEETS)}")
        if frame is None:
            continue
        df = schema.conform(name, frame)
        keyidx = [sh.column_names.index(k) for k in sh.key]
        rows: dict[tuple, tuple] = {}
        for i, rec in enumerate(df.itertuples(index=False, name=None)):
            where = f"sheet {name}, record {i + 1}"
            vals = tuple(_norm(c, v, c.name in sh.key, where) for c, v in zip(sh.columns, rec))
            key = tuple(vals[j] for j in keyidx)
            if key in rows:
                raise StoreError(f"sheet {name}: the key {dict(zip(sh.key, key))} appears on more than one row")
            if sh.periodic and vals[sh.column_names.index(sh.periodic)] is None:
                raise StoreError(f"{where}: {sh.periodic} is empty")
            rows[key] = vals
        out[name] = rows
    return out


def _current_rows(conn: Connection, unit_code: str) -> dict[str, dict[tuple, tuple[int, tuple]]]:
    """The unit's current row versions as {sheet: {key: (row_id, values)}}."""
    out: dict[str, dict[tuple, tuple[int, tuple]]] = {}
    for sh in schema.DATA_SHEETS:
        t = TABLES[sh.table_name]
        keyidx = [sh.column_names.index(k) for k in sh.key]
        cur: dict[tuple, tuple[int, tuple]] = {}
        q = (sa.select(t.c.row_id, *[t.c[c] for c in sh.column_names])
             .where(t.c.unit_code == unit_code, t.c.sub_to.is_(None)))
        for r in conn.execute(q):
            vals = tuple(_norm(c, v, c.name in sh.key, sh.name) for c, v in zip(sh.columns, r[1:]))
            cur[tuple(vals[j] for j in keyidx)] = (r[0], vals)
        out[sh.name] = cur
    return out


def _diff(current: dict[str, dict[tuple, tuple[int, tuple]]],
          new: dict[str, dict[tuple, tuple]]) -> list[_SheetDiff]:
    diffs = []
    for sh in schema.DATA_SHEETS:
        cur, sub = current[sh.name], new.get(sh.name, {})
        d = _SheetDiff(sh)
        if sh.periodic:
            pidx = sh.column_names.index(sh.periodic)
            periods = {v[pidx] for v in sub.values()}
            scope = {k: rv for k, rv in cur.items() if rv[1][pidx] in periods}
        else:
            scope = cur
        for key in sorted(set(scope) | set(sub), key=_sort_key):
            if key not in sub:
                d.removed.append(scope[key])
            elif key not in cur:
                d.added.append(sub[key])
            else:
                row_id, old = cur[key]
                if not all(_same(c, a, b) for c, a, b in zip(sh.columns, old, sub[key])):
                    d.changed.append((row_id, old, sub[key]))
        diffs.append(d)
    return diffs


def _changes_frame(diffs: list[_SheetDiff]) -> pd.DataFrame:
    rows = []
    for d in diffs:
        sh = d.sheet
        keyidx = [sh.column_names.index(k) for k in sh.key]
        events = ([(v, None, v) for v in d.added] + [(o, o, n) for _, o, n in d.changed]
                  + [(o, o, None) for _, o in d.removed])
        events.sort(key=lambda e: _sort_key([e[0][j] for j in keyidx]))
        for vals, old, new in events:
            key = json.dumps([vals[j] for j in keyidx], ensure_ascii=False)
            for i, c in enumerate(sh.columns):
                a = None if old is None else old[i]
                b = None if new is None else new[i]
                if (old is None and b is None) or (new is None and a is None):
                    continue
                if old is not None and new is not None and _same(c, a, b):
                    continue
                rows.append((sh.name, key, c.name, _json(a), _json(b)))
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS, dtype=object)


def _counts_frame(diffs: list[_SheetDiff]) -> pd.DataFrame:
    return pd.DataFrame([(d.sheet.name, len(d.added), len(d.changed), len(d.removed)) for d in diffs],
                        columns=COUNT_COLUMNS)


def _summary(counts: pd.DataFrame, n_changes: int) -> str:
    a, c, r = (int(counts[k].sum()) for k in ("added", "changed", "removed"))
    if not n_changes:
        return "no change to the data (a new quarter's submission)"
    return f"{a} rows added, {c} changed, {r} removed ({n_changes} field changes)"


def _lock_refusal(conn: Connection, unit_code: str, quarter: str, diffs: list[_SheetDiff]) -> str:
    """Why the submission is refused by an approval, or "" if it is not."""
    appr = TABLES["approvals"]
    approved = {r.quarter: r for r in conn.execute(sa.select(appr).where(appr.c.unit_code == unit_code))}
    if not approved:
        return ""

    def said(q: str) -> str:
        a = approved[q]
        return f"{unit_code} {q} was approved by {a.approved_by} on {_show_time(a.approved_at)}; changes to it are refused"

    if quarter in approved:
        return said(quarter)
    later = sorted(q for q in approved if q > quarter)
    if later:
        return (f"{said(later[-1])} (a submission for the earlier quarter {quarter} would change the "
                f"approved figures)")
    hits: dict[str, list[str]] = {}
    for d in diffs:
        if not d.sheet.periodic:
            continue
        pidx = d.sheet.column_names.index(d.sheet.periodic)
        for vals in d.touched():
            if vals[pidx] in approved and d.sheet.name not in hits.setdefault(vals[pidx], []):
                hits[vals[pidx]].append(d.sheet.name)
    return "; ".join(f"{said(q)} ({' and '.join(hits[q])} rows of {q} differ)" for q in sorted(hits))


def _insert_submission(conn: Connection, unit_code: str, quarter: str, **fields: Any) -> int:
    res = conn.execute(sa.insert(TABLES["submissions"]).values(
        unit_code=unit_code, quarter=quarter, ingested_at=_utcnow(),
        **{k: (str(v) if k not in ("n_warnings", "n_changes") else int(v)) for k, v in fields.items()}))
    return int(res.inserted_primary_key[0])


def _insert_problems(conn: Connection, sid: int, problems: list[Problem]) -> None:
    if not problems:
        return
    rows = [{"submission_id": sid, "code": p.code, "severity": p.severity, "file": p.file, "sheet": p.sheet,
             "row": int(p.row or 0), "column": p.column, "header": p.header,
             "value": None if p.value is None else str(p.value), "message": p.message} for p in problems]
    conn.execute(sa.insert(TABLES["submission_problems"]), rows)


def _close_versions(conn: Connection, sid: int, diffs: list[_SheetDiff]) -> None:
    """Mark replaced and deleted row versions with ``sub_to``."""
    for d in diffs:
        ids = [r[0] for r in d.changed] + [r[0] for r in d.removed]
        t = TABLES[d.sheet.table_name]
        for i in range(0, len(ids), _CHUNK):
            conn.execute(sa.update(t).where(t.c.row_id.in_(ids[i:i + _CHUNK]), t.c.sub_to.is_(None))
                         .values(sub_to=sid))


def _insert_versions(conn: Connection, unit_code: str, sid: int, diffs: list[_SheetDiff]) -> None:
    """Insert the added rows and the new versions of changed rows."""
    for d in diffs:
        vals = d.added + [n for _, _, n in d.changed]
        if not vals:
            continue
        names = d.sheet.column_names
        rows = [{"unit_code": unit_code, **dict(zip(names, v)), "sub_from": sid, "sub_to": None} for v in vals]
        conn.execute(sa.insert(TABLES[d.sheet.table_name]), rows)


def _insert_change_log(conn: Connection, unit_code: str, sid: int, changes: pd.DataFrame) -> None:
    if changes.empty:
        return
    rows = [{"submission_id": sid, "unit_code": unit_code, "sheet": s, "key": k, "field": f, "old": o, "new": n}
            for s, k, f, o, n in changes.itertuples(index=False, name=None)]
    conn.execute(sa.insert(TABLES["change_log"]), rows)


# --------------------------------------------------------------------------- frames

def _frame_of(result: sa.engine.Result) -> pd.DataFrame:
    """Rows as a frame: whole-number columns Int64, text columns object with None for missing."""
    cols = list(result.keys())
    df = pd.DataFrame([tuple(r) for r in result], columns=cols, dtype=object)
    for c in cols:
        vals = [v for v in df[c] if v is not None]
        if vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            df[c] = df[c].astype("Int64")
    return df


def _sheet_frame(sh: schema.Sheet, recs: list, with_unit: bool) -> pd.DataFrame:
    if not recs:
        return schema.empty_frame(sh.name, with_unit=with_unit)
    cols = (["unit_code"] if with_unit else []) + list(sh.column_names)
    df = schema.conform(sh.name, pd.DataFrame([tuple(r) for r in recs], columns=cols, dtype=object),
                        with_unit=with_unit)
    by = (["unit_code"] if with_unit else []) + list(sh.key)
    return df.sort_values(by, kind="stable", na_position="first").reset_index(drop=True)


UNIT_COLUMNS = ["unit_code", "quarter", "submission_id", "submitted_by"]


def _unit_frame(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=UNIT_COLUMNS, dtype=object)
    df["submission_id"] = df["submission_id"].astype("Int64")
    return df
