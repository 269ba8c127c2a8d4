"""The unit page's sections (rbm_utils.serve.pages.sections): every section of the unit's review
notebook is on the page, in decision-first order, and each shows the published tables with the
notebook's own calls. Fast: hand-built tables and an empty outputs folder (the sample-based
section-by-section comparison with a published notebook is in test_dashboard.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rbm_utils.core.config import load_config
from rbm_utils.serve.pages import review, sections

CFG = load_config()
ROOT = Path(__file__).resolve().parent.parent.parent
EVIL = "<img src=x onerror=alert(1)>"


def notebook_headings(name: str) -> list[str]:
    """The section headings (``## ...``) of a review notebook, in order."""
    nb = json.loads((ROOT / "notebooks" / name).read_text(encoding="utf-8"))
    return [
        line[3:].strip()
        for c in nb["cells"]
        if c["cell_type"] == "markdown"
        for line in "".join(c["source"]).splitlines()
        if line.startswith("## ")
    ]


def test_every_section_of_the_unit_notebook_is_a_section_of_the_unit_page():
    headings = notebook_headings("quarterly_review.ipynb")
    assert len(headings) >= 18
    page = [h for h, _ in sections.UNIT_SECTIONS]
    assert [h for h in headings if h not in page] == []
    assert len(page) == len(set(page)) == len(headings)


def test_the_unit_page_opens_with_its_agenda_then_summary_and_statement_then_the_evidence(tmp_path):
    dash = review.ReviewDashboard(tmp_path, CFG)  # nothing published: the layout alone
    runs = {id(out): names for out, names, _alone in dash.groups.groups}  # sections shown together
    shown = []
    for c in dash.widget.children:  # a heading of its own, or those of the sections of one Output
        if str(getattr(c, "value", "")).startswith("<h3>"):
            shown.append(c.value)
        shown += [dash.outs[name].rbm_heading for name in runs.get(id(c), [])]
    assert shown[:3] == ["<h3>Review agenda</h3>", "<h3>Summary</h3>", "<h3>Results statement</h3>"]
    assert shown.index("<h3>KPIs</h3>") + 1 == shown.index("<h3>One KPI: trend, evidence and comments</h3>")
    assert [s.removeprefix("<h3>").removesuffix("</h3>") for s in shown if "One KPI" not in s] == [
        h for h, _ in sections.UNIT_SECTIONS
    ]
    assert "Nothing is published yet." in dash.title.value


def _tables() -> dict[str, pd.DataFrame]:
    progress = pd.DataFrame(
        {
            "unit_code": ["AFR", "AFR"],
            "kpi_id": ["K1", "K2"],
            "level": ["output", "impact"],
            "name": [EVIL, "Reach"],
            "status": ["on_track", "off_track"],
            "why": ["", "Officer: " + EVIL],
        }
    )
    return {
        "progress": progress,
        "statement": pd.DataFrame({"statement": [f"## Results\n\n- **Done** {EVIL}"]}),
        "stalls": pd.DataFrame(
            {
                "unit_code": ["AFR"],
                "source": ["O1"],
                "target": ["I1"],
                "message": [EVIL],
                "target_status": ["off_track"],
            }
        ),
        "changes": pd.DataFrame(
            {
                "unit_code": ["AFR", "AFR"],
                "kind": ["kpi_status", "kpi_status"],
                "item_id": ["K2", "K1"],
                "title": [EVIL, "x"],
                "previous": ["on_track", "on_track"],
                "current": ["off_track", "on_track"],
                "direction": ["worse", "same"],
            }
        ),
        "scaleup": pd.DataFrame(
            {"theme": ["t"], "initiative": ["I"], "source_units": ["EUR; AFR"], "target_region": ["ARB"]}
        ),
        "synergies": pd.DataFrame({"unit_a": ["AFR", "CYB"], "unit_b": ["CYB", "EUR"], "n_shared": [2, 9]}),
    }


def test_unit_parts_show_every_section_from_the_tables_escaped():
    r = sections.review_of(
        _tables(), CFG, "2026-Q3", "AFR", units=pd.DataFrame({"unit_code": ["AFR"], "quarter": ["2026-Q3"]})
    )
    parts = sections.unit_parts(r)
    assert set(sections.UNIT_ONLY) <= set(parts) and {"summary", "followup"} <= set(parts)
    markup = {k: "".join(p for p in v if isinstance(p, str)) for k, v in parts.items()}
    everything = "".join(markup.values())
    assert "<img" not in everything and "&lt;img src=x" in everything
    assert "<h4>Results</h4>" in markup["statement"] and "<strong>Done</strong>" in markup["statement"]
    assert "▼ worse" in markup["changes"] and "= same" not in markup["changes"]  # what moved, not what stayed
    assert "Off track" in markup["toc"] and "off_track" not in markup["toc"]
    assert "EUR; AFR" in markup["scaleup"]  # the unit is a source of the practice
    assert "<td>CYB</td><td>EUR</td>" not in markup["linkages"] and "<td>AFR</td><td>CYB</td>" in markup["linkages"]
    summary = markup["summary"]
    assert "KPIs off track</td><td>1</td>" in summary
    table = sections.kpi_table(r, _tables()["progress"])
    assert table["kpi_id"].tolist() == ["K2", "K1"] and table["moved"].tolist() == ["▼ worse (was On track)", "= same"]


def test_every_section_of_the_overview_and_joint_notebooks_is_on_their_pages(tmp_path):
    from rbm_utils.serve.pages import bureau_sections, joint, overview

    page = [h for h, _ in bureau_sections.BUREAU_SECTIONS] + [overview.BENCHMARKS_HEADING]
    assert [h for h in notebook_headings("bdt_overview.ipynb") if h not in page] == []
    dash = review.ReviewDashboard(tmp_path, CFG, bureau=True)
    shown = [c.value for c in dash.widget.children if str(getattr(c, "value", "")).startswith("<h3>")]
    assert [f"<h3>{h}</h3>" for h, _ in bureau_sections.BUREAU_SECTIONS] == [
        s
        for s in shown
        if s not in ("<h3>KPIs</h3>", "<h3>One KPI: trend, evidence and comments</h3>", "<h3>Money and delivery</h3>")
    ]
    joint_page = ["Provenance"] + [title for title, *_ in joint.JOINT_SECTIONS if title]
    assert [h for h in notebook_headings("joint_review.ipynb") if h not in joint_page] == []


def test_overview_parts_show_the_whole_bureau_as_its_notebook():
    from rbm_utils.serve.pages import bureau_sections

    tables = {
        "rollup_unit": pd.DataFrame({"unit_code": ["AFR", "EUR"], "n_kpis": [3, 2], "n_off_track": [1, 0]}),
        "learning": pd.DataFrame({"unit_code": ["AFR"], "assumption_id": ["AS1"], "review_note": [EVIL]}),
        "red_flag_groups": pd.DataFrame(
            {
                "category": ["staffing"],
                "title": ["Key posts vacant"],
                "n_units": [6],
                "units": ["AFR; ARB"],
                "rating": ["critical"],
            }
        ),
    }
    r = sections.review_of(tables, CFG, "2026-Q3", None)
    parts = bureau_sections.bureau_parts(r)
    assert set(bureau_sections.BUREAU_ONLY) <= set(parts)
    markup = {k: "".join(p for p in v if isinstance(p, str)) for k, v in parts.items()}
    assert (
        "<td>EUR</td>" in markup["summary"]
        and "&lt;img" in markup["learning"]
        and "<img" not in "".join(markup.values())
    )
    assert "No decision is overdue." in markup["overdue"]
    groups = bureau_sections.risk_groups_html(tables)
    assert "Key posts vacant" in groups and ">Critical</span>" in groups and "<td>6</td>" in groups
