"""The results statement: a unit's results of the quarter in plain language, in Markdown
(docs/rules.md, "The results statement").

Built from the results chain and the OUTPUT frames of the analytics modules (kpi, finance);
free text is made inert for Markdown (:func:`rbm_utils.core.text.markdown_text`).

Example:
    >>> import pandas as pd
    >>> print(results_statement({}, pd.DataFrame(), "AFR", "2026-Q3").splitlines()[-1])
    No KPI is defined for this unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from rbm_utils.analytics import finance
from rbm_utils.analytics.agenda import SPENDING_GAP_FLAGS
from rbm_utils.analytics.frames import column, column_text
from rbm_utils.core import schema
from rbm_utils.core.codes import KPI_STATUS_LABELS, KPI_STATUS_WORDS, KPI_STATUSES
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.core.text import cell_number, cell_text, fmt_number, fmt_share, is_blank, markdown_text

#: Levels of the chain feeding each section of :func:`results_statement`.
STATEMENT_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("What was delivered", ("activity", "output")),
    ("Whom it reached", ("reach",)),
    ("What changed", ("capacity", "behaviour", "impact")),
)


def _unit_rows(df: pd.DataFrame | None, unit_code: str) -> pd.DataFrame | None:
    if df is None or len(df) == 0:
        return None
    if "unit_code" in df.columns:
        df = df.loc[column_text(df, "unit_code").eq(unit_code).to_numpy()]
    return df if len(df) else None


def _kpi_sentence(r: Mapping[str, Any], currency: str) -> str:
    measure = cell_text(r.get("measure")) or "number"
    name = markdown_text(r.get("name")) or markdown_text(r.get("kpi_id"))
    cur, base, target = (
        cell_number(r.get("current_value")),
        cell_number(r.get("baseline_value")),
        cell_number(r.get("target_value")),
    )
    ach = cell_number(r.get("achievement"))
    status = cell_text(r.get("status"))
    bp, tp = cell_text(r.get("baseline_period")), cell_text(r.get("target_period"))
    n_reports = cell_number(r.get("n_reports"))
    fig = lambda v: fmt_number(v, measure, currency)  # noqa: E731
    target_txt = f"a target of {fig(target)} by {tp}"
    if math.isnan(n_reports) or n_reports <= 0:
        text = f"{name}: nothing reported since the baseline of {fig(base)} ({bp}); {target_txt}"
    else:
        text = f"{name}: {fig(cur)} against {target_txt}, from a baseline of {fig(base)} ({bp})"
        if not math.isnan(ach):
            text += f"; {fmt_share(ach)} of the way to the target"
    text += f" — {KPI_STATUS_WORDS.get(status, status or 'no status')}."
    last = cell_text(r.get("last_period"))
    if last and not math.isnan(n_reports) and n_reports > 0:
        text += f" Last reported for {last}."
    likely = r.get("likely_to_meet")
    if status not in ("target_met",) and not is_blank(likely):
        text += (
            " The trend makes the target likely to be met."
            if bool(likely)
            else " On the current trend the target will not be met."
        )
    return text


def _money_paragraph(
    state: Mapping[str, pd.DataFrame], unit_code: str, quarter: Quarter, currency: str, money: pd.DataFrame | None
) -> str:
    if money is None:
        unit_state = {
            k: v
            for k, v in (
                (name, _unit_rows(state.get(name), unit_code)) for name in ("Budget", "Expenditure", "Results")
            )
            if v is not None
        }
        money = finance.money_by_output(unit_state, quarter)
    else:
        money = _unit_rows(money, unit_code)
        if money is not None and "quarter" in money.columns:
            money = money.loc[column_text(money, "quarter").eq(str(quarter)).to_numpy()]
    if money is None or money.empty:
        return "No budget or spending is recorded for this unit."
    tot = finance.money_totals(money, by=["unit_code"]).iloc[0]
    year = quarter.year
    money_txt = lambda v: fmt_number(v, "currency", currency)  # noqa: E731
    text = f"{money_txt(tot['spent_cumulative'])} spent up to {quarter}, {money_txt(tot['spent_year'])} of it in {year}"
    if cell_number(tot["budget_year"]) > 0:
        text += (
            f": {fmt_share(tot['execution_rate'])} of the {year} budget of {money_txt(tot['budget_year'])} "
            f"with {fmt_share(tot['time_elapsed'])} of the year elapsed ({cell_text(tot['flag'])})."
        )
    else:
        text += f", with no budget recorded for {year}."
    flagged = money.loc[column_text(money, "flag").isin(SPENDING_GAP_FLAGS).to_numpy()]
    if len(flagged):
        items = sorted(
            {
                f"{markdown_text(r.get('title')) or markdown_text(r.get('result_id'))} ({cell_text(r.get('flag'))})"
                for r in flagged.to_dict("records")
            }
        )
        text += " Spending gaps: " + "; ".join(items) + "."
    return text


def results_statement(
    state: Mapping[str, pd.DataFrame],
    progress: pd.DataFrame,
    unit_code: str,
    quarter: QuarterLike,
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
    q = Quarter.parse(quarter)
    prog = _unit_rows(progress, unit_code)
    prog = prog if prog is not None else pd.DataFrame(columns=["kpi_id", "result_id", "level", "status"])
    res = _unit_rows(state.get("Results"), unit_code)
    res = res if res is not None else schema.empty_frame("Results", with_unit=True)
    level_of = {cell_text(r["result_id"]): cell_text(r["level"]) for r in res.to_dict("records")}
    title_of = {cell_text(r["result_id"]): cell_text(r["title"]) for r in res.to_dict("records")}
    prog = prog.assign(_rid=column_text(prog, "result_id"), _kid=column_text(prog, "kpi_id"))
    prog = prog.assign(
        _level=[cell_text(lv) or level_of.get(rid, "") for lv, rid in zip(column(prog, "level"), prog["_rid"])]
    )
    lvl_order = {lvl: i for i, lvl in enumerate(schema.LEVELS)}

    lines = [
        f"## Results statement: {markdown_text(unit_code)}, {markdown_text(str(q))}",
        "",
        f"Built from the unit's results chain and the KPI values reported up to {markdown_text(str(q))}.",
        "",
    ]
    for heading, levels in STATEMENT_SECTIONS:
        lines += [f"### {heading}", ""]
        found = {rid for rid, lvl in level_of.items() if lvl in levels}
        found |= set(prog.loc[prog["_level"].isin(levels), "_rid"])
        rids = sorted(found, key=lambda r: (lvl_order.get(level_of.get(r, ""), 99), r))
        if not rids:
            lines += ["No result at this level of the chain.", ""]
            continue
        for rid in rids:
            level = level_of.get(rid) or next(iter(prog.loc[prog["_rid"].eq(rid), "_level"]), "")
            head = f"- **{markdown_text(title_of.get(rid) or rid)}** ({markdown_text(rid)}, {markdown_text(level)})"
            kp = prog.loc[prog["_rid"].eq(rid)].sort_values("_kid", kind="stable")
            if kp.empty:
                lines.append(head + ": no KPI measures this result yet.")
                continue
            lines.append(head + ":")
            lines += [f"  - {_kpi_sentence(r, currency)}" for r in kp.to_dict("records")]
        lines.append("")
    lines += ["### Money spent", "", _money_paragraph(state, unit_code, q, currency, money), ""]
    status = column_text(prog, "status")
    counts = [f"{int((status == s).sum())} {KPI_STATUS_LABELS[s].lower()}" for s in KPI_STATUSES if (status == s).any()]
    lines += ["### In short", ""]
    if counts:
        lines.append(f"{len(prog)} KPI{'s' if len(prog) != 1 else ''}: " + ", ".join(counts) + ".")
    else:
        lines.append("No KPI is defined for this unit.")
    return "\n".join(lines) + "\n"
