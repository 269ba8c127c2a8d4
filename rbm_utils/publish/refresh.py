"""Between reviews: republish the open quarter's draft reviews of the units that submitted.

A refresh is ``rbm review --update`` cut down to what a submission changes. For the units
named (those with a new accepted submission for the quarter) it freezes the store's state
into the quarter's ``snapshot/`` and ``analysis/`` (the old ones archived) and runs, through
the batch's own jobs, runner and :func:`rbm_utils.publish.folders.finish_job`, only:

- each named unit's review, when the unit's quarter is still a **draft** (not approved, not
  pending the bureau): an approved unit's published folder is never touched by a refresh;
  only ``rbm review`` (``--update`` or ``--force``) republishes it;
- the joint reviews of each named unit (cluster x region pairs with work in common);
- the bureau overview.

Every other unit's folder is left as it is. Each folder is published atomically and each
job is isolated as in the batch: a job that fails leaves its last published version (the
last good draft) in place. A quarter before the settings' current quarter is closed: a
refresh refuses it (:class:`RefreshError`).

Where each unit's refresh stands is written to ``outputs/<Q>/refresh.json``
(:mod:`rbm_utils.publish.refresh_state`): ``running`` while its jobs run, then ``done`` or
``failed`` with a message in words. The jobs' results are merged into the quarter's
``run_report.json``, one entry per notebook, so the landing page's badges stay true. One
refresh of a quarter runs at a time (``outputs/<Q>/.locks/refresh.lock``, :mod:`filelock`).

Example:
    >>> result = refresh_quarter("2026-Q3", ["AFR"])          # doctest: +SKIP
    >>> sorted(result.jobs)                                     # doctest: +SKIP
    ['AFR', 'joint-CYB-AFR', 'overview']
    >>> dependent_jobs(["AFR"], ["CYB-AFR", "DIN-AMS"])
    ['AFR', 'joint-CYB-AFR', 'overview']
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from rbm_utils.core.config import PROJECT_ROOT, Config, load_config
from rbm_utils.core.files import atomic_write_json
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.publish import badges
from rbm_utils.publish.jobs import STATUSES, JobResult
from rbm_utils.publish.quarterly import FAILED, OVERVIEW_NAME, ReviewExports, batch_order, plan_review, report_order
from rbm_utils.publish.refresh_state import UnitRefresh, read_refresh_state, write_refresh_state
from rbm_utils.publish.runner import check_not_starting_job, job_record, run_notebooks
from rbm_utils.store.database import Store

log = logging.getLogger(__name__)

#: The approval state in which a unit's review may be refreshed; any other (approved, pending
#: the bureau) means the unit-quarter is locked and its published review is the record.
DRAFT_STATE = "draft"
#: The lock file, under ``outputs/<Q>/.locks/``: one refresh of a quarter at a time.
REFRESH_LOCK = "refresh.lock"
#: Job statuses that mean the job's folder holds its newest version.
PUBLISHED = ("ok", "skipped_unchanged")


class RefreshError(RuntimeError):
    """The quarter cannot be refreshed (closed quarter, another refresh holds the lock too long)."""


@dataclass(frozen=True)
class Submission:
    """One accepted submission, as a refresh names it."""

    id: int
    unit_code: str
    quarter: str
    submitted_by: str = ""
    submitted_at: str = ""


@dataclass
class RefreshResult:
    """What one refresh did: the units refreshed, those left alone (and why), each job's result."""

    quarter: str
    units: list[str] = field(default_factory=list)
    left: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, JobResult] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every refreshed unit's reviews are published."""
        return not self.failed


def now_iso() -> str:
    """The time now, UTC, ISO 8601 to the second with ``Z``."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def dependent_jobs(units: Sequence[str], pairs: Sequence[str]) -> list[str]:
    """The jobs a refresh of ``units`` runs: their reviews, their joint reviews (``pairs``: every
    ``CLUSTER-REGION`` with work in common), the overview.

    >>> dependent_jobs(["CYB"], ["CYB-AFR", "CYB-AMS", "DIN-AFR"])
    ['CYB', 'joint-CYB-AFR', 'joint-CYB-AMS', 'overview']
    """
    chosen = set(units)
    joint = [f"joint-{p}" for p in pairs if set(p.split("-", 1)) & chosen]
    return [*units, *joint, OVERVIEW_NAME]


def submissions_of(store: Store, quarter: QuarterLike, after: int = 0) -> list[Submission]:
    """The accepted submissions for ``quarter`` with an id above ``after``, oldest first."""
    q = str(Quarter.parse(quarter))
    subs = store.submissions()
    if subs.empty:
        return []
    subs = subs[(subs["quarter"] == q) & (subs["id"] > after)]
    return [
        Submission(int(r.id), str(r.unit_code), q, str(r.submitted_by or ""), str(r.ingested_at or ""))
        for r in subs.itertuples(index=False)
    ]


def latest_by_unit(subs: Sequence[Submission]) -> dict[str, Submission]:
    """The newest submission of each unit among ``subs``."""
    out: dict[str, Submission] = {}
    for s in subs:
        if s.unit_code not in out or s.id > out[s.unit_code].id:
            out[s.unit_code] = s
    return out


def approval_states(store: Store, quarter: QuarterLike, config: Config) -> dict[str, str]:
    """Each unit's approval state for ``quarter`` (``draft``, ``approved``, ``pending``)."""
    states = store.approval_states(quarter, config.authority, config.currency)
    return {str(r.unit_code): str(r.state) for r in states.itertuples(index=False)}


def check_open(quarter: QuarterLike, config: Config) -> Quarter:
    """The quarter, when a refresh may touch it: not before the settings' current quarter."""
    q = Quarter.parse(quarter)
    current = Quarter.parse(config.current_quarter)
    if q < current:
        raise RefreshError(
            f"{q} is closed (the current quarter is {current}): a refresh never touches it; "
            f"rbm review --quarter {q} --update publishes it again"
        )
    return q


def _what(name: str) -> str:
    """A job's review in words."""
    if name == OVERVIEW_NAME:
        return "the bureau overview"
    return f"the joint review {name.removeprefix('joint-')}" if name.startswith("joint-") else f"the review of {name}"


def _message(res: JobResult | None, name: str) -> str:
    """A failed job in words, one line, no traceback."""
    if res is None:
        return f"{_what(name)} did not run"
    why = (res.error_value or res.error_name or res.status).strip().splitlines()
    return f"{_what(name)} was not refreshed ({res.status}: {(why[0] if why else res.status)[:200]})"


def merge_run_report(path: Path, results: Sequence[JobResult]) -> None:
    """Replace the entries of ``results``' jobs in the quarter's ``run_report.json`` (others kept)."""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = {}
    if not isinstance(report, dict):
        report = {}
    jobs = {str(j.get("name")): j for j in report.get("jobs", []) if isinstance(j, dict)}
    for r in results:
        jobs[r.name] = {**job_record(r), "refreshed_at": now_iso()}
    totals: dict[str, int] = {s: 0 for s in STATUSES}
    for j in jobs.values():
        totals[str(j.get("status"))] = totals.get(str(j.get("status")), 0) + 1
    report.update(
        jobs=list(jobs.values()),
        totals={"jobs": len(jobs), **totals},
        all_ok=all(j.get("status") in PUBLISHED for j in jobs.values()),
    )
    atomic_write_json(Path(path), report)


def _update_state(outputs: Path, quarter: str, changes: Mapping[str, UnitRefresh], unqueue: Sequence[str] = ()) -> None:
    """Write ``changes`` over the quarter's refresh file (other units' entries kept); the units of
    ``unqueue`` lose an entry that is only ``queued`` (they will not be refreshed)."""
    state = read_refresh_state(outputs, quarter)
    drop = [u for u in unqueue if u in state and state[u].status == "queued"]
    if not drop and not changes:
        return
    for u in drop:
        del state[u]
    state.update(changes)
    write_refresh_state(outputs, quarter, state)


def mark_queued(outputs: Path, quarter: str, subs: Mapping[str, Submission]) -> None:
    """Record the units of ``subs`` as queued for a refresh, each with the submission it waits on."""
    _update_state(
        outputs,
        quarter,
        {u: UnitRefresh(u, "queued", s.id, s.submitted_by, s.submitted_at) for u, s in subs.items()},
    )


def refresh_lock(outputs: Path, quarter: str, timeout: float) -> FileLock:
    """The quarter's refresh lock (not yet taken)."""
    lock_dir = Path(outputs) / quarter / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(lock_dir / REFRESH_LOCK, timeout=timeout, thread_local=False)


def refresh_quarter(
    quarter: QuarterLike,
    units: Sequence[str],
    *,
    store_url: str | None = None,
    outputs: str | Path | None = None,
    config: Config | None = None,
    exports: ReviewExports | None = None,
    submissions: Mapping[str, Submission] | None = None,
    workers: int = 3,
    cell_timeout: int = 600,
    job_timeout: int = 1800,
    wait_s: float = 3600.0,
) -> RefreshResult:
    """Refresh the draft reviews of ``units`` for ``quarter``, and only what depends on them.

    ``submissions`` names the submission each unit's figures come from (default: the unit's
    newest accepted submission for the quarter). A unit whose quarter is approved or pending
    the bureau, or with no submission for the quarter, is left alone (``result.left``, with the
    reason). Waits at most ``wait_s`` seconds for another refresh of the quarter to end.
    """
    check_not_starting_job()
    started = time.monotonic()
    config = config or load_config()
    q = check_open(quarter, config)
    qs = str(q)
    out = Path(outputs or PROJECT_ROOT / "outputs").resolve()
    result = RefreshResult(qs)
    lock = refresh_lock(out, qs, wait_s)
    try:
        lock.acquire()
    except Timeout:
        raise RefreshError(f"another refresh of {qs} has held its lock for {wait_s:.0f} s; try again later") from None
    try:
        with Store(store_url or config.store_url) as st:
            latest = latest_by_unit(submissions_of(st, qs))
            states = approval_states(st, qs, config)
        subs = {**latest, **(submissions or {})}
        chosen: list[str] = []
        for u in dict.fromkeys(units):
            if u not in subs:
                result.left[u] = f"no submission for {qs}"
            elif states.get(u, DRAFT_STATE) != DRAFT_STATE:
                result.left[u] = f"{qs} is {states.get(u)}: its review is the record; only rbm review republishes it"
            else:
                chosen.append(u)
        result.units = chosen
        if result.left:
            _update_state(out, qs, {}, unqueue=list(result.left))
        if not chosen:
            return result
        at = now_iso()
        running = {
            u: UnitRefresh(u, "running", subs[u].id, subs[u].submitted_by, subs[u].submitted_at, at) for u in chosen
        }
        _update_state(out, qs, running)
        try:
            _run(result, qs, chosen, store_url, out, config, exports, workers, cell_timeout, job_timeout)
        except Exception as exc:  # noqa: BLE001 - a refresh's failure is recorded, never raised
            log.warning("refresh of %s failed before its reviews ran: %s", qs, exc, exc_info=True)
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            result.failed = {u: f"the refresh could not start: {why}" for u in chosen}
        end = now_iso()
        _update_state(
            out,
            qs,
            {
                u: replace(
                    running[u],
                    status="failed" if u in result.failed else "done",
                    finished_at=end,
                    message=result.failed.get(u),
                )
                for u in chosen
            },
        )
    finally:
        lock.release()
        result.seconds = round(time.monotonic() - started, 2)
    return result


def _run(
    result: RefreshResult,
    quarter: str,
    units: list[str],
    store_url: str | None,
    out: Path,
    config: Config,
    exports: ReviewExports | None,
    workers: int,
    cell_timeout: int,
    job_timeout: int,
) -> None:
    """Freeze, analyse and run the dependent jobs of ``units``; fill ``result``'s jobs and failures."""
    plan = plan_review(
        quarter, units=units, store_url=store_url, outputs=out, config=config, exports=exports, update=True
    )
    staging = out / ".staging" / quarter
    kw: dict[str, Any] = {"cell_timeout": cell_timeout, "job_timeout": job_timeout, "staging_root": staging}
    results = report_order(run_notebooks(batch_order(plan), workers=workers, progress=False, **kw))
    badges.write_bureau_badges(out / quarter, plan.all_units)  # the landing page's rows, one file
    merge_run_report(out / quarter / "run_report.json", results)
    result.jobs = {r.name: r for r in results}
    pairs = [j.name.removeprefix("joint-") for j in plan.jobs if j.name.startswith("joint-")]
    for u in units:
        bad = [n for n in dependent_jobs([u], pairs) if result.jobs.get(n) is None or result.jobs[n].status in FAILED]
        if bad:
            result.failed[u] = "; ".join(_message(result.jobs.get(n), n) for n in bad)
