"""A review's exports, with the batch and on demand: the Excel pack always, the PDF when asked.

With the batch (``rbm review``, ``--pdf`` for the PDFs), ``cli.py`` hands
:func:`batch_exports` to :func:`rbm_utils.publish.quarterly.review_quarter`: each unit review's
and the overview's exports are written into its staging folder and published with it, in the
same atomic swap. On demand (``rbm export excel|pdf``), :func:`export_reviews` writes them into
published folders, each file atomically, holding the review's publish lock (the batch's
``<Q>/.locks/<name>.lock``) so it never writes into a folder being replaced.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> export_reviews(Path("outputs"), "2026-Q3", ["AFR"], load_config(), with_pdf=True)   # doctest: +SKIP
    [PosixPath('outputs/2026-Q3/AFR/review.pdf')]
    >>> published_reviews(Path("/nonexistent"), "2026-Q3", load_config())
    []
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from rbm_utils.core.config import Config
from rbm_utils.exchange import excel_pack, pdf
from rbm_utils.publish.assets import ASSETS_DIR
from rbm_utils.publish.folders import LOCK_DIR
from rbm_utils.publish.quarterly import OVERVIEW_NAME, OVERVIEW_TEMPLATE, UNIT_TEMPLATE

log = logging.getLogger(__name__)

#: Seconds an on-demand export waits for a batch publishing the same review.
LOCK_WAIT_S = 600


class ExportError(RuntimeError):
    """An export cannot be written (the review is not published, its lock is held, no browser)."""


def batch_exports(
    config: Config, *, excel: bool = True, with_pdf: bool = False
) -> Callable[[Path, Path, str | None], None]:
    """The ``exports`` callback of the batch: the pack (and the PDF) of one review into its staging folder."""
    if with_pdf:
        pdf.check_chromium()

    def write(folder: Path, quarter_dir: Path, unit: str | None) -> None:
        if excel:
            excel_pack.write_pack(folder, quarter_dir, unit, config)
        if with_pdf:
            pdf.write_review_pdf(
                folder, Path(quarter_dir).name, unit, config, assets_dir=Path(quarter_dir) / ASSETS_DIR
            )

    return write


def published_reviews(outputs: Path, quarter: str, config: Config) -> list[str]:
    """Names of the reviews published for ``quarter``: unit codes of the settings (in their order)
    whose folder holds the executed review, then ``overview`` when published."""
    qdir = Path(outputs) / quarter
    names = [u for u in config.units if (qdir / u / UNIT_TEMPLATE.name).is_file()]
    if (qdir / OVERVIEW_NAME / OVERVIEW_TEMPLATE.name).is_file():
        names.append(OVERVIEW_NAME)
    return names


@contextmanager
def review_lock(quarter_dir: Path, name: str, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold the review's publish lock (the batch's) while writing into its published folder."""
    lock_dir = Path(quarter_dir) / LOCK_DIR
    lock_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_dir / f"{name}.lock", timeout=wait_s, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise ExportError(f"the review {name} of {Path(quarter_dir).name} is being published; try again") from None
    try:
        yield
    finally:
        lock.release(force=True)


def complete_unchanged(
    report: dict[str, Any], outputs: Path, quarter: str, config: Config, *, with_pdf: bool
) -> list[Path]:
    """After a batch: the reviews it left unchanged (``skipped_unchanged``, not re-run) get the
    exports they lack, e.g. the PDFs of a first ``--pdf``; files already there are kept."""
    names = [str(j.get("name")) for j in report.get("jobs", []) if j.get("status") == "skipped_unchanged"]
    names = [n for n in names if n in published_reviews(outputs, quarter, config)]
    return export_reviews(outputs, quarter, names, config, excel=True, with_pdf=with_pdf, only_missing=True)


def export_reviews(
    outputs: Path,
    quarter: str,
    names: Sequence[str],
    config: Config,
    *,
    excel: bool = False,
    with_pdf: bool = False,
    only_missing: bool = False,
) -> list[Path]:
    """Write the Excel pack and/or the PDF of published reviews (``names``: unit codes and/or
    ``overview``). With ``only_missing``, a file already there is kept. Returns the files written."""
    qdir = Path(outputs) / quarter
    published = published_reviews(outputs, quarter, config)
    unknown = [n for n in names if n not in published]
    if unknown:
        raise ExportError(
            f"no published review of {', '.join(unknown)} for {quarter} in {outputs}; "
            f"published: {', '.join(published) or 'none'} (run rbm review first)"
        )
    if with_pdf:
        pdf.check_chromium()
    written: list[Path] = []
    todo = [
        (name, kind)
        for name in names
        for kind, wanted, fname in (("xlsx", excel, excel_pack.PACK_FILE), ("pdf", with_pdf, pdf.PDF_FILE))
        if wanted and not (only_missing and (qdir / name / fname).is_file())
    ]
    if not todo:
        return written
    printer_cm: Any = pdf.Printer() if any(kind == "pdf" for _, kind in todo) else nullcontext()
    with printer_cm as printer:
        for name, kind in todo:
            unit = None if name == OVERVIEW_NAME else name
            with review_lock(qdir, name):
                if kind == "xlsx":
                    written.append(excel_pack.write_pack(qdir / name, qdir, unit, config))
                else:
                    written.append(pdf.write_review_pdf(qdir / name, quarter, unit, config, printer))
    return written
