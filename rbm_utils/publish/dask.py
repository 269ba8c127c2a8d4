"""Scale-out of the quarterly batch: unit notebooks run on an existing Dask distributed cluster.

Same contract as :func:`rbm_utils.publish.batch.run_notebooks` (same :class:`~rbm_utils.publish.batch.Job`,
statuses, content keys, locks, staging, sentinel, HTML copy and atomic publish); only
*where* the notebook executes changes. The design keeps every write to ``outputs/`` in
the client:

* the **client** (the machine running ``rbm review --scheduler ADDRESS``) takes each job's
  publish lock, skips unchanged jobs, and submits one Dask task per job;
* the **worker** runs :func:`execute_on_worker`: in a private temporary folder it writes
  the template (its bytes travel with the task), starts a child process in a session of
  its own that calls :func:`rbm_utils.publish.batch.run_job_in_process` (parameters check,
  papermill with start-up retries, sentinel check, static HTML), enforces the job
  timeout from outside (process group killed, then every process carrying the job's
  ``RBM_BATCH_JOB`` marker, i.e. the kernel), and returns the result and the files'
  bytes; it writes nothing outside its temporary folder, which it removes;
* the **client** writes the returned files into ``staging_root/<job>/``, adds the tidy
  tables (``extra_files``) and ``inputs.json`` and publishes the folder atomically, exactly
  as the local runner does. A failed run's notebook stays in staging.

Requirements on the workers: the same environment as the client (``rbm_utils`` importable,
same package versions) and read access to the job parameters' paths (the frozen
``snapshot_dir`` and ``config_path``) at the same absolute paths, e.g. the outputs folder on
a shared file system. A worker that dies mid-job is reported ``dead_kernel`` for that job
(Dask may first retry it on another worker; a retried run publishes once).

Example:
    >>> from rbm_utils.publish.batch import Job
    >>> jobs = [Job("AFR", Path("notebooks/quarterly_review.ipynb"), {"unit": "AFR"},
    ...             Path("outputs/2026-Q3/AFR"))]                                   # doctest: +SKIP
    >>> results = run_notebooks_distributed(jobs, "tcp://10.0.0.5:8786",
    ...                                     staging_root=Path("outputs/.staging"))  # doctest: +SKIP
    >>> results[0].status                                                            # doctest: +SKIP
    'ok'
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rbm_utils.publish import batch
from rbm_utils.publish.batch import INPUTS_FILE, MARK_ENV, Job, JobResult

log = logging.getLogger(__name__)

#: Result file the worker's child process writes; the current cell is tracked beside it.
_RESULT = "result.json"
_CELL = "cell.json"
_SPEC = "spec.json"
_LOG = "job.log"
#: Keep at most this much of a job's log (bytes, the end) when it comes back to the client.
MAX_LOG_BYTES = 200_000
#: Seconds the worker waits for the child after killing it on a timeout.
_KILL_WAIT_S = 10.0
#: Seconds to wait for the scheduler to answer before giving up.
CONNECT_TIMEOUT_S = 30.0


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(json.dumps(obj, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------------------- worker side


def _watch_parent(marker: str, folder: Path, interval: float = 1.0) -> None:
    """In the child: if the worker that started us dies, kill our kernel, remove the job's
    temporary folder (the worker can no longer) and exit."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                log.error("the Dask worker of job %s died; stopping the job", marker)
                batch._kill_marked(marker)
                shutil.rmtree(folder, ignore_errors=True)
                os._exit(3)

    threading.Thread(target=watch, name="rbm-parent-watch", daemon=True).start()


def _child_main(spec_path: str) -> int:
    """The worker's child process: run one job with :func:`batch.run_job_in_process`."""
    folder = Path(spec_path).parent
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    _watch_parent(str(spec["marker"]), folder)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def send(kind: str, payload: Any) -> None:
        if kind == "cell":
            try:
                _write_json_atomic(folder / _CELL, payload)
            except OSError:
                pass

    try:
        result = batch.run_job_in_process(spec, send)
    except BaseException as exc:  # noqa: BLE001 - reported to the worker, never raised
        result = batch._failed(type(exc).__name__, exc)
    _write_json_atomic(folder / _RESULT, result)
    return 0


def _kill_group(proc: subprocess.Popen, marker: str) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(_KILL_WAIT_S)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait long
        log.error("job process %d would not die", proc.pid)
    stray = batch._kill_marked(marker)
    if stray:
        log.warning("killed %d process(es) left by job marker %s: %s", len(stray), marker, stray)


def _worker_address() -> str | None:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return None


def execute_on_worker(spec: dict, template_bytes: bytes, job_timeout: float) -> dict:
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
        child_spec = {
            "name": spec["name"], "template": str(template), "output_notebook": str(out_nb),
            "html": str(out_nb.with_suffix(".html")), "parameters": dict(spec["parameters"]),
            "cell_timeout": int(spec["cell_timeout"]), "marker": marker,
            "log_file": str(work / _LOG), "title": spec.get("title") or spec["name"],
        }
        spec_path = work / _SPEC
        spec_path.write_text(json.dumps(child_spec, ensure_ascii=False), encoding="utf-8")
        env = {**os.environ, MARK_ENV: marker}
        with open(work / _LOG, "ab") as log_fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "rbm_utils.publish.dask", "child", str(spec_path)],
                cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log_fh, stderr=subprocess.STDOUT,
                start_new_session=True)
        try:
            proc.wait(timeout=max(1.0, float(job_timeout)))
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            if proc.poll() is None or timed_out:
                _kill_group(proc, marker)
        stray = batch._kill_marked(marker)
        if stray:
            log.warning("job %s left %d process(es) behind; killed: %s", spec["name"], len(stray), stray)
        result = _read_json(work / _RESULT)
        if result is None:
            cell = _read_json(work / _CELL)
            if timed_out:
                result = {"status": "timeout", "error_name": "JobTimeout",
                          "error_value": f"the job ran longer than {job_timeout} s; its processes were killed",
                          "error_cell": cell}
            else:
                result = {"status": "dead_kernel", "error_name": "ProcessDied",
                          "error_value": f"the job's process ended with exit code {proc.returncode} without a result",
                          "error_cell": cell}
        files = {}
        for path in (out_nb, out_nb.with_suffix(".html")):
            if path.is_file() and (path.suffix == ".ipynb" or result.get("status") == "ok"):
                files[path.name] = path.read_bytes()
        try:
            with open(work / _LOG, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - MAX_LOG_BYTES))
                log_text = fh.read().decode("utf-8", "replace")
        except OSError:
            log_text = ""
        return {"result": result, "files": files, "log": log_text, "host": socket.gethostname(),
                "worker": _worker_address(), "seconds": round(time.monotonic() - started, 3)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------- client side


def connect(scheduler: Any, timeout: float | None = None) -> Any:
    """A ``distributed.Client`` for ``scheduler`` (an address like ``tcp://10.0.0.5:8786``,
    a ``LocalCluster`` or an existing ``Client``, returned as is).

    >>> client = connect("tcp://127.0.0.1:8786")    # doctest: +SKIP
    """
    try:
        from distributed import Client
    except ImportError:
        raise RuntimeError("running notebooks on a Dask cluster needs dask[distributed]: "
                           "pip install -c constraints.txt -e '.[scale]'") from None
    if isinstance(scheduler, Client):
        return scheduler
    return Client(scheduler, timeout=CONNECT_TIMEOUT_S if timeout is None else timeout, set_as_default=False)


def _worker_failure(exc: BaseException) -> dict:
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return {"status": "dead_kernel", "error_name": "KilledWorker",
                "error_value": batch._short(f"the Dask worker running the job died: {exc}"), "error_cell": None}
    return batch._failed(type(exc).__name__, f"the Dask task failed: {exc}")


def run_notebooks_distributed(jobs: list[Job], scheduler: Any, *, cell_timeout: int = 600,
                              job_timeout: int = 1800, staging_root: Path, progress: bool = True,
                              force: bool = False, run_id: str | None = None) -> list[JobResult]:
    """Run ``jobs`` on the Dask cluster at ``scheduler`` and publish each success; results in job order.

    Same statuses and files as :func:`rbm_utils.publish.batch.run_notebooks` (``ok``, ``failed``,
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
    batch._check_jobs(jobs)
    run_id = run_id or uuid.uuid4().hex[:12]
    staging_root = Path(staging_root).resolve()
    log_dir = staging_root / ".logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    results: list[JobResult | None] = [None] * len(jobs)
    bar = batch._progress_bar(len(jobs), progress)

    record = batch.recorder(results, bar)

    own_client = not _is_client(scheduler)
    client = connect(scheduler)
    held: dict[int, tuple[int, str]] = {}  # job index -> (lock fd, content key)
    futures: dict[Any, int] = {}
    try:
        from distributed import as_completed

        for index, job in enumerate(jobs):
            fd = batch._acquire_lock(job)
            if fd is None:
                record(index, JobResult(job.name, "locked", 0.0, "Locked",
                                        f"another process is publishing {job.publish_dir}"))
                continue
            try:
                batch.recover_publication(job)
                key = batch.content_key(job)
                nb_path = Path(job.publish_dir) / Path(job.template).name
                if not force and batch._published_key(job.publish_dir) == key and nb_path.is_file():
                    os.close(fd)
                    record(index, JobResult(job.name, "skipped_unchanged", 0.0, output_notebook=nb_path))
                    continue
                spec = {"name": job.name, "template_name": Path(job.template).name,
                        "parameters": dict(job.parameters), "cell_timeout": int(cell_timeout),
                        "marker": f"{run_id}:{job.name}", "title": job.name}
                future = client.submit(execute_on_worker, spec, Path(job.template).read_bytes(), job_timeout,
                                       key=f"rbm-{run_id}-{job.name}", pure=False)
            except Exception as exc:  # noqa: BLE001 - one job's set-up failure never stops the batch
                os.close(fd)
                record(index, JobResult(job.name, "failed", 0.0, type(exc).__name__, batch._short(exc)))
                continue
            held[index] = (fd, key)
            futures[future] = index

        for future in as_completed(list(futures), loop=client.loop):
            index = futures[future]
            job = jobs[index]
            fd, key = held.pop(index)
            try:
                try:
                    outcome = future.result()
                except Exception as exc:  # noqa: BLE001 - a lost worker or a refused task
                    outcome = {"result": _worker_failure(exc), "files": {}, "log": "", "seconds": 0.0}
                record(index, _finish(job, key, outcome, staging_root, log_dir))
            finally:
                os.close(fd)
    finally:
        for future in futures:
            if not future.done():
                future.cancel()
        for fd, _ in held.values():
            try:
                os.close(fd)
            except OSError:
                pass
        if own_client:
            client.close()
        if bar is not None:
            bar.close()
    return [r for r in results if r is not None]


def _is_client(obj: Any) -> bool:
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask is a dependency
        return False
    return isinstance(obj, Client)


def _finish(job: Job, key: str, outcome: dict, staging_root: Path, log_dir: Path) -> JobResult:
    """Client side of one finished task: files into staging, then publish on success."""
    res = dict(outcome.get("result") or {})
    status = res.get("status", "failed")
    seconds = float(outcome.get("seconds") or 0.0)
    log_file = log_dir / f"{job.name}.log"
    staging = staging_root / job.name
    out_nb: Path | None = None
    try:
        batch._write_atomic(log_file, str(outcome.get("log") or "").encode("utf-8"))
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        for name, data in (outcome.get("files") or {}).items():
            safe = Path(str(name)).name  # a file name only, never a path from the worker
            batch._write_atomic(staging / safe, data)
        nb_name = Path(job.template).name
        out_nb = staging / nb_name if (staging / nb_name).is_file() else None
        if status == "ok":
            html = staging / Path(nb_name).with_suffix(".html").name
            if out_nb is None or not html.is_file():
                raise RuntimeError("the worker reported success without the notebook and its HTML copy")
            import nbformat

            if not batch.has_sentinel(nbformat.read(out_nb, as_version=4)):
                raise RuntimeError(f"the returned notebook lacks the {batch.SENTINEL} sentinel")
            if job.extra_files is not None:
                job.extra_files(staging, job)
            inputs = {"name": job.name, "template": str(job.template),
                      "template_sha256": hashlib.sha256(Path(job.template).read_bytes()).hexdigest(),
                      "parameters": job.parameters, "content_key": key,
                      "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            batch._write_atomic(staging / INPUTS_FILE, (json.dumps(
                inputs, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
            archive = batch._publish(staging, job)
            if archive is not None:
                log.info("job %s: previous version archived in %s", job.name, archive)
            out_nb = Path(job.publish_dir) / nb_name
    except Exception as exc:  # noqa: BLE001
        res = batch._failed(type(exc).__name__, f"publishing failed: {exc}", attempts=res.get("attempts", 0))
        status = "failed"
    return JobResult(job.name, status, round(seconds, 3), res.get("error_name"),
                     None if res.get("error_value") is None else batch._short(res.get("error_value")),
                     res.get("error_cell"), out_nb, int(res.get("attempts", 0) or 0), log_file)


if __name__ == "__main__":  # the worker's child process: python -m rbm_utils.publish.dask child SPEC
    if len(sys.argv) == 3 and sys.argv[1] == "child":
        sys.exit(_child_main(sys.argv[2]))
    print("usage: python -m rbm_utils.publish.dask child SPEC_JSON (internal)", file=sys.stderr)
    sys.exit(2)
