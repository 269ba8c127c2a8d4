"""Quarterly batch runner: review notebooks executed by papermill, published atomically.

Each :class:`Job` runs its template with papermill in its own process (``spawn``; the
process calls ``os.setsid``), at most ``workers`` at a time. The job timeout is enforced
from outside: a job that overruns has its process group killed, and every process that
inherited the job's marker (``RBM_BATCH_JOB`` in its environment; the kernel runs in a
session of its own) is killed too, so no kernel is left behind. On Linux a job's process
also dies with the runner (``PR_SET_PDEATHSIG``), even on ``kill -9``, and its kernel follows.

Template contract: a cell tagged ``parameters`` declaring every parameter the job
passes (unknown parameters fail the job instead of being ignored), kernelspec
``python3``, and a last code cell ``print("RBM-REVIEW-COMPLETE")`` (:data:`SENTINEL`).
A job succeeds only when papermill returned AND that last cell printed the sentinel.

On success the job's ``extra_files(staging_dir, job)`` callback may add files (tidy
result tables), an ``inputs.json`` is written with the job's content key (sha256 over
template bytes, parameters and the snapshot's ``content_sha256``), and the staging
folder replaces ``publish_dir`` as a whole (the previous version is moved to
``<publish_dir.parent>/archive/<name>-<UTC timestamp>/``) in one atomic exchange of the two
folders (Linux ``renameat2``), so a reader or a crash sees the old or the new version, never
a mix or no folder; the next run tidies what a killed runner left (:func:`recover_publication`).
The folder holds the executed notebook and a static HTML copy without code whose plotly
figures render offline (plotly.js inlined once per file). A rerun with the same content key is
``skipped_unchanged`` and touches nothing, unless ``force=True``.

Example:
    >>> jobs = [Job("AFR", Path("notebooks/quarterly_review.ipynb"),
    ...             {"unit": "AFR", "quarter": "2026-Q3", "snapshot_dir": "/abs/outputs/2026-Q3/snapshot"},
    ...             Path("outputs/2026-Q3/AFR"))]                                  # doctest: +SKIP
    >>> results = run_notebooks(jobs, staging_root=Path("outputs/.staging"))       # doctest: +SKIP
    >>> write_run_report(results, Path("outputs/2026-Q3/run_report.json"))         # doctest: +SKIP
"""
from __future__ import annotations

import copy
import errno
import fcntl
import hashlib
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import random
import re
import shutil
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)

#: The last code cell of every template prints this; its absence means the run did not complete.
SENTINEL = "RBM-REVIEW-COMPLETE"
STATUSES = ("ok", "failed", "dead_kernel", "timeout", "skipped_unchanged", "locked")
#: Environment variable carrying ``<run_id>:<job name>`` into the job's process and its kernel.
MARK_ENV = "RBM_BATCH_JOB"
#: Parameter whose value (a snapshot folder) contributes its manifest's content_sha256 to the content key.
SNAPSHOT_PARAMETER = "snapshot_dir"
INPUTS_FILE = "inputs.json"
ARCHIVE_DIR = "archive"
LOCK_DIR = ".locks"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: Kernel start-up failures are retried at most this many times, each with a fresh kernel.
MAX_START_RETRIES = 2
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_MAX_TEXT = 2000

_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
"""


@dataclass(frozen=True)
class Job:
    """One notebook to run and publish.

    ``name`` names the staging folder, lock and archive entries (letters, digits, ``_.-``).
    ``parameters`` are papermill parameters (JSON-able; pass paths as absolute strings).
    ``extra_files(staging_dir, job)``, if given, runs in the parent after a successful
    execution and may write more files into ``staging_dir`` before it is published.
    """

    name: str
    template: Path
    parameters: dict
    publish_dir: Path
    extra_files: Callable[[Path, "Job"], None] | None = None


@dataclass
class JobResult:
    """Outcome of one job. ``error_cell`` is ``{"index", "source"}`` (index in the executed
    notebook, first line of the cell's source) when a cell can be blamed."""

    name: str
    status: str
    duration_s: float = 0.0
    error_name: str | None = None
    error_value: str | None = None
    error_cell: dict | None = None
    output_notebook: Path | None = None
    attempts: int = 0
    log_file: Path | None = None


# ---------------------------------------------------------------------------- small helpers


def _short(text: Any, limit: int = _MAX_TEXT) -> str:
    s = str(text)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _first_line(source: Any) -> str:
    text = "".join(source) if isinstance(source, list) else str(source or "")
    for line in text.splitlines():
        if line.strip():
            return line.rstrip()
    return ""


def _write_atomic(path: Path, data: bytes) -> None:
    from rbm_utils.store.snapshot import atomic_write_bytes

    atomic_write_bytes(Path(path), data)


def _utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _text_of(output: Any) -> str:
    """Printed or displayed text of one notebook output."""
    if output.get("output_type") == "stream":
        text = output.get("text", "")
        return "".join(text) if isinstance(text, list) else str(text)
    data = output.get("data") or {}
    plain = data.get("text/plain", "")
    return "".join(plain) if isinstance(plain, list) else str(plain)


def has_sentinel(nb: Any) -> bool:
    """True when the notebook's last code cell printed or displayed :data:`SENTINEL`.

    >>> import nbformat.v4 as v4
    >>> nb = v4.new_notebook(cells=[v4.new_code_cell("print('RBM-REVIEW-COMPLETE')",
    ...     outputs=[v4.new_output("stream", name="stdout", text="RBM-REVIEW-COMPLETE\\n")])])
    >>> has_sentinel(nb)
    True
    """
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    if not code:
        return False
    return any(SENTINEL in _text_of(o) for o in code[-1].get("outputs", []))


def content_key(job: Job) -> str:
    """sha256 over the workbench version, the template's bytes, the parameters (canonical
    JSON) and, when the parameters name a ``snapshot_dir``, that snapshot's ``content_sha256``.
    A new release of the workbench therefore republishes (the old version is archived).

    >>> content_key(Job("AFR", Path("t.ipynb"), {"unit": "AFR"}, Path("out/AFR")))  # doctest: +SKIP
    '3f1c...'
    """
    from rbm_utils import __version__

    h = hashlib.sha256(b"rbm-batch-content-key-v1\0")
    h.update(__version__.encode("ascii") + b"\0")
    h.update(Path(job.template).read_bytes())
    h.update(b"\0")
    h.update(json.dumps(job.parameters, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                        default=str).encode("utf-8"))
    h.update(b"\0")
    snap = job.parameters.get(SNAPSHOT_PARAMETER)
    if snap:
        from rbm_utils.store.snapshot import read_manifest

        h.update(read_manifest(Path(str(snap)))["content_sha256"].encode("ascii"))
    return h.hexdigest()


# ---------------------------------------------------------------------------- HTML export


def _script_json(obj: Any) -> str:
    """JSON safe to inline in a <script> element (no ``</script>``, no HTML comment openers)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _css_length(value: Any, default: str) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return f"{int(number)}px" if number > 0 else default


def _figure_html(figure: dict, index: int, include_plotlyjs: bool) -> str:
    layout = figure.get("layout") or {}
    div_id = f"rbm-plotly-{index}"
    payload = {"data": figure.get("data") or [], "layout": layout,
               "config": {"responsive": True, **(figure.get("config") or {})}}
    if figure.get("frames"):
        payload["frames"] = figure["frames"]
    parts = []
    if include_plotlyjs:
        from plotly.offline import get_plotlyjs

        parts.append('<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: "local"};</script>')
        parts.append(f'<script type="text/javascript">{get_plotlyjs()}</script>')
    parts.append(f'<div id="{div_id}" class="plotly-graph-div" style="height:{_css_length(layout.get("height"), "450px")};'
                 f' width:{_css_length(layout.get("width"), "100%")};"></div>')
    parts.append(f'<script type="text/javascript">(function () {{ var fig = {_script_json(payload)};'
                 f' if (window.Plotly) {{ window.Plotly.newPlot("{div_id}", fig); }} }})();</script>')
    return "\n".join(parts)


def notebook_to_html(nb: Any, title: str = "Review") -> str:
    """A static, self-contained HTML page of an executed notebook, without any code.

    Code inputs and prompts are excluded; stderr streams, widget views and the sentinel
    line are dropped; plotly figures (plotly's mimetype output) become inline
    ``Plotly.newPlot`` calls with plotly.js inlined once, before the first figure. The
    page loads nothing from the network (no require.js, MathJax or mermaid CDN links).
    Does not modify ``nb``.

    >>> html = notebook_to_html(executed_nb)  # doctest: +SKIP
    >>> html.count("plotly.js v")             # doctest: +SKIP
    1
    """
    import jinja2
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    figures = 0
    code_cells = [c for c in nb.cells if c.get("cell_type") == "code"]
    for cell in code_cells:
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                if out.get("name") == "stderr":
                    continue
                if cell is code_cells[-1] and SENTINEL in _text_of(out):
                    rest = _text_of(out).replace(SENTINEL + "\n", "").replace(SENTINEL, "")
                    if not rest.strip():
                        continue
                    out["text"] = rest
            data = out.get("data")
            if data:
                data.pop(WIDGET_MIME, None)
                if PLOTLY_MIME in data:
                    out["data"] = {"text/html": _figure_html(data[PLOTLY_MIME], figures, figures == 0)}
                    figures += 1
                if not out["data"]:
                    continue
            kept.append(out)
        cell["outputs"] = kept
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"rbm_offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="rbm_offline.html.j2",
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


# ---------------------------------------------------------------------------- the child process


def is_start_failure(exc: BaseException, cell_started: bool) -> bool:
    """True for a kernel start-up failure (worth a retry with a fresh kernel), False otherwise.

    Only failures before any code cell started count: a port collision (``ZMQError``,
    ``Address already in use``), a kernel that died before replying to ``kernel_info``,
    or a time-out waiting for the kernel to start.

    >>> is_start_failure(RuntimeError("Kernel died before replying to kernel_info"), False)
    True
    >>> is_start_failure(RuntimeError("Kernel died before replying to kernel_info"), True)
    False
    """
    if cell_started:
        return False
    from nbclient.exceptions import CellControlSignal, DeadKernelError

    if isinstance(exc, CellControlSignal):
        return False
    try:
        import zmq

        if isinstance(exc, zmq.ZMQError):
            return True
    except ImportError:  # pragma: no cover - zmq comes with jupyter_client
        pass
    message = str(exc).lower()
    if isinstance(exc, (DeadKernelError, TimeoutError)):
        return True
    if isinstance(exc, OSError):
        return exc.errno == errno.EADDRINUSE or "address already in use" in message
    if isinstance(exc, RuntimeError):
        return "kernel" in message
    return False


def _failed(name: str, value: Any, cell: dict | None = None, **extra: Any) -> dict:
    return {"status": "failed", "error_name": name, "error_value": _short(value), "error_cell": cell, **extra}


def run_job_in_process(spec: dict, send: Callable[[str, Any], None] = lambda kind, payload: None,
                       execute: Callable[..., Any] | None = None) -> dict:
    """Execute one job's notebook here and now (what the job's child process does).

    Checks parameters against the template's ``parameters`` cell, runs papermill (retrying
    kernel start-up failures only), checks the sentinel, writes the HTML copy. Returns
    a plain dict: ``status``, ``attempts`` and, on failure, ``error_name``, ``error_value``, ``error_cell``.
    ``execute`` replaces ``papermill.execute_notebook`` (tests).
    """
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    execute = execute or pm.execute_notebook
    template, output = spec["template"], spec["output_notebook"]
    params = dict(spec["parameters"])
    declared = pm.inspect_notebook(template)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        return _failed("UnknownParameter", f"parameters not declared in the template's parameters cell: "
                       f"{', '.join(unknown)}", attempts=0)
    current: dict = {}

    def on_cell_start(cell: Any, cell_index: int, **_: Any) -> None:
        if cell.get("cell_type") == "code" and str(cell.get("source", "")).strip():
            current.clear()
            current.update({"index": int(cell_index), "source": _first_line(cell.get("source"))})
            send("cell", dict(current))

    attempts = 0
    while True:
        attempts += 1
        current.clear()
        try:
            nb = execute(
                template, output, parameters=params, kernel_name="python3", cwd=None,
                request_save_on_cell_execute=False, execution_timeout=spec["cell_timeout"],
                progress_bar=False, log_output=False, shutdown_kernel="immediate",
                on_cell_start=on_cell_start,
            )
        except PapermillExecutionError as exc:
            return _failed(exc.ename, exc.evalue, {"index": exc.cell_index, "exec_count": exc.exec_count,
                                                   "source": _first_line(exc.source)}, attempts=attempts)
        except CellTimeoutError as exc:
            return {"status": "timeout", "error_name": "CellTimeoutError", "error_value": _short(exc),
                    "error_cell": dict(current) or None, "attempts": attempts}
        except Exception as exc:  # noqa: BLE001 - classified below
            if is_start_failure(exc, bool(current)) and attempts <= MAX_START_RETRIES:
                log.warning("job %s: kernel start failed (%s: %s); retrying with a fresh kernel",
                            spec["name"], type(exc).__name__, exc)
                time.sleep(0.2 + random.random())
                continue
            if isinstance(exc, DeadKernelError):
                return {"status": "dead_kernel", "error_name": "DeadKernelError", "error_value": _short(exc),
                        "error_cell": dict(current) or None, "attempts": attempts}
            return _failed(type(exc).__name__, exc, dict(current) or None, attempts=attempts)
        break
    if not has_sentinel(nb):
        return _failed("MissingSentinel", f"the last code cell did not print {SENTINEL}; the run is incomplete",
                       attempts=attempts)
    html = notebook_to_html(nb, title=spec.get("title") or spec["name"])
    _write_atomic(Path(spec["html"]), html.encode("utf-8"))
    return {"status": "ok", "attempts": attempts}


def _die_with_parent(parent_pid: int | None) -> None:
    """Linux: have the kernel SIGKILL this process when the runner dies (``kill -9`` included);
    the notebook kernel then exits too (ipykernel polls its parent). Exits now if the runner
    is already gone."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent_pid and os.getppid() != parent_pid:
        os._exit(1)


def _child_main(spec: dict, conn: Any) -> None:
    """Entry point of a job's process: dies with the runner, own session, marker in the
    environment, output to a log."""
    _die_with_parent(spec.get("parent_pid"))
    try:
        os.setsid()
    except OSError:
        pass
    os.environ[MARK_ENV] = spec["marker"]
    try:
        fd = os.open(spec["log_file"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
    except OSError:
        pass
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def send(kind: str, payload: Any) -> None:
        try:
            conn.send((kind, payload))
        except (OSError, ValueError):
            pass

    try:
        result = run_job_in_process(spec, send)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, never raised
        result = _failed(type(exc).__name__, exc)
    send("result", result)
    conn.close()


# ---------------------------------------------------------------------------- process control


def _proc_environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def marked_pids(marker: str, *, prefix: bool = False) -> list[int]:
    """Pids of live processes whose environment has ``RBM_BATCH_JOB=<marker>`` (or, with
    ``prefix``, a value starting with ``marker``, e.g. ``"<run_id>:"`` for a whole run).

    Reads ``/proc`` (Linux). Zombies and other users' processes are not listed.
    """
    needle = f"{MARK_ENV}={marker}".encode()
    me = os.getpid()
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        items = _proc_environ(int(entry)).split(b"\0")
        if any(item.startswith(needle) if prefix else item == needle for item in items):
            found.append(int(entry))
    return found


def _kill_marked(marker: str, wait_s: float = 5.0) -> list[int]:
    """SIGKILL every process carrying this job marker and wait until they are gone."""
    killed: list[int] = []
    deadline = time.monotonic() + wait_s
    while True:
        pids = marked_pids(marker)
        if not pids:
            return killed
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                if pid not in killed:
                    killed.append(pid)
            except (ProcessLookupError, PermissionError):
                pass
        if time.monotonic() > deadline:
            log.error("processes %s of job marker %s would not die", pids, marker)
            return killed
        time.sleep(0.05)


def _kill_job_process(proc: Any, marker: str) -> None:
    """Kill the job's whole process group, then anything else carrying its marker (the kernel)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except (OSError, AttributeError):
            pass
    proc.join(10)
    stray = _kill_marked(marker)
    if stray:
        log.warning("killed %d process(es) left by job marker %s: %s", len(stray), marker, stray)


# ---------------------------------------------------------------------------- publishing


def _acquire_lock(job: Job) -> int | None:
    lock_dir = Path(job.publish_dir).parent / LOCK_DIR
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / f"{job.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        raise
    return fd


def _published_key(publish_dir: Path) -> str | None:
    try:
        data = json.loads((Path(publish_dir) / INPUTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("content_key") if isinstance(data, dict) else None


def _publish(staging: Path, job: Job) -> Path | None:
    """Replace ``job.publish_dir`` by ``staging`` as a whole; return the archive of the old one, if any.

    The complete new folder first becomes ``<parent>/.tmp-<name>`` (a rename; across file
    systems a copy into ``.tmp-<name>.partial`` renamed when complete), then one atomic
    ``renameat2(RENAME_EXCHANGE)`` swaps it with the published folder, whose old version
    (now at ``.tmp-<name>``) is renamed into the archive. A process killed at any point
    leaves ``publish_dir`` as the old or the new version; :func:`recover_publication`
    tidies ``.tmp-<name>`` on the next run. Where the exchange is unsupported the old
    folder is renamed to the archive and the new one renamed in: a crash between the two
    renames leaves no ``publish_dir`` until the next run restores it from ``.tmp-<name>``.
    """
    from rbm_utils.store.snapshot import exchange_dirs

    publish_dir = Path(job.publish_dir)
    parent = publish_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".tmp-{job.name}"
    partial = parent / f".tmp-{job.name}.partial"
    for leftover in (tmp, partial):  # recover_publication ran under this lock: nothing here is published
        if leftover.exists():
            shutil.rmtree(leftover)
    try:
        os.rename(staging, tmp)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copytree(staging, partial)
        os.rename(partial, tmp)
        shutil.rmtree(staging, ignore_errors=True)
    if not os.path.lexists(publish_dir):
        os.rename(tmp, publish_dir)
        return None
    archive = parent / ARCHIVE_DIR / f"{job.name}-{_utc_stamp()}"
    archive.parent.mkdir(parents=True, exist_ok=True)
    if exchange_dirs(tmp, publish_dir):  # published: from here on, never report a failure
        try:
            os.rename(tmp, archive)
        except OSError as exc:
            log.error("job %s: published; the previous version stays in %s (archiving failed: %s); "
                      "the next run archives it", job.name, tmp, exc)
            return tmp
        return archive
    os.rename(publish_dir, archive)
    try:
        os.rename(tmp, publish_dir)
    except OSError:
        os.rename(archive, publish_dir)
        raise
    return archive


def recover_publication(job: Job) -> str | None:
    """Tidy what a runner killed while publishing ``job`` left behind; call with the job's lock held.

    * ``.tmp-<name>.partial`` (an unfinished cross-file-system copy) is removed;
    * ``.tmp-<name>`` with no ``publish_dir`` (killed between the two renames of the
      fallback, or before a first publication): the complete folder is renamed in -> ``"restored"``;
    * ``.tmp-<name>`` beside ``publish_dir`` (killed just before or just after the exchange):
      it is not published; it goes to the archive as ``<name>-<stamp>-recovered`` ->
      ``"archived"``, or is removed when it has the published content key -> ``"removed"``.

    Returns what was done, or None when there was nothing to do.

    >>> recover_publication(Job("AFR", tpl, {}, Path("outputs/2026-Q3/AFR")))  # doctest: +SKIP
    'restored'
    """
    publish_dir = Path(job.publish_dir)
    parent = publish_dir.parent
    tmp = parent / f".tmp-{job.name}"
    partial = parent / f".tmp-{job.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    if not tmp.is_dir():
        return None
    if not (tmp / INPUTS_FILE).is_file():  # never complete (written before the folder moves): not a version
        shutil.rmtree(tmp)
        action = "removed"
    elif not os.path.lexists(publish_dir):
        os.rename(tmp, publish_dir)
        action = "restored"
    elif _published_key(tmp) == _published_key(publish_dir):
        shutil.rmtree(tmp)
        action = "removed"
    else:
        archive = parent / ARCHIVE_DIR / f"{job.name}-{_utc_stamp()}-recovered"
        archive.parent.mkdir(parents=True, exist_ok=True)
        os.rename(tmp, archive)
        action = "archived"
    log.warning("job %s: an interrupted publication was found in %s: %s", job.name, tmp, action)
    return action


# ---------------------------------------------------------------------------- the runner


@dataclass
class _Running:
    job: Job
    index: int
    proc: Any
    conn: Any
    lock_fd: int
    key: str
    staging: Path
    output_notebook: Path
    log_file: Path
    marker: str
    started: float
    deadline: float
    last_cell: dict | None = None
    result: dict | None = None
    eof: bool = False


def _drain(run: _Running) -> None:
    try:
        while run.conn.poll():
            kind, payload = run.conn.recv()
            if kind == "cell":
                run.last_cell = payload
            elif kind == "result":
                run.result = payload
    except (EOFError, OSError):
        run.eof = True  # the child closed its end: stop waiting on this pipe


def _check_jobs(jobs: list[Job]) -> None:
    names, targets = set(), set()
    for job in jobs:
        if not _NAME_RE.match(job.name) or ".." in job.name:
            raise ValueError(f"job name {job.name!r} is not allowed (letters, digits, '_', '.', '-')")
        if job.name in names:
            raise ValueError(f"two jobs are named {job.name!r}")
        target = Path(job.publish_dir).resolve()
        if target in targets:
            raise ValueError(f"two jobs publish to {target}")
        names.add(job.name)
        targets.add(target)


def recorder(results: list, bar: Any) -> Callable[[int, JobResult], None]:
    """A callback that stores a job's result at its index, logs it and advances the progress bar
    (shared by the local runner and the Dask path)."""

    def record(index: int, res: JobResult) -> None:
        results[index] = res
        log.info("job %s: %s (%.1f s)%s", res.name, res.status, res.duration_s,
                 f" {res.error_name}: {res.error_value}" if res.error_name else "")
        if bar is not None:
            bar.update(1)
            bar.write(f"{res.name}: {res.status} ({res.duration_s:.1f} s)"
                      + (f" - {res.error_name}" if res.error_name else ""), file=sys.stderr)

    return record


def run_notebooks(jobs: list[Job], *, workers: int = 3, cell_timeout: int = 600, job_timeout: int = 1800,
                  staging_root: Path, progress: bool = True, force: bool = False,
                  run_id: str | None = None) -> list[JobResult]:
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
    jobs = list(jobs)
    _check_jobs(jobs)
    workers = max(1, int(workers))
    run_id = run_id or uuid.uuid4().hex[:12]
    staging_root = Path(staging_root).resolve()
    log_dir = staging_root / ".logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    results: list[JobResult | None] = [None] * len(jobs)
    pending = list(enumerate(jobs))
    running: list[_Running] = []
    bar = _progress_bar(len(jobs), progress)

    record = recorder(results, bar)

    def start(index: int, job: Job) -> None:
        t0 = time.monotonic()
        fd = _acquire_lock(job)
        if fd is None:
            record(index, JobResult(job.name, "locked", 0.0, "Locked",
                                    f"another process is publishing {job.publish_dir}"))
            return
        try:
            recover_publication(job)
            key = content_key(job)
            if not force and _published_key(job.publish_dir) == key:
                nb_path = Path(job.publish_dir) / Path(job.template).name
                if nb_path.is_file():
                    os.close(fd)
                    record(index, JobResult(job.name, "skipped_unchanged", round(time.monotonic() - t0, 3),
                                            output_notebook=nb_path))
                    return
            staging = staging_root / job.name
            if staging.exists():
                shutil.rmtree(staging)
            staging.mkdir(parents=True)
            out_nb = staging / Path(job.template).name
            log_file = log_dir / f"{job.name}.log"
            log_file.write_bytes(b"")
            marker = f"{run_id}:{job.name}"
            spec = {"name": job.name, "template": str(Path(job.template).resolve()),
                    "output_notebook": str(out_nb), "html": str(out_nb.with_suffix(".html")),
                    "parameters": dict(job.parameters), "cell_timeout": int(cell_timeout),
                    "marker": marker, "log_file": str(log_file), "title": job.name, "parent_pid": os.getpid()}
            reader, writer = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child_main, args=(spec, writer), name=f"rbm-batch-{job.name}", daemon=True)
            proc.start()
            writer.close()
        except Exception as exc:  # noqa: BLE001 - one job's set-up failure never stops the batch
            os.close(fd)
            record(index, JobResult(job.name, "failed", round(time.monotonic() - t0, 3), type(exc).__name__,
                                    _short(exc)))
            return
        running.append(_Running(job, index, proc, reader, fd, key, staging, out_nb, log_file, marker,
                                t0, t0 + job_timeout))

    def finish(run: _Running, timed_out: bool) -> None:
        try:
            if timed_out:
                _kill_job_process(run.proc, run.marker)
                _drain(run)
                res = run.result or {  # a result sent just before the deadline still counts
                    "status": "timeout", "error_name": "JobTimeout",
                    "error_value": f"the job ran longer than {job_timeout} s; its processes were killed",
                    "error_cell": run.last_cell}
            else:
                _drain(run)
                run.proc.join(10)
                stray = _kill_marked(run.marker)
                if stray:
                    log.warning("job %s left %d process(es) behind; killed: %s", run.job.name, len(stray), stray)
                res = run.result or {
                    "status": "dead_kernel", "error_name": "ProcessDied",
                    "error_value": f"the job's process ended with exit code {run.proc.exitcode} without a result",
                    "error_cell": run.last_cell}
            out_nb: Path | None = run.output_notebook if run.output_notebook.is_file() else None
            status = res.get("status", "failed")
            if status == "ok":
                try:
                    if run.job.extra_files is not None:
                        run.job.extra_files(run.staging, run.job)
                    inputs = {"name": run.job.name, "template": str(run.job.template),
                              "template_sha256": hashlib.sha256(Path(run.job.template).read_bytes()).hexdigest(),
                              "parameters": run.job.parameters, "content_key": run.key,
                              "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
                    _write_atomic(run.staging / INPUTS_FILE, (json.dumps(
                        inputs, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
                    archive = _publish(run.staging, run.job)
                    if archive is not None:
                        log.info("job %s: previous version archived in %s", run.job.name, archive)
                    out_nb = Path(run.job.publish_dir) / run.output_notebook.name
                except Exception as exc:  # noqa: BLE001
                    res = _failed(type(exc).__name__, f"publishing failed: {exc}", attempts=res.get("attempts", 0))
                    status = "failed"
            record(run.index, JobResult(
                run.job.name, status, round(time.monotonic() - run.started, 3), res.get("error_name"),
                None if res.get("error_value") is None else _short(res.get("error_value")),
                res.get("error_cell"), out_nb, int(res.get("attempts", 0) or 0), run.log_file))
        finally:
            try:
                run.conn.close()
            except OSError:
                pass
            os.close(run.lock_fd)

    try:
        while pending or running:
            while pending and len(running) < workers:
                index, job = pending.pop(0)
                start(index, job)
            if not running:
                continue
            now = time.monotonic()
            wait_for = max(0.0, min(min(r.deadline for r in running) - now, 1.0))
            waitables = [r.proc.sentinel for r in running] + [r.conn for r in running if not r.eof]
            multiprocessing.connection.wait(waitables, timeout=wait_for)
            now = time.monotonic()
            for run in list(running):
                _drain(run)
                if not run.proc.is_alive():
                    running.remove(run)
                    finish(run, timed_out=False)
                elif now >= run.deadline:
                    running.remove(run)
                    finish(run, timed_out=True)
    finally:
        for run in running:  # interrupted: leave nothing behind
            _kill_job_process(run.proc, run.marker)
            try:
                os.close(run.lock_fd)
            except OSError:
                pass
        if bar is not None:
            bar.close()
    return [r for r in results if r is not None]


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with papermill
        return None
    return tqdm(total=total, desc="notebooks", unit="nb", file=sys.stderr, dynamic_ncols=True)


def write_run_report(results: Iterable[JobResult], path: Path) -> Path:
    """Write the batch's report as JSON (atomically): one entry per job plus totals by status.

    >>> write_run_report([JobResult("AFR", "ok", 2.5)], Path("run_report.json"))  # doctest: +SKIP
    """
    results = list(results)
    totals = {status: 0 for status in STATUSES}
    for r in results:
        totals[r.status] = totals.get(r.status, 0) + 1
    report = {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "totals": {"jobs": len(results), **totals},
        "all_ok": all(r.status in ("ok", "skipped_unchanged") for r in results),
        "jobs": [{"name": r.name, "status": r.status, "duration_s": round(float(r.duration_s), 3),
                  "error_name": r.error_name, "error_value": r.error_value, "error_cell": r.error_cell,
                  "attempts": r.attempts,
                  "output_notebook": None if r.output_notebook is None else str(r.output_notebook)}
                 for r in results],
    }
    text = json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n"
    _write_atomic(Path(path), text.encode("utf-8"))
    return Path(path)
