"""A unit's page with few widgets: runs of sections in one Output each, their charts drawn when asked.

Every widget is a model the page's kernel sends and views the reader's browser builds, and every
chart is plotly.js drawing in the browser: on a unit's review that work, not the tables, made
the page slower than it needs to be. So the sections without controls of their own are shown
together, a run of them in one ``Output`` (:class:`SectionGroups`): each section keeps its
heading, its tables and its CSS class ``rbm-<name>`` (a ``div`` around its HTML, :func:`grouped`);
a section with charts has an Output of its own (class ``rbm-<name>``).
A chart of the evidence sections (:data:`ON_DEMAND`) stands where it belongs as a button
"Show the chart: <its title>" (:class:`ChartSlot`); pressing it (mouse or keyboard) draws the
chart there (the page's script, ``rbm-dashboards.js``, presses it when it scrolls into view),
and it stays drawn while the reader changes the filters. What each section holds is kept per
section (``dash.outs[name].outputs``, the charts included), as before.

Example:
    >>> from rbm_utils.serve.widgets import output_item, html, PlotlyJSON
    >>> fig = output_item(PlotlyJSON(data=[], layout={"title": {"text": "Open risks"}}))
    >>> groups = SectionGroups({"risk"})
    >>> out = groups.add("risk", alone=True)
    >>> groups.compose({"risk": type("S", (), {"outputs": (output_item(html("<h3>Risks</h3>")), fig)})})
    >>> [sorted(o["data"]) for o in out.outputs]
    [['text/html', 'text/plain'], ['application/vnd.jupyter.widget-view+json', 'text/plain']]
    >>> slot = groups.slots[("risk", 0)]
    >>> slot.button.description, slot.out.outputs[0]["data"]["text/plain"]
    ('Show the chart: Open risks', '(button)')
    >>> slot.button.click(); slot.out.outputs == (fig,)
    True
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import ipywidgets as w

from rbm_utils.serve.widgets import FIGURE_MIME, html, output_item

#: Sections of a unit's page whose charts are drawn when the reader asks: the evidence below the
#: decisions (theory of change, risks, money, funding). The summary's chart and the KPI trend
#: are drawn with the page.
ON_DEMAND = frozenset({"toc", "risk", "money", "funding"})
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def widget_item(widget: w.Widget, text: str) -> dict:
    """A display output showing ``widget`` inside an Output widget."""
    view = {"model_id": widget.model_id, "version_major": 2, "version_minor": 0}
    return {"output_type": "display_data", "data": {WIDGET_VIEW: view, "text/plain": text}, "metadata": {}}


def chart_title(item: dict) -> str:
    """The title of a chart's display output ('' if none).

    >>> chart_title({"data": {FIGURE_MIME: {"layout": {"title": {"text": "Where the money goes"}}}}})
    'Where the money goes'
    """
    title = item["data"].get(FIGURE_MIME, {}).get("layout", {}).get("title")
    return str(title.get("text") or "") if isinstance(title, dict) else str(title or "")


class ChartSlot:
    """Where one chart of the page stands: a button until the reader asks, then the chart."""

    def __init__(self) -> None:
        self.button = w.Button(layout=w.Layout(width="auto"))
        self.button.add_class("rbm-show-chart")
        self.out = w.Output()
        self.out.add_class("rbm-chart")
        self.opened = False
        self.figure: dict | None = None
        self.button.on_click(lambda _button: self.open())

    def set(self, figure: dict) -> None:
        """The chart this slot holds now (as the page drew it)."""
        self.figure = figure
        title = chart_title(figure)
        self.button.description = f"Show the chart: {title}" if title else "Show the chart"
        self.draw()

    def open(self) -> None:
        self.opened = True
        self.draw()

    def draw(self) -> None:
        shown = (self.figure,) if self.opened and self.figure is not None else (widget_item(self.button, "(button)"),)
        if self.out.outputs != shown:
            self.out.outputs = shown


def grouped(
    sections: Sequence[tuple[str, Sequence[dict]]], chart: Callable[[str, int, dict], dict], wrap: bool = True
) -> tuple[dict, ...]:
    """The display outputs of several sections (name, outputs) for one Output widget, in order:
    each run of a section's consecutive HTML outputs becomes one, inside ``<div class="rbm-<name>">``
    (``wrap``; else as it is); the ``i``-th chart of a section is what ``chart(name, i, item)`` gives.

    >>> table = output_item(html("<table></table>"))
    >>> out = grouped([("risk", [output_item(html("<h3>Risks</h3>")), table]), ("money", [table])], lambda n, i, o: o)
    >>> [o["data"]["text/html"] for o in out]
    ['<div class="rbm-risk"><h3>Risks</h3><table></table></div>', '<div class="rbm-money"><table></table></div>']
    """
    items: list[dict] = []
    for name, outputs in sections:
        run: list[str] = []
        charts = 0
        for o in [*outputs, None]:
            markup = o["data"].get("text/html") if o is not None and FIGURE_MIME not in o["data"] else None
            if markup is not None:
                run.append(markup)
                continue
            if run:
                markup = "".join(run)
                items.append(output_item(html(f'<div class="rbm-{name}">{markup}</div>' if wrap else markup)))
                run = []
            if o is not None:
                items.append(chart(name, charts, o))
                charts += 1
    return tuple(items)


class SectionGroups:
    """The Outputs that each show a run of a page's sections (:meth:`add`, then :meth:`compose`
    after every drawing); the charts of ``on_demand`` sections in :class:`ChartSlot` s."""

    def __init__(self, on_demand: Collection[str] = ON_DEMAND) -> None:
        self.on_demand = set(on_demand)
        #: (Output, its sections, a section alone in it)
        self.groups: list[tuple[w.Output, list[str], bool]] = []
        self.slots: dict[tuple[str, int], ChartSlot] = {}
        self.open_run = False

    def add(self, name: str, alone: bool = False) -> w.Output | None:
        """Section ``name`` next: in the current run, or a new run whose Output is returned (to
        place); ``alone``: in an Output of its own (class ``rbm-<name>``), e.g. a section with charts."""
        new = None
        if alone or not self.open_run:
            new = w.Output()
            new.add_class(f"rbm-{name}" if alone else "rbm-sections")
            self.groups.append((new, [], alone))
        self.groups[-1][1].append(name)
        self.open_run = not alone
        return new

    def end_run(self) -> None:
        """Something else comes on the page: the next section starts a new run."""
        self.open_run = False

    def chart(self, name: str, i: int, item: dict) -> dict:
        if name not in self.on_demand:
            return item
        slot = self.slots.setdefault((name, i), ChartSlot())
        slot.set(item)
        return widget_item(slot.out, "(chart)")

    def compose(self, outs: Mapping[str, Any]) -> None:
        """Each run's Output shows its sections as they were drawn (``outs[name].outputs``)."""
        for out, names, alone in self.groups:  # a section alone in its Output needs no div
            shown = grouped([(name, outs[name].outputs) for name in names], self.chart, wrap=not alone)
            if out.outputs != shown:
                out.outputs = shown
