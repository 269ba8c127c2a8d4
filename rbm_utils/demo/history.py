"""A sample unit's workbook as it stood at each quarter: its final state wound back by its story.

The workbook of quarter q holds what an officer would have sent then: the framework of q (targets,
budget lines, assumptions before the later revisions; KPIs, activities and assumptions added later
left out), the actuals and expenditure up to q, the risks identified by q with the scores and
statuses they had, activities as their dates put them at q (not started, under way with a share
done, completed), the partner register with each contribution at the stage it had reached by
then (and those funding an activity only once it is planned), and the decisions of the reviews
up to q with the status each had then. At the final quarter it is the final state itself.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> from rbm_utils.demo.sample import sample_parts
    >>> from rbm_utils.demo.story import make_story
    >>> parts = sample_parts(load_config(), "AFR")
    >>> early = records_at(parts, make_story(parts), Quarter(2023, 4))
    >>> max(r["period"] for r in early["Actuals"])
    '2023-Q4'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.codes import PARTNER_STAGES
from rbm_utils.core.quarters import Quarter
from rbm_utils.demo.catalogue import MANUAL_EVIDENCE, stable_hash
from rbm_utils.demo.parts import SampleParts
from rbm_utils.demo.story import Change, Story, cancelled_at, identified_at

Records = dict[str, list[dict[str, Any]]]


def _key(sheet: schema.Sheet, row: Mapping[str, Any]) -> tuple:
    return tuple(int(row[k]) if k == "year" else row[k] for k in sheet.key)


def _apply(
    rows: list[dict[str, Any]], sheet: schema.Sheet, sets: list[Change], changes: list[Change], q: Quarter
) -> list[dict[str, Any]]:
    """``rows`` (copied) with the story's values at ``q``: every ``set``, then each change not yet made at q,
    latest first (so the earliest change's old values win)."""
    mine_sets = [c for c in sets if c.sheet == sheet.name]
    mine = sorted((c for c in changes if c.sheet == sheet.name and q < c.at), key=lambda c: c.at, reverse=True)
    if not mine_sets and not mine:
        return [dict(r) for r in rows]
    by_key: dict[tuple, list[Change]] = {}
    for c in mine_sets + mine:
        by_key.setdefault(c.key, []).append(c)
    out = []
    for r in rows:
        r = dict(r)
        for c in by_key.get(_key(sheet, r), ()):
            r.update(c.old)
        out.append(r)
    return out


def activity_at(row: Mapping[str, Any], q: Quarter, first: Quarter, final: Quarter) -> dict[str, Any]:
    """An activity as its dates put it at quarter ``q``: planned before its actual start, under way
    (ongoing, or delayed past its planned end) with the share of its time done, completed after its end.

    >>> row = {"status": "completed", "planned_start": "2024-01-01", "planned_end": "2024-09-30",
    ...        "actual_start": "2024-01-10", "actual_end": "2024-09-20", "percent_complete": 100.0}
    >>> [activity_at(row, Quarter.parse(p), Quarter(2023, 1), Quarter(2026, 3))["status"] for p in ("2023-Q4", "2024-Q2", "2024-Q3")]
    ['planned', 'ongoing', 'completed']
    """
    r = dict(row)
    if q >= final:
        return r
    end_q = q.end.isoformat()
    if row["status"] == "cancelled":
        if q < cancelled_at(row, first, final):
            r.update(status="planned", percent_complete=0.0)
        return r
    start, end = row.get("actual_start"), row.get("actual_end")
    if start is None or start > end_q:
        r.update(status="planned", actual_start=None, actual_end=None, percent_complete=0.0)
        return r
    if end is not None and end <= end_q:
        return r
    d0 = dt.date.fromisoformat(start)
    if end is not None:  # completed later: its share of time done
        total, final_pct = (dt.date.fromisoformat(end) - d0).days, 100.0
    else:
        total, final_pct = (final.end - d0).days, float(row.get("percent_complete") or 0.0)
    share = (q.end - d0).days / max(total, 1)
    r.update(
        status="delayed" if row["planned_end"] < end_q else "ongoing",
        actual_end=None,
        percent_complete=float(min(95, max(5, round(final_pct * share)))),
    )
    return r


#: The stages a contribution went through to reach its final stage, in order.
_PATHS = {
    "declined": ("prospect", "proposal_submitted", "declined"),
    **{s: PARTNER_STAGES[: PARTNER_STAGES.index(s) + 1] for s in PARTNER_STAGES if s != "declined"},
}


def partner_stages(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The stages a register row went through and the date each was reached: its final stage at its
    ``actual_date``, each earlier one 35 to 104 days before the next (by a stable hash of the row).

    >>> row = {"partner": "P", "stage": "pledged", "actual_date": "2026-05-01"}
    >>> [s for s, _ in partner_stages(row)], partner_stages(row)[-1][1]
    (['prospect', 'proposal_submitted', 'pledged'], '2026-05-01')
    """
    path = _PATHS[row.get("stage") or "received"]
    if not row.get("actual_date"):
        return []
    day = dt.date.fromisoformat(str(row["actual_date"]))
    out = [(path[-1], day)]
    ident = "|".join(str(row.get(c)) for c in schema.sheet("Partners").key if c != "reference")  # set last
    for stage in reversed(path[:-1]):
        day = day - dt.timedelta(days=35 + stable_hash(f"{ident}|{stage}") % 70)
        out.append((stage, day))
    return [(s, d.isoformat()) for s, d in reversed(out)]


def partner_at(row: Mapping[str, Any], q: Quarter, final: Quarter) -> dict[str, Any] | None:
    """A register row as it stood at quarter ``q``: at the last stage it had reached by the quarter's end,
    dated then, the next step expected when it came (the money when it was expected); None before
    its first stage. Stages only move forward.

    >>> row = {"partner": "P", "stage": "received", "actual_date": "2026-08-10", "expected_date": "2026-07-31", "note": None}
    >>> at = partner_at(row, Quarter(2026, 2), Quarter(2026, 3))
    >>> at["stage"], at["expected_date"]
    ('agreement_signed', '2026-07-31')
    """
    if q >= final:
        return dict(row)
    stages = partner_stages(row)
    end = q.end.isoformat()
    reached = [i for i, (_, day) in enumerate(stages) if day <= end]
    if not stages or len(reached) == len(stages):
        return dict(row)
    if not reached:
        return None
    i = reached[-1]
    (stage, day), (after, next_day) = stages[i], stages[i + 1]
    expected = row.get("expected_date") if after == "received" else None
    return {
        **row,
        "stage": stage,
        "actual_date": day,
        "expected_date": expected if expected and expected >= day else next_day,
        "note": None,
    }


def _risks_at(rows: list[dict[str, Any]], q: Quarter, final: Quarter) -> Iterator[dict[str, Any]]:
    """Risks identified by the end of ``q``, with the next review date as far after q as it is after the final
    quarter; a review overdue in the final quarter was on time (15-59 days after the quarter) before."""
    for r in rows:
        if identified_at(r) > q:
            continue
        r = dict(r)
        fin = r.get("review_on")
        days = (dt.date.fromisoformat(fin) - final.end).days if fin else -1
        if days < 0 and (q < final or not fin):
            days = 15 + stable_hash(r["risk_id"]) % 45
        r["review_on"] = None if r["status"] == "closed" else (q.end + dt.timedelta(days=days)).isoformat()
        yield r


def records_at(parts: SampleParts, story: Story, q: Quarter) -> Records:
    """Every data sheet of the unit's workbook for quarter ``q``, as rows (dicts)."""
    final, first = parts.quarter, parts.first

    def present(sheet: str, key: tuple) -> bool:
        at = story.appears.get((sheet, key))
        return at is None or at <= q

    out: Records = {}
    kpis = {r["kpi_id"] for r in parts.records("KPIs") if present("KPIs", (r["kpi_id"],))}
    acts = {r["activity_id"] for r in parts.records("Activities") if present("Activities", (r["activity_id"],))}
    for sh in schema.DATA_SHEETS:
        if sh.name == "Decisions":
            out[sh.name] = [row for d in story.decisions if (row := d.row_at(q)) is not None]
            continue
        rows = [r for r in parts.records(sh.name) if present(sh.name, _key(sh, r))]
        if sh.periodic:
            text = str(q)
            rows = [r for r in rows if r[sh.periodic] <= text]  # YYYY-Qn text sorts as the quarters do
        if "kpi_id" in sh.column_names and sh.name != "Assumptions":
            rows = [r for r in rows if r["kpi_id"] in kpis]
        if sh.name == "Activities":
            rows = [r for r in rows if r["activity_id"] in acts]
        elif sh.name == "Partners":  # a row funding an output or initiative stays; one funding an activity needs it
            rows = [p for r in rows if r["activity_id"] in acts | {None} and (p := partner_at(r, q, final))]
        rows = _apply(rows, sh, story.sets, story.changes, q)
        if sh.name == "Activities":
            rows = [activity_at(r, q, first, final) for r in rows]
        elif sh.name == "Risks":
            rows = list(_risks_at(rows, q, final))
        elif sh.name == "Assumptions":
            for r in rows:
                if r["test"] == "manual" and r.get("verdict") in MANUAL_EVIDENCE:
                    r["evidence"] = MANUAL_EVIDENCE[r["verdict"]].format(q=q)
        out[sh.name] = rows
    return out


def frames_of(records: Records) -> dict[str, pd.DataFrame]:
    """The rows as one conformed frame per data sheet (in the contract's order)."""
    return {
        sh.name: schema.conform(sh.name, pd.DataFrame(records.get(sh.name) or [], columns=list(sh.column_names)))
        for sh in schema.DATA_SHEETS
    }


def frames_at(parts: SampleParts, story: Story, q: Quarter) -> dict[str, pd.DataFrame]:
    """The unit's workbook for quarter ``q`` as conformed frames."""
    return frames_of(records_at(parts, story, q))


def unit_at(parts: SampleParts, q: Quarter) -> dict[str, Any]:
    """The Unit sheet's fields of the workbook for quarter ``q``."""
    return {**parts.unit, "reporting_quarter": str(q)}
