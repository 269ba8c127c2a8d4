"""Read an officer's unit workbook (.xlsx) or a folder of CSV files into raw sheets.

Reading never raises on bad input: anything that stops the file from being read becomes a
:class:`~rbm_utils.core.errors.Problem`. Cells keep their raw values; typing and checking is the
validator's job (:mod:`rbm_utils.intake.validate`). The container is checked before it is opened:
magic bytes (an encrypted workbook or an old .xls is named as such), zip entry count, declared
uncompressed size and compression ratio (zip's reader never inflates past the declared size,
so a lying header ends in a CRC error, not a bomb), every XML part scanned whole for a
DOCTYPE or entity declaration and for a non-UTF-8 encoding, and each sheet's declared
dimension, last cell and cell count. Only then is it opened: by python-calamine (a Rust
reader, ~20x faster than openpyxl) when the scan found nothing calamine cannot see
(:mod:`rbm_utils.intake.xlsx_fast`), otherwise by openpyxl (with defusedxml): formulas (a
formula without a saved value is named with its text), error cells, zero-padded number formats
(a code 007 kept as shown), and sparse sheets, of which openpyxl reads only the cells that
exist, never the full rectangle up to the last cell. Both give the same raw sheets, then
:mod:`rbm_utils.intake.xlsx_checks` refuses hidden or twin contract sheets, names hidden columns
holding data and unescapes Excel's ``_x000D_`` once, whichever reader read them.

Example:
    >>> raw = read_source("data/sample/AFR.xlsx")          # doctest: +SKIP
    >>> raw.sheets["KPIs"].headers[:2]                       # doctest: +SKIP
    ['kpi_id', 'result_id']
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import openpyxl  # defusedxml is installed: openpyxl parses with it

from rbm_utils.core.config import DEFAULT_INGEST_LIMITS
from rbm_utils.core.errors import problem
from rbm_utils.core.files import sha256_file
from rbm_utils.intake.csv_folder import read_csv_folder
from rbm_utils.intake.raw import ERROR_VALUES, CellError, RawSheet, RawWorkbook
from rbm_utils.intake.xlsx_checks import check_sheets
from rbm_utils.intake.xlsx_fast import read_with_calamine
from rbm_utils.intake.xlsx_guard import check_zip

log = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .xlsx and legacy .xls
#: The stream an encrypted OOXML file keeps inside its OLE container (name in UTF-16LE).
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")

#: Limits the reader applies besides ``config.DEFAULT_INGEST_LIMITS`` (overridable the same way).
READER_LIMITS: dict[str, float] = {
    "max_cells": 500_000,  # cells in the whole workbook: openpyxl holds every one in memory
}


def _limits(limits: Mapping[str, float] | None) -> dict[str, float]:
    return {**DEFAULT_INGEST_LIMITS, **READER_LIMITS, **(limits or {})}


def read_source(path: str | Path, limits: Mapping[str, float] | None = None) -> RawWorkbook:
    """Read a workbook (.xlsx, judged by content) or a folder of ``<Sheet>.csv`` files.

    Never raises for bad input: problems are in ``RawWorkbook.problems``.

    >>> read_source("/nonexistent.xlsx").problems[0].code
    'file_not_found'
    """
    lim = _limits(limits)
    p = Path(path)
    name = p.name or str(p)
    try:
        if not p.exists():
            return RawWorkbook(
                name, p, "", "", problems=[problem("file_not_found", name, message=f"{p} does not exist.")]
            )
        if p.is_dir():
            return read_csv_folder(p, lim)
        if not p.is_file():
            return RawWorkbook(
                name,
                p,
                "",
                "",
                problems=[
                    problem(
                        "unsupported_format", name, message=f"{p} is not a regular file (a device, pipe or socket)."
                    )
                ],
            )
        return _read_file(p, name, lim)
    except OSError as exc:  # unreadable file or folder: permissions, I/O error
        log.info("cannot read %s: %r", p, exc)
        return RawWorkbook(
            name,
            p,
            "",
            "",
            problems=[
                problem(
                    "file_not_found", name, message=f"{p} cannot be read: {exc.strerror or exc.__class__.__name__}."
                )
            ],
        )


def _read_file(p: Path, name: str, lim: Mapping[str, float]) -> RawWorkbook:
    size = p.stat().st_size
    if size > lim["max_file_mb"] * 1024 * 1024:
        return RawWorkbook(
            name,
            p,
            "",
            "",
            problems=[
                problem(
                    "file_too_large",
                    name,
                    value=f"{size / 1e6:.1f} MB",
                    message=f"The file is {size / 1e6:.1f} MB; the limit is {lim['max_file_mb']} MB.",
                )
            ],
        )
    sha = sha256_file(p)
    with p.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(ZIP_MAGIC):
        return _read_xlsx(p, sha, lim)
    if head.startswith(OLE_MAGIC):
        if _ENCRYPTED_STREAM in p.read_bytes():
            return RawWorkbook(
                name,
                p,
                "",
                sha,
                problems=[
                    problem(
                        "encrypted_file",
                        name,
                        message=(
                            "The workbook is password-protected (encrypted), so it cannot be read. Remove the password "
                            "(File > Info > Protect Workbook > Encrypt with Password, clear it), save and ingest again."
                        ),
                    )
                ],
            )
        return RawWorkbook(
            name,
            p,
            "",
            sha,
            problems=[
                problem(
                    "unsupported_format",
                    name,
                    message=(
                        "This is an old Excel 97-2003 workbook (.xls). Save it as an Excel workbook (.xlsx) and ingest again."
                    ),
                )
            ],
        )
    if size == 0:
        return RawWorkbook(
            name, p, "", sha, problems=[problem("unsupported_format", name, message="The file is empty.")]
        )
    msg = (
        "Not an Excel workbook (.xlsx) by its content"
        + (f", despite its name {name}" if p.suffix.lower() in (".xlsx", ".xlsm") else "")
        + ". Give the unit's .xlsx workbook or a folder of CSV files, one per sheet."
    )
    return RawWorkbook(name, p, "", sha, problems=[problem("unsupported_format", name, message=msg)])


# --------------------------------------------------------------------------- xlsx


def _read_xlsx(p: Path, sha: str, lim: Mapping[str, float]) -> RawWorkbook:
    name = p.name
    raw = RawWorkbook(name, p, "xlsx", sha)
    problems, scan = check_zip(p, name, lim)
    raw.problems.extend(problems)
    if any(pr.severity == "error" for pr in problems):
        return raw
    refusal = scan.fast_reader_refusal()
    if refusal is None:
        sheets = read_with_calamine(p, scan)
        if sheets is not None:
            raw.sheets.update(sheets)
            raw.reader = "calamine"
            check_sheets(raw, scan)
            return raw
        refusal = "calamine could not read it"
    log.debug("%s read with openpyxl: %s", name, refusal)
    raw.reader = "openpyxl"
    try:
        raw.sheets.update(read_with_openpyxl(p, scan.has_formulas))
    except Exception as exc:  # openpyxl raises many types on damaged files
        log.info("openpyxl could not open %s: %r", p, exc)
        raw.problems.append(
            problem(
                "corrupt_file",
                name,
                message=(
                    "The workbook cannot be opened (damaged or not a real .xlsx): "
                    f"{exc.__class__.__name__}. Save it again from Excel."
                ),
            )
        )
    check_sheets(raw, scan)
    return raw


def read_with_openpyxl(p: Path, has_formulas: bool) -> dict[str, RawSheet]:
    """Every worksheet of ``p`` (already through the guard) read by openpyxl: the reader of
    workbooks with formulas, error cells, zero-padded formats or sparse sheets. Raises on a
    damaged file."""
    sheets: dict[str, RawSheet] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about extensions it drops; nothing for the officer
        wb = openpyxl.load_workbook(p, data_only=True, keep_links=False)
        wb_f = openpyxl.load_workbook(p, data_only=False, keep_links=False) if has_formulas else None
        for ws in wb.worksheets:
            ws_f = wb_f[ws.title] if wb_f is not None else None
            sheets[ws.title] = _read_ws(ws, ws_f)
    return sheets


_ZERO_PAD_RE = re.compile(r"^0{2,}$")


def _cell_value(c, formulas: Mapping[tuple[int, int], str]) -> Any:
    v = c.value
    if c.data_type == "e" or (isinstance(v, str) and v in ERROR_VALUES):
        return CellError("error", str(v))
    if v is None and (c.row, c.column) in formulas:
        return CellError("no_value", formulas[(c.row, c.column)])
    if isinstance(v, (int, float)) and not isinstance(v, bool) and _ZERO_PAD_RE.match(str(c.number_format or "")):
        if float(v).is_integer() and v >= 0:  # a code like 007 typed as a number formatted "000": keep what shows
            return str(int(v)).zfill(len(c.number_format))
    return v


def _read_ws(ws, ws_f) -> RawSheet:
    """Only the cells that exist (a sparse sheet stays sparse), rows by Excel row number."""
    formulas: dict[tuple[int, int], str] = {}
    if ws_f is not None:
        for (r, col), c in ws_f._cells.items():  # noqa: SLF001 - the sparse cell map; iter_rows would fill gaps
            if c.data_type == "f" or (isinstance(c.value, str) and c.value.startswith("=")):
                formulas[(r, col)] = str(c.value)
    by_row: dict[int, dict[int, Any]] = {}
    for (r, col), c in ws._cells.items():  # noqa: SLF001
        v = _cell_value(c, formulas)
        if v is None:
            continue
        by_row.setdefault(r, {})[col] = v

    def as_list(cells: dict[int, Any]) -> list[Any]:
        out: list[Any] = [None] * max(cells)
        for col, v in cells.items():
            out[col - 1] = v
        return out

    headers = as_list(by_row[1]) if 1 in by_row else []
    rows = [(r, as_list(by_row[r])) for r in sorted(by_row) if r > 1]
    hidden_rows = {r for r, dim in ws.row_dimensions.items() if dim.hidden}
    return RawSheet(
        name=ws.title,
        headers=headers,
        rows=rows,
        merged=[str(r) for r in ws.merged_cells.ranges],
        hidden=ws.sheet_state != "visible",
        hidden_rows=hidden_rows,
    )


def excel_date(value: Any) -> str | None:
    """ISO date text of a date-like cell value, or None.

    >>> excel_date(dt.datetime(2026, 9, 30, 0, 0))
    '2026-09-30'
    """
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return None
