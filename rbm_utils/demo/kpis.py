"""The sample's KPIs and their quarterly series, aimed at an intended status with the real rules.

Every illustrative KPI gets an *intent* (on track, at risk, off track, target met, stale). Its
series is drawn at random around the achievement that intent implies; the analytics
(:func:`rbm_utils.analytics.kpi.kpi_progress`, :func:`~rbm_utils.analytics.kpi.kpi_series`)
then judge it, and a series that misses its status is drawn again. There is no second copy of
the rules here: the sample aims with the same code that reviews it.

Example:
    >>> import numpy as np
    >>> from rbm_utils.demo.catalogue import PLANS
    >>> ks = unit_kpis("AFR", "region", PLANS["AFR"], np.random.default_rng(1), Quarter(2023, 1), Quarter(2026, 3))
    >>> ks[0].kpi_id, ks[0].aggregation, ks[-1].kind
    ('AFR-K01', 'sum', 'public')
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rbm_utils.analytics import kpi
from rbm_utils.core import schema
from rbm_utils.core.quarters import Quarter
from rbm_utils.demo.catalogue import (
    COMMENTS_SLOW,
    COVERAGE_5G,
    EDITION_TITLE,
    GENDER_PARITY,
    INTERNET_USE,
    REGION_NAMES,
    Plan,
    public_quarter,
)

log = logging.getLogger(__name__)

#: Public figures of one indicator: (year, edition, {area: value}).
PublicTable = tuple[tuple[int, str, dict[str, float]], ...]
#: A total row of a KPI: (quarter, value, numerator, denominator).
TotalRow = tuple[Quarter, float, float | None, float | None]
#: Candidate series drawn for one KPI before it is kept anyway (with a warning).
MAX_DRAWS = 40


def round_to(x: float, step: float) -> float:
    """``x`` rounded to a multiple of ``step``.

    >>> round_to(123_456, 5000), ceil_to(1.01, 0.5), floor_to(1.99, 0.5)
    (125000.0, 1.5, 1.5)
    """
    return float(round(x / step) * step)


def ceil_to(x: float, step: float) -> float:
    """``x`` rounded up to a multiple of ``step`` (a hair above a multiple stays on it)."""
    return float(math.ceil(x / step - 1e-9) * step)


def floor_to(x: float, step: float) -> float:
    """``x`` rounded down to a multiple of ``step`` (a hair below a multiple stays on it)."""
    return float(math.floor(x / step + 1e-9) * step)


#: The step of a currency KPI's amounts (CHF). Its target is drawn in thousands and scaled by
#: the step, so a smaller step scales the whole series (and keeps its random draws and status):
#: at 500, a unit's partner receipts of a year are part of its budget's extra-budgetary lines.
CURRENCY_STEP = 500.0


# --------------------------------------------------------------------------------------
# KPI definitions
# --------------------------------------------------------------------------------------


@dataclass
class SampleKpi:
    """A KPI of the sample with what the generator needs besides the KPIs sheet's columns."""

    kpi_id: str
    result_id: str
    name: str
    definition: str
    measure: str
    direction: str
    aggregation: str
    baseline_value: float
    baseline_period: str
    target_value: float
    target_period: str
    data_source: str
    frequency: str
    responsible: str
    measured_from: str | None = None  # register_received / register_secured: checked against Partners
    kind: str = "count"  # count | currency | pct | level | public
    role: str = ""
    split: bool = False  # clusters: report by region too
    den: tuple[int, int] = (60, 160)
    semiannual: bool = False
    public_rows: list[dict[str, Any]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The KPI as a row of the KPIs sheet."""
        return {c: getattr(self, c) for c in schema.sheet("KPIs").column_names}


def _series_points(table: PublicTable, area: str) -> list[tuple[Quarter, float, str, int]]:
    return [(Quarter.parse(public_quarter(y)), float(vals[area]), ed, y) for y, ed, vals in table if area in vals]


def _public_kpi(
    kid: str,
    rid: str,
    unit: str,
    table: PublicTable,
    area: str,
    *,
    name: str,
    what: str,
    measure: str,
    target: Any,
    target_period: str,
    target_note: str,
    first: Quarter,
    quarter: Quarter,
    decimals: int,
    extra_source: str = "",
) -> SampleKpi | None:
    """An impact KPI on public figures: the public points in the window plus linearly
    interpolated quarters between consecutive points (labelled illustrative)."""
    pts = _series_points(table, area)
    rows: list[dict[str, Any]] = []
    used: set[str] = set()
    for p in Quarter.span(first, quarter):
        exact = [x for x in pts if x[0] == p]
        if exact:
            _, v, ed, y = exact[0]
            used.add(ed)
            rows.append(
                {
                    "quarter": p,
                    "value": round(v, decimals),
                    "evidence": f"{EDITION_TITLE[ed]} ({ed}), estimate for {y}",
                    "comment": "public figure",
                }
            )
            continue
        before = [x for x in pts if x[0] < p]
        after = [x for x in pts if p < x[0] <= quarter]
        if before and after:
            (p0, v0, e0, y0), (p1, v1, e1, y1) = before[-1], after[0]
            used.update((e0, e1))
            v = v0 + (v1 - v0) * (p.index - p0.index) / (p1.index - p0.index)
            rows.append(
                {
                    "quarter": p,
                    "value": round(v, decimals),
                    "evidence": f"Interpolated between {e0} ({y0}) and {e1} ({y1})",
                    "comment": "quarter interpolated, illustrative",
                }
            )
    public_in = [x for x in pts if first <= x[0] <= quarter]
    if not public_in:
        log.info("%s: no public %s figure for %s in the window; KPI left out", unit, what, area)
        return None
    bidx, base, _, _ = public_in[0]
    target = float(target(base)) if callable(target) else float(target)
    if Quarter.parse(target_period) <= bidx:
        target_period = str(bidx + 8)
    source = (
        "; ".join(f"{EDITION_TITLE[e]} ({e})" for e in sorted(used))
        + (f", {extra_source}" if extra_source else "")
        + "; quarters interpolated, illustrative"
    )
    region = REGION_NAMES.get(area, area)
    definition = (
        f"{what}, {region} (ITU estimate). Annual figure: the estimate for year Y is recorded at "
        f"quarter Y-Q4; quarters between public points are linearly interpolated (illustrative). "
        f"Baseline: the first public point in the window. {target_note}"
    )
    return SampleKpi(
        kid,
        rid,
        name,
        definition,
        measure,
        "increase",
        "latest",
        base,
        str(bidx),
        target,
        target_period,
        source,
        "annual",
        f"{unit} M&E focal point (source: ITU statistics)",
        kind="public",
        public_rows=rows,
    )


def unit_kpis(
    unit: str, utype: str, plan: Plan, rng: np.random.Generator, first: Quarter, quarter: Quarter
) -> list[SampleKpi]:
    """The KPIs of a unit: delivery, reach, capacity, behaviour (invented) and impact (public figures)."""
    bp = str(first)
    tp_short = str(max(first + 15, quarter + 1))  # 2026-Q4 for the default calendar
    tp_long = str(max(first + 19, quarter + 2))  # 2027-Q4: end of the ITU Strategic Plan 2024-2027
    resp = f"{unit} programme officer (illustrative)"
    split = utype == "cluster"
    ks: list[SampleKpi] = []

    def add(
        result: str,
        name: str,
        definition: str,
        measure: str,
        aggregation: str,
        base: float,
        target: float,
        source: str,
        *,
        direction="increase",
        kind="count",
        role="",
        split_=False,
        tp=tp_short,
        bp_=bp,
        den=(60, 160),
        semiannual=False,
        frequency="quarterly",
        measured_from=None,
    ) -> None:
        ks.append(
            SampleKpi(
                f"{unit}-K{len(ks) + 1:02d}",
                f"{unit}-{result}",
                name,
                definition + " Figures illustrative.",
                measure,
                direction,
                aggregation,
                float(base),
                bp_,
                float(target),
                tp,
                "Illustrative: " + source,
                frequency,
                resp,
                measured_from=measured_from,
                kind=kind,
                role=role,
                split=split_,
                den=den,
                semiannual=semiannual,
            )
        )

    n_out = len(plan.outputs)
    a3 = "A3" if n_out >= 3 else "A1"
    add(
        "A1",
        "Workshops and training sessions delivered",
        "Number of workshops and training sessions held in the quarter (increment).",
        "number",
        "sum",
        0,
        int(rng.integers(30, 49)),
        "BDT events database (attendance lists)",
        role="workshops",
        split_=split,
    )
    add(
        "A2",
        "Technical assistance missions completed",
        "Number of country technical-assistance missions completed in the quarter (increment).",
        "number",
        "sum",
        0,
        int(rng.integers(16, 29)),
        "mission reports",
        split_=split,
    )
    add(
        a3,
        "Work-plan tasks delivered on schedule",
        "Share of work-plan tasks due in the quarter that were delivered on schedule (numerator: on time; denominator: due).",
        "percent",
        "latest",
        int(rng.integers(60, 69)),
        int(rng.integers(85, 91)),
        "operational plan tracker",
        kind="pct",
        den=(40, 80),
    )
    add(
        "A1",
        "Partner resources mobilised (CHF)",
        "Cash and in-kind contributions received from partners in the quarter, in CHF (increment): the amounts "
        "at stage received in the resource mobilisation register (sheet Partners), by the date received.",
        "currency",
        "sum",
        0,
        round_to(rng.uniform(0.8e6, 2.0e6), 50000) * CURRENCY_STEP / 1000,
        "resource mobilisation register (sheet Partners)",
        kind="currency",
        measured_from="register_received",
    )
    add(
        "A2",
        "Median days to answer a request for assistance",
        "Median number of days between a member state's request for assistance and BDT's answer, in the quarter.",
        "number",
        "latest",
        int(rng.integers(40, 51)),
        int(rng.integers(20, 26)),
        "request tracking log",
        direction="decrease",
        kind="level",
    )
    for j, o in enumerate(plan.outputs, start=1):
        add(
            f"O{j}",
            o.kpi_name,
            f"{o.kpi_name}: count of deliverables completed in the quarter (increment).",
            "number",
            "sum",
            0,
            o.target,
            "deliverable register (published reports and letters)",
            split_=split and j == 1,
            tp=tp_long,
        )
    add(
        "R1",
        f"Participants trained on {plan.focus}",
        "Number of people (policy makers, regulators, practitioners) completing a BDT training in the quarter (increment).",
        "number",
        "sum",
        0,
        int(rng.integers(900, 1500)),
        "ITU Academy and event registration records",
        role="participants",
        split_=split,
        tp=tp_long,
    )
    add(
        "R1",
        "Share of women among participants",
        "Women among participants completing a training in the quarter (numerator: women; denominator: all participants).",
        "percent",
        "latest",
        int(rng.integers(28, 36)),
        int(rng.integers(45, 51)),
        "ITU Academy and event registration records",
        kind="pct",
        split_=split,
        tp=tp_long,
        den=(80, 200),
    )
    add(
        "C1",
        "Participants passing the post-training assessment",
        "Share of assessed participants who passed the post-training assessment in the quarter.",
        "percent",
        "latest",
        int(rng.integers(50, 61)),
        int(rng.integers(75, 81)),
        "post-training assessments",
        kind="pct",
        role="pass_rate",
        tp=tp_long,
        den=(60, 150),
    )
    add(
        "C1",
        "Institutions with a trained focal team",
        "Number of national institutions that newly have a trained focal team (increment).",
        "number",
        "sum",
        0,
        int(rng.integers(12, 21)),
        "institutional capacity survey (semi-annual)",
        tp=tp_long,
        bp_=str(first + 4),
        semiannual=True,
        frequency="semi-annual",
    )
    add(
        "B1",
        f"Countries adopting {plan.instrument} with BDT support",
        "Number of countries adopting the instrument (law, strategy, plan or regulation) in the quarter, with BDT support (increment).",
        "number",
        "sum",
        0,
        int(rng.integers(8, 15)),
        "national gazettes and government notifications",
        role="adoption",
        split_=split,
        tp=tp_long,
    )
    add(
        "B1",
        "Trained participants applying the skills six months later",
        "Share of surveyed former participants who report applying the skills at work, six months after training.",
        "percent",
        "latest",
        int(rng.integers(30, 41)),
        int(rng.integers(60, 71)),
        "six-month follow-up survey of participants",
        kind="pct",
        role="applying",
        tp=tp_long,
        den=(40, 120),
    )

    def add_public(
        result: str,
        table,
        area: str,
        what: str,
        name: str,
        measure: str,
        target: Any,
        target_period: str,
        note: str,
        decimals: int,
        extra: str = "",
    ) -> None:
        k = _public_kpi(
            f"{unit}-K{len(ks) + 1:02d}",
            f"{unit}-{result}",
            unit,
            table,
            area,
            name=name,
            what=what,
            measure=measure,
            target=target,
            target_period=target_period,
            target_note=note,
            first=first,
            quarter=quarter,
            decimals=decimals,
            extra_source=extra,
        )
        if k is not None:
            ks.append(k)

    internet = "Percentage of individuals using the Internet"
    parity = "Gender parity score for Internet use (female rate / male rate; parity is 0.98-1.02)"
    if utype == "region" and any(unit in v for _, _, v in INTERNET_USE):
        add_public(
            "I1",
            INTERNET_USE,
            unit,
            internet,
            f"Individuals using the Internet, {REGION_NAMES.get(unit, unit)} (%)",
            "percent",
            lambda base: min(98, round(base + 12)),
            "2029-Q4",
            "Target illustrative (end of the Baku Action Plan period 2026-2029).",
            2,
        )
        if any(unit in v for _, _, v in GENDER_PARITY):
            add_public(
                "I2",
                GENDER_PARITY,
                unit,
                parity,
                f"Gender parity score for Internet use, {REGION_NAMES.get(unit, unit)}",
                "ratio",
                0.98,
                "2029-Q4",
                "Target: parity (0.98), wording of Connect 2020 target 2.5.A; date illustrative.",
                3,
            )
    elif unit == "DIN":
        for area in ("World", "ASP", "ARB"):
            add_public(
                "I1",
                GENDER_PARITY,
                area,
                parity,
                f"Gender parity score for Internet use, {REGION_NAMES[area]}",
                "ratio",
                0.98,
                "2029-Q4",
                "Target: parity (0.98), wording of Connect 2020 target 2.5.A; date illustrative.",
                3,
            )
    else:
        add_public(
            "I1",
            INTERNET_USE,
            "World",
            internet,
            "Individuals using the Internet, World (%)",
            "percent",
            75.0,
            "2025-Q4",
            "Target: Broadband Commission 2025 target 3 (75 % worldwide by 2025).",
            2,
        )
        if unit == "NDI":
            add_public(
                "I1",
                COVERAGE_5G,
                "World",
                "Percentage of the population covered by a 5G mobile network",
                "Population covered by 5G, World (%)",
                "percent",
                60.0,
                "2029-Q4",
                "Target illustrative.",
                2,
                extra="via a secondary press report",
            )
    return ks


def milestones_for(k: SampleKpi, back_loaded: bool) -> dict[Quarter, float]:
    """Quarterly milestones from baseline to target, on a back-loaded curve if asked (behaviour
    change lags delivery)."""
    bidx, tidx = Quarter.parse(k.baseline_period), Quarter.parse(k.target_period)
    out = {}
    for p in Quarter.span(bidx + 1, tidx):
        f = (p.index - bidx.index) / (tidx.index - bidx.index)
        f = f**1.4 if back_loaded else f
        out[p] = float(round(k.baseline_value + (k.target_value - k.baseline_value) * f))
    return out


# --------------------------------------------------------------------------------------
# series generation
# --------------------------------------------------------------------------------------

#: The status each intent aims at.
INTENT_STATUS = {"on": "on_track", "at_risk": "at_risk", "off": "off_track", "met": "target_met", "stale": "no_data"}


def _reporting_periods(k: SampleKpi, last: Quarter) -> list[Quarter]:
    ps = Quarter.span(Quarter.parse(k.baseline_period) + 1, last)
    if k.semiannual:
        ps = [p for p in ps if p.q in (2, 4)]
    return ps


def _desired_achievement(intent: str, expected: float, rng: np.random.Generator) -> float:
    if intent == "met":
        return float(rng.uniform(1.03, 1.12))
    if intent == "on":
        return float(min(rng.uniform(0.98, 1.08) * expected, 0.96))
    if intent == "at_risk":
        return float(rng.uniform(0.77, 0.83) * expected)
    if intent == "off":
        return float(rng.uniform(0.35, 0.55) * expected)
    return float(rng.uniform(0.55, 0.85) * expected)  # stale


def _split_counts(total: int, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if total <= 0:
        return np.zeros(len(weights), dtype=int)
    return rng.multinomial(int(total), weights / weights.sum())


def _candidate(
    k: SampleKpi,
    intent: str,
    expected: Mapping[tuple[str, str], float],
    quarter: Quarter,
    rng: np.random.Generator,
    regions: Sequence[str],
    dip: bool,
) -> list[dict[str, Any]]:
    """One candidate series (total rows, plus region rows for split KPIs)."""
    last = quarter + -int(rng.integers(2, 4)) if intent == "stale" else quarter
    periods = _reporting_periods(k, last)
    if not periods:
        return []
    exp_at = expected[(k.kpi_id, str(last))]
    ach = _desired_achievement(intent, exp_at, rng)
    b, t = k.baseline_value, k.target_value
    current = b + ach * (t - b)
    rows: list[dict[str, Any]] = []
    n = len(periods)
    if k.kind in ("count", "currency"):
        step = CURRENCY_STEP if k.kind == "currency" else 1.0
        total = current - b
        total = ceil_to(total, step) if intent == "met" else round_to(total, step)
        units = int(round(total / step))
        w = rng.gamma(2.0, size=n) * np.linspace(0.6, 1.4, n)
        inc = _split_counts(units, w, rng) * step
        reg_w = rng.dirichlet(np.full(len(regions), 3.0)) if (k.split and regions) else None
        for p, v in zip(periods, inc):
            rows.append({"quarter": p, "value": float(v), "disaggregation": ""})
            if reg_w is not None:
                parts = _split_counts(int(round(v / step)), reg_w, rng) * step
                for r, pv in zip(regions, parts):
                    rows.append({"quarter": p, "value": float(pv), "disaggregation": f"region={r}"})
        return rows
    # level KPIs (percent with numerator/denominator, or plain numbers): a monotone path
    dip = dip and n >= 2
    m = n - 1 if dip else n  # with a dip, the path peaks at the previous report, then falls
    steps = rng.gamma(2.0, size=m)
    frac = np.cumsum(steps) / steps.sum()
    end_path = current / (1.0 - rng.uniform(0.14, 0.22)) if dip else current  # a fall of over 10 %
    path = b + (end_path - b) * frac
    if dip:
        path = np.append(path, current)
    if k.kind == "pct":
        path = np.clip(path, 0.0, 100.0)
        prev = -1.0
        for i, (p, level) in enumerate(zip(periods, path)):
            if k.split and regions:
                dens = [
                    int(rng.integers(max(5, k.den[0] // len(regions)), max(6, k.den[1] // len(regions))))
                    for _ in regions
                ]
                nums = [int(min(d, max(0, round(d * np.clip(level + rng.normal(0, 4), 0, 100) / 100)))) for d in dens]
                num, den = sum(nums), sum(dens)
            else:
                den = int(rng.integers(k.den[0], k.den[1] + 1))
                num = int(min(den, max(0, round(level * den / 100))))
                nums, dens = [], []
            is_dip = dip and i == n - 1
            while not is_dip and 100.0 * num / den < prev and num < den:
                num += 1
                if nums:
                    j = int(np.argmax([d - x for d, x in zip(dens, nums)]))
                    nums[j] += 1
            value = 100.0 * num / den
            prev = value
            rows.append(
                {
                    "quarter": p,
                    "value": round(value, 2),
                    "numerator": float(num),
                    "denominator": float(den),
                    "disaggregation": "",
                }
            )
            for r, x, d in zip(regions if nums else (), nums, dens):
                rows.append(
                    {
                        "quarter": p,
                        "value": round(100.0 * x / d, 2),
                        "numerator": float(x),
                        "denominator": float(d),
                        "disaggregation": f"region={r}",
                    }
                )
        return rows
    values = np.round(path)
    if k.direction == "decrease":
        values = np.minimum.accumulate(values)
    else:
        values = np.maximum.accumulate(values)
    for p, v in zip(periods, values):
        rows.append({"quarter": p, "value": float(v), "disaggregation": ""})
    return rows


# --------------------------------------------------------------------------------------
# aiming with the real rules
# --------------------------------------------------------------------------------------


def _state(
    code: str,
    kpis: Sequence[SampleKpi],
    milestones: Mapping[str, Mapping[Quarter, float]],
    totals: Mapping[str, Sequence[TotalRow]] | None = None,
) -> dict[str, pd.DataFrame]:
    """A one-unit state for the analytics: the KPIs, their milestones and their total rows."""
    actuals = [
        {"kpi_id": kid, "period": str(p), "value": v, "numerator": n, "denominator": d, "disaggregation": ""}
        for kid, rows in (totals or {}).items()
        for p, v, n, d in rows
    ]
    return {
        "KPIs": pd.DataFrame([k.row() for k in kpis]).assign(unit_code=code),
        "Milestones": pd.DataFrame(
            [
                {"kpi_id": kid, "period": str(p), "target_value": v}
                for kid, ms in milestones.items()
                for p, v in ms.items()
            ],
            columns=["kpi_id", "period", "target_value"],
        ).assign(unit_code=code),
        "Actuals": pd.DataFrame(
            actuals, columns=["kpi_id", "period", "value", "numerator", "denominator", "disaggregation"]
        ).assign(unit_code=code),
    }


def expected_progress(
    code: str,
    kpis: Sequence[SampleKpi],
    milestones: Mapping[str, Mapping[Quarter, float]],
    quarter: Quarter,
    thresholds: Mapping[str, float],
) -> dict[tuple[str, str], float]:
    """Expected share of the way to target of every KPI at every quarter from its baseline to
    ``quarter`` (milestone, else linear), keyed by (kpi_id, quarter text), by the analytics."""
    s = kpi.kpi_series(_state(code, kpis, milestones), quarter, thresholds)
    return dict(zip(zip(s["kpi_id"], s["period"]), s["expected"].astype(float)))


def assess(
    code: str,
    kpis: Sequence[SampleKpi],
    totals: Mapping[str, Sequence[TotalRow]],
    milestones: Mapping[str, Mapping[Quarter, float]],
    quarter: Quarter,
    thresholds: Mapping[str, float],
) -> pd.DataFrame:
    """The analytics' progress of the KPIs at ``quarter`` (one row per KPI, in order)."""
    return kpi.kpi_progress(_state(code, kpis, milestones, totals), quarter, thresholds)


def _actuals_once(
    code: str,
    kpis: Sequence[SampleKpi],
    intents: Mapping[str, str],
    draws: Mapping[str, int],
    expected: Mapping[tuple[str, str], float],
    quarter: Quarter,
    regions: Sequence[str],
    dip_kpi: str | None,
    rng: np.random.Generator,
) -> tuple[list[dict[str, Any]], dict[str, list[TotalRow]]]:
    """Actuals rows and total rows of every KPI; an illustrative KPI keeps its ``draws[kpi_id]``-th candidate."""
    actual_rows: list[dict[str, Any]] = []
    totals: dict[str, list[TotalRow]] = {}
    for k in kpis:
        if k.kind == "public":
            rows = [{**r, "disaggregation": ""} for r in k.public_rows]
        else:
            rows = []
            for _ in range(draws.get(k.kpi_id, 1)):
                rows = _candidate(
                    k, intents[k.kpi_id], expected, quarter, rng, regions if k.split else [], k.kpi_id == dip_kpi
                )
            for r in rows:
                r["evidence"] = f"Quarterly report {code} {r['quarter']}, annex {k.kpi_id} (illustrative)"
            tot = [r for r in rows if not r["disaggregation"]]
            if tot and intents[k.kpi_id] in ("off", "stale"):
                tot[-1]["comment"] = (
                    COMMENTS_SLOW[int(rng.integers(len(COMMENTS_SLOW)))]
                    if intents[k.kpi_id] == "off"
                    else "Reporting paused: data collection under review"
                )
        totals[k.kpi_id] = [
            (r["quarter"], r["value"], r.get("numerator"), r.get("denominator"))
            for r in rows
            if not r["disaggregation"]
        ]
        for r in rows:
            actual_rows.append(
                {
                    "kpi_id": k.kpi_id,
                    "period": str(r["quarter"]),
                    "value": r["value"],
                    "numerator": r.get("numerator"),
                    "denominator": r.get("denominator"),
                    "disaggregation": r["disaggregation"],
                    "evidence": r.get("evidence"),
                    "comment": r.get("comment"),
                }
            )
    return actual_rows, totals


def aimed_actuals(
    code: str,
    kpis: Sequence[SampleKpi],
    intents: Mapping[str, str],
    milestones: Mapping[str, Mapping[Quarter, float]],
    quarter: Quarter,
    regions: Sequence[str],
    dip_kpi: str | None,
    thresholds: Mapping[str, float],
    rng: np.random.Generator,
) -> tuple[list[dict[str, Any]], dict[str, list[TotalRow]], pd.DataFrame]:
    """Actuals whose every illustrative KPI shows its intended status at ``quarter``.

    Each KPI keeps the first of its candidate series (at most :data:`MAX_DRAWS`) that the
    analytics judge as intended, exactly as if they were drawn and judged one by one: the
    whole unit is drawn from the same random state, judged in one call, and drawn again with
    one more candidate for the first KPI that missed. Returns the Actuals rows, the total rows
    per KPI and the analytics' progress of the kept series.
    """
    expected = expected_progress(code, kpis, milestones, quarter, thresholds)
    start = rng.bit_generator.state
    draws: dict[str, int] = {}
    while True:
        rng.bit_generator.state = start
        actual_rows, totals = _actuals_once(code, kpis, intents, draws, expected, quarter, regions, dip_kpi, rng)
        progress = assess(code, kpis, totals, milestones, quarter, thresholds)
        status = dict(zip(progress["kpi_id"], progress["status"]))
        missed = [k.kpi_id for k in kpis if k.kind != "public" and status[k.kpi_id] != INTENT_STATUS[intents[k.kpi_id]]]
        retry = next((kid for kid in missed if draws.get(kid, 1) < MAX_DRAWS), None)
        if retry is None:
            break
        draws[retry] = draws.get(retry, 1) + 1
    for kid in missed:
        log.warning("sample: %s did not reach the intended status %s", kid, INTENT_STATUS[intents[kid]])
    return actual_rows, totals, progress
