"""What happened at a sample unit's quarterly reviews: the decisions taken and how the framework moved.

A unit's story is told backwards from its final state (:class:`~rbm_utils.demo.parts.SampleParts`),
deterministically and without drawing anything, so the final state stays what the aimed generator
made. The story says, looking back from the reporting quarter F:

- **targets** adjusted within the unit's authority (a few per cent, an ``adjust_target`` decision);
  for the units of :data:`ESCALATIONS` a change beyond it in F (a target cut by a quarter, or a
  budget move above the unit's amount), which waits for the bureau;
- **budget** moved between outputs within the unit's authority (``reallocate_budget``);
- **assumptions** revised with a note on what was learnt (threshold or statement; some in F, so
  F's learning log has entries), and one added later in some units;
- **risks** whose scores move: one rising, one mitigated (its score falls when the decision is
  done), one closed, one moved from open to monitoring;
- **activities** added to the work plan (``add_activity``) or cancelled (``drop_activity``);
- decisions on KPIs (no change, scale up, dropped), a joint decision of each cluster with a
  region it works in, and for every third unit (AFR first) decisions overdue at F;
- the bureau-wide KPI on institutions' focal teams added to the last cluster's framework at its
  baseline quarter (a change only the bureau may approve; it did).

:mod:`rbm_utils.demo.history` turns the story into the unit's workbook of each quarter.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> from rbm_utils.demo.sample import sample_parts
    >>> story = make_story(sample_parts(load_config(), "AFR"))
    >>> [d.decision_id for d in story.decisions][:2]
    ['AFR-D1', 'AFR-D2']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rbm_utils.core.quarters import Quarter
from rbm_utils.demo.catalogue import LESSONS, REGION_NAMES, STATEMENTS
from rbm_utils.demo.kpis import round_to
from rbm_utils.demo.parts import SampleParts

#: Units whose reporting quarter changes the framework beyond their authority (pending the bureau):
#: a KPI target cut by a quarter, or budget moved between outputs above the unit's amount.
ESCALATIONS: dict[str, str] = {"NDI": "target_cut", "ARB": "budget_move"}
#: Share by which the escalated target is cut.
TARGET_CUT = 0.25
#: Roles of the people who carry decisions out.
DIRECTOR = {"region": "Regional Director", "cluster": "Cluster Facilitator"}


@dataclass(frozen=True)
class Change:
    """Before quarter ``at`` the row ``key`` of ``sheet`` had the fields ``old``; from ``at`` on its later values."""

    sheet: str
    key: tuple
    at: Quarter
    old: Mapping[str, Any]


@dataclass(frozen=True)
class Step:
    """A decision's status (and follow-up note) from quarter ``since`` on."""

    since: Quarter
    status: str
    follow_up: str | None = None


@dataclass
class Decision:
    """A decision of a review meeting and how it went, quarter by quarter."""

    meeting: Quarter
    concerns: str
    concerns_kind: str
    kind: str
    decision: str
    owner: str
    due: Quarter
    steps: tuple[Step, ...]
    other_unit: str | None = None
    decision_id: str = ""

    def row_at(self, q: Quarter) -> dict[str, Any] | None:
        """The Decisions row as the unit's workbook of quarter ``q`` holds it (None before the meeting)."""
        if q < self.meeting:
            return None
        step = [s for s in self.steps if s.since <= q][-1]
        return {
            "decision_id": self.decision_id,
            "meeting_quarter": str(self.meeting),
            "concerns": self.concerns,
            "concerns_kind": self.concerns_kind,
            "other_unit": self.other_unit,
            "decision": self.decision,
            "kind": self.kind,
            "owner": self.owner,
            "due_quarter": str(self.due),
            "status": step.status,
            "follow_up": step.follow_up,
        }


@dataclass
class Story:
    """A unit's history: row values before a quarter, rows that appear at a quarter, decisions."""

    final: Quarter
    changes: list[Change] = field(default_factory=list)
    appears: dict[tuple[str, tuple], Quarter] = field(default_factory=dict)
    sets: list[Change] = field(default_factory=list)  # values at every quarter (``at`` unused)
    decisions: list[Decision] = field(default_factory=list)
    escalation: str = ""  # what the reporting quarter changes beyond the unit's authority, in words


def cancelled_at(row: Mapping[str, Any], first: Quarter, final: Quarter) -> Quarter:
    """The quarter a cancelled activity was cancelled in: the quarter after its planned start."""
    start = Quarter.of_date(dt.date.fromisoformat(str(row["planned_start"])))
    return min(max(start + 1, first + 1), final)


def identified_at(row: Mapping[str, Any]) -> Quarter:
    """The quarter a risk entered the register."""
    return Quarter.of_date(dt.date.fromisoformat(str(row["identified_on"])))


class _Teller:
    """Tells one unit's story: :meth:`tell` runs the threads (targets, budget, assumptions, risks, ...) in turn."""

    def __init__(self, parts: SampleParts) -> None:
        self.p = parts
        self.code = parts.code
        self.first, self.final = parts.first, parts.quarter
        self.story = Story(parts.quarter)
        self.director = f"{self.code} {DIRECTOR.get(parts.unit_type, 'Director')}"
        self.officer = f"{self.code} programme officer"
        self.me = f"{self.code} M&E focal point"
        self.kpis = {r["kpi_id"]: r for r in parts.records("KPIs")}
        asm = parts.records("Assumptions")
        self.asm = {r["test"]: r for r in asm}
        self.linked = {r[c] for r in asm for c in ("kpi_id", "reference_kpi_id") if r.get(c)}
        self.used: set[str] = set()
        auth = parts.config.authority
        self.target_share = auth.target_change_share
        self.move_amount = auth.budget_move_amount
        self.bureau_role = auth.bureau_role
        self.move_share = auth.budget_move_share
        self.currency = parts.config.currency

    # ---------------------------------------------------------------- helpers

    def q(self, back: int) -> Quarter:
        """The quarter ``back`` quarters before the final one, within the calendar (never the first)."""
        return min(max(self.final - back, self.first + 1), self.final)

    def decide(
        self,
        meeting: Quarter,
        concerns: str,
        kind_of: str,
        kind: str,
        text: str,
        owner: str,
        due: Quarter,
        *steps: Step,
        other_unit: str | None = None,
    ) -> None:
        due = max(due, meeting)
        self.story.decisions.append(
            Decision(meeting, concerns, kind_of, kind, text, owner, due, steps or (Step(meeting, "open"),), other_unit)
        )

    def change(self, sheet: str, key: str | tuple, at: Quarter, **old: Any) -> None:
        self.story.changes.append(Change(sheet, key if isinstance(key, tuple) else (key,), at, old))

    def value(self, sheet: str, key: tuple, name: str, final: Any, q: Quarter) -> Any:
        """The field's value at quarter ``q`` by the changes told so far."""
        out = final
        for c in sorted(self.story.changes, key=lambda c: c.at, reverse=True):
            if c.sheet == sheet and c.key == key and q < c.at and name in c.old:
                out = c.old[name]
        return out

    def lesson(self, test: str, lowered: bool, **values: Any) -> str:
        """The officer's note on a threshold revised (one of the catalogue's wordings, by the unit's position)."""
        wordings = LESSONS[(test, "lowered" if lowered else "raised")]
        return wordings[self.p.position % len(wordings)].format(**values)

    def kpi_pick(self, intents: tuple[str, ...], kinds: tuple[str, ...] = ("count", "pct")) -> dict[str, Any] | None:
        """An illustrative KPI with one of ``intents``, free of milestones and assumptions, not used yet."""
        for intent in intents:
            for kid, it in self.p.intents.items():
                k = self.kpis[kid]
                if (
                    it == intent
                    and kid not in self.used
                    and kid not in self.linked
                    and kid not in self.p.milestone_kpis
                    and _kind(k) in kinds
                    and float(k["target_value"]) >= 8
                ):
                    self.used.add(kid)
                    return k
        return None

    # ---------------------------------------------------------------- threads

    def targets(self) -> None:
        k = self.kpi_pick(("met", "on", "at_risk", "off"))
        if k is None:
            return
        t = float(k["target_value"])
        step = 50000.0 if _kind(k) == "currency" else 1.0
        up = self.p.intents[k["kpi_id"]] in ("met", "on")
        old = round_to(t / 1.05, step) if up else round_to(t * 1.06, step)
        if old == t or abs(t - old) > self.target_share * abs(old):
            return
        at = self.q(4 + self.p.position % 5)
        self.change("KPIs", k["kpi_id"], at, target_value=old)
        why = "delivery runs ahead of plan" if up else "country demand is lower than planned"
        self.decide(
            at,
            k["kpi_id"],
            "kpi",
            "adjust_target",
            f"{'Raise' if up else 'Lower'} the target of '{k['name']}' from {old:g} to {t:g}: {why}.",
            self.director,
            at,
            Step(at, "done", f"Target changed from {old:g} to {t:g} in the KPIs sheet, within the unit's authority."),
        )

    def target_cut(self) -> None:
        k = self.kpi_pick(("off", "at_risk"), ("count",))
        if k is None:
            return
        t = float(k["target_value"])
        old = float(round(t / (1 - TARGET_CUT)))
        f = self.final
        self.change("KPIs", k["kpi_id"], f, target_value=old)
        self.decide(
            f,
            k["kpi_id"],
            "kpi",
            "adjust_target",
            f"Cut the target of '{k['name']}' from {old:g} to {t:g}: country requests fell with the funding gap.",
            self.director,
            f + 1,
            Step(
                f,
                "in_progress",
                f"Target cut from {old:g} to {t:g} ({(t - old) / old:+.0%}) in this quarter's framework; beyond the "
                f"unit's {self.target_share:.0%} authority, it awaits the {self.bureau_role}'s approval.",
            ),
        )
        self.story.escalation = f"target of {k['kpi_id']} cut from {old:g} to {t:g}"

    def _budget_lines(self, year: int) -> tuple[dict[str, Any], dict[str, Any], float] | None:
        lines = [r for r in self.p.records("Budget") if int(r["year"]) == year]
        regular = [r for r in lines if r["funding_source"] == "Regular budget"]
        if len(regular) < 2:
            return None
        total = float(sum(float(r["amount"]) for r in lines))
        return regular[0], regular[-1], total

    def budget(self, at: Quarter, amount: float | None = None) -> None:
        found = self._budget_lines(at.year)
        if found is None:
            return
        to, frm, total = found
        beyond = amount is not None
        share = (0.02 + 0.01 * (self.p.position % 3)) * total  # a few per cent of the year, within both limits
        m = (
            amount
            if amount is not None
            else round_to(min(share, 0.9 * self.move_amount, 0.9 * self.move_share * total), 5000)
        )
        if m <= 0:
            return
        key_to = (to["result_id"], to["funding_source"], int(to["year"]), to.get("region"))
        key_from = (frm["result_id"], frm["funding_source"], int(frm["year"]), frm.get("region"))
        to_now = float(self.value("Budget", key_to, "amount", to["amount"], at))
        from_now = float(self.value("Budget", key_from, "amount", frm["amount"], at))
        if to_now - m <= 0:
            return
        self.change("Budget", key_to, at, amount=to_now - m)
        self.change("Budget", key_from, at, amount=from_now + m)
        said = f"{m:,.0f} {self.currency} of the {at.year} regular budget from {frm['result_id']} to {to['result_id']}"
        if beyond:
            self.decide(
                at,
                to["result_id"],
                "budget",
                "reallocate_budget",
                f"Move {said}: the broadband reviews run faster than the work they are funded for.",
                self.director,
                at + 1,
                Step(
                    at,
                    "in_progress",
                    f"Moved in this quarter's budget; above the unit's {self.move_amount:,.0f} {self.currency}, "
                    f"it awaits the {self.bureau_role}'s approval.",
                ),
            )
            self.story.escalation = f"moved {said}"
        else:
            self.decide(
                at,
                to["result_id"],
                "budget",
                "reallocate_budget",
                f"Move {said}, where delivery runs faster than planned.",
                self.director,
                at,
                Step(at, "done", f"Moved {said} in the Budget sheet, within the unit's authority."),
            )

    def assumptions(self) -> None:
        pos, f = self.p.position, self.final
        revised: dict[str, tuple[Quarter, str]] = {}  # assumption_id -> (quarter revised, note)

        a = self.asm.get("min_ratio")
        if a is not None:
            at = self.q(3 + pos % 6)
            thr = float(a["threshold"])
            lowered = self.p.verdicts["min_ratio"] != "broken"
            old = thr + max(2.0, round(thr * 0.25)) if lowered else max(1.0, thr - max(2.0, round(thr * 0.2)))
            note = self.lesson("min_ratio", lowered, old=old, thr=thr, review=at - 1)
            self.change(
                "Assumptions", a["assumption_id"], at, threshold=old, statement=STATEMENTS["min_ratio"].format(thr=old)
            )
            revised[a["assumption_id"]] = (at, note)
            self._revision_decision(
                a,
                at,
                f"Revise the participants-per-session threshold from {old:g} to {thr:g}.",
                f"Threshold revised from {old:g} to {thr:g}; statement updated.",
            )

        a = self.asm.get("min_value")
        if a is not None and pos % 2 == 0:
            thr = float(a["threshold"])
            lowered = self.p.verdicts["min_value"] != "broken" and thr + 5 <= 100
            old = thr + 5 if lowered else thr - 5
            note = self.lesson("min_value", lowered, old=old, thr=thr, review=f - 1)
            self.change(
                "Assumptions", a["assumption_id"], f, threshold=old, statement=STATEMENTS["min_value"].format(thr=old)
            )
            revised[a["assumption_id"]] = (f, note)
            self._revision_decision(
                a,
                f,
                f"Revise the pass-rate threshold from {old:g} % to {thr:g} %.",
                f"Threshold revised from {old:g} % to {thr:g} % in this quarter's workbook.",
            )

        a = self.asm.get("non_decreasing")
        if a is not None and pos % 2 == 1:
            at = self.q(4 + pos % 5)
            old_statement = "The share of former participants applying their skills rises every quarter."
            note = (
                f"Learnt at the {at - 1} review: a rising share alone did not say why it matters; the statement "
                "now names the link to adoption."
            )
            self.change("Assumptions", a["assumption_id"], at, statement=old_statement)
            revised[a["assumption_id"]] = (at, note)
            self._revision_decision(
                a, at, "Reword the assumption on skills use to name the link to adoption.", "Statement reworded."
            )

        a = self.asm.get("manual")
        if a is not None:
            aid = a["assumption_id"]
            added_note = None
            if pos % 3 == 2:
                at = self.q(12 - pos % 3)
                self.story.appears[("Assumptions", (aid,))] = at
                added_note = (
                    f"Added at the {at} review: elections in several countries make the policy priority uncertain."
                )
                self._revision_decision(
                    a,
                    at,
                    "Add an assumption on governments' policy priority.",
                    "Assumption added to the framework.",
                    before=0,
                )
            if self.p.verdicts["manual"] != "holds":  # it held until lately; the officer raised it then
                self.change("Assumptions", aid, self.q(1 + pos % 2), verdict="holds", review_note=added_note)
            elif added_note is not None:
                self.story.sets.append(Change("Assumptions", (aid,), f, {"review_note": added_note}))

        # The note of a revision stays until the next one; a tested assumption never revised keeps its
        # final note throughout (it changes nothing the learning log would show).
        for aid, (at, note) in revised.items():
            self.story.sets.append(Change("Assumptions", (aid,), f, {"review_note": note}))
            self.change("Assumptions", aid, at, review_note=None)

    def _revision_decision(self, a: Mapping[str, Any], at: Quarter, text: str, done: str, before: int = 1) -> None:
        meeting = max(at - before, self.first)
        steps = (Step(meeting, "open"), Step(at, "done", done)) if meeting < at else (Step(at, "done", done),)
        self.decide(meeting, a["assumption_id"], "assumption", "revise_assumption", text, self.me, at, *steps)

    def risks(self) -> None:
        rows = {r["risk_id"]: r for r in self.p.records("Risks")}
        ids = sorted(rows)
        if len(ids) < 5:
            return
        pos, f = self.p.position, self.final
        r1, r2, r3, r4, r5 = (rows[i] for i in ids[:5])

        # r1, high and open: its likelihood rose lately; a mitigation is decided (overdue in every third unit)
        a1 = identified_at(r1)
        rose = self.q(pos % 3)
        if rose > a1 and int(r1["likelihood"]) > 1:
            self.change("Risks", r1["risk_id"], rose, likelihood=int(r1["likelihood"]) - 1)
        if pos % 3 == 0 and a1 <= f - 3:
            m = f - 3
            self.decide(
                m,
                r1["risk_id"],
                "risk",
                "mitigate_risk",
                f"Mitigate '{r1['title']}': {r1['mitigation']}.",
                self.director,
                f - 2,
                Step(m, "open"),
                Step(m + 1, "in_progress", "Plan agreed with the partners; not yet in place."),
            )
        else:
            m = max(a1, f - 1)
            self.decide(
                m,
                r1["risk_id"],
                "risk",
                "mitigate_risk",
                f"Mitigate '{r1['title']}': {r1['mitigation']}.",
                self.director,
                f + 1,
                Step(m, "open"),
                *([Step(f, "in_progress", "Mitigation under way.")] if m < f else []),
            )

        # r2: its impact grew once
        at = self.q(5 - pos % 3)
        if at > identified_at(r2) and int(r2["impact"]) > 1:
            self.change("Risks", r2["risk_id"], at, impact=int(r2["impact"]) - 1)

        # r3, now monitored: a mitigation done, and its likelihood fell with it
        m = self.q(4 + pos % 3)
        lk, im = int(r3["likelihood"]), int(r3["impact"])
        if identified_at(r3) <= m and m + 2 <= f:
            field_, before = ("likelihood", lk) if lk < 5 else ("impact", im)
            if before < 5:
                self.change("Risks", r3["risk_id"], m + 2, status="open", **{field_: before + 1})
                self.decide(
                    m,
                    r3["risk_id"],
                    "risk",
                    "mitigate_risk",
                    f"Mitigate '{r3['title']}': {r3['mitigation']}.",
                    self.officer,
                    m + 2,
                    Step(m, "open"),
                    Step(m + 1, "in_progress", "Mitigation started."),
                    Step(
                        m + 2,
                        "done",
                        f"Mitigation in place; {field_} down from {before + 1} to {before}, risk moved to monitoring.",
                    ),
                )

        # r4, now closed: closed after a review decided so
        a4 = identified_at(r4)
        c = self.q(pos % 4)
        if c > a4:
            lk4 = int(r4["likelihood"])
            self.change("Risks", r4["risk_id"], c, status="monitoring", likelihood=min(5, lk4 + 1))
            self.decide(
                c - 1,
                r4["risk_id"],
                "risk",
                "close_risk",
                f"Close '{r4['title']}' once the cause has gone.",
                self.officer,
                c,
                Step(c - 1, "open"),
                Step(c, "done", "Risk closed: the cause has gone; kept in the register for the record."),
            )

        # r5, high and monitored: it was open until the unit found it under control
        at = self.q(6)
        if at > identified_at(r5):
            self.change("Risks", r5["risk_id"], at, status="open")

    def activities(self) -> None:
        pos, f = self.p.position, self.final
        acts = self.p.records("Activities")
        planned = [r for r in acts if r["status"] == "planned"]
        if planned:
            a = planned[0]
            at = self.q(1 + pos % 3)
            self.story.appears[("Activities", (a["activity_id"],))] = at
            self.decide(
                at,
                a["activity_id"],
                "activity",
                "add_activity",
                f"Add to the work plan: {a['title']}.",
                self.officer,
                at,
                Step(at, "done", "Activity added to the work plan, within the unit's authority."),
            )
        for a in acts:
            if a["status"] == "cancelled":
                at = cancelled_at(a, self.first, f)
                self.decide(
                    at,
                    a["activity_id"],
                    "activity",
                    "drop_activity",
                    f"Cancel: {a['title']}.",
                    self.officer,
                    at,
                    Step(
                        at, "done", "Cancelled: the host government withdrew its request; funds return to the output."
                    ),
                )

    def kpi_decisions(self) -> None:
        pos, f = self.p.position, self.final
        k = self.kpi_pick(("on", "met", "at_risk"), ("count", "pct", "currency", "level"))
        if k is not None:
            m = self.q(7 + pos % 2)
            self.decide(
                m,
                k["kpi_id"],
                "kpi",
                "no_change",
                f"Keep the course on '{k['name']}'.",
                self.director,
                m,
                Step(m, "done", "Reviewed; nothing to change."),
            )
        k = self.kpi_pick(("met", "on"), ("count",))
        if k is not None:
            m = self.q(6 + pos % 3)
            end = (
                Step(m + 2, "dropped", "Dropped: the co-funding partner withdrew; the approach stays at its scale.")
                if pos % 4 == 3
                else Step(m + 2, "done", "Two more countries added to the work plan.")
            )
            self.decide(
                m,
                k["kpi_id"],
                "kpi",
                "scale_up",
                f"Scale up what works for '{k['name']}' to two more countries.",
                self.director,
                m + 2,
                Step(m, "open"),
                Step(m + 1, "in_progress", "Countries approached."),
                end,
            )
        k = self.kpi_pick(("off", "at_risk", "stale"), ("count", "pct", "currency", "level"))
        if k is not None:
            if pos % 3 == 0:  # overdue at the reporting quarter
                m = f - 3
                self.decide(
                    m,
                    k["kpi_id"],
                    "kpi",
                    "escalate",
                    f"Raise the slow delivery of '{k['name']}' with the bureau and the partners.",
                    self.director,
                    f - 1,
                    Step(m, "open"),
                    Step(m + 1, "in_progress", "Note to the bureau drafted."),
                )
            else:
                m = self.q(1)
                self.decide(
                    m,
                    k["kpi_id"],
                    "kpi",
                    "escalate",
                    f"Raise the slow delivery of '{k['name']}' with the bureau and the partners.",
                    self.director,
                    f + 1,
                    Step(m, "open"),
                )

    def joint(self) -> None:
        if self.p.unit_type != "cluster":
            return
        regions = [r for r in self.p.regions if r in self.p.config.regions]
        if not regions:
            return
        region = regions[0]
        pos, f = self.p.position, self.final
        result = f"{self.code}-O1"
        owner = f"{self.director} with the {region} {DIRECTOR['region']}"
        text = f"Joint review with {region}: run the missions of both work plans together in {REGION_NAMES.get(region, region)}."
        if pos == min(i for i, c in enumerate(self.p.config.units) if self.p.config.unit(c).type == "cluster"):
            m = f - 1
            self.decide(
                m,
                result,
                "result",
                "scale_up",
                text,
                owner,
                f + 1,
                Step(m, "open"),
                Step(f, "in_progress", "First joint mission planned."),
                other_unit=region,
            )
            return
        m = self.q(4 + pos % 4)
        self.decide(
            m,
            result,
            "result",
            "scale_up",
            text,
            owner,
            m + 2,
            Step(m, "open"),
            Step(m + 1, "in_progress", "First joint mission held."),
            Step(m + 2, "done", f"Joint missions in both work plans; costs shared with {region}."),
            other_unit=region,
        )

    def bureau_kpi(self) -> None:
        """The bureau-wide focal-team KPI, added to the last cluster's framework (the bureau approved it)."""
        clusters = [c for c in self.p.config.units if self.p.config.unit(c).type == "cluster"]
        if not clusters or clusters[-1] != self.code:
            return
        k = next((r for r in self.kpis.values() if r["name"] == "Institutions with a trained focal team"), None)
        if k is None or k["kpi_id"] in self.linked or k["kpi_id"] in self.p.milestone_kpis:
            return
        at = Quarter.parse(k["baseline_period"])
        if not self.first < at < self.final:
            return
        self.story.appears[("KPIs", (k["kpi_id"],))] = at
        self.decide(
            at,
            k["kpi_id"],
            "kpi",
            "escalate",
            f"Add the bureau-wide KPI '{k['name']}' to the framework (the bureau approves new KPIs).",
            self.director,
            at,
            Step(at, "done", f"KPI added; approved by the {self.bureau_role} with the quarter."),
        )

    def tell(self) -> Story:
        kind = ESCALATIONS.get(self.code)
        self.bureau_kpi()
        if kind == "target_cut":
            self.target_cut()
        self.targets()
        if kind == "budget_move":  # told before the earlier move: each change is told from the later values
            self.budget(self.final, round_to(1.6 * self.move_amount, 5000))
        self.budget(self.q(5 + self.p.position % 4))
        self.assumptions()
        self.risks()
        self.activities()
        self.kpi_decisions()
        self.joint()
        ds = sorted(self.story.decisions, key=lambda d: d.meeting)  # stable: order of telling within a meeting
        for i, d in enumerate(ds, start=1):
            d.decision_id = f"{self.code}-D{i}"
        self.story.decisions = ds
        return self.story


def _kind(k: Mapping[str, Any]) -> str:
    """The kind of a KPI row as the generator made it: public, currency, pct, level or count."""
    if not str(k.get("data_source") or "").startswith("Illustrative:"):
        return "public"
    if k["measure"] == "currency":
        return "currency"
    if k["measure"] == "percent":
        return "pct"
    return "level" if k["aggregation"] == "latest" else "count"


def make_story(parts: SampleParts) -> Story:
    """The unit's history, told from its final state (the same parts give the same story)."""
    return _Teller(parts).tell()
