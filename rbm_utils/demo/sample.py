"""The illustrative sample bureau: one workbook per unit of ``parameters/workbench.yaml``.

``rbm sample [--out DIR]`` writes ``<UNIT>.xlsx`` for the six regional offices and seven
thematic clusters, modelled on the ITU Telecommunication Development Bureau (BDT). The
structure is real (regions, thematic priorities, regional initiatives, study-group questions);
only the impact KPIs carry public figures (ITU Facts and Figures, edition stated with every
value; quarters between public points interpolated and labelled so). Everything else
(budgets, activities, risks, partners and most KPI values) is invented and labelled
illustrative. Generation is deterministic: the same seed gives the same frames.

The series are aimed so that, at the reporting quarter, the bureau shows a realistic mix:
KPIs on track, at risk, off track, target met and without recent data (judged while drawing
by the real analytics, :mod:`rbm_utils.demo.kpis`); assumptions that hold, weaken and break;
outputs under- and over-spent; extra-budgetary lines partly covered by partners' agreements,
with funding gaps the register's pipeline targets. What the sample is made of lives in
:mod:`rbm_utils.demo.catalogue`.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> unit, frames = sample_unit(load_config(), "AFR")
    >>> unit["unit_type"], len(frames["KPIs"]) >= 12
    ('region', True)
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.config import DEFAULT_THRESHOLDS, Config
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.demo.catalogue import (
    CASH_TYPES,
    COVERAGE_5G,
    GENDER_PARITY,
    INTERNET_USE,
    MANUAL_EVIDENCE,
    MANUAL_NOTE,
    NOTICE,
    PARTNERS,
    PLANS,
    REGION_NAMES,
    RISKS,
    STATEMENTS,
    THEME_LINKS,
    THEME_PROGRAMME,
    VERDICT_NOTES,
    Plan,
    generic_plan,
    public_quarter,
    stable_hash,
)
from rbm_utils.demo.history import frames_at, partner_stages
from rbm_utils.demo.kpis import (
    SampleKpi,
    TotalRow,
    aimed_actuals,
    ceil_to,
    floor_to,
    milestones_for,
    round_to,
    unit_kpis,
)
from rbm_utils.demo.parts import SampleParts
from rbm_utils.demo.story import make_story
from rbm_utils.intake.template import write_workbook

log = logging.getLogger(__name__)

__all__ = [
    "NOTICE",
    "INTERNET_USE",
    "GENDER_PARITY",
    "COVERAGE_5G",
    "PLANS",
    "sample_unit",
    "build_sample",
    "public_quarter",
]


def sample_unit(
    config: Config, unit_code: str, *, seed: int = 2026, quarter: QuarterLike | None = None
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The Unit fields and one conformed frame per table sheet for ``unit_code``: its state at
    the reporting quarter, with the decisions of its reviews so far (:mod:`rbm_utils.demo.story`).

    Deterministic: ``numpy.random.default_rng(seed + crc32(unit_code))``. The reporting
    quarter defaults to ``config.current_quarter``; periods run from ``config.first_quarter``
    (the sample needs at least four quarters of history).

    >>> from rbm_utils.core.config import load_config
    >>> unit, frames = sample_unit(load_config(), "DIN")
    >>> unit["unit_code"], sorted(frames)[:3]
    ('DIN', ['Activities', 'Actuals', 'Assumptions'])
    """
    parts = sample_parts(config, unit_code, seed=seed, quarter=quarter)
    return parts.unit, frames_at(parts, make_story(parts), parts.quarter)


def sample_parts(
    config: Config, unit_code: str, *, seed: int = 2026, quarter: QuarterLike | None = None
) -> SampleParts:
    """The unit's final state at the reporting quarter (no review decisions yet) and what it
    was aimed at: the parts :mod:`rbm_utils.demo.story` draws the unit's history from."""
    u = config.unit(unit_code)
    q = Quarter.parse(quarter or config.current_quarter)
    first = Quarter.parse(config.first_quarter)
    if q < first + 4:
        raise ValueError(
            f"the sample needs at least four quarters of history: {q} is too close to "
            f"the first quarter {config.first_quarter}"
        )
    thresholds = {**DEFAULT_THRESHOLDS, **config.thresholds}
    rng = np.random.default_rng(seed + stable_hash(u.code))
    position = list(config.units).index(u.code)
    plan = PLANS.get(u.code) or generic_plan(u.code, u.themes, u.type, schema.REGIONS)
    regions = list(plan.regions) if u.type == "cluster" else [u.code] if u.code in schema.REGIONS else []
    code = u.code

    # ---------------------------------------------------------------- results
    outs = plan.outputs
    out_ids = [f"{code}-O{j}" for j in range(1, len(outs) + 1)]
    main_programme = THEME_PROGRAMME.get(outs[0].theme, "")
    where = REGION_NAMES.get(code, "Member States")
    has_i2 = u.type == "region" and any(code in v for _, _, v in GENDER_PARITY)
    impact_to = f"{code}-I1" + (f"; {code}-I2" if has_i2 else "")
    results: list[dict[str, Any]] = []
    activity_titles = (
        "Workshops and trainings delivered",
        "Technical assistance delivered to countries",
        "Work plan delivered on time and resourced",
    )
    for i, title in enumerate(activity_titles, start=1):
        results.append(
            {
                "result_id": f"{code}-A{i}",
                "level": "activity",
                "title": title,
                "contributes_to": "; ".join(out_ids),
                "programme": main_programme,
            }
        )
    for oid, o in zip(out_ids, outs):
        results.append(
            {
                "result_id": oid,
                "level": "output",
                "title": o.title,
                "contributes_to": f"{code}-R1",
                "programme": THEME_PROGRAMME.get(o.theme, ""),
                "initiative": o.initiative,
                "theme": o.theme,
            }
        )
    results += [
        {
            "result_id": f"{code}-R1",
            "level": "reach",
            "contributes_to": f"{code}-C1",
            "programme": main_programme,
            "title": f"Policy makers, regulators and practitioners reached on {plan.focus}",
        },
        {
            "result_id": f"{code}-C1",
            "level": "capacity",
            "contributes_to": f"{code}-B1",
            "programme": main_programme,
            "title": f"National institutions have the skills for {plan.focus}",
        },
        {
            "result_id": f"{code}-B1",
            "level": "behaviour",
            "contributes_to": impact_to,
            "programme": main_programme,
            "title": f"Countries adopt {plan.instrument}",
        },
    ]
    if u.code == "DIN":
        results.append(
            {
                "result_id": f"{code}-I1",
                "level": "impact",
                "programme": main_programme,
                "title": "Women and men use the Internet equally",
            }
        )
    else:
        results.append(
            {
                "result_id": f"{code}-I1",
                "level": "impact",
                "programme": main_programme,
                "title": f"More people use the Internet ({where if u.type == 'region' else 'worldwide'})",
            }
        )
    if has_i2:
        results.append(
            {
                "result_id": f"{code}-I2",
                "level": "impact",
                "programme": main_programme,
                "title": f"Women and men use the Internet equally in {where}",
            }
        )

    # ---------------------------------------------------------------- KPIs and milestones
    kpis = unit_kpis(code, u.type, plan, rng, first, q)
    by_role = {k.role: k for k in kpis if k.role}
    milestones: dict[str, dict[Quarter, float]] = {}
    if position % 2 == 0:
        milestones[by_role["adoption"].kpi_id] = milestones_for(by_role["adoption"], back_loaded=True)
    out_kpi = next(k for k in kpis if k.result_id == out_ids[0])
    milestones[out_kpi.kpi_id] = {p: v for p, v in milestones_for(out_kpi, back_loaded=False).items() if p.q == 4}

    # ---------------------------------------------------------------- intended statuses
    tests = ("min_ratio", "min_value", "non_decreasing", "min_achievement", "manual")
    broken = tests[position % len(tests)]
    weak_pool = [t for t in ("min_value", "min_achievement", "manual") if t != broken]
    weakening = weak_pool[position % len(weak_pool)]
    illus = [k for k in kpis if k.kind != "public"]
    protected = {by_role[r].kpi_id for r in ("workshops", "participants", "pass_rate", "applying")}
    stale_pool = [k.kpi_id for k in illus if k.kpi_id not in protected]
    intents = {k.kpi_id: "on" for k in illus}
    stale_id = stale_pool[int(rng.integers(len(stale_pool)))]
    intents[stale_id] = "stale"
    rest = [k.kpi_id for k in illus if k.kpi_id != stale_id]
    order = [rest[i] for i in rng.permutation(len(rest))]
    n_met = 1 + int(rng.random() < 0.5)
    n_risk = int(rng.integers(1, 4))
    n_off = int(rng.integers(1, 3))
    for kid in order[:n_met]:
        intents[kid] = "met"
    for kid in order[n_met : n_met + n_risk]:
        intents[kid] = "at_risk"
    for kid in order[n_met + n_risk : n_met + n_risk + n_off]:
        intents[kid] = "off"
    if broken == "min_value" and intents[by_role["pass_rate"].kpi_id] == "met":
        intents[by_role["pass_rate"].kpi_id] = "on"  # a threshold above a met target would be odd

    # ---------------------------------------------------------------- actuals, aimed with the analytics
    dip_kpi = by_role["applying"].kpi_id if broken == "non_decreasing" else None
    actual_rows, totals, progress = aimed_actuals(code, kpis, intents, milestones, q, regions, dip_kpi, thresholds, rng)
    # missing evidence: the latest quarter of two illustrative, recently reported KPIs
    recent_ids = [k.kpi_id for k in illus if totals[k.kpi_id] and totals[k.kpi_id][-1][0] == q]
    for kid in [
        recent_ids[i] for i in sorted(rng.choice(len(recent_ids), size=min(2, len(recent_ids)), replace=False))
    ]:
        for r in actual_rows:
            if r["kpi_id"] == kid and r["period"] == str(q):
                r["evidence"] = None
                r["comment"] = r["comment"] or "Evidence to be uploaded"

    # ---------------------------------------------------------------- assumptions
    status_now = {
        kid: {"current": cur, "achievement": ach}
        for kid, cur, ach in zip(progress["kpi_id"], progress["current_value"], progress["achievement"])
    }
    assumptions = _assumptions(code, kpis, by_role, status_now, totals, broken, weakening, q, intents, rng)

    frames_raw = {
        "Results": results,
        "KPIs": [k.row() for k in kpis],
        "Milestones": [
            {"kpi_id": kid, "period": str(p), "target_value": v}
            for kid, ms in milestones.items()
            for p, v in sorted(ms.items())
        ],
        "Actuals": actual_rows,
        "Assumptions": assumptions,
        "Risks": _risks(code, u.type, plan, out_ids, position, first, q, rng),
        "Linkages": _linkages(code, plan, out_ids),
    }
    received = _received_by_year(kpis, actual_rows)
    budget, spend = _money(code, out_ids, position, first, q, received, rng)
    activities = _activities(code, u.type, plan, out_ids, regions or [code], position, first, q, rng)
    frames_raw["Activities"] = activities
    partners = _partners(code, results, activities, kpis, actual_rows, budget, first, q, rng)
    spend += _extra_spending(budget, partners, activities, out_ids, position, first, q, rng)
    frames_raw["Budget"], frames_raw["Expenditure"] = _by_region(code, budget, spend, activities)
    frames_raw["Partners"] = partners

    frames: dict[str, pd.DataFrame] = {}
    for sh in schema.DATA_SHEETS:
        recs = frames_raw.get(sh.name, [])
        df = pd.DataFrame(recs) if recs else schema.empty_frame(sh.name)
        frames[sh.name] = schema.conform(sh.name, df)
    unit_fields: dict[str, Any] = {
        "unit_code": u.code,
        "unit_name": u.name,
        "unit_type": u.type,
        "reporting_quarter": str(q),
        "submitted_by": f"{u.code} M&E focal point (illustrative)",
    }
    unit_fields = {c: unit_fields.get(c) for c in schema.sheet("Unit").column_names}  # based_on_submission: None
    log.info("sample %s: %d KPIs, %d actuals", code, len(frames["KPIs"]), len(frames["Actuals"]))
    return SampleParts(
        config=config,
        unit=unit_fields,
        frames=frames,
        position=position,
        unit_type=u.type,
        plan=plan,
        regions=regions,
        first=first,
        quarter=q,
        intents=intents,
        roles={role: k.kpi_id for role, k in by_role.items()},
        milestone_kpis=frozenset(milestones),
        verdicts={t: "broken" if t == broken else "weakening" if t == weakening else "holds" for t in tests},
    )


def _assumptions(
    code: str,
    kpis: list[SampleKpi],
    by_role: dict[str, SampleKpi],
    status_now: dict[str, dict],
    totals: Mapping[str, Sequence[TotalRow]],
    broken: str,
    weakening: str,
    q: Quarter,
    intents: dict[str, str],
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Five assumptions, one per test type; thresholds set from the actuals so that the
    intended one breaks, another weakens and the rest hold."""

    def verdict_of(test: str) -> str:
        return "broken" if test == broken else "weakening" if test == weakening else "holds"

    out: list[dict[str, Any]] = []
    w, p = by_role["workshops"], by_role["participants"]
    r_cum = status_now[p.kpi_id]["current"] / max(status_now[w.kpi_id]["current"], 1e-9)
    last_w = {r[0]: r[1] for r in totals[w.kpi_id]}.get(q, 0.0)
    last_p = {r[0]: r[1] for r in totals[p.kpi_id]}.get(q, 0.0)
    ratios = [r_cum] + ([last_p / last_w] if last_w > 0 else [])
    if verdict_of("min_ratio") == "broken":
        thr = ceil_to(1.25 * max(ratios), 1)
    else:
        thr = max(1.0, floor_to(0.75 * min(ratios), 1))
    out.append(
        {
            "from_result": w.result_id,
            "to_result": p.result_id,
            "test": "min_ratio",
            "kpi_id": p.kpi_id,
            "reference_kpi_id": w.kpi_id,
            "threshold": thr,
            "statement": STATEMENTS["min_ratio"].format(thr=thr),
        }
    )

    pr = by_role["pass_rate"]
    v = status_now[pr.kpi_id]["current"]
    how = verdict_of("min_value")
    thr = (
        min(100.0, ceil_to(v * 1.12, 5))
        if how == "broken"
        else float(math.floor(v / 1.04))
        if how == "weakening"
        else max(5.0, floor_to(v * 0.85, 5))
    )
    out.append(
        {
            "from_result": pr.result_id,
            "to_result": f"{code}-B1",
            "test": "min_value",
            "kpi_id": pr.kpi_id,
            "threshold": thr,
            "statement": STATEMENTS["min_value"].format(thr=thr),
        }
    )

    ap = by_role["applying"]
    out.append(
        {
            "from_result": ap.result_id,
            "to_result": f"{code}-I1",
            "test": "non_decreasing",
            "kpi_id": ap.kpi_id,
            "statement": STATEMENTS["non_decreasing"],
        }
    )

    how = verdict_of("min_achievement")
    cands = [
        k
        for k in kpis
        if k.kind in ("count",)
        and intents.get(k.kpi_id) in ("on", "at_risk", "off")
        and status_now[k.kpi_id]["achievement"] > 0.05
    ]
    cands.sort(key=lambda k: status_now[k.kpi_id]["achievement"])
    if how == "broken":  # the weakest link: an off-track KPI if there is one
        pick = next((k for rank in ("off", "at_risk") for k in cands if intents[k.kpi_id] == rank), cands[0])
    else:
        pick = cands[-1]
    a = status_now[pick.kpi_id]["achievement"]
    thr = (
        ceil_to(a * 1.3, 0.05)
        if how == "broken"
        else floor_to(a / 1.04, 0.01)
        if how == "weakening"
        else max(0.05, floor_to(a * 0.75, 0.05))
    )
    nxt = {"O": f"{code}-R1", "R": f"{code}-C1", "C": f"{code}-B1", "B": f"{code}-I1", "A": f"{code}-O1"}
    level_letter = pick.result_id.split("-")[-1][0]
    out.append(
        {
            "from_result": pick.result_id,
            "to_result": nxt.get(level_letter, f"{code}-R1"),
            "test": "min_achievement",
            "kpi_id": pick.kpi_id,
            "threshold": round(thr, 2),
            "statement": STATEMENTS["min_achievement"].format(name=pick.name, thr=thr),
        }
    )

    how = verdict_of("manual")
    out.append(
        {
            "from_result": f"{code}-B1",
            "to_result": f"{code}-I1",
            "test": "manual",
            "verdict": how,
            "evidence": MANUAL_EVIDENCE[how].format(q=q),
            "statement": STATEMENTS["manual"],
        }
    )
    for i, a_ in enumerate(out, start=1):
        a_["assumption_id"] = f"{code}-AS{i:02d}"
        if a_["test"] != "manual":
            a_["review_note"] = VERDICT_NOTES[verdict_of(a_["test"])]
        else:
            a_["review_note"] = None if how == "holds" else MANUAL_NOTE
    return out


#: Units whose review of a high risk (by its number, RSK05 = 5) slipped in the reporting quarter,
#: by ``REVIEW_SLIPPED_DAYS`` before the quarter's end (reviews were on time before).
REVIEW_SLIPPED = {"DIN": 5, "EMT": 1}
REVIEW_SLIPPED_DAYS = 40
#: Units that raised a high risk in the reporting quarter with no mitigation agreed yet.
NEW_UNMITIGATED = ("EUR",)


def _risks(
    code: str,
    utype: str,
    plan: Plan,
    out_ids: list[str],
    position: int,
    first: Quarter,
    q: Quarter,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Five risks: a high open one everywhere, a critical open one in every other unit; in the units of
    :data:`REVIEW_SLIPPED` one review is overdue, in those of :data:`NEW_UNMITIGATED` a sixth, high risk
    raised this quarter has no mitigation yet."""
    high = [(3, 5), (5, 3), (4, 4)]
    critical = [(4, 5), (5, 4), (5, 5)]
    medium = [(3, 4), (2, 5), (4, 3)]
    low = [(2, 3), (1, 4), (3, 3)]
    pick = lambda opts: opts[int(rng.integers(len(opts)))]  # noqa: E731
    slots = [
        (pick(high), "open"),
        (pick(critical), "open") if position % 2 == 0 else (pick(medium), "open"),
        (pick(medium), "monitoring"),
        (pick(low), "closed"),
        (pick(high), "monitoring"),
    ]
    templates = [RISKS[i] for i in rng.permutation(len(RISKS))[: len(slots)]]
    q_end = q.end
    start = first.start
    rows = []
    targets = out_ids + [f"{code}-R1", f"{code}-B1"]
    for i, (((lk, im), status), (cat, title, cause, mitig)) in enumerate(zip(slots, templates), start=1):
        topic = plan.outputs[i % len(plan.outputs)].theme.replace("_", " ")
        identified = start + dt.timedelta(days=int(rng.integers(0, max(1, (q_end - start).days - 30))))
        review = None if status == "closed" else (q_end + dt.timedelta(days=int(rng.integers(15, 60)))).isoformat()
        rows.append(
            {
                "risk_id": f"{code}-RSK{i:02d}",
                "category": cat,
                "title": title.format(topic=topic),
                "cause": cause,
                "result_id": targets[int(rng.integers(len(targets)))],
                "likelihood": lk,
                "impact": im,
                "owner": f"{code} {'Regional Director' if utype == 'region' else 'Cluster Facilitator'}",
                "mitigation": mitig,
                "status": status,
                "identified_on": identified.isoformat(),
                "review_on": review,
            }
        )
    slipped = REVIEW_SLIPPED.get(code)
    if slipped is not None:  # the review date passed weeks ago and nobody reviewed the risk
        rows[slipped - 1]["review_on"] = (q_end - dt.timedelta(days=REVIEW_SLIPPED_DAYS)).isoformat()
    if code in NEW_UNMITIGATED:  # raised this quarter; the mitigation is for the review to agree
        cat, title, cause, _ = next(t for t in RISKS if t not in templates)
        rows.append(
            {
                "risk_id": f"{code}-RSK{len(rows) + 1:02d}",
                "category": cat,
                "title": title.format(topic=plan.outputs[0].theme.replace("_", " ")),
                "cause": cause,
                "result_id": out_ids[0],
                "likelihood": 3,
                "impact": 5,
                "owner": rows[0]["owner"],
                "mitigation": None,
                "status": "open",
                "identified_on": (q.start + dt.timedelta(days=40)).isoformat(),
                "review_on": (q_end + dt.timedelta(days=30)).isoformat(),
            }
        )
    return rows


def _linkages(code: str, plan: Plan, out_ids: list[str]) -> list[dict[str, Any]]:
    rows, seen = [], set()
    for oid, o in zip(out_ids, plan.outputs):
        for body, ref, nature in THEME_LINKS.get(o.theme, ()):
            if (oid, body, ref) not in seen:
                seen.add((oid, body, ref))
                rows.append({"result_id": oid, "body": body, "reference": ref, "nature": nature})
    rows.append({"result_id": f"{code}-R1", "body": "other", "reference": "ITU Academy", "nature": "draws_on"})
    return rows


def _received_by_year(kpis: Sequence[SampleKpi], actual_rows: list[dict[str, Any]]) -> dict[int, float]:
    """The partners' money received per year: the reported increments of the KPI measured from the
    register (``register_received``), which the register's received rows repeat (:func:`_partners`)."""
    measured = {k.kpi_id for k in kpis if k.measured_from == "register_received"}
    out: dict[int, float] = {}
    for r in actual_rows:
        if r["kpi_id"] in measured and not r["disaggregation"] and r["value"]:
            year = Quarter.parse(r["period"]).year
            out[year] = out.get(year, 0.0) + float(r["value"])
    return out


#: The funding source of the extra-budgetary lines: money the unit must mobilise from partners
#: (the partner register, sheet Partners), spent only once received.
EXTRA_BUDGETARY = "Extra-budgetary: partner agreements (illustrative)"
#: Bounds of an extra-budgetary line's share of its output's budget of the year.
EXTRA_SHARE = (0.15, 0.35)
#: Spending pace per output (1 = on plan), by (unit position + output index).
SPEND_PATTERN = (1.0, 0.6, 1.35, 0.95)


def _extra_outputs(code: str, n: int, position: int) -> list[int]:
    """The indexes of the outputs with an extra-budgetary line: all but one in units of four
    outputs or more and in every other unit, else all (a regional line of :data:`REGIONAL_LINES`
    on the extra-budgetary source keeps its output)."""
    if n < 4 and position % 2 == 0:
        return list(range(n))
    skip = position % n
    if code in REGIONAL_LINES and REGIONAL_LINES[code] == (skip, EXTRA_BUDGETARY):
        skip = (skip + 1) % n
    return [j for j in range(n) if j != skip]


def _money(
    code: str,
    out_ids: list[str],
    position: int,
    first: Quarter,
    q: Quarter,
    received: Mapping[int, float],
    rng: np.random.Generator,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Budget per output, funding source and year; quarterly spending of the regular budget and
    ICT Development Fund lines at a rate per output (on plan, under- or over-spent).

    Several outputs also have an :data:`EXTRA_BUDGETARY` line (no spending here: it is spent as
    partners' money comes in, :func:`_extra_spending`). Its share of the output's budget lies in
    :data:`EXTRA_SHARE`, and the unit's extra-budgetary lines of a year are sized to the money
    partners paid in that year (``received``, the KPI measured from the register): a past year's
    lines mostly received (80-95 %), the current year's about half by the third quarter, so the
    register's signed agreements cover part of the rest and its pipeline targets the gaps."""
    fy, ly = first.year, q.year
    budget, spend = [], []
    core: dict[tuple[int, int], float] = {}
    for j, oid in enumerate(out_ids):
        rate = SPEND_PATTERN[(position + j) % len(SPEND_PATTERN)]
        sources = ["Regular budget"] + (["ICT Development Fund"] if j % 2 == 0 else [])
        for src in sources:
            base = round_to(rng.uniform(120_000, 450_000) * (1.0 if src == "Regular budget" else 0.5), 5000)
            sm = float(rng.integers(6, 25)) if src == "Regular budget" else float(rng.integers(0, 7))
            annual = {}
            for y in range(fy, ly + 1):
                annual[y] = round_to(base * rng.uniform(0.9, 1.15), 5000)
                core[j, y] = core.get((j, y), 0.0) + annual[y]
                budget.append(
                    {"result_id": oid, "funding_source": src, "year": y, "amount": annual[y], "staff_months": sm}
                )
            for p in Quarter.span(first, q):
                amount = round_to(annual[p.year] / 4 * rate * rng.uniform(0.8, 1.2), 100)
                spend.append(
                    {
                        "result_id": oid,
                        "period": str(p),
                        "funding_source": src,
                        "amount": amount,
                        "staff_months": round(sm / 4 * min(rate, 1.2) * rng.uniform(0.8, 1.2), 1),
                    }
                )
    extra = _extra_outputs(code, len(out_ids), position)
    share = {j: rng.uniform(0.18, 0.32) for j in extra}  # each output's own weight, kept over the years
    lo, hi = EXTRA_SHARE
    for y in range(fy, ly + 1):
        covered = rng.uniform(0.8, 0.95) if y < ly else q.q / 4 * rng.uniform(0.6, 0.8)
        raw = {j: core[j, y] * share[j] / (1 - share[j]) for j in extra}
        scale = float(received.get(y, 0.0)) / covered / sum(raw.values())
        for j in extra:
            s = float(np.clip(raw[j] * scale / (core[j, y] + raw[j] * scale), lo, hi))
            amount = round_to(core[j, y] * s / (1 - s), 5000)
            sm = float(rng.integers(1, 7))
            budget.append(
                {
                    "result_id": out_ids[j],
                    "funding_source": EXTRA_BUDGETARY,
                    "year": y,
                    "amount": amount,
                    "staff_months": sm,
                }
            )
    return budget, spend


def _extra_spending(
    budget: list[dict[str, Any]],
    partners: list[dict[str, Any]],
    activities: list[dict[str, Any]],
    out_ids: list[str],
    position: int,
    first: Quarter,
    q: Quarter,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Quarterly spending of the :data:`EXTRA_BUDGETARY` lines: at the output's pace of the
    year's line, but never more than the partners' money received for the output (on it or on
    one of its activities) and not yet spent."""
    output_of = {a["activity_id"]: a["result_id"] for a in activities}
    came: dict[tuple[str, Quarter], float] = {}
    for r in partners:
        if r["stage"] == "received" and r.get("actual_date"):
            oid = str(r["result_id"] or output_of.get(r["activity_id"]))
            p = Quarter.of_date(dt.date.fromisoformat(r["actual_date"]))
            came[oid, p] = came.get((oid, p), 0.0) + float(r["amount"])
    lines = {(r["result_id"], int(r["year"])): r for r in budget if r["funding_source"] == EXTRA_BUDGETARY}
    spend = []
    for j, oid in enumerate(out_ids):
        rate = SPEND_PATTERN[(position + j) % len(SPEND_PATTERN)]
        available = 0.0
        for p in Quarter.span(first, q):
            available += came.get((oid, p), 0.0)
            line = lines.get((oid, p.year))
            if line is None:
                continue
            amount = floor_to(min(line["amount"] / 4 * rate * rng.uniform(0.8, 1.2), available), 100)
            if amount <= 0:
                continue
            available -= amount
            sm = round(line["staff_months"] / 4 * min(rate, 1.2) * rng.uniform(0.8, 1.2), 1)
            spend.append(
                {
                    "result_id": oid,
                    "period": str(p),
                    "funding_source": EXTRA_BUDGETARY,
                    "amount": amount,
                    "staff_months": sm,
                }
            )
    return spend


#: Clusters whose project money is booked by region (cluster -> (output index, funding source)):
#: the line's money goes to the regions of the output's activities; every other line stays
#: without a region and is shared by the activities in the analysis.
REGIONAL_LINES: dict[str, tuple[int, str]] = {
    "CYB": (0, "ICT Development Fund"),
    "EMT": (1, EXTRA_BUDGETARY),
}
#: How a regional line is split between the regions of the output's activities, in activity order.
REGIONAL_SPLIT = (0.6, 0.4)


def _by_region(
    code: str, budget: list[dict[str, Any]], spend: list[dict[str, Any]], activities: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The budget and spending lines with the :data:`REGIONAL_LINES` of ``code`` split between
    the regions of the output's activities (60 % to the first, the rest to the second; whole when
    they are in one region). Totals per output and funding source are kept exactly."""
    if code not in REGIONAL_LINES:
        return budget, spend
    j, source = REGIONAL_LINES[code]
    oid = f"{code}-O{j + 1}"
    regions = list(dict.fromkeys(a["region"] for a in activities if a["result_id"] == oid and a["region"]))
    if not regions:
        return budget, spend

    def split(rows: list[dict[str, Any]], step: float) -> list[dict[str, Any]]:
        out = []
        for r in rows:
            if r["result_id"] != oid or r["funding_source"] != source:
                out.append(r)
                continue
            left, staff = float(r["amount"]), r.get("staff_months")
            shares = REGIONAL_SPLIT if len(regions) > 1 else (1.0,)
            for i, (region, share) in enumerate(zip(regions, shares)):
                amount = left if i == len(shares) - 1 else round_to(float(r["amount"]) * share, step)
                part = {**r, "amount": amount, "region": region}
                if staff is not None:
                    part["staff_months"] = round(float(staff) * share, 1)
                left -= amount
                out.append(part)
        return out

    return split(budget, 5000), split(spend, 100)


def _activities(
    code: str,
    utype: str,
    plan: Plan,
    out_ids: list[str],
    regions: list[str],
    position: int,
    first: Quarter,
    q: Quarter,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Two activities per output, all four activity types in every unit; clusters' activities
    are placed in the regions they work in."""
    statuses = ["completed", "ongoing", "ongoing", "delayed", "completed", "planned", "ongoing", "completed"]
    if position % 4 == 1:
        statuses[-1] = "cancelled"
    types = schema.ACTIVITY_TYPES
    q_end = q.end
    rows = []
    n = 2 * len(out_ids)
    for k in range(n):
        j = k // 2
        o = plan.outputs[j]
        region = regions[(k + position) % len(regions)]
        where = f" ({REGION_NAMES.get(region, region)})" if utype == "cluster" else ""
        typ = types[k % len(types)]
        topic = o.title[0].lower() + o.title[1:] if o.title[1:2].islower() else o.title
        short = topic.replace(f" ({o.initiative})", "") if o.initiative else topic
        title = {
            "regional_initiative": f"{o.initiative or 'Regional initiative'}: regional forum on {short}{where}",
            "operational_plan": f"Operational plan: workshop on {topic}{where}",
            "project": f"Project: country assistance on {topic}{where}",
            "other": f"Knowledge exchange with partners on {topic}{where}",
        }[typ]
        status = statuses[k % len(statuses)]
        clamp = lambda p: max(first, p)  # noqa: E731
        pct = None
        a_start = a_end = None
        if status == "completed":
            ps = clamp(q - int(rng.integers(3, 9)))
            pe = min(q, ps + int(rng.integers(0, 3)))
            a_start = ps.start + dt.timedelta(days=int(rng.integers(0, 20)))
            a_end = min(pe.end + dt.timedelta(days=int(rng.integers(-10, 25))), q_end)
            a_end = max(a_end, a_start)
            pct = 100.0
        elif status == "ongoing":
            ps = clamp(q - int(rng.integers(1, 5)))
            pe = q + int(rng.integers(1, 5))
            a_start = ps.start + dt.timedelta(days=int(rng.integers(0, 20)))
            pct = float(int(np.clip(100 * ((q + 1) - ps) / ((pe + 1) - ps) + rng.normal(0, 8), 10, 90)))
        elif status == "delayed":
            ps = clamp(q - int(rng.integers(4, 7)))
            pe = max(ps, q - int(rng.integers(1, 3)))
            a_start = ps.start + dt.timedelta(days=int(rng.integers(15, 45)))
            pct = float(int(rng.integers(40, 81)))
        elif status == "planned":
            ps = q + int(rng.integers(1, 3))
            pe = ps + int(rng.integers(1, 4))
            pct = 0.0
        else:  # cancelled
            ps = clamp(q - int(rng.integers(2, 5)))
            pe = ps + 2
            pct = 0.0
        if a_start is not None:
            a_start = min(a_start, q_end)
        rows.append(
            {
                "activity_id": f"{code}-ACT{k + 1:02d}",
                "result_id": out_ids[j],
                "title": title,
                "type": typ,
                "region": region if region in schema.REGIONS else None,
                "status": status,
                "planned_start": ps.start.isoformat(),
                "planned_end": pe.end.isoformat(),
                "actual_start": a_start.isoformat() if a_start else None,
                "actual_end": a_end.isoformat() if a_end else None,
                "percent_complete": pct,
            }
        )
    return rows


#: Invented staff who own partner relationships (names illustrative).
RELATIONSHIP_OWNERS = (
    "Amina Diallo",
    "Kofi Mensah",
    "Lucia Ortega",
    "Rania Haddad",
    "Mei Lin",
    "Dmitri Volkov",
    "Sofia Lindqvist",
    "Tomas Herrera",
    "Aisha Karim",
    "Jonas Weber",
    "Priya Nair",
    "Samuel Okoro",
)
#: Why an offer was declined (a note on each declined row).
DECLINED_NOTES = (
    "Declined: the donor's call closed to new regional projects this cycle.",
    "Declined: the partner's priorities moved to other sectors.",
    "Declined: co-funding conditions could not be met by the host countries.",
)


def _partners(
    code: str,
    results: list[dict[str, Any]],
    activities: list[dict[str, Any]],
    kpis: Sequence[SampleKpi],
    actual_rows: list[dict[str, Any]],
    budget: list[dict[str, Any]],
    first: Quarter,
    q: Quarter,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """The unit's resource mobilisation register at quarter ``q``, sized to the budget's
    :data:`EXTRA_BUDGETARY` lines (what the unit must mobilise per output and year).

    Money received: the reported increments of the KPI measured from the register
    (``register_received``), one or two contributions per quarter dated within it, so the KPI
    agrees with the register in every quarter; each funds an output with an extra-budgetary
    line of its year (or one of the output's activities already under way) where the line still
    has room, split between two outputs when one has too little. The current year: on some
    outputs a signed agreement covers the rest of the line; on the others (two or more in a unit
    with three extra-budgetary outputs) a gap stays, partly covered by an agreement, and the
    open pipeline targets it: a pledge or a proposal, perhaps a prospect (some expected dates
    already passed), and a prospect for next year. Offers declined carry a note.
    :func:`rbm_utils.demo.history.partner_at` winds each row back through its stages for the
    workbooks of earlier quarters.
    """
    outputs = [r["result_id"] for r in results if r["level"] == "output"]
    initiative_of = {r["result_id"]: r.get("initiative") for r in results if r["level"] == "output"}
    initiatives = sorted({i for i in initiative_of.values() if i})
    started = [a for a in activities if a["status"] != "cancelled" and a.get("actual_start")]
    live = [a for a in activities if a["status"] in ("planned", "ongoing", "delayed")]
    cash_partners = [p for p in PARTNERS if p[1] in CASH_TYPES]
    kind_partners = [p for p in PARTNERS if p[1] not in CASH_TYPES or p[1] == "private"]
    owners = [RELATIONSHIP_OWNERS[i] + " (illustrative)" for i in rng.permutation(len(RELATIONSHIP_OWNERS))[:3]]
    need = {
        (r["result_id"], int(r["year"])): float(r["amount"]) for r in budget if r["funding_source"] == EXTRA_BUDGETARY
    }
    got: dict[tuple[str, int], float] = {}  # received or signed, by output and year
    rows: list[dict[str, Any]] = []
    seen: set[tuple] = set()

    def add(
        kind: str,
        day: dt.date,
        stage: str,
        amount: float,
        expected: dt.date | None,
        output: str | None = None,
        initiative: str | None = None,
        **extra: Any,
    ) -> None:
        """One row on ``output`` (or one of its activities) or ``initiative`` (else anything), from a
        partner not yet used there with this kind of contribution if there is one."""
        pool = cash_partners if kind == "cash" else kind_partners
        if output is not None:
            acts = started if stage == "received" else live
            targets: list[tuple[str | None, str | None, str | None]] = [(output, None, None)]
            targets += [
                (None, None, a["activity_id"])
                for a in acts
                if a["result_id"] == output and (stage != "received" or a["actual_start"] <= day.isoformat())
            ]
        elif initiative is not None:
            targets = [(None, initiative, None)]
        else:
            targets = [(o, None, None) for o in outputs] + [(None, i, None) for i in initiatives]
        for tries in range(40):
            name, ptype = pool[int(rng.integers(len(pool)))]
            rid, ini, act = targets[int(rng.integers(len(targets)))]
            key = (name, rid, ini, act, kind)
            if key not in seen or tries == 39:  # a second tranche (its own reference) when all are used
                break
        seen.add(key)
        rows.append(
            {
                "partner": name,
                "partner_type": ptype,
                "result_id": rid,
                "initiative": ini,
                "activity_id": act,
                "contribution_type": kind,
                "stage": stage,
                "amount": float(amount),
                "expected_date": expected.isoformat() if expected else None,
                "actual_date": day.isoformat(),
                "owner": owners[int(rng.integers(len(owners)))],
                "note": None,
                **extra,
            }
        )

    def day_in(p: Quarter) -> dt.date:
        return min(p.start + dt.timedelta(days=int(rng.integers(5, 85))), p.end)

    def room(oid: str, year: int) -> float:
        return need.get((oid, year), 0.0) - got.get((oid, year), 0.0)

    def receive(kind: str, d: dt.date, amount: float, expected: dt.date) -> None:
        """``amount`` received on ``d`` for the outputs with room on their line of the year."""
        year = d.year
        while amount > 0:
            open_ = [o for o in outputs if room(o, year) >= min(amount, 10_000)]
            if not open_:  # no room left: the output with the largest line takes the rest
                open_ = [max((o for o in outputs if (o, year) in need), key=lambda o: need[o, year])]
            weights = np.array([max(room(o, year), 1.0) for o in open_])
            oid = open_[int(rng.choice(len(open_), p=weights / weights.sum()))]
            part = (
                amount if room(oid, year) >= amount or len(open_) == 1 else max(floor_to(room(oid, year), 1000), 1000)
            )
            got[oid, year] = got.get((oid, year), 0.0) + part
            add(kind, d, "received", part, expected, output=oid)
            amount -= part

    # money received: exactly the KPI's reported increments
    measured = [k for k in kpis if k.measured_from == "register_received"]
    for k in measured:
        for r in actual_rows:
            if r["kpi_id"] != k.kpi_id or r["disaggregation"] or not r["value"]:
                continue
            p, v = Quarter.parse(r["period"]), float(r["value"])
            if v < 25_000:
                pieces = [("in-kind", v)]
            elif v >= 100_000 and rng.random() < 0.6:
                share = round_to(v * rng.uniform(0.1, 0.3), 1000)
                pieces = [("cash", v - share), ("in-kind", share)]
            else:
                pieces = [("cash", v)]
            for kind, amount in pieces:
                d = day_in(p)
                expected = d - dt.timedelta(days=int(rng.integers(-20, 60)))  # most money arrives late
                receive(kind, d, amount, max(expected, first.start))

    # the current year: agreements and the pipeline, sized to what each output still needs
    year = q.year
    year_end = dt.date(year, 12, 15)

    def dated(back: int, ahead: int) -> tuple[dt.date, dt.date]:
        """The day a stage was reached ``back`` quarters ago and the next step ``ahead`` days later (within the year)."""
        d = day_in(max(q - back, first))
        return d, min(d + dt.timedelta(days=ahead), year_end)

    short = sorted((o for o in outputs if room(o, year) > 0), key=lambda o: room(o, year), reverse=True)
    wide = [o for o in short if room(o, year) >= 30_000]  # a small rest is always signed for
    n_gaps = len(wide) if len(wide) < 3 else len(wide) - int(rng.random() < 0.5)
    gaps = wide[:n_gaps]
    covered = [o for o in short if o not in gaps]
    for i, oid in enumerate(covered):  # an agreement signed for the rest of the line (at least 5,000)
        left = room(oid, year)
        d, exp = dated(1 + i % 2, int(rng.integers(30, 200)))
        add("cash" if left >= 15_000 else "in-kind", d, "agreement_signed", max(left, 5000.0), exp, output=oid)
        got[oid, year] = need[oid, year]
    for i, oid in enumerate(gaps):
        left = room(oid, year)
        part = floor_to(left * rng.uniform(0.2, 0.5), 5000)
        if i % 2 == 1 and part >= 25_000:  # part of the gap already signed for
            d, exp = dated(2, int(rng.integers(30, 90)))  # the money expected by now: overdue
            add("cash", d, "agreement_signed", part, exp, output=oid)
            left -= part
        if rng.random() < 0.6:
            d, exp = dated(1, int(rng.integers(90, 180)))
            add("cash", d, "pledged", max(round_to(left * rng.uniform(0.6, 1.2), 5000), 5000), exp, output=oid)
        else:
            d, exp = dated(int(rng.integers(0, 2)), int(rng.integers(30, 120)))
            amount = max(round_to(left * rng.uniform(0.7, 1.5), 5000), 5000)
            add("cash", d, "proposal_submitted", amount, exp, output=oid)
        if rng.random() < 0.5:  # an idea for the rest, on the output or its initiative
            ini = initiative_of.get(oid) if rng.random() < 0.4 else None
            d, exp = dated(0, int(rng.integers(60, 180)))
            amount = max(round_to(left * rng.uniform(1.0, 2.5), 5000), 5000)
            add("cash", d, "prospect", amount, exp, output=None if ini else oid, initiative=ini)
    # next year's lines: a first idea
    d = day_in(q)
    nxt = outputs[int(rng.integers(len(outputs)))]
    amount = round_to(rng.uniform(50_000, 250_000), 5000)
    add("cash", d, "prospect", amount, dt.date(year + 1, 1, 15) + dt.timedelta(days=int(rng.integers(0, 120))), nxt)
    for i in range(1 + int(rng.integers(0, 2))):
        d = day_in(max(q - int(rng.integers(2, 7)), first))
        amount = round_to(rng.uniform(80_000, 400_000), 5000)
        note = DECLINED_NOTES[(stable_hash(code) + i) % len(DECLINED_NOTES)]
        add("cash", d, "declined", amount, d - dt.timedelta(days=int(rng.integers(0, 30))), note=note)
    opened = {id(r): partner_stages(r)[0][1] for r in rows}  # the day the file was opened (its first stage)
    rows.sort(key=lambda r: opened[id(r)])
    per_year: dict[str, int] = {}
    for r in rows:  # the unit's file reference, numbered by year in the order the files were opened
        year_ = opened[id(r)][:4]
        per_year[year_] = per_year.get(year_, 0) + 1
        r["reference"] = f"{code}-RM-{year_}-{per_year[year_]:02d}"
    return rows


def build_sample(
    out_dir: str | Path, config: Config, *, seed: int = 2026, quarter: QuarterLike | None = None
) -> list[Path]:
    """Write ``<UNIT>.xlsx`` for every unit of ``config`` into ``out_dir`` (created if needed)
    and return the paths in config order. Each file is written atomically by the template
    writer, with the illustrative notice on its Guide sheet.

    >>> from rbm_utils.core.config import load_config
    >>> build_sample("/tmp/sample", load_config())   # doctest: +SKIP
    [PosixPath('/tmp/sample/AFR.xlsx'), ...]
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for code in config.units:
        if not schema.UNIT_CODE_RE.match(code):  # config checks this too; never build a path from anything else
            raise ValueError(f"unit code {code!r} is not a valid unit code")
        unit, frames = sample_unit(config, code, seed=seed, quarter=quarter)
        paths.append(write_workbook(out / f"{code}.xlsx", unit, frames, notice=NOTICE))
    log.info("wrote %d sample workbooks to %s", len(paths), out)
    return paths
