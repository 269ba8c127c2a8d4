"""The local batch runner: review notebooks executed by papermill, published atomically.

Each :class:`~rbm_utils.publish.jobs.Job` runs its template with papermill in its own process
(:func:`rbm_utils.publish.child.child_main`), at most ``workers`` at a time, forked from a warm
job server that has papermill and nbconvert imported (:func:`job_context`). The
job timeout is enforced from outside: a job that overruns has its process group killed, and
every process that inherited the job's marker (``RBM_BATCH_JOB``; the kernel runs in a session
of its own) is killed too (:func:`rbm_utils.publish.processes.kill_job`), so no kernel is left
behind. On Linux a job's process also dies with the runner (``PR_SET_PDEATHSIG``), even on
``kill -9``, and its kernel follows.

Before a job starts, :func:`rbm_utils.publish.folders.claim` takes its publish lock and skips
it when its content key is unchanged (unless ``force``); after it ends,
:func:`rbm_utils.publish.folders.finish_job` publishes it (the Dask runner,
:mod:`rbm_utils.publish.dask`, calls the same two functions).

Example:
    >>> jobs = [Job("AFR", Path("notebooks/quarterly_review.ipynb"),
    ...             {"unit": "AFR", "quarter": "2026-Q3", "snapshot_dir": "/abs/outputs/2026-Q3/snapshot"},
    ...             Path("outputs/2026-Q3/AFR"))]                                  # doctest: +SKIP
    >>> results = run_notebooks(jobs, staging_root=Path("outputs/.staging"))       # doctest: +SKIP
    >>> write_run_report(results, Path("outputs/2026-Q3/run_report.json"))         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from rbm_utils.core.files import atomic_write_json
from rbm_utils.publish.assets import asset_src
from rbm_utils.publish.child import child_main
from rbm_utils.publish.folders import Claim, claim, finish_job
from rbm_utils.publish.jobs import STATUSES, Job, JobOutcome, JobResult, JobSpec, check_jobs, shorten
from rbm_utils.publish.processes import kill_job, kill_marked

log = logging.getLogger(__name__)

#: Seconds to wait for a job's process to exit once it closed its end of the pipe.
_JOIN_S = 10.0
#: What the warm job server imports once, before it forks any job process.
PRELOAD = ("rbm_utils.publish.warm",)
#: The name of a job's process, before the job's name.
JOB_PROCESS = "rbm-batch-"


class UnguardedScriptError(RuntimeError):
    """A batch started while a job process was starting: the calling script runs its batch at
    import, so each job process (which imports the caller's script again, as ``multiprocessing``
    does) would start a batch of its own."""


def check_not_starting_job() -> None:
    """Refuse a batch started from inside a starting job process (see :class:`UnguardedScriptError`).

    >>> check_not_starting_job()  # in an ordinary process: nothing happens
    """
    if multiprocessing.current_process().name.startswith(JOB_PROCESS):
        raise UnguardedScriptError(
            "a batch was started while a job process was starting: the script that runs the batch "
            'must start it under `if __name__ == "__main__":` (each job process imports that script again)'
        )


Record = Callable[[int, JobResult], None]


def job_context() -> Any:
    """The ``multiprocessing`` context that starts job processes.

    ``forkserver`` where available (Linux): one server process per runner, started on first
    use, imports :data:`PRELOAD` (papermill, nbclient, nbconvert with its page templates) once
    and forks each job's process from that state, so a job pays no interpreter start-up and
    no imports of its own. Each job is still a process of its own, in a session of its own,
    with the runner's environment and working folder of the moment (``JobSpec`` ``env`` and
    ``cwd``): killing its group and its marker kills the job and its kernel as before. The
    server exits when the runner does (it reads a pipe only the runner holds), and the job
    processes, whose parent it is, die with it (``PR_SET_PDEATHSIG``). Elsewhere: ``spawn``.

    >>> job_context().get_start_method() in ("forkserver", "spawn")
    True
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))  # used when the server starts (once per runner process)
    return ctx


_SERVER_LOCK = threading.Lock()
_server_users = 0


@contextlib.contextmanager
def job_server(start: bool = False) -> Iterator[Any]:
    """The job context (:func:`job_context`) for one batch; when the last batch running in this
    process ends, the warm job server is stopped and reaped, so no process outlives
    :func:`run_notebooks` (and the jobs' CPU time is counted among the runner's children).
    ``start``: start the server now, so that its imports run while the caller prepares the
    jobs (``rbm review`` freezes the snapshot and the analysis meanwhile); calls of
    :func:`run_notebooks` inside the block share that server."""
    global _server_users
    with _SERVER_LOCK:
        _server_users += 1
    try:
        ctx = job_context()
        if start and ctx.get_start_method() == "forkserver":
            multiprocessing.forkserver.ensure_running()
        yield ctx
    finally:
        with _SERVER_LOCK:
            _server_users -= 1
            if _server_users == 0:
                stop_job_server()


def stop_job_server() -> None:
    """Stop the warm job server if it runs, and wait for it to exit. Only when no batch of this
    process is running: its job processes die with it."""
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)  # CPython's own (private) way to stop its forkserver
    if stop is None:
        return
    try:
        stop()
    except OSError as exc:  # pragma: no cover - already gone
        log.debug("the job server had already stopped: %s", exc)


def progress_bar(total: int, enabled: bool) -> Any:
    """A tqdm bar on stderr for ``total`` notebooks, or None when disabled or tqdm is missing."""
    if not enabled:
        return None
    try:
        # tqdm is not a dependency of its own (papermill brings it): optional here
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with papermill
        return None
    return tqdm(total=total, desc="notebooks", unit="nb", file=sys.stderr, dynamic_ncols=True)


def recorder(results: list[JobResult | None], bar: Any) -> Record:
    """A callback that stores a job's result at its index, logs it and advances the progress bar
    (shared by the local runner and the Dask runner)."""

    def record(index: int, res: JobResult) -> None:
        results[index] = res
        log.info(
            "job %s: %s (%.1f s)%s",
            res.name,
            res.status,
            res.duration_s,
            f" {res.error_name}: {res.error_value}" if res.error_name else "",
        )
        if bar is not None:
            bar.update(1)
            bar.write(
                f"{res.name}: {res.status} ({res.duration_s:.1f} s)"
                + (f" - {res.error_name}" if res.error_name else ""),
                file=sys.stderr,
            )

    return record


def fresh_staging(staging_root: Path, name: str) -> Path:
    """An empty ``staging_root/<name>/`` (what a previous run left there is removed)."""
    staging = Path(staging_root) / name
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


@dataclass
class _Running:
    """One job whose process is running."""

    claim: Claim
    index: int
    proc: BaseProcess
    conn: multiprocessing.connection.Connection
    staging: Path
    log_file: Path
    marker: str
    started: float
    deadline: float
    last_cell: dict[str, Any] | None = None
    result: JobOutcome | None = None
    eof: bool = False

    def drain(self) -> None:
        """Read what the job's process sent so far: cells as they start, then its outcome."""
        try:
            while self.conn.poll():
                kind, payload = self.conn.recv()
                if kind == "cell":
                    self.last_cell = payload
                elif kind == "result":
                    self.result = payload
        except (EOFError, OSError):
            self.eof = True  # the child closed its end: stop waiting on this pipe


class _LocalBatch:
    """One call of :func:`run_notebooks`: the jobs waiting, the jobs running, their settings."""

    def __init__(
        self,
        jobs: Sequence[Job],
        record: Record,
        *,
        workers: int,
        cell_timeout: int,
        job_timeout: int,
        staging_root: Path,
        force: bool,
        run_id: str,
        ctx: Any,
    ) -> None:
        self.pending = list(enumerate(jobs))
        self.running: list[_Running] = []
        self.record = record
        self.workers = max(1, int(workers))
        self.cell_timeout = int(cell_timeout)
        self.job_timeout = job_timeout
        self.staging_root = Path(staging_root).resolve()
        self.log_dir = self.staging_root / ".logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.force = force
        self.run_id = run_id
        self.ctx = ctx

    def run(self) -> None:
        """Start jobs as workers free up, finish each as its process ends or its deadline passes."""
        try:
            while self.pending or self.running:
                while self.pending and len(self.running) < self.workers:
                    self.start(*self.pending.pop(0))
                if self.running:
                    self._wait()
        finally:
            self._abort()

    def start(self, index: int, job: Job) -> None:
        """Claim ``job`` and start its process; record it at once if it is locked, unchanged or cannot start."""
        t0 = time.monotonic()
        try:
            got = claim(job, force=self.force)
        except Exception as exc:  # noqa: BLE001 - one job's set-up failure never stops the batch
            self.record(
                index, JobResult(job.name, "failed", round(time.monotonic() - t0, 3), type(exc).__name__, shorten(exc))
            )
            return
        if isinstance(got, JobResult):
            self.record(index, got)
            return
        try:
            staging = fresh_staging(self.staging_root, job.name)
            out_nb = staging / Path(job.template).name
            log_file = self.log_dir / f"{job.name}.log"
            log_file.write_bytes(b"")
            marker = f"{self.run_id}:{job.name}"
            spec: JobSpec = {
                "name": job.name,
                "template": str(Path(job.template).resolve()),
                "output_notebook": str(out_nb),
                "html": str(out_nb.with_suffix(".html")),
                "parameters": dict(job.parameters),
                "cell_timeout": self.cell_timeout,
                "marker": marker,
                "log_file": str(log_file),
                "title": job.name,
                "parent_pid": os.getpid(),
                "env": dict(os.environ),
                "cwd": os.getcwd(),
            }
            if job.assets_dir is not None:
                spec["plotly_js"] = asset_src(job.publish_dir, job.assets_dir)
            reader, writer = self.ctx.Pipe(duplex=False)
            proc = self.ctx.Process(
                target=child_main, args=(spec, writer), name=f"{JOB_PROCESS}{job.name}", daemon=True
            )
            proc.start()
            writer.close()
        except Exception as exc:  # noqa: BLE001 - one job's set-up failure never stops the batch
            got.release()
            self.record(
                index, JobResult(job.name, "failed", round(time.monotonic() - t0, 3), type(exc).__name__, shorten(exc))
            )
            return
        self.running.append(_Running(got, index, proc, reader, staging, log_file, marker, t0, t0 + self.job_timeout))

    def _wait(self) -> None:
        """Wait (at most 1 s, or until the next deadline) for a job to report or end; finish those done."""
        now = time.monotonic()
        wait_for = max(0.0, min(min(r.deadline for r in self.running) - now, 1.0))
        waitables: list[Any] = [r.proc.sentinel for r in self.running] + [r.conn for r in self.running if not r.eof]
        multiprocessing.connection.wait(waitables, timeout=wait_for)
        now = time.monotonic()
        for run in list(self.running):
            run.drain()
            if not run.proc.is_alive():
                self.running.remove(run)
                self.finish(run, timed_out=False)
            elif now >= run.deadline:
                self.running.remove(run)
                self.finish(run, timed_out=True)

    def _outcome(self, run: _Running, timed_out: bool) -> JobOutcome:
        """The job's outcome once its process ended or was killed; every process it left is killed."""
        job = run.claim.job
        if timed_out:
            kill_job(run.proc, run.marker)
            run.drain()
            return run.result or {  # a result sent just before the deadline still counts
                "status": "timeout",
                "error_name": "JobTimeout",
                "error_value": f"the job ran longer than {self.job_timeout} s; its processes were killed",
                "error_cell": run.last_cell,
            }
        run.drain()
        run.proc.join(_JOIN_S)
        stray = kill_marked(run.marker)
        if stray:
            log.warning("job %s left %d process(es) behind; killed: %s", job.name, len(stray), stray)
        return run.result or {
            "status": "dead_kernel",
            "error_name": "ProcessDied",
            "error_value": f"the job's process ended with exit code {run.proc.exitcode} without a result",
            "error_cell": run.last_cell,
        }

    def finish(self, run: _Running, timed_out: bool) -> None:
        """Record the job's result, publishing it when it succeeded; release its lock."""
        try:
            outcome = self._outcome(run, timed_out)
            self.record(
                run.index,
                finish_job(
                    run.claim.job,
                    run.claim.key,
                    run.staging,
                    outcome,
                    duration_s=time.monotonic() - run.started,
                    log_file=run.log_file,
                ),
            )
        finally:
            try:
                run.conn.close()
            except OSError:
                pass
            run.claim.release()

    def _abort(self) -> None:
        """Interrupted: kill what still runs and release its lock; leave nothing behind."""
        for run in self.running:
            kill_job(run.proc, run.marker)
            run.claim.release()
        self.running.clear()


def run_notebooks(
    jobs: Iterable[Job],
    *,
    workers: int = 3,
    cell_timeout: int = 600,
    job_timeout: int = 1800,
    staging_root: Path,
    progress: bool = True,
    force: bool = False,
    run_id: str | None = None,
) -> list[JobResult]:
    """Run ``jobs`` (at most ``workers`` at once) and publish each success; results in job order.

    A failing job never stops the others. Statuses: ``ok`` (published), ``failed`` (a cell
    raised, the sentinel is missing, a parameter is unknown...), ``dead_kernel``,
    ``timeout`` (a cell exceeded ``cell_timeout`` or the job exceeded ``job_timeout``
    seconds, its process group then killed), ``skipped_unchanged`` (same content key as
    the published version and not ``force``), ``locked`` (another process holds the
    job's publish lock). Failed runs leave their notebook in ``staging_root/<name>/``.
    ``run_id`` (default: random) is part of the ``RBM_BATCH_JOB`` marker.

    Example:
        >>> res = run_notebooks([Job("AFR", tpl, {"unit": "AFR"}, out / "AFR")],
        ...                     staging_root=out / ".staging", progress=False)  # doctest: +SKIP
        >>> res[0].status                                                         # doctest: +SKIP
        'ok'
    """
    check_not_starting_job()
    jobs = list(jobs)
    check_jobs(jobs)
    results: list[JobResult | None] = [None] * len(jobs)
    bar = progress_bar(len(jobs), progress)
    try:
        with job_server() as ctx:
            _LocalBatch(
                jobs,
                recorder(results, bar),
                workers=workers,
                cell_timeout=cell_timeout,
                job_timeout=job_timeout,
                staging_root=staging_root,
                force=force,
                run_id=run_id or uuid.uuid4().hex[:12],
                ctx=ctx,
            ).run()
    finally:
        if bar is not None:
            bar.close()
    return [r for r in results if r is not None]


def job_record(r: JobResult) -> dict[str, Any]:
    """One job of ``run_report.json``: its name, status, duration, error and output notebook."""
    return {
        "name": r.name,
        "status": r.status,
        "duration_s": round(float(r.duration_s), 3),
        "error_name": r.error_name,
        "error_value": r.error_value,
        "error_cell": r.error_cell,
        "attempts": r.attempts,
        "output_notebook": None if r.output_notebook is None else str(r.output_notebook),
    }


def write_run_report(results: Iterable[JobResult], path: Path) -> Path:
    """Write the batch's report as JSON (atomically): one entry per job plus totals by status.

    >>> write_run_report([JobResult("AFR", "ok", 2.5)], Path("run_report.json"))  # doctest: +SKIP
    """
    results = list(results)
    totals: dict[str, int] = {status: 0 for status in STATUSES}
    for r in results:
        totals[r.status] = totals.get(r.status, 0) + 1
    report: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "totals": {"jobs": len(results), **totals},
        "all_ok": all(r.status in ("ok", "skipped_unchanged") for r in results),
        "jobs": [job_record(r) for r in results],
    }
    return atomic_write_json(Path(path), report)
