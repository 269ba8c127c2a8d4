"""The static HTML copy of an executed review notebook: outputs only, offline, no code.

Plotly figures (plotly's mimetype output) are rendered by :func:`plotly.io.to_html` into
``<div id="rbm-plotly-<n>">`` elements. plotly.js comes once, before the first figure: in the
batch, as a ``<script src>`` with the relative path of the quarter's plotly.js asset
(:mod:`rbm_utils.publish.assets`), otherwise inlined. The page loads nothing from the network
(no require.js, MathJax or mermaid CDN links).

Example:
    >>> import nbformat.v4 as v4
    >>> nb = v4.new_notebook(cells=[v4.new_code_cell("print('hi')",
    ...     outputs=[v4.new_output("stream", name="stdout", text="hello manager\\n")])])
    >>> html = notebook_to_html(nb, title="AFR")
    >>> "hello manager" in html, "print(" in html, "plotly.js v" in html
    (True, False, False)
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import jinja2
import plotly.io as pio

from rbm_utils.publish.jobs import SENTINEL, output_text

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: Figure ``n`` of a page (from 0) is drawn in the element of this id.
FIGURE_ID = "rbm-plotly-{}"

_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
"""


def figure_html(figure: dict[str, Any], index: int, plotly_js: str | None = None) -> str:
    """One plotly figure (its JSON as a dict) as an HTML fragment drawn in ``rbm-plotly-<index>``;
    the first figure of a page (``index`` 0) brings plotly.js -- a ``<script src="plotly_js">``
    (a relative URL ending in ``.js``), or inlined when ``plotly_js`` is None -- the others rely on it.

    >>> html = figure_html({"data": [{"type": "bar", "y": [1, 2]}], "layout": {}}, 1)
    >>> 'id="rbm-plotly-1"' in html, "Plotly.newPlot(" in html, "plotly.js v" in html
    (True, True, False)
    >>> html = figure_html({"data": [{"type": "bar", "y": [1, 2]}]}, 0, "../assets/plotly-4.min.js")
    >>> 'src="../assets/plotly-4.min.js"' in html, "plotly.js v" in html
    (True, False)
    """
    include: bool | str = False
    if index == 0:
        include = plotly_js if plotly_js else True
    fig = {key: figure[key] for key in ("data", "layout", "frames") if figure.get(key)}
    return pio.to_html(
        fig,
        config=figure.get("config") or None,
        auto_play=False,
        include_plotlyjs=include,
        full_html=False,
        div_id=FIGURE_ID.format(index),
        validate=False,
    )


def _strip_outputs(nb: Any, plotly_js: str | None = None) -> None:
    """In place: drop stderr, widget views and the sentinel line; figures become HTML."""
    figures = 0
    code_cells = [c for c in nb.cells if c.get("cell_type") == "code"]
    for cell in code_cells:
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                if out.get("name") == "stderr":
                    continue
                if cell is code_cells[-1] and SENTINEL in output_text(out):
                    rest = output_text(out).replace(SENTINEL + "\n", "").replace(SENTINEL, "")
                    if not rest.strip():
                        continue
                    out["text"] = rest
            data = out.get("data")
            if data:
                data.pop(WIDGET_MIME, None)
                if PLOTLY_MIME in data:
                    out["data"] = {"text/html": figure_html(data[PLOTLY_MIME], figures, plotly_js)}
                    figures += 1
                if not out["data"]:
                    continue
            kept.append(out)
        cell["outputs"] = kept


@functools.cache
def _exporter() -> Any:
    """The page exporter, built once per process (its templates and style sheet are loaded on
    first use: the warm job server does it once for every job, :func:`warm`)."""
    # nbconvert takes half a second to import: only the job's process, which renders, pays it
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"rbm_offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="rbm_offline.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )


def notebook_to_html(nb: Any, title: str = "Review", plotly_js: str | None = None) -> str:
    """A static HTML page of an executed notebook, without any code.

    Code inputs and prompts are excluded; stderr streams, widget views and the sentinel
    line are dropped; plotly figures become :func:`figure_html` fragments (plotly.js once,
    before the first figure: loaded from ``plotly_js``, a relative URL, or inlined when None).
    The page loads nothing from the network. Does not modify ``nb``.
    """
    nb = copy.deepcopy(nb)
    _strip_outputs(nb, plotly_js)
    body, _ = _exporter().from_notebook_node(nb, resources={"metadata": {"name": title}})
    return str(body)


def warm() -> None:
    """Load once what every page export needs (nbconvert's templates and style sheet, plotly's
    default theme) by exporting a one-figure page: run by the warm job server before it forks
    the job processes, which then export without loading them again.

    >>> warm()
    """
    import nbformat.v4 as v4

    figure = {"data": [{"type": "bar", "y": [1, 2]}], "layout": {}}
    cell = v4.new_code_cell("", outputs=[v4.new_output("display_data", data={PLOTLY_MIME: figure})])
    notebook_to_html(v4.new_notebook(cells=[cell]), plotly_js="plotly.min.js")
