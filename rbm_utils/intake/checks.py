"""Checks across the rows and sheets of one workbook, once every cell is typed.

The Unit sheet against the settings, duplicate keys, references between sheets, loops in the
results chain, KPI values and SMART periods, periods against the reporting quarter,
assumption tests' needs, activity dates, the region of a regional office's money lines,
percent KPIs written as fractions, and breakdowns that must add up to their total. Each check reads ``ctx.records`` and files problems with
:meth:`rbm_utils.intake.context.Context.add`.

Example:
    >>> loops = find_loops({"O1": ["I1"], "I1": ["O2"], "O2": ["O1"], "A1": ["O1"]})
    >>> loops
    [['O1', 'I1', 'O2', 'O1']]
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from graphlib import CycleError, TopologicalSorter
from typing import Any

from rbm_utils.core.errors import ERROR, WARNING
from rbm_utils.core.quarters import Quarter
from rbm_utils.core.schema import ASSUMPTION_TEST_NEEDS, REFERENCES, SHEETS, UNIT_CODE_RE, Sheet, sheet
from rbm_utils.intake.context import Context, Record

#: At most this many loops of the results chain are reported per workbook (each needs a pass
#: over the chain; a file with more has bigger problems than its loops).
MAX_LOOPS = 10


def check_unit(ctx: Context, unit: dict[str, Any]) -> None:
    """The Unit sheet against the settings: a listed unit, its type and name, a quarter not too early."""
    rows = ctx.unit_rows
    code = unit.get("unit_code")
    if code is None:
        return
    if not UNIT_CODE_RE.match(code) or code not in ctx.config.units:
        ctx.add(
            "unknown_unit",
            "Unit",
            rows.get("unit_code", 0),
            "unit_code",
            code,
            f"Unit '{code}' is not listed in parameters/workbench.yaml (known: {', '.join(ctx.config.units)}).",
        )
        return
    u = ctx.config.units[code]
    if unit.get("unit_type") and unit["unit_type"] != u.type:
        ctx.add(
            "unit_mismatch",
            "Unit",
            rows.get("unit_type", 0),
            "unit_type",
            unit["unit_type"],
            f"{code} is a {u.type} in parameters/workbench.yaml, not a {unit['unit_type']}.",
        )
    if unit.get("unit_name") and unit["unit_name"] != u.name:
        ctx.add(
            "unit_mismatch",
            "Unit",
            rows.get("unit_name", 0),
            "unit_name",
            unit["unit_name"],
            f"The unit's name in parameters/workbench.yaml is '{u.name}'; the settings' name is used.",
            severity=WARNING,
        )
    q = unit.get("reporting_quarter")
    if q and Quarter.parse(q) < Quarter.parse(ctx.config.first_quarter):
        ctx.add(
            "before_first_quarter",
            "Unit",
            rows.get("reporting_quarter", 0),
            "reporting_quarter",
            q,
            f"The workbench starts at {ctx.config.first_quarter}.",
        )


def _key_of(sh: Sheet, rec: Record) -> tuple:
    return tuple("" if rec.get(k) is None else rec.get(k) for k in sh.key)


def check_duplicates(ctx: Context) -> None:
    """Two rows of a sheet with the same key."""
    for sh in SHEETS:
        if sh.kind != "table":
            continue
        first: dict[tuple, int] = {}
        keys = sh.key
        for rec in ctx.records.get(sh.name, []):
            key = tuple(map(rec.get, keys))
            if None in key:  # (a key with every part given: the usual case, decided at once)
                if any(rec.get(k) is None and sh.column(k).required for k in keys):
                    continue  # already reported as missing
                key = _key_of(sh, rec)
            if key in first:
                shown = ", ".join(f"{k}={v}" for k, v in zip(sh.key, key) if v != "")
                ctx.add(
                    "duplicate_key",
                    sh.name,
                    rec["_row"],
                    sh.key[0],
                    shown,
                    f"Same {' + '.join(sh.key)} as row {first[key]} ({shown}); keep one row.",
                )
            else:
                first[key] = rec["_row"]


def _ids(ctx: Context, sheet_name: str, column: str) -> set[str]:
    return {r[column] for r in ctx.records.get(sheet_name, []) if r.get(column)}


def check_references(ctx: Context) -> None:
    """Every id that points at another row exists there (and is an output where it must be)."""
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
                    ctx.add("unknown_reference", src, rec["_row"], col, v, f"'{v}' is not a {dcol} of sheet {dst}.")
                elif src == dst and col == "contributes_to" and v == rec.get("result_id"):
                    ctx.add("cycle", src, rec["_row"], col, v, f"Result {v} cannot contribute to itself.")
                elif output_only and levels.get(v) != "output":
                    ctx.add(
                        "not_an_output",
                        src,
                        rec["_row"],
                        col,
                        v,
                        f"'{v}' is a {levels.get(v)}-level result; {src} lines must point at an output.",
                    )


def find_loops(chain: Mapping[str, Sequence[str]], limit: int = MAX_LOOPS) -> list[list[str]]:
    """Loops of a results chain ``{result: results it contributes to}``, each written
    ``[a, b, ..., a]`` (a contributes to b ...) from its result listed first in ``chain``.

    :class:`graphlib.TopologicalSorter` finds one loop at a time (no recursion, so a chain of
    any length is fine); the loop is then cut at its closing link and the search repeats on
    the results that may still loop, up to ``limit`` loops. Links to results not in ``chain``
    and a result's link to itself are left out.

    >>> find_loops({"A": ["B"], "B": ["A", "C"], "C": ["B"]})
    [['A', 'B', 'A'], ['B', 'C', 'B']]
    >>> find_loops({"A": ["B"], "B": []})
    []
    """
    position = {n: i for i, n in enumerate(chain)}
    # the sorter reads {node: predecessors}: a result's targets come "before" it
    graph = {n: list(dict.fromkeys(t for t in targets if t in position and t != n)) for n, targets in chain.items()}
    loops: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for _ in range(limit):
        sorter = TopologicalSorter(graph)
        try:
            sorter.prepare()
            break
        except CycleError as exc:
            cycle = list(exc.args[1])
        # graphlib gives [x0, x1, ..., x0] where each node is a target of the next: reverse it
        ring = cycle[::-1][:-1]
        start = min(range(len(ring)), key=lambda i: position[ring[i]])
        loop = ring[start:] + ring[:start] + [ring[start]]
        if frozenset(ring) not in seen:
            seen.add(frozenset(ring))
            loops.append(loop)
        drained: set[str] = set()
        while sorter.is_active():  # what the sorter can still order cannot be in a loop
            ready = sorter.get_ready()
            if not ready:
                break
            drained.update(ready)
            sorter.done(*ready)
        graph[loop[-2]].remove(loop[0])  # cut the loop at its closing link
        if drained:
            graph = {n: [t for t in targets if t not in drained] for n, targets in graph.items() if n not in drained}
    return loops


def check_cycles(ctx: Context) -> None:
    """The results chain never loops back on itself (A -> B -> A), at the row closing the loop."""
    chain: dict[str, list[str]] = {}
    rows: dict[str, int] = {}
    for r in ctx.records.get("Results", []):
        if r.get("result_id"):
            rows[r["result_id"]] = r["_row"]
            chain[r["result_id"]] = [p.strip() for p in (r.get("contributes_to") or "").split(";") if p.strip()]
    for loop in find_loops(chain):
        ctx.add(
            "cycle",
            "Results",
            rows[loop[-2]],
            "contributes_to",
            loop[0],
            "The results chain loops: " + " -> ".join(loop) + ".",
        )


def check_kpis(ctx: Context) -> None:
    """SMART periods, KPI values within their measure, ratios that agree, evidence given."""
    kpis = {r["kpi_id"]: r for r in ctx.records.get("KPIs", []) if r.get("kpi_id")}
    for r in ctx.records.get("KPIs", []):
        bp, tp = r.get("baseline_period"), r.get("target_period")
        if bp and tp and Quarter.parse(tp) <= Quarter.parse(bp):
            ctx.add(
                "smart_incomplete",
                "KPIs",
                r["_row"],
                "target_period",
                tp,
                f"The KPI is not SMART: target period {tp} must come after baseline period {bp}.",
            )
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
                ctx.add(
                    "percent_over_100",
                    "Actuals",
                    r["_row"],
                    "numerator",
                    num,
                    f"The numerator {num:g} is larger than the denominator {den:g}.",
                )
            elif val is not None and k.get("measure") == "percent":
                expect = 100.0 * num / den
                if abs(expect - val) > max(0.05, 0.005 * abs(expect)):
                    ctx.add(
                        "ratio_mismatch",
                        "Actuals",
                        r["_row"],
                        "value",
                        val,
                        f"value {val:g} differs from 100 x numerator / denominator = {expect:.2f}; the pooled figure uses numerator and denominator.",
                    )
        if not r.get("evidence") and r.get("value") is not None:
            ctx.add(
                "missing_evidence",
                "Actuals",
                r["_row"],
                "evidence",
                None,
                f"No evidence for {r.get('kpi_id')} {r.get('period')}: give a link or document reference.",
            )


def _check_kpi_value(ctx: Context, sheet_name: str, rec: Record, field_name: str, kpi: Record) -> None:
    v = rec.get(field_name)
    if v is None:
        return
    measure = kpi.get("measure")
    if measure == "percent" and not 0 <= v <= ctx.config.thresholds.get("percent_scale_max", 100):
        ctx.add(
            "percent_over_100" if v > 0 else "negative_value",
            sheet_name,
            rec["_row"],
            field_name,
            v,
            f"{kpi.get('kpi_id')} is a percent KPI: values lie between 0 and 100 (write 45 for 45 %).",
        )
    elif measure in ("number", "currency") and v < 0:
        ctx.add(
            "negative_value",
            sheet_name,
            rec["_row"],
            field_name,
            v,
            f"{kpi.get('kpi_id')} counts {'money' if measure == 'currency' else 'things'}: it cannot be negative.",
        )


def check_periods(ctx: Context, reporting: str | None) -> None:
    """Periods neither after the ``reporting`` quarter (the Unit sheet's) nor before the workbench's first quarter."""
    first = Quarter.parse(ctx.config.first_quarter)
    quarter = Quarter.parse_or_none(reporting)
    parsed: dict[str, Quarter] = {}  # each period parsed once
    for sh in SHEETS:
        if sh.periodic is None:
            continue
        for r in ctx.records.get(sh.name, []):
            p = r.get(sh.periodic)
            if not p:
                continue
            q = parsed.get(p)
            if q is None:
                q = parsed[p] = Quarter.parse(p)
            if quarter is not None and q > quarter:
                ctx.add(
                    "future_period",
                    sh.name,
                    r["_row"],
                    sh.periodic,
                    p,
                    f"{p} is after the reporting quarter {reporting}; report it next quarter.",
                )
            elif q < first:
                ctx.add(
                    "before_first_quarter",
                    sh.name,
                    r["_row"],
                    sh.periodic,
                    p,
                    f"{p} is before the workbench's first quarter {ctx.config.first_quarter}.",
                )


def check_assumptions(ctx: Context) -> None:
    """Every assumption test has the values it needs."""
    for r in ctx.records.get("Assumptions", []):
        test = r.get("test")
        for need in ASSUMPTION_TEST_NEEDS.get(test or "", ()):
            if r.get(need) is None:
                ctx.add(
                    "incomplete_test",
                    "Assumptions",
                    r["_row"],
                    need,
                    None,
                    f"A {test} test needs '{need}' ({sheet('Assumptions').column(need).note})",
                )


def check_activities(ctx: Context) -> None:
    """Activity dates in order, actual dates not in the future."""
    today = ctx.today.isoformat()
    for r in ctx.records.get("Activities", []):
        for a, b in (("planned_start", "planned_end"), ("actual_start", "actual_end")):
            if r.get(a) and r.get(b) and r[b] < r[a]:
                ctx.add("period_order", "Activities", r["_row"], b, r[b], f"{b} {r[b]} comes before {a} {r[a]}.")
        for a in ("actual_start", "actual_end"):
            if r.get(a) and r[a] > today:
                ctx.add(
                    "date_in_future",
                    "Activities",
                    r["_row"],
                    a,
                    r[a],
                    f"An actual date cannot be in the future (today is {today}); use planned dates for what is to come.",
                    severity=ERROR,
                )


#: Sheets whose lines may name the region the money was spent in (a cluster's work across regions).
MONEY_REGION_SHEETS = ("Budget", "Expenditure")


def check_money_regions(ctx: Context, unit: dict[str, Any]) -> None:
    """A regional office's budget and expenditure lines are its own: their region is blank or
    the office's own code (a cluster's lines may name any region)."""
    code = unit.get("unit_code")
    u = ctx.config.units.get(code) if isinstance(code, str) else None
    if u is None or u.type != "region":
        return
    for name in MONEY_REGION_SHEETS:
        for r in ctx.records.get(name, []):
            region = r.get("region")
            if region is not None and region != code:
                ctx.add(
                    "foreign_region",
                    name,
                    r["_row"],
                    "region",
                    region,
                    f"{code} is a regional office: its {name.lower()} lines are its own region's. Leave region "
                    f"blank or write {code}; money a cluster spends in {region} goes in the cluster's workbook.",
                )


def _median_without(figures: list[float], i: int) -> float:
    """The median of sorted ``figures`` with the one at ``i`` left out (at least two figures).

    >>> _median_without([1.0, 2.0, 3.0, 10.0], 3)
    2.0
    """
    m = len(figures) - 1

    def at(j: int) -> float:
        return figures[j] if j < i else figures[j + 1]

    return at(m // 2) if m % 2 else (at(m // 2 - 1) + at(m // 2)) / 2


def check_percent_scale(ctx: Context) -> None:
    """A percent KPI's actual of 0 < v <= 1 that is the KPI's other figures written as a fraction:
    100 v lies within a factor 2 of the median of its baseline, target and other actuals (> 1).
    Linear in the number of rows: actuals grouped once, one sorted list per KPI."""
    by_kpi: dict[str, list[Record]] = {}
    for r in ctx.records.get("Actuals", []):
        if r.get("value") is not None and r.get("kpi_id"):
            by_kpi.setdefault(r["kpi_id"], []).append(r)
    for k in ctx.records.get("KPIs", []):
        if k.get("measure") != "percent" or not k.get("kpi_id"):
            continue
        rows = by_kpi.get(k["kpi_id"], [])
        if not any(0 < r["value"] <= 1 for r in rows):
            continue
        figures = sorted(
            [r["value"] for r in rows] + [k[f] for f in ("baseline_value", "target_value") if k.get(f) is not None]
        )
        if len(figures) < 2:
            continue
        for r in rows:
            v = r["value"]
            if not 0 < v <= 1:
                continue
            med = _median_without(figures, bisect.bisect_left(figures, v))  # drop one copy of v
            if med > 1 and 0.5 * med <= 100 * v <= 2 * med:
                ctx.add(
                    "percent_scale",
                    "Actuals",
                    r["_row"],
                    "value",
                    v,
                    (
                        f"{k['kpi_id']} is a percent KPI on a 0-100 scale (its other figures are around {med:g}); "
                        f"{v:g} looks like {100 * v:g} % written as a fraction. Write {100 * v:g}."
                    ),
                )


def _breakdown_keys(disaggregation: str) -> frozenset[str]:
    return frozenset(p.split("=", 1)[0].strip() for p in disaggregation.split(";") if "=" in p)


def check_disaggregations(ctx: Context) -> None:
    """Rows of one KPI and quarter broken down by the same keys add up to the total row: the value
    of a ``sum`` KPI, and numerators and denominators of any KPI that reports them."""
    kpis = {r["kpi_id"]: r for r in ctx.records.get("KPIs", []) if r.get("kpi_id")}
    groups: dict[tuple[str, str], list[Record]] = {}
    breakdowns: dict[str, frozenset[str]] = {}  # the keys of each disaggregation text, found once
    for r in ctx.records.get("Actuals", []):
        if r.get("kpi_id") in kpis and r.get("period"):
            groups.setdefault((r["kpi_id"], r["period"]), []).append(r)
    for (kid, period), rows in groups.items():
        total = next((r for r in rows if not r.get("disaggregation")), None)
        if total is None:
            continue
        by_keys: dict[frozenset[str], list[Record]] = {}
        for r in rows:
            if d := r.get("disaggregation"):
                bk = breakdowns.get(d)
                if bk is None:
                    bk = breakdowns[d] = _breakdown_keys(d)
                by_keys.setdefault(bk, []).append(r)
        k = kpis[kid]
        for keys, parts in by_keys.items():
            for f in ("value", "numerator", "denominator"):
                if f == "value" and (k.get("aggregation") != "sum" or k.get("measure") == "percent"):
                    continue
                if total.get(f) is None or any(p.get(f) is None for p in parts):
                    continue
                got, want = sum(p[f] for p in parts), total[f]
                if abs(got - want) > max(0.01, 0.001 * abs(want)):
                    ctx.add(
                        "disaggregation_mismatch",
                        "Actuals",
                        total["_row"],
                        f,
                        want,
                        (
                            f"{kid} {period}: the rows broken down by {', '.join(sorted(keys))} add up to {got:g} "
                            f"({f}), but the total row says {want:g}. Breakdowns must add up to the total; put the rest "
                            "in an 'unknown' category."
                        ),
                    )
