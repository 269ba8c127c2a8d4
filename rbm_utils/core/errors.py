"""Problems found in an officer's file, reported all at once as a table.

Every problem names the file, sheet, the Excel row the officer sees, the column letter
and header, the offending value and a plain-language message.

Example:
    >>> p = Problem("not_a_number", "error", "AFR.xlsx", "KPIs", 5, "H", "baseline_value", "ten", "...")
    >>> problems_frame([p]).loc[0, "where"]
    'KPIs!H5'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

ERROR = "error"
WARNING = "warning"

#: Every problem code, its default severity and what it means. docs/ingest.md lists them.
CODES: dict[str, tuple[str, str]] = {
    # container
    "file_not_found": (ERROR, "The file or folder does not exist."),
    "file_too_large": (ERROR, "The file is larger than the ingest limit."),
    "unsupported_format": (ERROR, "Not an .xlsx workbook nor a folder of CSV files (judged by content, not name)."),
    "corrupt_file": (
        ERROR,
        "The workbook cannot be opened: damaged (not a readable zip, a CRC error) or not a real .xlsx.",
    ),
    "encrypted_file": (
        ERROR,
        "The workbook is password-protected (an encrypted OLE container, or encrypted zip parts); remove the password.",
    ),
    "unsafe_file": (
        ERROR,
        "A decompression bomb (too many parts, too large unpacked, too high a ratio), a DOCTYPE or entity declaration anywhere in an XML part, or XML not in UTF-8; in a CSV folder, a link, a file that is not a regular file or lies outside the folder; refused unopened.",
    ),
    "sheet_too_large": (
        ERROR,
        "A sheet declares or uses more rows or columns than the ingest limit, or the workbook holds over 500,000 cells.",
    ),
    "bad_encoding": (
        ERROR,
        "A CSV file is neither UTF-8 (with or without BOM) nor UTF-16 with a BOM; cp1252 is refused, naming the byte and row, never guessed.",
    ),
    "bad_csv": (ERROR, "A CSV file cannot be parsed: a quote left open, a stray quote, or a value over 128 KB."),
    # structure
    "missing_sheet": (ERROR, "A required sheet is absent."),
    "duplicate_sheet": (
        ERROR,
        "Two sheets (or CSV files) have the same name, or the same but for case or spaces; only the first is read.",
    ),
    "header_not_on_row_1": (ERROR, "The column names are on a later row (a title above them); they belong on row 1."),
    "unknown_sheet": (WARNING, "A sheet that is not part of the contract; ignored."),
    "missing_column": (ERROR, "A required column is absent from the header row."),
    "unknown_column": (WARNING, "A column that is not part of the contract; ignored."),
    "duplicate_column": (ERROR, "The same header appears twice."),
    "blank_header": (ERROR, "A column holds data but has no header."),
    "merged_cells": (ERROR, "Merged cells hide values; unmerge and fill every cell."),
    "ragged_row": (ERROR, "A CSV row has more fields than the header."),
    "hidden_data": (WARNING, "A hidden row or column holds data; it is read like any other."),
    "total_row": (ERROR, "A 'Total' row: totals are computed by the workbench, remove it."),
    # cell types
    "required_value": (ERROR, "A required cell is empty."),
    "not_a_number": (ERROR, "Expected a number."),
    "not_an_integer": (ERROR, "Expected a whole number."),
    "not_a_date": (ERROR, "Expected a date (YYYY-MM-DD)."),
    "not_a_period": (ERROR, "Expected a quarter written YYYY-Qn, e.g. 2026-Q3."),
    "not_a_year": (ERROR, "Expected a four-digit year."),
    "bad_id": (ERROR, "Ids use letters, digits and _ . : / - only, no spaces."),
    "bad_disaggregation": (ERROR, "Breakdowns are key=value pairs separated by ';'."),
    "formula_error": (ERROR, "The cell holds a spreadsheet error (#REF!, #DIV/0!, #N/A ...)."),
    "formula_no_value": (ERROR, "The cell holds a formula with no saved value; open and save the file in Excel."),
    "placeholder": (ERROR, "A placeholder (N/A, TBD, -) instead of a value; leave the cell empty or give the value."),
    "unknown_code": (ERROR, "Not one of the allowed values of this column."),
    "boolean_value": (
        ERROR,
        "A yes/no value (TRUE/FALSE, yes, no, oui, ✓ ...) where a number, code, id, date or quarter is expected.",
    ),
    # unit sheet
    "unknown_unit": (
        ERROR,
        "The unit code is not listed in parameters/workbench.yaml, or is not a unit code at all (path-like, over 16 characters).",
    ),
    "unit_mismatch": (ERROR, "The unit's name or type does not match parameters/workbench.yaml."),
    # the Action Plan (action_plan: of parameters/workbench.yaml)
    "unknown_programme": (
        ERROR,
        "Results.programme is not a programme code of action_plan in parameters/workbench.yaml (the nearest code is suggested).",
    ),
    "unknown_theme": (
        ERROR,
        "Results.theme is not a theme code of action_plan in parameters/workbench.yaml (the nearest code is suggested).",
    ),
    "programme_theme_mismatch": (
        WARNING,
        "Results.programme is not the programme the result's theme is filed under in parameters/workbench.yaml.",
    ),
    # references
    "unknown_reference": (ERROR, "Points at an id that is not defined in the workbook."),
    "not_an_output": (ERROR, "Budget and expenditure must point at an output-level result."),
    "foreign_region": (
        ERROR,
        "A regional office's budget or expenditure line names another region; leave region blank or give the office's own code.",
    ),
    "cycle": (ERROR, "The results chain loops back on itself."),
    # ranges
    "out_of_range": (ERROR, "The value is outside the allowed range."),
    "negative_value": (ERROR, "Counts and money cannot be negative."),
    "percent_over_100": (ERROR, "A percent is between 0 and 100."),
    "bad_denominator": (ERROR, "A denominator must be above zero."),
    "ratio_mismatch": (WARNING, "value differs from numerator / denominator x 100."),
    "percent_scale": (
        ERROR,
        "A percent KPI's value between 0 and 1 whose x100 matches the KPI's other figures (0.45 among 45s).",
    ),
    "disaggregation_mismatch": (
        ERROR,
        "Rows of a KPI and quarter broken down by the same keys do not add up to the total row (value of a sum KPI; numerators, denominators).",
    ),
    # consistency
    "duplicate_key": (ERROR, "The same key appears on more than one row."),
    "future_period": (ERROR, "The period is after the reporting quarter."),
    "before_first_quarter": (ERROR, "The period is before the workbench's first quarter."),
    "period_order": (ERROR, "The end comes before the start."),
    "incomplete_test": (ERROR, "The assumption's test lacks what it needs (KPI, reference KPI, threshold or verdict)."),
    "smart_incomplete": (
        ERROR,
        "The KPI is not SMART: baseline, target, periods, data source and responsible are all needed.",
    ),
    "missing_evidence": (WARNING, "A reported value has no evidence."),
    "date_in_future": (ERROR, "An actual date lies in the future."),
    # the partner register (sheet Partners) and the KPIs measured from it
    "partner_stage_missing": (
        WARNING,
        "Rows of the partner register without a stage (an older workbook) are read as received; one warning names them all.",
    ),
    "partner_funds_nothing": (ERROR, "A partner's contribution names no output, initiative or activity it funds."),
    "partner_date_missing": (ERROR, "A contribution at stage agreement_signed or received has no actual_date."),
    "partner_date_after_quarter": (ERROR, "A contribution's actual_date is after the end of the reporting quarter."),
    "partner_date_order": (
        ERROR,
        "A contribution at an open stage expects its next step (expected_date) before it reached its stage (actual_date).",
    ),
    "register_mismatch": (
        WARNING,
        "A KPI measured from the partner register reports a total that differs from the register's figure (beyond 0.5 %, or 1).",
    ),
    # against history (the store's state of the unit)
    "measure_changed": (ERROR, "A KPI's unit of measure differs from the one already in the store."),
    "value_decreased": (WARNING, "A latest/max KPI that should increase falls from one reported quarter to the next."),
    "outlier": (
        WARNING,
        "A KPI's quarterly value with a modified z-score over 3.5 (0.6745 (x - median) / MAD, at least 5 quarters, MAD above 0).",
    ),
    "over_budget": (
        WARNING,
        "Spending of an output from a funding source in a year exceeds that year's budget (a cluster's lines of every region added up).",
    ),
    "partner_stage_moved_back": (
        WARNING,
        "A partner's contribution moves back since the stored register (to an earlier stage, out of declined, or from received to declined) without a new note.",
    ),
    "approved_locked": (ERROR, "The unit-quarter was approved; changes to it are refused."),
    # review decisions (sheet Decisions)
    "decision_unknown_concern": (
        ERROR,
        "The decision concerns an id that the workbook does not define for its kind (concerns_kind).",
    ),
    "decision_due_before_meeting": (ERROR, "The decision is due before the quarter of the meeting that took it."),
    "decision_meeting_after_report": (ERROR, "The meeting's quarter is after the reporting quarter."),
    "decision_closed_without_note": (
        ERROR,
        "A decision marked done or dropped needs a follow-up note: what was done, or why it was dropped.",
    ),
    "decision_unknown_unit": (
        ERROR,
        "The other unit of a joint decision is not another unit listed in parameters/workbench.yaml.",
    ),
    # delegated authority (changes of the framework against the last approved quarter)
    "change_without_decision": (WARNING, "A change of the framework with no decision recorded for it."),
    "change_needs_bureau": (
        WARNING,
        "A change beyond the unit approver's authority; it will stay pending until the bureau approves.",
    ),
    # hostile workbooks: the reader and the shape of a file (issue 18, part A)
    "duplicate_unit_row": (
        ERROR,
        "A field of the Unit sheet is given on more than one row; the Unit sheet holds one value per field.",
    ),
    "hidden_sheet": (
        ERROR,
        "A sheet the workbook contract reads is hidden or very hidden; unhide it (or delete it) and save again.",
    ),
    "excel_escape": (
        WARNING,
        "Text held Excel's escape of a character (_x000D_ for a carriage return ...); it is read as that character.",
    ),
    "csv_ambiguous_format": (
        ERROR,
        "A CSV file's separator or decimal mark cannot be told for sure (decimal commas and decimal points mixed, or only numbers like 1,250 or 1.250 in a ';' or tab file).",
    ),
    # hostile values, quarters and lost updates (issue 18, part B)
    "invisible_characters": (
        WARNING,
        "Zero-width or no-break spaces, joiners or a BOM in an id, code, quarter or key; they were removed.",
    ),
    "non_ascii_digits": (
        WARNING,
        "Digits of another script (Arabic-Indic, full-width ...) in a number, date or quarter; read as 0-9.",
    ),
    "disaggregation_case": (
        WARNING,
        "A breakdown key written with capitals; keys are compared in lower case and stored so.",
    ),
    "quarter_in_future": (
        ERROR,
        "The reporting quarter is after the current quarter (of the settings, or of today if later).",
    ),
    "stale_submission": (
        ERROR,
        "The workbook was made from an older submission than the store's latest one by someone else; start from the store again, or --force-over.",
    ),
}


@dataclass(frozen=True)
class Problem:
    """One problem in an input file. ``row`` is the Excel row number (1-based; 0 = whole sheet)."""

    code: str
    severity: str
    file: str
    sheet: str
    row: int
    column: str  # Excel column letter, "" for a whole row or sheet
    header: str
    value: Any
    message: str

    @property
    def where(self) -> str:
        if not self.sheet:
            return self.file
        if self.row and self.column:
            return f"{self.sheet}!{self.column}{self.row}"
        if self.row:
            return f"{self.sheet}!{self.row}:{self.row}"
        if self.column:
            return f"{self.sheet}!{self.column}:{self.column}"
        return self.sheet


PROBLEM_COLUMNS = ["code", "severity", "file", "sheet", "row", "column", "header", "value", "message", "where"]


def problem(
    code: str,
    file: str,
    sheet: str = "",
    row: int = 0,
    column: str = "",
    header: str = "",
    value: Any = None,
    message: str = "",
    severity: str | None = None,
) -> Problem:
    """Build a :class:`Problem`, taking the default severity of ``code``."""
    default_sev, meaning = CODES[code]
    return Problem(
        code, severity or default_sev, file, sheet, int(row or 0), column, header, _show(value), message or meaning
    )


def _show(value: Any) -> Any:
    if value is None:
        return ""
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def problems_frame(problems: Iterable[Problem]) -> pd.DataFrame:
    """Problems as a table sorted by sheet, row and column, errors and warnings together."""
    rows = [{**asdict(p), "where": p.where} for p in problems]
    df = pd.DataFrame(rows, columns=PROBLEM_COLUMNS)
    if df.empty:
        return df
    df["_col"] = df["column"].map(lambda c: (len(c), c))
    df = df.sort_values(["file", "sheet", "row", "_col", "code"], kind="stable").drop(columns="_col")
    return df.reset_index(drop=True)


def has_errors(problems: Iterable[Problem]) -> bool:
    return any(p.severity == ERROR for p in problems)
