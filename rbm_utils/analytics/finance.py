"""Money and people: budget and spending by output, burn against delivery, cost per result,
funding flows.

Rules (docs/rules.md, section "Money and people"), for a quarter ``Y-Qn``:

- budget in-year = sum of Budget.amount of year Y; cumulative budget = years up to Y;
- spent in-year = sum of Expenditure.amount of Y-Q1 .. Y-Qn; cumulative = every period up to Y-Qn;
- staff months likewise (planned from Budget, used from Expenditure);
- execution rate = spent in-year / budget in-year; time elapsed = n / 4;
- execution gap = execution rate - time elapsed; above +execution_gap (0.15):
  ``overspending``, below -0.15: ``underspending``, otherwise ``on pace`` (exactly 0.15 is
  on pace); no budget in-year: ``unbudgeted`` when something was spent, else ``no budget``.

Example:
    >>> import pandas as pd
    >>> from rbm_utils.core import schema
    >>> b = schema.conform("Budget", pd.DataFrame({"unit_code": ["AFR"], "result_id": ["O1"],
    ...     "funding_source": ["RB"], "year": [2026], "amount": [1000.0]}), with_unit=True)
    >>> e = schema.conform("Expenditure", pd.DataFrame({"unit_code": ["AFR"], "result_id": ["O1"],
    ...     "funding_source": ["RB"], "period": ["2026-Q2"], "amount": [600.0]}), with_unit=True)
    >>> m = money_by_output({"Budget": b, "Expenditure": e}, "2026-Q2")
    >>> m[["execution_rate", "time_elapsed", "flag"]].to_dict("records")
    [{'execution_rate': 0.6, 'time_elapsed': 0.5, 'flag': 'on pace'}]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from rbm_utils.analytics.frames import sheet_frame as _sheet
from rbm_utils.analytics.frames import thresholds as _thresholds
from rbm_utils.core.quarters import Quarter, QuarterLike, index_of
from rbm_utils.core.text import number_column as _num
from rbm_utils.core.text import text_column as _text

log = logging.getLogger(__name__)

#: Figures are rounded to this many decimals before a comparison with a threshold.
_DECIMALS = 9
#: Achievement (share of the way to target) is clipped to this range wherever it is averaged.
ACHIEVEMENT_CLIP = (0.0, 1.5)

#: Additive columns of :func:`money_by_output` (summed by :func:`money_totals`).
MONEY_SUMS = [
    "budget_year",
    "budget_cumulative",
    "spent_year",
    "spent_cumulative",
    "staff_months_planned_year",
    "staff_months_planned_cumulative",
    "staff_months_used_year",
    "staff_months_used_cumulative",
]
#: Rates and flag, recomputed from the sums.
MONEY_RATES = ["execution_rate", "cumulative_execution_rate", "staff_use_rate", "time_elapsed", "execution_gap", "flag"]
MONEY_COLUMNS = ["quarter", "unit_code", "result_id", "programme", "title", "funding_source", *MONEY_SUMS, *MONEY_RATES]

BURN_COLUMNS = [
    "unit_code",
    "result_id",
    "programme",
    "title",
    "budget_year",
    "spent_year",
    "share_spent",
    "time_elapsed",
    "spend_gap",
    "n_kpis",
    "n_kpis_with_data",
    "delivery",
    "expected_delivery",
    "delivery_gap",
    "spending",
    "delivering",
    "quadrant",
]
COST_COLUMNS = [
    "unit_code",
    "basis",
    "result_id",
    "kpi_id",
    "name",
    "spent",
    "current_value",
    "baseline_value",
    "delivered",
    "cost_per_unit",
    "cost_per_delivered",
]
FLOW_COLUMNS = ["source", "target", "amount", "source_kind", "target_kind", "source_id", "target_id"]
FLOW_MEASURES = ("budget_year", "budget_cumulative", "spent_year", "spent_cumulative")


def _div(a: pd.Series, b: pd.Series) -> pd.Series:
    """a / b where b > 0, else NaN."""
    return (a / b.where(b > 0)).astype("float64")


_KEYS = ["unit_code", "result_id", "funding_source"]


def _spent_lines(state: Mapping[str, pd.DataFrame], quarter: Quarter) -> pd.DataFrame:
    """Expenditure rows up to ``quarter`` with a float amount and staff months, and the year."""
    qidx = quarter.index
    e = _sheet(state, "Expenditure")
    pidx = index_of(e["period"])
    out = pd.DataFrame(
        {
            "unit_code": e["unit_code"],
            "result_id": _text(e["result_id"]),
            "funding_source": _text(e["funding_source"]),
            "pidx": pidx,
            "amount": _num(e["amount"]).fillna(0.0),
            "staff": _num(e["staff_months"]).fillna(0.0),
        }
    )
    out = out[out["pidx"] <= qidx]
    return out.assign(year=(out["pidx"] // 4))


def _add_rates(df: pd.DataFrame, quarter_number: pd.Series, thresholds: dict[str, float]) -> pd.DataFrame:
    g = float(thresholds["execution_gap"])
    df = df.copy()
    df["execution_rate"] = _div(df["spent_year"], df["budget_year"])
    df["cumulative_execution_rate"] = _div(df["spent_cumulative"], df["budget_cumulative"])
    df["staff_use_rate"] = _div(df["staff_months_used_year"], df["staff_months_planned_year"])
    df["time_elapsed"] = quarter_number.astype("float64") / 4
    df["execution_gap"] = df["execution_rate"] - df["time_elapsed"]
    gap = df["execution_gap"].round(_DECIMALS)
    no_budget = df["execution_rate"].isna()
    df["flag"] = np.select(
        [no_budget & (df["spent_year"] > 0), no_budget, gap > g, gap < -g],
        ["unbudgeted", "no budget", "overspending", "underspending"],
        default="on pace",
    )
    return df


def money_by_output(
    state: Mapping[str, pd.DataFrame], quarter: QuarterLike, thresholds: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Budget, spending and staff months per unit, output (result_id) and funding source as of
    ``quarter``, columns :data:`MONEY_COLUMNS` (rules in the module docstring).

    A row exists for every (unit, result_id, funding_source) with a budget line of a year up
    to the quarter's year or spending up to the quarter. programme and title come from
    sheet Results. Rates are NaN where their denominator is 0 or missing.

    >>> money_by_output({}, "2026-Q3").empty
    True
    """
    q = Quarter.parse(quarter)
    t = _thresholds(thresholds)
    year, qn = q.year, q.q
    b = _sheet(state, "Budget")
    bl = pd.DataFrame(
        {
            "unit_code": b["unit_code"],
            "result_id": _text(b["result_id"]),
            "funding_source": _text(b["funding_source"]),
            "year": _num(b["year"]),
            "amount": _num(b["amount"]).fillna(0.0),
            "staff": _num(b["staff_months"]).fillna(0.0),
        }
    )
    bl = bl[bl["year"] <= year]
    el = _spent_lines(state, q)

    def sums(df: pd.DataFrame, this_year: pd.Series, names: tuple[str, str, str, str]) -> pd.DataFrame:
        y = df[this_year]
        out = pd.concat(
            [
                y.groupby(_KEYS)["amount"].sum().rename(names[0]),
                df.groupby(_KEYS)["amount"].sum().rename(names[1]),
                y.groupby(_KEYS)["staff"].sum().rename(names[2]),
                df.groupby(_KEYS)["staff"].sum().rename(names[3]),
            ],
            axis=1,
        )
        return out

    budget = sums(
        bl,
        bl["year"] == year,
        ("budget_year", "budget_cumulative", "staff_months_planned_year", "staff_months_planned_cumulative"),
    )
    spent = sums(
        el,
        el["year"] == year,
        ("spent_year", "spent_cumulative", "staff_months_used_year", "staff_months_used_cumulative"),
    )
    if budget.empty and spent.empty:
        return pd.DataFrame(columns=MONEY_COLUMNS)
    money = pd.concat([budget, spent], axis=1).reindex(columns=MONEY_SUMS).fillna(0.0).reset_index()
    money = money.rename(columns={"level_0": "unit_code", "level_1": "result_id", "level_2": "funding_source"})
    res = _sheet(state, "Results")
    res = pd.DataFrame(
        {
            "unit_code": res["unit_code"],
            "result_id": _text(res["result_id"]),
            "programme": _text(res["programme"]),
            "title": _text(res["title"]),
        }
    )
    res = res.drop_duplicates(["unit_code", "result_id"])
    money = money.merge(res, on=["unit_code", "result_id"], how="left")
    money[["programme", "title"]] = money[["programme", "title"]].fillna("")
    money["quarter"] = str(q)
    money = _add_rates(money, pd.Series(qn, index=money.index), t)
    return money[MONEY_COLUMNS].sort_values(_KEYS, kind="stable").reset_index(drop=True)


def money_totals(
    money: pd.DataFrame, by: Sequence[str] = ("unit_code",), thresholds: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """:func:`money_by_output` rolled up ``by`` some of its columns (default: per unit): the
    :data:`MONEY_SUMS` are added, then rates and flag recomputed from the sums (never averaged).
    Keeps the ``quarter`` column.

    >>> money_totals(money_by_output({}, "2026-Q3")).empty
    True
    """
    t = _thresholds(thresholds)
    by = list(by)
    cols = ["quarter", *by, *MONEY_SUMS, *MONEY_RATES]
    if money.empty:
        return pd.DataFrame(columns=cols)
    keys = ["quarter", *[c for c in by if c != "quarter"]]
    out = money.groupby(keys, sort=True, dropna=False)[MONEY_SUMS].sum().reset_index()
    qn = index_of(out["quarter"]) % 4 + 1
    out = _add_rates(out, qn, t)
    return out[["quarter", *[c for c in by if c != "quarter"], *MONEY_SUMS, *MONEY_RATES]]


def _clip(s: pd.Series) -> pd.Series:
    return s.astype("float64").clip(*ACHIEVEMENT_CLIP)


def burn_vs_delivery(
    money: pd.DataFrame, progress: pd.DataFrame, thresholds: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Money spent against results delivered, per output (unit_code, result_id).

    - share_spent = in-year execution rate of the output (all funding sources together);
      spend_gap = share_spent - time_elapsed;
    - delivery = MEDIAN achievement of the output's KPIs (``progress`` rows with that
      unit_code and result_id), each achievement clipped to [0, 1.5] first (the median keeps
      one runaway KPI from dominating); expected_delivery = median of their ``expected``
      (clipped the same way); delivery_gap = delivery - expected_delivery;
    - spending: ``ahead`` if spend_gap > execution_gap (0.15), ``behind`` if < -0.15, else
      ``on pace``; ``no budget`` without an in-year budget;
    - delivering: ``behind`` if delivery_gap < -0.15, else ``on pace``; ``no data`` when no
      KPI of the output has both achievement and expected;
    - quadrant: behind/on pace spending x delivering on pace -> ``efficient`` / ``on plan``;
      ahead + on pace -> ``front-loaded``; behind + behind -> ``slow start``; on pace +
      behind -> ``delivery lagging``; ahead + behind -> ``overspending for delivery``;
      otherwise ``no budget`` or ``no delivery data``.

    Outputs are those of ``money`` plus output-level KPIs' results of ``progress``.
    Columns :data:`BURN_COLUMNS`.

    >>> burn_vs_delivery(money_by_output({}, "2026-Q3"), pd.DataFrame()).empty
    True
    """
    t = _thresholds(thresholds)
    g = float(t["execution_gap"])
    keys = ["unit_code", "result_id"]
    if money.empty:
        tot = pd.DataFrame(
            columns=[
                *keys,
                "budget_year",
                "spent_year",
                "execution_rate",
                "time_elapsed",
                "execution_gap",
                "programme",
                "title",
            ]
        )
    else:
        tot = money_totals(money, by=keys, thresholds=t)
        names = money.drop_duplicates(keys)[[*keys, "programme", "title"]]
        tot = tot.merge(names, on=keys, how="left")
    if progress is None or progress.empty:
        deliv = pd.DataFrame(columns=[*keys, "n_kpis", "n_kpis_with_data", "delivery", "expected_delivery"])
    else:
        p = progress.assign(ach=_clip(progress["achievement"]), exp=_clip(progress["expected"]))
        p = p.assign(ok=p["ach"].notna() & p["exp"].notna())
        in_money = p.set_index(keys).index.isin(tot.set_index(keys).index) if not tot.empty else np.zeros(len(p), bool)
        p = p[(p["level"] == "output") | in_money] if "level" in p.columns else p[in_money]
        ok = p[p["ok"]]
        gp = p.groupby(keys)
        deliv = pd.concat(
            [
                gp.size().rename("n_kpis"),
                ok.groupby(keys).size().rename("n_kpis_with_data"),
                ok.groupby(keys)["ach"].median().rename("delivery"),
                ok.groupby(keys)["exp"].median().rename("expected_delivery"),
            ],
            axis=1,
        ).reset_index()
        deliv = deliv.rename(columns={"level_0": "unit_code", "level_1": "result_id"})
        if "programme" in p.columns:
            extra = p.drop_duplicates(keys)[[*keys, "programme"]]
            deliv = deliv.merge(extra.rename(columns={"programme": "_prog"}), on=keys, how="left")
    out = tot.merge(deliv, on=keys, how="outer")
    if "_prog" in out.columns:
        out["programme"] = out["programme"].where(out["programme"].notna(), out["_prog"])
    for c in ("programme", "title"):
        out[c] = out[c].astype(object).where(out[c].notna(), "")
    for c in ("n_kpis", "n_kpis_with_data"):
        out[c] = out[c].fillna(0).astype("int64")
    out["share_spent"] = out["execution_rate"].astype("float64")
    out["spend_gap"] = out["execution_gap"].astype("float64")
    out["time_elapsed"] = out["time_elapsed"].astype("float64")
    out["delivery_gap"] = out["delivery"].astype("float64") - out["expected_delivery"].astype("float64")
    sg = out["spend_gap"].round(_DECIMALS)
    dg = out["delivery_gap"].round(_DECIMALS)
    out["spending"] = np.select(
        [out["share_spent"].isna(), sg > g, sg < -g], ["no budget", "ahead", "behind"], default="on pace"
    )
    out["delivering"] = np.select([dg.isna(), dg < -g], ["no data", "behind"], default="on pace")
    table = {
        ("behind", "on pace"): "efficient",
        ("on pace", "on pace"): "on plan",
        ("ahead", "on pace"): "front-loaded",
        ("behind", "behind"): "slow start",
        ("on pace", "behind"): "delivery lagging",
        ("ahead", "behind"): "overspending for delivery",
    }
    out["quadrant"] = [
        "no budget" if s == "no budget" else "no delivery data" if d == "no data" else table[(s, d)]
        for s, d in zip(out["spending"], out["delivering"])
    ]
    return out[BURN_COLUMNS].sort_values(keys, kind="stable").reset_index(drop=True)


def cost_per_result(state: Mapping[str, pd.DataFrame], quarter: QuarterLike, progress: pd.DataFrame) -> pd.DataFrame:
    """Cost per unit of result, one row per KPI used, columns :data:`COST_COLUMNS`.

    Only KPIs with measure ``number`` and direction ``increase`` count (a cost per unit of a
    percent or of a decrease means nothing).

    - basis ``output``: KPIs of output-level results; spent = the output's cumulative
      spending up to ``quarter`` (Expenditure, all funding sources);
    - basis ``reach``: KPIs of reach-level results (people, institutions, countries
      reached); spent = the whole unit's cumulative spending up to ``quarter``.

    cost_per_unit = spent / current_value (as asked: the KPI's current value, baseline
    included); delivered = current_value - baseline_value and cost_per_delivered = spent /
    delivered (what the money bought since the baseline). Both NaN when the divisor is 0 or
    less or unknown.

    >>> cost_per_result({}, "2026-Q3", pd.DataFrame()).empty
    True
    """
    q = Quarter.parse(quarter)
    if progress is None or progress.empty:
        return pd.DataFrame(columns=COST_COLUMNS)
    el = _spent_lines(state, q)
    by_output = el.groupby(["unit_code", "result_id"])["amount"].sum().rename("spent_output").reset_index()
    by_unit = el.groupby("unit_code")["amount"].sum().rename("spent_unit").reset_index()
    p = progress[
        (progress["measure"] == "number")
        & (progress["direction"] == "increase")
        & progress["level"].isin(["output", "reach"])
    ]
    p = p.merge(by_output, on=["unit_code", "result_id"], how="left").merge(by_unit, on="unit_code", how="left")
    out = pd.DataFrame(
        {
            "unit_code": p["unit_code"],
            "basis": p["level"],
            "result_id": p["result_id"],
            "kpi_id": p["kpi_id"],
            "name": p["name"],
            "spent": np.where(p["level"] == "output", p["spent_output"], p["spent_unit"]),
            "current_value": _num(p["current_value"]),
            "baseline_value": _num(p["baseline_value"]),
        }
    )
    out["spent"] = out["spent"].astype("float64").fillna(0.0)
    out["delivered"] = out["current_value"] - out["baseline_value"]
    out["cost_per_unit"] = _div(out["spent"], out["current_value"])
    out["cost_per_delivered"] = _div(out["spent"], out["delivered"])
    return (
        out[COST_COLUMNS]
        .sort_values(["unit_code", "basis", "result_id", "kpi_id"], kind="stable")
        .reset_index(drop=True)
    )


def money_flows(
    state: Mapping[str, pd.DataFrame],
    quarter: QuarterLike,
    measure: str = "budget_year",
    programme_names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Links of a Sankey diagram funding source -> unit -> programme -> output, columns
    :data:`FLOW_COLUMNS`. ``measure`` is one of :data:`FLOW_MEASURES` (a column of
    :func:`money_by_output`). Node ids are unique across layers: ``source:<name>``,
    ``unit:<code>``, ``programme:<name>`` (a programme is one node bureau-wide; blank
    programmes are "(no programme)") and ``output:<unit>/<result_id>``; labels are the
    name, code, programme (its name in ``programme_names`` when listed there) and result_id.
    Zero flows are dropped; every layer carries the same total.

    >>> money_flows({}, "2026-Q3").empty
    True
    """
    if measure not in FLOW_MEASURES:
        raise ValueError(f"measure must be one of {FLOW_MEASURES}, not {measure!r}")
    money = money_by_output(state, quarter)
    if money.empty:
        return pd.DataFrame(columns=FLOW_COLUMNS)
    m = money.assign(
        amount=money[measure].astype("float64"),
        programme=money["programme"].where(money["programme"] != "", "(no programme)"),
        funding_source=money["funding_source"].where(money["funding_source"] != "", "(no source)"),
    )
    m = m[m["amount"] > 0]
    layers = [
        ("funding_source", "source", "unit_code", "unit"),
        ("unit_code", "unit", "programme", "programme"),
        ("programme", "programme", "output", "output"),
    ]
    m = m.assign(output=m["unit_code"] + "/" + m["result_id"])
    parts = []
    for src, skind, tgt, tkind in layers:
        f = m.groupby([src, tgt], sort=True)["amount"].sum().reset_index()
        parts.append(
            pd.DataFrame(
                {
                    "source": f[src],
                    "target": f[tgt],
                    "amount": f["amount"],
                    "source_kind": skind,
                    "target_kind": tkind,
                    "source_id": skind + ":" + f[src],
                    "target_id": tkind + ":" + f[tgt],
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    is_out = out["target_kind"] == "output"
    out.loc[is_out, "target"] = out.loc[is_out, "target"].str.split("/", n=1).str[1]
    names = dict(programme_names or {})
    for end in ("source", "target"):
        is_prog = out[f"{end}_kind"] == "programme"
        out.loc[is_prog, end] = out.loc[is_prog, end].map(lambda p: names.get(p, p))
    return out[FLOW_COLUMNS]
