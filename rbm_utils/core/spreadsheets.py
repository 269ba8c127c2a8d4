"""Files the workbench writes for people to open in Excel: safe from formula injection.

A text cell starting with ``=``, ``+``, ``-``, ``@`` (or their full-width forms), tab or carriage
return is a formula (or DDE call) to Excel and other spreadsheets; such text gets a leading
apostrophe, so it shows as typed and never runs. So does a formula behind leading spaces or
behind a separator inside the text (``;``, ``,``, ``|``, tab, a line break), where a spreadsheet
splitting the CSV another way would start a cell. Only text is touched: numbers (negative ones included),
booleans, dates and missing values keep their type. Column headers are text cells too.

These are *exports* (reports for people). The unit workbook template is an input that
round-trips through ``rbm ingest``; it keeps text as typed in text cells (see
:mod:`rbm_utils.intake.template`).

Example:
    >>> safe_text("=HYPERLINK(...)")
    "'=HYPERLINK(...)"
    >>> safe_text(-3.5)
    -3.5
    >>> safe_text("-3.5")  # text that looks like a number is still text
    "'-3.5"
"""

from __future__ import annotations

import datetime as dt
import logging
import numbers
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: First characters that make a spreadsheet cell a formula (full-width ``＝＋－＠`` too: some
#: spreadsheets read them as their ASCII twins).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PREFIX_CLASS = "=+\\-@\uff1d\uff0b\uff0d\uff20"
_SPACES = "[ \\t\\u00a0\\u3000]"
#: A formula after leading spaces, or hidden behind a separator a spreadsheet may split a CSV cell
#: at (``;`` in many locales, ``,``, ``|``, tab, a line break), after spaces or a quote.
_HIDDEN_FORMULA = re.compile(f"([;,|\\t\\r\\n]{_SPACES}*[\"']?)(?=[{_PREFIX_CLASS}])")
#: Excel's sheet-name rules: at most 31 characters, none of ``[]:*?/\``.
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
#: Characters an xlsx (XML 1.0) cannot store.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
EXCEL_MAX_TEXT = 32767


def safe_text(value: Any) -> Any:
    """Quote text that a spreadsheet would run as a formula; leave everything else alone.

    A formula behind leading spaces or a separator (``a;=cmd|...``: a spreadsheet splitting at
    ``;`` sees a cell ``=cmd|...``) gets its apostrophe where it starts.

    >>> [safe_text(v) for v in ["@SUM(A1)", "+1", "plain", 7, None]]
    ["'@SUM(A1)", "'+1", 'plain', 7, None]
    >>> safe_text("note;=HYPERLINK(1)"), safe_text("\uff1dSUM(A1)"), safe_text(" =1+1")
    ("note;'=HYPERLINK(1)", "'\uff1dSUM(A1)", " '=1+1")
    """
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value[0] + _HIDDEN_FORMULA.sub(r"\1'", value[1:])
    value = _HIDDEN_FORMULA.sub(r"\1'", value)
    lead = len(value) - len(value.lstrip(" \u00a0\u3000"))
    if value[lead:].startswith(FORMULA_PREFIXES):
        return value[:lead] + "'" + value[lead:]
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell and text column name passed through :func:`safe_text`.

    Numeric, boolean and datetime columns are returned unchanged; in mixed (object)
    columns only the ``str`` values change. ``df`` is not modified.

    >>> safe_frame(pd.DataFrame({"t": ["=1+1", "ok"], "n": [-1, 2]}))["t"].tolist()
    ["'=1+1", 'ok']
    """
    out = df.copy()
    for i in range(out.shape[1]):
        s = out.iloc[:, i]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object)
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            out.isetitem(i, s.map(safe_text, na_action="ignore"))
    out.columns = [safe_text(c) if isinstance(c, str) else c for c in out.columns]
    return out


def _atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``df`` as UTF-8 CSV (no index, CRLF line ends), atomically, with formula-looking
    text quoted. With CRLF as the line terminator every field holding a CR or LF is
    enclosed in double quotes (with ``\n`` only, a bare CR would split the row in Excel and
    start a new cell).

    >>> write_csv(pd.DataFrame({"value": ["=cmd|' /C calc'!A0", -2]}), "problems.csv")  # doctest: +SKIP
    PosixPath('problems.csv')
    """
    safe = safe_frame(df)

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            safe.to_csv(fh, index=False, lineterminator="\r\n")

    return _atomic(path, write)


def _sheet_title(name: Any, used: set[str]) -> str:
    title = _BAD_SHEET_CHARS.sub("_", str(name)).strip("'") or "Sheet"
    title = title[:31]
    base, n = title, 2
    while title.casefold() in used:
        suffix = f" ({n})"
        title = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(title.casefold())
    return title


def _xlsx_value(value: Any) -> tuple[str, Any]:
    """(kind, value) for one cell: kind is empty, text, bool, number or date."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "empty", None
    if isinstance(value, (bool, np.bool_)):
        return "bool", bool(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        if f != f:  # NaN
            return "empty", None
        if f in (float("inf"), float("-inf")):
            return "text", str(f)
        return "number", int(value) if isinstance(value, numbers.Integral) else f
    if isinstance(value, pd.Timestamp):
        return "date", value.to_pydatetime().replace(tzinfo=None)
    if isinstance(value, (dt.date, dt.datetime)):
        return "date", value.replace(tzinfo=None) if isinstance(value, dt.datetime) else value
    return "text", str(value)


def write_xlsx(sheets: pd.DataFrame | Mapping[str, pd.DataFrame], path: str | os.PathLike) -> Path:
    """Write one frame (sheet ``Sheet1``) or ``{sheet name: frame}`` as an .xlsx export, atomically.

    Text cells are stored as text (``data_type "s"``: openpyxl would otherwise turn ``=..``
    into a formula), formula-looking text gets a leading apostrophe, numbers stay numeric,
    booleans boolean, dates dates (``yyyy-mm-dd``), missing values empty cells. Headers are
    bold text. Sheet names are made valid for Excel (31 characters, no ``[]:*?/\\``).

    >>> write_xlsx({"Problems": pd.DataFrame({"value": ["=1+1", -2]})}, "problems.xlsx")  # doctest: +SKIP
    PosixPath('problems.xlsx')
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    if isinstance(sheets, pd.DataFrame):
        sheets = {"Sheet1": sheets}
    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    used: set[str] = set()

    def put(ws: Any, r: int, c: int, value: Any) -> Any:
        kind, v = _xlsx_value(value)
        if kind == "empty":
            return None
        cell = ws.cell(row=r, column=c)
        if kind == "text":
            v = _ILLEGAL_XML.sub("\ufffd", safe_text(v))
            if len(v) > EXCEL_MAX_TEXT:
                v = v[: EXCEL_MAX_TEXT - 1] + "\u2026"
            cell.value = v
            cell.data_type = "s"
        else:
            cell.value = v
            if kind == "date":
                cell.number_format = "yyyy-mm-dd"
        return cell

    for name, frame in sheets.items():
        ws = wb.create_sheet(_sheet_title(name, used))
        for c, col in enumerate(frame.columns, start=1):
            cell = put(ws, 1, c, col if isinstance(col, str) else str(col))
            if cell is not None:
                cell.font = bold
        for r, row in enumerate(frame.itertuples(index=False, name=None), start=2):
            for c, value in enumerate(row, start=1):
                put(ws, r, c, value)
        ws.freeze_panes = "A2"
    if not wb.worksheets:
        wb.create_sheet("Sheet1")
    out = _atomic(path, lambda tmp: wb.save(tmp))
    log.info("wrote %s (%d sheet(s))", out, len(wb.worksheets))
    return out
