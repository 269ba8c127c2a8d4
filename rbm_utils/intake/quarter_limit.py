"""The latest quarter a workbook may report on: the settings' current quarter, or the quarter
containing today when that is later. A workbook for a later quarter is refused
(``quarter_in_future``): a far-future quarter could otherwise be stored, approved and locked,
and no later workbook could ever change it.

Example:
    >>> import datetime as dt
    >>> str(latest_reportable("2026-Q3", dt.date(2026, 11, 30))), str(latest_reportable("2026-Q3", dt.date(2026, 2, 1)))
    ('2026-Q4', '2026-Q3')
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rbm_utils.core.errors import problem
from rbm_utils.core.quarters import Quarter
from rbm_utils.intake.context import Context


def latest_reportable(current_quarter: str, today: dt.date) -> Quarter:
    """The later of the settings' current quarter and the quarter containing ``today``."""
    return max(Quarter.parse(current_quarter), Quarter.of_date(today))


def check_reporting_quarter(ctx: Context, unit: dict[str, Any]) -> None:
    """``quarter_in_future`` at the Unit sheet's reporting_quarter when it is after :func:`latest_reportable`."""
    q = Quarter.parse_or_none(unit.get("reporting_quarter"))
    if q is None:
        return
    limit = latest_reportable(ctx.config.current_quarter, ctx.today)
    if q <= limit:
        return
    ctx.problems.append(
        problem(
            "quarter_in_future",
            ctx.file,
            "Unit",
            ctx.unit_rows.get("reporting_quarter", 0),
            "B",
            "reporting_quarter",
            str(q),
            f"The workbook reports on {q}, after the current quarter {limit}: a quarter can be reported "
            f"once it has begun. Check the year and the quarter number.",
        )
    )
