"""The managers' dashboards in a real browser: Playwright for Python driving Debian's Chromium.

Every request that would leave the loopback interface is aborted and recorded, and a test fails
on any aborted request, console error, page error or JavaScript dialog (that catches a CDN
regression and a firing XSS payload). Screenshots are kept in tests/artifacts/ (git-ignored).
Needs /usr/bin/chromium: skipped when it is absent, except in CI (env CI set), where it fails.
Never run `playwright install`: the system browser is used.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import psutil
import pytest
from test_serve import IMG, JOINT, SCRIPT, UNITS, XSS_UNIT, published_site, running_server

from rbm_utils.core.config import load_config
from rbm_utils.present import readable
from rbm_utils.serve.pages import overview as overview_page
from rbm_utils.serve.pages import sections
from rbm_utils.serve.pages import unit as unit_page

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
LOAD_MS = 180_000  # generous: 2 shared cores, kernels start per page view


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {reason} (.ci/run installs Debian's chromium)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site(sample_bureau, tmp_path_factory):
    return published_site(sample_bureau, tmp_path_factory)


@pytest.fixture(scope="module")
def server(request, site):
    return running_server(request, site)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


class Watched:
    """A browser context whose pages record aborted (non-loopback) requests, console errors,
    page errors and dialogs."""

    def __init__(self, browser) -> None:
        self.aborted: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.ctx.set_default_timeout(LOAD_MS)
        self.ctx.route("**/*", self._route)
        self.ctx.on("page", self._watch)  # every page of the context, also tabs opened by links

    def _route(self, route) -> None:
        url = route.request.url
        host = urlsplit(url).hostname
        if url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            self.aborted.append(url)
            route.abort()

    def _watch(self, pg) -> None:
        pg.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        pg.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        pg.on("dialog", lambda dlg: (self.dialogs.append(dlg.message), dlg.dismiss()))

    def page(self):
        return self.ctx.new_page()

    def check(self) -> None:
        assert self.aborted == [], f"requests left the machine: {self.aborted}"
        assert self.errors == [], self.errors
        assert self.dialogs == [], f"a dialog fired: {self.dialogs}"


@pytest.fixture
def watched(browser):
    w = Watched(browser)
    yield w
    try:
        from playwright.sync_api import Error as PlaywrightError

        for pg in w.ctx.pages:  # close the tabs like a manager: each page stops its kernel
            if not pg.is_closed():
                try:
                    pg.close(run_before_unload=True)
                except PlaywrightError:  # already closing
                    pass
        w.check()
    finally:
        w.ctx.close()


def _n_figures(dash) -> int:
    """How many charts an in-process page shows (each section's, the drill-down's trend included)."""
    return sum("application/vnd.plotly.v1+json" in o["data"] for out in dash.outs.values() for o in out.outputs)


#: Charts of AFR's page: status by level, theory of change, trend, risks, money against delivery,
#: money flows, funding framework.
UNIT_CHARTS = 7


def _charts(pg, n: int) -> int:
    pg.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}", timeout=LOAD_MS)
    return pg.locator(".js-plotly-plot").count()


def _shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _kernel_id(pg) -> str:
    return pg.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")


def test_landing_page_loads_and_links_to_every_review(watched, server, site):
    pg = watched.page()
    pg.goto(server.base + "/", wait_until="load", timeout=LOAD_MS)
    pg.wait_for_selector("a.rbm-unit")
    assert pg.url.endswith("/voila/render/index.ipynb")
    assert sorted(pg.locator("a.rbm-unit").all_inner_texts()) == sorted(UNITS)
    assert pg.locator("a.rbm-overview").count() == 1
    assert pg.locator("a.rbm-joint").all_inner_texts() == [JOINT]
    assert pg.locator(".rbm-badge").count() >= len(UNITS)
    _shot(pg, "landing")
    with watched.ctx.expect_page() as opened:  # rendered links open a new tab (target=_blank)
        pg.locator("a.rbm-unit", has_text="AFR").click()
    review = opened.value
    review.wait_for_load_state(timeout=LOAD_MS)
    assert re.search(r"/voila/render/review\.ipynb\?quarter=.*&unit=AFR$", review.url)
    assert _charts(review, UNIT_CHARTS) == UNIT_CHARTS
    review.close(run_before_unload=True)


def test_unit_review_renders_all_its_charts(watched, server, site):
    """AFR's page opens on its ranked agenda, states its approval in the header, shows every
    section of its notebook (statuses in words), what moved since last quarter, and all its charts."""
    dash = unit_page.page(site["outputs"], load_config(), f"quarter={site['quarter']}&unit=AFR")
    expected = _n_figures(dash)
    pg = watched.page()
    pg.goto(f"{server.base}/voila/render/review.ipynb?quarter={site['quarter']}&unit=AFR", timeout=LOAD_MS)
    assert _charts(pg, expected) == expected == UNIT_CHARTS
    assert pg.locator(".js-plotly-plot .main-svg").count() >= expected
    assert "Regional Office for Africa (AFR, region)" in pg.locator(".rbm-title").inner_text()
    assert pg.locator(".rbm-approval").first.inner_text().strip() != ""  # draft / approved by / pending
    headings = pg.locator(".rbm-dashboard h3").all_inner_texts()
    assert headings[:3] == ["Review agenda", "Summary", "Results statement"]
    assert [h for h, _ in sections.UNIT_SECTIONS if h not in headings] == []
    assert pg.locator(".rbm-agenda table.rbm-table tbody tr").count() >= 1
    kpis = pg.locator(".rbm-kpi table.rbm-table").inner_text()
    assert "Off track" in kpis and "off_track" not in kpis and "True" not in kpis
    changes = pg.locator(".rbm-changes").inner_text()
    assert "KPI status" in changes or "Nothing changed." in changes
    _shot(pg, "review_AFR")


def test_a_filter_changes_what_is_shown(watched, server, site):
    q = site["quarter"]
    prog = pd.read_parquet(site["outputs"] / q / "AFR" / "kpi_progress.parquet")
    pg = watched.page()
    pg.goto(f"{server.base}/voila/render/review.ipynb?quarter={q}&unit=AFR", timeout=LOAD_MS)
    _charts(pg, UNIT_CHARTS)
    rows = ".rbm-kpi table.rbm-table tbody tr"
    assert pg.locator(rows).count() == len(prog)
    pg.locator(".rbm-status-filter select").select_option(label="Off track")
    n_off = int((prog["status"] == "off_track").sum())
    pg.wait_for_function(f"document.querySelectorAll('{rows}').length === {n_off}")
    assert set(pg.locator(".rbm-kpi table.rbm-table tbody tr td:nth-child(4)").all_inner_texts()) == {"● Off track"}
    first_off = readable.by_severity(prog[prog["status"] == "off_track"])["kpi_id"].iloc[0]  # the worst
    pg.wait_for_function(
        f"document.querySelector('.rbm-trend .gtitle') && "
        f"document.querySelector('.rbm-trend .gtitle').textContent.startsWith('{first_off}')"
    )
    assert _charts(pg, UNIT_CHARTS) == UNIT_CHARTS
    _shot(pg, "review_AFR_off_track")


def test_xss_payloads_render_as_text_and_fire_nothing(watched, server, site):
    q = site["quarter"]
    pg = watched.page()
    pg.add_init_script("window.__xss = []; window.alert = (m) => window.__xss.push(String(m));")
    pg.goto(f"{server.base}/voila/render/review.ipynb?quarter={q}&unit={XSS_UNIT}", timeout=LOAD_MS)
    _charts(pg, 4)
    assert IMG in pg.locator(".rbm-kpi").inner_text()  # the KPI name, shown as text
    assert SCRIPT in pg.locator(".rbm-risk").inner_text()  # the risk title
    values = pg.evaluate("Array.from(document.querySelectorAll('.rbm-kpi-filter select option')).map(o => o.value)")
    pg.locator(".rbm-kpi-filter select").select_option(value=next(v for v in values if IMG in v))
    pg.wait_for_function(
        "document.querySelector('.rbm-evidence') && "
        "document.querySelector('.rbm-evidence').innerText.includes('onerror=alert(1)><script>')"
    )
    assert IMG + SCRIPT in pg.locator(".rbm-evidence").inner_text()  # the comment
    assert SCRIPT in pg.evaluate(
        "Array.from(document.querySelectorAll('.rbm-programme-filter select option')).map(o => o.value).join(' ')"
    )
    pg.locator(".rbm-trend .js-plotly-plot").hover()  # hover text is escaped too
    time.sleep(0.5)
    assert pg.locator("img[src='x']").count() == 0
    assert pg.evaluate("window.__xss") == []
    _shot(pg, "review_xss")
    for url in (
        f"{server.base}/voila/render/index.ipynb?quarter={q}",
        f"{server.base}/voila/render/overview.ipynb?quarter={q}&unit={XSS_UNIT}",
    ):
        pg.goto(url, timeout=LOAD_MS)
        pg.wait_for_selector(".rbm-unit, .rbm-dashboard")
        if "overview" in url:
            _charts(pg, 4)
            assert SCRIPT in pg.locator(".rbm-risk").inner_text()
        assert pg.locator("img[src='x']").count() == 0 and pg.evaluate("window.__xss") == []


def test_overview_and_joint_review_render(watched, server, site):
    q = site["quarter"]
    pg = watched.page()
    pg.goto(f"{server.base}/voila/render/overview.ipynb?quarter={q}", timeout=LOAD_MS)
    expected = _n_figures(overview_page.page(site["outputs"], load_config(), f"quarter={q}"))
    assert _charts(pg, expected) == expected >= 9  # the KPIs' and the notebook's: status ... money flows
    assert "Affordable connectivity" in pg.locator(".rbm-plan").inner_text()
    rows = ".rbm-kpi table.rbm-table tbody tr"
    assert pg.locator(rows).count() == 60 and pg.locator(".rbm-kpi-pager").is_visible()  # a long table: paged
    pg.locator(".rbm-kpi-pager input").fill("AFR-K16")
    pg.wait_for_function(f"document.querySelectorAll('{rows}').length === 1")
    assert "AFR-K16" in pg.locator(rows).inner_text()
    pg.locator(".rbm-unit-filter select").select_option(label="AFR Regional Office for Africa")
    pg.wait_for_function("document.querySelector('.rbm-title').textContent.includes('(AFR)')")
    _shot(pg, "overview")
    pg.goto(f"{server.base}/voila/render/joint.ipynb?quarter={q}&pair={JOINT}", timeout=LOAD_MS)
    pg.wait_for_selector("h2.rbm-title")
    assert "Cybersecurity with Regional Office for Africa" in pg.locator("h2.rbm-title").inner_text()
    assert pg.locator("table.rbm-table").count() >= 1
    _shot(pg, "joint")


def test_closing_tabs_stops_their_kernels(watched, server, site):
    q = site["quarter"]
    pages, ids = [], []
    for unit in UNITS + (UNITS[0],):
        pg = watched.page()
        pg.goto(f"{server.base}/voila/render/review.ipynb?quarter={q}&unit={unit}", timeout=LOAD_MS)
        _charts(pg, 4)
        pages.append(pg)
        ids.append(_kernel_id(pg))

    def alive() -> set:
        cmdlines = []
        for p in server.kernels():
            try:
                cmdlines.append(" ".join(p.cmdline()))
            except psutil.Error:  # the kernel exited between the listing and this look
                continue
        return {k for k in ids if any(k in c for c in cmdlines)}

    assert alive() == set(ids)
    for pg in pages:
        pg.close(run_before_unload=True)
    deadline = time.monotonic() + 60
    while alive() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert alive() == set(), "closing a tab did not stop its kernel"
