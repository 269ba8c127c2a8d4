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
    kpi,
    kpi_regions,
    learning,
    linkages,
    pathway,
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
    "linkages": "linkages",
    "agenda": "agenda",
    "changes": "changes",
    "decisions": "decisions",
    "approvals": "approvals",
    "framework_changes": "framework_changes",
    "learning": "learning",
    "data_health": "data_health",
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
        "bureau_risks": risks.bureau_risks(register),
        "money": money,
        "money_units": finance.money_totals(money, ["unit_code"]),
        "burn": finance.burn_vs_delivery(money, progress, th),
        "cost": finance.cost_per_result(state, q, progress),
        "flows": finance.money_flows(state, q),
        "activities": workprogramme.activities_summary(state),
        "delayed": workprogramme.delayed_activities(state, q, th),
        "partners": workprogramme.partners_summary(state),
        "linkages": linkages.linkage_counts(state),
        "linkage_matrix": linkages.linkage_matrix(state),
        "synergies": linkages.synergies(state, th),
        "scaleup_scores": scaleup.initiative_scores(state, progress, money, q, series, unit_types, th),
        "scaleup": scaleup.scaleup_candidates(state, progress, money, q, series, unit_types=unit_types, thresholds=th),
    }
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
    return out


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
    """Cluster x region pairs with work in common: the cluster has activities in the region or
    actuals broken down by that region. Columns cluster, region, n_activities, n_region_actuals.
    """
    clusters = set(config.clusters)
    regions = set(config.regions)
    acts = state.get("Activities", pd.DataFrame(columns=["unit_code", "region"]))
    a = acts[acts["unit_code"].isin(clusters) & acts["region"].isin(regions)]
    a = a.groupby(["unit_code", "region"]).size().rename("n_activities")
    actuals = state.get("Actuals", pd.DataFrame(columns=["unit_code", "disaggregation"]))
    reg = actuals["disaggregation"].astype(str).str.extract(r"(?:^|; )region=([A-Z]+)(?:;|$)")[0]
    b = actuals.assign(region=reg)
    b = b[b["unit_code"].isin(clusters) & b["region"].isin(regions)]
    b = b.groupby(["unit_code", "region"]).size().rename("n_region_actuals")
    pairs = pd.concat([a, b], axis=1).fillna(0).astype(int).reset_index()
    pairs = pairs.rename(columns={"unit_code": "cluster"})
    if pairs.empty:
        return pd.DataFrame(columns=["cluster", "region", "n_activities", "n_region_actuals"])
    return pairs.sort_values(["cluster", "region"]).reset_index(drop=True)


def joint_view(
    state: State, results: Mapping[str, pd.DataFrame], cluster: str, region: str, config: Config
) -> dict[str, pd.DataFrame]:
    """What a cluster and a regional office review together: the cluster's KPIs broken down for
    the region, its activities there, the region's results on the cluster's themes, the risks
    and assumptions on those, the money the cluster spent on outputs delivered there, and the
    decisions either unit recorded as taken jointly with the other (``other_unit``).
    """
    themes = set(config.unit(cluster).themes)
    out: dict[str, pd.DataFrame] = {}
    pbr = results["progress_by_region"]
    out["cluster_kpis_in_region"] = pbr[(pbr["unit_code"] == cluster) & (pbr["region"] == region)].reset_index(
        drop=True
    )
    acts = state["Activities"]
    out["cluster_activities"] = acts[(acts["unit_code"] == cluster) & (acts["region"] == region)].reset_index(drop=True)
    res = state["Results"]
    region_results = res[(res["unit_code"] == region) & res["theme"].isin(themes)]
    out["region_results"] = region_results.reset_index(drop=True)
    prog = results["progress"]
    out["region_kpis"] = prog[
        (prog["unit_code"] == region) & prog["result_id"].isin(region_results["result_id"])
    ].reset_index(drop=True)
    cluster_outputs = set(out["cluster_activities"]["result_id"])
    rk = results["risks"]
    out["risks"] = rk[
        ((rk["unit_code"] == cluster) & rk["result_id"].isin(cluster_outputs))
        | ((rk["unit_code"] == region) & rk["result_id"].isin(region_results["result_id"]))
    ].reset_index(drop=True)
    at = results["assumptions"]
    out["assumptions"] = at[
        (
            (at["unit_code"] == region)
            & (at["to_result"].isin(region_results["result_id"]) | at["from_result"].isin(region_results["result_id"]))
        )
        | (
            (at["unit_code"] == cluster)
            & (at["from_result"].isin(cluster_outputs) | at["to_result"].isin(cluster_outputs))
        )
    ].reset_index(drop=True)
    money = results["money"]
    out["money"] = money[(money["unit_code"] == cluster) & money["result_id"].isin(cluster_outputs)].reset_index(
        drop=True
    )
    ag = results["agenda"]
    keep = (ag["unit_code"] == region) | (
        (ag["unit_code"] == cluster)
        & ag["item_id"].isin(
            set(out["cluster_kpis_in_region"]["kpi_id"])
            | set(out["risks"]["risk_id"])
            | set(out["assumptions"]["assumption_id"])
            | cluster_outputs
        )
    )
    out["agenda"] = ag[keep].reset_index(drop=True)
    dec = results.get("decisions")
    if dec is None:
        dec = decisions.empty_follow_up()
    pair = {cluster, region}
    joint = (dec["unit_code"] == dec["recorded_by"]) & dec["unit_code"].isin(pair) & dec["other_unit"].isin(pair)
    out["decisions"] = dec[joint & (dec["unit_code"] != dec["other_unit"])].reset_index(drop=True)
    return out
