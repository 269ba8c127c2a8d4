"""Scale-up: compare initiatives working on the same theme and propose "replicate X in
region Y".

An *initiative* is a non-blank Results.initiative; its *theme* is Results.theme (both matched
ignoring case and surrounding spaces). An initiative's KPIs are the KPIs of the results
tagged with it, wherever (in any unit) those results are; its spending is the cumulative
spending on those results.

Scores of each (theme, initiative) as of a quarter (docs/rules.md, "Scale-up"):

- mean_achievement: mean of its KPIs' achievement, each clipped to [0, 1.5];
  achievement_score = mean_achievement / 1.5;
- cost_per_target: spent_cumulative / sum of the clipped achievements (what one whole
  target's worth of progress cost); cost_score = cheapest cost_per_target of the theme / this
  one (1 for the cheapest; 0 when money was spent and nothing achieved);
- evidence_share: share of its KPIs' total Actuals rows (disaggregation blank, period up to
  the quarter) that carry evidence;
- consistency: share of its KPIs' quarterly statuses (``series``, periods up to the quarter,
  statuses on_track / at_risk / off_track / target_met) that are on_track or target_met;
- composite = weighted mean of the available scores, weights :data:`WEIGHTS`
  (achievement 0.4, consistency 0.2, evidence 0.2, cost 0.2), renormalised over the scores
  that exist; rank 1 = highest composite within the theme (ties: higher mean_achievement,
  then initiative name);
- off_track: at least half of its KPIs with a rated status (on_track, at_risk, off_track,
  target_met) are off_track.

Success (thresholds in parameters/workbench.yaml, docs/rules.md): an initiative is a
*success* when its mean_achievement >= ``scaleup_min_achievement``, its consistency >=
``scaleup_min_consistency`` and its KPIs have a rated status in at least
``scaleup_min_quarters`` distinct quarters (n_quarters), and it is not off track.

Candidates: for each theme, the best-ranked initiative X that is a success (a weak initiative
is never proposed, however alone on its theme) is proposed for each region Y (``unit_types``
value ``region``) where X does not work and which either has no initiative on the theme, or
whose initiatives on the theme all perform worse: a lower composite than X and none of them a
success. Each candidate names the partners who funded X (the register's signed or received
amounts for X or its outputs, directly or through their activities) and Y's partners on the
theme (any stage but declined), whom a scale-up would approach first.

Example:
    >>> scaleup_candidates({}, pd.DataFrame(), pd.DataFrame(), "2026-Q3", unit_types={"AFR": "region"}).empty
    True
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.finance import ACHIEVEMENT_CLIP
from rbm_utils.analytics.frames import match_key as _key
from rbm_utils.analytics.frames import sheet_frame as _sheet
from rbm_utils.analytics.frames import thresholds as _thresholds
from rbm_utils.analytics.partners import SECURED_STAGES, register
from rbm_utils.core.quarters import Quarter, QuarterLike, index_of
from rbm_utils.core.text import text_column as _text

log = logging.getLogger(__name__)

WEIGHTS: dict[str, float] = {"achievement": 0.4, "consistency": 0.2, "evidence": 0.2, "cost": 0.2}
RATED = ("on_track", "at_risk", "off_track", "target_met")
GOOD = ("on_track", "target_met")

SCORE_COLUMNS = [
    "theme",
    "initiative",
    "units",
    "regions",
    "n_kpis",
    "n_kpis_rated",
    "n_off_track",
    "off_track",
    "mean_achievement",
    "spent",
    "cost_per_target",
    "evidence_share",
    "consistency",
    "achievement_score",
    "cost_score",
    "evidence_score",
    "consistency_score",
    "composite",
    "rank",
    "n_in_theme",
    "n_quarters",
    "success",
]
CANDIDATE_COLUMNS = [
    "theme",
    "initiative",
    "source_units",
    "target_region",
    "situation",
    "target_initiatives",
    "composite",
    "mean_achievement",
    "consistency",
    "evidence_share",
    "cost_per_target",
    "reasons",
    "n_quarters",
    "partners",
    "target_composite",
    "target_partners",
]


def _tagged_results(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Results with a non-blank initiative and theme: unit_code, result_id, theme/initiative
    keys and their first spelling."""
    r = _sheet(state, "Results")
    out = pd.DataFrame(
        {
            "unit_code": r["unit_code"],
            "result_id": _text(r["result_id"]),
            "theme_key": _key(r["theme"]),
            "initiative_key": _key(r["initiative"]),
            "theme": _text(r["theme"]),
            "initiative": _text(r["initiative"]),
        }
    )
    out = out[(out["theme_key"] != "") & (out["initiative_key"] != "")]
    out["theme"] = out.groupby("theme_key")["theme"].transform("first")
    out["initiative"] = out.groupby("initiative_key")["initiative"].transform("first")
    return out.drop_duplicates(["unit_code", "result_id"])


def initiative_scores(
    state: Mapping[str, pd.DataFrame],
    progress: pd.DataFrame,
    money: pd.DataFrame,
    quarter: QuarterLike,
    series: pd.DataFrame | None = None,
    unit_types: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Scores and rank of every (theme, initiative), columns :data:`SCORE_COLUMNS` (rules in
    the module docstring). ``progress`` is :func:`rbm_utils.analytics.kpi.kpi_progress` (unit_code,
    kpi_id, result_id, achievement, status), ``money`` is
    :func:`rbm_utils.analytics.finance.money_by_output` (unit_code, result_id, spent_cumulative),
    ``series`` is :func:`rbm_utils.analytics.kpi.kpi_series` (None: consistency is not scored).
    ``units`` / ``regions``: "; "-joined units where the initiative has results, and those
    of them that are regions according to ``unit_types``. ``n_quarters``: distinct quarters
    in which its KPIs have a rated status; ``success``: the success rule of the module
    docstring with ``thresholds`` (defaults: the settings' defaults).

    >>> initiative_scores({}, pd.DataFrame(), pd.DataFrame(), "2026-Q3").empty
    True
    """
    types = dict(unit_types or {})
    th = _thresholds(thresholds)
    tagged = _tagged_results(state)
    if tagged.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    ikeys = ["theme_key", "initiative_key"]
    rkeys = ["unit_code", "result_id"]
    base = tagged.groupby(ikeys, sort=True).agg(
        theme=("theme", "first"),
        initiative=("initiative", "first"),
        units=("unit_code", lambda s: "; ".join(sorted(set(s)))),
        regions=("unit_code", lambda s: "; ".join(sorted({u for u in s if types.get(u) == "region"}))),
    )
    # KPIs of the tagged results
    if progress is not None and not progress.empty:
        p = progress[["unit_code", "kpi_id", "result_id", "achievement", "status"]].assign(
            result_id=_text(progress["result_id"]), kpi_id=_text(progress["kpi_id"])
        )
        p = p.merge(tagged[[*rkeys, *ikeys]], on=rkeys, how="inner")
    else:
        p = pd.DataFrame(columns=["unit_code", "kpi_id", "result_id", "achievement", "status", *ikeys])
    status = _text(p["status"])
    p = p.assign(
        ach=pd.to_numeric(p["achievement"], errors="coerce").astype("float64").clip(*ACHIEVEMENT_CLIP),
        status=status,
        one=1,
        rated=status.isin(RATED).astype("int64"),
        off=(status == "off_track").astype("int64"),
    )
    gp = p.groupby(ikeys)
    kp = pd.DataFrame(
        {
            "n_kpis": gp["one"].sum(),
            "n_kpis_rated": gp["rated"].sum(),
            "n_off_track": gp["off"].sum(),
            "mean_achievement": gp["ach"].mean(),
            "ach_sum": gp["ach"].sum(min_count=1),
        }
    )
    out = base.join(kp, how="left")
    # money
    if money is not None and not money.empty:
        m = money[[*rkeys, "spent_cumulative"]].assign(result_id=_text(money["result_id"]))
        m = m.merge(tagged[[*rkeys, *ikeys]], on=rkeys, how="inner")
        out = out.join(m.groupby(ikeys)["spent_cumulative"].sum().rename("spent"), how="left")
    else:
        out["spent"] = np.nan
    # evidence from Actuals totals up to the quarter
    kpi_of = p[["unit_code", "kpi_id", *ikeys]].drop_duplicates(["unit_code", "kpi_id"])
    a = _sheet(state, "Actuals")
    qidx = Quarter.parse(quarter).index
    a = pd.DataFrame(
        {
            "unit_code": a["unit_code"],
            "kpi_id": _text(a["kpi_id"]),
            "pidx": index_of(a["period"]),
            "total": _text(a["disaggregation"]) == "",
            "evidence": _text(a["evidence"]) != "",
        }
    )
    a = a[a["total"] & (a["pidx"] <= qidx)].merge(kpi_of, on=["unit_code", "kpi_id"], how="inner")
    out = out.join(a.groupby(ikeys)["evidence"].mean().rename("evidence_share"), how="left")
    # consistency from the series
    if series is not None and not series.empty:
        s = series[["unit_code", "kpi_id", "period", "status"]].assign(
            kpi_id=_text(series["kpi_id"]), status=_text(series["status"]), pidx=index_of(series["period"])
        )
        s = s[(s["pidx"] <= qidx) & s["status"].isin(RATED)].merge(kpi_of, on=["unit_code", "kpi_id"], how="inner")
        out = out.join(
            s.assign(good=s["status"].isin(GOOD)).groupby(ikeys)["good"].mean().rename("consistency"), how="left"
        )
        out = out.join(s.groupby(ikeys)["pidx"].nunique().rename("n_quarters"), how="left")
    else:
        out["consistency"] = np.nan
        out["n_quarters"] = 0
    out = out.reset_index()
    for c in ("n_kpis", "n_kpis_rated", "n_off_track", "n_quarters"):
        out[c] = pd.to_numeric(out[c], errors="coerce").fillna(0).astype("int64")
    for c in ("mean_achievement", "ach_sum", "spent", "evidence_share", "consistency"):
        out[c] = out[c].astype("float64")
    out["off_track"] = (out["n_kpis_rated"] > 0) & (2 * out["n_off_track"] >= out["n_kpis_rated"])
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = np.where(out["spent"] > 0, out["spent"] / out["ach_sum"], np.nan)
    out["cost_per_target"] = pd.Series(cost, index=out.index).replace(-np.inf, np.inf)
    # scores
    out["achievement_score"] = out["mean_achievement"] / ACHIEVEMENT_CLIP[1]
    finite = out["cost_per_target"].where(np.isfinite(out["cost_per_target"]))
    cheapest = finite.groupby(out["theme_key"]).transform("min")
    out["cost_score"] = np.where(np.isinf(out["cost_per_target"]), 0.0, cheapest / finite)
    out["cost_score"] = out["cost_score"].astype("float64")
    out["evidence_score"] = out["evidence_share"]
    out["consistency_score"] = out["consistency"]
    scores = out[["achievement_score", "consistency_score", "evidence_score", "cost_score"]].to_numpy(dtype=float)
    w = np.array([WEIGHTS["achievement"], WEIGHTS["consistency"], WEIGHTS["evidence"], WEIGHTS["cost"]])
    have = ~np.isnan(scores)
    wsum = (have * w).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        composite = np.where(wsum > 0, np.nansum(scores * w, axis=1) / wsum, np.nan)
    # an initiative with no KPI value at all is not ranked
    out["composite"] = np.where(out["mean_achievement"].notna(), composite, np.nan)
    ordered = out.assign(
        _c=out["composite"].fillna(-1), _a=out["mean_achievement"].fillna(-1), _i=out["initiative"].str.casefold()
    )
    ordered = ordered.sort_values(["theme_key", "_c", "_a", "_i"], ascending=[True, False, False, True], kind="stable")
    ordered["rank"] = ordered.groupby("theme_key").cumcount() + 1
    ordered["rank"] = ordered["rank"].where(ordered["composite"].notna()).astype("Int64")
    ordered["n_in_theme"] = ordered.groupby("theme_key")["composite"].transform("count").astype("int64")
    ordered["success"] = (
        (ordered["mean_achievement"] >= th["scaleup_min_achievement"])
        & (ordered["consistency"] >= th["scaleup_min_consistency"])
        & (ordered["n_quarters"] >= th["scaleup_min_quarters"])
        & ~ordered["off_track"]
    ).astype(bool)
    return ordered[SCORE_COLUMNS].reset_index(drop=True)


def _pct(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:.0%}"


def _shown(by: pd.DataFrame, keys: list[str], name: str) -> pd.DataFrame:
    """ "; "-joined "partner (amount)" per ``keys``, amounts summed per partner, largest first."""
    by = by.groupby([*keys, "partner_key"], as_index=False).agg(partner=("partner", "first"), amount=("amount", "sum"))
    by = by.sort_values([*keys, "amount", "partner"], ascending=[True] * len(keys) + [False, True])
    by["shown"] = by["partner"] + " (" + by["amount"].map("{:,.0f}".format) + ")"
    return by.groupby(keys, sort=True)["shown"].agg("; ".join).rename(name).reset_index()


def initiative_partners(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Partners who funded each initiative: columns theme_key, initiative_key, partners
    ("; "-joined "name (amount)", largest first): the register's signed or received amounts
    (a blank stage is received) for the initiative itself or for an output tagged with it
    (directly or through one of its activities).

    >>> initiative_partners({}).columns.tolist()
    ['theme_key', 'initiative_key', 'partners']
    """
    cols = ["theme_key", "initiative_key", "partners"]
    reg = register(state)
    reg = reg[reg["stage"].isin(SECURED_STAGES)].assign(
        theme_key=_key(reg["theme"]), initiative_key=_key(reg["initiative"])
    )
    reg = reg[(reg["theme_key"] != "") & (reg["initiative_key"] != "")]
    if reg.empty:
        return pd.DataFrame(columns=cols)
    return _shown(reg, ["theme_key", "initiative_key"], "partners")[cols]


def region_partners(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Each unit's partners on each theme: columns unit_code, theme_key, target_partners
    ("; "-joined "name (amount)", largest first) over the register's rows at any stage but
    declined whose output or initiative is on the theme.

    >>> region_partners({}).columns.tolist()
    ['unit_code', 'theme_key', 'target_partners']
    """
    cols = ["unit_code", "theme_key", "target_partners"]
    reg = register(state)
    reg = reg[reg["stage"] != "declined"].assign(theme_key=_key(reg["theme"]))
    reg = reg[reg["theme_key"] != ""]
    if reg.empty:
        return pd.DataFrame(columns=cols)
    return _shown(reg, ["unit_code", "theme_key"], "target_partners")[cols]


def _strengths(x: pd.Series, th: Mapping[str, float]) -> str:
    cost = f", {x['cost_per_target']:,.0f} per target achieved" if np.isfinite(x["cost_per_target"]) else ""
    return (
        f"{x['initiative']} ranks {x['rank']} of {x['n_in_theme']} on {x['theme']} (composite {x['composite']:.2f}: "
        f"mean achievement {_pct(x['mean_achievement'])}, consistency {_pct(x['consistency'])}, "
        f"evidence {_pct(x['evidence_share'])}{cost}); a success: achievement >= "
        f"{_pct(th['scaleup_min_achievement'])} and consistency >= {_pct(th['scaleup_min_consistency'])} over "
        f"{x['n_quarters']} quarters (at least {int(th['scaleup_min_quarters'])})"
    )


def scaleup_candidates(
    state: Mapping[str, pd.DataFrame],
    progress: pd.DataFrame,
    money: pd.DataFrame,
    quarter: QuarterLike,
    series: pd.DataFrame | None = None,
    *,
    unit_types: Mapping[str, str],
    thresholds: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Candidates "replicate initiative X in region Y", columns :data:`CANDIDATE_COLUMNS`
    (rule in the module docstring). ``unit_types`` maps unit code -> ``region`` or
    ``cluster`` (e.g. ``{u.code: u.type for u in load_config().units.values()}``); every region
    in it is considered, including one with no data (the reasons say so).
    ``situation`` is ``no initiative``, ``off track`` (Y's initiatives on the theme all off
    track) or ``performing worse``; ``target_initiatives`` lists Y's initiatives on the theme
    and ``target_composite`` the best of their composites; ``partners`` who funded X;
    ``target_partners`` Y's partners on the theme; ``reasons`` spells out both sides, "; "-joined.

    >>> scaleup_candidates({}, pd.DataFrame(), pd.DataFrame(), "2026-Q3", unit_types={}).columns.tolist()[:3]
    ['theme', 'initiative', 'source_units']
    """
    th = _thresholds(thresholds)
    scores = initiative_scores(state, progress, money, quarter, series, unit_types, th)
    if scores.empty:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    regions = sorted(u for u, t in unit_types.items() if t == "region")
    tagged = _tagged_results(state)
    seen_units = set(_sheet(state, "Results")["unit_code"])
    sc = scores.assign(theme_key=_key(scores["theme"]), initiative_key=_key(scores["initiative"]))
    funders = {(t, i): p for t, i, p in initiative_partners(state).itertuples(index=False)}
    locals_ = {(u, t): p for u, t, p in region_partners(state).itertuples(index=False)}
    # which initiatives each unit runs on each theme
    runs = (
        tagged[["unit_code", "theme_key", "initiative_key"]]
        .drop_duplicates()
        .merge(
            sc[
                [
                    "theme_key",
                    "initiative_key",
                    "initiative",
                    "off_track",
                    "n_off_track",
                    "n_kpis_rated",
                    "composite",
                    "success",
                ]
            ],
            on=["theme_key", "initiative_key"],
            how="left",
        )
    )
    rows = []
    for theme_key, grp in sc.groupby("theme_key", sort=True):
        good = grp[grp["success"] & grp["rank"].notna()].sort_values("rank")
        if good.empty:
            log.info("theme %s: no initiative meets the success thresholds; no candidate", grp["theme"].iloc[0])
            continue
        x = good.iloc[0]
        x_units = set(x["units"].split("; "))
        partners = funders.get((theme_key, x["initiative_key"]), "")
        strengths = _strengths(x, th) + (f"; funded by {partners}" if partners else "")
        for y in regions:
            if y in x_units:
                continue
            mine = runs[(runs["unit_code"] == y) & (runs["theme_key"] == theme_key)]
            best = mine["composite"].max() if not mine.empty else np.nan
            if mine.empty:
                situation = "no initiative"
                why = f"{y} has no initiative on {x['theme']}"
                if y not in seen_units:
                    why += " (no results from it in the data)"
                names = ""
            elif (
                mine["success"].fillna(False).astype(bool).any()
                or not (mine["composite"].fillna(-1) < x["composite"]).all()
            ):
                continue
            else:
                names = "; ".join(sorted(mine["initiative"]))
                if mine["off_track"].fillna(False).astype(bool).all():
                    situation = "off track"
                    detail = ", ".join(
                        f"{i}: {int(n)} of {int(r)} KPIs off track"
                        for i, n, r in sorted(zip(mine["initiative"], mine["n_off_track"], mine["n_kpis_rated"]))
                    )
                    why = f"{y}'s initiative(s) on {x['theme']} are off track ({detail})"
                else:
                    situation = "performing worse"
                    detail = ", ".join(
                        f"{i}: composite {_num(c)}" for i, c in sorted(zip(mine["initiative"], mine["composite"]))
                    )
                    why = (
                        f"{y}'s initiative(s) on {x['theme']} perform worse ({detail}, below "
                        f"{x['composite']:.2f}) and none is a success"
                    )
            local = locals_.get((y, theme_key), "")
            if local:
                why += f"; {y} works on {x['theme']} with {local}"
            rows.append(
                {
                    "theme": x["theme"],
                    "initiative": x["initiative"],
                    "source_units": x["units"],
                    "target_region": y,
                    "situation": situation,
                    "target_initiatives": names,
                    "composite": x["composite"],
                    "mean_achievement": x["mean_achievement"],
                    "consistency": x["consistency"],
                    "evidence_share": x["evidence_share"],
                    "cost_per_target": x["cost_per_target"],
                    "reasons": f"{strengths}; {why}",
                    "n_quarters": x["n_quarters"],
                    "partners": partners,
                    "target_composite": best,
                    "target_partners": local,
                }
            )
    if not rows:
        return pd.DataFrame(columns=CANDIDATE_COLUMNS)
    out = pd.DataFrame(rows, columns=CANDIDATE_COLUMNS)
    out["n_quarters"] = out["n_quarters"].astype("int64")
    out["target_composite"] = out["target_composite"].astype("float64")
    return out


def _num(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:.2f}"
