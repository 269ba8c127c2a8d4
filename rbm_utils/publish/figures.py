"""The figures a review notebook drew, kept beside it as plotly JSON for the dashboards.

A chart cell of a review notebook carries the cell metadata ``"rbm_figure": "<name>"``
(``notebooks/quarterly_review.ipynb``: ``status``, ``toc``, ``trends``, ``risks``, ``burn``,
``flows``, ``funding``). After a run, the job writes the plotly JSON each such cell displayed
into ``figures.json`` beside the executed notebook (the staging folder, published with it in
one atomic swap): ``{"<name>": [figure, ...]}``, one figure per chart the cell drew, in order.
The dashboard then shows the very figures of the published review without building them again
(plotly's figure validation is most of a page's kernel time); any filter other than the
defaults still draws from the published tables.

Example:
    >>> cell = {"cell_type": "code", "metadata": {"rbm_figure": "status"},
    ...         "outputs": [{"output_type": "display_data",
    ...                      "data": {FIGURE_MIME: {"data": [], "layout": {"title": {"text": "KPIs"}}}}}]}
    >>> figs = notebook_figures({"cells": [cell, {"cell_type": "markdown", "metadata": {}}]})
    >>> list(figs), figs["status"][0]["layout"]["title"]["text"]
    (['status'], 'KPIs')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rbm_utils.core.files import atomic_write_bytes

#: The published file, beside the review notebook.
FIGURES_FILE = "figures.json"
#: The cell metadata key naming a chart cell's figures.
FIGURE_KEY = "rbm_figure"
#: The MIME type of a plotly figure in a notebook's outputs.
FIGURE_MIME = "application/vnd.plotly.v1+json"


def notebook_figures(nb: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """``{name: [figure JSON, ...]}`` of an executed notebook's cells marked ``rbm_figure``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for cell in nb.get("cells", []):
        name = (cell.get("metadata") or {}).get(FIGURE_KEY)
        if cell.get("cell_type") != "code" or not isinstance(name, str) or not name:
            continue
        for o in cell.get("outputs", []):
            fig = (o.get("data") or {}).get(FIGURE_MIME)
            if isinstance(fig, Mapping) and "data" in fig and "layout" in fig:
                out.setdefault(name, []).append({"data": fig["data"], "layout": fig["layout"]})
    return out


def write_figures(nb: Mapping[str, Any], folder: Path) -> Path | None:
    """Write :data:`FIGURES_FILE` into ``folder`` when the notebook has marked chart cells."""
    figs = notebook_figures(nb)
    if not figs:
        return None
    text = json.dumps(figs, ensure_ascii=False, separators=(",", ":"))  # compact: read on every page view
    return atomic_write_bytes(Path(folder) / FIGURES_FILE, text.encode("utf-8"))
