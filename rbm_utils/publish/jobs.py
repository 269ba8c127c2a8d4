"""What a batch runs and what it reports: jobs, results, the sentinel and the content key.

A :class:`Job` names one notebook to run and the folder it publishes to; a runner turns it
into a :class:`JobSpec` (plain JSON-able values, what crosses into the job's process) and
gets back a :class:`JobOutcome`, which becomes the job's :class:`JobResult`.

Template contract: a cell tagged ``parameters`` declaring every parameter the job passes,
kernelspec ``python3``, and a last code cell ``print("RBM-REVIEW-COMPLETE")``
(:data:`SENTINEL`). A job succeeds only when papermill returned AND that last cell printed
the sentinel.

Example:
    >>> job = Job("AFR", Path("notebooks/quarterly_review.ipynb"), {"unit": "AFR"}, Path("outputs/2026-Q3/AFR"))
    >>> check_jobs([job])
    >>> JobResult("AFR", "ok", 2.5).status
    'ok'
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from rbm_utils import __version__
from rbm_utils.core.codes import JOB_STATUSES, JobStatus
from rbm_utils.publish.assets import plotly_asset_name
from rbm_utils.store.snapshot import read_manifest

#: The last code cell of every template prints this; its absence means the run did not complete.
SENTINEL = "RBM-REVIEW-COMPLETE"
#: Every status a job can end with, in report order.
STATUSES: tuple[JobStatus, ...] = JOB_STATUSES
#: Parameter whose value (a snapshot folder) contributes its manifest's content_sha256 to the content key.
SNAPSHOT_PARAMETER = "snapshot_dir"
#: Error texts are cut to this many characters.
MAX_TEXT = 2000
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


@dataclass(frozen=True)
class Job:
    """One notebook to run and publish.

    ``name`` names the staging folder, lock and archive entries (letters, digits, ``_.-``).
    ``parameters`` are papermill parameters (JSON-able; pass paths as absolute strings).
    ``extra_files(staging_dir, job)``, if given, runs in the parent after a successful
    execution and may write more files into ``staging_dir`` before it is published.
    ``assets_dir``, if given, is the quarter's shared assets folder
    (:mod:`rbm_utils.publish.assets`): the page then loads plotly.js from there by a relative
    path instead of inlining it.
    """

    name: str
    template: Path
    parameters: dict[str, Any]
    publish_dir: Path
    extra_files: Callable[[Path, Job], None] | None = None
    assets_dir: Path | None = None


@dataclass
class JobResult:
    """Outcome of one job. ``error_cell`` is ``{"index", "source"}`` (index in the executed
    notebook, first line of the cell's source) when a cell can be blamed."""

    name: str
    status: JobStatus
    duration_s: float = 0.0
    error_name: str | None = None
    error_value: str | None = None
    error_cell: dict[str, Any] | None = None
    output_notebook: Path | None = None
    attempts: int = 0
    log_file: Path | None = None


class JobSpec(TypedDict):
    """One job as its process receives it (JSON-able: it crosses a process boundary, or a
    Dask worker's temporary folder). ``parent_pid`` is the runner's pid, for die-with-parent.
    ``plotly_js``: the relative URL of the quarter's plotly.js asset the HTML copy loads (absent:
    plotly.js is inlined). ``env`` and ``cwd``: the runner's environment and working folder when
    the job started (a job process forked from the warm job server takes them over, as a spawned
    one would inherit them)."""

    name: str
    template: str
    output_notebook: str
    html: str
    parameters: dict[str, Any]
    cell_timeout: int
    marker: str
    log_file: str
    title: str
    parent_pid: NotRequired[int]
    plotly_js: NotRequired[str]
    env: NotRequired[dict[str, str]]
    cwd: NotRequired[str]


class JobOutcome(TypedDict, total=False):
    """What a job's process reports back: ``status`` and ``attempts``, and on failure
    ``error_name``, ``error_value`` and ``error_cell`` (``{"index", "source"}`` or None)."""

    status: JobStatus
    attempts: int
    error_name: str | None
    error_value: str | None
    error_cell: dict[str, Any] | None


def shorten(text: Any, limit: int = MAX_TEXT) -> str:
    """``str(text)``, cut to ``limit`` characters with ``...`` at the end.

    >>> shorten("x" * 10, 6)
    'xxx...'
    """
    s = str(text)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def first_line(source: Any) -> str:
    """The first non-blank line of a cell's source (a string or a list of lines).

    >>> first_line(["\\n", "x = 1\\n", "y = 2"])
    'x = 1'
    """
    text = "".join(source) if isinstance(source, list) else str(source or "")
    for line in text.splitlines():
        if line.strip():
            return line.rstrip()
    return ""


def failed_outcome(name: str, value: Any, cell: dict[str, Any] | None = None, *, attempts: int = 0) -> JobOutcome:
    """The outcome of a job that failed with ``name: value`` (in ``cell``, when known).

    >>> failed_outcome("KeyError", "'x'")["status"]
    'failed'
    """
    return {
        "status": "failed",
        "error_name": name,
        "error_value": shorten(value),
        "error_cell": cell,
        "attempts": attempts,
    }


def output_text(output: Any) -> str:
    """Printed or displayed text of one notebook output."""
    if output.get("output_type") == "stream":
        text = output.get("text", "")
        return "".join(text) if isinstance(text, list) else str(text)
    data = output.get("data") or {}
    plain = data.get("text/plain", "")
    return "".join(plain) if isinstance(plain, list) else str(plain)


def has_sentinel(nb: Any) -> bool:
    """True when the notebook's last code cell printed or displayed :data:`SENTINEL`.

    ``nb`` is a notebook node or the plain dict of its JSON.

    >>> import nbformat.v4 as v4
    >>> nb = v4.new_notebook(cells=[v4.new_code_cell("print('RBM-REVIEW-COMPLETE')",
    ...     outputs=[v4.new_output("stream", name="stdout", text="RBM-REVIEW-COMPLETE\\n")])])
    >>> has_sentinel(nb)
    True
    """
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    if not code:
        return False
    return any(SENTINEL in output_text(o) for o in code[-1].get("outputs", []))


#: Folder beside the snapshot that holds the frozen analysis (:mod:`rbm_utils.publish.frozen`).
ANALYSIS_FOLDER = "analysis"


def content_key(job: Job) -> str:
    """sha256 over the workbench version, the template's bytes, the parameters (canonical
    JSON) and, when the parameters name a ``snapshot_dir``, that snapshot's ``content_sha256``
    and the ``content_sha256`` of the analysis frozen beside it (``../analysis/manifest.json``,
    when there is one): a notebook is re-run when its data or the frozen tables it reads change.
    A job with an ``assets_dir`` adds the plotly.js asset its page loads: a page that inlined
    plotly.js, or loads an older one, is published again.
    A new release of the workbench therefore republishes (the old version is archived).

    >>> content_key(Job("AFR", Path("t.ipynb"), {"unit": "AFR"}, Path("out/AFR")))  # doctest: +SKIP
    '3f1c...'
    """
    h = hashlib.sha256(b"rbm-batch-content-key-v1\0")
    h.update(__version__.encode("ascii") + b"\0")
    h.update(Path(job.template).read_bytes())
    h.update(b"\0")
    h.update(
        json.dumps(job.parameters, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode(
            "utf-8"
        )
    )
    h.update(b"\0")
    snap = job.parameters.get(SNAPSHOT_PARAMETER)
    if snap:
        h.update(read_manifest(Path(str(snap)))["content_sha256"].encode("ascii"))
        frozen = Path(str(snap)).parent / ANALYSIS_FOLDER / "manifest.json"
        if frozen.is_file():
            h.update(b"\0" + str(json.loads(frozen.read_text(encoding="utf-8")).get("content_sha256", "")).encode())
    if job.assets_dir is not None:
        h.update(b"\0asset:" + plotly_asset_name().encode("ascii"))
    return h.hexdigest()


def check_jobs(jobs: Iterable[Job]) -> None:
    """Refuse a batch with a bad job name, two jobs of one name or two jobs publishing to one folder.

    >>> check_jobs([Job("../AFR", Path("t.ipynb"), {}, Path("out/AFR"))])
    Traceback (most recent call last):
    ...
    ValueError: job name '../AFR' is not allowed (letters, digits, '_', '.', '-')
    """
    names: set[str] = set()
    targets: set[Path] = set()
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
