"""Write the officer's unit workbook (.xlsx) and the equivalent folder of CSV files.

The workbook follows the contract of :mod:`rbm_utils.core.schema`: a ``Guide`` sheet first, then
one sheet per :data:`~rbm_utils.core.schema.SHEETS` entry in contract order, then a hidden
``Lists`` sheet holding every code list. Row 1 of each table sheet holds the schema column
names exactly (required columns are marked by fill colour, never by changing the text), each
header carries a comment (note, type, required or optional, allowed values), coded columns get
a dropdown, panes are frozen at A2. Text is always written as text: a title ``=1+1`` stays the
text ``=1+1`` and never becomes a formula.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> cfg = load_config()
    >>> unit = unit_fields(cfg, "AFR", "2026-Q3", submitted_by="A. Officer")
    >>> write_workbook("AFR.xlsx", unit, notice="ILLUSTRATIVE DATA")   # doctest: +SKIP
    PosixPath('AFR.xlsx')
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.schema import Column, Sheet

log = logging.getLogger(__name__)

__all__ = [
    "GUIDE_SHEET",
    "LISTS_SHEET",
    "GUIDE_COLUMNS",
    "write_workbook",
    "write_csv_folder",
    "template_frames",
    "unit_fields",
    "lists_layout",
]

GUIDE_SHEET, LISTS_SHEET = schema.HELPER_SHEETS
#: Header of the column table on the Guide sheet.
GUIDE_COLUMNS = ("sheet", "column", "required", "type", "allowed values", "note")
#: Header of the Unit sheet (key/value) and of Unit.csv.
UNIT_HEADER = ("field", "value")

REQUIRED_FILL = "F4B183"   # orange: a value is required
OPTIONAL_FILL = "DDEBF7"   # light blue: optional
NOTICE_COLOUR = "C00000"
EXCEL_MAX_TEXT = 32767
_ILLEGAL_XML_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Column types whose cells are text in Excel (new entries are formatted as text too).
_TEXT_TYPES = ("text", "id", "code", "period", "id_list", "disaggregation")
_TYPE_HELP = {
    "text": "free text",
    "id": "identifier: letters, digits and _ . : / - (no spaces)",
    "code": "one of the allowed values (dropdown)",
    "number": "a number",
    "integer": "a whole number",
    "period": "a quarter written YYYY-Qn, e.g. 2026-Q3",
    "year": "a four-digit year",
    "date": "a date YYYY-MM-DD",
    "id_list": "ids separated by ';'",
    "disaggregation": "key=value pairs separated by ';', blank for the total",
}


# --------------------------------------------------------------------------- frames

def unit_fields(config: Any, unit_code: str, quarter: str, submitted_by: str = "") -> dict[str, str]:
    """The Unit sheet values of a unit from the settings, for the reporting ``quarter``.

    Raises ``ConfigError`` for a unit not in the settings, ``ValueError`` for a bad quarter.

    >>> from rbm_utils.core.config import load_config
    >>> unit_fields(load_config(), "CYB", "2026-Q3")["unit_type"]
    'cluster'
    """
    if schema.parse_period(quarter) is None:
        raise ValueError(f"not a quarter (YYYY-Qn): {quarter!r}")
    u = config.unit(unit_code)
    values = {
        "unit_code": u.code,
        "unit_name": u.name,
        "unit_type": u.type,
        "reporting_quarter": str(quarter).strip(),
        "submitted_by": submitted_by or "",
    }
    names = schema.sheet("Unit").column_names
    if set(values) != set(names):  # the contract changed: fail loudly rather than write half a sheet
        raise RuntimeError(f"unit_fields is out of step with schema Unit columns {names}")
    return {name: values[name] for name in names}


def _check_sheet_keys(frames: Mapping[str, Any], what: str) -> None:
    known = {s.name for s in schema.DATA_SHEETS}
    unknown = sorted(k for k in frames if k not in known and k != "Unit")
    if unknown:
        raise ValueError(f"{what}: not sheets of the workbook contract: {unknown}; "
                         f"expected some of {[s.name for s in schema.DATA_SHEETS]}")


def template_frames(state: Mapping[str, pd.DataFrame] | None) -> dict[str, pd.DataFrame]:
    """Frames to pre-fill a unit's workbook with: every table sheet of the contract, conformed
    to the schema (columns, order, dtypes). A ``"Unit"`` entry of ``state`` is ignored; a
    missing sheet comes back empty. Never mutates ``state``.

    >>> frames = template_frames(None)
    >>> list(frames)[:2], len(frames["KPIs"])
    (['Results', 'KPIs'], 0)
    """
    state = state or {}
    _check_sheet_keys(state, "template_frames")
    out: dict[str, pd.DataFrame] = {}
    for sh in schema.DATA_SHEETS:
        frame = state.get(sh.name)
        out[sh.name] = schema.empty_frame(sh.name) if frame is None else schema.conform(sh.name, frame)
    return out


def _unit_values(unit: Mapping[str, Any]) -> dict[str, Any]:
    names = schema.sheet("Unit").column_names
    unknown = sorted(k for k in unit if k not in names)
    if unknown:
        raise ValueError(f"unit: unknown Unit fields {unknown}; expected {list(names)}")
    return {name: unit.get(name) for name in names}


# --------------------------------------------------------------------------- values

def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    return False


def _plain_number(value: Any) -> str:
    """A number as plain text: no exponent, no thousands separator, '.' decimal, shortest form
    that reads back to the same float.

    >>> _plain_number(1234567.0), _plain_number(0.1), _plain_number(3)
    ('1234567', '0.1', '3')
    """
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"not a finite number: {value!r}")
    return np.format_float_positional(x, trim="-")


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return _plain_number(value)
    if isinstance(value, (dt.date, pd.Timestamp)):
        d = _as_date(value)
        return d.isoformat() if d is not None else str(value)
    return str(value)


def _as_date(value: Any) -> dt.date | None:
    """A real calendar date for a date column's value (ISO text, date, datetime at midnight)."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time(0) and value.tzinfo is None else None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE_RE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _cell_value(column: Column, value: Any) -> tuple[str, Any]:
    """(kind, value) for a cell of ``column``: kind is ``empty``, ``number``, ``date`` or ``text``."""
    if _is_missing(value):
        return "empty", None
    if column.type == "number":
        x = float(value)
        if not math.isfinite(x):
            raise ValueError(f"not a finite number: {value!r}")
        return "number", int(x) if x.is_integer() and abs(x) < 2 ** 53 else x
    if column.type in ("integer", "year"):
        return "number", int(value)
    if column.type == "date":
        d = _as_date(value)
        if d is not None:
            return "date", d
    text = _as_text(value)
    return ("empty", None) if text == "" else ("text", text)


# --------------------------------------------------------------------------- help text

def _allowed_text(column: Column) -> str:
    if column.codes is not None:
        return ", ".join(column.codes)
    if column.min is not None and column.max is not None:
        return f"{_plain_number(column.min)} to {_plain_number(column.max)}"
    if column.min is not None:
        return f"{_plain_number(column.min)} or more"
    if column.max is not None:
        return f"{_plain_number(column.max)} or less"
    if column.type in ("period", "date", "year", "id", "id_list", "disaggregation"):
        return _TYPE_HELP[column.type]
    return ""


def _comment_text(sheet: Sheet, column: Column) -> str:
    lines = [f"{sheet.name}.{column.name}: {column.note}".strip(),
             f"Type: {column.type} ({_TYPE_HELP[column.type]})",
             "Required: a value is needed on every row." if column.required else "Optional: may be left empty."]
    if column.codes is not None:
        lines.append("Allowed values: " + ", ".join(column.codes))
    elif column.min is not None or column.max is not None:
        lines.append("Range: " + _allowed_text(column))
    return "\n".join(lines)


def _validation_error(sheet: Sheet, column: Column) -> str:
    msg = (f"{sheet.name}.{column.name} accepts only: {', '.join(column.codes or ())}. "
           "Pick a value from the dropdown or leave the cell empty.")
    return msg if len(msg) <= 255 else msg[:252] + "..."


# --------------------------------------------------------------------------- workbook

def lists_layout() -> dict[tuple[str, str], tuple[str, str]]:
    """Where each code list sits on the hidden Lists sheet:
    ``(sheet, column) -> (column letter, absolute range)``, one Lists column per coded column.

    >>> lists_layout()[("KPIs", "direction")][1].startswith("Lists!$")
    True
    """
    out: dict[tuple[str, str], tuple[str, str]] = {}
    i = 0
    for sh in schema.SHEETS:
        for col in sh.columns:
            if col.codes is None:
                continue
            letter = schema.column_letter(i)
            out[(sh.name, col.name)] = (letter, f"{LISTS_SHEET}!${letter}$2:${letter}${len(col.codes) + 1}")
            i += 1
    return out


class _Writer:
    """Builds the openpyxl workbook; kept private, the public entry is :func:`write_workbook`."""

    def __init__(self, rows_for_entry: int) -> None:
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Font, PatternFill

        self.wb = Workbook()
        self.rows_for_entry = rows_for_entry
        self.bold = Font(bold=True)
        self.fill_required = PatternFill("solid", fgColor=REQUIRED_FILL)
        self.fill_optional = PatternFill("solid", fgColor=OPTIONAL_FILL)
        self.wrap = Alignment(wrap_text=True, vertical="top")

    # cells ---------------------------------------------------------------
    def text(self, ws, row: int, col: int, value: str, where: str = ""):
        """Write ``value`` as a text cell, never a formula, error value or number."""
        if len(value) > EXCEL_MAX_TEXT:
            raise ValueError(f"{where or ws.title}: text of {len(value)} characters; Excel holds at most {EXCEL_MAX_TEXT}")
        bad = _ILLEGAL_XML_RE.search(value)
        if bad:
            raise ValueError(f"{where or ws.title}: text holds control character {bad.group(0)!r}, "
                             "which a workbook cannot store")
        cell = ws.cell(row=row, column=col)
        cell.value = value
        cell.data_type = "s"  # openpyxl would make '=..' a formula and '#N/A' an error value
        return cell

    def put(self, ws, row: int, col: int, column: Column, value: Any, where: str) -> None:
        try:
            kind, v = _cell_value(column, value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
        if kind == "empty":
            return
        if kind == "text":
            cell = self.text(ws, row, col, v, where)
            cell.number_format = "@"
            cell.quotePrefix = True  # Excel keeps it text when the officer edits the cell
        elif kind == "date":
            cell = ws.cell(row=row, column=col, value=v)
            cell.number_format = "yyyy-mm-dd"
        else:
            ws.cell(row=row, column=col, value=v)

    def header(self, ws, row: int, col: int, name: str, required: bool, comment: str) -> None:
        from openpyxl.comments import Comment

        cell = self.text(ws, row, col, name)
        cell.font = self.bold
        cell.fill = self.fill_required if required else self.fill_optional
        note = Comment(comment, "rbm template")
        note.width = 320
        note.height = 40 + 18 * (comment.count("\n") + 1 + len(comment) // 60)
        cell.comment = note

    def dropdown(self, ws, sheet: Sheet, column: Column, sqref: str, list_range: str) -> None:
        from openpyxl.worksheet.datavalidation import DataValidation

        dv = DataValidation(
            type="list", formula1=list_range, allow_blank=True,
            showErrorMessage=True, errorStyle="stop", errorTitle="Not an allowed value",
            error=_validation_error(sheet, column),
        )
        dv.add(sqref)
        ws.add_data_validation(dv)

    # sheets --------------------------------------------------------------
    def guide(self, unit: Mapping[str, Any], notice: str | None) -> None:
        from openpyxl.styles import Font

        ws = self.wb.active
        ws.title = GUIDE_SHEET
        code = _as_text(unit.get("unit_code") or "")
        name = _as_text(unit.get("unit_name") or "")
        quarter = _as_text(unit.get("reporting_quarter") or "")
        title = "RBM unit workbook" + (f": {code}" if code else "") + (f" - {name}" if name else "") \
            + (f", reporting quarter {quarter}" if quarter else "")
        r = 1
        self.text(ws, r, 1, title).font = Font(bold=True, size=14)
        r += 1
        self.text(ws, r, 1, f"Workbook contract version {schema.SCHEMA_VERSION}")
        r += 1
        if notice:
            r += 1
            self.text(ws, r, 1, _as_text(notice)).font = Font(bold=True, color=NOTICE_COLOUR, size=12)
            r += 1
        r += 1
        self.text(ws, r, 1, "How to fill in").font = Font(bold=True, size=12)
        steps = (
            "1. The Unit sheet says who reports and for which quarter: check every value.",
            "2. Row 1 of every sheet holds the column names. Do not rename, reorder or delete them; hover over a name for its meaning.",
            "3. Orange column names are required (a value on every row); blue ones are optional.",
            "4. Coded columns offer a dropdown: only the listed values are accepted.",
            "5. Quarters are written YYYY-Qn (e.g. 2026-Q3), dates YYYY-MM-DD, ids without spaces.",
            "6. Leave a cell empty when there is no value: do not write N/A, TBD or -.",
            "7. No merged cells, formulas or total rows: the workbench computes totals and progress itself.",
            "8. Rows already filled in come from the store: add the new quarter's rows; change earlier rows only to correct them (every change is logged).",
            "9. Submit with: rbm ingest FILE. Every problem is listed at once with its sheet, row and column.",
        )
        for step in steps:
            r += 1
            self.text(ws, r, 1, step)
        r += 2
        self.text(ws, r, 1, "Sheets").font = Font(bold=True, size=12)
        r += 1
        for j, h in enumerate(("sheet", "required", "note"), start=1):
            self.text(ws, r, j, h).font = self.bold
        for sh in schema.SHEETS:
            r += 1
            self.text(ws, r, 1, sh.name)
            self.text(ws, r, 2, "required" if sh.required else "optional")
            self.text(ws, r, 3, sh.note)
        r += 2
        self.text(ws, r, 1, "Columns").font = Font(bold=True, size=12)
        r += 1
        for j, h in enumerate(GUIDE_COLUMNS, start=1):
            cell = self.text(ws, r, j, h)
            cell.font = self.bold
        for sh in schema.SHEETS:
            for col in sh.columns:
                r += 1
                values = (sh.name, col.name, "required" if col.required else "optional", col.type,
                          _allowed_text(col), col.note)
                for j, v in enumerate(values, start=1):
                    self.text(ws, r, j, v)
                ws.cell(row=r, column=2).fill = self.fill_required if col.required else self.fill_optional
                ws.cell(row=r, column=6).alignment = self.wrap
                ws.cell(row=r, column=5).alignment = self.wrap
        for letter, width in zip("ABCDEF", (16, 20, 10, 14, 40, 70)):
            ws.column_dimensions[letter].width = width

    def unit_sheet(self, unit: Mapping[str, Any]) -> None:
        sh = schema.sheet("Unit")
        ws = self.wb.create_sheet(sh.name)
        for j, h in enumerate(UNIT_HEADER, start=1):
            cell = self.text(ws, 1, j, h)
            cell.font = self.bold
            cell.fill = self.fill_optional
        layout = lists_layout()
        for i, col in enumerate(sh.columns, start=2):
            self.header(ws, i, 1, col.name, col.required, _comment_text(sh, col))
            self.put(ws, i, 2, col, unit.get(col.name), f"Unit!B{i} ({col.name})")
            if col.codes is not None:
                self.dropdown(ws, sh, col, f"B{i}", layout[(sh.name, col.name)][1])
        ws.column_dimensions["A"].width = 22
        ws.column_dimensions["B"].width = max(40, min(80, max((len(_as_text(v)) for v in unit.values() if not _is_missing(v)), default=0) + 2))
        ws.column_dimensions["B"].number_format = "@"
        ws.freeze_panes = "A2"

    def table_sheet(self, sh: Sheet, frame: pd.DataFrame) -> None:
        ws = self.wb.create_sheet(sh.name)
        layout = lists_layout()
        ncols = len(sh.columns)
        last_letter = schema.column_letter(ncols - 1)
        for j, col in enumerate(sh.columns, start=1):
            self.header(ws, 1, j, col.name, col.required, _comment_text(sh, col))
        widths = [max(len(c.name) + 4, 10) for c in sh.columns]
        for i, values in enumerate(frame.itertuples(index=False, name=None), start=2):
            for j, (col, value) in enumerate(zip(sh.columns, values), start=1):
                letter = schema.column_letter(j - 1)
                self.put(ws, i, j, col, value, f"{sh.name}!{letter}{i} ({col.name})")
                if not _is_missing(value):
                    widths[j - 1] = max(widths[j - 1], min(len(_as_text(value)) + 2, 60))
        last_row = len(frame) + self.rows_for_entry
        for j, col in enumerate(sh.columns, start=1):
            letter = schema.column_letter(j - 1)
            dim = ws.column_dimensions[letter]
            dim.width = widths[j - 1]
            if col.type in _TEXT_TYPES:
                dim.number_format = "@"  # what the officer types stays text (ids like 1.10)
            elif col.type == "date":
                dim.number_format = "yyyy-mm-dd"
            if col.codes is not None and last_row >= 2:
                self.dropdown(ws, sh, col, f"{letter}2:{letter}{last_row}", layout[(sh.name, col.name)][1])
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{last_letter}{max(len(frame) + 1, 1)}"

    def lists_sheet(self) -> None:
        ws = self.wb.create_sheet(LISTS_SHEET)
        for (sheet_name, col_name), (letter, _) in lists_layout().items():
            col = schema.sheet(sheet_name).column(col_name)
            j = _letter_index(letter)
            self.text(ws, 1, j, f"{sheet_name}.{col_name}").font = self.bold
            for i, code in enumerate(col.codes or (), start=2):
                self.text(ws, i, j, code)
            ws.column_dimensions[letter].width = max(18, len(sheet_name) + len(col_name) + 3)
        ws.sheet_state = "hidden"


def _letter_index(letter: str) -> int:
    n = 0
    for ch in letter:
        n = n * 26 + (ord(ch) - 64)
    return n


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temp file in ``path``'s folder, then ``os.replace`` it onto ``path``.
    A reader sees the old file or the complete new one, never a partial file."""
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


def write_workbook(path: str | os.PathLike, unit: Mapping[str, Any],
                   frames: Mapping[str, pd.DataFrame] | None = None, *,
                   notice: str | None = None, rows_for_entry: int = 500) -> Path:
    """Write the unit workbook to ``path`` (atomically) and return the path.

    ``unit`` holds the Unit sheet fields; ``frames`` (sheet name -> DataFrame, any subset of the
    table sheets, a ``"Unit"`` entry ignored) pre-fills the sheets; ``notice`` is shown in red on
    the Guide; dropdowns cover ``rows_for_entry`` rows below the data. Raises ``ValueError`` for
    an unknown sheet or Unit field, and for a value no workbook can hold (a text over 32,767
    characters or with control characters, an infinite number), naming the cell.

    >>> write_workbook("/tmp/CYB.xlsx", {"unit_code": "CYB", "unit_type": "cluster"})  # doctest: +SKIP
    PosixPath('/tmp/CYB.xlsx')
    """
    if int(rows_for_entry) < 0:
        raise ValueError(f"rows_for_entry must be 0 or more, not {rows_for_entry}")
    values = _unit_values(unit)
    data = template_frames(frames)
    w = _Writer(int(rows_for_entry))
    w.guide(values, notice)
    for sh in schema.SHEETS:
        if sh.kind == "keyvalue":
            w.unit_sheet(values)
        else:
            w.table_sheet(sh, data[sh.name])
    w.lists_sheet()
    w.wb.active = 0
    w.wb.properties.title = f"RBM unit workbook {values.get('unit_code') or ''}".strip()
    w.wb.properties.creator = "rbm template"
    target = Path(path)
    _atomic_write(target, lambda tmp: w.wb.save(tmp))
    log.info("wrote workbook %s (%s rows pre-filled)", target, sum(len(f) for f in data.values()))
    return target


# --------------------------------------------------------------------------- CSV

def _csv_cell(column: Column, value: Any) -> str:
    if _is_missing(value):
        return ""
    if column.type in ("number", "integer", "year"):
        return _plain_number(value)
    if column.type == "date":
        d = _as_date(value)
        if d is not None:
            return d.isoformat()
    return _as_text(value)


def _csv_bytes(header: tuple[str, ...], rows: list[list[str]]) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def write_csv_folder(folder: str | os.PathLike, unit: Mapping[str, Any],
                     frames: Mapping[str, pd.DataFrame] | None = None) -> Path:
    """Write one UTF-8 CSV per contract sheet, ``<Sheet>.csv``, into ``folder`` and return it.

    ``Unit.csv`` holds ``field,value`` rows; every other file has exactly the schema columns.
    Numbers are plain (``1234567.5``: no exponent, no thousands separator), missing values
    empty, text verbatim (this folder is input for ``rbm ingest``, so ``=x`` stays ``=x``).
    Each file is written atomically.

    >>> write_csv_folder("/tmp/AFR", {"unit_code": "AFR"})  # doctest: +SKIP
    PosixPath('/tmp/AFR')
    """
    values = _unit_values(unit)
    data = template_frames(frames)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for sh in schema.SHEETS:
        if sh.kind == "keyvalue":
            header = UNIT_HEADER
            rows = [[col.name, _csv_cell(col, values.get(col.name))] for col in sh.columns]
        else:
            header = sh.column_names
            rows = []
            for i, record in enumerate(data[sh.name].itertuples(index=False, name=None), start=2):
                try:
                    rows.append([_csv_cell(col, v) for col, v in zip(sh.columns, record)])
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{sh.name}.csv row {i}: {exc}") from None
        payload = _csv_bytes(header, rows)
        _atomic_write(out / f"{sh.name}.csv", lambda tmp, b=payload: tmp.write_bytes(b))
    log.info("wrote CSV folder %s", out)
    return out
