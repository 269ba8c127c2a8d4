"""The versioned, append-only store of unit submissions (SQLAlchemy Core).

An SQLite file by default (WAL mode, busy timeout, foreign keys on); any ``postgresql+psycopg://`` URL for a shared
deployment (:mod:`rbm_utils.store.engine`). Nothing is ever deleted: every row version carries the submission that
added it (``sub_from``) and the one that replaced or deleted it (``sub_to``, NULL while current), so a unit's content
can be rebuilt as of any submission or quarter (tables: :mod:`rbm_utils.store.tables`; diffing:
:mod:`rbm_utils.store.diff`; writing versions: :mod:`rbm_utils.store.versions`). Every field change is in
``change_log``; approvals lock a unit-quarter. A quarter is given as a :class:`~rbm_utils.core.quarters.Quarter` or
its text; the store keeps the text.

Example:
    >>> import pandas as pd
    >>> from rbm_utils.core import schema
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

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rbm_utils.core import schema
from rbm_utils.core.config import Authority, Config
from rbm_utils.core.errors import WARNING, Problem, problems_frame
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.store.approvals import authorised_approver, lock_refusal, record_approval
from rbm_utils.store.authority import FRAMEWORK_SHEETS, change_problems, item_rows
from rbm_utils.store.bulk_read import bureau_frames
from rbm_utils.store.diff import (
    changes_frame,
    counts_frame,
    diff_rows,
    n_field_changes,
    prepare_rows,
    sort_key,
    summary,
)
from rbm_utils.store.engine import guarded, lock_key, make_engine
from rbm_utils.store.errors import ApprovalError, StoreError
from rbm_utils.store.escalation import approval_frames, quarter_changes
from rbm_utils.store.migrate import upgrade
from rbm_utils.store.outcome import STATUSES, IngestOutcome
from rbm_utils.store.stale import stale_refusal
from rbm_utils.store.tables import METADATA, TABLES, frame_of, unit_frame
from rbm_utils.store.versions import (
    change_history,
    close_versions,
    current_rows,
    insert_change_log,
    insert_problems,
    insert_submission,
    insert_versions,
    read_problems,
    sheets_as_of,
)

log = logging.getLogger(__name__)

__all__ = ["Store", "IngestOutcome", "StoreError", "ApprovalError", "STATUSES"]


def _utcnow() -> str:
    """Current UTC time as ISO text, e.g. ``2026-10-03T14:02:11Z`` (tests monkeypatch it)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _received(at: datetime | None) -> str:
    """When a workbook was received, as UTC ISO text (now when not given); a time without a zone is refused.

    >>> from datetime import timedelta, timezone
    >>> _received(datetime(2026, 10, 12, 11, 0, tzinfo=timezone(timedelta(hours=2))))
    '2026-10-12T09:00:00Z'
    """
    if at is None:
        return _utcnow()
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise StoreError(f"the time a workbook was received needs its time zone (e.g. UTC): {at!r}")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_unit_code(unit_code: str) -> None:
    if not isinstance(unit_code, str) or not schema.UNIT_CODE_RE.match(unit_code):
        raise StoreError(f"not a unit code: {unit_code!r} (expected e.g. AFR or CYB)")


def _parse_quarter(quarter: QuarterLike) -> Quarter:
    """The quarter of a store call (a Quarter or its text); :class:`StoreError` for anything else."""
    q = Quarter.parse_or_none(quarter)
    if q is None:
        raise StoreError(f"not a quarter: {quarter!r} (expected e.g. 2026-Q3)")
    return q


class Store:
    """A versioned store of unit submissions. ``Store(url)`` creates missing tables (the module's example)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = make_engine(url)
        self.safe_url = self._engine.url.render_as_string(hide_password=True)
        self.dialect = self._engine.dialect.name
        try:
            self._init_schema()
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"Store({self.safe_url!r})"

    def __enter__(self) -> Store:
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
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(lock_name)})
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """One read transaction: every query sees the same snapshot."""
        with self._engine.connect() as conn:
            if self.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    writing, reading = _write, _read  # the same transactions for the store's other modules (users)

    @guarded("be opened")
    def _init_schema(self) -> None:
        meta = TABLES["meta"]
        with self._write("__schema__") as conn:
            METADATA.create_all(conn)
            found = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
            if found is None:
                conn.execute(
                    sa.insert(meta),
                    [
                        {"key": "schema_version", "value": schema.SCHEMA_VERSION},
                        {"key": "created_at", "value": _utcnow()},
                    ],
                )
            else:  # an older store gains this contract's new columns; a newer one is refused
                added = upgrade(conn, found, self.safe_url)
                if found != schema.SCHEMA_VERSION:
                    conn.execute(
                        sa.update(meta).where(meta.c.key == "schema_version").values(value=schema.SCHEMA_VERSION)
                    )
                    log.info("store %s upgraded from schema %s: added %s", self.safe_url, found, added or "nothing")

    # ---- ingest

    @guarded("store the submission")
    def ingest(
        self,
        unit_code: str,
        quarter: QuarterLike,
        frames: Mapping[str, pd.DataFrame],
        *,
        file_name: str,
        sha256: str,
        submitted_by: str,
        ingested_by: str,
        problems: Sequence[Problem] = (),
        dry_run: bool = False,
        authority: Authority | None = None,
        rows: Mapping[str, Sequence[int]] | None = None,
        received_at: datetime | None = None,
        based_on: int | None = None,
        force_over: int | None = None,
    ) -> IngestOutcome:
        """Store a unit's validated workbook for ``quarter`` as a new submission.

        Non-periodic sheets are replaced whole (absent sheet = empty); periodic sheets (Actuals,
        Expenditure) only for the periods the submission carries. No change -> ``unchanged`` and nothing
        written; an approved quarter -> ``locked``; a workbook made from a submission older than someone
        else's newer one -> ``stale`` (``based_on``, ``force_over``: :mod:`rbm_utils.store.stale`). The
        framework changes against the last approved quarter are classified by ``authority`` (default: the
        settings' defaults) and their warnings stored with the submission; ``rows`` (the reader's Excel row
        of each record, by sheet) places the warnings. ``received_at`` (a time with its zone; default now)
        is when the workbook arrived, stored as the submission's ``ingested_at``.

        Example:
            >>> res = schema.conform("Results", pd.DataFrame(
            ...     {"result_id": ["R1"], "level": ["output"], "title": ["T"]}))
            >>> with Store("sqlite://") as st:
            ...     kw = dict(file_name="f.xlsx", sha256="0" * 64, submitted_by="Ada", ingested_by="me")
            ...     [st.ingest("AFR", "2026-Q3", {"Results": res}, **kw).status for _ in range(2)]
            ['stored', 'unchanged']
        """
        _check_unit_code(unit_code)
        period = _parse_quarter(quarter)
        text = str(period)
        at = _received(received_at)
        new = prepare_rows(frames)
        with self._read() if dry_run else self._write(unit_code) as conn:
            current = current_rows(conn, unit_code)
            diffs = diff_rows(current, new)
            n_changes, listed = n_field_changes(diffs), partial(changes_frame, diffs)  # listed when read
            counts = counts_frame(diffs)
            subs = conn.execute(
                sa.select(TABLES["submissions"].c.id, TABLES["submissions"].c.quarter)
                .where(TABLES["submissions"].c.unit_code == unit_code)
                .order_by(TABLES["submissions"].c.id)
            ).all()
            latest = subs[-1][0] if subs else None

            auth = authority or Authority()
            submitted = {n: frames[n] for n in (*FRAMEWORK_SHEETS, "Decisions") if frames.get(n) is not None}
            framework = quarter_changes(conn, unit_code, text, auth, submitted)
            warnings = change_problems(framework, file_name, auth, item_rows(frames, rows or {}))

            def outcome(status: str, sid: int | None, message: str) -> IngestOutcome:
                return IngestOutcome(
                    status, sid, listed, message, counts, unit_code, text, framework, warnings, n_changes
                )

            if not n_changes and any(s == text for _, s in subs):
                return outcome(
                    "unchanged", latest, f"{unit_code} {text}: no change since submission {latest}; nothing stored."
                )
            refusal = lock_refusal(conn, unit_code, period, diffs)
            stale, forced = stale_refusal(conn, unit_code, submitted_by, based_on, force_over)
            if refusal or stale:  # an approved quarter; a workbook made before someone else's newer submission
                return outcome("locked" if refusal else "stale", None, refusal or stale or "")
            said = summary(counts, n_changes)
            if dry_run:
                return outcome(
                    "dry_run", None, f"Dry run for {unit_code} {text}: would store {said}; nothing was written."
                )
            sid = insert_submission(
                conn,
                unit_code,
                text,
                ingested_at=at,
                file_name=file_name,
                sha256=sha256,
                submitted_by=submitted_by,
                ingested_by=ingested_by,
                n_warnings=sum(1 for p in [*problems, *warnings] if p.severity == WARNING),
                n_changes=n_changes,
                based_on=based_on,
                forced_over=forced,
            )
            insert_problems(conn, sid, [*problems, *warnings])
            close_versions(conn, sid, diffs)
            insert_versions(conn, unit_code, sid, diffs)
            insert_change_log(conn, unit_code, sid, diffs)
        log.info("stored submission %s for %s %s (%d field changes)", sid, unit_code, text, n_changes)
        return outcome("stored", sid, f"Stored submission {sid} for {unit_code} {text}: {said}.")

    # ---- approvals

    @guarded("record the approval")
    def approve(self, unit_code: str, quarter: QuarterLike, by: str, config: Config) -> dict:
        """Approve (lock) a unit-quarter as ``by``, a name of the settings (people approve as their
        registered user: :func:`rbm_utils.store.signoff.approve_as`). Only the unit's approvers or
        a bureau approver listed in the settings may; changes beyond the unit's authority keep it
        ``pending`` until a bureau approver approves it too (a second event).

        Returns the approval (:func:`rbm_utils.store.approvals.record_approval`): unit_code,
        quarter, approved_by, approved_at, submission_id (the submission the approved state
        rests on), bureau_approved_by/at, state, by, role, changes. Raises :class:`ApprovalError`.

        Example:
            >>> st.approve("AFR", "2026-Q3", "Amara Diallo", cfg)["state"]  # doctest: +SKIP
            'pending'
        """
        text, approver = authorised_approver(unit_code, quarter, by, config)
        with self._write(unit_code) as conn:
            row = record_approval(conn, unit_code, text, approver, _utcnow(), config.authority)
        log.info("%s %s approved by %s (%s): %s", unit_code, text, approver.name, approver.role, row["state"])
        return row

    @guarded("read the approval states")
    def approval_states(
        self, quarter: QuarterLike, authority: Authority | None = None, currency: str = ""
    ) -> pd.DataFrame:
        """Each unit's approval state of ``quarter`` (draft, approved, pending), one row per unit
        with a submission up to it: :data:`rbm_utils.store.escalation.APPROVAL_COLUMNS`.

        ``authority`` classifies the changes (default: the settings' defaults).

        Example:
            >>> with Store("sqlite://") as st:
            ...     list(st.approval_states("2026-Q3").columns[:3])
            ['unit_code', 'quarter', 'state']
        """
        return self.approval_tables(quarter, authority, currency)[0]

    @guarded("read the framework changes")
    def framework_changes(self, quarter: QuarterLike, authority: Authority | None = None) -> pd.DataFrame:
        """Every unit's framework changes of ``quarter`` against its last approved quarter, with the
        authority each needs, its covering decision and its status:
        :data:`rbm_utils.store.escalation.FRAMEWORK_CHANGE_COLUMNS`."""
        return self.approval_tables(quarter, authority)[1]

    @guarded("read the approval states")
    def approval_tables(
        self, quarter: QuarterLike, authority: Authority | None = None, currency: str = ""
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:meth:`approval_states` and :meth:`framework_changes` of ``quarter`` read together, once."""
        with self._read() as conn:
            return approval_frames(conn, str(_parse_quarter(quarter)), authority or Authority(), currency)

    # ---- reading

    @guarded("read the history")
    def history(self, unit_code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The unit's submissions and its change log (with who/when/source of each change)."""
        subs = TABLES["submissions"]
        with self._read() as conn:
            s = frame_of(conn.execute(sa.select(subs).where(subs.c.unit_code == unit_code).order_by(subs.c.id)))
            c = change_history(conn, unit_code)
        return s, c

    @guarded("read the unit's state")
    def state(
        self, unit_code: str, quarter: QuarterLike | None = None, submission_id: int | None = None
    ) -> dict[str, pd.DataFrame]:
        """The unit's content as of a submission, as of a quarter, or now.

        Returns every data sheet (conformed, sorted by key; empty when none) and ``"Unit"``:
        one row (:data:`~rbm_utils.store.tables.UNIT_COLUMNS`: unit_code, quarter, submission_id,
        submitted_by, first_received_at, ingested_at; no row if the unit has no submission), where
        ``first_received_at`` is when the unit's first submission for that quarter arrived. As of a
        quarter means as of the unit's latest submission for that quarter or an earlier one.

        Example:
            >>> with Store("sqlite://") as st:
            ...     len(st.state("AFR")["KPIs"])
            0
        """
        if quarter is not None and submission_id is not None:
            raise StoreError("ask for the state as of a quarter or as of a submission, not both")
        as_of = str(_parse_quarter(quarter)) if quarter is not None else None
        subs = TABLES["submissions"]
        with self._read() as conn:
            rows = conn.execute(
                sa.select(subs.c.id, subs.c.unit_code, subs.c.quarter, subs.c.submitted_by, subs.c.ingested_at)
                .where(subs.c.unit_code == unit_code)
                .order_by(subs.c.id)
            ).all()
            pick: Sequence[Any]
            if submission_id is not None:
                pick = [r for r in rows if r.id == submission_id]
                if not pick:
                    raise StoreError(f"submission {submission_id} is not a submission of {unit_code}")
            elif as_of is not None:
                pick = [r for r in rows if r.quarter <= as_of][-1:]
            else:
                pick = rows[-1:]
            out = sheets_as_of(conn, unit_code, pick[0].id if pick else None)
        first = {r.quarter: r.ingested_at for r in reversed(rows)}  # the earliest submission of each quarter
        out["Unit"] = unit_frame(
            [(r.unit_code, r.quarter, r.id, r.submitted_by, first[r.quarter], r.ingested_at) for r in pick]
        )
        return out

    @guarded("read the bureau's state")
    def bureau_state(self, quarter: QuarterLike, units: list[str] | None = None) -> dict[str, pd.DataFrame]:
        """Every unit's state as of ``quarter``, concatenated with a leading ``unit_code``.

        Units without a submission up to ``quarter`` are absent; ``"Unit"`` lists each
        unit's submission used, with when its first submission for that quarter arrived
        (``first_received_at``) and when this one did (``ingested_at``). One query per sheet.

        Example:
            >>> with Store("sqlite://") as st:
            ...     list(st.bureau_state("2026-Q3")["Risks"].columns[:2])
            ['unit_code', 'risk_id']
        """
        with self._read() as conn:
            return bureau_frames(conn, str(_parse_quarter(quarter)), units)

    @guarded("list the submissions")
    def submissions(self, unit_code: str | None = None) -> pd.DataFrame:
        """Every submission (of one unit if given), oldest first."""
        subs = TABLES["submissions"]
        q = sa.select(subs).order_by(subs.c.id)
        if unit_code is not None:
            q = q.where(subs.c.unit_code == unit_code)
        with self._read() as conn:
            return frame_of(conn.execute(q))

    @guarded("list the approvals")
    def approvals(self) -> pd.DataFrame:
        """Every approval, by unit and quarter."""
        appr = TABLES["approvals"]
        with self._read() as conn:
            return frame_of(conn.execute(sa.select(appr).order_by(appr.c.unit_code, appr.c.quarter)))

    @guarded("read the latest quarter")
    def latest_quarter(self, unit_code: str) -> str | None:
        """The latest quarter the unit submitted for, or None."""
        subs = TABLES["submissions"]
        with self._read() as conn:
            return conn.execute(sa.select(sa.func.max(subs.c.quarter)).where(subs.c.unit_code == unit_code)).scalar()

    @guarded("list the units")
    def units(self) -> list[str]:
        """Units with at least one submission, sorted."""
        subs = TABLES["submissions"]
        with self._read() as conn:
            return list(conn.execute(sa.select(subs.c.unit_code).distinct().order_by(subs.c.unit_code)).scalars())

    @guarded("read the submission's problems")
    def submission_problems(self, submission_id: int) -> pd.DataFrame:
        """The warnings stored with a submission, as :func:`rbm_utils.core.errors.problems_frame`."""
        with self._read() as conn:
            return problems_frame(read_problems(conn, submission_id))

    @guarded("read the store")
    def dump(self) -> dict[str, list[tuple]]:
        """Every table, every row, sorted: to check the store did not change."""
        with self._read() as conn:
            return {
                t.name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=sort_key)
                for t in METADATA.sorted_tables
            }

    @guarded("read the store's settings")
    def meta(self) -> dict[str, str]:
        """The ``meta`` table: schema_version, created_at."""
        m = TABLES["meta"]
        with self._read() as conn:
            return {k: v for k, v in conn.execute(sa.select(m.c.key, m.c.value))}
