"""What the reader hands the validator: raw sheets of raw cells, and the file's identity.

Example:
    >>> RawSheet("KPIs", ["kpi_id"], [(2, ["K1"])]).rows[0]
    (2, ['K1'])
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rbm_utils.core.errors import Problem

#: The spreadsheet error values: a cell showing one is a :class:`CellError`, typed or computed.
ERROR_VALUES = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!", "#CALC!"}
)


def shown(value: Any) -> Any:
    """A raw cell as the officer sees it, whichever reader read it: a whole float as an int
    (12.0 -> 12), a date cell at midnight as the date, anything else as is.

    >>> shown(12.0), shown(12.5), shown("12.0"), shown(True), str(shown(dt.datetime(2026, 9, 30)))
    (12, 12.5, '12.0', True, '2026-09-30')
    """
    if type(value) is float and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if type(value) is dt.datetime and value.time() == dt.time(0):
        return value.date()
    return value


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
    decimal_comma: bool = False  # a ';' or tab CSV of a folder whose numbers use a decimal comma
    from_csv: bool = False  # a CSV file: a row longer than the header is a ragged row
    #: a ';' or tab CSV: the first number of each kind its numbers say of the decimal mark
    #: (see :func:`rbm_utils.intake.csv_format.decimal_evidence`); None for other sheets
    decimal_evidence: dict[str, tuple[str, int, str, str, str]] | None = None
    decimal_display: str = ""  # the file's name as problems show it (folder/KPIs.csv)


@dataclass
class RawWorkbook:
    """Everything read from one input: the sheets, the file's sha256, container problems."""

    file: str
    path: Path
    format: str  # "xlsx", "csv" or "" when unreadable
    sha256: str
    sheets: dict[str, RawSheet] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    reader: str = ""  # "calamine" or "openpyxl" for an .xlsx: which cell reader read it
