"""The container checks of an .xlsx before any reader opens it: zip entries, sizes and ratios,
every XML part scanned for DOCTYPE/entity declarations and non-UTF-8 encodings, each sheet's
declared dimension, last cell and cell count.

The same pass notes what the fast cell reader (python-calamine) cannot see, in a :class:`Scan`:
formulas, error cells, zero-padded number formats, hidden rows, sparse sheets, Excel's
escapes of characters in text; and what the reader checks after reading: each sheet's state
(hidden, very hidden) and the hidden columns (:mod:`rbm_utils.intake.xlsx_checks`). The reader
(:mod:`rbm_utils.intake.workbook`) uses it to pick calamine or openpyxl.

Example:
    >>> problems, scan = check_zip(Path("AFR.xlsx"), "AFR.xlsx", limits)  # doctest: +SKIP
    >>> Scan().fast_reader_refusal() is None
    True
"""

from __future__ import annotations

import html
import logging
import posixpath
import re
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rbm_utils.core.errors import Problem, problem
from rbm_utils.core.schema import column_letter

log = logging.getLogger(__name__)

_DIM_RE = re.compile(
    rb'<(?:[A-Za-z_][\w.-]*:)?dimension\b[^>]*?\bref="([A-Z]{1,3})(\d{1,9})(?::([A-Z]{1,3})(\d{1,9}))?"'
)
_ENTITY_RE = re.compile(rb"<!(DOCTYPE|ENTITY)", re.I)
_NS = rb"(?:[A-Za-z_][\w.-]*:)?"  # elements may carry a namespace prefix (x:c): openpyxl reads both
# Every r="B12" / r="12" attribute: in a worksheet, those of cells and rows. Matching any
# attribute whose name ends in r can only find more than the cells and rows (safe for a
# limit), and a pattern led by a literal is scanned fast by the regex engine.
_CELL_COL_RE = re.compile(rb'r="([A-Z]{1,3})\d')
_ANY_ROW_RE = re.compile(rb'r="[A-Z]{0,3}(\d{1,9})"')  # a cell's row or a row's number
_CELL_TAG_RE = re.compile(rb"<c[\s>/]")
_PREFIXED_CELL_TAG_RE = re.compile(rb"<[A-Za-z_][\w.-]*:c[\s>/]")
_FORMULA_RE = re.compile(rb"<" + _NS + rb"f[\s>/]")
_ERROR_CELL_RE = re.compile(rb"<" + _NS + rb'c\s[^>]*?\bt="e"')
_HIDDEN_ROW_RE = re.compile(rb"<" + _NS + rb'row\s[^>]*?\bhidden="(?:1|true)"[^>]*>')
_HIDDEN_COL_RE = re.compile(rb"<" + _NS + rb'col\s[^>]*?\bhidden="(?:1|true)"[^>]*>')
_MIN_MAX_RE = re.compile(rb'\b(min|max)="(\d{1,5})"')
#: Excel's escape of a character in text (_x000D_): text the fast reader would unescape
#: unseen; openpyxl reads it and the reader unescapes once. A character reference to one of
#: the characters an escape is written with (&#95; for _) could hide one from this pattern.
_ESCAPED_TEXT_RE = re.compile(rb"_x[0-9A-Fa-f]{4}_")
_CHAR_REF_RE = re.compile(rb"&#(x[0-9A-Fa-f]{1,6}|[0-9]{1,7});")
_ESCAPE_CHARS = frozenset(map(ord, "_x0123456789ABCDEFabcdef"))


def _escaped_text(buf: bytes) -> bool:
    """Excel's escape of a character, or a character reference that could spell one, in ``buf``.

    >>> _escaped_text(b"<t>a_x000D_</t>"), _escaped_text(b"<t>&#95;x000D_</t>"), _escaped_text(b"<t>&#8722;80</t>")
    (True, True, False)
    """
    if b"_x" in buf and _ESCAPED_TEXT_RE.search(buf):
        return True
    if b"&#" in buf:
        for ref in _CHAR_REF_RE.findall(buf):
            code = int(ref[1:], 16) if ref[:1] == b"x" else int(ref)
            if code in _ESCAPE_CHARS:
                return True
    return False


_R_ATTR_RE = re.compile(rb'\br="(\d{1,9})"')
_ZERO_PAD_FORMAT_RE = re.compile(rb'\bformatCode="0{2,}"')
_WORKSHEET_RE = re.compile(rb"<" + _NS + rb"(?:worksheet|sheetData)\b")
_XML_DECL_RE = re.compile(rb'^<\?xml\b[^>]*?\bencoding\s*=\s*["\']([A-Za-z0-9._-]+)["\']')
_TAG_RE = {kind: re.compile(rb"<" + kind + rb"\b[^>]*>") for kind in (b"sheet", b"Relationship")}
_ATTR_RE = re.compile(rb'\b([\w:]+)\s*=\s*"([^"]*)"')
_SAFE_ENCODINGS = {"utf-8", "utf8", "us-ascii", "ascii"}
_CHUNK = 1 << 20
_OVERLAP = 256


def _count_cell_tags(chunk: bytes) -> int:
    """Cell elements (``<c ...>``, ``<x:c>``...) in ``chunk``."""
    n = len(_CELL_TAG_RE.findall(chunk))
    if b":c" in chunk:
        n += len(_PREFIXED_CELL_TAG_RE.findall(chunk))
    return n


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters.decode():
        n = n * 26 + (ord(ch) - 64)
    return n


def _attrs(tag: bytes) -> dict[str, str]:
    """Attributes of one tag, namespace prefixes dropped (``r:id`` -> ``id``)."""
    return {k.decode().split(":")[-1]: html.unescape(v.decode("utf-8", "replace")) for k, v in _ATTR_RE.findall(tag)}


def _sheet_parts(zf: zipfile.ZipFile, names: set[str], scan: Scan) -> dict[str, str]:
    """{zip part name: sheet name} from xl/workbook.xml and its rels (read by regex: no XML parser
    yet); each sheet's name and state go to ``scan.sheet_states``."""

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
        if "name" in a:
            scan.sheet_states.append((a["name"], a.get("state", "visible")))
        rid = a.get("id")
        if rid in targets and "name" in a:
            out[targets[rid]] = a["name"]
    return out


#: A sheet may be read by calamine (which builds the whole rectangle up to its last cell) when
#: the rectangle holds at most this many times its cells, plus :data:`DENSE_SLACK` cells.
DENSE_FACTOR = 4
DENSE_SLACK = 50_000


@dataclass
class Scan:
    """What the container scan saw that matters to the choice of cell reader."""

    has_formulas: bool = False
    has_error_cells: bool = False
    zero_pad_format: bool = False
    unnumbered_hidden_row: bool = False
    escaped_text: bool = False  # Excel's _x000D_ (or &#95; that could spell one) in shared strings or a sheet
    hidden_rows: dict[str, set[int]] = field(default_factory=dict)  # by sheet name
    #: hidden columns by sheet name, as 1-based (first, last) column ranges
    hidden_columns: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    #: every sheet the workbook lists, in order: (name, state: visible, hidden or veryHidden)
    sheet_states: list[tuple[str, str]] = field(default_factory=list)
    extents: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # sheet: (rows, columns, cells)

    def fast_reader_refusal(self) -> str | None:
        """Why the workbook needs openpyxl (None when calamine reads everything the checks need).

        >>> Scan(extents={"Risks": (199_999, 100, 400)}).fast_reader_refusal()
        'sparse sheet Risks'
        """
        if self.has_formulas:
            return "formulas"  # a formula without a saved value, and its text, are openpyxl's
        if self.has_error_cells:
            return "error cells"  # calamine reads #REF! and the like as empty
        if self.zero_pad_format:
            return "zero-padded number format"  # a code 007 typed as 7 formatted "000"
        if self.unnumbered_hidden_row:
            return "hidden row without a row number"
        if self.escaped_text:
            return "escaped text"  # calamine unescapes _x000D_ unseen: openpyxl's text is unescaped once
        for sheet, (rows, cols, cells) in self.extents.items():
            if rows * cols > DENSE_FACTOR * cells + DENSE_SLACK:
                return f"sparse sheet {sheet}"
        return None


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
    scan: Scan,
) -> list[Problem]:
    """Stream one part: refuse DOCTYPE/entities and non-UTF-8 XML; for a worksheet, find its
    extent (dimension, last row and column used), count its cells and note in ``scan`` what
    the fast reader cannot see. Returns the problems."""
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
            return problems  # not XML (an image, a printer setting...)
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
        cells_before = totals["cells"]
        hidden: set[int] = set()
        dim: tuple[int, int] | None = None
        chunk, tail = first, b""
        while chunk:
            buf = tail + chunk
            if b"<!" in buf and _ENTITY_RE.search(buf):
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
                # the distinct column letters and row numbers only: few, whatever the cell count
                letters = set(_CELL_COL_RE.findall(buf))
                if letters:
                    max_col = max(max_col, max(map(_col_number, letters)))
                numbers = set(_ANY_ROW_RE.findall(buf))
                if numbers:
                    max_row = max(max_row, max(map(int, numbers)))
                if b'hidden="' in buf:
                    for tag in _HIDDEN_COL_RE.findall(buf):
                        bounds = {k: int(v) for k, v in _MIN_MAX_RE.findall(tag)}
                        span = (bounds.get(b"min", 0), bounds.get(b"max", bounds.get(b"min", 0)))
                        spans = scan.hidden_columns.setdefault(sheet, [])
                        if span[0] and span not in spans:
                            spans.append(span)
                    for tag in _HIDDEN_ROW_RE.findall(buf):
                        r = _R_ATTR_RE.search(tag)
                        if r is None:
                            scan.unnumbered_hidden_row = True
                        else:
                            hidden.add(int(r.group(1)))
                totals["cells"] += _count_cell_tags(chunk)
                if not has_formula and (b"<f" in buf or b":f" in buf):
                    has_formula = _FORMULA_RE.search(buf) is not None
                if not scan.has_error_cells and b't="e"' in buf:
                    scan.has_error_cells = _ERROR_CELL_RE.search(buf) is not None
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
            elif not scan.zero_pad_format:
                scan.zero_pad_format = _ZERO_PAD_FORMAT_RE.search(buf) is not None
            if (
                not scan.escaped_text
                and (sheet is not None or info.filename.endswith("sharedStrings.xml"))
                and (b"_x" in buf or b"&#" in buf)
            ):
                scan.escaped_text = _escaped_text(buf)
            tail = buf[-_OVERLAP:]
            chunk = fh.read(_CHUNK)
    scan.has_formulas = scan.has_formulas or has_formula
    if sheet is not None:
        scan.extents[sheet] = (max_row, max_col, totals["cells"] - cells_before)
        if hidden:
            scan.hidden_rows.setdefault(sheet, set()).update(hidden)
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
    return problems


def check_zip(p: Path, name: str, lim: Mapping[str, float]) -> tuple[list[Problem], Scan]:
    """Container checks before any reader touches the file. Returns (problems, what the scan saw)."""
    problems: list[Problem] = []
    scan = Scan()
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
                ], scan
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
                ], scan
            if any(i.flag_bits & 0x1 for i in infos):
                return [
                    problem(
                        "encrypted_file",
                        name,
                        message=(
                            "The zip parts are encrypted: this is not a workbook Excel wrote. Save it again from Excel without a password."
                        ),
                    )
                ], scan
            names = {i.filename for i in infos}
            if "xl/workbook.xml" not in names:
                return [
                    problem(
                        "unsupported_format",
                        name,
                        message="A zip file but not an Excel workbook (no xl/workbook.xml). Give the unit's .xlsx workbook.",
                    )
                ], scan
            parts = _sheet_parts(zf, names, scan)
            totals = {"cells": 0}
            for info in infos:
                if info.is_dir():
                    continue
                problems.extend(_scan_part(zf, info, name, parts.get(info.filename), lim, totals, scan))
    except _Refused as refused:
        return [refused.problem], scan
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
        ], scan
    return problems, scan
