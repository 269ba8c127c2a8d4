"""What the review notebooks call: load a quarter, pick a unit's tables, show them safely.

Notebooks stay thin: a parameters cell, then one-line calls into this module and
:mod:`rbm_utils.present.charts`. Every table is rendered with its text HTML-escaped.

Example:
    >>> r = load_review("AFR", "2026-Q3", snapshot_dir="outputs/2026-Q3/snapshot")  # doctest: +SKIP
    >>> table(r.view["progress"], ["kpi_id", "name", "status"])                      # doctest: +SKIP
"""
from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from rbm_utils.analytics import bureau as analysis
from rbm_utils.present import charts
from rbm_utils.core.config import Config, load_config
from rbm_utils.analytics.review import escape_text, results_statement
from rbm_utils.core.schema import period_index

log = logging.getLogger(__name__)

#: Prefix of the snapshot tables that hold the previous quarter's state.
PREVIOUS_PREFIX = "Previous_"

SENTINEL = "RBM-REVIEW-COMPLETE"


@dataclass
class Review:
    """One loaded review: the bureau state and analytics, and the slice for ``unit``."""

    quarter: str
    config: Config
    state: dict[str, pd.DataFrame]
    results: dict[str, pd.DataFrame]
    unit: str | None = None
    view: dict[str, pd.DataFrame] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    source: str = ""
    joint: dict[str, pd.DataFrame] = field(default_factory=dict)
    region: str | None = None


def split_previous(tables: Mapping[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Split snapshot tables into (current state, previous quarter's state)."""
    cur = {k: v for k, v in tables.items() if not k.startswith(PREVIOUS_PREFIX)}
    prev = {k[len(PREVIOUS_PREFIX):]: v for k, v in tables.items() if k.startswith(PREVIOUS_PREFIX)}
    return cur, prev


def load_bureau(quarter: str, snapshot_dir: str = "", store_url: str = "", config_path: str = ""):
    """(state, previous_state, manifest, config, source) from a frozen snapshot, or else the store."""
    config = load_config(config_path or None)
    period_index(quarter)  # a clear error for a bad quarter
    if snapshot_dir:
        from rbm_utils.store.snapshot import load_snapshot, read_manifest

        tables = load_snapshot(Path(snapshot_dir))
        state, previous = split_previous(tables)
        return state, (previous or None), read_manifest(Path(snapshot_dir)), config, f"snapshot {snapshot_dir}"
    from rbm_utils.store.database import Store

    url = store_url or config.store_url
    with Store(url) as st:
        state = st.bureau_state(quarter)
        previous = st.bureau_state(analysis.previous_quarter(quarter))
        return state, previous, None, config, f"live store {st.safe_url}"


def load_review(unit: str, quarter: str, snapshot_dir: str = "", store_url: str = "", config_path: str = "") -> Review:
    """Load the bureau for ``quarter`` and slice it for ``unit`` (a code of parameters/workbench.yaml)."""
    state, previous, manifest, config, source = load_bureau(quarter, snapshot_dir, store_url, config_path)
    config.unit(unit)  # unknown unit -> ConfigError with the known codes
    results = analysis.analyse(state, quarter, config, previous_state=previous)
    return Review(quarter, config, state, results, unit, analysis.unit_view(results, unit), manifest, source)


def load_overview(quarter: str, snapshot_dir: str = "", store_url: str = "", config_path: str = "") -> Review:
    """The whole bureau for ``quarter``."""
    state, previous, manifest, config, source = load_bureau(quarter, snapshot_dir, store_url, config_path)
    results = analysis.analyse(state, quarter, config, previous_state=previous)
    return Review(quarter, config, state, results, None, dict(results), manifest, source)


def load_joint(cluster: str, region: str, quarter: str, snapshot_dir: str = "", store_url: str = "",
               config_path: str = "") -> Review:
    """A thematic cluster and a regional office, reviewed together."""
    state, previous, manifest, config, source = load_bureau(quarter, snapshot_dir, store_url, config_path)
    if config.unit(cluster).type != "cluster" or config.unit(region).type != "region":
        raise ValueError(f"a joint review pairs a cluster with a region, not {cluster} with {region}")
    results = analysis.analyse(state, quarter, config, previous_state=previous)
    r = Review(quarter, config, state, results, cluster, analysis.unit_view(results, cluster), manifest, source,
               region=region)
    r.joint = analysis.joint_view(state, results, cluster, region, config)
    return r


# --------------------------------------------------------------------------- display

def _html(markup: str):
    from IPython.display import HTML

    return HTML(markup)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA:
        return ""
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def table_html(df: pd.DataFrame, columns: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
               max_rows: int = 60, empty: str = "Nothing to show.") -> str:
    """An HTML table of ``df`` with every cell escaped; columns missing from ``df`` are skipped.

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
        cells = "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in rec)
        body.append(f"<tr>{cells}</tr>")
    more = f'<p class="rbm-more">{len(df) - max_rows} more rows in the published table.</p>' if len(df) > max_rows else ""
    return f'<table class="rbm-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'


def table(df: pd.DataFrame, columns: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
          max_rows: int = 60, empty: str = "Nothing to show."):
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
    return _html(f"<h2>{escape_text(title)} — quarterly review {escape_text(r.quarter)}</h2>"
                 f"<p>Figures from the {escape_text(r.source.split(' ')[0])} {escape_text(r.quarter)}. "
                 "Invented sample figures are illustrative.</p>")


def provenance_frame(r: Review) -> pd.DataFrame:
    """Which submission of each unit the figures come from."""
    units = r.state.get("Unit", pd.DataFrame(columns=["unit_code", "quarter", "submission_id", "submitted_by"]))
    if r.unit:
        keep = {r.unit} | ({r.region} if r.region else set())
        units = units[units["unit_code"].isin(keep)]
    out = units.reset_index(drop=True).copy()
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
    rows = [("KPIs", len(prog))]
    rows += [(f"KPIs {s.replace('_', ' ')}", int(counts.get(s, 0))) for s in
             ("on_track", "target_met", "at_risk", "off_track", "no_data", "not_started")]
    rows += [("Red-flag risks", len(v.get("red_flags", []))),
             ("Broken assumptions (this quarter)", int(((v["assumptions"]["period"] == r.quarter)
                                                        & (v["assumptions"]["verdict"] == "broken")).sum())
              if "assumptions" in v and not v["assumptions"].empty else 0),
             (f"In-year execution ({r.config.currency} {spent:,.0f} of {budget:,.0f})",
              f"{spent / budget:.0%}" if budget else "n/a"),
             ("Items on the review agenda", len(v.get("agenda", [])))]
    return pd.DataFrame(rows, columns=["figure", "value"])


def summary(r: Review):
    return table(summary_frame(r))


def statement(r: Review):
    """The unit's plain-language results statement (Markdown, officer text escaped)."""
    from IPython.display import Markdown

    unit = r.unit or ""
    return Markdown(results_statement(r.state, r.results["progress"], unit, r.quarter, r.config.currency,
                                      money=r.results["money"]))


KPI_COLUMNS = ["kpi_id", "level", "name", "measure", "baseline_value", "target_value", "target_period", "current_value",
               "achievement", "expected", "status", "last_period", "forecast_achievement", "likely_to_meet"]


def kpi_trends(r: Review, kpi_ids: Sequence[str] | None = None) -> list:
    """One trend figure per KPI of the unit (baseline, milestones, target, forecast)."""
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


def unit_flows(r: Review) -> pd.DataFrame:
    """Money flows funding source -> unit -> programme -> output, for the review's unit only."""
    from rbm_utils.analytics.finance import money_flows

    state = analysis.unit_state(r.state, r.unit) if r.unit else r.state
    return money_flows(state, r.quarter)


def scaleup_for(r: Review) -> pd.DataFrame:
    """Scale-up candidates where the unit is the source of the practice or the region to receive it."""
    c = r.results.get("scaleup", pd.DataFrame())
    if c is None or c.empty or not r.unit:
        return c
    src = c["source_units"].astype(str).str.split(r"[;,]\s*").map(lambda units: r.unit in units)
    return c[src | (c["target_region"] == r.unit)].reset_index(drop=True)


def unit_heatmap(r: Review) -> pd.DataFrame:
    """5 x 5 counts of the review's open risks (the unit's, or the bureau's in an overview)."""
    from rbm_utils.analytics.risks import risk_heatmap

    return risk_heatmap(r.view["risks"], r.config.thresholds)
