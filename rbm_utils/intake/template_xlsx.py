"""The unit workbook as an openpyxl ``Workbook``: Guide, the contract's sheets, a hidden Lists sheet.

Row 1 of each table sheet holds the schema column names exactly (required columns are marked
by fill colour, never by changing the text), each header carries a comment (note, type,
required or optional, allowed values), coded columns get a dropdown fed by the hidden
``Lists`` sheet, panes are frozen at A2. Text is always written as text: a title ``=1+1``
stays the text ``=1+1`` and never becomes a formula. :func:`rbm_utils.intake.template.write_workbook`
saves it.

Example:
    >>> from rbm_utils.intake.template import template_frames
    >>> wb = build_workbook({"unit_code": "AFR"}, template_frames(None), None, 10)
    >>> wb.sheetnames[:3], wb[LISTS_SHEET].sheet_state
    (['Guide', 'Unit', 'Results'], 'hidden')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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

    def __init__(self, rows_for_entry: int) -> None:
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

    # sheets --------------------------------------------------------------
    def guide(self, unit: Mapping[str, Any], notice: str | None) -> None:
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
    unit: Mapping[str, Any], frames: Mapping[str, pd.DataFrame], notice: str | None, rows_for_entry: int
) -> Workbook:
    """The workbook of ``unit`` (every Unit field) pre-filled with ``frames`` (every table sheet,
    conformed); ``notice`` shows in red on the Guide; dropdowns cover ``rows_for_entry`` rows
    below the data. Raises ``ValueError`` naming the cell for a value no workbook can hold."""
    w = _Writer(rows_for_entry)
    w.guide(unit, notice)
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
