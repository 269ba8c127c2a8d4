"""The bureau overview opens with the ten agenda items that most need the bureau's decision,
in the published notebook and on the dashboard, from the published agenda.parquet."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_serve import CFG, published_site

from rbm_utils.core.text import untypeset
from rbm_utils.present import columns
from rbm_utils.present.reports import table_html
from rbm_utils.serve.pages import overview, review


@pytest.fixture(scope="module")
def site(sample_bureau, tmp_path_factory):
    return published_site(sample_bureau, tmp_path_factory)


def test_published_agenda_has_score_and_bureau_rank(site):
    ag = pd.read_parquet(site["outputs"] / site["quarter"] / "overview" / "agenda.parquet")
    assert {"score", "rank", "carried_over"} <= set(ag.columns)
    assert sorted(ag["rank"].tolist()) == list(range(1, len(ag) + 1))
    by_rank = ag.sort_values("rank")
    assert by_rank["score"].is_monotonic_decreasing


def test_overview_opens_with_the_top_ten(site):
    q = site["quarter"]
    folder = site["outputs"] / q / "overview"
    ag = pd.read_parquet(folder / "agenda.parquet").sort_values("rank").reset_index(drop=True)
    top = ag.head(10).reset_index(drop=True)
    expected = table_html(top, columns.TOP_AGENDA, empty="Nothing needs the bureau's decision.")
    ov = overview.page(site["outputs"], CFG, f"quarter={q}")
    assert ov.top_out.outputs[0]["data"]["text/html"] == expected
    # first section after the title (the notice in it) and filters
    children = ov.widget.children
    assert review.TOP_HEADING in children[2].value and children[3] is ov.top_out
    # the published notebook: the first code cell after the header shows the same top ten
    nb = json.loads((folder / "bdt_overview.ipynb").read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    header = next(i for i, c in enumerate(code) if "reports.header(r)" in "".join(c["source"]))
    first = code[header + 1]
    assert "agenda_top" in "".join(first["source"])
    shown = "".join("".join(o.get("data", {}).get("text/html", "")) for o in first["outputs"])
    assert shown == untypeset(expected)  # the same table, in the element that keeps MathJax off it
