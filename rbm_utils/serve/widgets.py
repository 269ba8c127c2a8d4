"""What every dashboard page shares: HTML and figure outputs, badges, and guarded widget callbacks.

A browser can send any value over a widget's comm, so a page never observes a widget directly:
:class:`Callbacks` wraps each handler so that it runs only with a value among the options the
page offered (:func:`rbm_utils.serve.params.pick`), stays silent while the page itself changes
options and values (:meth:`Callbacks.quiet`), and records what it ignored.

HTML given to :func:`html` must already be escaped by its maker; badges escape their text.

Example:
    >>> badge("3 red flags", "#D55E00").count("3 red flags")
    1
    >>> out = titled(w.Output(), "Risks & issues")
    >>> show(out, html("<p>none</p>")); [o["data"]["text/html"] for o in out.outputs]
    ['<h3>Risks &amp; issues</h3>', '<p>none</p>']
    >>> calls = Callbacks()
    >>> on_unit = calls.guard(lambda v: print("unit", v), lambda: ["AFR", "CYB"], "on_unit")
    >>> on_unit({"new": "CYB"}); on_unit({"new": "../etc"})
    unit CYB
    >>> calls.ignored
    [('on_unit', '../etc')]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as w
from IPython.display import HTML

from rbm_utils.core.text import escape_text
from rbm_utils.present.labels import text_color
from rbm_utils.serve.params import pick

log = logging.getLogger(__name__)

#: plotly renderer inside a Voila kernel: the figure JSON goes to the page, plotly.js comes from
#: the jupyterlab-plotly extension served by Voila itself (no CDN, no 5 MB per figure).
RENDERER = "plotly_mimetype"
#: The MIME type the page's plotly extension draws.
FIGURE_MIME = "application/vnd.plotly.v1+json"
#: Drop-down style of every filter.
FILTER_STYLE: dict[str, str] = {"description_width": "initial"}


class PlotlyJSON(dict):
    """A figure as plotly JSON (``data`` and ``layout``), e.g. as the published review notebook
    drew it (``figures.json``, :mod:`rbm_utils.publish.figures`): shown as it is, with no plotly
    import or validation in the page's kernel."""


def html(markup: str) -> HTML:
    """Displayable HTML (``markup`` already escaped by its maker)."""
    return HTML(markup)


def badge(text: str, color: str) -> str:
    """A small coloured label; ``text`` is escaped (the words carry the status, the colour only
    repeats it), ``color`` must come from our own maps; the text is black or white, whichever
    reads better on it."""
    return (
        f'<span class="rbm-badge" style="display:inline-block;padding:1px 7px;margin:1px;border-radius:9px;'
        f'color:{text_color(color)};background:{color};font-size:0.85em">{escape_text(text)}</span>'
    )


def heading_html(text: str) -> str:
    """A section heading's markup (text escaped)."""
    return "<h3>" + escape_text(text) + "</h3>"


def heading(text: str) -> w.HTML:
    """A section heading widget (text escaped)."""
    return w.HTML(heading_html(text))


def titled(out: Any, text: str) -> Any:
    """``out`` showing its section's heading (``text``, escaped) above what :func:`show` gives it:
    one widget per section instead of two (each widget is a model and views the browser builds)."""
    out.rbm_heading = heading_html(text)
    return out


class Unshown:
    """Where a page keeps a section that has no widget of its own: a section it does not show
    (e.g. the overview's sections on a unit's page), or one shown with its neighbours in one
    Output (:mod:`rbm_utils.serve.grouped`). What :func:`show` gives it is kept, no widget is made."""

    def __init__(self) -> None:
        self.outputs: tuple[dict, ...] = ()


def output_item(item: Any) -> dict:
    """One display output for an ``ipywidgets.Output``: a plotly figure as its JSON (rendered by
    the page's own plotly extension, :data:`RENDERER`), or HTML (already escaped by its maker).

    Setting ``Output.outputs`` directly avoids ``with out:`` capture, whose output routing
    depends on the kernel's parent message and interleaves with execution.
    """
    if isinstance(item, PlotlyJSON):
        data = {FIGURE_MIME: {"data": item["data"], "layout": item["layout"]}, "text/plain": "(figure)"}
    elif hasattr(item, "to_plotly_json"):
        import plotly.io as pio  # a figure drawn in the page (a filter changed)

        data = pio.renderers[RENDERER].to_mimebundle(item.to_dict())
        data["text/plain"] = "(figure)"
    else:
        markup = item.data if hasattr(item, "data") else str(item)
        data = {"text/html": markup, "text/plain": "(table)"}
    return {"output_type": "display_data", "data": data, "metadata": {}}


def show(out: w.Output | Unshown, *items: Any) -> None:
    """Replace what an Output widget shows (figures and HTML), without capturing kernel output;
    a :func:`titled` Output shows its heading first."""
    head = getattr(out, "rbm_heading", "")
    out.outputs = tuple(output_item(item) for item in ((html(head),) if head else ()) + items)


def dropdown(
    description: str, css_class: str, *, options: Sequence[Any] = (), value: Any = None, min_width: str = "12em"
) -> w.Dropdown:
    """A filter drop-down with the house style and a CSS class the browser tests find it by."""
    dd = w.Dropdown(
        description=description,
        options=list(options),
        style=FILTER_STYLE,
        layout=w.Layout(width="auto", min_width=min_width),
    )
    if value is not None:
        dd.value = value
    dd.add_class(css_class)
    return dd


class Callbacks:
    """The guarded callbacks of one page: values checked against the offered options, silence
    while the page updates its own widgets, and a record of what was ignored."""

    def __init__(self) -> None:
        self.ignored: list[tuple[str, Any]] = []
        self.busy = False

    def guard(
        self, handler: Callable[[str], None], allowed: Callable[[], Sequence[str]], name: str | None = None
    ) -> Callable[[dict], None]:
        """A widget observer that calls ``handler`` with the offered option equal to the new value,
        and ignores (and records) anything else."""
        label: str = name or str(getattr(handler, "__name__", "callback"))

        def callback(change: dict) -> None:
            if self.busy:
                return
            value = pick(change.get("new"), list(allowed()))
            if value is None:
                self.ignored.append((label, change.get("new")))
                log.warning("dashboard: ignored a value not among the options of %s", label)
                return
            handler(value)

        return callback

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Programmatic changes of options and values: the callbacks stay silent."""
        self.busy = True
        try:
            yield
        finally:
            self.busy = False
