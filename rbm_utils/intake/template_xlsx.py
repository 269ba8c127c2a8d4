"""The unit workbook as an openpyxl ``Workbook``: Guide, the contract's sheets, a hidden Lists sheet.

Row 1 of each table sheet holds the schema column names exactly (required columns are marked
by fill colour, never by changing the text), each header carries a comment (note, type,
required or optional, allowed values), coded columns get a dropdown fed by the hidden
``Lists`` sheet, panes are frozen at A2. Excel itself checks the rest as the officer types
(:func:`checks_of`): numbers by type and range, years, dates, periods written ``YYYY-Qn``, and
ids that refer to another sheet of the unit (a KPI's ``result_id``, an actual's ``kpi_id`` …)
by a dropdown of that sheet's ids. Text is always written as text: a title ``=1+1``
stays the text ``=1+1`` and never becomes a formula. :func:`rbm_utils.intake.template.write_workbook`
saves it.

Example:
    >>> from rbm_utils.intake.template import template_frames
    >>> wb = build_workbook({"unit_code": "AFR"}, template_frames(None), None, 10)
    >>> wb.sheetnames[:3], wb[LISTS_SHEET].sheet_state
    (['Guide', 'Unit', 'Results'], 'hidden')
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from rbm_utils.core import schema
from rbm_utils.core.schema import Column, Sheet
from rbm_utils.core.text import is_missing
from rbm_utils.intake.template_values import (
    TEXT_TYPES,
    UNIT_HEADER,
    allowed_text,
    as_text,
    cell_value,
    comment_text,
)

GUIDE_SHEET, LISTS_SHEET = schema.HELPER_SHEETS
#: Header of the column table on the Guide sheet.
GUIDE_COLUMNS = ("sheet", "column", "required", "type", "allowed values", "note")
REQUIRED_FILL = "F4B183"  # orange: a value is required
OPTIONAL_FILL = "DDEBF7"  # light blue: optional
NOTICE_COLOUR = "C00000"
EXCEL_MAX_TEXT = 32767
_ILLEGAL_XML_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


#: Id columns that must name a row of another sheet of the unit: (sheet, column) -> (sheet, column).
REFERENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("KPIs", "result_id"): ("Results", "result_id"),
    ("Milestones", "kpi_id"): ("KPIs", "kpi_id"),
    ("Actuals", "kpi_id"): ("KPIs", "kpi_id"),
    ("Assumptions", "from_result"): ("Results", "result_id"),
    ("Assumptions", "to_result"): ("Results", "result_id"),
    ("Assumptions", "kpi_id"): ("KPIs", "kpi_id"),
    ("Assumptions", "reference_kpi_id"): ("KPIs", "kpi_id"),
    ("Risks", "result_id"): ("Results", "result_id"),
    ("Linkages", "result_id"): ("Results", "result_id"),
    ("Budget", "result_id"): ("Results", "result_id"),
    ("Expenditure", "result_id"): ("Results", "result_id"),
    ("Activities", "result_id"): ("Results", "result_id"),
    ("Partners", "result_id"): ("Results", "result_id"),
    ("Partners", "activity_id"): ("Activities", "activity_id"),
}
#: Widest number range Excel is asked to check when the contract gives no bound.
NUMBER_BOUND = 1e15
YEARS = (1990, 2100)
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def _serial(day: dt.date) -> str:
    return str((day - _EXCEL_EPOCH).days)


def _short(msg: str) -> str:
    return msg if len(msg) <= 255 else msg[:252] + "..."


def checks_of(sheet: Sheet, column: Column, first: str, rows: int) -> dict[str, Any] | None:
    """The Excel data validation of a column without a code list, as ``DataValidation`` keywords
    (``first``: the top cell, e.g. ``B2``; ``rows``: how many rows each referenced sheet spans),
    or None when Excel cannot check it (free text, lists of ids, breakdowns).

    >>> checks_of(schema.sheet("Risks"), schema.sheet("Risks").column("likelihood"), "F2", 10)["formula2"]
    '5'
    >>> checks_of(schema.sheet("Actuals"), schema.sheet("Actuals").column("kpi_id"), "A2", 10)["formula1"]
    "'KPIs'!$A$2:$A$11"
    """
    where = f"{sheet.name}.{column.name}"
    ref = REFERENCES.get((sheet.name, column.name))
    if ref is not None:
        target = schema.sheet(ref[0])
        letter = schema.column_letter(target.column_names.index(ref[1]))
        return {
            "type": "list",
            "formula1": f"'{target.name}'!${letter}$2:${letter}${rows + 1}",
            "errorTitle": "Not an id of this workbook",
            "error": _short(f"{where} must be a {ref[1]} listed on sheet {target.name}: pick one from the dropdown."),
        }
    if column.type in ("number", "integer", "year"):
        lo, hi = column.min, column.max
        if column.type == "year":
            lo, hi = YEARS
        words = "a whole number" if column.type != "number" else "a number"
        if lo is not None and hi is not None:
            words += f" from {plain(lo)} to {plain(hi)}"
        elif lo is not None:
            words += f" of {plain(lo)} or more"
        return {
            "type": "decimal" if column.type == "number" else "whole",
            "operator": "between",
            "formula1": plain(lo if lo is not None else -NUMBER_BOUND),
            "formula2": plain(hi if hi is not None else NUMBER_BOUND),
            "errorTitle": "Not an allowed number",
            "error": _short(f"{where} accepts {words}, typed without units or text."),
        }
    if column.type == "date":
        return {
            "type": "date",
            "operator": "between",
            "formula1": _serial(dt.date(YEARS[0], 1, 1)),
            "formula2": _serial(dt.date(YEARS[1], 12, 31)),
            "errorTitle": "Not a date",
            "error": _short(f"{where} accepts a date, written YYYY-MM-DD."),
        }
    if column.type == "period":
        c = first
        return {
            "type": "custom",
            "formula1": (
                f'AND(LEN({c})=7,MID({c},5,2)="-Q",ISNUMBER(--LEFT({c},4)),ISNUMBER(FIND(RIGHT({c},1),"1234")))'
            ),
            "errorTitle": "Not a quarter",
            "error": _short(f"{where} accepts a quarter written YYYY-Qn, e.g. 2026-Q3."),
        }
    return None


def plain(x: float) -> str:
    """A bound as Excel reads it: ``5``, ``0.5``, ``1000000000000000``."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _validation_error(sheet: Sheet, column: Column) -> str:
    msg = (
        f"{sheet.name}.{column.name} accepts only: {', '.join(column.codes or ())}. "
        "Pick a value from the dropdown or leave the cell empty."
    )
    return msg if len(msg) <= 255 else msg[:252] + "..."


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
    """Builds the openpyxl workbook; the public entry is :func:`build_workbook`."""

    def __init__(self, rows_for_entry: int, frames: Mapping[str, pd.DataFrame]) -> None:
        self.wb = Workbook()
        self.rows_for_entry = rows_for_entry
        #: rows each referenced sheet spans: its pre-filled rows and the rows left for entry
        self.span = max((len(f) for f in frames.values()), default=0) + rows_for_entry
        self.bold = Font(bold=True)
        self.fill_required = PatternFill("solid", fgColor=REQUIRED_FILL)
        self.fill_optional = PatternFill("solid", fgColor=OPTIONAL_FILL)
        self.wrap = Alignment(wrap_text=True, vertical="top")

    # cells ---------------------------------------------------------------
    def text(self, ws, row: int, col: int, value: str, where: str = ""):
        """Write ``value`` as a text cell, never a formula, error value or number."""
        if len(value) > EXCEL_MAX_TEXT:
            raise ValueError(
                f"{where or ws.title}: text of {len(value)} characters; Excel holds at most {EXCEL_MAX_TEXT}"
            )
        bad = _ILLEGAL_XML_RE.search(value)
        if bad:
            raise ValueError(
                f"{where or ws.title}: text holds control character {bad.group(0)!r}, which a workbook cannot store"
            )
        cell = ws.cell(row=row, column=col)
        cell.value = value
        cell.data_type = "s"  # openpyxl would make '=..' a formula and '#N/A' an error value
        return cell

    def put(self, ws, row: int, col: int, column: Column, value: Any, where: str) -> None:
        try:
            kind, v = cell_value(column, value)
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
        cell = self.text(ws, row, col, name)
        cell.font = self.bold
        cell.fill = self.fill_required if required else self.fill_optional
        note = Comment(comment, "rbm template")
        note.width = 320
        note.height = 40 + 18 * (comment.count("\n") + 1 + len(comment) // 60)
        cell.comment = note

    def dropdown(self, ws, sheet: Sheet, column: Column, sqref: str, list_range: str) -> None:
        dv = DataValidation(
            type="list",
            formula1=list_range,
            allow_blank=True,
            showErrorMessage=True,
            errorStyle="stop",
            errorTitle="Not an allowed value",
            error=_validation_error(sheet, column),
        )
        dv.add(sqref)
        ws.add_data_validation(dv)

    def check(self, ws, sheet: Sheet, column: Column, letter: str, first: int, last: int) -> None:
        spec = checks_of(sheet, column, f"{letter}{first}", self.span)
        if spec is None:
            return
        dv = DataValidation(allow_blank=True, showErrorMessage=True, errorStyle="stop", **spec)
        dv.add(f"{letter}{first}:{letter}{last}" if last > first else f"{letter}{first}")
        ws.add_data_validation(dv)

    # sheets --------------------------------------------------------------
    def guide(self, unit: Mapping[str, Any], notice: str | None, todo: Sequence[str] = ()) -> None:
        ws = self.wb.active
        ws.title = GUIDE_SHEET
        code = as_text(unit.get("unit_code") or "")
        name = as_text(unit.get("unit_name") or "")
        quarter = as_text(unit.get("reporting_quarter") or "")
        title = (
            "RBM unit workbook"
            + (f": {code}" if code else "")
            + (f" - {name}" if name else "")
            + (f", reporting quarter {quarter}" if quarter else "")
        )
        r = 1
        self.text(ws, r, 1, title).font = Font(bold=True, size=14)
        r += 1
        self.text(ws, r, 1, f"Workbook contract version {schema.SCHEMA_VERSION}")
        r += 1
        if notice:
            r += 1
            self.text(ws, r, 1, as_text(notice)).font = Font(bold=True, color=NOTICE_COLOUR, size=12)
            r += 1
        if todo:
            r += 1
            self.text(ws, r, 1, "To do this quarter").font = Font(bold=True, size=12)
            for line in todo:
                r += 1
                self.text(ws, r, 1, as_text(line))
            r += 1
        r += 1
        self.text(ws, r, 1, "How to fill in").font = Font(bold=True, size=12)
        steps = (
            "1. The Unit sheet says who reports and for which quarter: check every value.",
            "2. Row 1 of every sheet holds the column names. Do not rename, reorder or delete them; hover over a name for its meaning.",
            "3. Orange column names are required (a value on every row); blue ones are optional.",
            "4. Coded columns, and ids that refer to another sheet, offer a dropdown: only the listed values are accepted. Excel also refuses a number out of range and a quarter not written YYYY-Qn.",
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
                values = (
                    sh.name,
                    col.name,
                    "required" if col.required else "optional",
                    col.type,
                    allowed_text(col),
                    col.note,
                )
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
            self.header(ws, i, 1, col.name, col.required, comment_text(sh, col))
            self.put(ws, i, 2, col, unit.get(col.name), f"Unit!B{i} ({col.name})")
            if col.codes is not None:
                self.dropdown(ws, sh, col, f"B{i}", layout[(sh.name, col.name)][1])
            else:
                self.check(ws, sh, col, "B", i, i)
        ws.column_dimensions["A"].width = 22
        ws.column_dimensions["B"].width = max(
            40, min(80, max((len(as_text(v)) for v in unit.values() if not is_missing(v)), default=0) + 2)
        )
        ws.column_dimensions["B"].number_format = "@"
        ws.freeze_panes = "A2"

    def table_sheet(self, sh: Sheet, frame: pd.DataFrame) -> None:
        ws = self.wb.create_sheet(sh.name)
        layout = lists_layout()
        ncols = len(sh.columns)
        last_letter = schema.column_letter(ncols - 1)
        for j, col in enumerate(sh.columns, start=1):
            self.header(ws, 1, j, col.name, col.required, comment_text(sh, col))
        widths = [max(len(c.name) + 4, 10) for c in sh.columns]
        for i, values in enumerate(frame.itertuples(index=False, name=None), start=2):
            for j, (col, value) in enumerate(zip(sh.columns, values), start=1):
                letter = schema.column_letter(j - 1)
                self.put(ws, i, j, col, value, f"{sh.name}!{letter}{i} ({col.name})")
                if not is_missing(value):
                    widths[j - 1] = max(widths[j - 1], min(len(as_text(value)) + 2, 60))
        last_row = len(frame) + self.rows_for_entry
        for j, col in enumerate(sh.columns, start=1):
            letter = schema.column_letter(j - 1)
            dim = ws.column_dimensions[letter]
            dim.width = widths[j - 1]
            if col.type in TEXT_TYPES:
                dim.number_format = "@"  # what the officer types stays text (ids like 1.10)
            elif col.type == "date":
                dim.number_format = "yyyy-mm-dd"
            if col.codes is not None and last_row >= 2:
                self.dropdown(ws, sh, col, f"{letter}2:{letter}{last_row}", layout[(sh.name, col.name)][1])
            elif last_row >= 2:
                self.check(ws, sh, col, letter, 2, last_row)
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


def build_workbook(
    unit: Mapping[str, Any],
    frames: Mapping[str, pd.DataFrame],
    notice: str | None,
    rows_for_entry: int,
    todo: Sequence[str] = (),
) -> Workbook:
    """The workbook of ``unit`` (every Unit field) pre-filled with ``frames`` (every table sheet,
    conformed); ``notice`` shows in red on the Guide, ``todo`` lines under "To do this quarter";
    dropdowns and checks cover ``rows_for_entry`` rows below the data. Raises ``ValueError``
    naming the cell for a value no workbook can hold."""
    w = _Writer(rows_for_entry, frames)
    w.guide(unit, notice, todo)
    for sh in schema.SHEETS:
        if sh.kind == "keyvalue":
            w.unit_sheet(unit)
        else:
            w.table_sheet(sh, frames[sh.name])
    w.lists_sheet()
    w.wb.active = 0
    w.wb.properties.title = f"RBM unit workbook {unit.get('unit_code') or ''}".strip()
    w.wb.properties.creator = "rbm template"
    return w.wb
