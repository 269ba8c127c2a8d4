"""Funding and partners sections: what a review notebook and a dashboard show, from the
published tables only (hand-built tables; the sample's run is in tests/serve/test_funding_pages.py)."""

from __future__ import annotations

import pandas as pd

from rbm_utils.analytics import funding as fa
from rbm_utils.analytics import partners as pa
from rbm_utils.core import schema
from rbm_utils.present import charts, funding
from rbm_utils.present.reports import table_html


def _tables() -> dict[str, pd.DataFrame]:
    results = pd.DataFrame(
        [("AFR", "O1", "output", "<b>CIRTs</b>", "AFR3"), ("CYB", "C1", "output", "Toolkit", None)],
        columns=["unit_code", "result_id", "level", "title", "initiative"],
    )
    budget = pd.DataFrame(
        [("AFR", "O1", "Regular budget", 2026, 600.0), ("AFR", "O1", "Donor", 2026, 400.0)],
        columns=["unit_code", "result_id", "funding_source", "year", "amount"],
    )
    partners = pd.DataFrame(
        [
            ("AFR", "EU <script>", "O1", "agreement_signed", 100.0, "Ana"),
            ("AFR", "GSMA", "O1", "pledged", 200.0, "Ben"),
            ("CYB", "EU <script>", "C1", "received", 50.0, None),
        ],
        columns=["unit_code", "partner", "result_id", "stage", "amount", "owner"],
    )
    frames = {"Results": results, "Budget": budget, "Partners": partners}
    state = {k: schema.conform(k, v, with_unit=True) for k, v in frames.items()}
    units = pa.partner_units(state, "2026-Q3")
    return {
        "funding": fa.funding_framework(state, "2026-Q3"),
        "partners": units,
        "partners_largest": pa.largest_partners(units),
        "partner_concentration": pa.concentration(units),
        "partner_owners": pa.owner_pipeline(state),
        "resources_by_stage": pa.resources_by_stage(state),
    }


def test_unit_section_shows_the_gap_per_output_and_the_pipeline():
    t = {k: v[v["unit_code"] == "AFR"] if "unit_code" in v else v for k, v in _tables().items()}
    fig, outputs, initiatives, partners, owners = funding.unit_parts(t, "CHF")
    assert [tr.name for tr in fig.data][-2:] == ["Funding gap", "Pipeline (weighted)"]
    gap = next(tr for tr in fig.data if tr.name == "Funding gap")
    assert list(gap.x) == ["O1"] and list(gap.y) == [300.0]  # 1000 required - 700 secured
    assert "<th>gap</th>" in outputs and "<td>300.00</td><td>140.00</td><td>160.00</td>" in outputs
    assert "All outputs" in outputs and "&lt;b&gt;CIRTs&lt;/b&gt;" in outputs  # escaped title
    assert "AFR3" in initiatives
    assert "EU &lt;script&gt;" in partners and "<script>" not in partners
    assert "Ben" in owners and "2026-" not in owners.split("Ana")[0]


def test_bureau_section_shows_totals_stages_and_partner_by_unit():
    parts = funding.bureau_parts(_tables(), "CHF")
    fig_units, units, fig_stages, stages, matrix, largest, conc, owners = parts
    assert list(next(tr for tr in fig_units.data if tr.name == "Required").x) == ["AFR", "CYB"]
    assert "All units" in units and "All units" in stages and "All units" in conc
    assert [tr.name for tr in fig_stages.data] == [
        "Prospect",
        "Proposal submitted",
        "Pledged",
        "Agreement signed",
        "Received",
    ]
    # the partner x unit view: one column per unit, secured + pipeline
    assert "<th>AFR</th><th>CYB</th><th>total</th>" in matrix
    m = funding.partner_matrix(_tables()["partners"]).set_index("partner")
    assert m.loc["EU <script>", ["AFR", "CYB", "total"]].tolist() == [100.0, 50.0, 150.0]
    assert m.loc["GSMA", "AFR"] == 200.0
    assert "<script>" not in "".join([units, stages, matrix, largest, conc, owners])


def test_sections_say_so_when_nothing_is_published():
    empty = {}
    fig, *tables = funding.unit_parts(empty)
    assert fig.layout.annotations[0].text == funding.NO_FUNDING
    assert all('class="rbm-empty"' in t for t in tables)
    fig_u, *rest = funding.bureau_parts(empty)
    assert fig_u.layout.annotations and charts.resources_by_stage(pd.DataFrame()).layout.annotations
    assert table_html(funding.units(None)) == table_html(pd.DataFrame())
