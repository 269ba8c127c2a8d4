"""Publishing a job's folder: the per-job lock, the atomic swap, recovery and the finish step.

Each job owns ``<publish_dir.parent>/.locks/<name>.lock``; :func:`claim` takes it without
waiting (:mod:`filelock`; a second runner of the same job is ``locked`` at once; the lock dies
with its process), tidies what a killed runner left (:func:`recover_publication`) and skips a
job whose published content key is unchanged. After the run, :func:`finish_job` (called by
the local and the Dask runner alike) lets ``extra_files`` add files, writes ``inputs.json``
and swaps the staging folder in as a whole (:func:`publish_folder`): the previous version moves
to ``<publish_dir.parent>/archive/<name>-<UTC timestamp>/`` in one atomic exchange of the two
folders (Linux ``renameat2``, :func:`rbm_utils.core.files.exchange_dirs`), so a reader or a
crash sees the old or the new version, never a mix or no folder. A job with an ``assets_dir``
has the quarter's plotly.js asset written (once, atomically) before its folder is published,
and a version moved into the archive keeps its pages' charts (:func:`keep_archive_assets`).

Example:
    >>> job = Job("AFR", Path("notebooks/quarterly_review.ipynb"), {"unit": "AFR"},
    ...           Path("outputs/2026-Q3/AFR"))                                          # doctest: +SKIP
    >>> got = claim(job, force=False)                                                  # doctest: +SKIP
    >>> # ... run the notebook into staging/AFR, then, holding got.lock:
    >>> finish_job(job, got.key, Path("staging/AFR"), {"status": "ok", "attempts": 1},
    ...            duration_s=12.5)                                                    # doctest: +SKIP
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

if TYPE_CHECKING:
    import pandas

from rbm_utils.core.files import FolderView, atomic_write_json, exchange_dirs, utc_stamp
from rbm_utils.publish.assets import keep_reachable, write_plotly_asset
from rbm_utils.publish.jobs import Job, JobOutcome, JobResult, content_key, failed_outcome, shorten

log = logging.getLogger(__name__)

INPUTS_FILE = "inputs.json"
ARCHIVE_DIR = "archive"
LOCK_DIR = ".locks"


# ---------------------------------------------------------------------------- lock and claim


def acquire_lock(job: Job) -> FileLock | None:
    """Take the job's publish lock without waiting; None when another process (or runner) holds it.
    Release it with ``lock.release()``; it is released anyway when the process dies.

    >>> lock = acquire_lock(job)                 # doctest: +SKIP
    >>> acquire_lock(job) is None                # doctest: +SKIP
    True
    """
    lock_dir = Path(job.publish_dir).parent / LOCK_DIR
    lock_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_dir / f"{job.name}.lock", timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        return None
    return lock


def published_key(publish_dir: Path) -> str | None:
    """The content key of the version published in ``publish_dir`` (its ``inputs.json``), if any."""
    try:
        data = json.loads((Path(publish_dir) / INPUTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    key = data.get("content_key") if isinstance(data, dict) else None
    return key if isinstance(key, str) else None


@dataclass
class Claim:
    """A job this runner may run and publish: its lock (held) and its content key."""

    job: Job
    lock: FileLock
    key: str

    def release(self) -> None:
        """Release the job's lock (idempotent)."""
        self.lock.release(force=True)


def claim(job: Job, *, force: bool) -> Claim | JobResult:
    """Take ``job``'s lock, tidy an interrupted publication and compute its content key.

    Returns the :class:`Claim` to run the job under, or the job's final result: ``locked``
    (another process holds the lock) or ``skipped_unchanged`` (the published version has
    the same content key and ``force`` is false; the lock is then released). An error after
    the lock was taken releases it and propagates.
    """
    t0 = time.monotonic()
    lock = acquire_lock(job)
    if lock is None:
        return JobResult(job.name, "locked", 0.0, "Locked", f"another process is publishing {job.publish_dir}")
    try:
        recover_publication(job)
        key = content_key(job)
        nb_path = Path(job.publish_dir) / Path(job.template).name
        if not force and published_key(job.publish_dir) == key and nb_path.is_file():
            lock.release(force=True)
            return JobResult(job.name, "skipped_unchanged", round(time.monotonic() - t0, 3), output_notebook=nb_path)
    except BaseException:
        lock.release(force=True)
        raise
    return Claim(job, lock, key)


# ---------------------------------------------------------------------------- the swap


def _tmp_paths(job: Job) -> tuple[Path, Path]:
    parent = Path(job.publish_dir).parent
    return parent / f".tmp-{job.name}", parent / f".tmp-{job.name}.partial"


def publish_folder(staging: Path, job: Job) -> Path | None:
    """Replace ``job.publish_dir`` by ``staging`` as a whole; return the archive of the old one, if any.

    Call with the job's lock held. The complete new folder first becomes
    ``<parent>/.tmp-<name>`` (a rename; across file systems a copy into
    ``.tmp-<name>.partial`` renamed when complete), then one atomic
    ``renameat2(RENAME_EXCHANGE)`` swaps it with the published folder, whose old version
    (now at ``.tmp-<name>``) is renamed into the archive. A process killed at any point
    leaves ``publish_dir`` as the old or the new version; :func:`recover_publication`
    tidies ``.tmp-<name>`` on the next run. Where the exchange is unsupported the old
    folder is renamed to the archive and the new one renamed in: a crash between the two
    renames leaves no ``publish_dir`` until the next run restores it from ``.tmp-<name>``.
    """
    publish_dir = Path(job.publish_dir)
    parent = publish_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp, partial = _tmp_paths(job)
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
    archive = parent / ARCHIVE_DIR / f"{job.name}-{utc_stamp()}"
    archive.parent.mkdir(parents=True, exist_ok=True)
    if exchange_dirs(tmp, publish_dir):  # published: from here on, never report a failure
        try:
            os.rename(tmp, archive)
        except OSError as exc:
            log.error(
                "job %s: published; the previous version stays in %s (archiving failed: %s); the next run archives it",
                job.name,
                tmp,
                exc,
            )
            return tmp
        keep_archive_assets(archive, job)
        return archive
    os.rename(publish_dir, archive)
    try:
        os.rename(tmp, publish_dir)
    except OSError:
        os.rename(archive, publish_dir)
        raise
    keep_archive_assets(archive, job)
    return archive


def keep_archive_assets(archive: Path, job: Job) -> None:
    """An archived version's pages still find the quarter's plotly.js: the archive is one level
    deeper than the published folder, so the asset is linked where their relative path now points
    (:func:`rbm_utils.publish.assets.keep_reachable`). Never fails the publication: a failure is logged."""
    if job.assets_dir is None:
        return
    try:
        keep_reachable(archive, job.assets_dir)
    except OSError as exc:
        log.warning("job %s: the archived pages in %s may not find plotly.js: %s", job.name, archive, exc)


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
    tmp, partial = _tmp_paths(job)
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
    elif published_key(tmp) == published_key(publish_dir):
        shutil.rmtree(tmp)
        action = "removed"
    else:
        archive = parent / ARCHIVE_DIR / f"{job.name}-{utc_stamp()}-recovered"
        archive.parent.mkdir(parents=True, exist_ok=True)
        os.rename(tmp, archive)
        keep_archive_assets(archive, job)
        action = "archived"
    log.warning("job %s: an interrupted publication was found in %s: %s", job.name, tmp, action)
    return action


# ---------------------------------------------------------------------------- finish


def write_inputs(staging: Path, job: Job, key: str) -> Path:
    """Write ``inputs.json`` (template, its sha256, parameters, content key, time) into ``staging``."""
    inputs = {
        "name": job.name,
        "template": str(job.template),
        "template_sha256": hashlib.sha256(Path(job.template).read_bytes()).hexdigest(),
        "parameters": job.parameters,
        "content_key": key,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return atomic_write_json(staging / INPUTS_FILE, inputs)


def finish_job(
    job: Job, key: str, staging: Path, outcome: JobOutcome, *, duration_s: float, log_file: Path | None = None
) -> JobResult:
    """The result of one run of ``job`` whose files are in ``staging``; publish it when it succeeded.

    Call with the job's lock held. On ``ok``: the quarter's plotly.js asset when the job has an
    ``assets_dir`` (so it is in place before any page that loads it, and for the exports that
    print the page), ``job.extra_files(staging, job)``, then
    ``inputs.json`` with content ``key``, then :func:`publish_folder`; any error there makes
    the job ``failed`` ("publishing failed: ...") and leaves the published folder as it was.
    Otherwise nothing is published and the executed notebook, if any, stays in ``staging``.
    """
    nb_name = Path(job.template).name
    out_nb: Path | None = staging / nb_name if (staging / nb_name).is_file() else None
    status = outcome.get("status", "failed")
    if status == "ok":
        try:
            if job.assets_dir is not None:
                write_plotly_asset(job.assets_dir)
            if job.extra_files is not None:
                job.extra_files(staging, job)
            write_inputs(staging, job, key)
            archive = publish_folder(staging, job)
            if archive is not None:
                log.info("job %s: previous version archived in %s", job.name, archive)
            out_nb = Path(job.publish_dir) / nb_name
        except Exception as exc:  # noqa: BLE001 - reported as the job's failure
            outcome = failed_outcome(
                type(exc).__name__, f"publishing failed: {exc}", attempts=outcome.get("attempts", 0)
            )
            status = "failed"
    error_value = outcome.get("error_value")
    return JobResult(
        job.name,
        status,
        round(duration_s, 3),
        outcome.get("error_name"),
        None if error_value is None else shorten(error_value),
        outcome.get("error_cell"),
        out_nb,
        int(outcome.get("attempts", 0) or 0),
        log_file,
    )


def read_folder_tables(folder: Path, stems: Mapping[str, str]) -> dict[str, pandas.DataFrame]:
    """``{key: table}`` for each ``stem: key`` whose ``<stem>.parquet`` is in ``folder``, all from
    one version of the folder (:class:`rbm_utils.core.files.FolderView`: a refresh swapping the
    folder meanwhile never mixes two versions or tears a file)."""
    import pandas as pd  # the readers of published folders only (the runner never reads a table)

    out: dict[str, pd.DataFrame] = {}
    try:
        view = FolderView(folder)
    except FileNotFoundError:
        return out
    with view:
        for stem, key in stems.items():
            name = f"{stem}.parquet"
            if view.is_file(name):
                with view.open(name) as fh:
                    out[key] = pd.read_parquet(fh)
    return out
