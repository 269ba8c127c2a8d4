"""What every chart shares: an empty figure with the house template, the "nothing to show"
message, and short labels.

Figures reference nothing on the internet (no CDN, no web font, no image URL): the template is
a plotly built-in, and plotly.js comes with the page. Plotly renders a subset of HTML in titles,
labels and hover text, so free text goes through :func:`rbm_utils.core.text.escape_text`; hover
text is set with ``hovertext`` (never a ``hovertemplate``, which would expand ``%{...}``
written by an officer).

Example:
    >>> fig = empty_figure(new_figure("<b>KPIs</b>"), "No KPIs.")
    >>> fig.layout.title.text, fig.layout.annotations[0].text
    ('&lt;b&gt;KPIs&lt;/b&gt;', 'No KPIs.')
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

from rbm_utils.core.text import escape_text

#: Template and margins of every figure (a plotly built-in template: nothing is fetched).
TEMPLATE = "plotly_white"
MARGIN: dict[str, int] = dict(l=60, r=30, t=60, b=50)

# The house template is plotly's default in every process that draws our charts (the review
# notebooks' and dashboards' kernels): plotly then adds it, validated once, as a figure is
# written out. Set on each figure instead, it was validated and deep-copied per figure
# (~5 ms of CPU each, ~40 figures a review).
pio.templates.default = TEMPLATE


#: A horizontal legend at the foot of the figure (its container), below the axis labels: plotly
#: widens the bottom margin to fit it, so no tick label or axis title sits over it.
LEGEND_BELOW: dict[str, object] = dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left")


def legend_below(fig: go.Figure, **legend: object) -> go.Figure:
    """``fig`` with its legend below everything (:data:`LEGEND_BELOW`, updated with ``legend``)
    and x-axis margins that grow with their labels.

    >>> legend_below(go.Figure()).layout.legend.yref
    'container'
    """
    fig.update_layout(legend={**LEGEND_BELOW, **legend})
    fig.update_xaxes(automargin=True)
    return fig


def new_figure(title: str | None) -> go.Figure:
    """An empty figure with the house template (plotly's default, :data:`TEMPLATE`, added as the
    figure is written out), margins and (escaped) title.

    >>> new_figure("x").to_dict()["layout"]["template"] == pio.templates[TEMPLATE].to_plotly_json()
    True
    """
    fig = go.Figure()
    fig.update_layout(
        margin=MARGIN,
        title=dict(text=escape_text(title) if title else None),
        hoverlabel=dict(align="left"),
    )
    return fig


def empty_figure(fig: go.Figure, message: str) -> go.Figure:
    """``fig`` saying ``message`` in its middle, without axes (a chart with nothing to draw)."""
    fig.add_annotation(
        text=escape_text(message),
        showarrow=False,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        font=dict(size=14, color="#555"),
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def shorten(text: str, n: int = 28) -> str:
    """Plain text cut to ``n`` characters with an ellipsis (escape afterwards).

    >>> shorten("Regional workshops on cybersecurity", 12)
    'Regional wo…'
    """
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"
