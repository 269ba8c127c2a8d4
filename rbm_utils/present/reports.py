"""What the review notebooks call: load a quarter, pick a unit's tables, show them safely.

Notebooks stay thin: a parameters cell, then one-line calls into this module,
:mod:`rbm_utils.present.charts` and the column sets of :mod:`rbm_utils.present.columns`.
Every table is rendered with its text HTML-escaped.

With a ``snapshot_dir`` (the batch always gives one) a review reads the frozen snapshot and the
analysis the batch computed once beside it (:mod:`rbm_utils.publish.frozen`); it only filters
those tables and never recomputes the bureau. With an empty ``snapshot_dir`` (JupyterLab
exploring the live store) it computes the same tables from the store.

Example:
    >>> r = load_review("AFR", "2026-Q3", snapshot_dir="outputs/2026-Q3/snapshot")  # doctest: +SKIP
    >>> table(r.view["progress"], columns.KPIS)                                      # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rbm_utils.analytics import bureau as analysis
from rbm_utils.core.config import Config, load_config
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.core.text import escape_text, untypeset
from rbm_utils.present import columns, followup, readable
from rbm_utils.publish import frozen
from rbm_utils.publish.frozen import split_previous
from rbm_utils.store.snapshot import APPROVALS, FRAMEWORK_CHANGES, PREVIOUS_PREFIX, SnapshotTables, read_manifest

log = logging.getLogger(__name__)

__all__ = [
    "PREVIOUS_PREFIX",
    "SENTINEL",
    "Review",
    "approval",
    "benchmarks",
    "TOP_N",
    "agenda_rest",
    "agenda_top",
    "by_rank",
    "columns",
    "data_health_short",
    "decisions_taken",
    "done",
    "earlier_decisions",
    "escalations",
    "header",
    "involving",
    "kpi_trends",
    "load_joint",
    "load_overview",
    "load_review",
    "overdue_decisions",
    "provenance",
    "scaleup_for",
    "split_previous",
    "statement",
    "summary",
    "table",
    "table_html",
    "this_quarter",
    "unit_flows",
    "unit_heatmap",
]

SENTINEL = "RBM-REVIEW-COMPLETE"


@dataclass
class Review:
    """One loaded review: the bureau state and analytics, and the slice for ``unit``.

    ``per_unit`` holds the tables a review shows of one unit that are not cut from a bureau
    table (:data:`rbm_utils.publish.frozen.UNIT_TABLES`, with ``unit_code``).
    """

    quarter: Quarter
    config: Config
    state: Mapping[str, pd.DataFrame]
    results: dict[str, pd.DataFrame]
    unit: str | None = None
    view: dict[str, pd.DataFrame] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    source: str = ""
    joint: dict[str, pd.DataFrame] = field(default_factory=dict)
    region: str | None = None
    per_unit: dict[str, pd.DataFrame] = field(default_factory=dict)
    analysis: frozen.FrozenAnalysis | None = None


def _open(quarter: Quarter, config: Config, snapshot_dir: str, store_url: str, units: Sequence[str] | None) -> Review:
    """The bureau of ``quarter``: frozen snapshot and analysis, or else computed from the live store."""
    if snapshot_dir:
        snap = Path(snapshot_dir)
        manifest = read_manifest(snap)
        if manifest.get("quarter") not in (None, str(quarter)):
            raise ValueError(f"the snapshot {snapshot_dir} is of {manifest.get('quarter')}, not {quarter}")
        state = SnapshotTables(snap, previous=False)  # the sheets a review shows, read when asked for
        fa = frozen.load_analysis(frozen.analysis_dir(snap), snapshot_content_sha256=manifest["content_sha256"])
        return Review(
            quarter,
            config,
            state,
            fa.results,
            manifest=manifest,
            source=f"snapshot {snapshot_dir}",
            per_unit=fa.per_unit,
            analysis=fa,
        )
    from rbm_utils.store.database import Store  # a notebook run only; a dashboard reads published files

    with Store(store_url or config.store_url) as st:
        state = st.bureau_state(str(quarter))
        previous = st.bureau_state(str(quarter.previous))
        state[APPROVALS] = st.approval_states(quarter, config.authority, config.currency)
        state[FRAMEWORK_CHANGES] = st.framework_changes(quarter, config.authority)
        source = f"live store {st.safe_url}"
    results = analysis.analyse(state, quarter, config, previous_state=previous)
    per_unit = frozen.per_unit_tables(state, results, quarter, config, units=units)
    return Review(quarter, config, state, results, source=source, per_unit=per_unit)


def load_review(
    unit: str, quarter: QuarterLike, snapshot_dir: str = "", store_url: str = "", config_path: str = ""
) -> Review:
    """Load the bureau for ``quarter`` and slice it for ``unit`` (a code of parameters/workbench.yaml)."""
    q = Quarter.parse(quarter)
    config = load_config(config_path or None)
    config.unit(unit)  # unknown unit -> ConfigError with the known codes
    r = _open(q, config, snapshot_dir, store_url, [unit])
    r.unit, r.view = unit, analysis.unit_view(r.results, unit)
    return r


def load_overview(quarter: QuarterLike, snapshot_dir: str = "", store_url: str = "", config_path: str = "") -> Review:
    """The whole bureau for ``quarter``."""
    r = _open(Quarter.parse(quarter), load_config(config_path or None), snapshot_dir, store_url, [])
    r.view = dict(r.results)
    return r


def load_joint(
    cluster: str, region: str, quarter: QuarterLike, snapshot_dir: str = "", store_url: str = "", config_path: str = ""
) -> Review:
    """A thematic cluster and a regional office, reviewed together."""
    q = Quarter.parse(quarter)
    config = load_config(config_path or None)
    if config.unit(cluster).type != "cluster" or config.unit(region).type != "region":
        raise ValueError(f"a joint review pairs a cluster with a region, not {cluster} with {region}")
    r = _open(q, config, snapshot_dir, store_url, [cluster])
    r.unit, r.region, r.view = cluster, region, analysis.unit_view(r.results, cluster)
    if r.analysis is not None:
        r.joint = r.analysis.joint(cluster, region)
    else:
        r.joint = analysis.joint_view(r.state, r.results, cluster, region, config)
    return r


# --------------------------------------------------------------------------- display


def _html(markup: str):
    """Displayable HTML (``markup`` already escaped) that no typesetter reads (JupyterLab's MathJax)."""
    from IPython.display import HTML

    return HTML(untypeset(markup))


def table_html(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    max_rows: int = 60,
    empty: str = "Nothing to show.",
) -> str:
    """An HTML table of ``df`` with every cell escaped; columns missing from ``df`` are skipped.
    Cells read as words (:func:`rbm_utils.present.readable.cell_html`): codes with their colour,
    booleans as Yes/No, numbers with thousands separators.

    >>> table_html(pd.DataFrame({"a": ["<b>x</b>"]}))
    '<table class="rbm-table"><thead><tr><th>a</th></tr></thead><tbody><tr><td>&lt;b&gt;x&lt;/b&gt;</td></tr></tbody></table>'
    """
    if df is None or df.empty:
        return f'<p class="rbm-empty">{html.escape(empty)}</p>'
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    labels = labels or {}
    head = "".join(f"<th>{html.escape(labels.get(c, c.replace('_', ' ')))}</th>" for c in cols)
    body = []
    for rec in df[cols].head(max_rows).itertuples(index=False):
        cells = "".join(f"<td>{readable.cell_html(c, v)}</td>" for c, v in zip(cols, rec, strict=True))
        body.append(f"<tr>{cells}</tr>")
    more = (
        f'<p class="rbm-more">{len(df) - max_rows} more rows in the published table.</p>' if len(df) > max_rows else ""
    )
    return f'<table class="rbm-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'


def table(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    max_rows: int = 60,
    empty: str = "Nothing to show.",
):
    """Display-ready version of :func:`table_html`."""
    return _html(table_html(df, columns, labels, max_rows, empty))


def header(r: Review):
    """Title block: unit, quarter and where the figures come from."""
    if r.unit and r.region:
        title = f"{r.config.unit(r.unit).name} with {r.config.unit(r.region).name}"
    elif r.unit:
        u = r.config.unit(r.unit)
        title = f"{u.name} ({u.code}, {u.type})"
    else:
        title = r.config.name
    return _html(
        f"<h2>{escape_text(title)} — quarterly review {escape_text(str(r.quarter))}</h2>"
        f"<p>Figures from the {escape_text(r.source.split(' ')[0])} {escape_text(str(r.quarter))}. "
        "Invented sample figures are illustrative.</p>"
    )


def provenance_frame(r: Review) -> pd.DataFrame:
    """Which submission of each unit the figures come from, and each unit's approval state in a
    word (``approval``: Draft, Approved, Pending escalation)."""
    units = r.state.get("Unit", pd.DataFrame(columns=["unit_code", "quarter", "submission_id", "submitted_by"]))
    if r.unit:
        keep = {r.unit} | ({r.region} if r.region else set())
        units = units[units["unit_code"].isin(keep)]
    out = units.reset_index(drop=True).copy()
    approvals = r.results.get("approvals")
    approvals = r.state.get("Approvals") if approvals is None else approvals
    out["approval"] = followup.approval_labels(approvals, [str(u) for u in out["unit_code"]])
    if r.manifest:
        out["snapshot_content_sha256"] = str(r.manifest.get("content_sha256", ""))[:16]
        out["snapshot_created_at"] = r.manifest.get("created_at", "")
    return out


def provenance(r: Review):
    return table(provenance_frame(r), empty="No submission for this quarter.")


def summary_frame(r: Review) -> pd.DataFrame:
    """Headline figures: KPIs per status, red flags, execution rate, agenda items."""
    v = r.view
    prog = v.get("progress", pd.DataFrame(columns=["status"]))
    counts = prog["status"].value_counts()
    money = v.get("money", pd.DataFrame())
    budget = float(money["budget_year"].sum()) if "budget_year" in money else 0.0
    spent = float(money["spent_year"].sum()) if "spent_year" in money else 0.0
    rows: list[tuple[str, int | str]] = [("KPIs", len(prog))]
    rows += [
        (f"KPIs {s.replace('_', ' ')}", int(counts.get(s, 0)))
        for s in ("on_track", "target_met", "at_risk", "off_track", "no_data", "not_started")
    ]
    rows += [
        ("Red-flag risks", len(v.get("red_flags", []))),
        (
            "Broken assumptions (this quarter)",
            int(((v["assumptions"]["period"] == str(r.quarter)) & (v["assumptions"]["verdict"] == "broken")).sum())
            if "assumptions" in v and not v["assumptions"].empty
            else 0,
        ),
        (
            f"In-year execution ({r.config.currency} {spent:,.0f} of {budget:,.0f})",
            f"{spent / budget:.0%}" if budget else "n/a",
        ),
        ("Items on the review agenda", len(v.get("agenda", []))),
    ]
    return pd.DataFrame(rows, columns=["figure", "value"])


def summary(r: Review):
    return table(summary_frame(r))


def statement(r: Review):
    """The unit's plain-language results statement, as HTML with every piece of text escaped
    (:func:`rbm_utils.present.readable.markdown_html`; Markdown output would be typeset as TeX)."""
    if not r.unit:
        raise ValueError("a results statement is of one unit; this review is of the whole bureau")
    rows = frozen.unit_rows(r.per_unit["statement"], r.unit)
    return _html(readable.markdown_html(str(rows["statement"].iloc[0])) if len(rows) else "")


def kpi_trends(r: Review, kpi_ids: Sequence[str] | None = None) -> list:
    """One trend figure per KPI of the unit (baseline, milestones, target, forecast)."""
    from rbm_utils.present import charts

    series = r.view["series"]
    prog = r.view["progress"]
    ms = r.state.get("Milestones", pd.DataFrame(columns=["unit_code", "kpi_id", "period", "target_value"]))
    figs = []
    for _, row in prog.iterrows():
        if kpi_ids is not None and row["kpi_id"] not in kpi_ids:
            continue
        s = series[(series["unit_code"] == row["unit_code"]) & (series["kpi_id"] == row["kpi_id"])]
        m = ms[(ms["unit_code"] == row["unit_code"]) & (ms["kpi_id"] == row["kpi_id"])]
        figs.append(charts.kpi_trend(s, row, m, currency=r.config.currency))
    return figs


def involving(frame: pd.DataFrame, unit: str, columns: Sequence[str]) -> pd.DataFrame:
    """Rows where any of ``columns`` names ``unit`` (e.g. synergies between two units)."""
    if frame is None or frame.empty:
        return frame
    mask = pd.Series(False, index=frame.index)
    for c in columns:
        if c in frame.columns:
            mask |= frame[c].astype(str) == unit
    return frame[mask].reset_index(drop=True)


def done() -> None:
    """The last cell of every review: the batch checks this line to know the run completed."""
    print(SENTINEL)


def manifest_json(r: Review) -> str:
    return json.dumps(r.manifest or {}, indent=1, sort_keys=True)


def benchmarks(r: Review):
    """Other organisations' IATI results beside the bureau's KPIs on the same theme
    (:mod:`rbm_utils.present.benchmarks`), or one line saying none was imported."""
    from rbm_utils.present.benchmarks import NO_BENCHMARK, overview_benchmarks

    frame = overview_benchmarks(r.config, r.results.get("progress", pd.DataFrame()))
    return table(frame, columns.BENCHMARKS, empty=NO_BENCHMARK)


def unit_flows(r: Review) -> pd.DataFrame:
    """Money flows funding source -> unit -> programme -> output, for the review's unit only
    (the bureau's in an overview)."""
    return frozen.unit_rows(r.per_unit["flows"], r.unit) if r.unit else r.results["flows"]


def scaleup_for(r: Review) -> pd.DataFrame:
    """Scale-up candidates where the unit is the source of the practice or the region to receive it."""
    c = r.results.get("scaleup", pd.DataFrame())
    if c is None or c.empty or not r.unit:
        return c
    src = c["source_units"].astype(str).str.split(r"[;,]\s*").map(lambda units: r.unit in units)
    return c[src | (c["target_region"] == r.unit)].reset_index(drop=True)


def unit_heatmap(r: Review) -> pd.DataFrame:
    """5 x 5 counts of the review's open risks (the unit's, or the bureau's in an overview)."""
    return frozen.unit_rows(r.per_unit["risk_heatmap"], r.unit) if r.unit else r.results["risk_heatmap"]


def this_quarter(r: Review, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` whose ``period`` is the review's quarter."""
    return frame[frame["period"] == str(r.quarter)]


# --------------------------------------------------------------------------- the review loop


def approval(r: Review):
    """The approval state of the unit's quarter: draft, approved by whom and when, or pending
    escalation with each change beyond the unit's authority and its amount."""
    if not r.unit:
        raise ValueError("an approval state is of one unit; the overview lists them all")
    return _html(
        followup.approval_html(
            r.view.get("approvals"),
            r.view.get("framework_changes"),
            r.unit,
            r.config.authority.bureau_role,
            r.config.currency,
            provenance=r.view.get("provenance"),
        )
    )


def escalations(r: Review) -> pd.DataFrame:
    """Changes awaiting the bureau's approver: the unit's, or every unit's in the overview."""
    return followup.unit_escalations(r.view.get("framework_changes"), r.unit, r.config.currency)


def earlier_decisions(r: Review) -> pd.DataFrame:
    """Decisions of the unit's earlier reviews, followed up (overdue first)."""
    return followup.earlier(r.view.get("decisions"), r.quarter)


def decisions_taken(r: Review) -> pd.DataFrame:
    """Decisions recorded at this quarter's review meeting."""
    return followup.taken_at(r.view.get("decisions"), r.quarter)


def overdue_decisions(r: Review) -> pd.DataFrame:
    """Overdue decisions of the review's units, each once."""
    return followup.overdue(r.view.get("decisions"))


# --------------------------------------------------------------------------- the ranked agenda, data health

#: How many agenda items open the overview: those that most need the bureau's decision.
TOP_N = 10


def by_rank(agenda: pd.DataFrame | None) -> pd.DataFrame:
    """``agenda`` ordered by ``rank`` (1 first); kept in its order when it has no rank; empty when None.

    >>> by_rank(pd.DataFrame({"item_id": ["B", "A"], "rank": [2, 1]}))["item_id"].tolist()
    ['A', 'B']
    """
    if agenda is None:
        return pd.DataFrame(columns=["rank"])
    if "rank" not in agenda.columns:
        return agenda.reset_index(drop=True)
    return agenda.sort_values("rank", kind="stable").reset_index(drop=True)


def agenda_top(agenda: pd.DataFrame | None, n: int = TOP_N) -> pd.DataFrame:
    """The ``n`` items of ``agenda`` that most need a decision (lowest ``rank``).

    >>> agenda_top(pd.DataFrame({"item_id": list("ABC"), "rank": [3, 1, 2]}), 2)["item_id"].tolist()
    ['B', 'C']
    """
    return by_rank(agenda).head(n).reset_index(drop=True)


def agenda_rest(agenda: pd.DataFrame | None, n: int = TOP_N) -> pd.DataFrame:
    """The items of ``agenda`` after the first ``n`` by rank.

    >>> agenda_rest(pd.DataFrame({"item_id": list("ABC"), "rank": [3, 1, 2]}), 2)["item_id"].tolist()
    ['A']
    """
    return by_rank(agenda).iloc[n:].reset_index(drop=True)


def data_health_short(r: Review) -> pd.DataFrame:
    """Each unit's data health score and what is missing, this quarter's rows (columns
    :data:`rbm_utils.present.columns.DATA_HEALTH_SHORT`); empty when ``r.view`` has no
    ``data_health`` table."""
    df = r.view.get("data_health")
    cols = list(columns.DATA_HEALTH_SHORT)
    if df is None or df.empty:
        return pd.DataFrame(columns=cols)
    if "quarter" in df.columns:
        df = df[df["quarter"].astype(str) == str(r.quarter)]
    return df[[c for c in cols if c in df.columns]].reset_index(drop=True)
