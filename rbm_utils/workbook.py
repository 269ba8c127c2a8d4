"""Read an officer's unit workbook (.xlsx) or a folder of CSV files into raw sheets.

Reading never raises on bad input: anything that stops the file from being read becomes a
:class:`~rbm_utils.errors.Problem`. Cells keep their raw values; typing and checking is the
validator's job (:mod:`rbm_utils.validate`). The container is checked before it is opened
(magic bytes, zip entry count, declared uncompressed size, compression ratio, XML entity
declarations, declared sheet dimensions), so a bomb is refused unopened.

Example:
    >>> raw = read_source("data/sample/AFR.xlsx")          # doctest: +SKIP
    >>> raw.sheets["KPIs"].headers[:2]                       # doctest: +SKIP
    ['kpi_id', 'result_id']
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .config import DEFAULT_INGEST_LIMITS
from .errors import Problem, problem
from .schema import column_letter, sheet_names

log = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .xlsx and legacy .xls


@dataclass(frozen=True)
class CellError:
    """A spreadsheet error value (``#REF!``...) or a formula with no saved value (``text`` = formula)."""

    kind: str  # "error" or "no_value"
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass
class RawSheet:
    """One sheet as read: header cells and data rows with the Excel row number of each."""

    name: str
    headers: list[Any]
    rows: list[tuple[int, list[Any]]]
    header_row: int = 1
    merged: list[str] = field(default_factory=list)
    hidden: bool = False
    hidden_rows: set[int] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    decimal_comma: bool = False  # a ';'-separated CSV: numbers may use a decimal comma


@dataclass
class RawWorkbook:
    """Everything read from one input: the sheets, the file's sha256, container problems."""

    file: str
    path: Path
    format: str  # "xlsx", "csv" or "" when unreadable
    sha256: str
    sheets: dict[str, RawSheet] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sha256_folder(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda p: p.name.lower()):
        h.update(f.name.lower().encode())
        h.update(b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def read_source(path: str | Path, limits: Mapping[str, float] | None = None) -> RawWorkbook:
    """Read a workbook (.xlsx, judged by content) or a folder of ``<Sheet>.csv`` files.

    Never raises for bad input: problems are in ``RawWorkbook.problems``.
    """
    lim = {**DEFAULT_INGEST_LIMITS, **(limits or {})}
    p = Path(path)
    name = p.name or str(p)
    if not p.exists():
        return RawWorkbook(name, p, "", "", problems=[problem("file_not_found", name, message=f"{p} does not exist.")])
    if p.is_dir():
        return _read_csv_folder(p, lim)
    size = p.stat().st_size
    if size > lim["max_file_mb"] * 1024 * 1024:
        return RawWorkbook(name, p, "", "", problems=[problem(
            "file_too_large", name, value=f"{size / 1e6:.1f} MB",
            message=f"The file is {size / 1e6:.1f} MB; the limit is {lim['max_file_mb']} MB.")])
    sha = _sha256_file(p)
    with p.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(ZIP_MAGIC):
        return _read_xlsx(p, sha, lim)
    if head.startswith(OLE_MAGIC):
        msg = ("This is a password-protected workbook or an old .xls file. Save it as an "
               "unprotected Excel workbook (.xlsx) and ingest again.")
        return RawWorkbook(name, p, "", sha, problems=[problem("corrupt_file", name, message=msg)])
    if size == 0:
        return RawWorkbook(name, p, "", sha, problems=[problem("unsupported_format", name, message="The file is empty.")])
    msg = ("Not an Excel workbook (.xlsx) by its content" + (f", despite its name {name}" if p.suffix.lower() == ".xlsx" else "")
           + ". Give the unit's .xlsx workbook or a folder of CSV files, one per sheet.")
    return RawWorkbook(name, p, "", sha, problems=[problem("unsupported_format", name, message=msg)])


# --------------------------------------------------------------------------- xlsx

_DIM_RE = re.compile(rb'<dimension[^>]*ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')
_ENTITY_RE = re.compile(rb"<!(DOCTYPE|ENTITY)", re.I)


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters.decode():
        n = n * 26 + (ord(ch) - 64)
    return n


def _check_zip(p: Path, name: str, lim: Mapping[str, float]) -> tuple[list[Problem], bool]:
    """Container checks before openpyxl touches the file. Returns (problems, has_formulas)."""
    problems: list[Problem] = []
    has_formulas = False
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
            if len(infos) > lim["max_zip_entries"]:
                return [problem("unsafe_file", name, value=len(infos),
                                message=f"The workbook holds {len(infos)} parts (limit {int(lim['max_zip_entries'])}); refused unopened.")], False
            total = sum(i.file_size for i in infos)
            packed = max(1, sum(i.compress_size for i in infos))
            if total > lim["max_uncompressed_mb"] * 1024 * 1024 or total / packed > lim["max_compression_ratio"]:
                return [problem("unsafe_file", name, value=f"{total / 1e6:.0f} MB unpacked",
                                message=(f"The workbook unpacks to {total / 1e6:.0f} MB from {packed / 1e6:.2f} MB "
                                         f"(ratio {total / packed:.0f}); this looks like a decompression bomb and is refused unopened."))], False
            names = {i.filename for i in infos}
            if "xl/workbook.xml" not in names:
                return [problem("unsupported_format", name,
                                message="A zip file but not an Excel workbook (no xl/workbook.xml). Give the unit's .xlsx workbook.")], False
            for info in infos:
                if not info.filename.endswith((".xml", ".rels", ".vml")):
                    continue
                with zf.open(info) as fh:
                    head = fh.read(4096)
                    if _ENTITY_RE.search(head):
                        return [problem("unsafe_file", name, value=info.filename,
                                        message=f"Part {info.filename} declares a DOCTYPE or XML entities; refused unopened.")], False
                    if info.filename.startswith("xl/worksheets/"):
                        m = _DIM_RE.search(head)
                        if m:
                            last_col = _col_number(m.group(3) or m.group(1))
                            last_row = int(m.group(4) or m.group(2))
                            if last_row > lim["max_rows_per_sheet"] or last_col > lim["max_columns_per_sheet"]:
                                problems.append(problem(
                                    "sheet_too_large", name, value=m.group(0)[-40:].decode(errors="replace"),
                                    message=(f"{info.filename} declares {last_row} rows x {last_col} columns "
                                             f"(limits {int(lim['max_rows_per_sheet'])} x {int(lim['max_columns_per_sheet'])}). "
                                             "Clear the formatting of unused cells and save again.")))
                        if not has_formulas:
                            rest = head + fh.read()
                            has_formulas = b"<f>" in rest or b"<f " in rest
    except zipfile.BadZipFile:
        return [problem("corrupt_file", name, message="The workbook is damaged (not a readable zip). Save it again from Excel.")], False
    return problems, has_formulas


def _read_xlsx(p: Path, sha: str, lim: Mapping[str, float]) -> RawWorkbook:
    import openpyxl  # defusedxml is installed: openpyxl parses with it

    name = p.name
    raw = RawWorkbook(name, p, "xlsx", sha)
    problems, has_formulas = _check_zip(p, name, lim)
    raw.problems.extend(problems)
    if any(pr.severity == "error" for pr in problems):
        return raw
    try:
        wb = openpyxl.load_workbook(p, data_only=True)
        wb_f = openpyxl.load_workbook(p, data_only=False) if has_formulas else None
    except Exception as exc:  # openpyxl raises many types on damaged files
        log.info("openpyxl could not open %s: %r", p, exc)
        raw.problems.append(problem("corrupt_file", name, message=(
            "The workbook cannot be opened (damaged or not a real .xlsx): "
            f"{exc.__class__.__name__}. Save it again from Excel.")))
        return raw
    for ws in wb.worksheets:
        ws_f = wb_f[ws.title] if wb_f is not None else None
        raw.sheets[ws.title] = _read_ws(ws, ws_f)
    return raw


def _read_ws(ws, ws_f) -> RawSheet:
    rows: list[tuple[int, list[Any]]] = []
    max_col = ws.max_column or 0
    grid = list(ws.iter_rows(min_row=1, max_row=ws.max_row or 0, max_col=max_col))
    formulas = {}
    if ws_f is not None:
        for frow in ws_f.iter_rows(min_row=1, max_row=ws_f.max_row or 0, max_col=max_col):
            for c in frow:
                if c.data_type == "f" or (isinstance(c.value, str) and c.value.startswith("=")):
                    formulas[(c.row, c.column)] = str(c.value)
    headers: list[Any] = []
    for i, row in enumerate(grid):
        values: list[Any] = []
        for c in row:
            v = c.value
            if c.data_type == "e" or (isinstance(v, str) and v in _ERROR_VALUES):
                v = CellError("error", str(v))
            elif v is None and (c.row, c.column) in formulas:
                v = CellError("no_value", formulas[(c.row, c.column)])
            values.append(v)
        if i == 0:
            headers = values
        else:
            rows.append((i + 1, values))
    hidden_rows = {r for r, dim in ws.row_dimensions.items() if dim.hidden}
    return RawSheet(
        name=ws.title,
        headers=headers,
        rows=rows,
        merged=[str(r) for r in ws.merged_cells.ranges],
        hidden=ws.sheet_state != "visible",
        hidden_rows=hidden_rows,
    )


_ERROR_VALUES = {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!", "#CALC!"}


# --------------------------------------------------------------------------- csv

def _read_csv_folder(folder: Path, lim: Mapping[str, float]) -> RawWorkbook:
    name = folder.name + "/"
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() == ".csv")
    raw = RawWorkbook(name, folder, "csv", _sha256_folder(files) if files else "")
    if not files:
        raw.problems.append(problem("unsupported_format", name, message=(
            f"The folder {folder} holds no .csv files. Give one CSV file per sheet, named after the sheet (KPIs.csv ...).")))
        return raw
    known = {s.lower(): s for s in sheet_names()}
    for f in files:
        sheet = known.get(f.stem.lower(), f.stem)
        if f.stat().st_size > lim["max_file_mb"] * 1024 * 1024:
            raw.problems.append(problem("file_too_large", f"{name}{f.name}", sheet, message=f"{f.name} is over {lim['max_file_mb']} MB."))
            continue
        raw.sheets[sheet] = _read_csv(f, sheet, f"{name}{f.name}")
    return raw


def _read_csv(f: Path, sheet: str, display: str) -> RawSheet:
    data = f.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        sh = RawSheet(sheet, [], [])
        sh.problems.append(problem("bad_encoding", display, sheet, value=repr(data[exc.start:exc.start + 4]), message=(
            f"{f.name} is not UTF-8 (byte {exc.start}). Save it as 'CSV UTF-8' from Excel.")))
        return sh
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = list(reader)
    if not records:
        return RawSheet(sheet, [], [])
    headers: list[Any] = [h if h != "" else None for h in records[0]]
    rows: list[tuple[int, list[Any]]] = []
    sh = RawSheet(sheet, headers, rows)
    for n, rec in enumerate(records[1:], start=2):
        if len(rec) > len(headers) and any(v.strip() for v in rec[len(headers):]):
            sh.problems.append(problem("ragged_row", display, sheet, n, column_letter(len(headers)), "",
                                       rec[len(headers)], message=(
                                           f"Row {n} has {len(rec)} fields but the header has {len(headers)}. "
                                           "A comma inside a value needs quotes.")))
        values: list[Any] = [v if v != "" else None for v in rec[: len(headers)]]
        values += [None] * (len(headers) - len(values))
        rows.append((n, values))
    sh.decimal_comma = delimiter == ";"
    return sh


def excel_date(value: Any) -> str | None:
    """ISO date text of a date-like cell value, or None."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return None
