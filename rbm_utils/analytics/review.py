"""The quarterly review: what changed since last quarter, the review agenda, the results statement.

Everything here takes the OUTPUT frames of the analytics modules (kpi, assumptions, risks,
finance, pathway) as arguments and never recomputes them. Rules are in docs/rules.md
("Quarterly review"). Free text from the workbooks is kept raw in the frames; escape it with
:func:`escape_text` wherever it becomes HTML (charts, notebooks, dashboards).

Example:
    >>> import pandas as pd
    >>> prev = {"progress": pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"], "name": ["People trained"],
    ...                                   "status": ["on_track"]})}
    >>> cur = {"progress": prev["progress"].assign(status="off_track")}
    >>> quarter_changes(cur, prev)[["kind", "item_id", "previous", "current", "direction"]].values.tolist()
    [['kpi_status', 'K1', 'on_track', 'off_track', 'worse']]
"""
from __future__ import annotations

import html
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from rbm_utils.core import schema
from rbm_utils.core.config import DEFAULT_THRESHOLDS
from rbm_utils.analytics.kpi import STATUS_LABELS, STATUS_ORDER

log = logging.getLogger(__name__)

#: Columns of :func:`quarter_changes`.
CHANGE_COLUMNS = ["unit_code", "kind", "item_id", "title", "previous", "current", "direction"]
#: Kinds of change, in the order :func:`quarter_changes` lists them.
CHANGE_KINDS = ("kpi_status", "assumption_verdict", "risk_score", "spending")
#: Directions of a change.
DIRECTIONS = ("better", "worse", "same", "new")

#: Columns of :func:`review_agenda`.
AGENDA_COLUMNS = ["unit_code", "priority", "kind", "item_id", "title", "owner", "evidence", "question"]
#: Kinds of agenda item, in the order they are listed within one priority.
AGENDA_KINDS = ("risk_red_flag", "kpi_off_track", "assumption_broken", "stalled_link", "spending_gap", "kpi_no_data")
#: Owner of an item when no person is named in the workbook (KPI responsible, risk owner).
HEAD_OF_UNIT = "Head of unit"
#: Spending flags of :func:`rbm_utils.analytics.finance.money_by_output` that go on the agenda.
SPENDING_GAP_FLAGS = ("underspending", "overspending", "unbudgeted")

#: Status goodness for :func:`quarter_changes` (higher is better): the order of
#: ``kpi.STATUS_ORDER`` (worst first); ``not_started`` counts as ``on_track`` (nothing wrong).
STATUS_RANK: dict[str, int] = {s: i for i, s in enumerate(STATUS_ORDER) if s != "not_started"}
STATUS_RANK["not_started"] = STATUS_RANK["on_track"]
#: Verdict goodness (higher is better): broken < untested < weakening < holds.
VERDICT_RANK: dict[str, int] = {"broken": 0, "untested": 1, "weakening": 2, "holds": 3}

#: Status in words, for sentences.
STATUS_WORDS: dict[str, str] = {
    "on_track": "on track",
    "at_risk": "at risk",
    "off_track": "off track",
    "target_met": "target met",
    "no_data": "no recent data",
    "not_started": "not started (no progress expected yet)",
}

#: Levels of the chain feeding each section of :func:`results_statement`.
STATEMENT_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("What was delivered", ("activity", "output")),
    ("Whom it reached", ("reach",)),
    ("What changed", ("capacity", "behaviour", "impact")),
)

_EPS = 1e-9


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

def _blank(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _s(value: Any) -> str:
    """A cell as stripped text, '' when missing."""
    return "" if _blank(value) else str(value).strip()


def _f(value: Any) -> float:
    """A cell as float, NaN when missing or not a number."""
    if _blank(value):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def escape_text(s: Any) -> str:
    """HTML-escape free text for anything that becomes HTML (charts, notebooks, dashboards).

    Missing values (None, NaN, NA) give ''.

    >>> escape_text("<script>alert('x')</script> & co")
    '&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co'
    >>> escape_text(None)
    ''
    """
    if _blank(s) and not isinstance(s, str):
        return ""
    return html.escape(str(s), quote=True)


def _md(s: Any) -> str:
    """Free text for the Markdown statement: one line, HTML special characters as entities
    (a Markdown renderer shows them as text) and link/code syntax neutralised."""
    text = " ".join(_s(s).split())
    text = html.escape(text, quote=False)
    for ch in ("\\", "[", "]", "`"):
        text = text.replace(ch, "\\" + ch)
    return text


def fmt_number(x: Any, measure: str = "number", currency: str = "CHF") -> str:
    """A figure in words-friendly form: thousands separators, at most two decimals, the
    unit of the measure. '' when missing.

    >>> fmt_number(1234.5), fmt_number(45.25, "percent"), fmt_number(12000, "currency", "CHF")
    ('1,234.5', '45.25%', 'CHF 12,000')
    """
    v = _f(x)
    if math.isnan(v):
        return ""
    if abs(v - round(v)) < 1e-6:
        text = f"{round(v):,}"
    else:
        text = f"{v:,.2f}".rstrip("0").rstrip(".")
    if measure == "percent":
        return text + "%"
    if measure == "currency":
        return f"{currency} {text}"
    return text


def fmt_share(x: Any) -> str:
    """A share (0.456) as a whole percentage ('46%'); '' when missing.

    >>> fmt_share(0.456)
    '46%'
    """
    v = _f(x)
    return "" if math.isnan(v) else f"{v * 100:.0f}%"


def _thresholds(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    return {**DEFAULT_THRESHOLDS, **(dict(thresholds) if thresholds else {})}


def _frame(frames: Mapping[str, pd.DataFrame] | None, key: str) -> pd.DataFrame | None:
    if not frames:
        return None
    df = frames.get(key)
    return None if df is None or len(df) == 0 else df


def _col(df: pd.DataFrame, name: str, default: Any = None) -> pd.Series:
    """Column ``name`` of ``df`` or a column of ``default``."""
    if name in df.columns:
        return df[name]
    return pd.Series([default] * len(df), index=df.index, dtype=object)


def _text_col(df: pd.DataFrame, name: str) -> pd.Series:
    return _col(df, name).astype(object).map(_s)


# --------------------------------------------------------------------------------------
# quarter_changes
# --------------------------------------------------------------------------------------

def _kpi_items(progress: pd.DataFrame | None) -> pd.DataFrame | None:
    if progress is None:
        return None
    status = _text_col(progress, "status")
    return pd.DataFrame({
        "unit_code": _text_col(progress, "unit_code"), "key": _text_col(progress, "kpi_id"),
        "item_id": _text_col(progress, "kpi_id"), "title": _text_col(progress, "name"),
        "shown": status, "rank": status.map(STATUS_RANK).astype("float64"), "alive": True,
    })


def _latest_verdicts(tests: pd.DataFrame | None) -> pd.DataFrame | None:
    """The verdict of each assumption at its latest period in ``tests``."""
    if tests is None:
        return None
    period = _text_col(tests, "period")
    index = {p: (schema.period_index(p) if schema.parse_period(p) else -1) for p in pd.unique(period)}
    t = tests.assign(_p=period.map(index))
    t = t.sort_values("_p", kind="stable").drop_duplicates(["unit_code", "assumption_id"], keep="last")
    verdict = _text_col(t, "verdict")
    return pd.DataFrame({
        "unit_code": _text_col(t, "unit_code"), "key": _text_col(t, "assumption_id"),
        "item_id": _text_col(t, "assumption_id"), "title": _text_col(t, "statement"),
        "shown": verdict, "rank": verdict.map(VERDICT_RANK).astype("float64"), "alive": True,
    })


def _risk_items(register: pd.DataFrame | None) -> pd.DataFrame | None:
    if register is None:
        return None
    score = pd.to_numeric(_col(register, "score"), errors="coerce").astype("float64")
    status = _text_col(register, "status")
    closed = status.eq("closed").to_numpy()
    rating = _text_col(register, "rating")
    shown = [("closed" if c else (f"{int(s)} ({r})" if r else f"{int(s)}") if not math.isnan(s) else "")
             for c, s, r in zip(closed, score, rating)]
    return pd.DataFrame({
        "unit_code": _text_col(register, "unit_code"), "key": _text_col(register, "risk_id"),
        "item_id": _text_col(register, "risk_id"), "title": _text_col(register, "title"),
        "shown": shown, "rank": np.where(closed, np.inf, -score.to_numpy()), "alive": ~closed,
    }, index=register.index)


def _money_items(money: pd.DataFrame | None) -> pd.DataFrame | None:
    if money is None:
        return None
    flag = _text_col(money, "flag")
    gap = pd.to_numeric(_col(money, "execution_gap"), errors="coerce").astype("float64")
    rate = pd.to_numeric(_col(money, "execution_rate"), errors="coerce").astype("float64")
    elapsed = pd.to_numeric(_col(money, "time_elapsed"), errors="coerce").astype("float64")
    # badness: 0 when on pace (or nothing budgeted nor spent), |gap| for a gap, inf when unbudgeted
    bad = np.where(flag.isin(["on pace", "no budget"]), 0.0,
                   np.where(flag.eq("unbudgeted"), np.inf, gap.abs().fillna(np.inf)))
    shown = [f"{fl} ({fmt_share(r)} of the year's budget spent, {fmt_share(e)} of the year elapsed)"
             if not math.isnan(r) else fl for fl, r, e in zip(flag, rate, elapsed)]
    rid = _text_col(money, "result_id")
    source = _text_col(money, "funding_source")
    title = _text_col(money, "title")
    title = [f"{t or r} — {s}" if s else (t or r) for t, r, s in zip(title, rid, source)]
    return pd.DataFrame({
        "unit_code": _text_col(money, "unit_code"), "key": rid + "|" + source, "item_id": rid, "title": title,
        "shown": shown, "rank": -bad, "alive": True,
    }, index=money.index)


def _compare(kind: str, cur: pd.DataFrame | None, prev: pd.DataFrame | None) -> pd.DataFrame:
    if cur is None or cur.empty:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    if prev is None:
        prev = cur.iloc[0:0]
    cur = cur.drop_duplicates(["unit_code", "key"], keep="first")
    prev = prev.drop_duplicates(["unit_code", "key"], keep="first")
    m = cur.merge(prev[["unit_code", "key", "shown", "rank", "alive"]], on=["unit_code", "key"], how="left",
                  suffixes=("", "_prev"), indicator=True)
    absent = m["_merge"].eq("left_only").to_numpy()
    prev_alive = m["alive_prev"].astype(object).eq(True).to_numpy()
    alive = m["alive"].astype(bool).to_numpy()
    # a risk closed in both quarters, or closed now and never seen open, is no change worth listing
    keep = alive | (prev_alive & ~absent)
    r = m["rank"].to_numpy(dtype=float)
    rp = m["rank_prev"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        diff = r - rp
    new = absent | ~prev_alive
    both_inf = np.isinf(r) & np.isinf(rp) & (np.sign(r) == np.sign(rp))
    direction = np.select(
        [new, both_inf | np.isnan(diff), diff > _EPS, diff < -_EPS],
        ["new", "same", "better", "worse"], default="same")
    out = pd.DataFrame({
        "unit_code": m["unit_code"], "kind": kind, "item_id": m["item_id"], "title": m["title"],
        "previous": np.where(absent, "", m["shown_prev"].astype(object).fillna("")),
        "current": m["shown"], "direction": direction,
    })
    return out.loc[keep].reset_index(drop=True)


def quarter_changes(current: Mapping[str, pd.DataFrame], previous: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """What changed since last quarter, one row per item (columns :data:`CHANGE_COLUMNS`).

    ``current`` and ``previous`` hold the analytics outputs of two quarters under these keys
    (an absent or empty key is skipped):

    - ``"progress"``: :func:`rbm_utils.analytics.kpi.kpi_progress` -> kind ``kpi_status`` (item: kpi_id,
      title: KPI name; previous/current: the status codes);
    - ``"assumptions"``: :func:`rbm_utils.analytics.assumptions.assumption_tests` (every period; the
      verdict at each assumption's latest period is used) -> ``assumption_verdict``;
    - ``"risks"``: :func:`rbm_utils.analytics.risks.risk_register` -> ``risk_score`` (shown as
      "16 (high)", or "closed");
    - ``"money"``: :func:`rbm_utils.analytics.finance.money_by_output` (one item per output and funding
      source; item_id is the output's result_id, the title names the funding source) ->
      ``spending`` (shown as the flag with the shares spent and elapsed).

    direction: ``new`` when the item is absent from ``previous`` (for risks: or closed
    there); otherwise ``better`` / ``worse`` / ``same`` by: KPI status rank
    (:data:`STATUS_RANK`: off_track < no_data < at_risk < on_track = not_started <
    target_met); verdict rank (:data:`VERDICT_RANK`); risk score (lower is better, closing an
    open risk is better); spending: on pace (or no budget) beats any gap, a smaller |execution
    gap| is better, unbudgeted spending is worst. Closed risks that were not open last quarter
    and items present only in ``previous`` are not listed. Rows are grouped by kind (in
    :data:`CHANGE_KINDS` order), then sorted by unit_code and item_id.

    >>> quarter_changes({}, {}).columns.tolist()
    ['unit_code', 'kind', 'item_id', 'title', 'previous', 'current', 'direction']
    """
    builders = {
        "kpi_status": ("progress", _kpi_items),
        "assumption_verdict": ("assumptions", _latest_verdicts),
        "risk_score": ("risks", _risk_items),
        "spending": ("money", _money_items),
    }
    parts = []
    for kind in CHANGE_KINDS:
        key, build = builders[kind]
        cur = _frame(current, key)
        if cur is None:
            continue
        prev = _frame(previous, key)
        cur_items = build(cur)
        prev_items = build(prev) if prev is not None else None
        part = _compare(kind, cur_items, prev_items)
        gone = 0 if prev_items is None else len(set(zip(prev_items["unit_code"], prev_items["key"]))
                                                - set(zip(cur_items["unit_code"], cur_items["key"])))
        if gone:
            log.info("quarter_changes: %d %s item(s) of last quarter no longer present; not listed", gone, kind)
        parts.append(part.sort_values(["unit_code", "item_id", "title"], kind="stable"))
    if not parts:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    return out[CHANGE_COLUMNS].astype(object)


# --------------------------------------------------------------------------------------
# review_agenda
# --------------------------------------------------------------------------------------

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
    df = pd.DataFrame({"u": _text_col(src, "unit_code"), "k": _text_col(src, "kpi_id"),
                       "r": _text_col(src, "result_id"), "who": _text_col(src, "responsible")})
    df = df.loc[df["who"].ne("")].sort_values(["u", "k"], kind="stable")
    for u, k, r, who in df.itertuples(index=False):
        by_kpi.setdefault((u, k), who)
        by_result.setdefault((u, r), who)
    return by_kpi, by_result


def _agenda_kpis(progress: pd.DataFrame, quarter: str, by_kpi: dict) -> list[dict]:
    rows = []
    status = _text_col(progress, "status")
    sel = progress.loc[status.isin(["off_track", "no_data"]).to_numpy()]
    for r in sel.to_dict("records"):
        unit, kid, name, st = _s(r.get("unit_code")), _s(r.get("kpi_id")), _s(r.get("name")), _s(r.get("status"))
        measure = _s(r.get("measure")) or "number"
        base, target = _f(r.get("baseline_value")), _f(r.get("target_value"))
        cur, ach, exp, perf = (_f(r.get(c)) for c in ("current_value", "achievement", "expected", "performance"))
        tp, last = _s(r.get("target_period")), _s(r.get("last_period"))
        owner = by_kpi.get((unit, kid)) or HEAD_OF_UNIT
        label = name or kid
        if st == "off_track":
            exp_value = base + exp * (target - base) if not (math.isnan(base) or math.isnan(target)) else float("nan")
            evidence = (f"current value {fmt_number(cur, measure)} where {fmt_number(exp_value, measure)} was expected "
                        f"by {quarter} (target {fmt_number(target, measure)} by {tp}); {fmt_share(ach)} of the way "
                        f"from baseline to target against {fmt_share(exp)} expected"
                        + (f", performance {perf:.2f}" if not math.isnan(perf) else ""))
            question = (f"'{label}' is off track: do we change how it is delivered, add resources, or revise "
                        "the target with a justification?")
            kind, severity = "kpi_off_track", perf if not math.isnan(perf) else -1.0
        else:
            q = _f(r.get("quarters_since_report"))
            if last:
                ago = f"{int(q)} quarter{'s' if int(q) != 1 else ''} before {quarter}" if not math.isnan(q) else ""
                evidence = f"last value reported for {last}" + (f" ({ago})" if ago else "") + \
                           f"; last known value {fmt_number(cur, measure)}, target {fmt_number(target, measure)} by {tp}"
            else:
                evidence = f"no value reported since the baseline; target {fmt_number(target, measure)} by {tp}"
            question = f"No recent data for '{label}': who will report it, and by when?"
            kind, severity = "kpi_no_data", -(q if not math.isnan(q) else 1e9)
        rows.append(dict(unit_code=unit, priority=1 if kind == "kpi_off_track" else 3, kind=kind, item_id=kid,
                         title=label, owner=owner, evidence=evidence, question=question, _sev=severity))
    return rows


def _agenda_assumptions(tests: pd.DataFrame, quarter: str, by_kpi: dict) -> list[dict]:
    rows = []
    sel = tests.loc[(_text_col(tests, "period").eq(quarter) & _text_col(tests, "verdict").eq("broken")).to_numpy()]
    for r in sel.to_dict("records"):
        unit, aid, kid = _s(r.get("unit_code")), _s(r.get("assumption_id")), _s(r.get("kpi_id"))
        statement = _s(r.get("statement")) or aid
        obs, thr = _f(r.get("observed")), _f(r.get("threshold"))
        parts = [f"broken at {quarter}"]
        if _s(r.get("explanation")):
            parts.append(_s(r.get("explanation")))
        elif not math.isnan(obs) and not math.isnan(thr):
            parts.append(f"observed {fmt_number(obs)} against a threshold of {fmt_number(thr)}")
        link = f" on the link {_s(r.get('from_result'))} -> {_s(r.get('to_result'))}" if _s(r.get("from_result")) else ""
        rows.append(dict(
            unit_code=unit, priority=1, kind="assumption_broken", item_id=aid, title=statement,
            owner=by_kpi.get((unit, kid)) or HEAD_OF_UNIT, evidence="; ".join(parts),
            question=(f"The assumption '{statement}'{link} no longer holds: do we adapt the theory of change "
                      "or the activities that rely on it?"),
            _sev=0.0))
    return rows


def _agenda_risks(flags: pd.DataFrame) -> list[dict]:
    rows = []
    for r in flags.to_dict("records"):
        score, rating = _f(r.get("score")), _s(r.get("rating"))
        title = _s(r.get("title")) or _s(r.get("risk_id"))
        head = f"score {int(score)} ({rating})" if not math.isnan(score) else "no score"
        reasons = _s(r.get("reasons"))
        rows.append(dict(
            unit_code=_s(r.get("unit_code")), priority=1 if rating in ("high", "critical") else 2,
            kind="risk_red_flag", item_id=_s(r.get("risk_id")), title=title,
            owner=_s(r.get("owner")) or HEAD_OF_UNIT, evidence=head + (f"; {reasons}" if reasons else ""),
            question=(f"Is the mitigation of '{title}' enough, or must it be strengthened or the risk escalated "
                      "to bureau management?"),
            _sev=-(score if not math.isnan(score) else 0.0)))
    return rows


def _agenda_money(money: pd.DataFrame, quarter: str, gap_threshold: float, currency: str) -> list[dict]:
    rows = []
    sel = money
    if "quarter" in money.columns:
        sel = sel.loc[_text_col(sel, "quarter").isin([quarter, ""]).to_numpy()]
    sel = sel.loc[_text_col(sel, "flag").isin(SPENDING_GAP_FLAGS).to_numpy()]
    year = quarter[:4]
    for r in sel.to_dict("records"):
        flag, rid = _s(r.get("flag")), _s(r.get("result_id"))
        source = _s(r.get("funding_source"))
        title = (_s(r.get("title")) or rid) + (f" — {source}" if source else "")
        spent, budget = _f(r.get("spent_year")), _f(r.get("budget_year"))
        rate, elapsed, gap = _f(r.get("execution_rate")), _f(r.get("time_elapsed")), _f(r.get("execution_gap"))
        if flag == "unbudgeted":
            evidence = f"{fmt_number(spent, 'currency', currency)} spent in {year} with no budget for {year}"
            question = "Money was spent with no budget line: which budget covers it, or must it be reversed?"
            sev, priority = -np.inf, 2
        else:
            evidence = (f"{fmt_number(spent, 'currency', currency)} spent of {fmt_number(budget, 'currency', currency)} "
                        f"budgeted for {year} ({fmt_share(rate)}) with {fmt_share(elapsed)} of the year elapsed: "
                        f"gap {gap * 100:+.0f} points")
            if flag == "underspending":
                question = "Spending is behind the calendar: re-phase, reallocate the funds, or speed up delivery?"
            else:
                question = "Spending is ahead of the calendar: does delivery justify it, or must spending be contained?"
            big = not math.isnan(gap) and abs(gap) >= 2 * gap_threshold - _EPS
            sev, priority = -(abs(gap) if not math.isnan(gap) else 0.0), 2 if big else 3
        rows.append(dict(unit_code=_s(r.get("unit_code")), priority=priority, kind="spending_gap", item_id=rid,
                         title=title, owner=HEAD_OF_UNIT, evidence=evidence, question=question, _sev=sev))
    return rows


def _agenda_stalls(stalls: pd.DataFrame, by_result: dict) -> list[dict]:
    rows = []
    for r in stalls.to_dict("records"):
        unit, src, tgt = _s(r.get("unit_code")), _s(r.get("source")), _s(r.get("target"))
        st, tt = _s(r.get("source_title")) or src, _s(r.get("target_title")) or tgt
        rows.append(dict(
            unit_code=unit, priority=2, kind="stalled_link", item_id=f"{src}->{tgt}",
            title=f"{st} -> {tt}", owner=by_result.get((unit, tgt)) or HEAD_OF_UNIT,
            evidence=_s(r.get("message")) or (f"{src} is {STATUS_WORDS.get(_s(r.get('source_status')), '')}, "
                                              f"{tgt} is {STATUS_WORDS.get(_s(r.get('target_status')), '')}"),
            question=(f"'{st}' progresses but '{tt}' does not: does the link still hold, and what must change "
                      "for the progress to carry through?"),
            _sev=0.0))
    return rows


def review_agenda(
    progress: pd.DataFrame | None,
    assumption_tests: pd.DataFrame | None,
    red_flags: pd.DataFrame | None,
    money: pd.DataFrame | None,
    stalls: pd.DataFrame | None,
    quarter: str,
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
    and KPIs with no recent data. Sorted by priority, then kind in :data:`AGENDA_KINDS` order,
    then severity (risk score highest first, KPI performance lowest first, spending gap
    largest first, longest silence first), then unit_code and item_id.

    Text is plain and unescaped: escape it where it becomes HTML.

    >>> review_agenda(None, None, None, None, None, "2026-Q3").columns.tolist()
    ['unit_code', 'priority', 'kind', 'item_id', 'title', 'owner', 'evidence', 'question']
    """
    t = _thresholds(thresholds)
    by_kpi, by_result = _responsible(kpis, progress)
    rows: list[dict] = []
    if red_flags is not None and len(red_flags):
        rows += _agenda_risks(red_flags)
    if progress is not None and len(progress):
        rows += _agenda_kpis(progress, quarter, by_kpi)
    if assumption_tests is not None and len(assumption_tests):
        rows += _agenda_assumptions(assumption_tests, quarter, by_kpi)
    if stalls is not None and len(stalls):
        rows += _agenda_stalls(stalls, by_result)
    if money is not None and len(money):
        rows += _agenda_money(money, quarter, float(t["execution_gap"]), currency)
    if not rows:
        return pd.DataFrame(columns=AGENDA_COLUMNS)
    out = pd.DataFrame(rows)
    out["_k"] = out["kind"].map({k: i for i, k in enumerate(AGENDA_KINDS)})
    out = out.sort_values(["priority", "_k", "_sev", "unit_code", "item_id"], kind="stable")
    out["priority"] = out["priority"].astype("int64")
    return out[AGENDA_COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# results_statement
# --------------------------------------------------------------------------------------

def _unit_rows(df: pd.DataFrame | None, unit_code: str) -> pd.DataFrame | None:
    if df is None or len(df) == 0:
        return None
    if "unit_code" in df.columns:
        df = df.loc[_text_col(df, "unit_code").eq(unit_code).to_numpy()]
    return df if len(df) else None


def _kpi_sentence(r: Mapping[str, Any], currency: str) -> str:
    measure = _s(r.get("measure")) or "number"
    name = _md(r.get("name")) or _md(r.get("kpi_id"))
    cur, base, target = _f(r.get("current_value")), _f(r.get("baseline_value")), _f(r.get("target_value"))
    ach = _f(r.get("achievement"))
    status = _s(r.get("status"))
    bp, tp = _s(r.get("baseline_period")), _s(r.get("target_period"))
    n_reports = _f(r.get("n_reports"))
    fig = lambda v: fmt_number(v, measure, currency)  # noqa: E731
    target_txt = f"a target of {fig(target)} by {tp}"
    if math.isnan(n_reports) or n_reports <= 0:
        text = f"{name}: nothing reported since the baseline of {fig(base)} ({bp}); {target_txt}"
    else:
        text = f"{name}: {fig(cur)} against {target_txt}, from a baseline of {fig(base)} ({bp})"
        if not math.isnan(ach):
            text += f"; {fmt_share(ach)} of the way to the target"
    text += f" — {STATUS_WORDS.get(status, status or 'no status')}."
    last = _s(r.get("last_period"))
    if last and not math.isnan(n_reports) and n_reports > 0:
        text += f" Last reported for {last}."
    likely = r.get("likely_to_meet")
    if status not in ("target_met",) and not _blank(likely):
        text += " The trend makes the target likely to be met." if bool(likely) else \
            " On the current trend the target will not be met."
    return text


def _money_paragraph(state: Mapping[str, pd.DataFrame], unit_code: str, quarter: str, currency: str,
                     money: pd.DataFrame | None) -> str:
    from rbm_utils.analytics import finance

    if money is None:
        unit_state = {k: v for k, v in ((name, _unit_rows(state.get(name), unit_code)) for name in ("Budget", "Expenditure", "Results"))
                      if v is not None}
        money = finance.money_by_output(unit_state, quarter)
    else:
        money = _unit_rows(money, unit_code)
        if money is not None and "quarter" in money.columns:
            money = money.loc[_text_col(money, "quarter").eq(quarter).to_numpy()]
    if money is None or money.empty:
        return "No budget or spending is recorded for this unit."
    tot = finance.money_totals(money, by=["unit_code"]).iloc[0]
    year = quarter[:4]
    money_txt = lambda v: fmt_number(v, "currency", currency)  # noqa: E731
    text = f"{money_txt(tot['spent_cumulative'])} spent up to {quarter}, {money_txt(tot['spent_year'])} of it in {year}"
    if _f(tot["budget_year"]) > 0:
        text += (f": {fmt_share(tot['execution_rate'])} of the {year} budget of {money_txt(tot['budget_year'])} "
                 f"with {fmt_share(tot['time_elapsed'])} of the year elapsed ({_s(tot['flag'])}).")
    else:
        text += f", with no budget recorded for {year}."
    flagged = money.loc[_text_col(money, "flag").isin(SPENDING_GAP_FLAGS).to_numpy()]
    if len(flagged):
        items = sorted({f"{_md(r.get('title')) or _md(r.get('result_id'))} ({_s(r.get('flag'))})"
                        for r in flagged.to_dict("records")})
        text += " Spending gaps: " + "; ".join(items) + "."
    return text


def results_statement(
    state: Mapping[str, pd.DataFrame],
    progress: pd.DataFrame,
    unit_code: str,
    quarter: str,
    currency: str = "CHF",
    *,
    money: pd.DataFrame | None = None,
) -> str:
    """A plain-language results statement of one unit as of ``quarter``, in Markdown (no HTML).

    Built from the results chain (sheet Results of ``state``) and ``progress``
    (kpi.kpi_progress): "What was delivered" (activity and output KPIs), "Whom it reached"
    (reach KPIs), "What changed" (capacity, behaviour and impact KPIs), each KPI with its
    current value, target, baseline, share of the way and status in words, grouped under its
    result; results with no KPI are named as such. "Money spent" comes from ``money``
    (finance.money_by_output) or, when not given, from sheets Budget and Expenditure of
    ``state``. Ends with the count of KPIs per status. Free text is made inert for Markdown
    (HTML characters as entities, brackets and backticks escaped). Deterministic: results by
    level and result_id, KPIs by kpi_id.

    >>> print(results_statement({}, pd.DataFrame(), "AFR", "2026-Q3").splitlines()[0])
    ## Results statement: AFR, 2026-Q3
    """
    prog = _unit_rows(progress, unit_code)
    prog = prog if prog is not None else pd.DataFrame(columns=["kpi_id", "result_id", "level", "status"])
    res = _unit_rows(state.get("Results"), unit_code)
    res = res if res is not None else schema.empty_frame("Results", with_unit=True)
    level_of = {_s(r["result_id"]): _s(r["level"]) for r in res.to_dict("records")}
    title_of = {_s(r["result_id"]): _s(r["title"]) for r in res.to_dict("records")}
    prog = prog.assign(_rid=_text_col(prog, "result_id"), _kid=_text_col(prog, "kpi_id"))
    prog = prog.assign(_level=[_s(lv) or level_of.get(rid, "") for lv, rid in zip(_col(prog, "level"), prog["_rid"])])
    lvl_order = {lvl: i for i, lvl in enumerate(schema.LEVELS)}

    lines = [f"## Results statement: {_md(unit_code)}, {_md(quarter)}", "",
             f"Built from the unit's results chain and the KPI values reported up to {_md(quarter)}.", ""]
    for heading, levels in STATEMENT_SECTIONS:
        lines += [f"### {heading}", ""]
        rids = {rid for rid, lvl in level_of.items() if lvl in levels}
        rids |= set(prog.loc[prog["_level"].isin(levels), "_rid"])
        rids = sorted(rids, key=lambda r: (lvl_order.get(level_of.get(r, ""), 99), r))
        if not rids:
            lines += ["No result at this level of the chain.", ""]
            continue
        for rid in rids:
            level = level_of.get(rid) or next(iter(prog.loc[prog["_rid"].eq(rid), "_level"]), "")
            head = f"- **{_md(title_of.get(rid) or rid)}** ({_md(rid)}, {_md(level)})"
            kp = prog.loc[prog["_rid"].eq(rid)].sort_values("_kid", kind="stable")
            if kp.empty:
                lines.append(head + ": no KPI measures this result yet.")
                continue
            lines.append(head + ":")
            lines += [f"  - {_kpi_sentence(r, currency)}" for r in kp.to_dict("records")]
        lines.append("")
    lines += ["### Money spent", "", _money_paragraph(state, unit_code, quarter, currency, money), ""]
    status = _text_col(prog, "status")
    counts = [f"{int((status == s).sum())} {STATUS_LABELS[s].lower()}" for s in STATUS_ORDER if (status == s).any()]
    lines += ["### In short", ""]
    if counts:
        lines.append(f"{len(prog)} KPI{'s' if len(prog) != 1 else ''}: " + ", ".join(counts) + ".")
    else:
        lines.append("No KPI is defined for this unit.")
    return "\n".join(lines) + "\n"
