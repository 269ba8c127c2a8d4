"""Funding and partners on the published sample: AFR's review (notebook and dashboard) shows the
funding gap per output and the pipeline that could close it; the overview shows the bureau's
totals, resources by stage across units and the partner x unit view, from the published tables."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_serve import CFG, published_site

from rbm_utils.present import columns, funding
from rbm_utils.present.reports import table_html
from rbm_utils.serve.pages import overview
from rbm_utils.serve.pages import unit as unit_page

HTML = "text/html"


@pytest.fixture(scope="module")
def site(sample_bureau, tmp_path_factory):
    return published_site(sample_bureau, tmp_path_factory)


def _nb_html(path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "".join("".join(o.get("data", {}).get(HTML, "")) for c in nb["cells"] for o in c.get("outputs", []))


def test_published_funding_and_partner_tables(site):
    q = site["quarter"]
    f = pd.read_parquet(site["outputs"] / q / "AFR" / "funding.parquet")
    need = {"result_id", "initiative", "required", "secured", "received", "spent", "gap", "weighted_pipeline"}
    assert need <= set(f.columns) and set(f["unit_code"]) == {"AFR"}
    assert {"output", "unit"} <= set(f["level"]) and (f["gap"] >= 0).all()
    o = pd.read_parquet(site["outputs"] / q / "overview" / "funding.parquet")
    assert (o["level"] == "bureau").sum() == 1
    p = pd.read_parquet(site["outputs"] / q / "overview" / "partners.parquet")
    assert {"partner", "unit_code", "secured", "pipeline"} <= set(p.columns) and len(p)


def test_unit_review_shows_the_gap_per_output_and_the_pipeline(site):
    q = site["quarter"]
    dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR")
    published = pd.read_parquet(site["outputs"] / q / "AFR" / "funding.parquet")
    expected = table_html(funding.outputs(published), columns.FUNDING, empty=funding.NO_FUNDING)
    shown = [o["data"] for o in dash.funding_out.outputs]
    assert any(d.get(HTML) == expected for d in shown)
    assert "<th>gap</th>" in expected and "<th>weighted pipeline</th>" in expected
    # the published notebook shows the same per-output table (the unit page uses its column set)
    nb = _nb_html(site["outputs"] / q / "AFR" / "quarterly_review.ipynb")
    assert expected in nb


def test_overview_shows_totals_stages_and_partner_by_unit(site):
    q = site["quarter"]
    folder = site["outputs"] / q / "overview"
    ov = overview.page(site["outputs"], CFG, f"quarter={q}")
    shown = "".join(o["data"].get(HTML, "") for o in ov.funding_out.outputs)
    matrix = table_html(funding.partner_matrix(pd.read_parquet(folder / "partners.parquet")), empty=funding.NO_PARTNER)
    stages = table_html(
        funding.by_unit(pd.read_parquet(folder / "resources_by_stage.parquet")),
        columns.RESOURCES_BY_STAGE,
        empty=funding.NO_PARTNER,
    )
    assert matrix in shown and stages in shown and "All units" in shown
    nb = _nb_html(folder / "bdt_overview.ipynb")
    assert matrix in nb and stages in nb
