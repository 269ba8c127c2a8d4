"""The review app shared by the unit page and the bureau overview: what is shown (:class:`ReviewState`, no
widgets) apart from how (:class:`ReviewDashboard`; a unit's page in few widgets: :mod:`rbm_utils.serve.grouped`).

Filters: quarter, unit, programme and KPI status; a KPI drill-down shows its trend, evidence and comments.
Everything comes from the published tables (:mod:`rbm_utils.serve.data`) and the frozen snapshot's Actuals
and Milestones; figures are the published notebooks' own chart calls (:func:`rbm_utils.serve.views.review_figures`).
Every widget callback is guarded (:class:`rbm_utils.serve.widgets.Callbacks`): a value not among the options
offered is ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd

from rbm_utils.core.codes import KPI_STATUSES
from rbm_utils.core.config import Config
from rbm_utils.core.text import escape_text
from rbm_utils.present import columns, followup, funding, readable, reports, signals
from rbm_utils.present import programmes as plan
from rbm_utils.present.labels import STATUS_LABELS
from rbm_utils.present.reports import table_html
from rbm_utils.serve import data, downloads, prepared
from rbm_utils.serve.grouped import ON_DEMAND, SectionGroups
from rbm_utils.serve.pages import bureau_sections, sections
from rbm_utils.serve.params import ALL, page_link, pick
from rbm_utils.serve.tables import PagedTable
from rbm_utils.serve.views import filter_frame, kpi_evidence, kpi_figure, kpi_options, programmes, review_figures
from rbm_utils.serve.widgets import Callbacks, PlotlyJSON, Unshown, dropdown, heading, html, show, titled

#: Sections of the pages (``dash.outs``): an Output (CSS class ``rbm-<name>``) or kept for a grouped one.
SECTIONS = ("followup", "summary", "kpi", "trend", "evidence", "risk", "money", "agenda", "top", "funding")
#: Heading of the section the bureau overview opens with.
TOP_HEADING = "The ten decisions the bureau must take first"
#: Heading of the overview's roll-up by programme (after the KPIs, as in the overview notebook).
PLAN_HEADING = "Work against the Action Plan"
#: What the roll-up by programme covers, said above it.
PLAN_NOTE = (
    "The whole bureau, by programme of the Action Plan; the unit, programme and status filters do not apply here."
)


class ReviewState:
    """What a review page shows: the published quarter, unit, filters and KPI, and the tables
    they select. Every setter takes a value already checked against its options."""

    def __init__(self, outputs: Path, config: Config, *, bureau: bool = False) -> None:
        self.outputs = Path(outputs)
        self.config = config
        self.bureau = bureau
        self.quarters = [
            q
            for q in data.published_quarters(self.outputs)
            if (data.has_overview(self.outputs, q) if bureau else data.published_units(self.outputs, q, config))
        ]
        self.quarter: str | None = self.quarters[0] if self.quarters else None
        self.units: list[str] = []
        self.unit: str | None = None
        self.tables: dict[str, pd.DataFrame] = {}
        self.milestones = pd.DataFrame(columns=["unit_code", "kpi_id", "period"])
        self.actuals = pd.DataFrame(columns=["unit_code", "kpi_id", "period"])
        self.programme: str = ALL
        self.status: str = ALL
        self.kpi: str | None = None
        #: The figures the unit's published review drew (``figures.json``), shown as they are
        #: while the filters are the defaults: the page's kernel then imports no plotly.
        self.prepared: dict[str, list[dict]] = {}
        self._kpis: tuple[Any, Any, pd.DataFrame] = (None, None, pd.DataFrame())  # (progress, filters, KPIs shown)

    # ---- options offered by the page
    def unit_values(self) -> list[str]:
        return [ALL, *self.units] if self.bureau else list(self.units)

    def unit_options(self) -> list[tuple[str, str]]:
        labels = [(f"{u} {self.config.unit(u).name}", u) for u in self.units]
        return ([("All units", ALL)] + labels) if self.bureau else labels

    def programme_names(self) -> list[str]:
        return programmes(self.tables.get("progress"))

    def programme_values(self) -> list[str]:
        return [ALL, *self.programme_names()]

    def programme_options(self) -> list[tuple[str, str]]:
        """The programme filter's choices: each programme's name (a listed code's), its code as value."""
        return [("All", ALL), *plan.programme_options(self.programme_names(), self.config.action_plan.programmes)]

    def status_values(self) -> list[str]:
        return [ALL, *KPI_STATUSES]

    def kpi_choices(self) -> list[tuple[str, str]]:
        return kpi_options(self.kpis())

    # ---- changes
    def load(self, quarter: str | None, unit: str | None) -> None:
        """Load the published tables of ``quarter`` (and ``unit``): both picked from the lists."""
        self.quarter = pick(quarter, self.quarters) or self.quarter
        if self.quarter is None:
            return
        if self.bureau:
            self.tables = data.load_tables(self.outputs, self.quarter, data.OVERVIEW, self.config)
            present = set(self.tables.get("progress", pd.DataFrame(columns=["unit_code"]))["unit_code"].astype(str))
            self.units = [u for u in self.config.units if u in present]
            self.unit = pick(unit, self.units) or ALL
        else:
            self.units = data.published_units(self.outputs, self.quarter, self.config)
            self.unit = pick(unit, self.units) or (self.units[0] if self.units else None)
            self.tables = data.load_tables(self.outputs, self.quarter, self.unit, self.config) if self.unit else {}
        self.prepared = {} if self.bureau else data.load_figures(self.outputs, self.quarter, self.unit, self.config)
        self.milestones = data.load_snapshot_table(self.outputs, self.quarter, "Milestones")
        self.actuals = data.load_snapshot_table(self.outputs, self.quarter, "Actuals")
        if self.bureau:
            self.tables.update(data.load_frozen_tables(self.outputs, self.quarter, None, data.OVERVIEW_FROZEN_TABLES))
        elif self.unit:
            self.tables.update(data.load_frozen_tables(self.outputs, self.quarter, self.unit))
        if self.programme not in self.programme_names():
            self.programme = ALL
        self.reset_kpi()

    def select_unit(self, unit: str) -> None:
        """Another unit: in the bureau a filter of the same tables, else that unit's own tables."""
        if self.bureau:
            self.unit = unit
            self.reset_kpi()
        else:
            self.load(self.quarter, unit)

    def reset_kpi(self) -> None:
        """Keep the drilled-down KPI if the filters still show it, else the first one shown."""
        keys = [k for _, k in self.kpi_choices()]
        self.kpi = self.kpi if self.kpi in keys else (keys[0] if keys else None)

    # ---- views
    def scope_unit(self) -> str | None:
        return None if self.bureau and self.unit == ALL else self.unit

    def kpis(self) -> pd.DataFrame:
        """The KPIs the filters show, worst status first (the drill-down opens on the worst); kept till they change."""
        progress, key = self.tables.get("progress"), (self.scope_unit(), self.programme, self.status)
        if self._kpis[0] is not progress or self._kpis[1] != key:
            shown = filter_frame(progress, unit=key[0], programme=key[1], status=key[2])
            self._kpis = (progress, key, readable.by_severity(shown))
        return self._kpis[2]

    def scoped(self, key: str, with_programme: bool = True) -> pd.DataFrame:
        """A published table cut to the unit shown (and the programme filter)."""
        return filter_frame(
            self.tables.get(key), unit=self.scope_unit(), programme=self.programme if with_programme else None
        )

    def kpi_unit(self) -> str:
        """The unit of the drilled-down KPI (in the bureau, the unit of its row)."""
        prog = self.kpis()
        row = prog[prog["kpi_id"] == self.kpi]
        return str(row.iloc[0]["unit_code"]) if len(row) else (self.unit or "")

    def kpi_trend(self) -> Any:
        return self.prepared_trend() or kpi_figure(
            self.tables, self.milestones, self.kpi_unit(), self.kpi or "", self.config.currency
        )

    def prepared_figure(self, name: str, filtered: bool = False) -> PlotlyJSON | None:
        """The published review's figure ``name`` (None when not kept); ``filtered``: a figure the
        programme and status filters change, so only while they show everything."""
        if filtered and (self.programme != ALL or self.status != ALL):
            return None
        return prepared.figure(self.prepared, name)

    def prepared_trend(self) -> PlotlyJSON | None:
        return prepared.trend(self.prepared, self.tables.get("progress"), self.kpi)

    def figures(self) -> dict[str, Any]:
        """The figures currently shown: as the published review drew them while the filters show
        everything, else drawn from the published tables (the notebook's own chart calls)."""
        names = ("status", "risks", "burn")
        ready = {n: self.prepared_figure(n, filtered=True) for n in names}
        if not self.bureau and all(ready.values()):
            figs: dict[str, Any] = dict(ready)
            if self.kpi:
                figs["trend"] = self.kpi_trend()
            return figs
        tables = {
            "progress": self.kpis(),
            "risks": self.scoped("risks", with_programme=False),
            "burn": self.scoped("burn"),
        }
        figs = review_figures(tables, self.config, bureau=self.bureau and self.unit == ALL)
        if self.kpi:
            figs["trend"] = self.kpi_trend()
        return figs

    def review(self) -> reports.Review:
        """The notebook's review object over the published tables (see :mod:`sections`): the
        unit's, or in the overview the whole bureau's, as its notebook shows them."""
        units = data.load_snapshot_table(self.outputs, self.quarter, "Unit")
        return sections.review_of(
            self.tables,
            self.config,
            self.quarter or "",
            None if self.bureau else self.unit,
            units=units if self.bureau else filter_frame(units, unit=self.unit),
            manifest=data.snapshot_manifest(self.outputs, self.quarter),
        )

    def who(self) -> str:
        """Plain-text name of what is reviewed."""
        cfg = self.config
        if self.bureau:
            return cfg.name if self.unit == ALL else f"{cfg.unit(self.unit or '').name} ({self.unit})"
        return f"{cfg.unit(self.unit).name} ({self.unit}, {cfg.unit(self.unit).type})" if self.unit else "no unit"


class ReviewDashboard:
    """The widgets of one unit's review (``bureau=False``) or of the bureau overview
    (``bureau=True``) over a :class:`ReviewState`. ``dash.widget`` is the box to display."""

    def __init__(
        self,
        outputs: Path,
        config: Config,
        quarter: str | None = None,
        unit: str | None = None,
        *,
        bureau: bool = False,
        notice: str = "",
    ) -> None:
        self.state = ReviewState(outputs, config, bureau=bureau)
        self.callbacks = Callbacks()
        s = self.state
        s.quarter = pick(quarter, s.quarters) or s.quarter
        self.quarter_dd = dropdown("Quarter", "rbm-quarter-filter", options=s.quarters, value=s.quarter)
        self.unit_dd = dropdown("Unit", "rbm-unit-filter")
        self.programme_dd = dropdown("Programme", "rbm-programme-filter")
        self.status_dd = dropdown(
            "KPI status",
            "rbm-status-filter",
            value=ALL,
            options=[("All", ALL)] + [(STATUS_LABELS[x], x) for x in KPI_STATUSES],
        )
        self.kpi_dd = dropdown("KPI", "rbm-kpi-filter", min_width="30em")
        self.title = w.HTML()
        self.notice = '<p class="rbm-notice">' + escape_text(notice) + "</p>" if notice else ""
        shown = {n for _, n in bureau_sections.BUREAU_SECTIONS} | {"kpi", "money"} if bureau else {"agenda", "kpi"}
        names = (*SECTIONS, "plan", *sections.UNIT_ONLY, *bureau_sections.BUREAU_ONLY)
        self.outs: dict[str, Any] = {n: Unshown() for n in names}
        self.outs.update({n: w.Output().add_class(f"rbm-{n}") for n in (*shown, "trend", "evidence")})
        self.groups = SectionGroups()
        (
            self.followup_out,
            self.summary_out,
            self.kpi_out,
            self.trend_out,
            self.evidence_out,
            self.risk_out,
            self.money_out,
            self.agenda_out,
            self.top_out,
            self.funding_out,
        ) = (self.outs[name] for name in SECTIONS)
        self.plan_out = self.outs["plan"]
        # long tables: a filter and pages (rbm_utils.serve.tables)
        self.kpi_pager = PagedTable(self.kpi_out, "kpi")
        self.agenda_pager = PagedTable(self.agenda_out, "agenda")
        self.pagers = {"kpi": self.kpi_pager.widget, "agenda": self.agenda_pager.widget}

        s.load(s.quarter, unit)
        self.sync_filters()
        guard = self.callbacks.guard
        self.quarter_dd.observe(guard(self.on_quarter, lambda: s.quarters), names="value")
        self.unit_dd.observe(guard(self.on_unit, s.unit_values), names="value")
        self.programme_dd.observe(guard(self.on_programme, s.programme_values), names="value")
        self.status_dd.observe(guard(self.on_status, s.status_values), names="value")
        self.kpi_dd.observe(guard(self.on_kpi, lambda: [k for _, k in s.kpi_choices()]), names="value")

        drill = [heading("One KPI: trend, evidence and comments"), self.kpi_dd, self.trend_out, self.evidence_out]
        unit_page: list[w.Widget] = []
        for text, name in () if bureau else sections.UNIT_SECTIONS:
            if name in self.pagers:  # a long table: its heading, filter and pages, then the table
                unit_page += [heading(text), self.pagers[name], self.outs[name], *(drill if name == "kpi" else ())]
                self.groups.end_run()
            else:  # the others, heading included: a run in one Output, a section with charts alone
                titled(self.outs[name], text)
                new = self.groups.add(name, alone=name == "summary" or name in ON_DEMAND)
                unit_page += [new] if new is not None else []
        self.widget = w.VBox(
            [
                self.title,
                w.HBox(
                    [self.quarter_dd, self.unit_dd, self.programme_dd, self.status_dd],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
            ]
            + (self.bureau_page(drill) if bureau else unit_page)
        )
        self.widget.add_class("rbm-dashboard")
        self.render()

    def bureau_page(self, drill: list[w.Widget]) -> list[w.Widget]:
        """The overview's sections in the overview notebook's order; the KPIs and their drill-down
        after "Units side by side", money against delivery after "Risks"."""
        page: list[w.Widget] = []
        for text, name in bureau_sections.BUREAU_SECTIONS:
            page += [heading(text), *([self.agenda_pager.widget] if name == "agenda" else []), self.outs[name]]
            if name == "summary":
                page += [heading("KPIs"), self.kpi_pager.widget, self.kpi_out, *drill]
            if name == "risk":
                page += [heading("Money and delivery"), self.money_out]
        return page

    @property
    def ignored(self) -> list[tuple[str, Any]]:
        """Values a browser sent that were not among the options (ignored)."""
        return self.callbacks.ignored

    # ---- widgets follow the state (callbacks silent meanwhile)
    def sync_filters(self) -> None:
        s = self.state
        with self.callbacks.quiet():
            self.quarter_dd.value = s.quarter
            self.unit_dd.options = s.unit_options()
            self.unit_dd.value = s.unit
            self.programme_dd.options = s.programme_options()
            self.programme_dd.value = s.programme
        self.sync_kpi()

    def sync_kpi(self) -> None:
        with self.callbacks.quiet():
            self.kpi_dd.options = self.state.kpi_choices()
            self.kpi_dd.value = self.state.kpi

    # ---- callbacks (value already checked by the guard)
    def on_quarter(self, value: str) -> None:
        if value != self.state.quarter:
            self.state.load(value, self.state.unit)
            self.sync_filters()
            self.render()

    def on_unit(self, value: str) -> None:
        if value != self.state.unit:
            self.state.select_unit(value)
            if self.state.bureau:
                self.sync_kpi()
            else:
                self.sync_filters()
            self.render()

    def on_programme(self, value: str) -> None:
        if value != self.state.programme:
            self.state.programme = value
            self.state.reset_kpi()
            self.sync_kpi()
            self.render()

    def on_status(self, value: str) -> None:
        if value != self.state.status:
            self.state.status = value
            self.state.reset_kpi()
            self.sync_kpi()
            self.render()

    def on_kpi(self, value: str) -> None:
        if value != self.state.kpi:
            self.state.kpi = value
            self.render_kpi()

    # ---- drawing
    def title_html(self) -> str:
        s = self.state
        return (
            f'<h2 class="rbm-title">{escape_text(s.who())}: quarterly review {escape_text(s.quarter)}</h2>'
            f'<p><a href="{escape_text(page_link("index.ipynb", quarter=s.quarter or ""))}">All units</a> · '
            "Figures as published by the quarterly review (frozen snapshot).</p>"
            + downloads.links_html(s.outputs, s.config, s.quarter, data.OVERVIEW if s.bureau else s.unit)
            + (self.approval_html() if not s.bureau and s.unit else "")
            + self.notice
        )

    def approval_html(self) -> str:
        """The unit-quarter's approval state: draft, approved by whom and when, or pending
        escalation with each change beyond the unit's authority and its amount (escaped)."""
        s, cfg = self.state, self.state.config
        return followup.approval_html(
            s.tables.get("approvals"),
            s.tables.get("framework_changes"),
            s.unit or "",
            cfg.authority.bureau_role,
            cfg.currency,
            provenance=s.tables.get("provenance"),
        )

    def render(self) -> None:
        """Redraw every section from the current (validated) state."""
        s = self.state
        if s.quarter is None:
            self.title.value = "<h2>Nothing is published yet.</h2>" + self.notice
            return
        self.title.value = self.title_html()
        figs, names = s.figures(), s.config.action_plan.programmes
        r = s.review()
        if s.bureau:
            parts = bureau_sections.bureau_parts(r, figs["status"])
        else:
            parts = sections.unit_parts(r, figs["status"], s.prepared_figure("toc"))
        for name, items in parts.items():
            show(self.outs[name], *(html(p) if isinstance(p, str) else p for p in items))
        kpi_columns = columns.KPIS_ACROSS_UNITS if s.bureau else columns.KPIS  # a unit's: its notebook's table
        changes, series = s.scoped("changes"), s.tables.get("series")  # readable.kpi_table, worded by page:
        words = lambda rows: readable.with_trends(readable.with_moves(rows, changes), series)  # noqa: E731
        self.kpi_pager.set(plan.named(s.kpis(), names), kpi_columns, "No KPI matches the filters.", words)
        self.render_kpi(figs.get("trend"))
        whole = s.bureau and s.unit == ALL  # the overview of all units: the notebook's grouped tables too
        flags = s.scoped("red_flags", with_programme=False)
        share = signals.red_flag_summary_html(s.scoped("risks", with_programme=False), flags) if s.bureau else ""
        show(
            self.risk_out,
            figs["risks"],
            *([html(share)] if share else []),
            *([html(bureau_sections.risk_groups_html(s.tables))] if whole else []),
            html(table_html(flags, columns.RED_FLAGS, empty="No red flag.")),
            html(table_html(s.scoped("risks", with_programme=False), columns.RISKS)),
            *([html(table_html(s.tables.get("bureau_risks"), columns.BUREAU_RISKS))] if whole else []),
        )
        money = plan.named(s.scoped("money"), names)
        if s.bureau:
            show(
                self.money_out,
                figs["burn"],
                html(table_html(money, columns.MONEY_ACROSS_UNITS, empty="No budget line.")),
            )
        else:
            show(
                self.money_out,
                *(
                    html(p) if isinstance(p, str) else p
                    for p in sections.money_parts(r, figs["burn"], money, s.prepared_figure("flows"))
                ),
            )
        self.render_funding()
        self.render_agenda()
        self.groups.compose(self.outs)

    def render_funding(self) -> None:
        """Funding and partners (the published notebooks' section): the bureau's totals and
        partners across units in the overview of all units, else the unit's (or the chosen unit's)."""
        s = self.state
        keys = ("funding", "partners", "partner_owners", "partners_largest", "partner_concentration")
        if s.bureau and s.unit == ALL:
            tables = {k: s.tables.get(k) for k in (*keys, "resources_by_stage")}
            parts = funding.bureau_parts(tables, s.config.currency)
        else:
            tables = {k: s.scoped(k, with_programme=False) for k in keys}
            fig = None if s.bureau else s.prepared_figure("funding")
            parts = funding.unit_parts(tables, s.config.currency, across_units=s.bureau, figure=fig)
        show(self.funding_out, *(html(p) if isinstance(p, str) else p for p in parts))
        self.render_plan()
        self.render_agenda()

    def render_plan(self) -> None:
        """The overview's work against the Action Plan: the bureau's roll-up by programme, as published."""
        s = self.state
        if not s.bureau:
            return
        from rbm_utils.present import charts  # plotly: the overview only

        frame = plan.rollup(s.tables)
        show(
            self.plan_out,
            html(f'<p class="rbm-note">{escape_text(PLAN_NOTE)}</p>'),
            charts.action_plan(frame, currency=s.config.currency),
            html(table_html(frame, columns.PROGRAMME_ROLLUP, empty="No programme.")),
        )

    def render_agenda(self) -> None:
        """The agenda by rank; in the bureau, the top ten first in their own section, then the rest."""
        s = self.state
        agenda = reports.by_rank(s.scoped("agenda", with_programme=False))
        if s.bureau:
            top = reports.agenda_top(agenda)
            show(self.top_out, html(table_html(top, columns.TOP_AGENDA, empty="Nothing needs the bureau's decision.")))
            agenda = reports.agenda_rest(agenda)
            empty = "Nothing else needs a decision."
        else:
            empty = "Nothing needs a decision."
        cols = columns.BUREAU_AGENDA if s.bureau else columns.AGENDA
        self.agenda_pager.set(agenda, cols, empty)

    def render_kpi(self, fig: Any = None) -> None:
        s = self.state
        if not s.kpi:
            show(self.trend_out, html('<p class="rbm-empty">No KPI matches the filters.</p>'))
            show(self.evidence_out)
            return
        show(self.trend_out, fig if fig is not None else s.kpi_trend())
        show(
            self.evidence_out,
            html(table_html(kpi_evidence(s.actuals, s.kpi_unit(), s.kpi), empty="Nothing reported for this KPI.")),
        )
