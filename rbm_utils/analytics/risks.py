"""Risk register: scores, ratings, trends, overdue reviews, heat map, red flags, bureau view.

Rules (docs/rules.md, section "Risks"):

- score = likelihood x impact (1-25);
- rating: ``low`` below ``risk_medium`` (10), ``medium`` from 10, ``high`` from
  ``risk_high`` (15), ``critical`` from ``risk_critical`` (20);
- a risk is *open* when its status is ``open`` or ``monitoring``;
- review overdue: ``review_on`` strictly before the end date of the quarter (or ``today``
  when given) and the status is not ``closed``; ``days_overdue`` the days it is late (0 if not);
- trend against the previous quarter's register: ``closed`` (closed now), ``new`` (not in the
  previous register, or closed there), ``up`` / ``down`` / ``same`` (score compared).

Example:
    >>> import pandas as pd
    >>> from rbm_utils.core import schema
    >>> risks = schema.conform("Risks", pd.DataFrame({"unit_code": ["AFR"], "risk_id": ["R1"],
    ...     "title": ["Funding gap"], "likelihood": [3], "impact": [5], "status": ["open"]}),
    ...     with_unit=True)
    >>> reg = risk_register({"Risks": risks}, "2026-Q3")
    >>> int(reg.loc[0, "score"]), reg.loc[0, "rating"], reg.loc[0, "trend"]
    (15, 'high', 'new')
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import sheet_frame as _sheet
from rbm_utils.analytics.frames import thresholds as _thresholds
from rbm_utils.core.codes import RISK_RATINGS
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.core.text import text_column as _text

log = logging.getLogger(__name__)

TRENDS = ("new", "up", "down", "same", "closed")
OPEN_STATUSES = ("open", "monitoring")

#: Columns of :func:`risk_register`.
REGISTER_COLUMNS = [
    "unit_code",
    "risk_id",
    "category",
    "title",
    "cause",
    "result_id",
    "likelihood",
    "impact",
    "score",
    "rating",
    "owner",
    "mitigation",
    "status",
    "is_open",
    "identified_on",
    "review_on",
    "review_overdue",
    "days_overdue",
    "previous_score",
    "previous_status",
    "trend",
]
#: Columns of :func:`red_flags`.
RED_FLAG_COLUMNS = [
    "unit_code",
    "risk_id",
    "title",
    "owner",
    "category",
    "result_id",
    "status",
    "score",
    "rating",
    "rule",
    "rules",
    "asks",
    "mitigation",
    "review_on",
    "days_overdue",
    "n_reasons",
    "reasons",
]


def rate(score: pd.Series, thresholds: Mapping[str, float] | None = None) -> pd.Series:
    """Rating of each score: low / medium / high / critical ('' when the score is missing).

    >>> rate(pd.Series([9, 10, 14, 15, 19, 20])).tolist()
    ['low', 'medium', 'medium', 'high', 'high', 'critical']
    """
    t = _thresholds(thresholds)
    s = pd.to_numeric(score, errors="coerce").astype("float64")
    out = np.select(
        [s >= t["risk_critical"], s >= t["risk_high"], s >= t["risk_medium"], s.notna()],
        ["critical", "high", "medium", "low"],
        default="",
    )
    return pd.Series(out, index=score.index, dtype=object)


def risk_register(
    state: Mapping[str, pd.DataFrame],
    quarter: QuarterLike,
    previous_state: Mapping[str, pd.DataFrame] | None = None,
    thresholds: Mapping[str, float] | None = None,
    today: dt.date | str | None = None,
) -> pd.DataFrame:
    """The risk register as of ``quarter``, one row per risk, columns :data:`REGISTER_COLUMNS`.

    ``previous_state`` is the state as it stood at the previous quarter; its register gives
    ``previous_score``, ``previous_status`` and ``trend``. Without it every risk that is not
    closed is ``new``. ``days_overdue`` counts days from ``review_on`` to the reference date
    (end of the quarter, or ``today``) when the review is overdue, else 0. Sorted by unit, score (highest first), risk_id.

    >>> risk_register({}, "2026-Q3").empty
    True
    """
    q = Quarter.parse(quarter)
    t = _thresholds(thresholds)
    risks = _sheet(state, "Risks")
    out = risks.copy()
    lik = pd.to_numeric(out["likelihood"], errors="coerce").astype("Int64")
    imp = pd.to_numeric(out["impact"], errors="coerce").astype("Int64")
    out["likelihood"], out["impact"] = lik, imp
    out["score"] = (lik * imp).astype("Int64")
    out["rating"] = rate(out["score"], t)
    status = _text(out["status"])
    out["status"] = status
    out["is_open"] = status.isin(OPEN_STATUSES)
    ref = pd.Timestamp(today if today is not None else q.end).normalize()
    review = pd.to_datetime(out["review_on"], errors="coerce", format="ISO8601")
    overdue = (review < ref).fillna(False).astype(bool) & (status != "closed")
    out["review_overdue"] = overdue
    days = (ref - review).dt.days
    out["days_overdue"] = days.where(overdue, 0).astype("Int64")

    if previous_state is not None:
        prev = risk_register(previous_state, q.previous, thresholds=t)
        prev = prev[["unit_code", "risk_id", "score", "status"]].rename(
            columns={"score": "previous_score", "status": "previous_status"}
        )
        prev = prev.drop_duplicates(["unit_code", "risk_id"])
        out = out.merge(prev, on=["unit_code", "risk_id"], how="left")
    else:
        out["previous_score"] = pd.Series([pd.NA] * len(out), index=out.index, dtype="Int64")
        out["previous_status"] = None
    pscore = out["previous_score"].astype("Int64")
    pstatus = _text(out["previous_status"])
    score = out["score"]
    absent = pscore.isna() & (pstatus == "")
    out["trend"] = np.select(
        [
            out["status"] == "closed",
            absent | (pstatus == "closed"),
            (score > pscore).fillna(False).astype(bool),
            (score < pscore).fillna(False).astype(bool),
        ],
        ["closed", "new", "up", "down"],
        default="same",
    )
    out["previous_status"] = out["previous_status"].astype(object).where(out["previous_status"].notna(), None)
    out = out[REGISTER_COLUMNS]
    order = out.assign(_s=out["score"].astype("float64").fillna(-1))
    order = order.sort_values(["unit_code", "_s", "risk_id"], ascending=[True, False, True], kind="stable")
    return order.drop(columns="_s").reset_index(drop=True)


def risk_heatmap(register: pd.DataFrame, thresholds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """5 x 5 counts of open risks (status open or monitoring), long format: 25 rows with
    likelihood, impact (1-5), score, rating and n_risks (0 where none).

    >>> int(risk_heatmap(risk_register({}, "2026-Q3"))["n_risks"].sum())
    0
    """
    grid = pd.DataFrame([(lk, im) for lk in range(1, 6) for im in range(1, 6)], columns=["likelihood", "impact"])
    grid["score"] = grid["likelihood"] * grid["impact"]
    grid["rating"] = rate(grid["score"], thresholds)
    if register.empty:
        counts = pd.DataFrame(
            {
                "likelihood": pd.Series(dtype="int64"),
                "impact": pd.Series(dtype="int64"),
                "n_risks": pd.Series(dtype="int64"),
            }
        )
    else:
        op = register[register["is_open"].astype(bool)].dropna(subset=["likelihood", "impact"])
        op = op.astype({"likelihood": "int64", "impact": "int64"})
        counts = op.groupby(["likelihood", "impact"]).size().rename("n_risks").reset_index()
    out = grid.merge(counts, on=["likelihood", "impact"], how="left")
    out["n_risks"] = out["n_risks"].fillna(0).astype("int64")
    return out


def _off_track_results(progress: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["unit_code", "result_id", "off_track_kpis"]
    if progress is None or progress.empty:
        return pd.DataFrame(columns=cols)
    off = progress[_text(progress["status"]) == "off_track"]
    if off.empty:
        return pd.DataFrame(columns=cols)
    return (
        off.assign(kpi_id=_text(off["kpi_id"]))
        .sort_values("kpi_id")
        .groupby(["unit_code", "result_id"])["kpi_id"]
        .agg(", ".join)
        .rename("off_track_kpis")
        .reset_index()
    )


#: The escalation rules of :func:`red_flags`, in precedence order: code -> the decision it asks for.
#: ``{result}`` is the result the risk threatens.
ESCALATION_RULES: dict[str, str] = {
    "critical": "Bureau decision: accept this critical risk, fund more mitigation, or change the plan of {result}.",
    "worsening": "Bureau decision: reinforce the mitigation (people, money) or accept the higher exposure.",
    "off_track_result": "Bureau decision: re-plan or re-target {result}, whose KPIs are off track under this risk.",
    "no_mitigation": "Bureau decision: assign a mitigation and its owner, or formally accept the risk.",
    "review_overdue": "Bureau decision: require the owner to review the risk by a date, or reassign it.",
}


def _fired(r: Mapping[str, object], t: Mapping[str, float]) -> list[tuple[str, str]]:
    """The (rule, reason) pairs that fire for one register row, in precedence order."""
    score = pd.to_numeric(pd.Series([r["score"]]), errors="coerce").astype("float64").iloc[0]
    if not r["is_open"] or np.isnan(score):
        return []
    head = f"score {int(score)} = likelihood {r['likelihood']} x impact {r['impact']}"
    fired: list[tuple[str, str]] = []
    if score >= t["escalate_critical"]:
        fired.append(("critical", f"critical risk: {head} (>= {t['escalate_critical']:g})"))
    if score < t["escalate_high"]:
        return fired
    floor = f"(>= {t['escalate_high']:g})"
    prev = r["previous_score"]
    if r["trend"] == "up":
        fired.append(("worsening", f"worsening: {head} {floor}, up from {prev} last quarter"))
    off = r["off_track_kpis"]
    if isinstance(off, str) and off:
        fired.append(("off_track_result", f"threatens {r['result_id']}, whose KPIs are off track: {off}"))
    if not _text(pd.Series([r["mitigation"]])).iloc[0]:
        fired.append(("no_mitigation", f"no mitigation for a risk scoring {int(score)} {floor}"))
    days = pd.to_numeric(pd.Series([r["days_overdue"]]), errors="coerce").astype("float64").iloc[0]
    if bool(r["review_overdue"]) and days > t["escalate_overdue_days"]:
        fired.append(
            (
                "review_overdue",
                f"review overdue: due {r['review_on']}, {int(days)} days late at the quarter's end "
                f"(> {t['escalate_overdue_days']:g})",
            )
        )
    return fired


def red_flags(
    register: pd.DataFrame,
    progress: pd.DataFrame | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Escalation list: the open risks that need a decision above the unit (docs/rules.md,
    "Red flags"). An open risk is flagged when it scores at least ``escalate_critical``
    (rule ``critical``), or scores at least ``escalate_high`` and its score went up since last
    quarter (``worsening``), or threatens a result with an off-track KPI (``progress`` status
    ``off_track``, matched on unit_code and result_id; ``off_track_result``), or has no
    mitigation (``no_mitigation``), or its review is more than ``escalate_overdue_days`` late
    (``review_overdue``). ``rule`` is the first rule that fired in that order and ``asks`` the
    decision it asks for; ``rules`` lists every rule that fired (", "-joined, in that order) and
    ``reasons`` spells each out, "; "-joined. ``review_on`` and ``days_overdue`` come from the
    register (days the review is late at the quarter's end, 0 when not late).
    Columns :data:`RED_FLAG_COLUMNS`, sorted by score (highest first), unit, risk_id.

    >>> red_flags(risk_register({}, "2026-Q3")).empty
    True
    """
    t = _thresholds(thresholds)
    if register.empty:
        return pd.DataFrame(columns=RED_FLAG_COLUMNS)
    reg = register[register["is_open"].astype(bool)].copy()
    reg = reg.merge(_off_track_results(progress), on=["unit_code", "result_id"], how="left")
    fired = [_fired(r, t) for r in reg.to_dict("records")]
    reg["rule"] = [f[0][0] if f else "" for f in fired]
    reg["rules"] = [", ".join(code for code, _ in f) for f in fired]
    reg["asks"] = [
        ESCALATION_RULES[f[0][0]].format(result=r or "its result") if f else ""
        for f, r in zip(fired, _text(reg["result_id"]))
    ]
    reg["reasons"] = ["; ".join(why for _, why in f) for f in fired]
    reg["n_reasons"] = [len(f) for f in fired]
    out = reg[reg["n_reasons"] > 0]
    out = out.assign(_s=out["score"].astype("float64").fillna(-1)).sort_values(
        ["_s", "unit_code", "risk_id"], ascending=[False, True, True], kind="stable"
    )
    return out[RED_FLAG_COLUMNS].reset_index(drop=True)


def red_flag_share(register: pd.DataFrame, flags: pd.DataFrame) -> float:
    """Share of the open risks that are red-flagged (0-1; NaN when no risk is open).

    >>> reg = pd.DataFrame({"is_open": [True, True, True, False]})
    >>> red_flag_share(reg, pd.DataFrame({"risk_id": ["R1"]}))
    0.3333333333333333
    """
    n_open = int(register["is_open"].astype(bool).sum()) if len(register) else 0
    return len(flags) / n_open if n_open else float("nan")


def red_flag_rules(flags: pd.DataFrame) -> dict[str, int]:
    """How many red flags each escalation rule fired for (a risk counts under every rule in its
    ``rules``), in :data:`ESCALATION_RULES` order, rules that fired for none left out.

    >>> red_flag_rules(pd.DataFrame({"rules": ["critical, review_overdue", "no_mitigation", "critical"]}))
    {'critical': 2, 'no_mitigation': 1, 'review_overdue': 1}
    """
    if flags.empty or "rules" not in flags.columns:
        return {}
    fired = [c.strip() for text in _text(flags["rules"]) for c in text.split(",") if c.strip()]
    return {rule: n for rule in ESCALATION_RULES if (n := fired.count(rule))}


def bureau_risks(register: pd.DataFrame) -> pd.DataFrame:
    """Risks aggregated by unit and category.

    Columns: unit_code, category, n_risks (all rows, closed included), n_open (open or
    monitoring), n_closed, low, medium, high, critical (open risks per rating), max_score
    (highest score of the open risks, <NA> when none), n_review_overdue, n_new, n_up.

    >>> bureau_risks(risk_register({}, "2026-Q3")).empty
    True
    """
    cols = [
        "unit_code",
        "category",
        "n_risks",
        "n_open",
        "n_closed",
        *RISK_RATINGS,
        "max_score",
        "n_review_overdue",
        "n_new",
        "n_up",
    ]
    if register.empty:
        return pd.DataFrame(columns=cols)
    reg = register.assign(category=_text(register["category"]))
    is_open = reg["is_open"].astype(bool)
    parts: dict[str, pd.Series] = {
        "n_risks": pd.Series(1, index=reg.index),
        "n_open": is_open,
        "n_closed": reg["status"] == "closed",
        **{r: is_open & (reg["rating"] == r) for r in RISK_RATINGS},
        "n_review_overdue": reg["review_overdue"].astype(bool),
        "n_new": reg["trend"] == "new",
        "n_up": reg["trend"] == "up",
    }
    flags = pd.DataFrame({k: v.astype("int64") for k, v in parts.items()})
    flags[["unit_code", "category"]] = reg[["unit_code", "category"]]
    flags["open_score"] = reg["score"].astype("float64").where(is_open)
    g = flags.groupby(["unit_code", "category"], sort=True)
    out = g[list(parts)].sum()
    out["max_score"] = g["open_score"].max().round().astype("Int64")
    return out.reset_index()[cols]
