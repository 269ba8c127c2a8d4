"""Write the officer's unit workbook (.xlsx) and the equivalent folder of CSV files.

The workbook follows the contract of :mod:`rbm_utils.core.schema`: a ``Guide`` sheet first, then
one sheet per :data:`~rbm_utils.core.schema.SHEETS` entry in contract order, then a hidden
``Lists`` sheet holding every code list (built by :mod:`rbm_utils.intake.template_xlsx`; the
CSV files by :mod:`rbm_utils.intake.template_csv`). This module checks what goes in, the Unit
fields and the frames to pre-fill, and writes the files atomically.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> cfg = load_config()
    >>> unit = unit_fields(cfg, "AFR", "2026-Q3", submitted_by="A. Officer")
    >>> write_workbook("AFR.xlsx", unit, notice="ILLUSTRATIVE DATA")   # doctest: +SKIP
    PosixPath('AFR.xlsx')
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.codes import DECISION_OPEN_STATUSES
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.intake.template_csv import csv_files
from rbm_utils.intake.template_xlsx import build_workbook

log = logging.getLogger(__name__)

__all__ = [
    "write_workbook",
    "write_csv_folder",
    "template_frames",
    "conformed_frames",
    "unit_fields",
]


# --------------------------------------------------------------------------- frames


def unit_fields(
    config: Any, unit_code: str, quarter: QuarterLike, submitted_by: str = "", based_on: int | None = None
) -> dict[str, Any]:
    """The Unit sheet values of a unit from the settings, for the reporting ``quarter``; ``based_on``:
    the store's submission the workbook is made from (``rbm template --from-store``), else empty.

    Raises ``ConfigError`` for a unit not in the settings, ``ValueError`` for a bad quarter.

    >>> from rbm_utils.core.config import load_config
    >>> unit_fields(load_config(), "CYB", "2026-Q3")["unit_type"]
    'cluster'
    """
    reporting = Quarter.parse(quarter)  # a QuarterError is a ValueError
    u = config.unit(unit_code)
    values = {
        "unit_code": u.code,
        "unit_name": u.name,
        "unit_type": u.type,
        "reporting_quarter": str(reporting),
        "submitted_by": submitted_by or "",
        "based_on_submission": based_on,
    }
    names = schema.sheet("Unit").column_names
    if set(values) != set(names):  # the contract changed: fail loudly rather than write half a sheet
        raise RuntimeError(f"unit_fields is out of step with schema Unit columns {names}")
    return {name: values[name] for name in names}


def _check_sheet_keys(frames: Mapping[str, Any], what: str) -> None:
    known = {s.name for s in schema.DATA_SHEETS}
    unknown = sorted(k for k in frames if k not in known and k != "Unit")
    if unknown:
        raise ValueError(
            f"{what}: not sheets of the workbook contract: {unknown}; "
            f"expected some of {[s.name for s in schema.DATA_SHEETS]}"
        )


def template_frames(state: Mapping[str, pd.DataFrame] | None) -> dict[str, pd.DataFrame]:
    """Frames to pre-fill the next quarter's workbook of a unit with its stored ``state``: every
    table sheet of the contract, conformed to the schema (columns, order, dtypes). Of the
    Decisions, only those still open or in progress are carried; done and dropped ones stay in
    the store's history. A ``"Unit"`` entry of ``state`` is ignored; a missing sheet comes back
    empty. Never mutates ``state``.

    >>> frames = template_frames(None)
    >>> list(frames)[:2], len(frames["KPIs"])
    (['Results', 'KPIs'], 0)
    >>> decisions = pd.DataFrame({"decision_id": ["D1", "D2"], "status": ["open", "done"]})
    >>> list(template_frames({"Decisions": decisions})["Decisions"]["decision_id"])
    ['D1']
    """
    out = conformed_frames(state, "template_frames")
    decisions = out["Decisions"]
    out["Decisions"] = decisions[decisions["status"].isin(DECISION_OPEN_STATUSES)].reset_index(drop=True)
    return out


def conformed_frames(frames: Mapping[str, pd.DataFrame] | None, what: str = "frames") -> dict[str, pd.DataFrame]:
    """Every table sheet of the contract, from ``frames`` as they are (conformed to the schema),
    a missing sheet empty; ``ValueError`` naming ``what`` for a sheet outside the contract.

    >>> len(conformed_frames(None)["Decisions"])
    0
    """
    frames = frames or {}
    _check_sheet_keys(frames, what)
    out: dict[str, pd.DataFrame] = {}
    for sh in schema.DATA_SHEETS:
        frame = frames.get(sh.name)
        out[sh.name] = schema.empty_frame(sh.name) if frame is None else schema.conform(sh.name, frame)
    return out


def _unit_values(unit: Mapping[str, Any]) -> dict[str, Any]:
    names = schema.sheet("Unit").column_names
    unknown = sorted(k for k in unit if k not in names)
    if unknown:
        raise ValueError(f"unit: unknown Unit fields {unknown}; expected {list(names)}")
    return {name: unit.get(name) for name in names}


# --------------------------------------------------------------------------- files


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temp file in ``path``'s folder, then ``os.replace`` it onto ``path``.
    A reader sees the old file or the complete new one, never a partial file. The file keeps
    the mode of the one it replaces. (``core.files.atomic_write_bytes`` takes bytes; openpyxl
    saves to a path.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _bytes_writer(payload: bytes) -> Callable[[Path], None]:
    def write(tmp: Path) -> None:
        tmp.write_bytes(payload)

    return write


def write_workbook(
    path: str | os.PathLike,
    unit: Mapping[str, Any],
    frames: Mapping[str, pd.DataFrame] | None = None,
    *,
    notice: str | None = None,
    rows_for_entry: int = 500,
    todo: Sequence[str] = (),
) -> Path:
    """Write the unit workbook to ``path`` (atomically) and return the path.

    ``unit`` holds the Unit sheet fields; ``frames`` (sheet name -> DataFrame, any subset of the
    table sheets, a ``"Unit"`` entry ignored) pre-fills the sheets; ``notice`` is shown in red on
    the Guide, ``todo`` lines under its "To do this quarter"; dropdowns and Excel's checks cover
    ``rows_for_entry`` rows below the data. Raises ``ValueError`` for
    an unknown sheet or Unit field, and for a value no workbook can hold (a text over 32,767
    characters or with control characters, an infinite number), naming the cell.

    >>> write_workbook("/tmp/CYB.xlsx", {"unit_code": "CYB", "unit_type": "cluster"})  # doctest: +SKIP
    PosixPath('/tmp/CYB.xlsx')
    """
    if int(rows_for_entry) < 0:
        raise ValueError(f"rows_for_entry must be 0 or more, not {rows_for_entry}")
    values = _unit_values(unit)
    data = conformed_frames(frames, "frames")
    wb = build_workbook(values, data, notice, int(rows_for_entry), todo)
    target = Path(path)
    _atomic_write(target, lambda tmp: wb.save(tmp))
    log.info("wrote workbook %s (%s rows pre-filled)", target, sum(len(f) for f in data.values()))
    return target


def write_csv_folder(
    folder: str | os.PathLike, unit: Mapping[str, Any], frames: Mapping[str, pd.DataFrame] | None = None
) -> Path:
    """Write one UTF-8 CSV per contract sheet, ``<Sheet>.csv``, into ``folder`` and return it.

    ``Unit.csv`` holds ``field,value`` rows; every other file has exactly the schema columns.
    Numbers are plain (``1234567.5``: no exponent, no thousands separator), missing values
    empty, text verbatim (this folder is input for ``rbm ingest``, so ``=x`` stays ``=x``).
    Each file is written atomically.

    >>> write_csv_folder("/tmp/AFR", {"unit_code": "AFR"})  # doctest: +SKIP
    PosixPath('/tmp/AFR')
    """
    values = _unit_values(unit)
    data = conformed_frames(frames, "frames")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, payload in csv_files(values, data).items():
        _atomic_write(out / name, _bytes_writer(payload))
    log.info("wrote CSV folder %s", out)
    return out
