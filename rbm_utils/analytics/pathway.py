"""The impact pathway: the theory of change as a graph coloured by KPI status.

Nodes are results, edges their ``contributes_to`` links. A *stall* is a link whose
source is doing well (on track or target met) while the result it feeds is off track or
has no data: the causal chain is not carrying progress upwards (docs/rules.md, "Impact
pathway"). Plain pandas, no graph library.

Example:
    >>> import pandas as pd
    >>> from rbm_utils.core import schema
    >>> res = schema.conform("Results", pd.DataFrame({"unit_code": ["AFR", "AFR"],
    ...     "result_id": ["O1", "R1"], "level": ["output", "reach"], "title": ["Trainings", "People"],
    ...     "contributes_to": ["R1", None]}), with_unit=True)
    >>> prog = pd.DataFrame({"unit_code": ["AFR", "AFR"], "kpi_id": ["K1", "K2"],
    ...     "result_id": ["O1", "R1"], "status": ["on_track", "off_track"]})
    >>> nodes, edges = pathway({"Results": res}, prog)
    >>> stalls(nodes, edges)[["source", "target"]].values.tolist()
    [['O1', 'R1']]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from rbm_utils.analytics.kpi import STATUS_COLORS
from rbm_utils.core import schema
from rbm_utils.core.codes import KPI_STATUS_LABELS, KPI_STATUSES

log = logging.getLogger(__name__)

#: Status of a result with no KPI.
NO_KPI = "no_kpi"
NODE_STATUS_LABELS: dict[str, str] = {**KPI_STATUS_LABELS, NO_KPI: "No KPI"}
NODE_STATUS_COLORS: dict[str, str] = {**STATUS_COLORS, NO_KPI: "#e6e6e6"}

NODE_COLUMNS: tuple[str, ...] = ("unit_code", "result_id", "level", "title", "n_kpis", "status")
EDGE_COLUMNS: tuple[str, ...] = ("unit_code", "source", "target")
STALL_COLUMNS: tuple[str, ...] = (
    "unit_code",
    "source",
    "source_title",
    "source_status",
    "target",
    "target_title",
    "target_status",
    "message",
)
#: A stall: the source is doing well ...
STALL_SOURCE_STATUSES: tuple[str, ...] = ("on_track", "target_met")
#: ... while the result it feeds is not.
STALL_TARGET_STATUSES: tuple[str, ...] = ("off_track", "no_data")


def _results(state: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    df = state.get("Results")
    if df is None:
        return schema.empty_frame("Results", with_unit=True)
    res = schema.conform("Results", df, with_unit=True)
    return res.drop_duplicates(["unit_code", "result_id"], keep="first").reset_index(drop=True)


def worst_status(statuses: pd.Series) -> str:
    """The worst status by :data:`rbm_utils.core.codes.KPI_STATUSES`, ignoring ``not_started`` unless all are;
    ``no_kpi`` for no status at all.

    >>> worst_status(pd.Series(["on_track", "not_started", "at_risk"]))
    'at_risk'
    >>> worst_status(pd.Series(["not_started", "not_started"]))
    'not_started'
    """
    rank = statuses.map({s: i for i, s in enumerate(KPI_STATUSES)}).dropna()
    return KPI_STATUSES[int(rank.min())] if len(rank) else NO_KPI


def pathway(state: Mapping[str, pd.DataFrame], progress: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes (columns :data:`NODE_COLUMNS`) and edges (:data:`EDGE_COLUMNS`) of every unit's
    theory of change in ``state``, with each result's status taken from ``progress``
    (:func:`rbm_utils.analytics.kpi.kpi_progress`): the worst status of its KPIs by KPI_STATUSES,
    ``not_started`` only if all its KPIs are, ``no_kpi`` when it has none.

    Edges come from ``contributes_to`` (ids separated by ``;``); links to a result that the
    unit does not define are dropped (logged), duplicates kept once.
    """
    res = _results(state)
    prog = progress.loc[:, ["unit_code", "result_id", "status"]].astype(object)
    # KPI_STATUSES is worst first and ends with not_started, so the minimum rank already
    # ignores not_started unless every KPI of the result is not started.
    rank = prog["status"].map({s: i for i, s in enumerate(KPI_STATUSES)})
    per = (
        prog.assign(_rank=rank)
        .groupby(["unit_code", "result_id"], sort=False, dropna=False)
        .agg(n_kpis=("status", "size"), _rank=("_rank", "min"))
        .reset_index()
    )
    nodes = res[["unit_code", "result_id", "level", "title"]].merge(per, on=["unit_code", "result_id"], how="left")
    n_kpis = nodes["n_kpis"].fillna(0).to_numpy(dtype=np.int64)
    ranks = nodes["_rank"].to_numpy(dtype=float)
    status = np.array([KPI_STATUSES[int(r)] if np.isfinite(r) else NO_KPI for r in ranks], dtype=object)
    nodes = nodes.drop(columns=["n_kpis", "_rank"]).assign(n_kpis=n_kpis, status=status)
    nodes = nodes.loc[:, list(NODE_COLUMNS)].reset_index(drop=True)

    links = res[["unit_code", "result_id", "contributes_to"]].dropna(subset=["contributes_to"])
    links = links.assign(target=links["contributes_to"].astype(str).str.split(";")).explode("target")
    links = links.assign(target=links["target"].astype(object).map(lambda v: v.strip() if isinstance(v, str) else ""))
    links = links.loc[links["target"].ne("")]
    edges = links.rename(columns={"result_id": "source"})[list(EDGE_COLUMNS)].drop_duplicates()
    known = (
        edges.merge(
            res[["unit_code", "result_id"]].rename(columns={"result_id": "target"}),
            on=["unit_code", "target"],
            how="left",
            indicator=True,
        )["_merge"]
        .eq("both")
        .to_numpy()
    )
    if (~known).any():
        log.warning("pathway: %d contributes_to link(s) to undefined results dropped", int((~known).sum()))
    edges = edges.loc[known].reset_index(drop=True)
    return nodes, edges


def stalls(nodes: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """Links whose source is on track or has met its target while the result it feeds is off
    track or has no data (columns :data:`STALL_COLUMNS`). ``message`` is plain text built from
    the officers' titles: escape it wherever it becomes HTML.

    >>> n = pd.DataFrame({"unit_code": ["U", "U"], "result_id": ["A", "B"], "level": ["output", "reach"],
    ...                   "title": ["Trainings", "People"], "n_kpis": [1, 1], "status": ["target_met", "no_data"]})
    >>> e = pd.DataFrame({"unit_code": ["U"], "source": ["A"], "target": ["B"]})
    >>> stalls(n, e).loc[0, "message"]
    "A 'Trainings' has met its target, but B 'People', which it feeds, has no recent data: check whether the link still holds."
    """
    info = nodes[["unit_code", "result_id", "title", "status"]]
    src = info.rename(columns={"result_id": "source", "title": "source_title", "status": "source_status"})
    tgt = info.rename(columns={"result_id": "target", "title": "target_title", "status": "target_status"})
    df = (
        edges[list(EDGE_COLUMNS)]
        .merge(src, on=["unit_code", "source"], how="inner")
        .merge(tgt, on=["unit_code", "target"], how="inner")
    )
    df = df.loc[df["source_status"].isin(STALL_SOURCE_STATUSES) & df["target_status"].isin(STALL_TARGET_STATUSES)]
    doing = {"on_track": "is on track", "target_met": "has met its target"}
    failing = {"off_track": "is off track", "no_data": "has no recent data"}

    def _msg(r) -> str:
        return (
            f"{r.source} '{r.source_title}' {doing[r.source_status]}, but {r.target} "
            f"'{r.target_title}', which it feeds, {failing[r.target_status]}: "
            "check whether the link still holds."
        )

    messages = [_msg(r) for r in df.itertuples(index=False)]
    return df.assign(message=pd.Series(messages, index=df.index, dtype=object))[list(STALL_COLUMNS)].reset_index(
        drop=True
    )


def layout(nodes: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """Positions for drawing the pathway: a copy of ``nodes`` with ``x`` (level order:
    activity 0 .. impact 5; an unknown level goes right of impact) and ``y`` in (0, 1),
    nodes of one unit and level spread evenly. The top level is ordered by result_id; each
    lower level by the mean ``y`` of the results it feeds (fewer crossings), then result_id.

    >>> n = pd.DataFrame({"unit_code": ["U"] * 3, "result_id": ["A", "B", "C"],
    ...                   "level": ["output", "output", "impact"]})
    >>> layout(n, pd.DataFrame(columns=["unit_code", "source", "target"]))[["result_id", "x", "y"]].values.tolist()
    [['A', 1, 0.3333333333333333], ['B', 1, 0.6666666666666666], ['C', 5, 0.5]]
    """
    order = {lvl: i for i, lvl in enumerate(schema.LEVELS)}
    out = nodes.copy()
    out["x"] = out["level"].map(order).fillna(len(schema.LEVELS)).astype(np.int64)
    out["y"] = np.nan
    pos: dict[tuple, float] = {}
    targets: dict[tuple, list] = {}
    for u, s, t in edges[list(EDGE_COLUMNS)].itertuples(index=False):
        targets.setdefault((u, s), []).append((u, t))
    for (unit, _x), grp in sorted(
        out.groupby(["unit_code", "x"], sort=False).groups.items(), key=lambda kv: (str(kv[0][0]), -kv[0][1])
    ):

        def _key(i: int, unit: str = unit) -> tuple:
            rid = out.at[i, "result_id"]
            ys = [pos[t] for t in targets.get((unit, rid), ()) if t in pos]
            return (float(np.mean(ys)) if ys else 2.0, str(rid))

        ranked = sorted(grp, key=_key)
        n = len(ranked)
        for j, i in enumerate(ranked):
            y = (j + 1) / (n + 1)
            out.at[i, "y"] = y
            pos[(unit, out.at[i, "result_id"])] = y
    return out
