"""The fast cell reader of an .xlsx: python-calamine (Rust), behind the same container guard.

:func:`read_with_calamine` gives the same :class:`~rbm_utils.intake.raw.RawSheet` as the
openpyxl reader of :mod:`rbm_utils.intake.workbook` for every workbook it is allowed to read:
cells as read (empty cells absent, rows without a cell absent, Excel row numbers), merged
ranges, hidden sheets, and the hidden rows the container scan found (calamine does not see
them). The guard's :class:`~rbm_utils.intake.xlsx_guard.Scan` decides beforehand whether it is
allowed: formulas, error cells, zero-padded number formats and sparse sheets go to openpyxl,
which sees what calamine cannot (a formula's text, an error value, the format that keeps a
code's zeros) and never builds a sheet's full rectangle. An empty cell inside a row is ''
(blank, as in a CSV file) rather than None.

Numbers come back as calamine gives them (floats); the cell typing treats 12.0 and 12 alike
and :func:`rbm_utils.intake.raw.shown` writes a whole float without ``.0`` where a raw cell is
shown to the officer. The header row is read as openpyxl reads it (whole numbers as int).

Example:
    >>> read_with_calamine(Path("data/sample/AFR.xlsx"), scan)["KPIs"].headers[:2]  # doctest: +SKIP
    ['kpi_id', 'result_id']
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from rbm_utils.core.schema import column_letter
from rbm_utils.intake.raw import ERROR_VALUES, CellError, RawSheet, shown
from rbm_utils.intake.xlsx_guard import Scan

log = logging.getLogger(__name__)


def range_text(first: tuple[int, int], last: tuple[int, int]) -> str:
    """A merged range as openpyxl writes it, from calamine's 0-based (row, column) corners.

    >>> range_text((1, 2), (1, 3)), range_text((0, 0), (0, 0))
    ('C2:D2', 'A1')
    """
    a = f"{column_letter(first[1])}{first[0] + 1}"
    b = f"{column_letter(last[1])}{last[0] + 1}"
    return a if a == b else f"{a}:{b}"


def _rows(grid: list[list[Any]]) -> list[tuple[int, list[Any]]]:
    """Calamine's rectangle as the reader's rows: rows without a cell absent, spreadsheet error
    texts as :class:`CellError`. An empty cell stays '' (blank, as in a CSV file): a row is
    not copied cell by cell."""
    out: list[tuple[int, list[Any]]] = []
    for i, row in enumerate(grid):
        if row.count("") == len(row):
            continue
        if not ERROR_VALUES.isdisjoint(row):
            row = [CellError("error", v) if isinstance(v, str) and v in ERROR_VALUES else v for v in row]
        out.append((i + 1, row))
    return out


def read_with_calamine(path: Path, scan: Scan) -> dict[str, RawSheet] | None:
    """Every worksheet of ``path`` (already through the guard), or None when calamine cannot
    read it or a sheet escaped the scan: the caller then reads it with openpyxl."""
    sheets: dict[str, RawSheet] = {}
    try:
        with CalamineWorkbook.from_path(str(path)) as wb:
            for meta in wb.sheets_metadata:
                if meta.typ != SheetTypeEnum.WorkSheet:
                    continue
                if meta.name not in scan.extents:  # the scan did not see this sheet: trust openpyxl
                    log.info("%s: sheet %r not matched by the container scan", path.name, meta.name)
                    return None
                ws = wb.get_sheet_by_name(meta.name)
                rows = _rows(ws.to_python(skip_empty_area=False))
                headers: list[Any] = []
                if rows and rows[0][0] == 1:
                    headers = [None if v == "" else shown(v) for v in rows.pop(0)[1]]
                    while headers and headers[-1] is None:
                        headers.pop()
                sheets[meta.name] = RawSheet(
                    name=meta.name,
                    headers=headers,
                    rows=rows,
                    merged=[range_text(a, b) for a, b in ws.merged_cell_ranges or []],
                    hidden=meta.visible != SheetVisibleEnum.Visible,
                    hidden_rows=set(scan.hidden_rows.get(meta.name, ())),
                )
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # CalamineError, OSError... and a Rust panic (a BaseException)
        log.info("calamine could not read %s: %r", path, exc)
        return None
    return sheets
