"""The review agenda: every item needing a decision at the quarterly review meeting, with its
owner, the evidence and the question to settle (docs/rules.md, "The review agenda").

Takes the OUTPUT frames of the analytics modules (kpi, assumptions, risks, finance, pathway)
and never recomputes them. Text is plain and unescaped: escape it where it becomes HTML.

Example:
    >>> import pandas as pd
    >>> progress = pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"], "name": ["People trained"],
    ...     "status": ["off_track"], "measure": ["number"], "baseline_value": [0.0], "target_value": [100.0],
    ...     "current_value": [20.0], "achievement": [0.2], "expected": [0.5], "performance": [0.4],
    ...     "target_period": ["2027-Q1"]})
    >>> review_agenda(progress, None, None, None, None, "2026-Q3")[["priority", "kind", "owner"]].values.tolist()
    [[1, 'kpi_off_track', 'Head of unit']]
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import TOLERANCE, column_text
from rbm_utils.analytics.frames import thresholds as thresholds_with
from rbm_utils.analytics.priority import SCORE_PARTS, at_stake, priority_score, ranked, stakes_by_result
from rbm_utils.core.codes import AGENDA_KINDS, DECISION_OPEN_STATUSES, KPI_STATUS_WORDS, MoneyFlag
from rbm_utils.core.quarters import Quarter, QuarterLike, index_of
from rbm_utils.core.text import cell_number, cell_text, fmt_number, fmt_share

#: Columns of :func:`review_agenda`.
AGENDA_COLUMNS = [
    "unit_code",
    "priority",
    "kind",
    "item_id",
    "title",
    "owner",
    "evidence",
    "question",
    "carried_over",
    "carried_reviews",
    *SCORE_PARTS,
    "score",
    "rank",
]
#: Owner of an item when no person is named in the workbook (KPI responsible, risk owner).
HEAD_OF_UNIT = "Head of unit"
#: Spending flags of :func:`rbm_utils.analytics.finance.money_by_output` that go on the agenda.
SPENDING_GAP_FLAGS: tuple[MoneyFlag, ...] = ("underspending", "overspending", "unbudgeted")

# Severity (0..1) of each kind of item, the main part of the priority score (docs/rules.md,
# "Priority score"); off-track KPIs: 1 - performance; red flags: risk score / 25; spending gaps:
# |gap| / (4 x execution_gap), capped at 1.
#: Half of an item's severity comes from its priority, half from its kind's own severity.
PRIORITY_SEVERITY = {1: 1.0, 2: 0.5, 3: 0.0}
#: Severity of a KPI with no recent data.
NO_DATA_SEVERITY = 0.4
#: Severity of a broken assumption.
BROKEN_ASSUMPTION_SEVERITY = 0.8
#: Severity of a stalled link.
STALLED_LINK_SEVERITY = 0.6
#: Severity of unbudgeted spending.
UNBUDGETED_SEVERITY = 0.7
#: Severity of a red flag on a risk with no score.
UNSCORED_RISK_SEVERITY = 0.5
#: Highest risk score (likelihood 5 x impact 5).
MAX_RISK_SCORE = 25.0
#: Days in a quarter, to count a risk review's days overdue in quarters.
DAYS_PER_QUARTER = 91.25


def _responsible(kpis: pd.DataFrame | None, progress: pd.DataFrame | None) -> tuple[dict, dict]:
    """(unit, kpi_id) -> responsible and (unit, result_id) -> responsible of its first KPI."""
    src = None
    if progress is not None and "responsible" in progress.columns:
        src = progress
    elif kpis is not None and len(kpis):
        src = kpis
    by_kpi: dict[tuple[str, str], str] = {}
    by_result: dict[tuple[str, str], str] = {}
    if src is None:
        return by_kpi, by_result
    df = pd.DataFrame(
        {
            "u": column_text(src, "unit_code"),
            "k": column_text(src, "kpi_id"),
            "r": column_text(src, "result_id"),
            "who": column_text(src, "responsible"),
        }
    )
    df = df.loc[df["who"].ne("")].sort_values(["u", "k"], kind="stable")
    for u, k, r, who in df.itertuples(index=False):
        by_kpi.setdefault((u, k), who)
        by_result.setdefault((u, r), who)
    return by_kpi, by_result


def _agenda_kpis(progress: pd.DataFrame, quarter: Quarter, by_kpi: dict) -> list[dict]:
    rows = []
    status = column_text(progress, "status")
    sel = progress.loc[status.isin(["off_track", "no_data"]).to_numpy()]
    for r in sel.to_dict("records"):
        unit, kid, name, st = (
            cell_text(r.get("unit_code")),
            cell_text(r.get("kpi_id")),
            cell_text(r.get("name")),
            cell_text(r.get("status")),
        )
        measure = cell_text(r.get("measure")) or "number"
        base, target = cell_number(r.get("baseline_value")), cell_number(r.get("target_value"))
        cur, ach, exp, perf = (
            cell_number(r.get(c)) for c in ("current_value", "achievement", "expected", "performance")
        )
        tp, last = cell_text(r.get("target_period")), cell_text(r.get("last_period"))
        owner = by_kpi.get((unit, kid)) or HEAD_OF_UNIT
        label = name or kid
        if st == "off_track":
            exp_value = base + exp * (target - base) if not (math.isnan(base) or math.isnan(target)) else float("nan")
            evidence = (
                f"current value {fmt_number(cur, measure)} where {fmt_number(exp_value, measure)} was expected "
                f"by {quarter} (target {fmt_number(target, measure)} by {tp}); {fmt_share(ach)} of the way "
                f"from baseline to target against {fmt_share(exp)} expected"
                + (f", performance {perf:.2f}" if not math.isnan(perf) else "")
            )
            question = (
                f"'{label}' is off track: do we change how it is delivered, add resources, or revise "
                "the target with a justification?"
            )
            kind, severity = "kpi_off_track", perf if not math.isnan(perf) else -1.0
            sev01, waited = 1.0 - min(max(perf, 0.0), 1.0) if not math.isnan(perf) else 1.0, 0.0
        else:
            q = cell_number(r.get("quarters_since_report"))
            if last:
                ago = f"{int(q)} quarter{'s' if int(q) != 1 else ''} before {quarter}" if not math.isnan(q) else ""
                evidence = (
                    f"last value reported for {last}"
                    + (f" ({ago})" if ago else "")
                    + f"; last known value {fmt_number(cur, measure)}, target {fmt_number(target, measure)} by {tp}"
                )
            else:
                evidence = f"no value reported since the baseline; target {fmt_number(target, measure)} by {tp}"
            question = f"No recent data for '{label}': who will report it, and by when?"
            kind, severity = "kpi_no_data", -(q if not math.isnan(q) else 1e9)
            since = Quarter.parse_or_none(last or cell_text(r.get("baseline_period")))
            waited = q if not math.isnan(q) else float(quarter - since) if since is not None else 0.0
            sev01 = NO_DATA_SEVERITY
        rows.append(
            dict(
                unit_code=unit,
                priority=1 if kind == "kpi_off_track" else 3,
                kind=kind,
                item_id=kid,
                title=label,
                owner=owner,
                evidence=evidence,
                question=question,
                _sev=severity,
                severity=sev01,
                waited=waited,
                _results=(cell_text(r.get("result_id")),),
            )
        )
    return rows


def _agenda_assumptions(tests: pd.DataFrame, quarter: Quarter, by_kpi: dict) -> list[dict]:
    rows = []
    sel = tests.loc[
        (column_text(tests, "period").eq(str(quarter)) & column_text(tests, "verdict").eq("broken")).to_numpy()
    ]
    for r in sel.to_dict("records"):
        unit, aid, kid = cell_text(r.get("unit_code")), cell_text(r.get("assumption_id")), cell_text(r.get("kpi_id"))
        statement = cell_text(r.get("statement")) or aid
        obs, thr = cell_number(r.get("observed")), cell_number(r.get("threshold"))
        parts = [f"broken at {quarter}"]
        if cell_text(r.get("explanation")):
            parts.append(cell_text(r.get("explanation")))
        elif not math.isnan(obs) and not math.isnan(thr):
            parts.append(f"observed {fmt_number(obs)} against a threshold of {fmt_number(thr)}")
        link = (
            f" on the link {cell_text(r.get('from_result'))} -> {cell_text(r.get('to_result'))}"
            if cell_text(r.get("from_result"))
            else ""
        )
        rows.append(
            dict(
                unit_code=unit,
                priority=1,
                kind="assumption_broken",
                item_id=aid,
                title=statement,
                owner=by_kpi.get((unit, kid)) or HEAD_OF_UNIT,
                evidence="; ".join(parts),
                question=(
                    f"The assumption '{statement}'{link} no longer holds: do we adapt the theory of change "
                    "or the activities that rely on it?"
                ),
                _sev=0.0,
                severity=BROKEN_ASSUMPTION_SEVERITY,
                waited=0.0,
                _results=(cell_text(r.get("from_result")), cell_text(r.get("to_result"))),
            )
        )
    return rows


def _agenda_risks(flags: pd.DataFrame) -> list[dict]:
    rows = []
    for r in flags.to_dict("records"):
        score, rating = cell_number(r.get("score")), cell_text(r.get("rating"))
        title = cell_text(r.get("title")) or cell_text(r.get("risk_id"))
        head = f"score {int(score)} ({rating})" if not math.isnan(score) else "no score"
        reasons = cell_text(r.get("reasons"))
        rows.append(
            dict(
                unit_code=cell_text(r.get("unit_code")),
                priority=1 if rating in ("high", "critical") else 2,
                kind="risk_red_flag",
                item_id=cell_text(r.get("risk_id")),
                title=title,
                owner=cell_text(r.get("owner")) or HEAD_OF_UNIT,
                evidence=head + (f"; {reasons}" if reasons else ""),
                question=(
                    f"Is the mitigation of '{title}' enough, or must it be strengthened or the risk escalated "
                    "to bureau management?"
                ),
                _sev=-(score if not math.isnan(score) else 0.0),
                severity=min(score / MAX_RISK_SCORE, 1.0) if not math.isnan(score) else UNSCORED_RISK_SEVERITY,
                waited=max(cell_number(r.get("days_overdue")), 0.0) / DAYS_PER_QUARTER
                if not math.isnan(cell_number(r.get("days_overdue")))
                else 0.0,
                _results=(cell_text(r.get("result_id")),),
            )
        )
    return rows


def _agenda_money(money: pd.DataFrame, quarter: Quarter, gap_threshold: float, currency: str) -> list[dict]:
    rows = []
    sel = money
    if "quarter" in money.columns:
        sel = sel.loc[column_text(sel, "quarter").isin([str(quarter), ""]).to_numpy()]
    sel = sel.loc[column_text(sel, "flag").isin(SPENDING_GAP_FLAGS).to_numpy()]
    year = quarter.year
    for r in sel.to_dict("records"):
        flag, rid = cell_text(r.get("flag")), cell_text(r.get("result_id"))
        source = cell_text(r.get("funding_source"))
        title = (cell_text(r.get("title")) or rid) + (f" — {source}" if source else "")
        spent, budget = cell_number(r.get("spent_year")), cell_number(r.get("budget_year"))
        rate, elapsed, gap = (
            cell_number(r.get("execution_rate")),
            cell_number(r.get("time_elapsed")),
            cell_number(r.get("execution_gap")),
        )
        if flag == "unbudgeted":
            evidence = f"{fmt_number(spent, 'currency', currency)} spent in {year} with no budget for {year}"
            question = "Money was spent with no budget line: which budget covers it, or must it be reversed?"
            sev, priority, sev01 = -np.inf, 2, UNBUDGETED_SEVERITY
        else:
            evidence = (
                f"{fmt_number(spent, 'currency', currency)} spent of {fmt_number(budget, 'currency', currency)} "
                f"budgeted for {year} ({fmt_share(rate)}) with {fmt_share(elapsed)} of the year elapsed: "
                f"gap {gap * 100:+.0f} points"
            )
            if flag == "underspending":
                question = "Spending is behind the calendar: re-phase, reallocate the funds, or speed up delivery?"
            else:
                question = "Spending is ahead of the calendar: does delivery justify it, or must spending be contained?"
            big = not math.isnan(gap) and abs(gap) >= 2 * gap_threshold - TOLERANCE
            sev, priority = -(abs(gap) if not math.isnan(gap) else 0.0), 2 if big else 3
            sev01 = min(abs(gap) / (4 * gap_threshold), 1.0) if not math.isnan(gap) and gap_threshold > 0 else 0.0
        rows.append(
            dict(
                unit_code=cell_text(r.get("unit_code")),
                priority=priority,
                kind="spending_gap",
                item_id=rid,
                title=title,
                owner=HEAD_OF_UNIT,
                evidence=evidence,
                question=question,
                _sev=sev,
                severity=sev01,
                waited=0.0,
                _results=(rid,),
            )
        )
    return rows


def _agenda_stalls(stalls: pd.DataFrame, by_result: dict) -> list[dict]:
    rows = []
    for r in stalls.to_dict("records"):
        unit, src, tgt = cell_text(r.get("unit_code")), cell_text(r.get("source")), cell_text(r.get("target"))
        st, tt = cell_text(r.get("source_title")) or src, cell_text(r.get("target_title")) or tgt
        rows.append(
            dict(
                unit_code=unit,
                priority=2,
                kind="stalled_link",
                item_id=f"{src}->{tgt}",
                title=f"{st} -> {tt}",
                owner=by_result.get((unit, tgt)) or HEAD_OF_UNIT,
                evidence=cell_text(r.get("message"))
                or (
                    f"{src} is {KPI_STATUS_WORDS.get(cell_text(r.get('source_status')), '')}, "
                    f"{tgt} is {KPI_STATUS_WORDS.get(cell_text(r.get('target_status')), '')}"
                ),
                question=(
                    f"'{st}' progresses but '{tt}' does not: does the link still hold, and what must change "
                    "for the progress to carry through?"
                ),
                _sev=0.0,
                severity=STALLED_LINK_SEVERITY,
                waited=0.0,
                _results=(src, tgt),
            )
        )
    return rows


def review_agenda(
    progress: pd.DataFrame | None,
    assumption_tests: pd.DataFrame | None,
    red_flags: pd.DataFrame | None,
    money: pd.DataFrame | None,
    stalls: pd.DataFrame | None,
    quarter: QuarterLike,
    *,
    kpis: pd.DataFrame | None = None,
    thresholds: Mapping[str, float] | None = None,
    currency: str = "CHF",
) -> pd.DataFrame:
    """Every item needing a decision at the quarterly review meeting (columns :data:`AGENDA_COLUMNS`).

    Inputs are analytics outputs (any may be None or empty): ``progress``
    (kpi.kpi_progress), ``assumption_tests`` (assumptions.assumption_tests), ``red_flags``
    (risks.red_flags), ``money`` (finance.money_by_output), ``stalls`` (pathway.stalls); and
    ``kpis``, the KPIs sheet, for the KPI's ``responsible`` (used when ``progress`` has no
    ``responsible`` column).

    Items (kind): ``kpi_off_track`` and ``kpi_no_data`` (status at ``quarter``);
    ``assumption_broken`` (verdict ``broken`` at period ``quarter``); ``risk_red_flag`` (every
    red flag); ``spending_gap`` (flag underspending, overspending or unbudgeted; money rows
    of another ``quarter`` are ignored); ``stalled_link`` (item_id ``source->target``).

    owner: the KPI's responsible (KPIs; for an assumption, the responsible of its tested KPI;
    for a stalled link, of the first KPI by kpi_id of the result that stalls); the risk's owner;
    :data:`HEAD_OF_UNIT` for spending gaps and whenever no name is given.

    priority: 1 = high-or-critical red-flag risks, off-track KPIs, broken assumptions;
    2 = other red flags (overdue review, off-track result), stalled links, unbudgeted spending
    and spending gaps of at least twice ``execution_gap`` (30 points); 3 = other spending gaps
    and KPIs with no recent data.

    Priority score (docs/rules.md, "Priority score"; :mod:`rbm_utils.analytics.priority`):
    ``severity`` 0..1, the mean of the priority's (1: 1, 2: 0.5, 3: 0) and the kind's own
    (off-track KPI: 1 - performance, clipped to 0..1; no data: 0.4; broken assumption: 0.8;
    red flag: risk score / 25; stalled link: 0.6; unbudgeted: 0.7; spending gap:
    |gap| / (4 x ``execution_gap``), capped at 1); ``money_at_stake`` and
    ``people_at_stake``: the year's budget and planned staff-months (``money`` of ``quarter``)
    of the results the item touches (``n_results``: the KPI's, risk's or output's result, both
    ends of an assumption's link or of a stalled link); ``waited``: quarters since the last
    value (KPIs with no data; since the baseline when never reported) or a risk review's days
    overdue / 91.25 (when ``red_flags`` has ``days_overdue``), else 0. ``score`` weighs them
    with the ``agenda_weight_*`` thresholds. Sorted by score (highest first), ties by
    priority, kind in :data:`AGENDA_KINDS` order, then the kind's own severity (risk score
    highest first, KPI performance lowest first, spending gap largest first, longest silence
    first), unit_code and item_id; ``rank`` 1..n follows that order (1 = most in need of a
    decision; across every unit given).

    Text is plain and unescaped: escape it where it becomes HTML.

    ``carried_over`` is False and ``carried_reviews`` 0 here; :func:`carry_over` marks the items
    that come back.

    >>> review_agenda(None, None, None, None, None, "2026-Q3").columns.tolist()[-3:]
    ['waited', 'score', 'rank']
    """
    q = Quarter.parse(quarter)
    t = thresholds_with(thresholds)
    by_kpi, by_result = _responsible(kpis, progress)
    rows: list[dict] = []
    if red_flags is not None and len(red_flags):
        rows += _agenda_risks(red_flags)
    if progress is not None and len(progress):
        rows += _agenda_kpis(progress, q, by_kpi)
    if assumption_tests is not None and len(assumption_tests):
        rows += _agenda_assumptions(assumption_tests, q, by_kpi)
    if stalls is not None and len(stalls):
        rows += _agenda_stalls(stalls, by_result)
    if money is not None and len(money):
        rows += _agenda_money(money, q, float(t["execution_gap"]), currency)
    if not rows:
        return pd.DataFrame(columns=AGENDA_COLUMNS)
    out = pd.DataFrame(rows)
    stakes = stakes_by_result(money, q)
    parts = [at_stake(u, rs, stakes) for u, rs in zip(out["unit_code"], out["_results"])]
    out["money_at_stake"] = [p[0] for p in parts]
    out["people_at_stake"] = [p[1] for p in parts]
    out["n_results"] = np.array([p[2] for p in parts], dtype="int64")
    out["waited"] = out["waited"].astype(float)
    out["priority"] = out["priority"].astype("int64")
    out["severity"] = ((out["priority"].map(PRIORITY_SEVERITY).astype(float) + out["severity"]) / 2).round(4)
    out["carried_over"] = False
    out["carried_reviews"] = np.zeros(len(out), dtype="int64")
    out["score"] = priority_score(out, t)
    out["_k"] = out["kind"].map({k: i for i, k in enumerate(AGENDA_KINDS)})
    out = ranked(out, ["priority", "_k", "_sev", "unit_code", "item_id"])
    return out[AGENDA_COLUMNS]


def _decided(decisions: pd.DataFrame | None, quarter: Quarter) -> set[tuple[str, str]]:
    """(unit_code, id) that a decision concerns: one taken at the previous review or later, or
    one still open or in progress."""
    if decisions is None or decisions.empty:
        return set()
    meeting = index_of(column_text(decisions, "meeting_quarter"))
    recent = (meeting >= quarter.index - 1).fillna(False).to_numpy(dtype=bool)
    live = column_text(decisions, "status").isin(DECISION_OPEN_STATUSES).to_numpy()
    d = decisions.loc[recent | live]
    return set(zip(column_text(d, "unit_code"), column_text(d, "concerns")))


def carry_over(
    agenda: pd.DataFrame,
    previous_agenda: pd.DataFrame | None,
    decisions: pd.DataFrame | None,
    quarter: QuarterLike,
    *,
    thresholds: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """The agenda with the items that come back marked (docs/rules.md, "Carried over").

    An item is ``carried_over`` when the previous quarter's agenda had it (same unit and
    item_id) and no decision concerns it (``decisions``: the follow-up table of
    :func:`rbm_utils.analytics.decisions.follow_up`, where a joint decision is listed for both
    units): none taken at the previous review or later, none still open or in progress. A
    stalled link ``A->B`` is concerned by a decision on ``A`` or ``B``. A carried-over item
    climbs one priority (1 stays 1) and comes first within its priority; the order is
    otherwise kept. When ``agenda`` has a ``score``, it is recomputed with the carried-over
    weight (``thresholds``), the rows are sorted by it again (a carried-over item first among
    equal scores, the order otherwise kept) and ``rank`` renumbered. Returns a new frame.

    ``carried_reviews`` counts the reviews in a row the item has come back without a decision:
    1 for an item carried over from an agenda that did not carry it, the previous agenda's
    ``carried_reviews`` + 1 when that agenda carried it too (0 when the previous agenda has no
    such column); 0 for an item not carried over. The score's carried-over part grows with it
    (:func:`rbm_utils.analytics.priority.priority_score`).

    >>> ag = pd.DataFrame({"unit_code": ["AFR", "AFR"], "priority": [1, 2], "item_id": ["K1", "R1"],
    ...                    "carried_over": [False, False]})
    >>> carry_over(ag, ag, None, "2026-Q3")[["item_id", "priority", "carried_over"]].values.tolist()
    [['K1', 1, True], ['R1', 1, True]]
    """
    q = Quarter.parse(quarter)
    out = agenda.copy()
    out["carried_over"] = False
    out["carried_reviews"] = np.zeros(len(out), dtype="int64")
    if out.empty or previous_agenda is None or previous_agenda.empty:
        return out
    keys = zip(column_text(previous_agenda, "unit_code"), column_text(previous_agenda, "item_id"))
    times = (
        pd.to_numeric(previous_agenda["carried_reviews"], errors="coerce").fillna(0).astype(int).tolist()
        if "carried_reviews" in previous_agenda.columns
        else [0] * len(previous_agenda)
    )
    before = dict(zip(keys, times))
    decided = _decided(decisions, q)
    unit, item = column_text(out, "unit_code"), column_text(out, "item_id")
    ends = item.str.split("->", n=1, regex=False)
    carried = [(u, i) in before and not any((u, x) in decided for x in {i, *e}) for u, i, e in zip(unit, item, ends)]
    out["carried_over"] = carried
    out["carried_reviews"] = np.array(
        [before[(u, i)] + 1 if c else 0 for u, i, c in zip(unit, item, carried)], dtype="int64"
    )
    out["priority"] = (out["priority"] - out["carried_over"].astype("int64")).clip(lower=1).astype("int64")
    out = out.assign(_c=~out["carried_over"])
    if "score" in out.columns:
        out["score"] = priority_score(out, thresholds)
        return ranked(out, ["_c"]).drop(columns="_c")
    out = out.sort_values(["priority", "_c"], kind="stable")
    return out.drop(columns="_c").reset_index(drop=True)
