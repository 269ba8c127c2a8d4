"""Ingest one workbook: read, validate, and (if no error) store it as a submission.

Errors block and leave the store untouched; warnings are stored with the submission.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> from rbm_utils.store.database import Store
    >>> cfg = load_config()
    >>> with Store("sqlite:///tmp/x.sqlite") as st:                      # doctest: +SKIP
    ...     ingest_file("data/sample/AFR.xlsx", st, cfg, by="officer").status
    'stored'
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rbm_utils.core.config import Config
from rbm_utils.core.errors import problem, problems_frame
from rbm_utils.intake.validate import Parsed, parse_source
from rbm_utils.store.errors import StoreError
from rbm_utils.store.outcome import IngestOutcome
from rbm_utils.store.users import User

log = logging.getLogger(__name__)

#: Exit codes of ``rbm ingest`` (docs/ingest.md).
EXIT_STORED = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_STALE = 3  # a workbook made from an older submission than someone else's newer one (--force-over)


@dataclass
class IngestReport:
    """What happened to one file. ``status``: stored, unchanged, dry_run, rejected, locked, stale, failed."""

    file: str
    status: str
    message: str
    unit_code: str | None = None
    quarter: str | None = None
    submission_id: int | None = None
    problems: pd.DataFrame = field(default_factory=lambda: problems_frame([]))
    changes_of: pd.DataFrame | IngestOutcome | None = None  # the store's outcome: its changes listed when read
    counts: pd.DataFrame | None = None
    framework_changes: pd.DataFrame | None = None
    submitted_by: str = ""  # the Unit sheet's officer (the sample's say "(illustrative)")

    @property
    def changes(self) -> pd.DataFrame | None:
        """Every field change stored (:attr:`IngestOutcome.changes`), listed when first read."""
        return self.changes_of.changes if isinstance(self.changes_of, IngestOutcome) else self.changes_of

    @property
    def accepted(self) -> bool:
        return self.status in ("stored", "unchanged", "dry_run")

    @property
    def n_errors(self) -> int:
        return int((self.problems["severity"] == "error").sum()) if not self.problems.empty else 0

    @property
    def n_warnings(self) -> int:
        return int((self.problems["severity"] == "warning").sum()) if not self.problems.empty else 0


def ingest_file(
    path: str | Path,
    store,
    config: Config,
    by: str,
    dry_run: bool = False,
    today: dt.date | None = None,
    user: User | None = None,
    force_over: int | None = None,
) -> IngestReport:
    """Validate ``path`` and store it unless it has errors. Never raises for bad input.

    The file is checked against the unit's state in the store too (a KPI's measure must not
    change; decreases, outliers and overspending look at the stored quarters). The changes of
    the framework against the last approved quarter come back in ``framework_changes`` with
    the authority each needs (``config.authority``); their warnings join the problems. ``user``
    (the registered person ingesting, when the store has users) must ingest for the file's unit
    (:meth:`~rbm_utils.store.users.User.ingests_for`), even for a dry run; else ``failed``.
    A workbook made from a submission older than someone else's newer one is refused (status
    ``stale``, problem ``stale_submission``) unless ``force_over`` names that newer one
    (:mod:`rbm_utils.store.stale`).
    """

    with cycles_unchecked():
        return _ingest(path, store, config, by, dry_run, today, user, force_over)


@contextmanager
def cycles_unchecked() -> Iterator[None]:
    """Python's cycle collector paused for the block, as it was after (memory is still freed as
    soon as nothing refers to it; only objects that refer to each other wait until the end).

    Reading a 50,000-row workbook makes a few million small objects (cells, records, rows), and
    the collector walked all of them again and again: a sixth of the ingest's time.

    >>> import gc
    >>> with cycles_unchecked():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _ingest(
    path: str | Path,
    store,
    config: Config,
    by: str,
    dry_run: bool,
    today: dt.date | None,
    user: User | None,
    force_over: int | None,
) -> IngestReport:
    def previous(unit_code: str):
        try:
            return store.state(unit_code)
        except StoreError as exc:  # the store itself is checked again when storing
            log.warning("could not read %s's state to compare with: %s", unit_code, exc)
            return None

    parsed: Parsed = parse_source(path, config, today=today, previous=previous)
    table = parsed.problems_frame()
    unit = parsed.unit.get("unit_code")
    quarter = parsed.unit.get("reporting_quarter")
    who = str(parsed.unit.get("submitted_by") or "")
    if user is not None and unit and not user.ingests_for(str(unit)):  # nothing of the unit's state shown
        return IngestReport(
            parsed.file,
            "failed",
            f"{parsed.file}: not stored: {user.name} ({user.role}) may not ingest for {unit}; its officers, "
            f"its approvers and the bureau's leadership may",
            unit,
            quarter,
            submitted_by=who,
        )
    if not parsed.ok:
        n = len(parsed.errors)
        return IngestReport(
            parsed.file,
            "rejected",
            f"{parsed.file}: rejected with {n} error{'s' if n != 1 else ''} "
            f"and {len(parsed.warnings)} warning{'s' if len(parsed.warnings) != 1 else ''}; the store is unchanged.",
            unit,
            quarter,
            problems=table,
            submitted_by=who,
        )
    try:
        outcome = store.ingest(
            unit,
            quarter,
            parsed.frames,
            file_name=parsed.file,
            sha256=parsed.sha256,
            submitted_by=str(parsed.unit.get("submitted_by") or ""),
            ingested_by=by,
            problems=parsed.warnings,
            dry_run=dry_run,
            authority=config.authority,
            rows=parsed.rows,
            based_on=parsed.unit.get("based_on_submission"),
            force_over=force_over,
        )
    except StoreError as exc:
        log.warning("store refused %s: %s", parsed.file, exc)
        return IngestReport(
            parsed.file, "failed", f"{parsed.file}: not stored: {exc}", unit, quarter, problems=table, submitted_by=who
        )
    if outcome.status == "stale":
        based_on = parsed.unit.get("based_on_submission")
        stale = problem(
            "stale_submission", parsed.file, "Unit", 0, "B", "based_on_submission", based_on, outcome.message
        )
        return IngestReport(
            parsed.file,
            "stale",
            f"{parsed.file}: not stored: {outcome.message}",
            unit,
            quarter,
            problems=problems_frame([*parsed.problems, stale]),
            submitted_by=who,
        )
    return IngestReport(
        parsed.file,
        outcome.status,
        f"{parsed.file}: {outcome.message}",
        unit,
        quarter,
        outcome.submission_id,
        problems_frame([*parsed.problems, *outcome.warnings]),
        outcome,
        outcome.counts,
        outcome.framework_changes,
        who,
    )
