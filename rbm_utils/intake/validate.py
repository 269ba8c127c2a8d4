"""Validate a unit workbook against the contract and report every problem at once.

Checks structure (sheets, columns), types (numbers, dates, periods ``YYYY-Qn``), code lists,
references between sheets, ranges, duplicates, periods against the reporting quarter, SMART
completeness of every KPI, the needs of every assumption test and the review decisions. Each
problem names file, sheet, Excel row, column letter and header, the value and a plain-language
message.
Everything derives from :mod:`rbm_utils.core.schema`.

This module runs the steps in order: :mod:`~rbm_utils.intake.records` (sheets to typed records,
cell by cell with :mod:`~rbm_utils.intake.cells`), :mod:`~rbm_utils.intake.checks` (across rows
and sheets), :mod:`~rbm_utils.intake.register` (the partner register and the KPIs measured from
it), :mod:`~rbm_utils.intake.decision_checks` (the Decisions sheet) and
:mod:`~rbm_utils.intake.history` (against the unit's stored history).

Example:
    >>> from rbm_utils.core.config import load_config
    >>> parsed = parse_source("data/sample/AFR.xlsx", load_config())   # doctest: +SKIP
    >>> parsed.ok, len(parsed.frames["KPIs"])                          # doctest: +SKIP
    (True, 14)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import pandas as pd

from rbm_utils.core.config import Config
from rbm_utils.core.errors import ERROR, WARNING, Problem, problems_frame
from rbm_utils.core.schema import HELPER_SHEETS, SHEETS, conform
from rbm_utils.intake import checks, register
from rbm_utils.intake.context import Context
from rbm_utils.intake.decision_checks import check_decisions
from rbm_utils.intake.history import check_history
from rbm_utils.intake.plan_checks import check_action_plan
from rbm_utils.intake.quarter_limit import check_reporting_quarter
from rbm_utils.intake.raw import RawWorkbook
from rbm_utils.intake.records import read_keyvalue, read_table
from rbm_utils.intake.workbook import read_source

#: The store's state of a unit (as :meth:`rbm_utils.store.database.Store.state` returns it), or a function
#: giving it for a unit code: the history that measure, decrease, outlier and budget checks compare with.
Previous = Mapping[str, pd.DataFrame] | Callable[[str], Mapping[str, pd.DataFrame] | None] | None


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


def validate_raw(raw: RawWorkbook, config: Config, today: dt.date | None = None, previous: Previous = None) -> Parsed:
    """Validate what :func:`rbm_utils.intake.workbook.read_source` read.

    With ``previous`` (the unit's stored state, or a function of the unit code returning it) a
    KPI whose measure differs from the stored one is an error (``measure_changed``), and the
    decrease, outlier and over-budget warnings look at the stored quarters the file does not
    carry too; rows identical to stored ones are not warned about again. Given as a function,
    it also gives the other unit's stored state, where a joint decision's concern may be defined.
    """
    ctx = Context(raw, config, today)
    parsed = Parsed(raw.file, raw.path, raw.format, raw.sha256)
    ctx.problems.extend(raw.problems)
    if any(p.severity == ERROR for p in raw.problems) and not raw.sheets:
        parsed.problems = ctx.problems
        return parsed
    for raw_sheet in raw.sheets.values():
        ctx.problems.extend(raw_sheet.problems)

    unit = _read_sheets(ctx, raw, _contract_sheets(ctx, raw))
    checks.check_unit(ctx, unit)
    check_reporting_quarter(ctx, unit)
    checks.check_duplicates(ctx)
    checks.check_references(ctx)
    check_action_plan(ctx)
    checks.check_cycles(ctx)
    checks.check_kpis(ctx)
    checks.check_periods(ctx, unit.get("reporting_quarter"))
    checks.check_assumptions(ctx)
    checks.check_activities(ctx)
    checks.check_money_regions(ctx, unit)
    checks.check_percent_scale(ctx)
    checks.check_disaggregations(ctx)
    register.check_register(ctx, unit.get("reporting_quarter"))
    register.check_reconciliation(ctx)
    check_decisions(ctx, unit, previous if callable(previous) else None)
    code = unit.get("unit_code")
    prev = None
    if previous is not None and code and code in config.units:
        prev = previous(code) if callable(previous) else previous
    check_history(ctx, prev)

    parsed.unit = unit
    for sh in SHEETS:
        if sh.kind != "table":
            continue
        recs = ctx.records.get(sh.name, [])
        parsed.frames[sh.name] = (
            conform(sh.name, _frame(sh.column_names, recs)) if recs else conform(sh.name, pd.DataFrame())
        )
        parsed.rows[sh.name] = [r["_row"] for r in recs]
    parsed.problems = ctx.problems
    return parsed


def _frame(columns: Sequence[str], recs: list[dict[str, Any]]) -> pd.DataFrame:
    """The records as a frame of object columns (conform types them), built column by column.

    >>> _frame(["a", "b"], [{"_row": 2, "a": "x", "b": 1.5}]).to_dict("list")
    {'a': ['x'], 'b': [1.5]}
    """
    get = itemgetter(*columns)
    try:
        rows = [get(r) for r in recs] if len(columns) > 1 else [(get(r),) for r in recs]
    except KeyError:  # a record without some column: None there
        rows = [tuple(r.get(c) for c in columns) for r in recs]
    return pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in zip(columns, zip(*rows))})


def _contract_sheets(ctx: Context, raw: RawWorkbook) -> dict[str, str]:
    """The workbook's sheet name of each contract sheet, by its lower-case name. Sheets named
    alike but for case or spaces and sheets outside the contract are reported."""
    by_lower: dict[str, str] = {}
    for name in raw.sheets:
        key = name.strip().lower()
        if key in by_lower:
            ctx.add(
                "duplicate_sheet",
                name,
                message=(
                    f"Sheets '{by_lower[key]}' and '{name}' have the same name but for case or spaces; "
                    f"only '{by_lower[key]}' is read. Keep one."
                ),
            )
            continue
        by_lower[key] = name
    for name, rs in raw.sheets.items():
        if name in HELPER_SHEETS or any(s.name.lower() == name.strip().lower() for s in SHEETS):
            continue
        if rs.rows or any(h is not None for h in rs.headers):
            ctx.add(
                "unknown_sheet", name, message=f"Sheet '{name}' is not part of the workbook contract and is ignored."
            )
    return by_lower


def _read_sheets(ctx: Context, raw: RawWorkbook, by_lower: Mapping[str, str]) -> dict[str, Any]:
    """Every contract sheet into ``ctx.records``; returns the Unit sheet's fields."""
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
        if sh.kind == "keyvalue":
            unit = read_keyvalue(ctx, sh, rs)
        else:
            ctx.records[sh.name] = read_table(ctx, sh, rs)
    return unit
