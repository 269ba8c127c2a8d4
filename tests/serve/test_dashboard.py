"""rbm_utils.serve (params, data, views, pages): what a manager sees equals what was published; parameters and widget
values are checked against what exists; free text is escaped. Runs the dashboards in-process
on the site of tests/test_serve.py (published once per session)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import plotly.io as pio
import pytest
from test_serve import IMG, JOINT, SCRIPT, UNITS, XSS_UNIT, published_site

from rbm_utils.analytics import kpi
from rbm_utils.core.config import load_config
from rbm_utils.core.quarters import Quarter
from rbm_utils.core.text import escape_text, untypeset
from rbm_utils.present import charts, columns, followup, readable, reports, signals
from rbm_utils.present.reports import table_html
from rbm_utils.serve import access, data, params, views
from rbm_utils.serve.pages import joint, landing, overview, review, sections
from rbm_utils.serve.pages import unit as unit_page
from rbm_utils.serve.widgets import PlotlyJSON

CFG = load_config()
ROOT = Path(__file__).resolve().parent.parent.parent
PLOTLY = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def site(sample_bureau, tmp_path_factory):
    return published_site(sample_bureau, tmp_path_factory)


def _content(markup: str) -> str:
    """A notebook's HTML output without the element that keeps JupyterLab's MathJax off it
    (:func:`rbm_utils.core.text.untypeset`): the content the dashboard shows."""
    head, tail = untypeset("\0").split("\0")
    return markup[len(head) : -len(tail)] if markup.startswith(head) and markup.endswith(tail) else markup


def _nb_outputs(path: Path, mime: str) -> list:
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = [o["data"][mime] for c in nb["cells"] for o in c.get("outputs", []) if mime in o.get("data", {})]
    out = ["".join(x) if isinstance(x, list) else x for x in out]
    return [_content(x) if isinstance(x, str) else x for x in out]


def _fig_json(fig) -> dict:
    return json.loads(pio.to_json(fig, validate=False))


def _shown(dash: review.ReviewDashboard) -> list[dict]:
    """Every output the dashboard's Output widgets show."""
    return [o["data"] for out in dash.outs.values() for o in out.outputs]


def _nb_sections(path: Path) -> dict[str, list[tuple[str, object]]]:
    """A published notebook's outputs by section (``## heading``): ("fig", plotly) or ("html", markup)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, list[tuple[str, object]]] = {}
    current = None
    for c in nb["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "markdown":
            if src.startswith("## "):
                current = src.splitlines()[0][3:].strip()
                out[current] = []
            continue
        for o in c.get("outputs", []) if current else []:
            d = o.get("data", {})
            if PLOTLY in d:
                out[current].append(("fig", d[PLOTLY]))
            elif "text/html" in d:
                html = "".join(d["text/html"]) if isinstance(d["text/html"], list) else d["text/html"]
                out[current].append(("html", _content(html)))
    return out


# --------------------------------------------------------------------------- validation


def test_pick_returns_the_listed_element_or_nothing():
    allowed = ["AFR", "CYB"]
    assert params.pick("CYB", allowed) == "CYB"
    assert (
        params.pick("cyb", allowed) is None
        and params.pick("../AFR", allowed) is None
        and params.pick("AFR\x00", allowed) is None
    )
    assert params.pick(1, ["1"]) is None and params.pick(None, allowed) is None


def test_request_parameters_keep_only_allowed_single_values():
    allowed = {"quarter": ["2026-Q3", "2026-Q2"], "unit": ["AFR", "CYB"]}
    assert params.request_parameters("quarter=2026-Q2&unit=CYB", allowed) == {"quarter": "2026-Q2", "unit": "CYB"}
    assert params.request_parameters("unit=CYB&unit=AFR", allowed) == {}  # ambiguous
    assert params.request_parameters("unit=CYB&unit=CYB", allowed) == {"unit": "CYB"}
    assert params.request_parameters("unit=..%2F..%2Fetc&quarter=2026-Q3", allowed) == {"quarter": "2026-Q3"}
    assert params.request_parameters("template=reveal&x=1", allowed) == {}
    assert params.request_parameters("unit=AFR&" + "a=1&" * 2000, allowed) == {}  # oversized: ignored whole
    assert params.request_parameters(None, allowed) == {}


def test_page_links_only_to_dashboard_pages():
    assert (
        params.page_link("joint.ipynb", quarter="2026-Q3", pair="CYB-AFR") == "joint.ipynb?quarter=2026-Q3&pair=CYB-AFR"
    )
    assert params.page_link("review.ipynb", unit="A&B") == "review.ipynb?unit=A%26B"
    with pytest.raises(ValueError):
        params.page_link("../data/rbm.sqlite")


def test_listings_show_only_what_is_published(tmp_path):
    out = tmp_path / "outputs"
    for q in ("2026-Q3", "2026-Q2"):
        (out / q / "snapshot").mkdir(parents=True)
        (out / q / "snapshot" / "manifest.json").write_text("{}")
    (out / "2026-Q1").mkdir()  # no snapshot: not published
    (out / "2026-Q9" / "snapshot").mkdir(parents=True)
    (out / "2026-Q9" / "snapshot" / "manifest.json").write_text("{}")
    (out / ".staging" / "snapshot").mkdir(parents=True)
    for unit in ("AFR", "XYZ", "afr"):
        (out / "2026-Q3" / unit).mkdir()
        pd.DataFrame({"unit_code": [unit], "status": ["on_track"]}).to_parquet(
            out / "2026-Q3" / unit / "kpi_progress.parquet"
        )
    (out / "2026-Q3" / "CYB").mkdir()  # folder without tables
    for pair in ("CYB-AFR", "AFR-CYB", "CYB-XYZ", "CYB-CYB"):
        (out / "2026-Q3" / "joint" / pair).mkdir(parents=True)
    (out / "2026-Q3" / "run_report.json").write_text(
        json.dumps({"jobs": [{"name": "AFR", "status": "ok"}, {"name": "CYB", "status": "timeout"}]})
    )
    assert data.published_quarters(out) == ["2026-Q3", "2026-Q2"]
    assert data.published_units(out, "2026-Q3", CFG) == ["AFR"]
    assert data.published_units(out, "../2026-Q3", CFG) == [] and data.published_units(out, "2026-Q1", CFG) == []
    assert data.published_joint(out, "2026-Q3", CFG) == ["CYB-AFR"]
    assert data.run_status(out, "2026-Q3") == {"AFR": "ok", "CYB": "timeout"}
    badges = data.unit_badges(out, "2026-Q3", CFG).set_index("unit_code")
    assert badges.loc["AFR", "publication"] == "published" and badges.loc["AFR", "n_on_track"] == 1
    assert badges.loc["CYB", "publication"] == "failed" and badges.loc["AMS", "publication"] == "not reviewed"
    with pytest.raises(ValueError):
        data.load_tables(out, "2026-Q3", "XYZ", CFG)
    with pytest.raises(ValueError):
        data.load_tables(out, "2026-Q1", "AFR", CFG)
    with pytest.raises(ValueError):
        data.load_snapshot_table(out, "2026-Q3", "Risks")  # only the tables the drill-down reads
    assert "Nothing is published yet" in landing.landing_html(tmp_path / "empty", None, CFG)


def test_filter_frame_and_kpi_evidence_by_hand():
    p = pd.DataFrame(
        {
            "unit_code": ["A", "A", "B"],
            "programme": ["P1", "P2", "P1"],
            "status": ["on_track", "off_track", "off_track"],
        }
    )
    assert views.filter_frame(p, unit="A", programme="P1").index.tolist() == [0]
    assert len(views.filter_frame(p, status="off_track")) == 2 and len(views.filter_frame(p, status=params.ALL)) == 3
    assert views.filter_frame(p, programme="P1 or 1==1").empty  # compared, never evaluated
    assert views.programmes(p) == ["P1", "P2"]
    a = pd.DataFrame(
        {
            "unit_code": ["A", "A", "A", "B"],
            "kpi_id": ["K", "K", "K", "K"],
            "period": ["2026-Q1", "2026-Q3", "2025-Q4", "2026-Q3"],
            "disaggregation": [None, None, None, None],
            "value": [1.0, 3.0, 0.5, 9.0],
            "evidence": ["e1", "e3", "e0", "x"],
            "comment": ["c1", None, None, "x"],
        }
    )
    ev = views.kpi_evidence(a, "A", "K")
    assert ev["period"].tolist() == ["2026-Q3", "2026-Q1", "2025-Q4"] and ev["value"].tolist() == [3.0, 1.0, 0.5]
    assert ev["comment"].tolist()[1] == "c1"


# --------------------------------------------------------------------------- equality with what was published


def test_figures_equal_the_published_review(site):
    """AFR: the status chart, the risk heatmap, money against delivery and every KPI trend the
    dashboard draws are identical (data and layout) to those in the published notebook."""
    q = site["quarter"]
    published = _nb_outputs(site["outputs"] / q / "AFR" / "quarterly_review.ipynb", PLOTLY)
    by_title = {f["layout"]["title"]["text"]: f for f in published if f["layout"].get("title")}
    dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR")
    figs = dash.state.figures()
    for key in ("status", "risks", "burn", "trend"):
        mine = _fig_json(figs[key])
        pub = by_title[mine["layout"]["title"]["text"]]
        assert mine["data"] == pub["data"], key
        assert mine["layout"] == pub["layout"], key
    shown = [o[PLOTLY] for o in _shown(dash) if PLOTLY in o]
    assert len(shown) == 7  # status, theory of change, trend, risks, burn, money flows, funding
    kpis = dash.state.kpis()["kpi_id"].tolist()
    assert len(kpis) == 16
    for kid in kpis:  # the drill-down of every KPI
        dash.kpi_dd.value = kid
        trend = dash.trend_out.outputs[0]["data"][PLOTLY]
        pub = by_title[trend["layout"]["title"]["text"]]
        assert trend["data"] == pub["data"] and trend["layout"] == pub["layout"], kid
    assert isinstance(figs["status"], PlotlyJSON)  # shown as the review drew them (figures.json)


def test_figures_drawn_from_the_tables_equal_the_published_review(site):
    """Without the published figures (a quarter published before the batch kept them, or a
    filter changed), the page draws the same figures from the published tables."""
    q = site["quarter"]
    published = _nb_outputs(site["outputs"] / q / "AFR" / "quarterly_review.ipynb", PLOTLY)
    by_title = {f["layout"]["title"]["text"]: f for f in published if f["layout"].get("title")}
    dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR")
    dash.state.prepared = {}
    figs = dash.state.figures()
    for key in ("status", "risks", "burn", "trend"):
        assert not isinstance(figs[key], PlotlyJSON), key
        mine = _fig_json(figs[key])
        pub = by_title[mine["layout"]["title"]["text"]]
        assert mine["data"] == pub["data"] and mine["layout"] == pub["layout"], key
    dash.render()
    drawn = [o[PLOTLY] for o in _shown(dash) if PLOTLY in o]
    assert len(drawn) == 7
    for fig in drawn:  # theory of change, money flows and funding too
        pub = by_title[fig["layout"]["title"]["text"]]
        assert fig["data"] == pub["data"] and fig["layout"] == pub["layout"], fig["layout"]["title"]["text"]


def test_a_filter_draws_its_figures_from_the_tables(site):
    q = site["quarter"]
    dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR")
    assert data.load_figures(site["outputs"], q, "AFR", CFG)  # the batch kept the review's figures
    assert data.load_figures(site["outputs"], q, "../AFR", CFG) == {}
    dash.status_dd.value = "off_track"
    status = dash.state.figures()["status"]
    assert not isinstance(status, PlotlyJSON) and hasattr(status, "to_plotly_json")


def test_a_unit_page_loads_no_plotly_nor_the_database_layer(site):
    """The page's kernel shows the published figures as they are: neither plotly (figure
    validation is most of a page's work) nor SQLAlchemy, papermill or openpyxl is imported."""
    import subprocess
    import sys

    code = (
        "import sys; from rbm_utils.serve.pages import unit; page = unit.page(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'plotly', 'sqlalchemy', 'papermill', 'openpyxl', 'scipy', 'statsmodels', 'nbconvert'}))"
    )
    env = {
        **os.environ,
        "RBM_OUTPUTS": str(site["outputs"]),
        "QUERY_STRING": f"quarter={site['quarter']}&unit=AFR",
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-2000:]


def test_tables_equal_the_published_tables(site):
    q = site["quarter"]
    dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR")
    pd.testing.assert_frame_equal(
        dash.state.kpis(), readable.by_severity(pd.read_parquet(site["outputs"] / q / "AFR" / "kpi_progress.parquet"))
    )
    ov = overview.page(site["outputs"], CFG, f"quarter={q}")
    pd.testing.assert_frame_equal(
        ov.state.kpis(),
        readable.by_severity(pd.read_parquet(site["outputs"] / q / "overview" / "kpi_progress.parquet")),
    )
    published = _nb_outputs(site["outputs"] / q / "overview" / "bdt_overview.ipynb", PLOTLY)
    mine = _fig_json(ov.state.figures()["status"])
    assert mine["data"] == next(f for f in published if f["layout"]["title"]["text"] == "KPI status by unit")["data"]


def test_overview_shows_the_work_against_the_action_plan_as_published(site):
    """The overview's roll-up by programme: the published programmes.parquet (overview folder
    only), drawn and tabled as in the published overview notebook, programmes by name."""
    q = site["quarter"]
    frame = pd.read_parquet(site["outputs"] / q / "overview" / "programmes.parquet")
    assert not (site["outputs"] / q / "AFR" / "programmes.parquet").exists()
    assert frame["programme"].tolist()[:5] == list(CFG.action_plan.programmes)
    assert frame["programme_name"].tolist()[:5] == list(CFG.action_plan.programmes.values())
    ov = overview.page(site["outputs"], CFG, f"quarter={q}")
    note, chart, table = (o["data"] for o in ov.plan_out.outputs)
    assert review.PLAN_NOTE in note["text/html"]
    assert table["text/html"] == table_html(frame, columns.PROGRAMME_ROLLUP, empty="No programme.")
    published = _nb_outputs(site["outputs"] / q / "overview" / "bdt_overview.ipynb", PLOTLY)
    mine = _fig_json(charts.action_plan(frame, currency=CFG.currency))
    pub = next(f for f in published if f["layout"]["title"]["text"] == "Work against the Action Plan")
    assert pub["data"] == mine["data"] and PLOTLY in chart
    assert table["text/html"] in "".join(
        _nb_outputs(site["outputs"] / q / "overview" / "bdt_overview.ipynb", "text/html")
    )
    assert "Affordable connectivity" in table["text/html"]
    # the programme filter offers the names, its values are the codes; the KPI table shows names
    assert ("Affordable connectivity", "connectivity") in ov.programme_dd.options
    kpi_table = ov.kpi_out.outputs[0]["data"]["text/html"]
    assert "<td>Affordable connectivity</td>" in kpi_table
    assert not any(f"<td>{code}</td>" in kpi_table for code in CFG.action_plan.programmes)
    unit_page_dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR")
    assert not unit_page_dash.plan_out.outputs  # a unit's page has no such section


def test_unit_dashboard_shows_its_approval_and_decisions_as_published(site):
    """The header states the unit-quarter's approval as the published review does; the decisions
    table is the published decisions.parquet; the overview lists the published pending escalations."""
    q = site["quarter"]
    folder = site["outputs"] / q / "AFR"
    approvals = pd.read_parquet(folder / "approvals.parquet")
    changes = pd.read_parquet(folder / "framework_changes.parquet")
    provenance = pd.read_parquet(folder / "provenance.parquet")
    words = followup.approval_html(
        approvals, changes, "AFR", CFG.authority.bureau_role, CFG.currency, provenance=provenance
    )
    dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR")
    assert words in dash.title.value
    published = "".join(_nb_outputs(folder / "quarterly_review.ipynb", "text/html"))
    assert words in published  # the review opens with the same words
    decisions = followup.earlier(pd.read_parquet(folder / "decisions.parquet"), q)
    heading, table = (o["data"]["text/html"] for o in dash.followup_out.outputs)
    assert heading == "<h3>Decisions of earlier reviews</h3>"  # the section's heading, then its table
    assert table == table_html(decisions, columns.DECISIONS, empty="No decision was recorded at an earlier review.")
    assert words in dash.outs["approval"].outputs[1]["data"]["text/html"]  # and in its section
    ov = overview.page(site["outputs"], CFG, f"quarter={q}")
    pending = followup.unit_escalations(
        pd.read_parquet(site["outputs"] / q / "overview" / "framework_changes.parquet"), None, CFG.currency
    )
    shown = ov.followup_out.outputs[0]["data"]["text/html"]
    assert shown == table_html(pending, columns.PENDING_ESCALATIONS, empty="No change awaits the bureau's approval.")
    assert shown in "".join(_nb_outputs(site["outputs"] / q / "overview" / "bdt_overview.ipynb", "text/html"))


def test_a_draft_says_which_submission_its_figures_come_from(site):
    """The sample's current quarter is not approved: the published review (notebook and static
    HTML copy) and the unit's dashboard say "Draft — figures as of submission N by NAME, TIME",
    N and NAME those of the snapshot's Unit table; approved, the same figures read "Approved by …"."""
    q = site["quarter"]
    folder = site["outputs"] / q / "AFR"
    unit = pd.read_parquet(site["outputs"] / q / "snapshot" / "Unit.parquet").set_index("unit_code").loc["AFR"]
    provenance = pd.read_parquet(folder / "provenance.parquet")
    assert provenance["submission_id"].tolist() == [int(unit["submission_id"])]
    when = followup.moment(unit["ingested_at"])
    banner = escape_text(
        f"Draft — figures as of submission {int(unit['submission_id'])} by {unit['submitted_by']}, {when}."
    )
    assert pd.read_parquet(folder / "approvals.parquet")["state"].tolist() in ([], ["draft"], ["pending"])
    assert banner in "".join(_nb_outputs(folder / "quarterly_review.ipynb", "text/html"))
    assert banner in (folder / "quarterly_review.html").read_text(encoding="utf-8")
    dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR")
    assert banner in dash.title.value  # near the top, beside the approval state
    assert banner in dash.outs["approval"].outputs[1]["data"]["text/html"]
    approved = pd.DataFrame(
        {
            "unit_code": ["AFR"],
            "quarter": [q],
            "state": ["approved"],
            "approved_by": ["Amara Diallo"],
            "approved_at": ["2026-11-02T10:00:00Z"],
        }
    )
    words = followup.approval_html(approved, None, "AFR", provenance=provenance)
    assert "Approved by Amara Diallo on 2026-11-02." in words and "Draft" not in words
    assert escape_text(f"Figures as of submission {int(unit['submission_id'])} by") in words
    listed = reports.provenance_frame(
        reports.Review(Quarter.parse(q), CFG, state={"Unit": provenance}, results={"approvals": approved})
    )
    assert listed["approval"].tolist() == ["Approved"]  # the overview and joint reviews list it per unit


def test_overview_says_the_red_flag_share_as_the_notebook_does(site):
    """The bureau overview's risks open with the red-flag share of the published tables, the
    same paragraph the overview notebook shows; filtered to one unit, that unit's share."""
    q = site["quarter"]
    folder = site["outputs"] / q / "overview"
    words = signals.red_flag_summary_html(
        pd.read_parquet(folder / "risks.parquet"), pd.read_parquet(folder / "red_flags.parquet")
    )
    assert "open risks are red-flagged" in words
    shown = [
        o["data"].get("text/html", "") for o in overview.page(site["outputs"], CFG, f"quarter={q}").risk_out.outputs
    ]
    assert words in shown
    assert words in "".join(_nb_outputs(folder / "bdt_overview.ipynb", "text/html"))
    afr = overview.page(site["outputs"], CFG, f"quarter={q}&unit=AFR").risk_out.outputs
    mine = pd.read_parquet(site["outputs"] / q / "AFR" / "risks.parquet")
    flags = pd.read_parquet(site["outputs"] / q / "AFR" / "red_flags.parquet")
    assert signals.red_flag_summary_html(mine, flags) in [o["data"].get("text/html", "") for o in afr]
    # a unit's own review does not show it
    unit = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR").risk_out.outputs
    assert not any("rbm-signal" in o["data"].get("text/html", "") for o in unit)


def test_unit_page_shows_every_section_of_its_published_notebook(site):
    """Section by section, every table of AFR's published review is on its page byte for byte
    (same columns, same words), every chart with the same data; the KPI trends one at a time
    through the drill-down, which opens on the worst KPI."""
    q = site["quarter"]
    dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR")
    names = dict(sections.UNIT_SECTIONS)
    published = _nb_sections(site["outputs"] / q / "AFR" / "quarterly_review.ipynb")
    assert set(published) == set(names)
    trends = []
    for kid in [k for _, k in dash.kpi_dd.options]:
        dash.kpi_dd.value = kid
        trends.append(dash.trend_out.outputs[0]["data"][PLOTLY]["data"])
    for heading, items in published.items():
        shown = [o["data"] for o in dash.outs[names[heading]].outputs]
        markup = "".join(o.get("text/html", "") for o in shown)
        figures = [o[PLOTLY]["data"] for o in shown if PLOTLY in o] + (trends if heading == "KPIs" else [])
        for kind, item in items:
            if kind == "fig":
                assert item["data"] in figures, (heading, item["layout"].get("title"))
            else:
                assert item in markup, heading
    prog = pd.read_parquet(site["outputs"] / q / "AFR" / "kpi_progress.parquet")
    worst = readable.by_severity(prog).iloc[0]
    dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR")
    assert dash.state.kpi == worst["kpi_id"] and worst["status"] == "off_track"
    behind = prog[prog["status"].isin(["off_track", "at_risk"])]
    assert (
        len(behind)
        and (behind["why"].str.len() > 0).all()
        and (prog.loc[prog["status"] == "on_track", "why"] == "").all()
    )
    table = dash.kpi_out.outputs[0]["data"]["text/html"]
    assert "on_track" not in table and ">True<" not in table and ">Off track</span>" in table


def test_joint_page_shows_the_published_joint_tables(site):
    q = site["quarter"]
    html_out = joint.joint_html(site["outputs"], q, JOINT, CFG)
    tables = [
        t
        for t in _nb_outputs(site["outputs"] / q / "joint" / JOINT / "joint_review.ipynb", "text/html")
        if "rbm-table" in t or "rbm-empty" in t
    ]
    assert len(tables) >= len(joint.JOINT_SECTIONS)
    shown = [t for t in tables if t in html_out]
    assert len(shown) == len(joint.JOINT_SECTIONS) + 1  # every section's table and the provenance, byte for byte
    assert shown == tables  # nothing the notebook shows is missing
    with pytest.raises(ValueError):
        joint.joint_html(site["outputs"], q, "CYB-EUR", CFG)  # not published


def test_joint_page_without_frozen_tables_says_so(tmp_path):
    """A pair published before the batch froze joint tables: a message, never a recomputation."""
    out = tmp_path / "outputs"
    (out / "2026-Q3" / "snapshot").mkdir(parents=True)
    (out / "2026-Q3" / "snapshot" / "manifest.json").write_text("{}")
    (out / "2026-Q3" / "joint" / "CYB-AFR").mkdir(parents=True)
    page = joint.joint_html(out, "2026-Q3", "CYB-AFR", CFG)
    assert joint.NOT_PUBLISHED in page and "rbm-table" not in page
    pd.DataFrame({"unit_code": ["AFR"], "risk_id": ["R1"], "title": ["<b>x</b>"]}).to_parquet(
        out / "2026-Q3" / "joint" / "CYB-AFR" / "risks.parquet"
    )
    page = joint.joint_html(out, "2026-Q3", "CYB-AFR", CFG)
    assert "&lt;b&gt;x&lt;/b&gt;" in page and page.count(joint.NOT_PUBLISHED) == len(joint.JOINT_SECTIONS) - 1


def test_no_page_recomputes_the_analysis(site, monkeypatch):
    """Dashboard kernels carry RBM_FROZEN_ONLY=1 (rbm serve sets it): every page renders from the
    published tables alone, and the analysis entry point is never reached."""
    from rbm_utils.analytics import bureau

    calls = []
    monkeypatch.setattr(bureau, "analyse", lambda *a, **k: calls.append(a) or pytest.fail("analyse called"))
    monkeypatch.setenv("RBM_FROZEN_ONLY", "1")
    q = site["quarter"]
    # what rbm serve tells a leadership reader's kernel: every unit and the overview
    monkeypatch.setenv(access.VISIBLE_ENV, access.to_env(access.Visible({q: tuple(CFG.units)}, (q,))))
    assert "Bureau overview" in landing.page(site["outputs"], CFG, f"quarter={q}").data
    assert "joint review" in joint.page(site["outputs"], CFG, f"quarter={q}&pair={JOINT}").data
    for dash in (
        unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR"),
        overview.page(site["outputs"], CFG, f"quarter={q}"),
    ):
        assert len(dash.state.kpis()) and dash.state.figures()["trend"] is not None
    assert calls == []


def test_landing_page_lists_units_with_published_badges(site):
    q = site["quarter"]
    html_out = landing.landing_html(site["outputs"], q, CFG)
    for unit in UNITS:
        assert f'href="review.ipynb?quarter={q}&amp;unit={unit}"' in html_out
    assert 'href="review.ipynb?quarter=' + q + '&amp;unit=CYB"' not in html_out  # CYB was not reviewed
    assert f'href="overview.ipynb?quarter={q}"' in html_out and f"pair={JOINT}" in html_out
    badges = data.unit_badges(site["outputs"], q, CFG).set_index("unit_code")
    prog = pd.read_parquet(site["outputs"] / q / "AFR" / "kpi_progress.parquet")
    for s, n in prog["status"].value_counts().items():
        assert badges.loc["AFR", f"n_{s}"] == n
        assert f"{kpi.STATUS_LABELS[s]} {n}</span>" in html_out
    assert badges.loc["AFR", "red_flags"] == len(pd.read_parquet(site["outputs"] / q / "AFR" / "red_flags.parquet"))
    assert set(badges.index[badges["publication"] == "published"]) == set(UNITS)


# --------------------------------------------------------------------------- interaction


def test_filters_change_what_is_shown(site):
    q = site["quarter"]
    dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR")
    prog = pd.read_parquet(site["outputs"] / q / "AFR" / "kpi_progress.parquet")
    dash.status_dd.value = "off_track"
    assert set(dash.state.kpis()["status"]) == {"off_track"} and len(dash.state.kpis()) == int(
        (prog["status"] == "off_track").sum()
    )
    assert [k for _, k in dash.kpi_dd.options] == dash.state.kpis()["kpi_id"].tolist()
    assert dash.state.kpi == dash.state.kpis()["kpi_id"].iloc[0]
    table = dash.kpi_out.outputs[0]["data"]["text/html"]
    assert table.count("<tr>") == len(dash.state.kpis()) + 1
    status = next(o["data"][PLOTLY] for o in dash.summary_out.outputs if PLOTLY in o["data"])
    assert sum(sum(t["x"]) for t in status["data"]) == len(dash.state.kpis())
    dash.status_dd.value = params.ALL
    programme = views.programmes(prog)[0]
    dash.programme_dd.value = programme
    assert len(dash.state.kpis()) == int((prog["programme"] == programme).sum())
    dash.unit_dd.value = XSS_UNIT  # another unit: its own published tables
    assert set(dash.state.kpis()["unit_code"]) == {XSS_UNIT} and dash.state.programme == params.ALL


def test_kpis_shown_are_kept_until_the_table_or_a_filter_changes(tmp_path):
    """The page asks for the KPIs shown several times per drawing: the same rows come back until a
    filter or the loaded table changes, then the new ones."""
    s = review.ReviewState(tmp_path, CFG, bureau=True)
    s.tables = {
        "progress": pd.DataFrame(
            {
                "unit_code": ["AFR", "CYB", "AFR"],
                "kpi_id": ["A1", "C1", "A2"],
                "programme": ["P1", "P1", "P2"],
                "status": ["on_track", "off_track", "off_track"],
                "achievement": [0.9, 0.2, 0.1],
            }
        )
    }
    s.unit = params.ALL
    first = s.kpis()
    assert first["kpi_id"].tolist() == ["A2", "C1", "A1"] and s.kpis() is first
    s.status = "off_track"
    assert s.kpis()["kpi_id"].tolist() == ["A2", "C1"]
    s.unit = "CYB"
    assert s.kpis()["kpi_id"].tolist() == ["C1"]
    s.unit, s.status, s.programme = params.ALL, params.ALL, "P2"
    assert s.kpis()["kpi_id"].tolist() == ["A2"]
    s.tables = {"progress": s.tables["progress"].iloc[:2]}  # another quarter loaded
    assert s.kpis().empty
    s.programme = params.ALL
    assert s.kpis()["kpi_id"].tolist() == ["C1", "A1"]


def test_overview_filters_by_unit(site):
    q = site["quarter"]
    ov = overview.page(site["outputs"], CFG, f"quarter={q}&unit=CYB")
    assert set(ov.state.kpis()["unit_code"]) == {"CYB"}
    ov.unit_dd.value = params.ALL
    assert len(set(ov.state.kpis()["unit_code"])) == len(CFG.units)


def test_hostile_widget_values_are_ignored(site):
    """A browser can send any value over the widget comm: out-of-range indexes fail validation in
    ipywidgets, and every callback re-checks the value against the options it offered."""
    from traitlets import TraitError

    q = site["quarter"]
    dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=AFR")
    before = (
        dash.state.quarter,
        dash.state.unit,
        dash.state.status,
        dash.state.programme,
        dash.state.kpi,
        dash.state.kpis().copy(),
    )
    msg = lambda state: {"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []}  # noqa: E731
    dash.unit_dd._handle_msg(msg({"index": 99}))  # refused by ipywidgets (logged, not applied)
    with pytest.raises(TraitError):
        dash.unit_dd.set_state({"index": 99})
    for cb_name, value in (
        ("on_unit", "../../etc"),
        ("on_quarter", "2026-Q9"),
        ("on_status", "__import__('os')"),
        ("on_programme", "x' or 1==1"),
        ("on_kpi", "AFR-K01; rm -rf /"),
        ("on_unit", ["AFR"]),
    ):
        allowed = {
            "on_unit": dash.state.unit_values,
            "on_quarter": lambda: dash.state.quarters,
            "on_status": lambda: [params.ALL, *kpi.STATUS_ORDER],
            "on_programme": lambda: [params.ALL],
            "on_kpi": lambda: [k for _, k in dash.state.kpi_choices()],
        }[cb_name]
        dash.callbacks.guard(getattr(dash, cb_name), allowed)({"name": "value", "old": None, "new": value})
    assert len(dash.ignored) == 6
    assert (dash.state.quarter, dash.state.unit, dash.state.status, dash.state.programme, dash.state.kpi) == before[:5]
    pd.testing.assert_frame_equal(dash.state.kpis(), before[5])
    dash.unit_dd._handle_msg(msg({"index": 1}))  # a legitimate change from the page goes through
    assert dash.state.unit == dash.state.units[1]


def test_links_with_unknown_parameters_fall_back_with_a_notice(site):
    q = site["quarter"]
    dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=..%2F..%2Fetc")
    assert dash.state.unit == UNITS[0] and "not published" in dash.notice
    assert unit_page.page(site["outputs"], CFG, f"quarter={q}&unit=EUR").notice == ""
    assert unit_page.page(site["outputs"], CFG, "", env={"RBM_QUARTER": "1999-Q1"}).state.quarter == q


def test_workbook_text_is_escaped_wherever_it_becomes_html(site):
    q = site["quarter"]
    raw_markers = ("<img src=x", "<script>alert")
    dash = unit_page.page(site["outputs"], CFG, f"quarter={q}&unit={XSS_UNIT}")
    kid = next(k for label, k in dash.kpi_dd.options if IMG in label)  # the KPI named with the payload
    dash.kpi_dd.value = kid
    shown = _shown(dash)
    html_all = "\n".join(o.get("text/html", "") for o in shown) + dash.title.value
    figs = json.dumps([o[PLOTLY] for o in shown if PLOTLY in o])
    for marker in raw_markers:
        assert marker not in html_all and marker not in figs
    assert "&lt;img src=x onerror=alert(1)&gt;" in html_all  # KPI name and comment, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_all  # risk title, programme
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;" in dash.evidence_out.outputs[0]["data"]["text/html"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in figs  # chart title
    # Dropdown labels are plain text in the page (the browser test shows no dialog fires)
    assert any(IMG in label for label, _ in dash.kpi_dd.options)
    assert [label for label, _ in dash.programme_dd.options] == ["All", SCRIPT]
    for page in (landing.landing_html(site["outputs"], q, CFG), joint.joint_html(site["outputs"], q, JOINT, CFG)):
        assert all(m not in page for m in raw_markers)
    ov = overview.page(site["outputs"], CFG, f"quarter={q}&unit={XSS_UNIT}")
    assert all(m not in "".join(o.get("text/html", "") for o in _shown(ov)) for m in raw_markers)


def test_dashboard_notebooks_are_thin_and_clean():
    for name in ("index", "review", "overview", "joint"):
        nb = json.loads((ROOT / "dashboards" / f"{name}.ipynb").read_text())
        assert nb["metadata"]["kernelspec"]["name"] == "python3"
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert len(code) == 1 and code[0]["outputs"] == [] and code[0]["execution_count"] is None
        src = "".join(code[0]["source"])
        assert "def " not in src and "class " not in src and "from rbm_utils.serve.pages import " in src
    served = sorted(p.name for p in (ROOT / "dashboards").iterdir())
    assert served == ["index.ipynb", "joint.ipynb", "overview.ipynb", "review.ipynb", "templates"]
