"""Validate a unit workbook against the contract and report every problem at once.

Checks structure (sheets, columns), types (numbers, dates, periods ``YYYY-Qn``), code lists,
references between sheets, ranges, duplicates, periods against the reporting quarter, SMART
completeness of every KPI and the needs of every assumption test. Each problem names file,
sheet, Excel row, column letter and header, the value and a plain-language message.
Everything derives from :mod:`rbm_utils.core.schema`.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> parsed = parse_source("data/sample/AFR.xlsx", load_config())   # doctest: +SKIP
    >>> parsed.ok, len(parsed.frames["KPIs"])                          # doctest: +SKIP
    (True, 14)
"""
from __future__ import annotations

import bisect
import datetime as dt
import math
import re
import statistics
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Union

import pandas as pd

from rbm_utils.core.config import Config
from rbm_utils.core.errors import ERROR, WARNING, Problem, problem, problems_frame
from rbm_utils.core.schema import (
    ASSUMPTION_TEST_NEEDS, HELPER_SHEETS, ID_RE, PERIOD_RE, REFERENCES, SHEETS, SMART_FIELDS,
    UNIT_CODE_RE, Column, Sheet, column_letter, conform, period_index, sheet,
)
from rbm_utils.intake.workbook import CellError, RawSheet, RawWorkbook, read_source

PLACEHOLDERS = {"n/a", "na", "tbd", "tbc", "-", "--", "—", "–", "?", "..", "...", "x", "null", "none", "nil", "pending"}
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2007\u202f\u2009\u200a\u200b\ufeff"), " ")
_MINUS = dict.fromkeys(map(ord, "\u2212\u2012\u2013\u2014\ufe63\uff0d"), "-")
_NUM_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}([,' ]\d{3})+(\.\d+)?$")
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00(?::00(?:\.0+)?)?)?$")  # a date, or midnight of it
#: Yes/no words in the languages of the bureau's officers: never a number or a code.
BOOLEAN_WORDS = {"true", "false", "yes", "no", "y", "n", "oui", "non", "si", "sí", "sim", "não", "nao", "ja", "nein",
                 "vrai", "faux", "verdadero", "falso", "wahr", "да", "нет", "نعم", "لا", "是", "否",
                 "✓", "✔", "✗", "✘", "☑", "☐", "☒"}
TOTAL_WORDS = {"total", "totals", "grand total", "sum", "subtotal", "sub-total", "total général", "total general"}

#: The store's state of a unit (as :meth:`rbm_utils.store.database.Store.state` returns it), or a function
#: giving it for a unit code: the history that measure, decrease, outlier and budget checks compare with.
Previous = Union[Mapping[str, pd.DataFrame], Callable[[str], Union[Mapping[str, pd.DataFrame], None]], None]
_PERIOD_LOOSE_RE = re.compile(r"^(\d{4})\s*[-_ /]?\s*[Qq]\s*([1-4])$")


@dataclass
class Parsed:
    """A validated input: typed frames (conformed to the schema), the Unit fields, problems."""

    file: str
    path: Path
    format: str
    sha256: str
    unit: dict[str, Any] = field(default_factory=dict)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    rows: dict[str, list[int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def problems_frame(self) -> pd.DataFrame:
        return problems_frame(self.problems)


def parse_source(path: str | Path, config: Config, today: dt.date | None = None, previous: Previous = None) -> Parsed:
    """Read and validate a workbook or CSV folder. Never raises for bad input.

    ``previous``: the unit's state in the store (or a function of the unit code giving it),
    for the checks against history (:func:`validate_raw`).
    """
    return validate_raw(read_source(path, config.ingest), config, today=today, previous=previous)


# --------------------------------------------------------------------------- context

class _Ctx:
    def __init__(self, raw: RawWorkbook, config: Config, today: dt.date | None):
        self.raw = raw
        self.file = raw.file
        self.config = config
        self.today = today or dt.date.today()
        self.problems: list[Problem] = []
        self.letters: dict[str, dict[str, str]] = {}
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.unreadable: set[str] = set()

    def add(self, code: str, sheet_name: str = "", row: int = 0, col: str = "", value: Any = None,
            message: str = "", severity: str | None = None) -> None:
        letter = self.letters.get(sheet_name, {}).get(col, "") if col else ""
        self.problems.append(problem(code, self.file, sheet_name, row, letter, col, value, message, severity))


def validate_raw(raw: RawWorkbook, config: Config, today: dt.date | None = None, previous: Previous = None) -> Parsed:
    """Validate what :func:`rbm_utils.intake.workbook.read_source` read.

    With ``previous`` (the unit's stored state, or a function of the unit code returning it) a
    KPI whose measure differs from the stored one is an error (``measure_changed``), and the
    decrease, outlier and over-budget warnings look at the stored quarters the file does not
    carry too; rows identical to stored ones are not warned about again.
    """
    ctx = _Ctx(raw, config, today)
    parsed = Parsed(raw.file, raw.path, raw.format, raw.sha256)
    ctx.problems.extend(raw.problems)
    if any(p.severity == ERROR for p in raw.problems) and not raw.sheets:
        parsed.problems = ctx.problems
        return parsed
    for rs in raw.sheets.values():
        ctx.problems.extend(rs.problems)

    by_lower: dict[str, str] = {}
    for name in raw.sheets:
        key = name.strip().lower()
        if key in by_lower:
            ctx.add("duplicate_sheet", name, message=(
                f"Sheets '{by_lower[key]}' and '{name}' have the same name but for case or spaces; "
                f"only '{by_lower[key]}' is read. Keep one."))
            continue
        by_lower[key] = name
    for name, rs in raw.sheets.items():
        if name in HELPER_SHEETS or any(s.name.lower() == name.strip().lower() for s in SHEETS):
            continue
        if rs.rows or any(h is not None for h in rs.headers):
            ctx.add("unknown_sheet", name, message=f"Sheet '{name}' is not part of the workbook contract and is ignored.")

    unit: dict[str, Any] = {}
    for sh in SHEETS:
        actual = by_lower.get(sh.name.lower())
        rs = raw.sheets.get(actual) if actual else None
        if rs is None:
            if sh.required:
                ctx.add("missing_sheet", sh.name, message=f"The workbook has no sheet '{sh.name}' ({sh.note})")
            ctx.records[sh.name] = []
            continue
        if not rs.rows and not rs.headers and any(p.severity == ERROR for p in rs.problems):
            ctx.unreadable.add(sh.name)  # already reported (encoding, unparsable CSV): no cascade of follow-ups
            ctx.records[sh.name] = []
            continue
        if rs.hidden and (rs.rows or rs.headers):
            ctx.add("hidden_data", sh.name, message=f"Sheet '{sh.name}' is hidden but holds data; it is read like any other.")
        if sh.kind == "keyvalue":
            unit = _read_keyvalue(ctx, sh, rs)
        else:
            ctx.records[sh.name] = _read_table(ctx, sh, rs)

    _check_unit(ctx, unit)
    quarter = unit.get("reporting_quarter")
    _check_duplicates(ctx)
    _check_references(ctx)
    _check_cycles(ctx)
    _check_kpis(ctx, quarter)
    _check_periods(ctx, quarter)
    _check_assumptions(ctx)
    _check_activities(ctx)
    _check_percent_scale(ctx)
    _check_disaggregations(ctx)
    code = unit.get("unit_code")
    prev = None
    if previous is not None and code and code in config.units:
        prev = previous(code) if callable(previous) else previous
    _check_history(ctx, prev)

    parsed.unit = unit
    for sh in SHEETS:
        if sh.kind != "table":
            continue
        recs = ctx.records.get(sh.name, [])
        frame = pd.DataFrame([{k: v for k, v in r.items() if k != "_row"} for r in recs])
        parsed.frames[sh.name] = conform(sh.name, frame) if recs else conform(sh.name, pd.DataFrame())
        parsed.rows[sh.name] = [r["_row"] for r in recs]
    parsed.problems = ctx.problems
    return parsed


# --------------------------------------------------------------------------- reading

def _norm_header(h: Any) -> str:
    return re.sub(r"\s+", "_", str(h).translate(_SPACES).strip().lower())


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.translate(_SPACES).strip()) or (isinstance(v, float) and math.isnan(v))


def _map_headers(ctx: _Ctx, sh: Sheet, rs: RawSheet) -> dict[int, str]:
    mapping: dict[int, str] = {}
    letters: dict[str, str] = {}
    ctx.letters[sh.name] = letters
    seen: dict[str, int] = {}
    width = max([len(rs.headers)] + [len(vals) for _, vals in rs.rows])
    for idx in range(width):  # past the last header too: a column with data and no header
        h = rs.headers[idx] if idx < len(rs.headers) else None
        letter = column_letter(idx)
        if _blank(h):
            if any(idx < len(vals) and not _blank(vals[idx]) for _, vals in rs.rows):
                ctx.problems.append(problem("blank_header", ctx.file, sh.name, rs.header_row, letter, "",
                                            None, f"Column {letter} holds data but has no header."))
            continue
        norm = _norm_header(h)
        if sh.has(norm):
            if norm in seen:
                ctx.problems.append(problem("duplicate_column", ctx.file, sh.name, rs.header_row, letter, norm, h,
                                            f"Column '{norm}' appears twice (columns {column_letter(seen[norm])} and {letter})."))
                continue
            seen[norm] = idx
            mapping[idx] = norm
            letters[norm] = letter
        else:
            ctx.problems.append(problem("unknown_column", ctx.file, sh.name, rs.header_row, letter, str(h), h,
                                        f"Column '{h}' is not part of sheet {sh.name}; it is ignored."))
    for col in sh.columns:
        if col.required and col.name not in letters:
            ctx.problems.append(problem("missing_column", ctx.file, sh.name, rs.header_row, "", col.name, None,
                                        f"Sheet {sh.name} has no column '{col.name}' ({col.note})"))
    return mapping


def _check_merged(ctx: _Ctx, sh: Sheet, rs: RawSheet) -> None:
    for rng in rs.merged:
        first = rng.split(":")[0]
        m = re.match(r"([A-Z]+)(\d+)", first)
        if m:
            ctx.problems.append(problem("merged_cells", ctx.file, sh.name, int(m.group(2)), m.group(1), "", rng,
                                        f"Cells {rng} are merged; merged cells keep a value only in {first}. Unmerge them and fill every cell."))


def _header_score(sh: Sheet, cells: list[Any]) -> int:
    return len({_norm_header(h) for h in cells if not _blank(h) and not isinstance(h, CellError) and sh.has(_norm_header(h))})


def _locate_header(ctx: _Ctx, sh: Sheet, rs: RawSheet) -> RawSheet:
    """The sheet with its header where it really is: row 1, or a later row (reported) when row 1
    holds a title and a row below holds the sheet's column names."""
    need = min(3, sum(1 for c in sh.columns if c.required))
    first = _header_score(sh, rs.headers)
    if first >= need:
        return rs
    best: tuple[int, int] | None = None
    for i, (rownum, values) in enumerate(rs.rows[:20]):
        score = _header_score(sh, values)
        if score >= need and score > first and (best is None or score > best[0]):
            best = (score, i)
    if best is None:
        return rs
    i = best[1]
    rownum, values = rs.rows[i]
    ctx.problems.append(problem("header_not_on_row_1", ctx.file, sh.name, rownum, "", "", None, (
        f"The column names of sheet {sh.name} are on row {rownum}, not on row 1: delete the rows above them "
        "(titles, notes, blank rows). Other problems are reported at the rows as they are now.")))
    return replace(rs, headers=list(values), rows=rs.rows[i + 1:], header_row=rownum)


def _is_total_row(sh: Sheet, mapping: dict[int, str], values: list[Any]) -> str | None:
    """The 'Total' text if the row is a totals line. A complete record that merely has the word in a
    free-text column (a partner called Total) is data, not a totals line."""
    hit = next(((i, v) for i, v in enumerate(values) if isinstance(v, str) and v.strip()), None)
    if hit is None or hit[1].strip().lower().rstrip(":") not in TOTAL_WORDS:
        return None
    name = mapping.get(hit[0])
    complete = all(i < len(values) and not _blank(values[i]) for i, n in mapping.items() if sh.column(n).required)
    if name is not None and sh.column(name).type == "text" and complete:
        return None
    return hit[1]


def _trim_ragged(ctx: _Ctx, sh: Sheet, rs: RawSheet) -> RawSheet:
    """CSV rows longer than the header: reported (a comma without quotes), the extra fields dropped."""
    width = len(rs.headers)
    rows = []
    for rownum, values in rs.rows:
        extra = [v for v in values[width:] if not _blank(v)]
        if extra:
            ctx.problems.append(problem("ragged_row", ctx.file, sh.name, rownum, column_letter(width), "", extra[0], (
                f"Row {rownum} has {len(values)} fields but the header has {width}. A comma inside a value needs quotes.")))
        rows.append((rownum, values[:width]))
    return replace(rs, rows=rows)


def _read_table(ctx: _Ctx, sh: Sheet, rs: RawSheet) -> list[dict[str, Any]]:
    rs = _locate_header(ctx, sh, rs)
    if rs.from_csv:
        rs = _trim_ragged(ctx, sh, rs)
    mapping = _map_headers(ctx, sh, rs)
    _check_merged(ctx, sh, rs)
    records: list[dict[str, Any]] = []
    for rownum, values in rs.rows:
        if all(_blank(v) for v in values):
            continue
        total_text = _is_total_row(sh, mapping, values)
        if total_text is not None:
            ctx.problems.append(problem("total_row", ctx.file, sh.name, rownum, "", "", total_text,
                                        "A 'Total' row: totals are computed by the workbench. Remove the row."))
            continue
        if rownum in rs.hidden_rows:
            ctx.problems.append(problem("hidden_data", ctx.file, sh.name, rownum, "", "", None,
                                        f"Row {rownum} is hidden but holds data; it is read like any other."))
        rec: dict[str, Any] = {"_row": rownum}
        for idx, name in mapping.items():
            v = values[idx] if idx < len(values) else None
            rec[name] = _coerce(ctx, sh, sh.column(name), v, rownum, rs.decimal_comma)
        for col in sh.columns:
            rec.setdefault(col.name, None)
        records.append(rec)
    return records


def _read_keyvalue(ctx: _Ctx, sh: Sheet, rs: RawSheet) -> dict[str, Any]:
    """The Unit sheet: field names in column A, values in column B."""
    ctx.letters[sh.name] = {}
    out: dict[str, Any] = {}
    rows = list(rs.rows)
    hdr = [_norm_header(h) for h in rs.headers[:2] if not _blank(h)]
    if hdr and hdr[0] != "field":  # no header row: the first row is data
        rows.insert(0, (rs.header_row, list(rs.headers)))
    found: dict[str, int] = {}
    for rownum, values in rows:
        if rs.from_csv and any(not _blank(v) for v in values[2:]):
            ctx.problems.append(problem("ragged_row", ctx.file, sh.name, rownum, "C", "", values[2], (
                f"Row {rownum} has {len(values)} fields but Unit.csv has two (field, value). "
                "A comma inside a value needs quotes.")))
        if not values or _blank(values[0]):
            continue
        name = _norm_header(values[0])
        v = values[1] if len(values) > 1 else None
        if not sh.has(name):
            ctx.problems.append(problem("unknown_column", ctx.file, sh.name, rownum, "A", str(values[0]), values[0],
                                        f"'{values[0]}' is not a field of sheet Unit; it is ignored."))
            continue
        found[name] = rownum
        ctx.letters[sh.name][name] = "B"
        out[name] = _coerce(ctx, sh, sh.column(name), v, rownum, rs.decimal_comma)
    for col in sh.columns:
        if col.name not in found:
            ctx.problems.append(problem("required_value" if col.required else "missing_column", ctx.file, sh.name, 0, "B", col.name,
                                        None, f"Sheet Unit has no field '{col.name}' ({col.note})"))
            out[col.name] = None
    ctx.letters[sh.name] = {k: "B" for k in found}
    ctx.records[sh.name] = [{"_row": r, "field": k} for k, r in found.items()]
    ctx._unit_rows = found  # type: ignore[attr-defined]
    return out


# --------------------------------------------------------------------------- cell typing

def _clean_text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    text = str(v).translate(_SPACES)
    return unicodedata.normalize("NFC", text).strip()


def _coerce(ctx: _Ctx, sh: Sheet, col: Column, v: Any, row: int, decimal_comma: bool) -> Any:
    letter = ctx.letters.get(sh.name, {}).get(col.name, "")

    def bad(code: str, message: str, severity: str | None = None) -> None:
        ctx.problems.append(problem(code, ctx.file, sh.name, row, letter, col.name, v, message, severity))

    if isinstance(v, CellError):
        if v.kind == "error":
            bad("formula_error", f"The cell holds the spreadsheet error {v.text}; fix the formula or type the value.")
        else:
            bad("formula_no_value", f"The cell holds the formula {v.text} with no saved result; open the file in Excel, let it calculate and save.")
        return None
    if _blank(v):
        if col.required:
            if sh.name == "KPIs" and col.name in SMART_FIELDS:
                bad("smart_incomplete", f"The KPI is not SMART: '{col.name}' is empty ({col.note})")
            else:
                bad("required_value", f"'{col.name}' is required ({col.note})")
        return "" if col.type == "disaggregation" else None
    t = col.type
    if t in ("number", "integer", "year"):
        num = _to_number(v, decimal_comma)
        if isinstance(num, str):
            code = {"placeholder": "placeholder", "bool": "boolean_value"}.get(num, "not_a_year" if t == "year" else "not_a_number")
            hint = {
                "placeholder": "A placeholder is not a value: leave the cell empty or give the number.",
                "thousands": "Write the number without thousands separators, e.g. 12500.",
                "percent": "Write the percent as a plain number on a 0-100 scale, without the % sign (45, not 45%).",
                "date": "A date where a number is expected.",
                "bool": "A yes/no (TRUE/FALSE) value where a number is expected: give the number.",
                "infinite": "The number is too large to be a value.",
            }.get(num, "Expected a number, e.g. 1250 or 12.5.")
            bad(code, hint)
            return None
        if t in ("integer", "year") and not float(num).is_integer():
            bad("not_a_year" if t == "year" else "not_an_integer", f"Expected a whole number, got {num:g}.")
            return None
        if t == "year" and not 1900 <= num <= 2100:
            bad("not_a_year", "Expected a four-digit year such as 2026.")
            return None
        if col.min is not None and num < col.min:
            bad("negative_value" if col.min == 0 else "out_of_range",
                f"'{col.name}' cannot be negative." if col.min == 0 else f"'{col.name}' must be between {col.min:g} and {col.max:g}.")
            return None
        if col.max is not None and num > col.max:
            bad("out_of_range", f"'{col.name}' must be between {col.min if col.min is not None else '-inf'} and {col.max:g}.")
            return None
        return int(num) if t in ("integer", "year") else float(num)
    if isinstance(v, bool):
        if t == "text":
            return "TRUE" if v else "FALSE"
        bad("boolean_value", f"A yes/no (TRUE/FALSE) cell is not a valid '{col.name}' ({col.note})")
        return None
    if t == "date":
        if isinstance(v, (dt.datetime, dt.date)):
            return (v.date() if isinstance(v, dt.datetime) else v).isoformat()
        text = _clean_text(v)
        m = _DATE_RE.match(text)
        if m:
            try:
                return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
            except ValueError:
                pass
        bad("not_a_date", "Expected a date; type it as YYYY-MM-DD (e.g. 2026-09-30) or use a date cell.")
        return None
    if isinstance(v, (dt.datetime, dt.date)):
        if t == "period":
            bad("not_a_period", "A date where a quarter is expected: write the quarter as YYYY-Qn, e.g. 2026-Q3.")
        else:
            bad("not_a_date" if t != "text" else "required_value", "A date where text is expected.")
        return None
    text = _clean_text(v)
    if t == "period":
        if PERIOD_RE.match(text):
            return text
        m = _PERIOD_LOOSE_RE.match(text)
        if m:
            return f"{m.group(1)}-Q{m.group(2)}"
        bad("not_a_period", "Write the quarter as YYYY-Qn, e.g. 2026-Q3.")
        return None
    if t == "code":
        canon = {c.lower(): c for c in col.codes or ()}
        hit = canon.get(text.lower()) or canon.get(text.lower().replace(" ", "_")) or canon.get(text.lower().replace("_", " "))
        if hit is None:
            if text.lower() in BOOLEAN_WORDS:
                bad("boolean_value", f"'{text}' is a yes/no answer; '{col.name}' takes one of: {', '.join(col.codes or ())}.")
            elif text.lower() in PLACEHOLDERS:
                bad("placeholder", f"A placeholder instead of a value; choose one of: {', '.join(col.codes or ())}.")
            else:
                bad("unknown_code", f"'{text}' is not allowed here; choose one of: {', '.join(col.codes or ())}.")
            return None
        return hit
    if sh.name == "Unit" and col.name == "unit_code":
        if not UNIT_CODE_RE.match(text):  # the unit code names folders: nothing but a plain code passes
            bad("unknown_unit", "Not a unit code: unit codes are 2 to 16 capital letters, digits, '_' or '-' "
                                "and are listed in parameters/workbench.yaml.")
            return None
        return text
    if t == "id":
        if not ID_RE.match(text):
            bad("bad_id", f"'{text}' is not a valid id: use letters, digits and _ . : / - only, no spaces.")
            return None
        return text
    if t == "id_list":
        parts = [p.strip() for p in text.split(";") if p.strip()]
        wrong = [p for p in parts if not ID_RE.match(p)]
        if wrong:
            bad("bad_id", f"Not valid ids: {', '.join(wrong)}. Separate ids with ';'.")
            return None
        return "; ".join(parts)
    if t == "disaggregation":
        pairs = {}
        for part in [p.strip() for p in text.split(";") if p.strip()]:
            if "=" not in part:
                bad("bad_disaggregation", f"'{part}' is not key=value; write e.g. 'region=AFR; sex=female'.")
                return ""
            k, val = (s.strip() for s in part.split("=", 1))
            if not k or not val:
                bad("bad_disaggregation", f"'{part}' needs both a key and a value.")
                return ""
            pairs[k.lower()] = val
        return "; ".join(f"{k}={pairs[k]}" for k in sorted(pairs))
    return text


def _to_number(v: Any, decimal_comma: bool) -> float | str:
    """A number, or a reason string: placeholder, thousands, percent, date, bool, text."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        if isinstance(v, float) and math.isnan(v):
            return "text"
        try:
            num = float(v)
        except OverflowError:  # an integer of hundreds of digits
            return "infinite"
        return num if math.isfinite(num) else "infinite"
    if isinstance(v, (dt.date, dt.datetime, dt.time, dt.timedelta)):
        return "date"
    text = str(v).translate(_SPACES).translate(_MINUS).strip()
    if text.lower() in PLACEHOLDERS:
        return "placeholder"
    if text.lower() in BOOLEAN_WORDS:
        return "bool"
    if text.endswith("%"):
        return "percent"
    compact = text.replace(" ", "")
    if decimal_comma and re.match(r"^[+-]?\d+(\.\d{3})*(,\d+)?$", compact):
        compact = compact.replace(".", "").replace(",", ".")
    if _NUM_RE.match(compact):
        num = float(compact)
        return num if math.isfinite(num) else "infinite"
    if _THOUSANDS_RE.match(text):
        return "thousands"
    return "text"


# --------------------------------------------------------------------------- checks

def _check_unit(ctx: _Ctx, unit: dict[str, Any]) -> None:
    rows = getattr(ctx, "_unit_rows", {})
    code = unit.get("unit_code")
    if code is None:
        return
    if not UNIT_CODE_RE.match(code) or code not in ctx.config.units:
        ctx.add("unknown_unit", "Unit", rows.get("unit_code", 0), "unit_code", code,
                f"Unit '{code}' is not listed in parameters/workbench.yaml (known: {', '.join(ctx.config.units)}).")
        return
    u = ctx.config.units[code]
    if unit.get("unit_type") and unit["unit_type"] != u.type:
        ctx.add("unit_mismatch", "Unit", rows.get("unit_type", 0), "unit_type", unit["unit_type"],
                f"{code} is a {u.type} in parameters/workbench.yaml, not a {unit['unit_type']}.")
    if unit.get("unit_name") and unit["unit_name"] != u.name:
        ctx.add("unit_mismatch", "Unit", rows.get("unit_name", 0), "unit_name", unit["unit_name"],
                f"The unit's name in parameters/workbench.yaml is '{u.name}'; the settings' name is used.", severity=WARNING)
    q = unit.get("reporting_quarter")
    if q and period_index(q) < period_index(ctx.config.first_quarter):
        ctx.add("before_first_quarter", "Unit", rows.get("reporting_quarter", 0), "reporting_quarter", q,
                f"The workbench starts at {ctx.config.first_quarter}.")


def _key_of(sh: Sheet, rec: dict[str, Any]) -> tuple:
    return tuple("" if rec.get(k) is None else rec.get(k) for k in sh.key)


def _check_duplicates(ctx: _Ctx) -> None:
    for sh in SHEETS:
        if sh.kind != "table":
            continue
        first: dict[tuple, int] = {}
        for rec in ctx.records.get(sh.name, []):
            key = _key_of(sh, rec)
            if any(rec.get(k) is None and sh.column(k).required for k in sh.key):
                continue  # already reported as missing
            if key in first:
                shown = ", ".join(f"{k}={v}" for k, v in zip(sh.key, key) if v != "")
                ctx.add("duplicate_key", sh.name, rec["_row"], sh.key[0], shown,
                        f"Same {' + '.join(sh.key)} as row {first[key]} ({shown}); keep one row.")
            else:
                first[key] = rec["_row"]


def _ids(ctx: _Ctx, sheet_name: str, column: str) -> set[str]:
    return {r[column] for r in ctx.records.get(sheet_name, []) if r.get(column)}


def _check_references(ctx: _Ctx) -> None:
    levels = {r["result_id"]: r.get("level") for r in ctx.records.get("Results", []) if r.get("result_id")}
    for src, col, dst, dcol, output_only in REFERENCES:
        if dst in ctx.unreadable:
            continue
        targets = _ids(ctx, dst, dcol)
        for rec in ctx.records.get(src, []):
            val = rec.get(col)
            if not val:
                continue
            values = [p.strip() for p in val.split(";")] if sheet(src).column(col).type == "id_list" else [val]
            for v in values:
                if v not in targets:
                    ctx.add("unknown_reference", src, rec["_row"], col, v,
                            f"'{v}' is not a {dcol} of sheet {dst}.")
                elif src == dst and col == "contributes_to" and v == rec.get("result_id"):
                    ctx.add("cycle", src, rec["_row"], col, v, f"Result {v} cannot contribute to itself.")
                elif output_only and levels.get(v) != "output":
                    ctx.add("not_an_output", src, rec["_row"], col, v,
                            f"'{v}' is a {levels.get(v)}-level result; {src} lines must point at an output.")


def _check_cycles(ctx: _Ctx) -> None:
    graph: dict[str, list[str]] = {}
    rows: dict[str, int] = {}
    for r in ctx.records.get("Results", []):
        if r.get("result_id"):
            rows[r["result_id"]] = r["_row"]
            graph[r["result_id"]] = [p.strip() for p in (r.get("contributes_to") or "").split(";") if p.strip() and p.strip() != r["result_id"]]
    state: dict[str, int] = {}
    reported: set[frozenset] = set()

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                loop = path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
                key = frozenset(loop)
                if key not in reported:
                    reported.add(key)
                    ctx.add("cycle", "Results", rows[node], "contributes_to", nxt,
                            "The results chain loops: " + " -> ".join(loop) + ".")
            elif state.get(nxt) is None:
                visit(nxt, path + [nxt])
        state[node] = 2

    for n in graph:
        if state.get(n) is None:
            visit(n, [n])


def _check_kpis(ctx: _Ctx, quarter: str | None) -> None:
    kpis = {r["kpi_id"]: r for r in ctx.records.get("KPIs", []) if r.get("kpi_id")}
    for r in ctx.records.get("KPIs", []):
        bp, tp = r.get("baseline_period"), r.get("target_period")
        if bp and tp and period_index(tp) <= period_index(bp):
            ctx.add("smart_incomplete", "KPIs", r["_row"], "target_period", tp,
                    f"The KPI is not SMART: target period {tp} must come after baseline period {bp}.")
        for f in ("baseline_value", "target_value"):
            _check_kpi_value(ctx, "KPIs", r, f, r)
    for r in ctx.records.get("Milestones", []):
        k = kpis.get(r.get("kpi_id"))
        if k:
            _check_kpi_value(ctx, "Milestones", r, "target_value", k)
    for r in ctx.records.get("Actuals", []):
        k = kpis.get(r.get("kpi_id"))
        if k is None:
            continue
        _check_kpi_value(ctx, "Actuals", r, "value", k)
        num, den, val = r.get("numerator"), r.get("denominator"), r.get("value")
        if den is not None and den <= 0:
            ctx.add("bad_denominator", "Actuals", r["_row"], "denominator", den, "A denominator must be above zero.")
        elif num is not None and den is not None:
            if num < 0:
                ctx.add("negative_value", "Actuals", r["_row"], "numerator", num, "A numerator cannot be negative.")
            elif k.get("measure") == "percent" and num > den:
                ctx.add("percent_over_100", "Actuals", r["_row"], "numerator", num,
                        f"The numerator {num:g} is larger than the denominator {den:g}.")
            elif val is not None and k.get("measure") == "percent":
                expect = 100.0 * num / den
                if abs(expect - val) > max(0.05, 0.005 * abs(expect)):
                    ctx.add("ratio_mismatch", "Actuals", r["_row"], "value", val,
                            f"value {val:g} differs from 100 x numerator / denominator = {expect:.2f}; the pooled figure uses numerator and denominator.")
        if not r.get("evidence") and r.get("value") is not None:
            ctx.add("missing_evidence", "Actuals", r["_row"], "evidence", None,
                    f"No evidence for {r.get('kpi_id')} {r.get('period')}: give a link or document reference.")


def _check_kpi_value(ctx: _Ctx, sheet_name: str, rec: dict[str, Any], field_name: str, kpi: dict[str, Any]) -> None:
    v = rec.get(field_name)
    if v is None:
        return
    measure = kpi.get("measure")
    if measure == "percent" and not 0 <= v <= ctx.config.thresholds.get("percent_scale_max", 100):
        ctx.add("percent_over_100" if v > 0 else "negative_value", sheet_name, rec["_row"], field_name, v,
                f"{kpi.get('kpi_id')} is a percent KPI: values lie between 0 and 100 (write 45 for 45 %).")
    elif measure in ("number", "currency") and v < 0:
        ctx.add("negative_value", sheet_name, rec["_row"], field_name, v,
                f"{kpi.get('kpi_id')} counts {'money' if measure == 'currency' else 'things'}: it cannot be negative.")


def _check_periods(ctx: _Ctx, quarter: str | None) -> None:
    first = period_index(ctx.config.first_quarter)
    q = period_index(quarter) if quarter else None
    for sh in SHEETS:
        if sh.periodic is None:
            continue
        for r in ctx.records.get(sh.name, []):
            p = r.get(sh.periodic)
            if not p:
                continue
            if q is not None and period_index(p) > q:
                ctx.add("future_period", sh.name, r["_row"], sh.periodic, p,
                        f"{p} is after the reporting quarter {quarter}; report it next quarter.")
            elif period_index(p) < first:
                ctx.add("before_first_quarter", sh.name, r["_row"], sh.periodic, p,
                        f"{p} is before the workbench's first quarter {ctx.config.first_quarter}.")


def _check_assumptions(ctx: _Ctx) -> None:
    for r in ctx.records.get("Assumptions", []):
        test = r.get("test")
        for need in ASSUMPTION_TEST_NEEDS.get(test or "", ()):
            if r.get(need) is None:
                ctx.add("incomplete_test", "Assumptions", r["_row"], need, None,
                        f"A {test} test needs '{need}' ({sheet('Assumptions').column(need).note})")


def _check_activities(ctx: _Ctx) -> None:
    today = ctx.today.isoformat()
    for r in ctx.records.get("Activities", []):
        for a, b in (("planned_start", "planned_end"), ("actual_start", "actual_end")):
            if r.get(a) and r.get(b) and r[b] < r[a]:
                ctx.add("period_order", "Activities", r["_row"], b, r[b], f"{b} {r[b]} comes before {a} {r[a]}.")
        for a in ("actual_start", "actual_end"):
            if r.get(a) and r[a] > today:
                ctx.add("date_in_future", "Activities", r["_row"], a, r[a],
                        f"An actual date cannot be in the future (today is {today}); use planned dates for what is to come.",
                        severity=ERROR)


# --------------------------------------------------------------------------- meaning across rows

def _total_rows(ctx: _Ctx, kpi_id: str) -> list[dict[str, Any]]:
    return [r for r in ctx.records.get("Actuals", [])
            if r.get("kpi_id") == kpi_id and not r.get("disaggregation") and r.get("period") and r.get("value") is not None]


def _check_percent_scale(ctx: _Ctx) -> None:
    """A percent KPI's actual of 0 < v <= 1 that is the KPI's other figures written as a fraction:
    100 v lies within a factor 2 of the median of its baseline, target and other actuals (> 1).
    Linear in the number of rows: actuals grouped once, one sorted list per KPI."""
    by_kpi: dict[str, list[dict[str, Any]]] = {}
    for r in ctx.records.get("Actuals", []):
        if r.get("value") is not None and r.get("kpi_id"):
            by_kpi.setdefault(r["kpi_id"], []).append(r)
    for k in ctx.records.get("KPIs", []):
        if k.get("measure") != "percent" or not k.get("kpi_id"):
            continue
        rows = by_kpi.get(k["kpi_id"], [])
        if not any(0 < r["value"] <= 1 for r in rows):
            continue
        figures = sorted([r["value"] for r in rows] + [k[f] for f in ("baseline_value", "target_value") if k.get(f) is not None])
        m = len(figures) - 1
        if m < 1:
            continue
        for r in rows:
            v = r["value"]
            if not 0 < v <= 1:
                continue
            i = bisect.bisect_left(figures, v)  # drop one copy of v: the median of the others

            def at(j: int) -> float:
                return figures[j] if j < i else figures[j + 1]

            med = at(m // 2) if m % 2 else (at(m // 2 - 1) + at(m // 2)) / 2
            if med > 1 and 0.5 * med <= 100 * v <= 2 * med:
                ctx.add("percent_scale", "Actuals", r["_row"], "value", v, (
                    f"{k['kpi_id']} is a percent KPI on a 0-100 scale (its other figures are around {med:g}); "
                    f"{v:g} looks like {100 * v:g} % written as a fraction. Write {100 * v:g}."))


def _breakdown_keys(disaggregation: str) -> frozenset[str]:
    return frozenset(p.split("=", 1)[0].strip() for p in disaggregation.split(";") if "=" in p)


def _check_disaggregations(ctx: _Ctx) -> None:
    """Rows of one KPI and quarter broken down by the same keys add up to the total row: the value
    of a ``sum`` KPI, and numerators and denominators of any KPI that reports them."""
    kpis = {r["kpi_id"]: r for r in ctx.records.get("KPIs", []) if r.get("kpi_id")}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in ctx.records.get("Actuals", []):
        if r.get("kpi_id") in kpis and r.get("period"):
            groups.setdefault((r["kpi_id"], r["period"]), []).append(r)
    for (kid, period), rows in groups.items():
        total = next((r for r in rows if not r.get("disaggregation")), None)
        if total is None:
            continue
        by_keys: dict[frozenset[str], list[dict[str, Any]]] = {}
        for r in rows:
            if r.get("disaggregation"):
                by_keys.setdefault(_breakdown_keys(r["disaggregation"]), []).append(r)
        k = kpis[kid]
        for keys, parts in by_keys.items():
            for f in ("value", "numerator", "denominator"):
                if f == "value" and (k.get("aggregation") != "sum" or k.get("measure") == "percent"):
                    continue
                if total.get(f) is None or any(p.get(f) is None for p in parts):
                    continue
                got, want = sum(p[f] for p in parts), total[f]
                if abs(got - want) > max(0.01, 0.001 * abs(want)):
                    ctx.add("disaggregation_mismatch", "Actuals", total["_row"], f, want, (
                        f"{kid} {period}: the rows broken down by {', '.join(sorted(keys))} add up to {got:g} "
                        f"({f}), but the total row says {want:g}. Breakdowns must add up to the total; put the rest "
                        "in an 'unknown' category."))


def _frame_records(previous: Mapping[str, pd.DataFrame] | None, sheet_name: str) -> list[dict[str, Any]]:
    if not previous or previous.get(sheet_name) is None or len(previous[sheet_name]) == 0:
        return []
    df = previous[sheet_name]
    return [{c: (None if (v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))) else v) for c, v in rec.items()}
            for rec in df.astype(object).to_dict("records")]


def _modified_z(values: list[float]) -> Callable[[float], float] | None:
    """Iglewicz-Hoaglin modified z-score 0.6745 (x - median) / MAD; None when MAD is 0."""
    med = statistics.median(values)
    mad = statistics.median(abs(x - med) for x in values)
    if mad == 0:
        return None
    return lambda x: 0.6745 * (x - med) / mad


def _check_history(ctx: _Ctx, previous: Mapping[str, pd.DataFrame] | None) -> None:
    """Checks of a KPI's or a budget line's series: the file's rows plus, with ``previous``, the
    stored rows of quarters the file does not carry. Warnings only for rows new or changed."""
    kpis = [k for k in ctx.records.get("KPIs", []) if k.get("kpi_id")]
    prev_kpis = {r["kpi_id"]: r for r in _frame_records(previous, "KPIs") if r.get("kpi_id")}
    for k in kpis:
        old = prev_kpis.get(k["kpi_id"], {}).get("measure")
        if old and k.get("measure") and k["measure"] != old:
            ctx.add("measure_changed", "KPIs", k["_row"], "measure", k["measure"], (
                f"{k['kpi_id']} has been reported as a {old} until now; its unit of measure cannot change, "
                f"or its history would mix units. Keep '{old}', or give the {k['measure']} indicator a new kpi_id."))

    prev_actuals = [r for r in _frame_records(previous, "Actuals") if not r.get("disaggregation") and r.get("value") is not None]
    stored = {(r["kpi_id"], r["period"]): float(r["value"]) for r in prev_actuals}
    file_periods = {r.get("period") for r in ctx.records.get("Actuals", []) if r.get("period")}

    def is_new(kid: str, r: dict[str, Any]) -> bool:
        return previous is None or stored.get((kid, r["period"])) != r["value"]

    z_max = float(ctx.config.thresholds.get("outlier_z", 3.5))
    min_points = int(ctx.config.thresholds.get("outlier_min_points", 5))
    for k in kpis:
        kid = k["kpi_id"]
        series: dict[str, tuple[float, dict[str, Any] | None]] = {}
        for r in _total_rows(ctx, kid):
            series.setdefault(r["period"], (r["value"], r))
        for r in prev_actuals:
            if r["kpi_id"] == kid and r["period"] not in file_periods and parse_period_ok(r["period"]):
                series.setdefault(r["period"], (float(r["value"]), None))
        ordered = sorted(series.items(), key=lambda item: period_index(item[0]))
        if k.get("aggregation") in ("latest", "max") and k.get("direction") == "increase":
            for (p0, (v0, r0)), (p1, (v1, r1)) in zip(ordered, ordered[1:]):
                if r1 is not None and v1 < v0 - 1e-9 and (is_new(kid, r1) or (r0 is not None and is_new(kid, r0))):
                    ctx.add("value_decreased", "Actuals", r1["_row"], "value", v1, (
                        f"{kid} takes the {k['aggregation']} value and should increase, but {p1} ({v1:g}) is below "
                        f"{p0} ({v0:g}). Check the figure; if it is right, explain the fall in the comment."))
        values = [v for _, (v, _) in ordered]
        if len(values) >= min_points:
            z = _modified_z(values)
            if z is not None:
                for p, (v, r) in ordered:
                    if r is not None and abs(z(v)) > z_max and is_new(kid, r):
                        ctx.add("outlier", "Actuals", r["_row"], "value", v, (
                            f"{kid} {p}: {v:g} is far from its other quarters (median {statistics.median(values):g}, "
                            f"modified z-score {z(v):.1f} beyond {z_max:g}). Check the figure; if it is right, explain it in the comment."))
    _check_budget(ctx, previous)


def parse_period_ok(text: Any) -> bool:
    return isinstance(text, str) and PERIOD_RE.match(text) is not None


def _check_budget(ctx: _Ctx, previous: Mapping[str, pd.DataFrame] | None) -> None:
    """Spending of a (result, funding source, year) above that year's budget line: a warning on the
    file's expenditure row of the latest quarter in that group."""
    def norm(s: Any) -> str:
        return re.sub(r"\s+", " ", str(s or "")).strip().lower()

    budget = {(r["result_id"], norm(r["funding_source"]), int(r["year"])): r for r in ctx.records.get("Budget", [])
              if r.get("result_id") and r.get("funding_source") and r.get("year") is not None and r.get("amount") is not None}
    if not budget:
        return
    file_rows = [r for r in ctx.records.get("Expenditure", [])
                 if r.get("result_id") and r.get("funding_source") and parse_period_ok(r.get("period")) and r.get("amount") is not None]
    file_periods = {r["period"] for r in file_rows}
    stored = {(r["result_id"], r["period"], norm(r["funding_source"])): float(r["amount"])
              for r in _frame_records(previous, "Expenditure")
              if r.get("result_id") and parse_period_ok(r.get("period")) and r.get("amount") is not None}
    groups: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in file_rows:
        g = groups.setdefault((r["result_id"], norm(r["funding_source"]), int(r["period"][:4])), {"spent": 0.0, "rows": [], "new": False})
        g["spent"] += r["amount"]
        g["rows"].append(r)
        g["new"] = g["new"] or previous is None or stored.get((r["result_id"], r["period"], norm(r["funding_source"]))) != r["amount"]
    for (rid, period, src), amount in stored.items():
        key = (rid, src, int(period[:4]))
        if period not in file_periods and key in groups:
            groups[key]["spent"] += amount
    for key, g in groups.items():
        line = budget.get(key)
        if line is None or not g["new"] or g["spent"] <= line["amount"] + 0.005:
            continue
        last = max(g["rows"], key=lambda r: (period_index(r["period"]), r["_row"]))
        ctx.add("over_budget", "Expenditure", last["_row"], "amount", last["amount"], (
            f"Spending on {key[0]} from '{line['funding_source']}' in {key[2]} reaches {g['spent']:,.0f}, over its budget "
            f"of {line['amount']:,.0f} (sheet Budget, row {line['_row']}). Check the figures or revise the budget."))
