"""The resource mobilisation register (sheet Partners): its own checks and the KPIs measured from it.

A row funds something (an output, an initiative of the unit's Results or an activity); its
dates agree with its stage and the reporting quarter; rows of an older workbook without a stage
are read as received, with one warning for all of them. A KPI whose ``measured_from`` names the
register has each reported total checked against the register's figure for the same period
(:func:`register_figure`); a difference beyond :data:`TOLERANCE_SHARE` (or
:data:`TOLERANCE_MIN`) is a warning naming both figures. The rules and worked examples are in
docs/rules.md ("Resource mobilisation register").

Example:
    >>> rows = [
    ...     {"stage": "received", "amount": 100.0, "actual_date": "2026-08-01"},
    ...     {"stage": "agreement_signed", "amount": 50.0, "actual_date": "2026-07-15"},
    ...     {"stage": None, "amount": 30.0, "actual_date": "2026-02-01"},
    ... ]
    >>> register_figure(rows, "register_received", Quarter(2026, 3), cumulative=False)
    (100.0, 1)
    >>> register_figure(rows, "register_secured", Quarter(2026, 3), cumulative=True)
    (180.0, 3)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rbm_utils.core.codes import (
    PARTNER_DATED_STAGES,
    PARTNER_STAGE_IF_BLANK,
    PARTNER_STAGES,
    REGISTER_MEASURE_STAGES,
)
from rbm_utils.core.errors import WARNING
from rbm_utils.core.quarters import Quarter
from rbm_utils.intake.context import Context, Record

#: A reported figure within this share of the register's figure agrees with it ...
TOLERANCE_SHARE = 0.005
#: ... or within this amount of the workbench currency, whichever is larger.
TOLERANCE_MIN = 1.0
#: Stages still open: the next step is still to come, so ``expected_date`` is not before ``actual_date``.
OPEN_STAGES = ("prospect", "proposal_submitted", "pledged", "agreement_signed")
#: At most this many row numbers are listed in one message.
MAX_ROWS_NAMED = 20


def stage_of(row: Mapping[str, Any]) -> str:
    """A row's stage, a blank one read as :data:`~rbm_utils.core.codes.PARTNER_STAGE_IF_BLANK`.

    >>> stage_of({"stage": None}), stage_of({"stage": "pledged"})
    ('received', 'pledged')
    """
    return row.get("stage") or PARTNER_STAGE_IF_BLANK


def moved_back(old: str, new: str) -> bool:
    """Whether a row going from stage ``old`` to ``new`` moves back: to an earlier stage of the
    deal (prospect, proposal_submitted, pledged, agreement_signed, received), out of declined, or
    from received to declined (money received is not declined afterwards).

    >>> moved_back("pledged", "agreement_signed"), moved_back("pledged", "declined")
    (False, False)
    >>> moved_back("agreement_signed", "pledged"), moved_back("declined", "prospect"), moved_back("received", "declined")
    (True, True, True)
    """
    if old == new:
        return False
    if old == "declined":
        return True
    if new == "declined":
        return old == "received"
    return PARTNER_STAGES.index(new) < PARTNER_STAGES.index(old)


def register_figure(
    rows: Iterable[Mapping[str, Any]], measure: str, period: Quarter, cumulative: bool
) -> tuple[float, int]:
    """The register's figure for a KPI ``measured_from`` it, and how many rows make it.

    The amounts of the rows at the stages the measure counts (a blank stage read as received)
    whose ``actual_date`` lies in ``period`` or, ``cumulative``, up to the period's end. Rows
    without a date or an amount are left out.
    """
    stages = REGISTER_MEASURE_STAGES[measure]
    first = "" if cumulative else period.start.isoformat()
    last = period.end.isoformat()
    total, n = 0.0, 0
    for r in rows:
        day, amount = r.get("actual_date"), r.get("amount")
        if day is None or amount is None or stage_of(r) not in stages:
            continue
        if first <= str(day) <= last:
            total += float(amount)
            n += 1
    return total, n


def agrees(reported: float, figure: float) -> bool:
    """Whether a reported figure agrees with the register's: within 0.5 % of the register's
    figure, or 1 unit of currency, whichever is larger.

    >>> agrees(374_000, 374_000), agrees(375_500, 374_000), agrees(376_000, 374_000), agrees(0.5, 0)
    (True, True, False, True)
    """
    return abs(reported - figure) <= max(TOLERANCE_MIN, TOLERANCE_SHARE * abs(figure))


def _rows_named(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_NAMED])
    return shown + (f" and {len(rows) - MAX_ROWS_NAMED} more" if len(rows) > MAX_ROWS_NAMED else "")


def row_label(r: Record) -> str:
    """What a register row funds, in words: 'partner' (output X, initiative Y, activity Z)."""
    funded = (("output", "result_id"), ("initiative", "initiative"), ("activity", "activity_id"))
    what = [f"{w} {r[c]}" for w, c in funded if r.get(c)]
    return f"'{r.get('partner')}'" + (f" ({', '.join(what)})" if what else "")


def check_register(ctx: Context, reporting: str | None) -> None:
    """The register's rows: blank stages (one warning), something funded, a known initiative,
    dates that agree with the stage and the reporting quarter."""
    rows = ctx.records.get("Partners", [])
    blank = [r["_row"] for r in rows if not r.get("stage")]
    if blank:
        has_column = "stage" in ctx.letters.get("Partners", {})
        why = "have no stage" if has_column else "have no stage: the sheet has no 'stage' column (an older workbook)"
        ctx.add(
            "partner_stage_missing",
            "Partners",
            blank[0],
            "stage",
            None,
            (
                f"{len(blank)} row{'s' if len(blank) > 1 else ''} of the partner register {why} "
                f"(row{'s' if len(blank) > 1 else ''} {_rows_named(blank)}): they are read as "
                f"{PARTNER_STAGE_IF_BLANK}. Give each row its stage ({', '.join(PARTNER_STAGES)}) and, "
                "for money received or agreements signed, the date (actual_date)."
            ),
        )
    initiatives = {
        str(r["initiative"]).strip() for r in ctx.records.get("Results", []) if r.get("initiative") is not None
    }
    quarter = Quarter.parse_or_none(reporting)
    end = quarter.end.isoformat() if quarter is not None else None
    for r in rows:
        if not any(r.get(c) for c in ("result_id", "initiative", "activity_id")):
            ctx.add(
                "partner_funds_nothing",
                "Partners",
                r["_row"],
                "result_id",
                None,
                f"{row_label(r)}: say what the contribution funds: an output (result_id), an initiative or an activity.",
            )
        ini = r.get("initiative")
        if ini is not None and "Results" not in ctx.unreadable and str(ini).strip() not in initiatives:
            known = ", ".join(sorted(initiatives)) or "none"
            ctx.add(
                "unknown_reference",
                "Partners",
                r["_row"],
                "initiative",
                ini,
                f"'{ini}' is not an initiative of sheet Results (its initiatives: {known}).",
            )
        _check_dates(ctx, r, reporting, end)


def _check_dates(ctx: Context, r: Record, reporting: str | None, end: str | None) -> None:
    stage, actual, expected = r.get("stage"), r.get("actual_date"), r.get("expected_date")
    if stage in PARTNER_DATED_STAGES and actual is None:
        ctx.add(
            "partner_date_missing",
            "Partners",
            r["_row"],
            "actual_date",
            None,
            f"{row_label(r)} is at stage {stage}: give the date it was reached (actual_date).",
        )
    if actual is not None and end is not None and str(actual) > end:
        ctx.add(
            "partner_date_after_quarter",
            "Partners",
            r["_row"],
            "actual_date",
            actual,
            (
                f"{row_label(r)}: {actual} is after the end of the reporting quarter {reporting} ({end}). "
                "Report the stage reached by then; the later one goes in next quarter's workbook."
            ),
        )
    if stage in OPEN_STAGES and actual is not None and expected is not None and str(expected) < str(actual):
        ctx.add(
            "partner_date_order",
            "Partners",
            r["_row"],
            "expected_date",
            expected,
            (
                f"{row_label(r)} reached stage {stage} on {actual}; the next step cannot be expected before that "
                f"({expected}). Give the date the next step is now expected."
            ),
        )


def check_reconciliation(ctx: Context) -> None:
    """Each total reported for a KPI measured from the register against the register's figure of
    the same period (the quarter's for sum and mean KPIs, up to its end for latest and max): a
    warning naming both figures where they differ beyond the tolerance (:func:`agrees`)."""
    kpis = {k["kpi_id"]: k for k in ctx.records.get("KPIs", []) if k.get("kpi_id") and k.get("measured_from")}
    if not kpis or "Partners" in ctx.unreadable:
        return
    register = ctx.records.get("Partners", [])
    for a in ctx.records.get("Actuals", []):
        k = kpis.get(a.get("kpi_id"))
        period = Quarter.parse_or_none(a.get("period"))
        if k is None or period is None or a.get("disaggregation") or a.get("value") is None:
            continue
        measure = k["measured_from"]
        cumulative = k.get("aggregation") in ("latest", "max")
        figure, n = register_figure(register, measure, period, cumulative)
        if agrees(float(a["value"]), figure):
            continue
        what = "received" if measure == "register_received" else "secured (agreement signed or received)"
        when = f"by the end of {period}" if cumulative else f"in {period}"
        ctx.add(
            "register_mismatch",
            "Actuals",
            a["_row"],
            "value",
            a["value"],
            (
                f"{k['kpi_id']} is measured from the partner register: reported {a['value']:,.0f}; the register "
                f"gives {figure:,.0f} {what} {when} ({n} row{'' if n == 1 else 's'} of sheet Partners). "
                "Correct the figure or the register."
            ),
            severity=WARNING,
        )
