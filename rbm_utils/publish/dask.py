"""Scale-out of the quarterly batch: unit notebooks run on an existing Dask distributed cluster.

Same contract as :func:`rbm_utils.publish.runner.run_notebooks` (same :class:`~rbm_utils.publish.jobs.Job`,
statuses, content keys, locks, staging, sentinel, HTML copy and atomic publish); only
*where* the notebook executes changes. The design keeps every write to ``outputs/`` in
the client:

* the **client** (the machine running ``rbm review --scheduler ADDRESS``) claims each job
  (:func:`rbm_utils.publish.folders.claim`: publish lock, recovery, unchanged jobs skipped)
  and submits one Dask task per job;
* the **worker** runs :func:`execute_on_worker`: in a private temporary folder it writes
  the template (its bytes travel with the task), starts a child process in a session of
  its own that calls :func:`rbm_utils.publish.child.run_job_in_process` (parameters check,
  papermill with start-up retries, sentinel check, static HTML), enforces the job
  timeout from outside (:func:`rbm_utils.publish.processes.kill_job`: process group killed,
  then every process carrying the job's ``RBM_BATCH_JOB`` marker, i.e. the kernel), and
  returns the result and the files' bytes; it writes nothing outside its temporary folder,
  which it removes;
* the **client** writes the returned files into ``staging_root/<job>/`` and finishes the job
  with :func:`rbm_utils.publish.folders.finish_job` (tidy tables, ``inputs.json``, atomic
  publish), exactly as the local runner does. A failed run's notebook stays in staging.

Requirements on the workers: the same environment as the client (``rbm_utils`` importable,
same package versions) and read access to the job parameters' paths (the frozen
``snapshot_dir`` and ``config_path``) at the same absolute paths, e.g. the outputs folder on
a shared file system. A worker that dies mid-job is reported ``dead_kernel`` for that job
(Dask may first retry it on another worker; a retried run publishes once).

Example:
    >>> from rbm_utils.publish.jobs import Job
    >>> jobs = [Job("AFR", Path("notebooks/quarterly_review.ipynb"), {"unit": "AFR"},
    ...             Path("outputs/2026-Q3/AFR"))]                                   # doctest: +SKIP
    >>> results = run_notebooks_distributed(jobs, "tcp://10.0.0.5:8786",
    ...                                     staging_root=Path("outputs/.staging"))  # doctest: +SKIP
    >>> results[0].status                                                            # doctest: +SKIP
    'ok'
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from rbm_utils.core.files import atomic_write_bytes, atomic_write_json
from rbm_utils.publish.assets import asset_src
from rbm_utils.publish.child import run_job_in_process
from rbm_utils.publish.folders import Claim, claim, finish_job
from rbm_utils.publish.jobs import (
    SENTINEL,
    Job,
    JobOutcome,
    JobResult,
    JobSpec,
    check_jobs,
    failed_outcome,
    has_sentinel,
    shorten,
)
from rbm_utils.publish.processes import MARK_ENV, kill_job, kill_marked
from rbm_utils.publish.runner import fresh_staging, progress_bar, recorder

log = logging.getLogger(__name__)

#: Result file the worker's child process writes; the current cell is tracked beside it.
_RESULT = "result.json"
_CELL = "cell.json"
_SPEC = "spec.json"
_LOG = "job.log"
#: Keep at most this much of a job's log (bytes, the end) when it comes back to the client.
MAX_LOG_BYTES = 200_000
#: Seconds to wait for the scheduler to answer before giving up.
CONNECT_TIMEOUT_S = 30.0


class WorkerSpec(TypedDict):
    """One job as it travels to a worker (the template's bytes travel beside it)."""

    name: str
    template_name: str
    parameters: dict[str, Any]
    cell_timeout: int
    marker: str
    title: str
    plotly_js: NotRequired[str]


class WorkerOutcome(TypedDict):
    """What a worker returns for one job: the outcome, the files' bytes (by file name), the log's end."""

    result: JobOutcome
    files: dict[str, bytes]
    log: str
    host: str
    worker: str | None
    seconds: float


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------------------- worker side


def _watch_parent(marker: str, folder: Path, interval: float = 1.0) -> None:
    """In the child: if the worker that started us dies, kill our kernel, remove the job's
    temporary folder (the worker can no longer) and exit."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                log.error("the Dask worker of job %s died; stopping the job", marker)
                kill_marked(marker)
                shutil.rmtree(folder, ignore_errors=True)
                os._exit(3)

    threading.Thread(target=watch, name="rbm-parent-watch", daemon=True).start()


def _child_main(spec_path: str) -> int:
    """The worker's child process: run one job with :func:`rbm_utils.publish.child.run_job_in_process`."""
    folder = Path(spec_path).parent
    spec: JobSpec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    _watch_parent(str(spec["marker"]), folder)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    def send(kind: str, payload: Any) -> None:
        if kind == "cell":
            try:
                atomic_write_json(folder / _CELL, payload)
            except OSError:
                pass

    try:
        result = run_job_in_process(spec, send)
    except BaseException as exc:  # noqa: BLE001 - reported to the worker, never raised
        result = failed_outcome(type(exc).__name__, exc)
    atomic_write_json(folder / _RESULT, result)
    return 0


def _worker_address() -> str | None:
    try:
        # distributed is the optional [scale] extra and takes 0.4 s to import
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return None


def _log_tail(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - MAX_LOG_BYTES))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def execute_on_worker(spec: WorkerSpec, template_bytes: bytes, job_timeout: float) -> WorkerOutcome:
    """Run one job where this function is called (a Dask worker) and return its outcome.

    ``spec`` carries ``name``, ``template_name``, ``parameters``, ``cell_timeout``,
    ``marker`` (``<run_id>:<job name>``; this attempt's processes carry it plus ``:<random>``)
    and ``title``. Returns ``{"result": {...status...}, "files": {file name: bytes},
    "log": str, "host": str, "worker": address or None, "seconds": float}``; ``files`` holds
    the executed notebook (when one was written) and, on success, its HTML copy. Never
    raises for a failing notebook; writes only to a temporary folder that it removes.

    >>> execute_on_worker({"name": "OK", "template_name": "probe.ipynb", "parameters": {},
    ...                    "cell_timeout": 60, "marker": "run:OK", "title": "OK"},
    ...                   Path("probe.ipynb").read_bytes(), 60)["result"]["status"]   # doctest: +SKIP
    'ok'
    """
    started = time.monotonic()
    # one marker per attempt: Dask may rerun a task whose worker died while the first
    # attempt's orphans are being stopped, and those must not take the new run with them
    marker = f"{spec['marker']}:{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="rbm-dask-"))
    try:
        name = Path(str(spec["template_name"])).name
        template = work / name
        template.write_bytes(template_bytes)
        out_nb = work / "out" / name
        out_nb.parent.mkdir()
        child_spec: JobSpec = {
            "name": spec["name"],
            "template": str(template),
            "output_notebook": str(out_nb),
            "html": str(out_nb.with_suffix(".html")),
            "parameters": dict(spec["parameters"]),
            "cell_timeout": int(spec["cell_timeout"]),
            "marker": marker,
            "log_file": str(work / _LOG),
            "title": spec.get("title") or spec["name"],
        }
        if spec.get("plotly_js"):
            child_spec["plotly_js"] = str(spec["plotly_js"])
        spec_path = work / _SPEC
        spec_path.write_text(json.dumps(child_spec, ensure_ascii=False), encoding="utf-8")
        env = {**os.environ, MARK_ENV: marker}
        with open(work / _LOG, "ab") as log_fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "rbm_utils.publish.dask", "child", str(spec_path)],
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            proc.wait(timeout=max(1.0, float(job_timeout)))
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            if proc.poll() is None or timed_out:
                kill_job(proc, marker)
        stray = kill_marked(marker)
        if stray:
            log.warning("job %s left %d process(es) behind; killed: %s", spec["name"], len(stray), stray)
        result: Any = _read_json(work / _RESULT)
        if result is None:
            cell = _read_json(work / _CELL)
            if timed_out:
                result = {
                    "status": "timeout",
                    "error_name": "JobTimeout",
                    "error_value": f"the job ran longer than {job_timeout} s; its processes were killed",
                    "error_cell": cell,
                }
            else:
                result = {
                    "status": "dead_kernel",
                    "error_name": "ProcessDied",
                    "error_value": f"the job's process ended with exit code {proc.returncode} without a result",
                    "error_cell": cell,
                }
        files = {}
        for path in (out_nb, out_nb.with_suffix(".html")):
            if path.is_file() and (path.suffix == ".ipynb" or result.get("status") == "ok"):
                files[path.name] = path.read_bytes()
        return {
            "result": result,
            "files": files,
            "log": _log_tail(work / _LOG),
            "host": socket.gethostname(),
            "worker": _worker_address(),
            "seconds": round(time.monotonic() - started, 3),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------- client side


def connect(scheduler: Any, timeout: float | None = None) -> Any:
    """A ``distributed.Client`` for ``scheduler`` (an address like ``tcp://10.0.0.5:8786``,
    a ``LocalCluster`` or an existing ``Client``, returned as is).

    >>> client = connect("tcp://127.0.0.1:8786")    # doctest: +SKIP
    """
    try:
        # distributed is the optional [scale] extra and takes 0.4 s to import
        from distributed import Client
    except ImportError:
        raise RuntimeError(
            "running notebooks on a Dask cluster needs dask[distributed]: pip install -c constraints.txt -e '.[scale]'"
        ) from None
    if isinstance(scheduler, Client):
        return scheduler
    return Client(scheduler, timeout=CONNECT_TIMEOUT_S if timeout is None else timeout, set_as_default=False)


def _is_client(obj: Any) -> bool:
    try:
        from distributed import Client  # the optional [scale] extra
    except ImportError:  # pragma: no cover - dask is a dependency
        return False
    return isinstance(obj, Client)


def _worker_failure(exc: BaseException) -> JobOutcome:
    from distributed import KilledWorker  # the optional [scale] extra; the client has it by now

    if isinstance(exc, KilledWorker):
        return {
            "status": "dead_kernel",
            "error_name": "KilledWorker",
            "error_value": shorten(f"the Dask worker running the job died: {exc}"),
            "error_cell": None,
        }
    return failed_outcome(type(exc).__name__, f"the Dask task failed: {exc}")


def _unpack(job: Job, outcome: WorkerOutcome, staging_root: Path, log_file: Path) -> tuple[Path, JobOutcome]:
    """Client side of one finished task: its log and files into a fresh staging folder; a
    success must bring the notebook, with the sentinel, and its HTML copy, or it becomes a failure."""
    res: JobOutcome = dict(outcome.get("result") or {})  # type: ignore[assignment]
    staging = staging_root / job.name
    try:
        atomic_write_bytes(log_file, str(outcome.get("log") or "").encode("utf-8"))
        staging = fresh_staging(staging_root, job.name)
        for name, data in (outcome.get("files") or {}).items():
            atomic_write_bytes(staging / Path(str(name)).name, data)  # a file name only, never a worker's path
        if res.get("status") == "ok":
            nb = staging / Path(job.template).name
            if not nb.is_file() or not nb.with_suffix(".html").is_file():
                raise RuntimeError("the worker reported success without the notebook and its HTML copy")
            if not has_sentinel(json.loads(nb.read_text(encoding="utf-8"))):
                raise RuntimeError(f"the returned notebook lacks the {SENTINEL} sentinel")
    except Exception as exc:  # noqa: BLE001 - reported as the job's failure
        res = failed_outcome(type(exc).__name__, f"publishing failed: {exc}", attempts=res.get("attempts", 0))
    return staging, res


def run_notebooks_distributed(
    jobs: list[Job],
    scheduler: Any,
    *,
    cell_timeout: int = 600,
    job_timeout: int = 1800,
    staging_root: Path,
    progress: bool = True,
    force: bool = False,
    run_id: str | None = None,
) -> list[JobResult]:
    """Run ``jobs`` on the Dask cluster at ``scheduler`` and publish each success; results in job order.

    Same statuses and files as :func:`rbm_utils.publish.runner.run_notebooks` (``ok``, ``failed``,
    ``dead_kernel``, ``timeout``, ``skipped_unchanged``, ``locked``); concurrency is the
    cluster's (one job per worker thread). ``scheduler``: an address, a ``LocalCluster``
    or a ``distributed.Client`` (a client made here is closed at the end). A job's
    ``duration_s`` is its time on the worker, from task start to result.

    Example:
        >>> from distributed import LocalCluster                                  # doctest: +SKIP
        >>> with LocalCluster(n_workers=2, threads_per_worker=1) as cluster:      # doctest: +SKIP
        ...     res = run_notebooks_distributed(jobs, cluster.scheduler_address,
        ...                                     staging_root=out / ".staging", progress=False)
    """
    jobs = list(jobs)
    check_jobs(jobs)
    run_id = run_id or uuid.uuid4().hex[:12]
    staging_root = Path(staging_root).resolve()
    log_dir = staging_root / ".logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    results: list[JobResult | None] = [None] * len(jobs)
    bar = progress_bar(len(jobs), progress)
    record = recorder(results, bar)

    own_client = not _is_client(scheduler)
    client = connect(scheduler)
    held: dict[int, Claim] = {}  # job index -> its claim (lock held, content key)
    futures: dict[Any, int] = {}
    try:
        from distributed import as_completed  # the optional [scale] extra, present once connected

        for index, job in enumerate(jobs):
            try:
                got = claim(job, force=force)
                if isinstance(got, JobResult):
                    record(index, got)
                    continue
            except Exception as exc:  # noqa: BLE001 - one job's set-up failure never stops the batch
                record(index, JobResult(job.name, "failed", 0.0, type(exc).__name__, shorten(exc)))
                continue
            try:
                spec: WorkerSpec = {
                    "name": job.name,
                    "template_name": Path(job.template).name,
                    "parameters": dict(job.parameters),
                    "cell_timeout": int(cell_timeout),
                    "marker": f"{run_id}:{job.name}",
                    "title": job.name,
                }
                if job.assets_dir is not None:
                    spec["plotly_js"] = asset_src(job.publish_dir, job.assets_dir)
                future = client.submit(
                    execute_on_worker,
                    spec,
                    Path(job.template).read_bytes(),
                    job_timeout,
                    key=f"rbm-{run_id}-{job.name}",
                    pure=False,
                )
            except Exception as exc:  # noqa: BLE001 - one job's set-up failure never stops the batch
                got.release()
                record(index, JobResult(job.name, "failed", 0.0, type(exc).__name__, shorten(exc)))
                continue
            held[index] = got
            futures[future] = index

        for future in as_completed(list(futures), loop=client.loop):
            index = futures[future]
            job = jobs[index]
            got = held.pop(index)
            try:
                try:
                    outcome: WorkerOutcome = future.result()
                except Exception as exc:  # noqa: BLE001 - a lost worker or a refused task
                    outcome = {
                        "result": _worker_failure(exc),
                        "files": {},
                        "log": "",
                        "host": "",
                        "worker": None,
                        "seconds": 0.0,
                    }
                log_file = log_dir / f"{job.name}.log"
                staging, res = _unpack(job, outcome, staging_root, log_file)
                record(
                    index,
                    finish_job(
                        job, got.key, staging, res, duration_s=float(outcome.get("seconds") or 0.0), log_file=log_file
                    ),
                )
            finally:
                got.release()
    finally:
        for future in futures:
            if not future.done():
                future.cancel()
        for got in held.values():
            got.release()
        if own_client:
            client.close()
        if bar is not None:
            bar.close()
    return [r for r in results if r is not None]


if __name__ == "__main__":  # the worker's child process: python -m rbm_utils.publish.dask child SPEC
    if len(sys.argv) == 3 and sys.argv[1] == "child":
        sys.exit(_child_main(sys.argv[2]))
    print("usage: python -m rbm_utils.publish.dask child SPEC_JSON (internal)", file=sys.stderr)
    sys.exit(2)
