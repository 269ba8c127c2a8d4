"""Checks of a workbook against the unit's history in the store.

A KPI keeps its unit of measure; a KPI that should only rise does not fall; a quarter's figure
far from the KPI's other quarters is an outlier; spending does not pass the year's budget line;
a partner's contribution moves forward through the stages of the register, or the move back is
explained in its note.
The series are the file's rows plus, given the unit's stored state, the stored quarters the
file does not carry. Warnings are only raised for rows that are new or changed.

Example:
    >>> z = modified_z([10.0, 11.0, 12.0, 11.0, 40.0])
    >>> round(z(40.0), 1)
    19.6
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from rbm_utils.core.quarters import Quarter, is_quarter
from rbm_utils.core.schema import sheet
from rbm_utils.core.text import is_missing
from rbm_utils.intake.context import Context, Record
from rbm_utils.intake.register import moved_back, row_label


def frame_records(previous: Mapping[str, pd.DataFrame] | None, sheet_name: str) -> list[Record]:
    """A stored sheet's rows as dicts, missing values as None ([] without the sheet)."""
    if not previous or previous.get(sheet_name) is None or len(previous[sheet_name]) == 0:
        return []
    df = previous[sheet_name]
    return [{c: (None if is_missing(v) else v) for c, v in rec.items()} for rec in df.astype(object).to_dict("records")]


def modified_z(values: list[float]) -> Callable[[float], float] | None:
    """Iglewicz-Hoaglin modified z-score 0.6745 (x - median) / MAD; None when MAD is 0."""
    med = statistics.median(values)
    mad = statistics.median(abs(x - med) for x in values)
    if mad == 0:
        return None
    return lambda x: 0.6745 * (x - med) / mad


def _total_rows(ctx: Context) -> dict[str, list[Record]]:
    """The total rows of Actuals with a period and a value, by KPI (one pass over the rows)."""
    out: dict[str, list[Record]] = {}
    for r in ctx.records.get("Actuals", []):
        kid = r.get("kpi_id")
        if isinstance(kid, str) and not r.get("disaggregation") and r.get("period") and r.get("value") is not None:
            out.setdefault(kid, []).append(r)
    return out


def check_history(ctx: Context, previous: Mapping[str, pd.DataFrame] | None) -> None:
    """Checks of a KPI's or a budget line's series: the file's rows plus, with ``previous``, the
    stored rows of quarters the file does not carry. Warnings only for rows new or changed."""
    kpis = [k for k in ctx.records.get("KPIs", []) if k.get("kpi_id")]
    prev_kpis = {r["kpi_id"]: r for r in frame_records(previous, "KPIs") if r.get("kpi_id")}
    for k in kpis:
        old = prev_kpis.get(k["kpi_id"], {}).get("measure")
        if old and k.get("measure") and k["measure"] != old:
            ctx.add(
                "measure_changed",
                "KPIs",
                k["_row"],
                "measure",
                k["measure"],
                (
                    f"{k['kpi_id']} has been reported as a {old} until now; its unit of measure cannot change, "
                    f"or its history would mix units. Keep '{old}', or give the {k['measure']} indicator a new kpi_id."
                ),
            )

    prev_actuals = [
        r for r in frame_records(previous, "Actuals") if not r.get("disaggregation") and r.get("value") is not None
    ]
    stored = {(r["kpi_id"], r["period"]): float(r["value"]) for r in prev_actuals}
    file_periods = {r.get("period") for r in ctx.records.get("Actuals", []) if r.get("period")}

    def is_new(kid: str, r: Record) -> bool:
        return previous is None or stored.get((kid, r["period"])) != r["value"]

    z_max = float(ctx.config.thresholds.get("outlier_z", 3.5))
    min_points = int(ctx.config.thresholds.get("outlier_min_points", 5))
    totals = _total_rows(ctx)
    for k in kpis:
        kid = k["kpi_id"]
        series: dict[str, tuple[float, Record | None]] = {}
        for r in totals.get(kid, []):
            series.setdefault(r["period"], (r["value"], r))
        for r in prev_actuals:
            if r["kpi_id"] == kid and r["period"] not in file_periods and is_quarter(r["period"]):
                series.setdefault(r["period"], (float(r["value"]), None))
        ordered = sorted(series.items(), key=lambda item: Quarter.parse(item[0]))
        if k.get("aggregation") in ("latest", "max") and k.get("direction") == "increase":
            for (p0, (v0, r0)), (p1, (v1, r1)) in zip(ordered, ordered[1:]):
                if r1 is not None and v1 < v0 - 1e-9 and (is_new(kid, r1) or (r0 is not None and is_new(kid, r0))):
                    ctx.add(
                        "value_decreased",
                        "Actuals",
                        r1["_row"],
                        "value",
                        v1,
                        (
                            f"{kid} takes the {k['aggregation']} value and should increase, but {p1} ({v1:g}) is below "
                            f"{p0} ({v0:g}). Check the figure; if it is right, explain the fall in the comment."
                        ),
                    )
        values = [v for _, (v, _) in ordered]
        if len(values) >= min_points:
            z = modified_z(values)
            if z is not None:
                for p, (v, rec) in ordered:
                    if rec is not None and abs(z(v)) > z_max and is_new(kid, rec):
                        ctx.add(
                            "outlier",
                            "Actuals",
                            rec["_row"],
                            "value",
                            v,
                            (
                                f"{kid} {p}: {v:g} is far from its other quarters (median {statistics.median(values):g}, "
                                f"modified z-score {z(v):.1f} beyond {z_max:g}). Check the figure; if it is right, explain it in the comment."
                            ),
                        )
    check_budget(ctx, previous)
    check_stage_moves(ctx, previous)


def _norm_source(s: Any) -> str:
    return re.sub(r"\s+", " ", str(s or "")).strip().lower()


def check_budget(ctx: Context, previous: Mapping[str, pd.DataFrame] | None) -> None:
    """Spending of a (result, funding source, year) above that year's budget: a warning on the
    file's expenditure row of the latest quarter in that group. A cluster's lines by region count
    together (the budget and spending of every region and of no region added up)."""
    norm = _norm_source
    budget: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in ctx.records.get("Budget", []):
        if r.get("result_id") and r.get("funding_source") and r.get("year") is not None and r.get("amount") is not None:
            entry = budget.setdefault(
                (r["result_id"], norm(r["funding_source"]), int(r["year"])),
                {"amount": 0.0, "rows": [], "funding_source": r["funding_source"]},
            )
            entry["amount"] += r["amount"]
            entry["rows"].append(r["_row"])
    if not budget:
        return
    file_rows = [
        r
        for r in ctx.records.get("Expenditure", [])
        if r.get("result_id")
        and r.get("funding_source")
        and is_quarter(r.get("period"))
        and r.get("amount") is not None
    ]
    file_periods = {r["period"] for r in file_rows}

    def line_key(r: Mapping[str, Any]) -> tuple[str, str, str, str]:
        region = r.get("region")
        return (r["result_id"], r["period"], norm(r["funding_source"]), "" if is_missing(region) else str(region))

    stored = {
        line_key(r): float(r["amount"])
        for r in frame_records(previous, "Expenditure")
        if r.get("result_id") and is_quarter(r.get("period")) and r.get("amount") is not None
    }
    groups: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in file_rows:
        year = Quarter.parse(r["period"]).year
        g = groups.setdefault(
            (r["result_id"], norm(r["funding_source"]), year), {"spent": 0.0, "rows": [], "new": False}
        )
        g["spent"] += r["amount"]
        g["rows"].append(r)
        g["new"] = g["new"] or previous is None or stored.get(line_key(r)) != r["amount"]
    for (rid, period, src, _), amount in stored.items():
        key = (rid, src, Quarter.parse(period).year)
        if period not in file_periods and key in groups:
            groups[key]["spent"] += amount
    for key, g in groups.items():
        line = budget.get(key)
        if line is None or not g["new"] or g["spent"] <= line["amount"] + 0.005:
            continue
        last = max(g["rows"], key=lambda r: (Quarter.parse(r["period"]), r["_row"]))
        rows = ", ".join(str(n) for n in line["rows"])
        ctx.add(
            "over_budget",
            "Expenditure",
            last["_row"],
            "amount",
            last["amount"],
            (
                f"Spending on {key[0]} from '{line['funding_source']}' in {key[2]} reaches {g['spent']:,.0f}, over its budget "
                f"of {line['amount']:,.0f} (sheet Budget, row{'s' if len(line['rows']) > 1 else ''} {rows}). Check the "
                "figures or revise the budget."
            ),
        )


def _register_key(r: Record) -> tuple:
    return tuple("" if r.get(c) is None else str(r[c]).strip() for c in sheet("Partners").key)


def check_stage_moves(ctx: Context, previous: Mapping[str, pd.DataFrame] | None) -> None:
    """A register row whose stage moves back since the stored register (to an earlier stage, out
    of declined, or from received to declined) without a new note: a warning naming both stages.
    Rows are matched on the sheet's key; a stored row without a stage (an older workbook) is not
    compared, and neither is a row whose stage is blank now."""
    stored = {_register_key(r): r for r in frame_records(previous, "Partners")}
    for r in ctx.records.get("Partners", []):
        old_row = stored.get(_register_key(r))
        if old_row is None or not old_row.get("stage") or not r.get("stage"):
            continue
        old, new = str(old_row["stage"]), str(r["stage"])
        if not moved_back(old, new):
            continue
        note = (r.get("note") or "").strip()
        if note and note != (old_row.get("note") or "").strip():
            continue  # the move is explained
        ctx.add(
            "partner_stage_moved_back",
            "Partners",
            r["_row"],
            "stage",
            new,
            (
                f"{row_label(r)} moves back from {old} (as stored) to {new}. If that is right, say why in the "
                "note column (a new note); otherwise keep the stage it had reached."
            ),
        )
