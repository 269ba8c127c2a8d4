"""The IATI ruleset checks the workbench applies to an IATI activity file's results and dates.

The IATI Standard's ruleset (beyond what the XSD can say) asks that dates make sense. These are
the checks the workbench runs, each with a code; docs/exports.md lists them with an example:

- ``period_order``: a result period ends after it starts.
- ``actual_not_future``: an actual value is not for a period that starts after the reporting date.
- ``baseline_before_periods``: an indicator's baseline year is not after the year its first period starts.
- ``identifier_prefix``: the activity's iati-identifier starts with the reporting organisation's ref.
- ``budget_period``: a budget period ends after it starts and lasts at most a year.
- ``transaction_not_future``: a transaction is not dated after the reporting date.
- ``activity_date_not_future``: an actual start or end date of the activity is not after the reporting date.

``rbm export iati`` refuses to write a file that breaks any of them; ``rbm import iati`` keeps
another organisation's results but writes each broken rule into the row's ``warnings``.

Example:
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"activity_id": ["A", "A"], "indicator_key": [0, 0],
    ...     "period_start": ["2026-01-01", "2026-10-01"], "period_end": ["2026-03-31", "2026-12-31"],
    ...     "actual": [3.0, 4.0], "baseline_year": [2025, 2025]})
    >>> row_rule_warnings(rows, {"A": dt.date(2026, 9, 30)}).tolist()
    ['', 'actual_not_future: an actual for the period starting 2026-10-01, after the reporting date 2026-09-30']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

#: Every check, by code, in words (docs/exports.md explains each with an example).
RULES: dict[str, str] = {
    "period_order": "a result period ends after it starts",
    "actual_not_future": "an actual value is not for a period that starts after the reporting date",
    "baseline_before_periods": "the baseline year is not after the year the indicator's first period starts",
    "identifier_prefix": "the iati-identifier starts with the reporting organisation's ref",
    "budget_period": "a budget period ends after it starts and lasts at most a year",
    "transaction_not_future": "a transaction is not dated after the reporting date",
    "activity_date_not_future": "an actual start or end date is not after the reporting date",
}


@dataclass
class ActivityFacts:
    """What the activity-level checks need of one ``iati-activity`` (dates as ISO text)."""

    activity_id: str
    reporting_org_ref: str = ""
    reporting_date: dt.date | None = None
    budgets: list[tuple[str, str]] = field(default_factory=list)
    transactions: list[str] = field(default_factory=list)
    #: (IATI ActivityDateType code, ISO date); codes 2 and 4 are actual start and end.
    dates: list[tuple[str, str]] = field(default_factory=list)


def iso_date(text: object) -> dt.date | None:
    """An ISO date (the first ten characters of a date or dateTime), or None.

    >>> iso_date("2026-09-30T23:59:59Z"), iso_date("soon")
    (datetime.date(2026, 9, 30), None)
    """
    if not isinstance(text, str):
        return None
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def activity_problems(facts: ActivityFacts) -> list[str]:
    """The activity-level rules ``facts`` breaks, one sentence each (``code: what``).

    >>> activity_problems(ActivityFacts("XM-1-A", "XM-2", dt.date(2026, 9, 30), budgets=[("2026-01-01", "2027-06-30")]))
    ['identifier_prefix: XM-1-A does not start with XM-2', 'budget_period: 2026-01-01 to 2027-06-30 is over a year']
    """
    out = []
    if facts.reporting_org_ref and not facts.activity_id.startswith(facts.reporting_org_ref):
        out.append(f"identifier_prefix: {facts.activity_id} does not start with {facts.reporting_org_ref}")
    for start, end in facts.budgets:
        s, e = iso_date(start), iso_date(end)
        if s is None or e is None or e <= s:
            out.append(f"budget_period: the budget period {start} to {end} does not end after it starts")
        elif e > _plus_year(s):
            out.append(f"budget_period: {start} to {end} is over a year")
    day = facts.reporting_date
    if day is not None:
        out += [
            f"transaction_not_future: a transaction dated {t}, after the reporting date {day}"
            for t in facts.transactions
            if (d := iso_date(t)) is not None and d > day
        ]
        out += [
            f"activity_date_not_future: an actual {'start' if kind == '2' else 'end'} date {d0}, "
            f"after the reporting date {day}"
            for kind, d0 in facts.dates
            if kind in ("2", "4") and (d := iso_date(d0)) is not None and d > day
        ]
    return out


def _plus_year(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def row_rule_warnings(rows: pd.DataFrame, reporting_dates: Mapping[str, dt.date | None]) -> pd.Series:
    """Per row of a results table, the result rules it breaks (``"; "``-joined, ``""`` if none).

    ``rows`` needs activity_id, indicator_key (one value per indicator), period_start,
    period_end, actual and baseline_year; ``reporting_dates`` maps an activity to its reporting
    date (no date: ``actual_not_future`` is not checked).
    """
    if rows.empty:
        return pd.Series([], dtype=object, index=rows.index)
    start = pd.to_datetime(rows["period_start"], errors="coerce", format="ISO8601")
    end = pd.to_datetime(rows["period_end"], errors="coerce", format="ISO8601")
    has_period = rows["period_start"].notna() | rows["period_end"].notna()
    bad_order = has_period & ~(end > start)
    report = pd.to_datetime(rows["activity_id"].map(lambda a: reporting_dates.get(a)), errors="coerce")
    future = rows["actual"].notna() & start.notna() & report.notna() & (start > report)
    first_year = start.dt.year.groupby([rows["activity_id"], rows["indicator_key"]]).transform("min")
    base = pd.to_numeric(rows["baseline_year"], errors="coerce")
    late_base = base.notna() & first_year.notna() & (base > first_year)
    out = []
    for i in range(len(rows)):
        found = []
        if bad_order.iat[i]:
            found.append(
                f"period_order: the period {rows['period_start'].iat[i]} to {rows['period_end'].iat[i]} "
                "does not end after it starts"
            )
        if future.iat[i]:
            found.append(
                f"actual_not_future: an actual for the period starting {rows['period_start'].iat[i]}, "
                f"after the reporting date {report.iat[i].date()}"
            )
        if late_base.iat[i]:
            found.append(
                f"baseline_before_periods: baseline year {int(base.iat[i])} is after the first period's year "
                f"{int(first_year.iat[i])}"
            )
        out.append("; ".join(found))
    return pd.Series(out, index=rows.index, dtype=object)
