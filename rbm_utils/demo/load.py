"""The sample bureau's history into a store, quarter by quarter, as the officers and approvers would have done it.

For every quarter of the calendar (``first_quarter`` .. ``current_quarter``) and every unit, the
unit's workbook of that quarter (:mod:`rbm_utils.demo.history`) is handed to the real validator as
in-memory raw sheets (what the reader would have read from the .xlsx, without writing one) and the
validated frames to :meth:`Store.ingest <rbm_utils.store.database.Store.ingest>`, which measures the
framework changes against the last approved quarter. Every quarter before the current one is then
approved by the unit's approver, and by a bureau approver too when a change needed the bureau,
through the store's own API (:meth:`Store.approve <rbm_utils.store.database.Store.approve>`, under
the settings' names): the sample's approvers are illustrative people, not registered users, and
the store is left without users (docs/users.md). Each workbook is stamped with when it reached the store (:func:`received_at`: a few days after
its quarter, two of the current quarter after the deadline). The current quarter stays a draft,
except where a change needs the bureau: there the unit's approver has approved what lies within
the unit's authority and the escalation is pending, awaiting the bureau approver. The latest
workbooks are written as .xlsx for the officers.

A store that already holds a submission of every unit for every quarter is left alone.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> from rbm_utils.store.database import Store
    >>> with Store("sqlite://") as st:                                   # doctest: +SKIP
    ...     ingest_history(st, load_config()).submissions
    195
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rbm_utils.core import schema
from rbm_utils.core.config import Config
from rbm_utils.core.quarters import Quarter
from rbm_utils.demo.catalogue import NOTICE, stable_hash
from rbm_utils.demo.history import Records, frames_of, records_at, unit_at
from rbm_utils.demo.parts import SampleParts
from rbm_utils.demo.sample import sample_parts
from rbm_utils.demo.story import Story, make_story
from rbm_utils.intake.raw import RawSheet, RawWorkbook
from rbm_utils.intake.template import write_workbook
from rbm_utils.intake.template_values import UNIT_HEADER, cell_value
from rbm_utils.intake.validate import validate_raw

log = logging.getLogger(__name__)

#: Who the history's submissions are ingested by.
INGESTED_BY = "rbm sample"
#: Units whose workbook of the current quarter came in late: days after the quarter's end (the
#: deadline is ``calendar.report_due_days``, 20 by default). Every other workbook came in 4 to 17
#: days after its quarter.
LATE_IN_CURRENT = {"ASP": 27, "DSA": 24}


def received_at(code: str, q: Quarter, current: Quarter, now: dt.datetime | None = None) -> dt.datetime:
    """When the sample's workbook of ``code`` for ``q`` reached the store (UTC, never after ``now``).

    >>> now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    >>> received_at("ASP", Quarter(2026, 3), Quarter(2026, 3), now).date().isoformat()
    '2026-10-27'
    """
    h = stable_hash(f"{code} {q}")
    days = LATE_IN_CURRENT[code] if q == current and code in LATE_IN_CURRENT else 4 + h % 14
    at = dt.datetime.combine(q.end + dt.timedelta(days=days), dt.time(8 + h % 9, h % 60), tzinfo=dt.UTC)
    return min(at, now or dt.datetime.now(dt.UTC))


class SampleError(RuntimeError):
    """The sample's history could not be stored (a workbook rejected, a quarter locked...)."""


@dataclass
class HistoryReport:
    """What :func:`ingest_history` did."""

    quarters: list[str] = field(default_factory=list)
    submissions: int = 0  # stored (new)
    already: int = 0  # unit-quarters already in the store (a run cut short), left as they are
    approvals: int = 0  # unit approvals recorded
    bureau_approvals: int = 0  # bureau approvals recorded
    warnings: int = 0
    framework_changes: dict[str, int] = field(default_factory=dict)  # by authority (unit, bureau)
    pending: list[str] = field(default_factory=list)  # "UNIT QUARTER" whose changes need the bureau
    skipped: bool = False
    seconds: float = 0.0

    @property
    def message(self) -> str:
        span = f"{self.quarters[0]}..{self.quarters[-1]}" if self.quarters else "no quarter"
        if self.skipped:
            return f"The store already holds the sample's history ({span}); nothing ingested."
        changes = ", ".join(
            f"{n} within the unit's authority" if k == "unit" else f"{n} needing the {k}"
            for k, n in sorted(self.framework_changes.items(), key=lambda kv: kv[0] != "unit")
        )
        return (
            f"Ingested the sample's history {span}: {self.submissions} submissions stored"
            + (f" ({self.already} already there)" if self.already else "")
            + f", {self.approvals} quarters approved by the units"
            + (f" and {self.bureau_approvals} by the bureau" if self.bureau_approvals else "")
            + f"; framework changes: {changes or 'none'}"
            + (
                f"; approved by the unit and pending the bureau approver: {', '.join(self.pending)}"
                if self.pending
                else ""
            )
            + f" ({self.seconds:.0f} s)."
        )


# --------------------------------------------------------------------------- in-memory workbooks


def raw_workbook(unit: Mapping[str, Any], records: Records, file_name: str) -> RawWorkbook:
    """What the reader would read from the unit's workbook: the Unit sheet and every data sheet,
    cells as a workbook holds them (numbers, dates, text; blank cells absent), rows numbered from 2.

    >>> raw = raw_workbook({"unit_code": "AFR"}, {"KPIs": [{"kpi_id": "AFR-K01", "target_value": 3.0}]}, "AFR.xlsx")
    >>> raw.sheets["KPIs"].rows[0][1][:1], raw.sheets["Unit"].rows[0][1]
    (['AFR-K01'], ['unit_code', 'AFR'])
    """
    sheets: dict[str, RawSheet] = {}
    ush = schema.sheet("Unit")
    sheets[ush.name] = RawSheet(
        ush.name,
        list(UNIT_HEADER),
        [(i, [c.name, cell_value(c, unit.get(c.name))[1]]) for i, c in enumerate(ush.columns, start=2)],
    )
    for sh in schema.DATA_SHEETS:
        rows = []
        for i, rec in enumerate(records.get(sh.name, []), start=2):
            cells = [cell_value(c, rec.get(c.name))[1] for c in sh.columns]
            while cells and cells[-1] is None:
                cells.pop()
            if cells:
                rows.append((i, cells))
        sheets[sh.name] = RawSheet(sh.name, list(sh.column_names), rows)
    digest = hashlib.sha256(json.dumps([unit, records], sort_keys=True, default=str).encode()).hexdigest()
    return RawWorkbook(file_name, Path(file_name), "xlsx", digest, sheets)


# --------------------------------------------------------------------------- the bureau's stories


def sample_stories(config: Config, *, seed: int = 2026) -> dict[str, tuple[SampleParts, Story]]:
    """Every unit's final parts and story, in the settings' order."""
    out = {}
    for code in config.units:
        if not schema.UNIT_CODE_RE.match(code):  # config checks this too; never build a path from anything else
            raise ValueError(f"unit code {code!r} is not a valid unit code")
        parts = sample_parts(config, code, seed=seed)
        out[code] = (parts, make_story(parts))
    return out


def write_latest(out_dir: str | Path, stories: Mapping[str, tuple[SampleParts, Story]]) -> list[Path]:
    """``<UNIT>.xlsx`` of the reporting quarter for every unit into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for code, (parts, story) in stories.items():
        frames = frames_of(records_at(parts, story, parts.quarter))
        paths.append(write_workbook(out / f"{code}.xlsx", parts.unit, frames, notice=NOTICE))
    log.info("wrote %d sample workbooks to %s", len(paths), out)
    return paths


# --------------------------------------------------------------------------- the history into the store


def holds_history(store: Any, config: Config, units: Sequence[str] | None = None) -> bool:
    """True when the store holds a submission of every unit for every quarter of the calendar."""
    subs = store.submissions()
    if subs.empty:
        return False
    held = set(zip(subs["unit_code"], subs["quarter"]))
    quarters = Quarter.span(config.first_quarter, config.current_quarter)
    return all((c, str(q)) in held for c in (units or list(config.units)) for q in quarters)


def _approve(
    store: Any,
    config: Config,
    code: str,
    q: Quarter,
    approved: set[tuple[str, str]],
    report: HistoryReport,
    *,
    bureau_too: bool = True,
) -> None:
    """The unit's approver approves ``q``; a bureau approver too when a change needs the bureau
    (unless ``bureau_too`` is False: the escalation then stays pending)."""
    unit = config.unit(code)
    if not unit.approvers:
        return
    if (code, str(q)) not in approved:
        state = store.approve(code, q, unit.approvers[0], config).get("state")
        report.approvals += 1
    else:  # a run that stopped half-way: the unit had approved it
        states = store.approval_states(q, config.authority)
        state = next(iter(states.loc[states["unit_code"] == code, "state"]), None)
    bureau = config.authority.bureau_approvers
    if state == "pending" and bureau and bureau_too:
        store.approve(code, q, bureau[0], config)
        report.bureau_approvals += 1


def _needs_bureau(store: Any, config: Config, code: str, q: Quarter) -> bool:
    """True when a framework change of ``code`` in ``q`` lies beyond the unit approver's authority."""
    changes = store.framework_changes(q, config.authority)
    mine = changes[changes["unit_code"] == code] if not changes.empty else changes
    return bool((mine["authority"] == "bureau").any()) if not mine.empty else False


def ingest_history(
    store: Any,
    config: Config,
    stories: Mapping[str, tuple[SampleParts, Story]] | None = None,
    *,
    seed: int = 2026,
    progress: Callable[[str], None] | None = None,
    today: dt.date | None = None,
) -> HistoryReport:
    """Ingest every unit's workbook of every quarter, approving each quarter before the current one.

    Each workbook goes through :func:`~rbm_utils.intake.validate.validate_raw` (with the unit's
    stored state as history) and :meth:`Store.ingest`; a rejected or locked workbook raises
    :class:`SampleError`. A store already holding the whole history is left alone
    (``report.skipped``); one holding part of it is completed (the unit-quarters it holds are left
    as they are, and approved if they were not). ``progress`` gets a line per quarter.
    """
    t0 = time.perf_counter()
    stories = stories if stories is not None else sample_stories(config, seed=seed)
    first, final = Quarter.parse(config.first_quarter), Quarter.parse(config.current_quarter)
    report = HistoryReport(quarters=[str(q) for q in Quarter.span(first, final)])
    if holds_history(store, config, list(stories)):
        report.skipped = True
        return report
    appr = store.approvals()
    approved = set(zip(appr["unit_code"], appr["quarter"])) if not appr.empty else set()
    subs = store.submissions()
    _check_resumable(store, subs, list(stories), report.quarters)
    held = set(zip(subs["unit_code"], subs["quarter"])) if not subs.empty else set()
    stored: dict[str, Mapping[str, Any] | None] = {}  # each unit's state in the store (None: ask the store)
    for q in Quarter.span(first, final):
        for code, (parts, story) in stories.items():
            if (code, str(q)) in held:
                report.already += 1
                stored[code] = None
            else:
                stored[code] = _ingest_one(store, config, parts, story, q, report, today, stored.get(code))
            if q < final:
                _approve(store, config, code, q, approved, report)
            elif _needs_bureau(store, config, code, q):  # the current quarter: approved by the unit, escalated
                _approve(store, config, code, q, approved, report, bureau_too=False)
        if progress is not None:
            progress(
                f"  {q}: {len(stories)} units"
                + (" ingested and approved" if q < final else " ingested (a draft, or pending the bureau)")
            )
    report.seconds = time.perf_counter() - t0
    log.info(report.message)
    return report


def _check_resumable(store: Any, subs: Any, units: Sequence[str], quarters: Sequence[str]) -> None:
    """:class:`SampleError` unless what the store holds of ``units`` is the start of the sample's
    history (its first quarters, ingested by this command): other submissions would be mixed with it."""
    if subs.empty:
        return
    for code in units:
        mine = subs[subs["unit_code"] == code]
        if mine.empty:
            continue
        held = sorted(set(mine["quarter"]))
        if held != list(quarters[: len(held)]) or (mine["ingested_by"] != INGESTED_BY).any():
            raise SampleError(
                f"the store {getattr(store, 'safe_url', store)} already holds submissions of {code} "
                f"({', '.join(held)}) that are not the sample's history; ingest the history into an empty store "
                "(remove this one, or give another with --store)"
            )


def _ingest_one(
    store: Any,
    config: Config,
    parts: SampleParts,
    story: Story,
    q: Quarter,
    report: HistoryReport,
    today: dt.date | None,
    previous: Mapping[str, Any] | None,
) -> Mapping[str, Any]:
    """Validate and store the unit's workbook of ``q``; returns the frames stored (the unit's state
    now, as every workbook carries all quarters so far). ``previous``: the state before (None: ask the store)."""
    code = parts.code
    unit = unit_at(parts, q)
    raw = raw_workbook(unit, records_at(parts, story, q), f"{code}_{q}.xlsx")
    parsed = validate_raw(raw, config, today=today, previous=previous if previous is not None else store.state)
    if not parsed.ok:
        said = "; ".join(f"{p.sheet} row {p.row} {p.column}: {p.message}" for p in parsed.errors[:5])
        raise SampleError(f"the sample workbook {raw.file} was rejected: {said}")
    out = store.ingest(
        code,
        q,
        parsed.frames,
        file_name=raw.file,
        sha256=raw.sha256,
        submitted_by=str(unit.get("submitted_by") or ""),
        ingested_by=INGESTED_BY,
        problems=parsed.warnings,
        authority=config.authority,
        rows=parsed.rows,
        received_at=received_at(code, q, Quarter.parse(config.current_quarter)),
    )
    if out.status != "stored":
        raise SampleError(f"the sample workbook {raw.file} was not stored: {out.message}")
    report.submissions += 1
    report.warnings += len(parsed.warnings) + len(out.warnings)
    fc = out.framework_changes
    if fc is not None and not fc.empty:
        for level, n in fc["authority"].value_counts().items():
            report.framework_changes[str(level)] = report.framework_changes.get(str(level), 0) + int(n)
        if q == Quarter.parse(config.current_quarter) and (fc["authority"] == "bureau").any():
            report.pending.append(f"{code} {q}" + (f" ({story.escalation})" if story.escalation else ""))
    return parsed.frames
