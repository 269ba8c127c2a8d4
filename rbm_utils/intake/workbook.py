"""Read an officer's unit workbook (.xlsx) or a folder of CSV files into raw sheets.

Reading never raises on bad input: anything that stops the file from being read becomes a
:class:`~rbm_utils.core.errors.Problem`. Cells keep their raw values; typing and checking is the
validator's job (:mod:`rbm_utils.intake.validate`). The container is checked before it is opened:
magic bytes (an encrypted workbook or an old .xls is named as such), zip entry count, declared
uncompressed size and compression ratio (zip's reader never inflates past the declared size,
so a lying header ends in a CRC error, not a bomb), every XML part scanned whole for a
DOCTYPE or entity declaration and for a non-UTF-8 encoding, and each sheet's declared
dimension, last cell and cell count. Only then does openpyxl (with defusedxml) open it, and
only the cells that exist are read, never the full rectangle up to the last cell.

Example:
    >>> raw = read_source("data/sample/AFR.xlsx")          # doctest: +SKIP
    >>> raw.sheets["KPIs"].headers[:2]                       # doctest: +SKIP
    ['kpi_id', 'result_id']
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import io
import logging
import posixpath
import re
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl  # defusedxml is installed: openpyxl parses with it

from rbm_utils.core.config import DEFAULT_INGEST_LIMITS
from rbm_utils.core.errors import Problem, problem
from rbm_utils.core.files import sha256_file
from rbm_utils.core.schema import column_letter, sheet_names

log = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .xlsx and legacy .xls
#: The stream an encrypted OOXML file keeps inside its OLE container (name in UTF-16LE).
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")

#: Limits the reader applies besides ``config.DEFAULT_INGEST_LIMITS`` (overridable the same way).
READER_LIMITS: dict[str, float] = {
    "max_cells": 500_000,  # cells in the whole workbook: openpyxl holds every one in memory
}


@dataclass(frozen=True)
class CellError:
    """A spreadsheet error value (``#REF!``...) or a formula with no saved value (``text`` = formula)."""

    kind: str  # "error" or "no_value"
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass
class RawSheet:
    """One sheet as read: header cells and data rows with the Excel row number of each.

    Rows hold the cells up to the row's own last cell (shorter rows mean blank cells);
    rows with no cell at all are absent.
    """

    name: str
    headers: list[Any]
    rows: list[tuple[int, list[Any]]]
    header_row: int = 1
    merged: list[str] = field(default_factory=list)
    hidden: bool = False
    hidden_rows: set[int] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    decimal_comma: bool = False  # a ';'-separated CSV: numbers may use a decimal comma
    from_csv: bool = False  # a CSV file: a row longer than the header is a ragged row


@dataclass
class RawWorkbook:
    """Everything read from one input: the sheets, the file's sha256, container problems."""

    file: str
    path: Path
    format: str  # "xlsx", "csv" or "" when unreadable
    sha256: str
    sheets: dict[str, RawSheet] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _sha256_folder(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda p: p.name.lower()):
        h.update(f.name.lower().encode())
        h.update(b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


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
            return _read_csv_folder(p, lim)
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

_DIM_RE = re.compile(
    rb'<(?:[A-Za-z_][\w.-]*:)?dimension\b[^>]*?\bref="([A-Z]{1,3})(\d{1,9})(?::([A-Z]{1,3})(\d{1,9}))?"'
)
_ENTITY_RE = re.compile(rb"<!(DOCTYPE|ENTITY)", re.I)
_NS = rb"(?:[A-Za-z_][\w.-]*:)?"  # elements may carry a namespace prefix (x:c): openpyxl reads both
_CELL_REF_RE = re.compile(rb"<" + _NS + rb'c\s[^>]*?\br="([A-Z]{1,3})(\d{1,9})"')
_CELL_TAG_RE = re.compile(rb"<" + _NS + rb"c[\s>/]")
_ROW_REF_RE = re.compile(rb"<" + _NS + rb'row\s[^>]*?\br="(\d{1,9})"')
_FORMULA_RE = re.compile(rb"<" + _NS + rb"f[\s>/]")
_WORKSHEET_RE = re.compile(rb"<" + _NS + rb"(?:worksheet|sheetData)\b")
_XML_DECL_RE = re.compile(rb'^<\?xml\b[^>]*?\bencoding\s*=\s*["\']([A-Za-z0-9._-]+)["\']')
_TAG_RE = {kind: re.compile(rb"<" + kind + rb"\b[^>]*>") for kind in (b"sheet", b"Relationship")}
_ATTR_RE = re.compile(rb'\b([\w:]+)\s*=\s*"([^"]*)"')
_SAFE_ENCODINGS = {"utf-8", "utf8", "us-ascii", "ascii"}
_CHUNK = 1 << 20
_OVERLAP = 256


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters.decode():
        n = n * 26 + (ord(ch) - 64)
    return n


def _attrs(tag: bytes) -> dict[str, str]:
    """Attributes of one tag, namespace prefixes dropped (``r:id`` -> ``id``)."""
    return {k.decode().split(":")[-1]: html.unescape(v.decode("utf-8", "replace")) for k, v in _ATTR_RE.findall(tag)}


def _sheet_parts(zf: zipfile.ZipFile, names: set[str]) -> dict[str, str]:
    """{zip part name: sheet name} from xl/workbook.xml and its rels (read by regex: no XML parser yet)."""

    def head(part: str) -> bytes:
        if part not in names:
            return b""
        with zf.open(part) as fh:
            return fh.read(4 * _CHUNK)

    wb_xml, rels = head("xl/workbook.xml"), head("xl/_rels/workbook.xml.rels")
    targets = {}
    for tag in _TAG_RE[b"Relationship"].findall(rels):
        a = _attrs(tag)
        if "Id" in a and "Target" in a:
            t = a["Target"]
            targets[a["Id"]] = posixpath.normpath(t.lstrip("/") if t.startswith("/") else posixpath.join("xl", t))
    out = {}
    for tag in _TAG_RE[b"sheet"].findall(wb_xml):
        a = _attrs(tag)
        rid = a.get("id")
        if rid in targets and "name" in a:
            out[targets[rid]] = a["name"]
    return out


class _Refused(Exception):
    def __init__(self, pr: Problem):
        self.problem = pr


def _scan_part(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    name: str,
    sheet: str | None,
    lim: Mapping[str, float],
    totals: dict[str, int],
) -> tuple[list[Problem], bool]:
    """Stream one part: refuse DOCTYPE/entities and non-UTF-8 XML; for a worksheet, find its
    extent (dimension, last row and column used) and count its cells. Returns (problems, has_formula)."""
    problems: list[Problem] = []
    has_formula = False
    with zf.open(info) as fh:
        first = fh.read(_CHUNK)
        if first[:2] in (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<"):
            raise _Refused(
                problem(
                    "unsafe_file",
                    name,
                    value=info.filename,
                    message=(f"Part {info.filename} is XML in UTF-16, which Excel never writes; refused unopened."),
                )
            )
        lead = first.lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
        if lead[:1] != b"<":
            return problems, False  # not XML (an image, a printer setting...)
        m = _XML_DECL_RE.match(lead)
        if m and m.group(1).decode().lower() not in _SAFE_ENCODINGS:
            raise _Refused(
                problem(
                    "unsafe_file",
                    name,
                    value=info.filename,
                    message=(
                        f"Part {info.filename} declares the encoding {m.group(1).decode()!r}; Excel writes UTF-8 only. Refused unopened."
                    ),
                )
            )
        if sheet is None and _WORKSHEET_RE.search(first):
            sheet = posixpath.basename(info.filename)  # a worksheet wherever it sits in the zip
        max_row = max_col = 0
        dim: tuple[int, int] | None = None
        chunk, tail = first, b""
        while chunk:
            buf = tail + chunk
            if _ENTITY_RE.search(buf):
                raise _Refused(
                    problem(
                        "unsafe_file",
                        name,
                        value=info.filename,
                        message=(
                            f"Part {info.filename} declares a DOCTYPE or XML entities (entity expansion or external "
                            "entities); refused unopened."
                        ),
                    )
                )
            if sheet is not None:
                if dim is None:
                    d = _DIM_RE.search(buf)
                    if d:
                        dim = (int(d.group(4) or d.group(2)), _col_number(d.group(3) or d.group(1)))
                for col, row in _CELL_REF_RE.findall(buf):
                    max_col = max(max_col, _col_number(col))
                    max_row = max(max_row, int(row))
                for row in _ROW_REF_RE.findall(buf):
                    max_row = max(max_row, int(row))
                totals["cells"] += len(_CELL_TAG_RE.findall(chunk))
                if not has_formula:
                    has_formula = _FORMULA_RE.search(buf) is not None
                if totals["cells"] > lim["max_cells"]:
                    raise _Refused(
                        problem(
                            "sheet_too_large",
                            name,
                            sheet,
                            value=f"over {int(lim['max_cells'])} cells",
                            message=(
                                f"The workbook holds over {int(lim['max_cells'])} cells (sheet {sheet} and before); a unit "
                                "workbook holds a few thousand. Clear unused cells and save again."
                            ),
                        )
                    )
            tail = buf[-_OVERLAP:]
            chunk = fh.read(_CHUNK)
    if sheet is not None:
        extents = ([("declares", *dim)] if dim else []) + [("uses", max_row, max_col)]
        for what, rows, cols in extents:
            if rows > lim["max_rows_per_sheet"] or cols > lim["max_columns_per_sheet"]:
                problems.append(
                    problem(
                        "sheet_too_large",
                        name,
                        sheet,
                        rows,
                        column_letter(max(cols, 1) - 1),
                        value=f"{rows} rows x {cols} columns",
                        message=(
                            f"Sheet {sheet} {what} {rows} rows x {cols} columns (limits {int(lim['max_rows_per_sheet'])} x "
                            f"{int(lim['max_columns_per_sheet'])}). Clear the formatting of unused cells and save again."
                        ),
                    )
                )
                break
    return problems, has_formula


def _check_zip(p: Path, name: str, lim: Mapping[str, float]) -> tuple[list[Problem], bool]:
    """Container checks before openpyxl touches the file. Returns (problems, has_formulas)."""
    problems: list[Problem] = []
    has_formulas = False
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
            if len(infos) > lim["max_zip_entries"]:
                return [
                    problem(
                        "unsafe_file",
                        name,
                        value=len(infos),
                        message=f"The workbook holds {len(infos)} parts (limit {int(lim['max_zip_entries'])}); refused unopened.",
                    )
                ], False
            total = sum(i.file_size for i in infos)
            packed = max(1, sum(i.compress_size for i in infos))
            if total > lim["max_uncompressed_mb"] * 1024 * 1024 or total / packed > lim["max_compression_ratio"]:
                return [
                    problem(
                        "unsafe_file",
                        name,
                        value=f"{total / 1e6:.0f} MB unpacked",
                        message=(
                            f"The workbook unpacks to {total / 1e6:.0f} MB from {packed / 1e6:.2f} MB "
                            f"(ratio {total / packed:.0f}); this looks like a decompression bomb and is refused unopened."
                        ),
                    )
                ], False
            if any(i.flag_bits & 0x1 for i in infos):
                return [
                    problem(
                        "encrypted_file",
                        name,
                        message=(
                            "The zip parts are encrypted: this is not a workbook Excel wrote. Save it again from Excel without a password."
                        ),
                    )
                ], False
            names = {i.filename for i in infos}
            if "xl/workbook.xml" not in names:
                return [
                    problem(
                        "unsupported_format",
                        name,
                        message="A zip file but not an Excel workbook (no xl/workbook.xml). Give the unit's .xlsx workbook.",
                    )
                ], False
            parts = _sheet_parts(zf, names)
            totals = {"cells": 0}
            for info in infos:
                if info.is_dir():
                    continue
                found, f = _scan_part(zf, info, name, parts.get(info.filename), lim, totals)
                problems.extend(found)
                has_formulas = has_formulas or f
    except _Refused as refused:
        return [refused.problem], False
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError, OSError) as exc:
        log.info("zip check of %s failed: %r", p, exc)
        return [
            problem(
                "corrupt_file",
                name,
                message=(
                    f"The workbook is damaged (not a readable zip: {exc.__class__.__name__}). Save it again from Excel."
                ),
            )
        ], False
    return problems, has_formulas


def _read_xlsx(p: Path, sha: str, lim: Mapping[str, float]) -> RawWorkbook:
    name = p.name
    raw = RawWorkbook(name, p, "xlsx", sha)
    problems, has_formulas = _check_zip(p, name, lim)
    raw.problems.extend(problems)
    if any(pr.severity == "error" for pr in problems):
        return raw
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about extensions it drops; nothing for the officer
            wb = openpyxl.load_workbook(p, data_only=True, keep_links=False)
            wb_f = openpyxl.load_workbook(p, data_only=False, keep_links=False) if has_formulas else None
            for ws in wb.worksheets:
                ws_f = wb_f[ws.title] if wb_f is not None else None
                raw.sheets[ws.title] = _read_ws(ws, ws_f)
    except Exception as exc:  # openpyxl raises many types on damaged files
        log.info("openpyxl could not open %s: %r", p, exc)
        raw.sheets.clear()
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
    return raw


_ZERO_PAD_RE = re.compile(r"^0{2,}$")


def _cell_value(c, formulas: Mapping[tuple[int, int], str]) -> Any:
    v = c.value
    if c.data_type == "e" or (isinstance(v, str) and v in _ERROR_VALUES):
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


_ERROR_VALUES = {
    "#NULL!",
    "#DIV/0!",
    "#VALUE!",
    "#REF!",
    "#NAME?",
    "#NUM!",
    "#N/A",
    "#GETTING_DATA",
    "#SPILL!",
    "#CALC!",
}


# --------------------------------------------------------------------------- csv


def _read_csv_folder(folder: Path, lim: Mapping[str, float]) -> RawWorkbook:
    name = folder.name + "/"
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() == ".csv")
    raw = RawWorkbook(name, folder, "csv", _sha256_folder(files) if files else "")
    if not files:
        raw.problems.append(
            problem(
                "unsupported_format",
                name,
                message=(
                    f"The folder {folder} holds no .csv files. Give one CSV file per sheet, named after the sheet (KPIs.csv ...)."
                ),
            )
        )
        return raw
    known = {s.lower(): s for s in sheet_names()}
    for f in files:
        sheet = known.get(f.stem.strip().lower(), f.stem)
        if f.stat().st_size > lim["max_file_mb"] * 1024 * 1024:
            raw.problems.append(
                problem(
                    "file_too_large", f"{name}{f.name}", sheet, message=f"{f.name} is over {lim['max_file_mb']} MB."
                )
            )
            continue
        if sheet in raw.sheets:
            raw.problems.append(
                problem(
                    "duplicate_sheet",
                    f"{name}{f.name}",
                    sheet,
                    message=(f"Two files hold sheet {sheet} ({f.name} and another); keep one."),
                )
            )
            continue
        raw.sheets[sheet] = _read_csv(f, sheet, f"{name}{f.name}")
    return raw


def _where_in_text(data: bytes, pos: int, delimiter: bytes) -> tuple[int, str]:
    """(line number, column letter) of byte ``pos``, counting delimiters before it on its line."""
    line_start = data.rfind(b"\n", 0, pos) + 1
    return data.count(b"\n", 0, pos) + 1, column_letter(data[line_start:pos].count(delimiter))


def _read_csv(f: Path, sheet: str, display: str) -> RawSheet:
    data = f.read_bytes()
    sh = RawSheet(sheet, [], [])
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data:
        sh.problems.append(
            problem(
                "bad_encoding",
                display,
                sheet,
                value="UTF-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "NUL bytes",
                message=(
                    f"{f.name} is UTF-16 or binary, not UTF-8 text (Excel's 'Unicode Text' is UTF-16). "
                    "Save it as 'CSV UTF-8 (Comma delimited)'."
                ),
            )
        )
        return sh
    first_line = data.split(b"\n", 1)[0]
    delim = ";" if first_line.count(b";") > first_line.count(b",") else ","
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        row, letter = _where_in_text(body, exc.start, delim.encode())
        bad = body[exc.start : exc.start + 1]
        try:
            guess = f"; it looks like Windows-1252 (cp1252), where it reads {bad.decode('cp1252')!r}"
        except UnicodeDecodeError:
            guess = ""
        sh.problems.append(
            problem(
                "bad_encoding",
                display,
                sheet,
                row,
                letter,
                "",
                f"byte 0x{bad.hex()}",
                message=(
                    f"{f.name} is not UTF-8: byte 0x{bad.hex()} on row {row}{guess}. The file is refused rather than "
                    "guessed (a wrong guess changes names silently). Save it as 'CSV UTF-8 (Comma delimited)' and ingest again."
                ),
            )
        )
        return sh
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    records: list[list[str]] = []
    try:
        for rec in reader:
            records.append(rec)
    except csv.Error as exc:
        sh.problems.append(
            problem(
                "bad_csv",
                display,
                sheet,
                len(records) + 1,
                "",
                "",
                str(exc),
                message=(
                    f"{f.name} cannot be parsed from row {len(records) + 1}: {exc}. A quote opened in a value must be closed "
                    "(write a quote inside a value as two quotes); a value is limited to 128 KB."
                ),
            )
        )
        return sh
    if not records:
        return sh
    # rows keep every field: the validator finds the header row, then reports fields beyond it
    sh.headers = [h if h != "" else None for h in records[0]]
    sh.rows = [(n, [v if v != "" else None for v in rec]) for n, rec in enumerate(records[1:], start=2)]
    sh.decimal_comma = delim == ";"
    sh.from_csv = True
    return sh


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
