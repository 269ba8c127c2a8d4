"""Finding and killing a job's processes: its process group and everything carrying its marker.

A job's process runs in a session of its own and puts ``RBM_BATCH_JOB=<run_id>:<job name>``
(:data:`MARK_ENV`) in its environment; the kernel it starts inherits the marker but runs in
a session of its own, so killing the job's process group is not enough: :func:`kill_job`
kills the group, then every process of this user carrying the marker. Processes are found
with :mod:`psutil`; zombies and other users' processes are never listed.

Example:
    >>> marked_pids("no-such-run:", prefix=True)
    []
"""

from __future__ import annotations

import logging
import multiprocessing.process
import os
import signal
import subprocess
import time

import psutil

log = logging.getLogger(__name__)

#: Environment variable carrying ``<run_id>:<job name>`` into the job's process and its kernel.
MARK_ENV = "RBM_BATCH_JOB"
#: Seconds to wait for a job's process to be reaped after SIGKILL.
KILL_WAIT_S = 10.0

JobProcess = multiprocessing.process.BaseProcess | subprocess.Popen


def _marked(marker: str, prefix: bool) -> list[psutil.Process]:
    me, uid = os.getpid(), os.getuid()
    found = []
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            with proc.oneshot():
                if proc.uids().real != uid:
                    continue
                value = proc.environ().get(MARK_ENV)
                if value is None or not (value.startswith(marker) if prefix else value == marker):
                    continue
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # gone, a zombie, or not ours to read
            continue
        found.append(proc)
    return found


def marked_pids(marker: str, *, prefix: bool = False) -> list[int]:
    """Pids of live processes of this user whose environment has ``RBM_BATCH_JOB=<marker>``
    (or, with ``prefix``, a value starting with ``marker``, e.g. ``"<run_id>:"`` for a whole run).
    Zombies and other users' processes are not listed."""
    return [proc.pid for proc in _marked(marker, prefix)]


def kill_marked(marker: str, wait_s: float = 5.0) -> list[int]:
    """SIGKILL every process carrying exactly this job marker and wait until they are gone;
    returns the pids killed."""
    killed: list[int] = []
    deadline = time.monotonic() + wait_s
    while True:
        procs = _marked(marker, prefix=False)
        if not procs:
            return killed
        for proc in procs:
            try:
                proc.kill()  # psutil refuses a pid that a new process reused meanwhile
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if proc.pid not in killed:
                killed.append(proc.pid)
        if time.monotonic() > deadline:
            log.error("processes %s of job marker %s would not die", [p.pid for p in procs], marker)
            return killed
        time.sleep(0.05)


def _reap(proc: JobProcess, wait_s: float) -> None:
    if isinstance(proc, subprocess.Popen):
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait long
            log.error("job process %d would not die", proc.pid)
    else:
        proc.join(wait_s)


def kill_job(proc: JobProcess, marker: str, wait_s: float = KILL_WAIT_S) -> list[int]:
    """Kill a job: its process's whole group (the process leads a session of its own), then,
    once the process is reaped, anything else still carrying its marker (the kernel).
    ``proc`` is a ``multiprocessing`` process or a ``subprocess.Popen``; returns the pids of
    the marked processes that had to be killed."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # type: ignore[arg-type]  # a started process has a pid
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except (OSError, AttributeError):
            pass
    _reap(proc, wait_s)
    stray = kill_marked(marker)
    if stray:
        log.warning("killed %d process(es) left by job marker %s: %s", len(stray), marker, stray)
    return stray
