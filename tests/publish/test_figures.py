"""The figures a review notebook drew, kept for the dashboards (rbm_utils.publish.figures)."""

from __future__ import annotations

import json

from rbm_utils.publish.figures import FIGURE_KEY, FIGURE_MIME, FIGURES_FILE, notebook_figures, write_figures


def _fig(title: str) -> dict:
    return {"data": [{"type": "bar", "y": [1]}], "layout": {"title": {"text": title}}}


def _cell(name: str | None, *outputs: dict, kind: str = "code") -> dict:
    meta = {FIGURE_KEY: name} if name is not None else {}
    return {"cell_type": kind, "metadata": meta, "outputs": list(outputs)}


def _shown(fig: dict) -> dict:
    return {"output_type": "display_data", "data": {FIGURE_MIME: fig, "text/plain": "Figure"}}


def test_marked_cells_give_their_figures_in_order_and_others_are_left_out():
    nb = {
        "cells": [
            _cell("status", _shown(_fig("KPI status"))),
            _cell(None, _shown(_fig("unmarked"))),
            _cell("trends", _shown(_fig("K1: a")), {"output_type": "stream", "text": "x"}, _shown(_fig("K2: b"))),
            _cell("empty"),  # marked, drew nothing: no entry
            _cell("markdown", kind="markdown"),
        ]
    }
    figs = notebook_figures(nb)
    assert list(figs) == ["status", "trends"]
    assert [f["layout"]["title"]["text"] for f in figs["trends"]] == ["K1: a", "K2: b"]
    assert figs["status"][0] == _fig("KPI status")


def test_the_file_is_written_only_for_a_notebook_with_marked_charts(tmp_path):
    assert write_figures({"cells": [_cell(None, _shown(_fig("x")))]}, tmp_path) is None
    assert not (tmp_path / FIGURES_FILE).exists()
    path = write_figures({"cells": [_cell("risks", _shown(_fig("Open risks")))]}, tmp_path)
    assert path == tmp_path / FIGURES_FILE
    assert json.loads(path.read_text(encoding="utf-8")) == {"risks": [_fig("Open risks")]}


def test_the_unit_review_marks_every_chart_the_dashboard_shows():
    from rbm_utils.core.config import PROJECT_ROOT

    nb = json.loads((PROJECT_ROOT / "notebooks" / "quarterly_review.ipynb").read_text(encoding="utf-8"))
    marked = [c["metadata"].get(FIGURE_KEY) for c in nb["cells"] if c["metadata"].get(FIGURE_KEY)]
    assert marked == ["status", "toc", "trends", "risks", "burn", "flows", "funding"]
