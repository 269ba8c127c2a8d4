"""Every analytics table of a quarter, computed once for the whole bureau.

The review notebooks, the bureau overview and the batch's published tidy tables all come
from :func:`analyse`, so a figure in a notebook and the same figure in a published table
cannot differ. :func:`unit_view` and :func:`joint_view` cut the bureau result down.

Example:
    >>> from rbm_utils.core.config import load_config
    >>> res = analyse({}, "2026-Q3", load_config())
    >>> res["progress"].empty
    True
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping

import pandas as pd

from rbm_utils.analytics import (
    agenda,
    assumptions,
    changes,
    data_health,
    decisions,
    finance,
    funding,
    kpi,
    kpi_reasons,
    kpi_regions,
    learning,
    linkages,
    partners,
    pathway,
    programmes,
    provenance,
    regional_money,
    risk_groups,
    risks,
    scaleup,
    workprogramme,
)
from rbm_utils.core.config import Config
from rbm_utils.core.quarters import Quarter, QuarterLike

log = logging.getLogger(__name__)

State = Mapping[str, pd.DataFrame]

#: Environment variables that mark a process which must only read frozen tables: the batch's
#: job process and its notebook kernel (``RBM_BATCH_JOB``, set by the publish runner) and a
#: dashboard's Voila kernel (``RBM_FROZEN_ONLY``, set by ``rbm serve``).
FROZEN_ONLY_ENV: tuple[str, ...] = ("RBM_BATCH_JOB", "RBM_FROZEN_ONLY")


def ensure_may_compute() -> None:
    """Raise RuntimeError inside a batch notebook run or a dashboard kernel: the quarter's
    analysis is computed once by the batch, and those processes read its frozen tables.

    >>> ensure_may_compute()  # an ordinary process may compute
    """
    marked = [name for name in FROZEN_ONLY_ENV if os.environ.get(name)]
    if marked:
        raise RuntimeError(
            f"analyse() called in a process marked {', '.join(marked)} (a batch notebook run or a "
            "dashboard kernel): read the frozen analysis beside the snapshot (outputs/<Q>/analysis/) "
            "instead of recomputing the bureau"
        )


#: Tables published per unit by the batch (file stem -> key of :func:`analyse`).
PUBLISHED_TABLES: dict[str, str] = {
    "kpi_progress": "progress",
    "kpi_series": "series",
    "assumption_tests": "assumptions",
    "risks": "risks",
    "red_flags": "red_flags",
    "money": "money",
    "burn_vs_delivery": "burn",
    "cost_per_result": "cost",
    "activities_delayed": "delayed",
    "partners": "partners",
    "partner_types": "partner_types",
    "funding": "funding",
    "partners_largest": "partners_largest",
    "partner_concentration": "partner_concentration",
    "partner_owners": "partner_owners",
    "resources_by_stage": "resources_by_stage",
    "linkages": "linkages",
    "agenda": "agenda",
    "changes": "changes",
    "decisions": "decisions",
    "approvals": "approvals",
    "framework_changes": "framework_changes",
    "learning": "learning",
    "data_health": "data_health",
    "provenance": "provenance",
}

#: Tables published in the bureau overview's folder only (file stem -> key of :func:`analyse`):
#: bureau-wide roll-ups with no unit_code to cut a unit's rows by.
OVERVIEW_TABLES: dict[str, str] = {
    "programmes": "programmes",
    "red_flag_groups": "red_flag_groups",
}


def previous_quarter(quarter: QuarterLike) -> str:
    """The quarter before ``quarter`` as ``YYYY-Qn`` text (what the store is asked for).

    >>> previous_quarter("2026-Q1")
    '2025-Q4'
    """
    return str(Quarter.parse(quarter).previous)


def analyse(
    state: State,
    quarter: QuarterLike,
    config: Config,
    previous_state: State | None = None,
    today: dt.date | None = None,
) -> dict[str, pd.DataFrame]:
    """All analytics of ``quarter`` for every unit in ``state`` (bureau frames with unit_code).

    ``previous_state`` (the bureau as it stood at the previous quarter) gives risk trends,
    the decisions no longer in this quarter's workbooks and the learning log (empty without
    it); without it the previous quarter's KPI statuses, verdicts, spending and agenda (for
    the items carried over) are recomputed from ``state`` as of the previous quarter, which is
    what the data now says about it. ``state`` may carry the store's ``Approvals`` and
    ``FrameworkChanges`` tables (keys ``approvals``, ``framework_changes``; empty without).
    Raises RuntimeError inside a batch notebook run or a dashboard kernel (:func:`ensure_may_compute`).
    """
    ensure_may_compute()
    th = config.thresholds
    q = Quarter.parse(quarter)
    prev_q = q.previous
    prev_state = previous_state if previous_state is not None else state
    unit_types = {u.code: u.type for u in config.units.values()}

    series = kpi.kpi_series(state, q, th)
    progress = kpi.kpi_progress(state, q, th)
    nodes, edges = pathway.pathway(state, progress)
    stall = pathway.stalls(nodes, edges)
    tests = assumptions.assumption_tests(state, q, series, progress, th)
    register = risks.risk_register(state, q, previous_state, th, today=today)
    flags = risks.red_flags(register, progress, th)
    money = finance.money_by_output(state, q, th)
    out: dict[str, pd.DataFrame] = {
        "series": series,
        "progress": progress,
        "progress_by_region": kpi_regions.kpi_progress_by_region(state, q, th),
        "activities_by_region": kpi_regions.activities_by_region(state),
        "rollup_unit": kpi.rollup(progress, "unit_code"),
        "rollup_level": kpi.rollup(progress, ["unit_code", "level"]),
        "rollup_bureau": kpi.rollup(progress, None),
        "nodes": nodes,
        "edges": edges,
        "layout": pathway.layout(nodes, edges),
        "stalls": stall,
        "assumptions": tests,
        "assumption_changes": assumptions.assumption_changes(tests, q),
        "risks": register,
        "risk_heatmap": risks.risk_heatmap(register, th),
        "red_flags": flags,
        "red_flag_groups": risk_groups.risk_groups(flags, register),
        "bureau_risks": risks.bureau_risks(register),
        "money": money,
        "money_units": finance.money_totals(money, ["unit_code"]),
        "burn": finance.burn_vs_delivery(money, progress, th),
        "cost": finance.cost_per_result(state, q, progress),
        "regional_money": regional_money.regional_money(state, q, config.clusters),
        "flows": finance.money_flows(state, q, programme_names=config.action_plan.programmes),
        "programmes": programmes.programme_rollup(
            state.get("Results"),
            progress,
            money,
            config.action_plan.programmes,
            config.action_plan.theme_programme,
        ),
        "activities": workprogramme.activities_summary(state),
        "delayed": workprogramme.delayed_activities(state, q, th),
        "partner_types": workprogramme.partners_summary(state),
        "linkages": linkages.linkage_counts(state),
        "linkage_matrix": linkages.linkage_matrix(state),
        "synergies": linkages.synergies(state, th),
        "scaleup_scores": scaleup.initiative_scores(state, progress, money, q, series, unit_types, th),
        "scaleup": scaleup.scaleup_candidates(state, progress, money, q, series, unit_types=unit_types, thresholds=th),
    }
    out |= _resources(state, q, config)
    prev_series = kpi.kpi_series(prev_state, prev_q, th)
    previous = {
        "progress": kpi.kpi_progress(prev_state, prev_q, th),
        "assumptions": assumptions.assumption_tests(prev_state, prev_q, prev_series, None, th),
        "risks": risks.risk_register(prev_state, prev_q, None, th),
        "money": finance.money_by_output(prev_state, prev_q, th),
    }
    out["decisions"] = decisions.follow_up(
        state,
        q,
        previous_state=previous_state,
        series=series,
        previous_series=prev_series,
        progress=progress,
        register=register,
        tests=tests,
        previous_tests=previous["assumptions"],
    )
    out["approvals"] = decisions.approvals(state, q)
    out["framework_changes"] = decisions.framework_changes(state, q)
    out["provenance"] = provenance.provenance(state, q)
    out["data_health"] = data_health.data_health(
        state, q, th, previous_state, report_due_days=config.report_due_days, units=config.units
    )
    out["learning"] = learning.lessons(state, previous_state, q, tests, previous["assumptions"])
    agenda_now = agenda.review_agenda(
        progress, tests, flags, money, stall, q, kpis=state.get("KPIs"), thresholds=th, currency=config.currency
    )
    out["agenda"] = agenda.carry_over(
        agenda_now,
        _previous_agenda(prev_state, prev_q, previous, config, out["decisions"]),
        out["decisions"],
        q,
        thresholds=th,
    )
    current = {"progress": progress, "assumptions": tests, "risks": register, "money": money}
    out["changes"] = changes.quarter_changes(current, previous)
    out["progress"] = kpi_reasons.kpi_reasons(progress, state.get("Actuals"), stall, register, tests, q)
    return out


def _resources(state: State, q: Quarter, config: Config) -> dict[str, pd.DataFrame]:
    """Funding framework and partners (issue 14): the tables of :mod:`rbm_utils.analytics.funding`
    and :mod:`rbm_utils.analytics.partners`."""
    by_unit = partners.partner_units(state, q, config.funding)
    return {
        "funding": funding.funding_framework(state, q, config.funding),
        "partners": by_unit,
        "partners_largest": partners.largest_partners(by_unit),
        "partner_concentration": partners.concentration(by_unit),
        "partner_owners": partners.owner_pipeline(state, config.funding),
        "resources_by_stage": partners.resources_by_stage(state, config.funding),
    }


def _previous_agenda(
    prev_state: State,
    prev_q: Quarter,
    previous: Mapping[str, pd.DataFrame],
    config: Config,
    decisions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The review agenda of the previous quarter, recomputed from its state and analytics, with
    its items carried over (``carried_reviews``): the agendas of the quarters before it, as far as
    ``agenda_carried_full`` reviews back, are recomputed from ``prev_state`` as of each quarter."""
    th = config.thresholds
    depth = int(th.get("agenda_carried_full", 3)) - 1
    earlier = [_agenda_at(prev_state, prev_q - k, config) for k in range(depth, 0, -1)]
    ag = _agenda_at(prev_state, prev_q, config, previous)
    chain = [*earlier, ag]
    for k, now in enumerate(chain[1:], start=1):
        chain[k] = agenda.carry_over(now, chain[k - 1], decisions, prev_q - (len(chain) - 1 - k), thresholds=th)
    return chain[-1]


def _agenda_at(
    state: State, q: Quarter, config: Config, analytics: Mapping[str, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """The review agenda of quarter ``q`` (no item carried over) from ``state`` as of ``q``, or from
    ``analytics`` (its progress, assumptions, risks and money) when given."""
    th = config.thresholds
    if analytics is None:
        progress = kpi.kpi_progress(state, q, th)
        series = kpi.kpi_series(state, q, th)
        analytics = {
            "progress": progress,
            "assumptions": assumptions.assumption_tests(state, q, series, None, th),
            "risks": risks.risk_register(state, q, None, th),
            "money": finance.money_by_output(state, q, th),
        }
    nodes, edges = pathway.pathway(state, analytics["progress"])
    return agenda.review_agenda(
        analytics["progress"],
        analytics["assumptions"],
        risks.red_flags(analytics["risks"], analytics["progress"], th),
        analytics["money"],
        pathway.stalls(nodes, edges),
        q,
        kpis=state.get("KPIs"),
        thresholds=th,
        currency=config.currency,
    )


def unit_view(results: Mapping[str, pd.DataFrame], unit_code: str) -> dict[str, pd.DataFrame]:
    """The rows of ``results`` that belong to one unit (tables without unit_code kept whole)."""
    view: dict[str, pd.DataFrame] = {}
    for key, frame in results.items():
        if isinstance(frame, pd.DataFrame) and "unit_code" in frame.columns:
            view[key] = frame[frame["unit_code"] == unit_code].reset_index(drop=True)
        else:
            view[key] = frame
    return view


def unit_state(state: State, unit_code: str) -> dict[str, pd.DataFrame]:
    """One unit's rows of a bureau state."""
    return {
        k: (v[v["unit_code"] == unit_code].reset_index(drop=True) if "unit_code" in v.columns else v)
        for k, v in state.items()
    }


def joint_pairs(state: State, config: Config) -> pd.DataFrame:
    """Cluster x region pairs with work in common: the cluster has activities in the region,
    actuals broken down by that region or budget and expenditure lines of that region. Columns
    cluster, region, n_activities, n_region_actuals, n_money_lines.
    """
    clusters = set(config.clusters)
    regions = set(config.regions)
    cols = ["cluster", "region", "n_activities", "n_region_actuals", "n_money_lines"]
    acts = state.get("Activities", pd.DataFrame(columns=["unit_code", "region"]))
    a = acts[acts["unit_code"].isin(clusters) & acts["region"].isin(regions)]
    a = a.groupby(["unit_code", "region"]).size().rename("n_activities")
    actuals = state.get("Actuals", pd.DataFrame(columns=["unit_code", "disaggregation"]))
    reg = actuals["disaggregation"].astype(str).str.extract(r"(?:^|; )region=([A-Z]+)(?:;|$)")[0]
    b = actuals.assign(region=reg)
    b = b[b["unit_code"].isin(clusters) & b["region"].isin(regions)]
    b = b.groupby(["unit_code", "region"]).size().rename("n_region_actuals")
    lines = [
        df[["unit_code", "region"]]
        for name in ("Budget", "Expenditure")
        if (df := state.get(name)) is not None and "region" in df.columns
    ]
    m = pd.concat(lines, ignore_index=True) if lines else pd.DataFrame(columns=["unit_code", "region"])
    m = m[m["unit_code"].isin(clusters) & m["region"].isin(regions)]
    m = m.groupby(["unit_code", "region"]).size().rename("n_money_lines")
    pairs = pd.concat([a, b, m], axis=1).fillna(0).astype(int).reset_index()
    pairs = pairs.rename(columns={"unit_code": "cluster"})
    if pairs.empty:
        return pd.DataFrame(columns=cols)
    return pairs.reindex(columns=cols).sort_values(["cluster", "region"]).reset_index(drop=True)


#: ``status_basis`` of a cluster KPI in a joint review: the region's own breakdown, or the whole KPI.
STATUS_BASES = ("region", "whole KPI")


def _status_filled(in_region: pd.DataFrame, progress: pd.DataFrame) -> pd.DataFrame:
    """The cluster's KPIs in a region with a status for each: the region's own (``status_basis``
    "region") where the breakdown has a target to judge it by, else the KPI's status over all
    regions ("whole KPI").

    >>> k = pd.DataFrame({"unit_code": ["C", "C"], "kpi_id": ["K1", "K2"], "status": ["at_risk", None]})
    >>> p = pd.DataFrame({"unit_code": ["C", "C"], "kpi_id": ["K1", "K2"], "status": ["on_track", "off_track"]})
    >>> _status_filled(k, p)[["status", "status_basis"]].values.tolist()
    [['at_risk', 'region'], ['off_track', 'whole KPI']]
    """
    out = in_region.copy()
    if out.empty or "status" not in out.columns:
        out["status_basis"] = pd.Series(dtype=object)
        return out
    whole = progress.set_index(["unit_code", "kpi_id"])["status"]
    keys = pd.MultiIndex.from_arrays([out["unit_code"], out["kpi_id"]])
    own = out["status"].notna() & (out["status"].astype(str) != "")
    out["status_basis"] = [STATUS_BASES[0] if o else STATUS_BASES[1] for o in own]
    out["status"] = out["status"].astype(object).where(own.to_numpy(), whole.reindex(keys).to_numpy())
    return out


def _ids(frame: pd.DataFrame, unit: str, id_col: str, mask: pd.Series | None = None) -> set[str]:
    """The ``id_col`` values of ``unit``'s rows of ``frame`` (where ``mask``)."""
    if frame is None or frame.empty or id_col not in frame.columns:
        return set()
    keep = frame["unit_code"] == unit
    if mask is not None:
        keep = keep & mask
    return set(frame.loc[keep, id_col].dropna().astype(str))


def _touches(frame: pd.DataFrame, columns: tuple[str, ...], results: set[str]) -> pd.Series:
    """Rows of ``frame`` whose ``columns`` (those present) name one of ``results``."""
    hit = pd.Series(False, index=frame.index)
    for c in columns:
        if c in frame.columns:
            hit = hit | frame[c].isin(results)
    return hit


def _joint_agenda(
    ag: pd.DataFrame,
    results: Mapping[str, pd.DataFrame],
    units: Mapping[str, tuple[set[str], set[str]]],
    decided: set[tuple[str, str]],
) -> pd.DataFrame:
    """The agenda items of each unit of ``units`` (unit -> (its results that concern the other
    unit, its KPIs broken down for the other unit)) on those results or KPIs: KPIs of the results
    (or the KPIs given), risks on them, assumptions and stalled links with an end among them,
    spending gaps of them; and the items a joint decision of the pair concerns (``decided``)."""
    prog, rk, at = results["progress"], results["risks"], results["assumptions"]
    allowed: set[tuple[str, str]] = set(decided)
    for unit, (res, kpi_ids) in units.items():
        ids = set(kpi_ids) | _ids(prog, unit, "kpi_id", prog["result_id"].isin(res)) | res
        ids |= _ids(rk, unit, "risk_id", rk["result_id"].isin(res))
        ids |= _ids(at, unit, "assumption_id", _touches(at, ("from_result", "to_result"), res))
        allowed |= {(unit, i) for i in ids}
    unit_col, item = ag["unit_code"].astype(str), ag["item_id"].astype(str)
    ends = item.str.split("->", n=1, regex=False)
    results_of = {u: res for u, (res, _) in units.items()}
    keep = [
        (u, i) in allowed or (len(e) == 2 and any(x in results_of.get(u, ()) for x in e))
        for u, i, e in zip(unit_col, item, ends)
    ]
    return ag[keep].reset_index(drop=True)


def joint_view(
    state: State, results: Mapping[str, pd.DataFrame], cluster: str, region: str, config: Config
) -> dict[str, pd.DataFrame]:
    """What a cluster and a regional office review together: the cluster's KPIs broken down for
    the region, its activities there, the region's results on the cluster's themes, the risks
    and assumptions on those, the cluster's money and staff months attributed to the region
    (``money``, by output and basis, :mod:`rbm_utils.analytics.regional_money`; ``money_summary``
    beside the cluster's total), the decisions either unit recorded as taken jointly with the
    other (``other_unit``), and the agenda items that concern both (docs/rules.md, "Joint
    reviews"): the region's items on its results of the cluster's themes, the cluster's items on
    its KPIs broken down for the region and its outputs delivered there (activities or money
    lines in the region), and the items a joint decision concerns.
    """
    themes = set(config.unit(cluster).themes)
    out: dict[str, pd.DataFrame] = {}
    pbr = results["progress_by_region"]
    out["cluster_kpis_in_region"] = _status_filled(
        pbr[(pbr["unit_code"] == cluster) & (pbr["region"] == region)].reset_index(drop=True), results["progress"]
    )
    acts = state["Activities"]
    out["cluster_activities"] = acts[(acts["unit_code"] == cluster) & (acts["region"] == region)].reset_index(drop=True)
    res = state["Results"]
    region_results = res[(res["unit_code"] == region) & res["theme"].isin(themes)]
    out["region_results"] = region_results.reset_index(drop=True)
    region_ids = set(region_results["result_id"])
    prog = results["progress"]
    out["region_kpis"] = prog[(prog["unit_code"] == region) & prog["result_id"].isin(region_ids)].reset_index(drop=True)
    regional = results.get("regional_money")
    money = regional_money.pair_money(regional, cluster, region)
    lines = money.loc[money["basis"] == "lines", "result_id"] if len(money) else pd.Series(dtype=object)
    cluster_outputs = set(out["cluster_activities"]["result_id"]) | set(lines)
    rk = results["risks"]
    live = pd.Series(True, index=rk.index)  # shared risks: open ones, above low (docs/rules.md)
    if "is_open" in rk.columns:
        live &= rk["is_open"].fillna(True).astype(bool)
    if "rating" in rk.columns:
        live &= rk["rating"].astype(object) != "low"
    out["risks"] = rk[
        live
        & (
            ((rk["unit_code"] == cluster) & rk["result_id"].isin(cluster_outputs))
            | ((rk["unit_code"] == region) & rk["result_id"].isin(region_ids))
        )
    ].reset_index(drop=True)
    at = results["assumptions"]
    ends = ("from_result", "to_result")
    out["assumptions"] = at[
        ((at["unit_code"] == region) & _touches(at, ends, region_ids))
        | ((at["unit_code"] == cluster) & _touches(at, ends, cluster_outputs))
    ].reset_index(drop=True)
    out["money"] = money
    out["money_summary"] = regional_money.pair_summary(regional, cluster, region)
    dec = results.get("decisions")
    if dec is None:
        dec = decisions.empty_follow_up()
    pair = {cluster, region}
    joint = (dec["unit_code"] == dec["recorded_by"]) & dec["unit_code"].isin(pair) & dec["other_unit"].isin(pair)
    out["decisions"] = dec[joint & (dec["unit_code"] != dec["other_unit"])].reset_index(drop=True)
    decided = set(zip(out["decisions"]["unit_code"].astype(str), out["decisions"]["concerns"].astype(str)))
    units = {
        cluster: (cluster_outputs, set(out["cluster_kpis_in_region"]["kpi_id"])),
        region: (region_ids, set()),
    }
    out["agenda"] = _joint_agenda(results["agenda"], results, units, decided)
    return out
