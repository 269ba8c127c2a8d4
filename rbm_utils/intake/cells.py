"""One cell of an officer's workbook turned into a typed value of its column, or a problem.

:func:`coerce_cell` picks the coercer of the column's type from :data:`COERCERS` (numbers,
dates and the text-like types: quarters, codes, ids, id lists, breakdowns, free text). A
coercer returns the typed value, or reports a problem through ``report(code, message)`` and
returns None. Problem codes and messages are the ones of docs/ingest.md.

Example:
    >>> from rbm_utils.core.schema import sheet
    >>> found = []
    >>> col = sheet("Actuals").column("value")
    >>> coerce_cell(sheet("Actuals"), col, "12.5", False, lambda code, msg: found.append(code))
    12.5
    >>> coerce_cell(sheet("Actuals"), col, "TBD", False, lambda code, msg: found.append(code)), found
    (None, ['placeholder'])
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from rbm_utils.core.quarters import Quarter
from rbm_utils.core.schema import ID_RE, SMART_FIELDS, UNIT_CODE_RE, Column, Sheet
from rbm_utils.core.text import SPACE_LIKE, ascii_digits, has_foreign_digits, is_blank, plain_spaces, strip_invisible
from rbm_utils.intake.raw import CellError

#: Texts officers write instead of a value: never a value, never a code.
PLACEHOLDERS = {"n/a", "na", "tbd", "tbc", "-", "--", "—", "–", "?", "..", "...", "x", "null", "none", "nil", "pending"}
#: Yes/no words in the languages of the bureau's officers: never a number or a code.
BOOLEAN_WORDS = {
    "true",
    "false",
    "yes",
    "no",
    "y",
    "n",
    "oui",
    "non",
    "si",
    "sí",
    "sim",
    "não",
    "nao",
    "ja",
    "nein",
    "vrai",
    "faux",
    "verdadero",
    "falso",
    "wahr",
    "да",
    "нет",
    "نعم",
    "لا",
    "是",
    "否",
    "✓",
    "✔",
    "✗",
    "✘",
    "☑",
    "☐",
    "☒",
}

_MINUS = dict.fromkeys(map(ord, "\u2212\u2012\u2013\u2014\ufe63\uff0d"), "-")
_NUM_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DECIMAL_COMMA_RE = re.compile(r"^[+-]?\d+(\.\d{3})*(,\d+)?$")
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}([,' ]\d{3})+(\.\d+)?$")
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00(?::00(?:\.0+)?)?)?$")  # a date, or midnight of it

#: ``report(code, message)``: records a problem at the cell being read.
Report = Callable[[str, str], None]
#: A coercer: (sheet, column, cell value, decimal comma?, report) -> typed value or None.
Coercer = Callable[[Sheet, Column, Any, bool, Report], Any]

_NUMBER_HINTS = {
    "placeholder": "A placeholder is not a value: leave the cell empty or give the number.",
    "thousands": "Write the number without thousands separators, e.g. 12500.",
    "percent": "Write the percent as a plain number on a 0-100 scale, without the % sign (45, not 45%).",
    "date": "A date where a number is expected.",
    "bool": "A yes/no (TRUE/FALSE) value where a number is expected: give the number.",
    "infinite": "The number is too large to be a value.",
}


def clean_text(value: Any) -> str:
    """A cell as text: whole floats without '.0', look-alike spaces plain, NFC, stripped.

    >>> clean_text(12.0), clean_text("\\u00a0e\\u0301 ")
    ('12', 'é')
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFC", plain_spaces(str(value))).strip()


def to_number(value: Any, decimal_comma: bool) -> float | str:
    """A number, or why not: placeholder, thousands, percent, date, bool, infinite, text.

    >>> to_number("1 250", False), to_number("12,5", True), to_number("45%", False)
    (1250.0, 12.5, 'percent')
    """
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            return "text"
        try:
            num = float(value)
        except OverflowError:  # an integer of hundreds of digits
            return "infinite"
        return num if math.isfinite(num) else "infinite"
    if isinstance(value, (dt.date, dt.datetime, dt.time, dt.timedelta)):
        return "date"
    text = plain_spaces(str(value)).translate(_MINUS).strip()
    if text.lower() in PLACEHOLDERS:
        return "placeholder"
    if text.lower() in BOOLEAN_WORDS:
        return "bool"
    if text.endswith("%"):
        return "percent"
    compact = text.replace(" ", "")
    if decimal_comma and _DECIMAL_COMMA_RE.match(compact):
        compact = compact.replace(".", "").replace(",", ".")
    if _NUM_RE.match(compact):
        num = float(compact)
        return num if math.isfinite(num) else "infinite"
    if _THOUSANDS_RE.match(text):
        return "thousands"
    return "text"


# --------------------------------------------------------------------------- coercers of raw cells


def _number(sh: Sheet, col: Column, v: Any, decimal_comma: bool, report: Report) -> Any:
    """number, integer and year columns."""
    t = col.type
    num = to_number(v, decimal_comma)
    if isinstance(num, str):
        code = {"placeholder": "placeholder", "bool": "boolean_value"}.get(
            num, "not_a_year" if t == "year" else "not_a_number"
        )
        report(code, _NUMBER_HINTS.get(num, "Expected a number, e.g. 1250 or 12.5."))
        return None
    if t in ("integer", "year") and not float(num).is_integer():
        report("not_a_year" if t == "year" else "not_an_integer", f"Expected a whole number, got {num:g}.")
        return None
    if t == "year" and not 1900 <= num <= 2100:
        report("not_a_year", "Expected a four-digit year such as 2026.")
        return None
    if col.min is not None and num < col.min:
        report(
            "negative_value" if col.min == 0 else "out_of_range",
            f"'{col.name}' cannot be negative."
            if col.min == 0
            else f"'{col.name}' must be between {col.min:g} and {col.max:g}.",
        )
        return None
    if col.max is not None and num > col.max:
        report(
            "out_of_range",
            f"'{col.name}' must be between {col.min if col.min is not None else '-inf'} and {col.max:g}.",
        )
        return None
    return int(num) if t in ("integer", "year") else float(num)


def _date(sh: Sheet, col: Column, v: Any, decimal_comma: bool, report: Report) -> Any:
    """date columns: a date cell, or text YYYY-MM-DD (midnight of it allowed), as ISO text."""
    if isinstance(v, bool):
        report("boolean_value", f"A yes/no (TRUE/FALSE) cell is not a valid '{col.name}' ({col.note})")
        return None
    if isinstance(v, (dt.datetime, dt.date)):
        return (v.date() if isinstance(v, dt.datetime) else v).isoformat()
    m = _DATE_RE.match(clean_text(v))
    if m:
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
        except ValueError:
            pass
    report("not_a_date", "Expected a date; type it as YYYY-MM-DD (e.g. 2026-09-30) or use a date cell.")
    return None


# --------------------------------------------------------------------------- coercers of text

TextCoercer = Callable[[Sheet, Column, str, Report], Any]


def _period(sh: Sheet, col: Column, text: str, report: Report) -> Any:
    if Quarter.parse_or_none(text) is not None:
        return text
    typed = Quarter.read_typed(text)
    if typed is not None:  # written the one way (ASCII digits), so Quarter.parse reads it from here on
        return str(typed)
    report("not_a_period", "Write the quarter as YYYY-Qn, e.g. 2026-Q3.")
    return None


def _code(sh: Sheet, col: Column, text: str, report: Report) -> Any:
    canon = {c.lower(): c for c in col.codes or ()}
    low = text.lower()
    hit = canon.get(low) or canon.get(low.replace(" ", "_")) or canon.get(low.replace("_", " "))
    if hit is not None:
        return hit
    allowed = ", ".join(col.codes or ())
    if low in BOOLEAN_WORDS:
        report("boolean_value", f"'{text}' is a yes/no answer; '{col.name}' takes one of: {allowed}.")
    elif low in PLACEHOLDERS:
        report("placeholder", f"A placeholder instead of a value; choose one of: {allowed}.")
    else:
        report("unknown_code", f"'{text}' is not allowed here; choose one of: {allowed}.")
    return None


def _unit_code(sh: Sheet, col: Column, text: str, report: Report) -> Any:
    if not UNIT_CODE_RE.match(text):  # the unit code names folders: nothing but a plain code passes
        report(
            "unknown_unit",
            "Not a unit code: unit codes are 2 to 16 capital letters, digits, '_' or '-' "
            "and are listed in parameters/workbench.yaml.",
        )
        return None
    return text


def _id(sh: Sheet, col: Column, text: str, report: Report) -> Any:
    if not ID_RE.match(text):
        report("bad_id", f"'{text}' is not a valid id: use letters, digits and _ . : / - only, no spaces.")
        return None
    return text


def _id_list(sh: Sheet, col: Column, text: str, report: Report) -> Any:
    parts = [p.strip() for p in text.split(";") if p.strip()]
    wrong = [p for p in parts if not ID_RE.match(p)]
    if wrong:
        report("bad_id", f"Not valid ids: {', '.join(wrong)}. Separate ids with ';'.")
        return None
    return "; ".join(parts)


def _disaggregation(sh: Sheet, col: Column, text: str, report: Report) -> Any:
    pairs = {}
    for part in [p.strip() for p in text.split(";") if p.strip()]:
        if "=" not in part:
            report("bad_disaggregation", f"'{part}' is not key=value; write e.g. 'region=AFR; sex=female'.")
            return ""
        k, val = (s.strip() for s in part.split("=", 1))
        if not k or not val:
            report("bad_disaggregation", f"'{part}' needs both a key and a value.")
            return ""
        if k != k.lower():
            report(
                "disaggregation_case",
                f"The breakdown key '{k}' is read as '{k.lower()}': keys are compared in lower case.",
            )
        pairs[k.lower()] = val
    return "; ".join(f"{k}={pairs[k]}" for k in sorted(pairs))


def _text(sh: Sheet, col: Column, text: str, report: Report) -> Any:
    return text


def _textual(parse: TextCoercer) -> Coercer:
    """A coercer of a text-like type: a yes/no cell or a date cell is refused (free text keeps
    TRUE/FALSE), anything else goes to ``parse`` as :func:`clean_text`. Ids, codes, quarters,
    breakdowns and the text columns of a sheet's key (a funding source, a partner) lose invisible
    characters first, with an ``invisible_characters`` warning; free text keeps them."""

    def coerce(sh: Sheet, col: Column, v: Any, decimal_comma: bool, report: Report) -> Any:
        if isinstance(v, bool):
            if col.type == "text":
                return "TRUE" if v else "FALSE"
            report("boolean_value", f"A yes/no (TRUE/FALSE) cell is not a valid '{col.name}' ({col.note})")
            return None
        if isinstance(v, (dt.datetime, dt.date)):
            if col.type == "period":
                report(
                    "not_a_period", "A date where a quarter is expected: write the quarter as YYYY-Qn, e.g. 2026-Q3."
                )
            else:
                report("not_a_date" if col.type != "text" else "required_value", "A date where text is expected.")
            return None
        if v.__class__ is str and not v.isascii() and (col.type != "text" or col.name in sh.key):
            bare = strip_invisible(v)
            if bare != v or any(c in SPACE_LIKE for c in bare):
                report(
                    "invisible_characters",
                    f"'{col.name}' held invisible characters (zero-width or no-break spaces, a joiner or a BOM); "
                    "they were removed.",
                )
            v = bare
        return parse(sh, col, clean_text(v), report)

    return coerce


#: Column types whose text is read as digits: other scripts' digits are read as 0-9, with a warning.
DIGIT_TYPES = frozenset({"number", "integer", "year", "date", "period"})


#: The coercer of each column type of :data:`rbm_utils.core.schema.TYPES`.
COERCERS: dict[str, Coercer] = {
    "number": _number,
    "integer": _number,
    "year": _number,
    "date": _date,
    "period": _textual(_period),
    "code": _textual(_code),
    "id": _textual(_id),
    "id_list": _textual(_id_list),
    "disaggregation": _textual(_disaggregation),
    "text": _textual(_text),
}
#: Columns read more strictly than their type: the unit code names folders.
COLUMN_COERCERS: dict[tuple[str, str], Coercer] = {
    ("Unit", "unit_code"): _textual(_unit_code),
}


def coerce_cell(sh: Sheet, col: Column, value: Any, decimal_comma: bool, report: Report) -> Any:
    """The typed value of one cell of ``col`` (None, or '' for a breakdown, when empty or wrong).

    Formula errors, formulas without a saved value and empty required cells are reported
    here; everything else by the coercer of the column's type.
    """
    if isinstance(value, CellError):
        if value.kind == "error":
            report(
                "formula_error",
                f"The cell holds the spreadsheet error {value.text}; fix the formula or type the value.",
            )
        else:
            report(
                "formula_no_value",
                f"The cell holds the formula {value.text} with no saved result; "
                "open the file in Excel, let it calculate and save.",
            )
        return None
    if is_blank(value):
        if col.required:
            if sh.name == "KPIs" and col.name in SMART_FIELDS:
                report("smart_incomplete", f"The KPI is not SMART: '{col.name}' is empty ({col.note})")
            else:
                report("required_value", f"'{col.name}' is required ({col.note})")
        return "" if col.type == "disaggregation" else None
    if col.type in DIGIT_TYPES and value.__class__ is str and has_foreign_digits(value):
        value = ascii_digits(value)
        report(
            "non_ascii_digits",
            f"'{col.name}' is written with digits of another script; it is read as '{clean_text(value)}'.",
        )
    coercer = COLUMN_COERCERS.get((sh.name, col.name)) or COERCERS[col.type]
    return coercer(sh, col, value, decimal_comma, report)
