"""What changed since last quarter: KPI statuses, assumption verdicts, risk scores and spending
of two quarters side by side (docs/rules.md, "What changed since last quarter").

Takes the OUTPUT frames of the analytics modules (kpi, assumptions, risks, finance) and never
recomputes them. Free text is kept raw: escape it where it becomes HTML.

Example:
    >>> import pandas as pd
    >>> prev = {"progress": pd.DataFrame({"unit_code": ["AFR"], "kpi_id": ["K1"], "name": ["People trained"],
    ...                                   "status": ["on_track"]})}
    >>> cur = {"progress": prev["progress"].assign(status="off_track")}
    >>> quarter_changes(cur, prev)[["kind", "item_id", "previous", "current", "direction"]].values.tolist()
    [['kpi_status', 'K1', 'on_track', 'off_track', 'worse']]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import TOLERANCE, column, column_text
from rbm_utils.core.codes import KPI_STATUSES
from rbm_utils.core.quarters import index_of
from rbm_utils.core.text import fmt_share

log = logging.getLogger(__name__)

#: Columns of :func:`quarter_changes`.
CHANGE_COLUMNS = ["unit_code", "kind", "item_id", "title", "previous", "current", "direction"]
#: Kinds of change, in the order :func:`quarter_changes` lists them.
CHANGE_KINDS = ("kpi_status", "assumption_verdict", "risk_score", "spending")

#: Status goodness for :func:`quarter_changes` (higher is better): the order of
#: ``KPI_STATUSES`` (worst first); ``not_started`` counts as ``on_track`` (nothing wrong).
STATUS_RANK: dict[str, int] = {s: i for i, s in enumerate(KPI_STATUSES) if s != "not_started"}
STATUS_RANK["not_started"] = STATUS_RANK["on_track"]
#: Verdict goodness (higher is better): broken < untested < weakening < holds.
VERDICT_RANK: dict[str, int] = {"broken": 0, "untested": 1, "weakening": 2, "holds": 3}


def _frame(frames: Mapping[str, pd.DataFrame] | None, key: str) -> pd.DataFrame | None:
    if not frames:
        return None
    df = frames.get(key)
    return None if df is None or len(df) == 0 else df


def _kpi_items(progress: pd.DataFrame | None) -> pd.DataFrame | None:
    if progress is None:
        return None
    status = column_text(progress, "status")
    return pd.DataFrame(
        {
            "unit_code": column_text(progress, "unit_code"),
            "key": column_text(progress, "kpi_id"),
            "item_id": column_text(progress, "kpi_id"),
            "title": column_text(progress, "name"),
            "shown": status,
            "rank": status.map(STATUS_RANK).astype("float64"),
            "alive": True,
        }
    )


def _latest_verdicts(tests: pd.DataFrame | None) -> pd.DataFrame | None:
    """The verdict of each assumption at its latest period in ``tests``."""
    if tests is None:
        return None
    t = tests.assign(_p=index_of(column_text(tests, "period")).fillna(-1))
    t = t.sort_values("_p", kind="stable").drop_duplicates(["unit_code", "assumption_id"], keep="last")
    verdict = column_text(t, "verdict")
    return pd.DataFrame(
        {
            "unit_code": column_text(t, "unit_code"),
            "key": column_text(t, "assumption_id"),
            "item_id": column_text(t, "assumption_id"),
            "title": column_text(t, "statement"),
            "shown": verdict,
            "rank": verdict.map(VERDICT_RANK).astype("float64"),
            "alive": True,
        }
    )


def _risk_items(register: pd.DataFrame | None) -> pd.DataFrame | None:
    if register is None:
        return None
    score = pd.to_numeric(column(register, "score"), errors="coerce").astype("float64")
    status = column_text(register, "status")
    closed = status.eq("closed").to_numpy()
    rating = column_text(register, "rating")
    shown = [
        ("closed" if c else (f"{int(s)} ({r})" if r else f"{int(s)}") if not math.isnan(s) else "")
        for c, s, r in zip(closed, score, rating)
    ]
    return pd.DataFrame(
        {
            "unit_code": column_text(register, "unit_code"),
            "key": column_text(register, "risk_id"),
            "item_id": column_text(register, "risk_id"),
            "title": column_text(register, "title"),
            "shown": shown,
            "rank": np.where(closed, np.inf, -score.to_numpy()),
            "alive": ~closed,
        },
        index=register.index,
    )


def _money_items(money: pd.DataFrame | None) -> pd.DataFrame | None:
    if money is None:
        return None
    flag = column_text(money, "flag")
    gap = pd.to_numeric(column(money, "execution_gap"), errors="coerce").astype("float64")
    rate = pd.to_numeric(column(money, "execution_rate"), errors="coerce").astype("float64")
    elapsed = pd.to_numeric(column(money, "time_elapsed"), errors="coerce").astype("float64")
    # badness: 0 when on pace (or nothing budgeted nor spent), |gap| for a gap, inf when unbudgeted
    bad = np.where(
        flag.isin(["on pace", "no budget"]), 0.0, np.where(flag.eq("unbudgeted"), np.inf, gap.abs().fillna(np.inf))
    )
    shown = [
        f"{fl} ({fmt_share(r)} of the year's budget spent, {fmt_share(e)} of the year elapsed)"
        if not math.isnan(r)
        else fl
        for fl, r, e in zip(flag, rate, elapsed)
    ]
    rid = column_text(money, "result_id")
    source = column_text(money, "funding_source")
    title = column_text(money, "title")
    title = [f"{t or r} — {s}" if s else (t or r) for t, r, s in zip(title, rid, source)]
    return pd.DataFrame(
        {
            "unit_code": column_text(money, "unit_code"),
            "key": rid + "|" + source,
            "item_id": rid,
            "title": title,
            "shown": shown,
            "rank": -bad,
            "alive": True,
        },
        index=money.index,
    )


def _compare(kind: str, cur: pd.DataFrame | None, prev: pd.DataFrame | None) -> pd.DataFrame:
    if cur is None or cur.empty:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    if prev is None:
        prev = cur.iloc[0:0]
    cur = cur.drop_duplicates(["unit_code", "key"], keep="first")
    prev = prev.drop_duplicates(["unit_code", "key"], keep="first")
    m = cur.merge(
        prev[["unit_code", "key", "shown", "rank", "alive"]],
        on=["unit_code", "key"],
        how="left",
        suffixes=("", "_prev"),
        indicator=True,
    )
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
        [new, both_inf | np.isnan(diff), diff > TOLERANCE, diff < -TOLERANCE],
        ["new", "same", "better", "worse"],
        default="same",
    )
    out = pd.DataFrame(
        {
            "unit_code": m["unit_code"],
            "kind": kind,
            "item_id": m["item_id"],
            "title": m["title"],
            "previous": np.where(absent, "", m["shown_prev"].astype(object).fillna("")),
            "current": m["shown"],
            "direction": direction,
        }
    )
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
        if cur_items is None:
            continue
        prev_items = build(prev) if prev is not None else None
        part = _compare(kind, cur_items, prev_items)
        gone = (
            0
            if prev_items is None
            else len(
                set(zip(prev_items["unit_code"], prev_items["key"]))
                - set(zip(cur_items["unit_code"], cur_items["key"]))
            )
        )
        if gone:
            log.info("quarter_changes: %d %s item(s) of last quarter no longer present; not listed", gone, kind)
        parts.append(part.sort_values(["unit_code", "item_id", "title"], kind="stable"))
    if not parts:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    return out[CHANGE_COLUMNS].astype(object)
