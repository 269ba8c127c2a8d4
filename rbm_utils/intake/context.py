"""What validating one workbook carries from step to step: its records and the problems so far.

Each record is a dict of typed cell values by column name plus ``_row``, the Excel row the
officer sees; :meth:`Context.add` files a problem at a record's cell (the column letter
comes from where the column was found in the sheet).

Example:
    >>> from rbm_utils.core.config import load_config
    >>> from pathlib import Path
    >>> from rbm_utils.intake.raw import RawWorkbook
    >>> ctx = Context(RawWorkbook("AFR.xlsx", Path("AFR.xlsx"), "xlsx", ""), load_config())
    >>> ctx.letters["KPIs"] = {"kpi_id": "A"}
    >>> ctx.add("duplicate_key", "KPIs", 3, "kpi_id", "K1", "Same kpi_id as row 2.")
    >>> ctx.problems[0].column, ctx.problems[0].row
    ('A', 3)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rbm_utils.core.config import Config
from rbm_utils.core.errors import Problem, problem
from rbm_utils.intake.raw import RawWorkbook

#: A sheet's rows as read: typed values by column name, and ``_row`` (the Excel row number).
Record = dict[str, Any]


class Context:
    """The workbook being validated, the settings, today's date, and what was found so far."""

    def __init__(self, raw: RawWorkbook, config: Config, today: dt.date | None = None) -> None:
        self.raw = raw
        self.file = raw.file
        self.config = config
        self.today = today or dt.date.today()
        self.problems: list[Problem] = []
        #: sheet -> column name -> the column letter it was found under
        self.letters: dict[str, dict[str, str]] = {}
        #: sheet -> its records (a sheet absent or unreadable has none)
        self.records: dict[str, list[Record]] = {}
        #: sheets that could not be read at all (already reported): no follow-up problems
        self.unreadable: set[str] = set()
        #: Unit sheet: field name -> the Excel row it is on
        self.unit_rows: dict[str, int] = {}

    def add(
        self,
        code: str,
        sheet_name: str = "",
        row: int = 0,
        col: str = "",
        value: Any = None,
        message: str = "",
        severity: str | None = None,
    ) -> None:
        """File a problem at ``sheet_name`` row ``row``, column ``col`` (a column name)."""
        letter = self.letters.get(sheet_name, {}).get(col, "") if col else ""
        self.problems.append(problem(code, self.file, sheet_name, row, letter, col, value, message, severity))
