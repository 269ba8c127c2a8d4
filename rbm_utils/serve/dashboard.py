"""Managers' dashboards: what the Voila notebooks in ``dashboards/`` call.

The dashboards read what ``rbm review`` PUBLISHED, never the store: the tidy tables of a unit
(``outputs/<Q>/<UNIT>/kpi_progress.parquet`` ...) or of the bureau (``outputs/<Q>/overview/``),
plus the frozen snapshot's Actuals and Milestones for the KPI drill-down. The figures are
drawn by the same :mod:`rbm_utils.present.charts` functions from the same published rows, so a
manager sees exactly the published figures.

Safety rules, applied everywhere in this module:

- The outputs folder comes from the server (environment variable ``RBM_OUTPUTS``, set by
  ``rbm serve``); request parameters come from the page's query string (``QUERY_STRING``).
  Every parameter and every widget value is checked against a list built from what exists
  (published quarter folders, unit codes of parameters/workbench.yaml that have a published
  folder): :func:`pick` returns the element of that list, so a path is only ever built from
  a listed folder name, never from what a browser sent. Values that do not match are ignored.
- Free text from the workbooks is HTML-escaped (:func:`rbm_utils.analytics.review.escape_text`) where it
  becomes HTML, including ``widgets.HTML``; charts escape their own labels and hover text.
- No query, path or expression is built from a widget value: filters compare values.

Example:
    >>> pick("AFR", ["AFR", "CYB"]), pick("../etc", ["AFR", "CYB"])
    ('AFR', None)
    >>> request_parameters("unit=AFR&quarter=2026-Q3&x=1", {"unit": ["AFR"], "quarter": ["2026-Q3"]})
    {'unit': 'AFR', 'quarter': '2026-Q3'}
"""
from __future__ import annotations

import html
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlencode

import pandas as pd

from rbm_utils.present import charts
from rbm_utils.analytics import kpi
from rbm_utils.analytics.bureau import PUBLISHED_TABLES
from rbm_utils.core.config import PROJECT_ROOT, Config, load_config
from rbm_utils.present.reports import table_html
from rbm_utils.analytics.review import escape_text
from rbm_utils.core.schema import PERIOD_RE, period_index

log = logging.getLogger(__name__)

#: Environment variables set by ``rbm serve`` for the dashboard kernels.
OUTPUTS_ENV = "RBM_OUTPUTS"
QUARTER_ENV = "RBM_QUARTER"
#: Folder of the bureau's published tables inside a quarter.
OVERVIEW = "overview"
JOINT = "joint"
SNAPSHOT = "snapshot"
#: Run statuses that mean "published".
PUBLISHED_STATUSES = ("ok", "skipped_unchanged")
#: Snapshot tables the drill-down reads (fixed names, never from input).
SNAPSHOT_TABLES = ("Actuals", "Milestones")
#: plotly renderer inside a Voila kernel: the figure JSON goes to the page, plotly.js comes from
#: the jupyterlab-plotly extension served by Voila itself (no CDN, no 5 MB per figure).
RENDERER = "plotly_mimetype"
ALL = "__all__"
#: Query-string limits: longer strings are ignored whole.
MAX_QUERY_CHARS = 2000

_BADGE_COLORS = {"published": "#2e9e4f", "failed": "#c0392b", "not reviewed": "#9e9e9e"}


# --------------------------------------------------------------------------- validation

def pick(value: Any, allowed: Sequence[str]) -> str | None:
    """The element of ``allowed`` equal to ``value``, else ``None`` (never ``value`` itself).

    >>> pick("CYB", ("AFR", "CYB")), pick(None, ("AFR",)), pick(["AFR"], ("AFR",))
    ('CYB', None, None)
    """
    if not isinstance(value, str):
        return None
    for a in allowed:
        if a == value:
            return a
    return None


def request_parameters(query_string: str | None, allowed: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Parameters of a page's query string that are allowed, each checked with :func:`pick`.

    Unknown names, repeated names with different values, and values not in the list are
    dropped (logged at INFO).

    >>> request_parameters("unit=CYB&unit=AFR", {"unit": ["AFR", "CYB"]})
    {}
    >>> request_parameters("quarter=2026-Q3&unit=%3Cscript%3E", {"quarter": ["2026-Q3"], "unit": ["AFR"]})
    {'quarter': '2026-Q3'}
    """
    qs = query_string or ""
    if len(qs) > MAX_QUERY_CHARS:
        log.info("query string of %d characters ignored", len(qs))
        return {}
    try:
        parsed = parse_qs(qs, keep_blank_values=False, strict_parsing=False, max_num_fields=20)
    except ValueError:
        log.info("query string ignored: too many fields")
        return {}
    out: dict[str, str] = {}
    for name, options in allowed.items():
        values = set(parsed.get(name, []))
        if len(values) != 1:
            continue
        chosen = pick(values.pop(), options)
        if chosen is None:
            log.info("query parameter %s ignored: not one of the published values", name)
        else:
            out[name] = chosen
    return out


def page_link(page: str, **params: str) -> str:
    """A relative link to another dashboard notebook (the page name is one of ours).

    >>> page_link("review.ipynb", quarter="2026-Q3", unit="AFR")
    'review.ipynb?quarter=2026-Q3&unit=AFR'
    """
    if page not in ("index.ipynb", "review.ipynb", "overview.ipynb", "joint.ipynb"):
        raise ValueError(f"not a dashboard page: {page!r}")
    return page + ("?" + urlencode(params) if params else "")


# --------------------------------------------------------------------------- what is published

def outputs_dir(env: Mapping[str, str] | None = None) -> Path:
    """The published outputs folder: ``$RBM_OUTPUTS`` (set by ``rbm serve``), else ``outputs/``."""
    env = os.environ if env is None else env
    return Path(env.get(OUTPUTS_ENV) or PROJECT_ROOT / "outputs").resolve()


def _names(folder: Path) -> list[str]:
    try:
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def published_quarters(outputs: Path) -> list[str]:
    """Quarters with a frozen snapshot under ``outputs``, newest first.

    >>> published_quarters(Path("/nonexistent"))
    []
    """
    qs = [n for n in _names(Path(outputs)) if PERIOD_RE.match(n) and (Path(outputs) / n / SNAPSHOT / "manifest.json").is_file()]
    return sorted(qs, key=period_index, reverse=True)


def published_units(outputs: Path, quarter: str, config: Config) -> list[str]:
    """Unit codes of the settings (in their order) with published tables for ``quarter``."""
    q = pick(quarter, published_quarters(outputs))
    if q is None:
        return []
    have = set(_names(Path(outputs) / q))
    return [u for u in config.units if u in have and (Path(outputs) / q / u / "kpi_progress.parquet").is_file()]


def has_overview(outputs: Path, quarter: str) -> bool:
    q = pick(quarter, published_quarters(outputs))
    return q is not None and (Path(outputs) / q / OVERVIEW / "kpi_progress.parquet").is_file()


def published_joint(outputs: Path, quarter: str, config: Config) -> list[str]:
    """Published joint reviews ``CLUSTER-REGION`` whose two codes are a cluster and a region of the settings."""
    q = pick(quarter, published_quarters(outputs))
    if q is None:
        return []
    valid = {f"{c}-{r}" for c in config.clusters for r in config.regions}
    return [n for n in _names(Path(outputs) / q / JOINT) if n in valid]


def run_status(outputs: Path, quarter: str) -> dict[str, str]:
    """Job name -> status from the quarter's ``run_report.json`` ({} when absent or unreadable)."""
    q = pick(quarter, published_quarters(outputs))
    if q is None:
        return {}
    try:
        report = json.loads((Path(outputs) / q / "run_report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    jobs = report.get("jobs", []) if isinstance(report, dict) else []
    return {str(j.get("name")): str(j.get("status")) for j in jobs if isinstance(j, dict)}


def publication(status: str | None) -> str:
    """Badge word for a run status: published, failed or not reviewed.

    >>> publication("skipped_unchanged"), publication("timeout"), publication(None)
    ('published', 'failed', 'not reviewed')
    """
    if status in PUBLISHED_STATUSES:
        return "published"
    return "not reviewed" if status is None else "failed"


def load_tables(outputs: Path, quarter: str, folder: str, config: Config) -> dict[str, pd.DataFrame]:
    """The published tidy tables of one unit (``folder`` a unit code) or of the bureau
    (``folder`` = ``"overview"``), keyed like :func:`rbm_utils.analytics.bureau.analyse`.

    ``quarter`` and ``folder`` must be published; anything else raises ``ValueError``.
    """
    q = pick(quarter, published_quarters(outputs))
    if q is None:
        raise ValueError(f"quarter {quarter!r} is not published")
    f = OVERVIEW if folder == OVERVIEW and has_overview(outputs, q) else pick(folder, published_units(outputs, q, config))
    if f is None:
        raise ValueError(f"{folder!r} has no published review for {q}")
    base = Path(outputs) / q / f
    out: dict[str, pd.DataFrame] = {}
    for stem, key in PUBLISHED_TABLES.items():
        path = base / f"{stem}.parquet"
        if path.is_file():
            out[key] = pd.read_parquet(path)
    return out


def load_snapshot_table(outputs: Path, quarter: str, name: str) -> pd.DataFrame:
    """One table of the quarter's frozen snapshot; ``name`` one of :data:`SNAPSHOT_TABLES`."""
    q = pick(quarter, published_quarters(outputs))
    n = pick(name, SNAPSHOT_TABLES)
    if q is None or n is None:
        raise ValueError(f"no snapshot table {name!r} for {quarter!r}")
    path = Path(outputs) / q / SNAPSHOT / f"{n}.parquet"
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=["unit_code", "kpi_id", "period"])


# --------------------------------------------------------------------------- pure views

def filter_frame(df: pd.DataFrame | None, *, unit: str | None = None, programme: str | None = None,
                 status: str | None = None) -> pd.DataFrame:
    """Rows of ``df`` for a unit, a programme and a KPI status; ``None`` (or :data:`ALL`) keeps all.
    A filter on a column ``df`` lacks is skipped. Values are compared, never evaluated.

    >>> d = pd.DataFrame({"unit_code": ["A", "B"], "status": ["on_track", "off_track"]})
    >>> filter_frame(d, status="off_track")["unit_code"].tolist()
    ['B']
    """
    if df is None:
        return pd.DataFrame()
    mask = pd.Series(True, index=df.index)
    for col, val in (("unit_code", unit), ("programme", programme), ("status", status)):
        if val is not None and val != ALL and col in df.columns:
            mask &= df[col].astype(object).eq(val).to_numpy()
    return df.loc[mask.to_numpy()].reset_index(drop=True)


def programmes(progress: pd.DataFrame | None) -> list[str]:
    """Programme names of the KPIs, sorted, blanks dropped."""
    if progress is None or progress.empty or "programme" not in progress.columns:
        return []
    vals = progress["programme"].dropna().astype(str)
    return sorted(v for v in set(vals) if v.strip())


def kpi_options(progress: pd.DataFrame) -> list[tuple[str, str]]:
    """(label, kpi_id) for a Dropdown; labels are plain text (the widget shows them as text)."""
    if progress is None or progress.empty:
        return []
    return [(f"{r.kpi_id}: {r.name}" if isinstance(r.name, str) and r.name else str(r.kpi_id), str(r.kpi_id))
            for r in progress[["kpi_id", "name"]].itertuples(index=False)]


def kpi_evidence(actuals: pd.DataFrame, unit: str, kpi_id: str) -> pd.DataFrame:
    """A KPI's reported values with their evidence and comments, newest first."""
    cols = ["period", "disaggregation", "value", "numerator", "denominator", "evidence", "comment"]
    if actuals is None or actuals.empty:
        return pd.DataFrame(columns=cols)
    a = actuals[(actuals["unit_code"] == unit) & (actuals["kpi_id"] == kpi_id)]
    a = a.assign(_p=a["period"].map(lambda p: period_index(p) if isinstance(p, str) and PERIOD_RE.match(p) else -1))
    a = a.sort_values(["_p", "disaggregation"], ascending=[False, True], na_position="first", kind="stable")
    return a[[c for c in cols if c in a.columns]].reset_index(drop=True)


def kpi_figure(tables: Mapping[str, pd.DataFrame], milestones: pd.DataFrame, unit: str, kpi_id: str,
               currency: str = "CHF"):
    """The trend chart of one KPI (baseline, milestones, target, forecast) from published rows;
    the same call as the published review's :func:`rbm_utils.present.reports.kpi_trends`."""
    prog = tables["progress"]
    row = prog[(prog["unit_code"] == unit) & (prog["kpi_id"] == kpi_id)]
    if row.empty:
        raise ValueError(f"no KPI {kpi_id!r} for {unit!r}")
    series = tables["series"]
    s = series[(series["unit_code"] == unit) & (series["kpi_id"] == kpi_id)]
    m = milestones[(milestones["unit_code"] == unit) & (milestones["kpi_id"] == kpi_id)] if len(milestones) else milestones
    return charts.kpi_trend(s, row.iloc[0], m, currency=currency)


def review_figures(tables: Mapping[str, pd.DataFrame], config: Config, *, bureau: bool = False) -> dict[str, Any]:
    """The summary figures of a review from its published tables: KPI status (by level for a
    unit, by unit for the bureau), the open-risk heatmap and money against delivery."""
    from rbm_utils.analytics.risks import risk_heatmap

    prog = tables.get("progress", pd.DataFrame(columns=["unit_code", "level", "status"]))
    if bureau:
        status = charts.status_summary(kpi.rollup(prog, "unit_code"), title="KPI status by unit")
    else:
        status = charts.status_summary(kpi.rollup(prog, ["unit_code", "level"]), title="KPI status by level of the chain")
    risks = tables.get("risks", pd.DataFrame(columns=["status", "likelihood", "impact"]))
    return {
        "status": status,
        "risks": charts.risk_heatmap(risk_heatmap(risks, config.thresholds)),
        "burn": charts.burn_vs_delivery(tables.get("burn", pd.DataFrame()), currency=config.currency),
    }


def unit_badges(outputs: Path, quarter: str, config: Config) -> pd.DataFrame:
    """One row per unit of the settings: publication badge, KPI counts per status, red flags."""
    q = pick(quarter, published_quarters(outputs))
    status = run_status(outputs, q) if q else {}
    units = set(published_units(outputs, q, config)) if q else set()
    rows = []
    for code, u in config.units.items():
        pub = publication(status.get(code)) if code in units or code in status else "not reviewed"
        if code in units and pub == "not reviewed":
            pub = "published"  # tables present but no run report entry (e.g. report rewritten)
        row: dict[str, Any] = {"unit_code": code, "name": u.name, "type": u.type, "publication": pub,
                               "n_kpis": 0, "red_flags": 0}
        row.update({f"n_{s}": 0 for s in kpi.STATUS_ORDER})
        if code in units:
            t = load_tables(outputs, q, code, config)
            prog = t.get("progress")
            if prog is not None and len(prog):
                counts = prog["status"].value_counts()
                row["n_kpis"] = int(len(prog))
                row.update({f"n_{s}": int(counts.get(s, 0)) for s in kpi.STATUS_ORDER})
            row["red_flags"] = int(len(t.get("red_flags", [])))
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- HTML

def _badge(text: str, color: str) -> str:
    return (f'<span class="rbm-badge" style="display:inline-block;padding:1px 7px;margin:1px;border-radius:9px;'
            f'color:#fff;background:{color};font-size:0.85em">{escape_text(text)}</span>')


def _status_badges(row: Mapping[str, Any]) -> str:
    parts = [_badge(f"{kpi.STATUS_LABELS[s]} {int(row[f'n_{s}'])}", charts.STATUS_COLORS[s])
             for s in kpi.STATUS_ORDER if int(row.get(f"n_{s}", 0))]
    return "".join(parts) or '<span style="color:#777">no KPI</span>'


def landing_html(outputs: Path, quarter: str | None, config: Config) -> str:
    """The landing page: published quarters, then every unit with its badges and links, the
    joint reviews and the bureau overview. Everything shown is escaped; links are built from
    the published lists only."""
    quarters = published_quarters(outputs)
    title = f"<h1>{escape_text(config.name)}: quarterly reviews</h1>"
    if not quarters:
        return title + "<p>Nothing is published yet. The M&amp;E team runs <code>rbm review</code> to publish a quarter.</p>"
    q = pick(quarter, quarters) or quarters[0]
    nav = " ".join(
        f"<b>{escape_text(x)}</b>" if x == q else f'<a href="{escape_text(page_link("index.ipynb", quarter=x))}">{escape_text(x)}</a>'
        for x in quarters)
    out = [title, f'<p class="rbm-quarters">Quarter: {nav}</p>']
    if has_overview(outputs, q):
        out.append(f'<p><a class="rbm-overview" href="{escape_text(page_link("overview.ipynb", quarter=q))}">'
                   f"Bureau overview {escape_text(q)}</a></p>")
    badges = unit_badges(outputs, q, config)
    rows = []
    for r in badges.to_dict("records"):
        name = escape_text(r["name"])
        if r["publication"] == "published":
            link = escape_text(page_link("review.ipynb", quarter=q, unit=r["unit_code"]))
            cell = f'<a class="rbm-unit" href="{link}">{escape_text(r["unit_code"])}</a>'
        else:
            cell = escape_text(r["unit_code"])
        pub = _badge(r["publication"], _BADGE_COLORS.get(r["publication"], "#777"))
        flags = _badge(f"{r['red_flags']} red flag{'s' if r['red_flags'] != 1 else ''}", "#c0392b") if r["red_flags"] else ""
        rows.append(f"<tr><td>{cell}</td><td>{name}</td><td>{escape_text(r['type'])}</td><td>{pub}</td>"
                    f"<td>{_status_badges(r)} {flags}</td></tr>")
    out.append('<h2>Units</h2><table class="rbm-table rbm-units"><thead><tr><th>unit</th><th>name</th><th>type</th>'
               f'<th>review</th><th>KPI status</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    joint = published_joint(outputs, q, config)
    status = run_status(outputs, q)
    if joint:
        items = []
        for name in joint:
            c, r = name.split("-", 1)
            pub = publication(status.get(f"joint-{name}")) if f"joint-{name}" in status else "published"
            label = f"{config.unit(c).name} with {config.unit(r).name}"
            items.append(f'<li><a class="rbm-joint" href="{escape_text(page_link("joint.ipynb", quarter=q, pair=name))}">'
                         f"{escape_text(name)}</a> {escape_text(label)} {_badge(pub, _BADGE_COLORS.get(pub, '#777'))}</li>")
        out.append(f"<h2>Joint reviews</h2><ul>{''.join(items)}</ul>")
    return "".join(out)


def _html(markup: str):
    from IPython.display import HTML

    return HTML(markup)


# --------------------------------------------------------------------------- pages

def _context(outputs: Path | None, config: Config | None, query_string: str | None,
             env: Mapping[str, str] | None) -> tuple[Path, Config, str]:
    env = os.environ if env is None else env
    return (Path(outputs) if outputs is not None else outputs_dir(env), config or load_config(),
            env.get("QUERY_STRING", "") if query_string is None else query_string)


def default_quarter(outputs: Path, env: Mapping[str, str] | None = None) -> str | None:
    """``$RBM_QUARTER`` when published, else the newest published quarter."""
    env = os.environ if env is None else env
    quarters = published_quarters(outputs)
    return pick(env.get(QUARTER_ENV), quarters) or (quarters[0] if quarters else None)


def landing_page(outputs: Path | None = None, config: Config | None = None, query_string: str | None = None,
                 env: Mapping[str, str] | None = None):
    """The index dashboard (displayable HTML). Query string: ``quarter``."""
    out, cfg, qs = _context(outputs, config, query_string, env)
    params = request_parameters(qs, {"quarter": published_quarters(out)})
    return _html(landing_html(out, params.get("quarter") or default_quarter(out, env), cfg))


def output_item(item: Any) -> dict:
    """One display output for an ``ipywidgets.Output``: a plotly figure as its JSON (rendered by
    the page's own plotly extension, :data:`RENDERER`), or HTML (already escaped by its maker).

    Setting ``Output.outputs`` directly avoids ``with out:`` capture, whose output routing
    depends on the kernel's parent message and interleaves with execution.
    """
    if hasattr(item, "to_plotly_json"):
        import plotly.io as pio

        data = pio.renderers[RENDERER].to_mimebundle(item.to_dict())
        data["text/plain"] = "(figure)"
    else:
        markup = item.data if hasattr(item, "data") else str(item)
        data = {"text/html": markup, "text/plain": "(table)"}
    return {"output_type": "display_data", "data": data, "metadata": {}}


class ReviewDashboard:
    """Widgets for one unit's review (``bureau=False``) or the bureau overview (``bureau=True``),
    drawn from the published tables.

    Filters: quarter, unit, programme and KPI status; a KPI drill-down shows its trend,
    evidence and comments. Every callback checks the new value against the options it offered
    (:func:`pick`) and ignores anything else: a browser can send any value over the widget comm.
    ``dash.widget`` is the ipywidgets box to display.
    """

    def __init__(self, outputs: Path, config: Config, quarter: str | None = None, unit: str | None = None, *,
                 bureau: bool = False, notice: str = "") -> None:
        import ipywidgets as w

        self.w = w
        self.outputs = Path(outputs)
        self.config = config
        self.bureau = bureau
        self.quarters = [q for q in published_quarters(self.outputs)
                         if (has_overview(self.outputs, q) if bureau else published_units(self.outputs, q, config))]
        self.quarter = pick(quarter, self.quarters) or (self.quarters[0] if self.quarters else None)
        self.units: list[str] = []
        self.unit: str | None = None
        self.tables: dict[str, pd.DataFrame] = {}
        self.milestones = pd.DataFrame(columns=["unit_code", "kpi_id", "period"])
        self.actuals = pd.DataFrame(columns=["unit_code", "kpi_id", "period"])
        self.programme: str = ALL
        self.status: str = ALL
        self.kpi: str | None = None
        self.ignored: list[tuple[str, Any]] = []
        self._busy = False

        style = {"description_width": "initial"}
        layout = w.Layout(width="auto", min_width="12em")
        self.quarter_dd = w.Dropdown(description="Quarter", options=self.quarters, value=self.quarter, style=style, layout=layout)
        self.unit_dd = w.Dropdown(description="Unit", style=style, layout=layout)
        self.programme_dd = w.Dropdown(description="Programme", style=style, layout=layout)
        self.status_dd = w.Dropdown(description="KPI status", style=style, layout=layout,
                                    options=[("All", ALL)] + [(kpi.STATUS_LABELS[s], s) for s in kpi.STATUS_ORDER], value=ALL)
        self.kpi_dd = w.Dropdown(description="KPI", style=style, layout=w.Layout(width="auto", min_width="30em"))
        self.title = w.HTML()
        self.notice = w.HTML(f'<p class="rbm-notice">{escape_text(notice)}</p>' if notice else "")
        self.summary_out = w.Output()
        self.kpi_out = w.Output()
        self.trend_out = w.Output()
        self.evidence_out = w.Output()
        self.risk_out = w.Output()
        self.money_out = w.Output()
        self.agenda_out = w.Output()
        for name in ("summary_out", "kpi_out", "trend_out", "evidence_out", "risk_out", "money_out", "agenda_out"):
            getattr(self, name).add_class("rbm-" + name.replace("_out", ""))
        self.unit_dd.add_class("rbm-unit-filter")
        self.status_dd.add_class("rbm-status-filter")
        self.programme_dd.add_class("rbm-programme-filter")
        self.kpi_dd.add_class("rbm-kpi-filter")
        self.quarter_dd.add_class("rbm-quarter-filter")

        self._load(self.quarter, unit)
        self.quarter_dd.observe(self._guard(self._on_quarter, lambda: self.quarters), names="value")
        self.unit_dd.observe(self._guard(self._on_unit, lambda: self._unit_values()), names="value")
        self.programme_dd.observe(self._guard(self._on_programme, lambda: [ALL, *programmes(self.tables.get("progress"))]),
                                  names="value")
        self.status_dd.observe(self._guard(self._on_status, lambda: [ALL, *kpi.STATUS_ORDER]), names="value")
        self.kpi_dd.observe(self._guard(self._on_kpi, lambda: [k for _, k in self._kpi_choices()]), names="value")

        h = lambda text: w.HTML(f"<h3>{escape_text(text)}</h3>")  # noqa: E731
        self.widget = w.VBox([
            self.title, self.notice,
            w.HBox([self.quarter_dd, self.unit_dd, self.programme_dd, self.status_dd], layout=w.Layout(flex_flow="row wrap")),
            h("KPIs"), self.summary_out, self.kpi_out,
            h("One KPI: trend, evidence and comments"), self.kpi_dd, self.trend_out, self.evidence_out,
            h("Risks"), self.risk_out,
            h("Money and delivery"), self.money_out,
            h("Review agenda"), self.agenda_out,
        ])
        self.widget.add_class("rbm-dashboard")
        self.render()

    # ---- validation of every widget callback
    def _guard(self, handler: Callable[[str], None], allowed: Callable[[], Sequence[str]]) -> Callable[[dict], None]:
        def callback(change: dict) -> None:
            if self._busy:
                return
            value = pick(change.get("new"), list(allowed()))
            if value is None:
                self.ignored.append((handler.__name__, change.get("new")))
                log.warning("dashboard: ignored a value not among the options of %s", handler.__name__)
                return
            handler(value)
        return callback

    def _unit_values(self) -> list[str]:
        return [ALL, *self.units] if self.bureau else list(self.units)

    def _kpi_choices(self) -> list[tuple[str, str]]:
        return kpi_options(self.kpis())

    # ---- state
    def _load(self, quarter: str | None, unit: str | None) -> None:
        """Load the published tables of ``quarter`` (and ``unit``): both picked from the lists."""
        self.quarter = pick(quarter, self.quarters) or self.quarter
        if self.quarter is None:
            return
        if self.bureau:
            self.tables = load_tables(self.outputs, self.quarter, OVERVIEW, self.config)
            present = set(self.tables.get("progress", pd.DataFrame(columns=["unit_code"]))["unit_code"].astype(str))
            self.units = [u for u in self.config.units if u in present]
            self.unit = pick(unit, self.units) or ALL
        else:
            self.units = published_units(self.outputs, self.quarter, self.config)
            self.unit = pick(unit, self.units) or (self.units[0] if self.units else None)
            self.tables = load_tables(self.outputs, self.quarter, self.unit, self.config) if self.unit else {}
        self.milestones = load_snapshot_table(self.outputs, self.quarter, "Milestones")
        self.actuals = load_snapshot_table(self.outputs, self.quarter, "Actuals")
        progs = programmes(self.tables.get("progress"))
        self.programme = self.programme if self.programme in progs else ALL
        with self._quiet():
            self.quarter_dd.value = self.quarter
            labels = [(f"{u} {self.config.unit(u).name}", u) for u in self.units]
            self.unit_dd.options = ([("All units", ALL)] + labels) if self.bureau else labels
            self.unit_dd.value = self.unit
            self.programme_dd.options = [("All", ALL)] + [(p, p) for p in progs]
            self.programme_dd.value = self.programme
        self._reset_kpi()

    def _reset_kpi(self) -> None:
        choices = self._kpi_choices()
        keys = [k for _, k in choices]
        self.kpi = self.kpi if self.kpi in keys else (keys[0] if keys else None)
        with self._quiet():
            self.kpi_dd.options = choices
            self.kpi_dd.value = self.kpi

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Programmatic changes of options and values: the callbacks stay silent."""
        self._busy = True
        try:
            yield
        finally:
            self._busy = False

    # ---- callbacks (value already checked by _guard)
    def _on_quarter(self, value: str) -> None:
        if value == self.quarter:
            return
        self._load(value, self.unit)
        self.render()

    def _on_unit(self, value: str) -> None:
        if value == self.unit:
            return
        if self.bureau:
            self.unit = value
            self._reset_kpi()
        else:
            self._load(self.quarter, value)
        self.render()

    def _on_programme(self, value: str) -> None:
        if value == self.programme:
            return
        self.programme = value
        self._reset_kpi()
        self.render()

    def _on_status(self, value: str) -> None:
        if value == self.status:
            return
        self.status = value
        self._reset_kpi()
        self.render()

    def _on_kpi(self, value: str) -> None:
        if value == self.kpi:
            return
        self.kpi = value
        self.render_kpi()

    # ---- views
    def kpis(self) -> pd.DataFrame:
        """The KPIs shown: the unit's (or the bureau's, or one unit of it) after the filters."""
        unit = None if self.bureau and self.unit == ALL else self.unit
        return filter_frame(self.tables.get("progress"), unit=unit, programme=self.programme, status=self.status)

    def _scoped(self, key: str, with_programme: bool = True) -> pd.DataFrame:
        unit = None if self.bureau and self.unit == ALL else self.unit
        return filter_frame(self.tables.get(key), unit=unit, programme=self.programme if with_programme else None)

    def figures(self) -> dict[str, Any]:
        """The figures currently shown (for tests and for the page)."""
        tables = {"progress": self.kpis(), "risks": self._scoped("risks", with_programme=False),
                  "burn": self._scoped("burn")}
        figs = review_figures(tables, self.config, bureau=self.bureau and self.unit == ALL)
        if self.kpi:
            figs["trend"] = self.kpi_trend()
        return figs

    def kpi_trend(self):
        prog = self.kpis()
        row = prog[prog["kpi_id"] == self.kpi]
        unit = str(row.iloc[0]["unit_code"]) if len(row) else (self.unit or "")
        return kpi_figure(self.tables, self.milestones, unit, self.kpi, self.config.currency)

    def _show(self, out: Any, *items: Any) -> None:
        """Replace what an Output widget shows (figures and HTML), without capturing kernel output."""
        out.outputs = tuple(output_item(item) for item in items)

    def render(self) -> None:
        """Redraw every section from the current (validated) state."""
        cfg = self.config
        if self.quarter is None:
            self.title.value = "<h2>Nothing is published yet.</h2>"
            return
        if self.bureau:
            who = cfg.name if self.unit == ALL else f"{cfg.unit(self.unit).name} ({self.unit})"
        else:
            who = f"{cfg.unit(self.unit).name} ({self.unit}, {cfg.unit(self.unit).type})" if self.unit else "no unit"
        self.title.value = (f'<h2 class="rbm-title">{escape_text(who)}: quarterly review {escape_text(self.quarter)}</h2>'
                            f'<p><a href="{escape_text(page_link("index.ipynb", quarter=self.quarter))}">All units</a> · '
                            "Figures as published by the quarterly review (frozen snapshot).</p>")
        figs = self.figures()
        prog = self.kpis()
        self._show(self.summary_out, figs["status"])
        self._show(self.kpi_out, _html(table_html(prog, ["unit_code", "kpi_id", "name", "programme", "current_value", "target_value",
                                                         "achievement", "expected", "status", "last_period", "likely_to_meet"],
                                                  empty="No KPI matches the filters.")))
        self.render_kpi(figs.get("trend"))
        risks = self._scoped("risks", with_programme=False)
        flags = self._scoped("red_flags", with_programme=False)
        self._show(self.risk_out, figs["risks"],
                   _html(table_html(flags, ["unit_code", "risk_id", "title", "owner", "score", "rating", "reasons"], empty="No red flag.")),
                   _html(table_html(risks, ["unit_code", "risk_id", "category", "title", "owner", "score", "rating", "status", "trend"])))
        money = self._scoped("money")
        self._show(self.money_out, figs["burn"],
                   _html(table_html(money, ["unit_code", "result_id", "title", "programme", "budget_year", "spent_year",
                                            "execution_rate", "time_elapsed", "flag"], empty="No budget line.")))
        agenda = self._scoped("agenda", with_programme=False)
        self._show(self.agenda_out, _html(table_html(agenda, ["unit_code", "priority", "kind", "item_id", "title", "owner", "question"],
                                                     empty="Nothing needs a decision.")))

    def render_kpi(self, fig: Any = None) -> None:
        if not self.kpi:
            self._show(self.trend_out, _html('<p class="rbm-empty">No KPI matches the filters.</p>'))
            self._show(self.evidence_out)
            return
        prog = self.kpis()
        row = prog[prog["kpi_id"] == self.kpi]
        unit = str(row.iloc[0]["unit_code"]) if len(row) else (self.unit or "")
        self._show(self.trend_out, fig if fig is not None else self.kpi_trend())
        self._show(self.evidence_out, _html(table_html(kpi_evidence(self.actuals, unit, self.kpi),
                                                       empty="Nothing reported for this KPI.")))


def _page_parameters(out: Path, cfg: Config, qs: str, env: Mapping[str, str] | None, *, names: Sequence[str]) -> tuple[dict, str]:
    quarters = published_quarters(out)
    allowed: dict[str, Sequence[str]] = {"quarter": quarters}
    raw = request_parameters(qs, allowed)
    q = raw.get("quarter") or default_quarter(out, env)
    if "unit" in names:
        allowed["unit"] = published_units(out, q, cfg) if q else []
    if "bureau_unit" in names:
        allowed["unit"] = list(cfg.units)  # the overview keeps only units present in its tables
    if "pair" in names:
        allowed["pair"] = published_joint(out, q, cfg) if q else []
    params = request_parameters(qs, allowed)
    asked = {k for k in parse_qs(qs if len(qs or "") <= MAX_QUERY_CHARS else "") if k in allowed}
    notice = ""
    if asked - set(params):
        notice = "The link asked for a quarter or unit that is not published; showing what is."
    if q and "quarter" not in params:
        params["quarter"] = q
    return params, notice


def review_page(outputs: Path | None = None, config: Config | None = None, query_string: str | None = None,
                env: Mapping[str, str] | None = None) -> ReviewDashboard:
    """The unit review dashboard. Query string: ``quarter``, ``unit`` (validated)."""
    out, cfg, qs = _context(outputs, config, query_string, env)
    params, notice = _page_parameters(out, cfg, qs, env, names=("unit",))
    return ReviewDashboard(out, cfg, params.get("quarter"), params.get("unit"), notice=notice)


def overview_page(outputs: Path | None = None, config: Config | None = None, query_string: str | None = None,
                  env: Mapping[str, str] | None = None) -> ReviewDashboard:
    """The bureau overview dashboard. Query string: ``quarter``, ``unit`` (validated)."""
    out, cfg, qs = _context(outputs, config, query_string, env)
    params, notice = _page_parameters(out, cfg, qs, env, names=("bureau_unit",))
    return ReviewDashboard(out, cfg, params.get("quarter"), params.get("unit"), bureau=True, notice=notice)


JOINT_SECTIONS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("The cluster's KPIs in the region", "cluster_kpis_in_region",
     ("kpi_id", "name", "measure", "current_value", "region_contribution", "share_of_total", "achievement", "status"),
     "No KPI broken down for this region."),
    ("The cluster's activities in the region", "cluster_activities",
     ("activity_id", "title", "type", "status", "planned_start", "planned_end", "percent_complete"), "No activity."),
    ("The region's KPIs on the cluster's themes", "region_kpis",
     ("kpi_id", "name", "initiative", "theme", "current_value", "achievement", "status"), "No KPI on these themes."),
    ("Shared risks", "risks", ("unit_code", "risk_id", "title", "owner", "score", "rating", "status"), "No shared risk."),
    ("Shared assumptions tested this quarter", "assumptions",
     ("unit_code", "assumption_id", "statement", "verdict", "explanation"), "No shared assumption tested this quarter."),
    ("Money the cluster spent on outputs delivered there", "money",
     ("result_id", "title", "funding_source", "budget_year", "spent_year", "execution_rate", "flag"), "No spending recorded."),
    ("Review agenda", "agenda", ("unit_code", "priority", "kind", "item_id", "title", "owner", "question"),
     "Nothing needs a decision."),
)


def joint_html(outputs: Path, quarter: str, pair: str, config: Config) -> str:
    """A joint review re-computed from the quarter's frozen snapshot with the published
    notebook's own function (:func:`rbm_utils.present.reports.load_joint`)."""
    from rbm_utils.present.reports import load_joint

    q = pick(quarter, published_quarters(outputs))
    p = pick(pair, published_joint(outputs, q, config)) if q else None
    if q is None or p is None:
        raise ValueError(f"no published joint review {pair!r} for {quarter!r}")
    cluster, region = p.split("-", 1)
    r = load_joint(cluster, region, q, str(Path(outputs) / q / SNAPSHOT), config_path=str(config.path or ""))
    parts = [f'<h2 class="rbm-title">{escape_text(config.unit(cluster).name)} with {escape_text(config.unit(region).name)}: '
             f"joint review {escape_text(q)}</h2>",
             f'<p><a href="{escape_text(page_link("index.ipynb", quarter=q))}">All units</a> · '
             "Figures from the quarter's frozen snapshot.</p>"]
    for title, key, cols, empty in JOINT_SECTIONS:
        frame = r.joint.get(key)
        if key == "assumptions" and frame is not None and "period" in frame.columns:
            frame = frame[frame["period"] == q]
        parts.append(f"<h3>{html.escape(title)}</h3>" + table_html(frame, list(cols), empty=empty))
    return "".join(parts)


def joint_page(outputs: Path | None = None, config: Config | None = None, query_string: str | None = None,
               env: Mapping[str, str] | None = None):
    """The joint review of a cluster with a region. Query string: ``quarter``, ``pair`` (e.g. CYB-AFR)."""
    out, cfg, qs = _context(outputs, config, query_string, env)
    params, _ = _page_parameters(out, cfg, qs, env, names=("pair",))
    q = params.get("quarter")
    pairs = published_joint(out, q, cfg) if q else []
    pair = params.get("pair")
    if pair is None:
        links = "".join(f'<li><a href="{escape_text(page_link("joint.ipynb", quarter=q, pair=x))}">{escape_text(x)}</a></li>'
                        for x in pairs)
        return _html("<h2>Joint reviews</h2>" + (f"<p>Pick a joint review:</p><ul>{links}</ul>" if links
                                                 else "<p>No joint review is published.</p>"))
    return _html(joint_html(out, q, pair, cfg))
