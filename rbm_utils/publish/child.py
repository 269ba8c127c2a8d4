"""What runs in a job's own process: papermill, start-up retries, the sentinel check, the HTML copy.

:func:`run_job_in_process` executes one :class:`~rbm_utils.publish.jobs.JobSpec` where it is
called and returns a :class:`~rbm_utils.publish.jobs.JobOutcome`; both runners call it in a
child process (the local runner through :func:`child_main`, the Dask worker through
``python -m rbm_utils.publish.dask child``). :func:`child_main` first makes the process die
with the runner (``PR_SET_PDEATHSIG``, Linux), starts a session of its own and puts the
job's marker (:data:`~rbm_utils.publish.processes.MARK_ENV`) in its environment, so that the
kernel it starts inherits it and can be found and killed.

Example:
    >>> is_start_failure(OSError(98, "Address already in use"), cell_started=False)
    True
"""

from __future__ import annotations

import ctypes
import errno
import logging
import multiprocessing.forkserver
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from rbm_utils.core.files import atomic_write_bytes
from rbm_utils.publish.figures import write_figures
from rbm_utils.publish.html import notebook_to_html
from rbm_utils.publish.jobs import SENTINEL, JobOutcome, JobSpec, failed_outcome, first_line, has_sentinel, shorten
from rbm_utils.publish.processes import MARK_ENV

log = logging.getLogger(__name__)

#: Kernel start-up failures are retried at most this many times, each with a fresh kernel.
MAX_START_RETRIES = 2
_PR_SET_PDEATHSIG = 1

Send = Callable[[str, Any], None]


def _ignore(kind: str, payload: Any) -> None:
    """A ``send`` that reports nothing."""


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
    # nbclient takes a quarter of a second to import; the runner's parent never needs it
    from nbclient.exceptions import CellControlSignal, DeadKernelError

    if isinstance(exc, CellControlSignal):
        return False
    if isinstance(exc, zmq.ZMQError):
        return True
    message = str(exc).lower()
    if isinstance(exc, (DeadKernelError, TimeoutError)):
        return True
    if isinstance(exc, OSError):
        return exc.errno == errno.EADDRINUSE or "address already in use" in message
    if isinstance(exc, RuntimeError):
        return "kernel" in message
    return False


def run_job_in_process(spec: JobSpec, send: Send = _ignore, execute: Callable[..., Any] | None = None) -> JobOutcome:
    """Execute one job's notebook here and now (what the job's child process does).

    Checks parameters against the template's ``parameters`` cell, runs papermill (retrying
    kernel start-up failures only), checks the sentinel, writes the HTML copy. Returns
    ``status``, ``attempts`` and, on failure, ``error_name``, ``error_value``, ``error_cell``.
    ``send("cell", {"index", "source"})`` reports each code cell as it starts.
    ``execute`` replaces ``papermill.execute_notebook`` (tests).
    """
    # papermill (and nbclient) take half a second to import: only the job's process pays it
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    execute = execute or pm.execute_notebook
    template, output = spec["template"], spec["output_notebook"]
    params = dict(spec["parameters"])
    declared = pm.inspect_notebook(template)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        return failed_outcome(
            "UnknownParameter", f"parameters not declared in the template's parameters cell: {', '.join(unknown)}"
        )
    current: dict[str, Any] = {}

    def on_cell_start(cell: Any, cell_index: int, **_: Any) -> None:
        if cell.get("cell_type") == "code" and str(cell.get("source", "")).strip():
            current.clear()
            current.update({"index": int(cell_index), "source": first_line(cell.get("source"))})
            send("cell", dict(current))

    attempts = 0
    while True:
        attempts += 1
        current.clear()
        try:
            nb = execute(
                template,
                output,
                parameters=params,
                kernel_name="python3",
                cwd=None,
                request_save_on_cell_execute=False,
                execution_timeout=spec["cell_timeout"],
                progress_bar=False,
                log_output=False,
                shutdown_kernel="immediate",
                on_cell_start=on_cell_start,
            )
        except PapermillExecutionError as exc:
            return failed_outcome(
                exc.ename,
                exc.evalue,
                {"index": exc.cell_index, "exec_count": exc.exec_count, "source": first_line(exc.source)},
                attempts=attempts,
            )
        except CellTimeoutError as exc:
            return {
                "status": "timeout",
                "error_name": "CellTimeoutError",
                "error_value": shorten(exc),
                "error_cell": dict(current) or None,
                "attempts": attempts,
            }
        except Exception as exc:  # noqa: BLE001 - classified below
            if is_start_failure(exc, bool(current)) and attempts <= MAX_START_RETRIES:
                log.warning(
                    "job %s: kernel start failed (%s: %s); retrying with a fresh kernel",
                    spec["name"],
                    type(exc).__name__,
                    exc,
                )
                time.sleep(0.2 + random.random())
                continue
            if isinstance(exc, DeadKernelError):
                return {
                    "status": "dead_kernel",
                    "error_name": "DeadKernelError",
                    "error_value": shorten(exc),
                    "error_cell": dict(current) or None,
                    "attempts": attempts,
                }
            return failed_outcome(type(exc).__name__, exc, dict(current) or None, attempts=attempts)
        break
    if not has_sentinel(nb):
        return failed_outcome(
            "MissingSentinel", f"the last code cell did not print {SENTINEL}; the run is incomplete", attempts=attempts
        )
    html = notebook_to_html(nb, title=spec.get("title") or spec["name"], plotly_js=spec.get("plotly_js"))
    atomic_write_bytes(Path(spec["html"]), html.encode("utf-8"))
    write_figures(nb, Path(spec["html"]).parent)  # the dashboard shows these figures as drawn
    return {"status": "ok", "attempts": attempts}


def die_with_parent(parent_pid: int | None) -> None:
    """Linux: have the kernel SIGKILL this process when its parent dies (``kill -9`` included);
    the notebook kernel then exits too (ipykernel polls its parent). Exits now if the parent
    is already gone.

    The parent is the runner (``parent_pid``) or the runner's warm job server
    (:mod:`rbm_utils.publish.warm`), which exits as soon as the runner is gone (it reads a pipe
    only the runner holds): either way the job process dies with the runner."""
    _let_go_of_job_server()
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    if parent_pid and parent != parent_pid and not _alive(parent_pid):
        os._exit(1)


def _let_go_of_job_server() -> None:
    """A process forked by the warm job server inherits the write end of the pipe by which the
    server learns that the runner is gone (so that it could start processes of its own through
    the server): close it, or the server would outlive a killed runner as long as this job runs,
    and this job (which dies with the server) with it."""
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is None:
        return
    try:
        os.close(fd)
    except OSError:
        pass
    server._forkserver_alive_fd = None  # type: ignore[union-attr]


def _alive(pid: int) -> bool:
    """True while process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def take_over(spec: JobSpec) -> None:
    """Adopt the runner's environment and working folder as they were when the job started
    (a process forked from the warm job server has the server's, from when it started)."""
    if "env" in spec:
        os.environ.clear()
        os.environ.update(spec["env"])
    if "cwd" in spec:
        try:
            os.chdir(spec["cwd"])
        except OSError:
            pass


def _log_to(path: str) -> None:
    """Send this process's stdout and stderr (and so the kernel's) to the job's log file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
    except OSError:
        pass


def child_main(spec: JobSpec, conn: Any) -> None:
    """Entry point of a local job's process: dies with the runner, own session, marker in the
    environment, output to the log; sends ``("cell", ...)`` as cells start and ``("result", outcome)``
    at the end on ``conn`` (a ``multiprocessing`` connection)."""
    die_with_parent(spec.get("parent_pid"))
    try:
        os.setsid()
    except OSError:
        pass
    take_over(spec)
    os.environ[MARK_ENV] = spec["marker"]
    _log_to(spec["log_file"])
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    def send(kind: str, payload: Any) -> None:
        try:
            conn.send((kind, payload))
        except (OSError, ValueError):
            pass

    try:
        result = run_job_in_process(spec, send)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, never raised
        result = failed_outcome(type(exc).__name__, exc)
    send("result", result)
    conn.close()
