"""How a template writes values and explains columns: the same for the workbook and the CSV files.

Numbers are plain (no exponent, no thousands separator), dates ISO, text verbatim; every
column gets a help text from its type, range and code list.

Example:
    >>> plain_number(1234567.0), as_text(0.1), csv_cell(Column("d", "date"), "2026-09-30")
    ('1234567', '0.1', '2026-09-30')
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import numpy as np
import pandas as pd

from rbm_utils.core.schema import Column, Sheet
from rbm_utils.core.text import is_missing

#: Header of the Unit sheet (key/value) and of Unit.csv.
UNIT_HEADER = ("field", "value")
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Column types whose cells are text in Excel (new entries are formatted as text too).
TEXT_TYPES = ("text", "id", "code", "period", "id_list", "disaggregation")
TYPE_HELP = {
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


# --------------------------------------------------------------------------- values


def plain_number(value: Any) -> str:
    """A number as plain text: no exponent, no thousands separator, '.' decimal, shortest form
    that reads back to the same float.

    >>> plain_number(1234567.0), plain_number(0.1), plain_number(3)
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


def as_text(value: Any) -> str:
    """Any value as the text a template shows: numbers plain, dates ISO."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return plain_number(value)
    if isinstance(value, (dt.date, pd.Timestamp)):
        d = as_date(value)
        return d.isoformat() if d is not None else str(value)
    return str(value)


def as_date(value: Any) -> dt.date | None:
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


def cell_value(column: Column, value: Any) -> tuple[str, Any]:
    """(kind, value) for a workbook cell of ``column``: kind is ``empty``, ``number``, ``date`` or ``text``."""
    if is_missing(value):
        return "empty", None
    if column.type == "number":
        x = float(value)
        if not math.isfinite(x):
            raise ValueError(f"not a finite number: {value!r}")
        return "number", int(x) if x.is_integer() and abs(x) < 2**53 else x
    if column.type in ("integer", "year"):
        return "number", int(value)
    if column.type == "date":
        d = as_date(value)
        if d is not None:
            return "date", d
    text = as_text(value)
    return ("empty", None) if text == "" else ("text", text)


def csv_cell(column: Column, value: Any) -> str:
    """A CSV field of ``column``: '' when missing, numbers plain, dates ISO, text verbatim."""
    if is_missing(value):
        return ""
    if column.type in ("number", "integer", "year"):
        return plain_number(value)
    if column.type == "date":
        d = as_date(value)
        if d is not None:
            return d.isoformat()
    return as_text(value)


# --------------------------------------------------------------------------- help text


def allowed_text(column: Column) -> str:
    """What a column accepts, in words: its codes, its range, or its type's form ('' for free text)."""
    if column.codes is not None:
        return ", ".join(column.codes)
    if column.min is not None and column.max is not None:
        return f"{plain_number(column.min)} to {plain_number(column.max)}"
    if column.min is not None:
        return f"{plain_number(column.min)} or more"
    if column.max is not None:
        return f"{plain_number(column.max)} or less"
    if column.type in ("period", "date", "year", "id", "id_list", "disaggregation"):
        return TYPE_HELP[column.type]
    return ""


def comment_text(sheet: Sheet, column: Column) -> str:
    """The help a header cell carries: note, type, required or optional, allowed values or range."""
    lines = [
        f"{sheet.name}.{column.name}: {column.note}".strip(),
        f"Type: {column.type} ({TYPE_HELP[column.type]})",
        "Required: a value is needed on every row." if column.required else "Optional: may be left empty.",
    ]
    if column.codes is not None:
        lines.append("Allowed values: " + ", ".join(column.codes))
    elif column.min is not None or column.max is not None:
        lines.append("Range: " + allowed_text(column))
    return "\n".join(lines)
