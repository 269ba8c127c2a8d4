"""The managers' dashboards in a real browser: Playwright for Python driving Debian's Chromium.

Every request that would leave the loopback interface is aborted and recorded, and a test fails
on any aborted request, console error, page error or JavaScript dialog (that catches a CDN
regression and a firing XSS payload). Screenshots are kept in tests/artifacts/ (git-ignored).
Every page type (landing, unit, overview, joint) is audited with axe-core (axe-playwright-python,
its script from the installed package, never a CDN): no serious or critical violation; each
audit's findings are kept beside the screenshots (axe_<page>.json).
Needs /usr/bin/chromium: skipped when it is absent, except in CI (env CI set), where it fails.
Never run `playwright install`: the system browser is used.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import psutil
import pytest
from test_serve import (
    IMG,
    JOINT,
    LEADER,
    PASSWORD,
    SCRIPT,
    UNITS,
    XSS_UNIT,
    published_site,
    running_server,
    session_value,
)

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

    def __init__(self, browser, server=None) -> None:
        self.aborted: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
        if server is not None:  # signed in as the tests' leadership user
            session = {"name": "rbm_session", "value": session_value(server.opts.port), "url": server.base}
            self.ctx.add_cookies([{**session, "httpOnly": True, "sameSite": "Strict"}])
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
def watched(browser, server):
    w = Watched(browser, server)
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


def wait_js(pg, expression: str, timeout: float = LOAD_MS) -> None:
    """Wait until the JavaScript ``expression`` is true in the page. Playwright's wait_for_function
    runs its predicate through eval, which the dashboards' Content-Security-Policy refuses (no
    'unsafe-eval'); evaluate() goes through the browser's debugging protocol, which the policy allows."""
    deadline = time.monotonic() + timeout / 1000
    while not pg.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for: {expression}"
        pg.wait_for_timeout(100)


def _n_figures(dash) -> int:
    """How many charts an in-process page shows (each section's, the drill-down's trend included)."""
    return sum("application/vnd.plotly.v1+json" in o["data"] for out in dash.outs.values() for o in out.outputs)


#: Charts of AFR's page: status by level, theory of change, trend, risks, money against delivery,
#: money flows, funding framework.
UNIT_CHARTS = 7
#: Of those, drawn with the page: status by level and the KPI trend (the evidence's charts wait
#: for the reader: rbm_utils.serve.grouped).
UNIT_FIRST_CHARTS = 2


def _charts(pg, n: int) -> int:
    wait_js(pg, f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}", timeout=LOAD_MS)
    return pg.locator(".js-plotly-plot").count()


def _shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _audit(pg, name: str) -> None:
    """axe-core on the page as it stands: no serious or critical violation (all kept as an artifact)."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(pg).response["violations"]
    (ARTIFACTS / f"axe_{name}.json").write_text(json.dumps(violations, indent=1), encoding="utf-8")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} -- {[n['target'] for n in v['nodes'][:3]]}"
        for v in violations
        if v.get("impact") in ("serious", "critical")
    ]
    assert bad == [], f"{name}: " + "; ".join(bad)


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
    _audit(pg, "landing")
    with watched.ctx.expect_page() as opened:  # rendered links open a new tab (target=_blank)
        pg.locator("a.rbm-unit", has_text="AFR").click()
    review = opened.value
    review.wait_for_load_state(timeout=LOAD_MS)
    assert re.search(r"/voila/render/review\.ipynb\?quarter=.*&unit=AFR$", review.url)
    assert _charts(review, UNIT_FIRST_CHARTS) == UNIT_FIRST_CHARTS
    review.close(run_before_unload=True)


def test_unit_review_renders_all_its_charts(watched, server, site):
    """AFR's page opens on its ranked agenda, states its approval in the header, shows every
    section of its notebook (statuses in words), what moved since last quarter, and all its charts:
    two with the page, the evidence's five each where it belongs when the reader asks, by keyboard."""
    dash = unit_page.page(site["outputs"], load_config(), f"quarter={site['quarter']}&unit=AFR")
    expected = _n_figures(dash)
    pg = watched.page()
    pg.goto(f"{server.base}/voila/render/review.ipynb?quarter={site['quarter']}&unit=AFR", timeout=LOAD_MS)
    assert _charts(pg, UNIT_FIRST_CHARTS) == UNIT_FIRST_CHARTS
    buttons = pg.locator("button.rbm-show-chart")
    assert buttons.count() == expected - UNIT_FIRST_CHARTS == UNIT_CHARTS - UNIT_FIRST_CHARTS
    assert "Show the chart: Where the money goes" in buttons.all_inner_texts()
    _audit(pg, "unit_first_paint")
    while buttons.count():  # each press draws its chart in its place
        n = pg.locator(".js-plotly-plot .main-svg").count()
        buttons.first.focus()
        pg.keyboard.press("Enter")
        wait_js(pg, f"document.querySelectorAll('.js-plotly-plot .main-svg').length > {n}")
    assert _charts(pg, expected) == expected == UNIT_CHARTS
    assert pg.locator(".rbm-chart .js-plotly-plot").count() == UNIT_CHARTS - UNIT_FIRST_CHARTS
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
    _audit(pg, "unit")


def test_the_evidence_charts_draw_as_the_reader_scrolls_to_them(watched, server, site):
    """No button pressed: scrolling down the page draws each chart left for later where it stands."""
    pg = watched.page()
    pg.goto(f"{server.base}/voila/render/review.ipynb?quarter={site['quarter']}&unit=AFR", timeout=LOAD_MS)
    assert _charts(pg, UNIT_FIRST_CHARTS) >= UNIT_FIRST_CHARTS
    pg.mouse.move(640, 500)
    deadline = time.monotonic() + LOAD_MS / 1000
    while pg.locator(".rbm-chart .js-plotly-plot").count() < UNIT_CHARTS - UNIT_FIRST_CHARTS:
        assert time.monotonic() < deadline, "the charts below the first screen were not drawn on scrolling"
        pg.mouse.wheel(0, 400)
        pg.wait_for_timeout(150)
    assert pg.locator("button.rbm-show-chart").count() == 0
    assert pg.locator(".rbm-chart .js-plotly-plot").count() == UNIT_CHARTS - UNIT_FIRST_CHARTS


def test_a_filter_changes_what_is_shown(watched, server, site):
    q = site["quarter"]
    prog = pd.read_parquet(site["outputs"] / q / "AFR" / "kpi_progress.parquet")
    pg = watched.page()
    pg.goto(f"{server.base}/voila/render/review.ipynb?quarter={q}&unit=AFR", timeout=LOAD_MS)
    _charts(pg, UNIT_FIRST_CHARTS)
    rows = ".rbm-kpi table.rbm-table tbody tr"
    assert pg.locator(rows).count() == len(prog)
    pg.locator(".rbm-status-filter select").select_option(label="Off track")
    n_off = int((prog["status"] == "off_track").sum())
    wait_js(pg, f"document.querySelectorAll('{rows}').length === {n_off}")
    assert set(pg.locator(".rbm-kpi table.rbm-table tbody tr td:nth-child(4)").all_inner_texts()) == {"Off track"}
    first_off = readable.by_severity(prog[prog["status"] == "off_track"])["kpi_id"].iloc[0]  # the worst
    wait_js(
        pg,
        f"document.querySelector('.rbm-trend .gtitle') && "
        f"document.querySelector('.rbm-trend .gtitle').textContent.startsWith('{first_off}')",
    )
    assert _charts(pg, UNIT_FIRST_CHARTS) == UNIT_FIRST_CHARTS
    _shot(pg, "review_AFR_off_track")


def test_xss_payloads_render_as_text_and_fire_nothing(watched, server, site):
    q = site["quarter"]
    pg = watched.page()
    pg.add_init_script("window.__xss = []; window.alert = (m) => window.__xss.push(String(m));")
    pg.goto(f"{server.base}/voila/render/review.ipynb?quarter={q}&unit={XSS_UNIT}", timeout=LOAD_MS)
    _charts(pg, UNIT_FIRST_CHARTS)
    assert IMG in pg.locator(".rbm-kpi").inner_text()  # the KPI name, shown as text
    assert SCRIPT in pg.locator(".rbm-risk").inner_text()  # the risk title
    values = pg.evaluate("Array.from(document.querySelectorAll('.rbm-kpi-filter select option')).map(o => o.value)")
    pg.locator(".rbm-kpi-filter select").select_option(value=next(v for v in values if IMG in v))
    wait_js(
        pg,
        "document.querySelector('.rbm-evidence') && "
        "document.querySelector('.rbm-evidence').innerText.includes('onerror=alert(1)><script>')",
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
    wait_js(pg, f"document.querySelectorAll('{rows}').length === 1")
    assert "AFR-K16" in pg.locator(rows).inner_text()
    pg.locator(".rbm-unit-filter select").select_option(label="AFR Regional Office for Africa")
    wait_js(pg, "document.querySelector('.rbm-title').textContent.includes('(AFR)')")
    _shot(pg, "overview")
    _audit(pg, "overview")
    pg.goto(f"{server.base}/voila/render/joint.ipynb?quarter={q}&pair={JOINT}", timeout=LOAD_MS)
    pg.wait_for_selector("h2.rbm-title")
    assert "Cybersecurity with Regional Office for Africa" in pg.locator("h2.rbm-title").inner_text()
    assert pg.locator("table.rbm-table").count() >= 1
    _shot(pg, "joint")
    _audit(pg, "joint")


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


def test_landing_table_sorts_and_filters_by_keyboard(watched, server, site):
    pg = watched.page()
    pg.goto(f"{server.base}/voila/render/index.ipynb?quarter={site['quarter']}", timeout=LOAD_MS)
    pg.wait_for_selector("table.rbm-units button.rbm-sort")
    assert pg.locator("table.rbm-units tbody tr").count() == len(load_config().units)
    assert "ten items needing decisions" in pg.locator("h2").first.inner_text()
    overdue = pg.locator("button.rbm-sort", has_text="overdue decisions")
    overdue.focus()  # a real button: reachable with Tab, sorted with Enter
    outline = pg.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    pg.keyboard.press("Enter")
    assert pg.locator("th", has=overdue).get_attribute("aria-sort") == "descending"
    keys = pg.evaluate(
        "Array.from(document.querySelectorAll('table.rbm-units tbody tr')).map(r => Number(r.cells[9].dataset.sort))"
    )
    assert keys == sorted(keys, reverse=True)
    pg.keyboard.press("Enter")
    assert pg.locator("th", has=overdue).get_attribute("aria-sort") == "ascending"
    assert outline != "none"  # the focused heading shows where the keyboard is
    pg.locator("input.rbm-filter").fill("Africa")
    wait_js(pg, "document.querySelectorAll('table.rbm-units tbody tr:not([hidden])').length === 1")
    assert pg.locator("table.rbm-units tbody tr:not([hidden])").get_attribute("data-unit") == "AFR"
    pg.locator("input.rbm-filter").fill("")
    pg.locator("select.rbm-filter-type").select_option("cluster")
    types = pg.evaluate(
        "Array.from(document.querySelectorAll('table.rbm-units tbody tr:not([hidden])')).map(r => r.dataset.type)"
    )
    assert types and set(types) == {"cluster"}
    _shot(pg, "landing_sorted_filtered")


def test_static_copy_opens_without_a_kernel(watched, server, site):
    q = site["quarter"]
    pg = watched.page()
    pg.goto(f"{server.base}/voila/render/review.ipynb?quarter={q}&unit=AFR", timeout=LOAD_MS)
    _charts(pg, 4)
    href = pg.locator("a.rbm-static").get_attribute("href")
    assert href == f"../../rbm-static/{q}/AFR"
    before = {k.pid for k in server.kernels()}  # earlier tests' kernels may still be going away
    static = watched.page()
    scripts: list[str] = []
    static.on("response", lambda r: scripts.append(r.url) if r.request.resource_type == "script" else None)
    static.goto(f"{server.base}/rbm-static/{q}/AFR", timeout=LOAD_MS)
    wait_js(static, "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4", timeout=LOAD_MS)
    assert {k.pid for k in server.kernels()} <= before  # read and printed without a kernel of its own
    # plotly.js came from the quarter's asset, not from the page
    assert any(u.startswith(f"{server.base}/rbm-static/assets/plotly-") for u in scripts), scripts
    _shot(static, "static_AFR")


def test_static_copy_opens_from_disk_with_its_charts(browser, site):
    """The published page opened as a file (file://, no server, no network) draws its charts:
    plotly.js comes from the quarter's asset by the page's relative path."""
    from rbm_utils.publish import assets

    q = site["quarter"]
    page = site["outputs"] / q / "AFR" / "quarterly_review.html"
    html = page.read_text(encoding="utf-8")
    assert "* plotly.js v" not in html and len(html.encode()) < assets.plotly_js_size() / 3
    assert assets.page_asset_refs(html) == [f"../assets/{assets.plotly_asset_name()}"]
    refused: list[str] = []

    def only_files(route) -> None:
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, offline=True)
    try:
        ctx.route("**/*", only_files)
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(page.as_uri(), timeout=LOAD_MS)
        pg.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4", timeout=LOAD_MS)
        assert errors == [] and refused == []
        _shot(pg, "static_AFR_from_disk")
    finally:
        ctx.close()


def test_signing_in_through_the_form_and_out_again(browser, server, site):
    w = Watched(browser)  # no session yet
    try:
        pg = w.page()
        pg.goto(f"{server.base}/voila/render/index.ipynb?quarter={site['quarter']}", timeout=LOAD_MS)
        assert "/login?next=" in pg.url
        pg.wait_for_selector("#rbm-username")
        assert pg.evaluate("document.activeElement.id") == "rbm-username"  # focus on the first field
        _audit(pg, "login")
        pg.get_by_label("User name").fill(LEADER)
        pg.get_by_label("Password").fill(PASSWORD)
        pg.keyboard.press("Enter")
        pg.wait_for_selector("a.rbm-unit", timeout=LOAD_MS)
        assert pg.url.endswith(f"/voila/render/index.ipynb?quarter={site['quarter']}")
        cookie = next(c for c in w.ctx.cookies() if c["name"] == "rbm_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert pg.evaluate("document.cookie").find("rbm_session") == -1  # no script reads it
        with w.ctx.expect_page() as opened:  # rendered links open a new tab
            pg.get_by_role("link", name="Sign out").click()
        opened.value.wait_for_selector("text=You are signed out", timeout=LOAD_MS)
        gone = w.ctx.request.get(f"{server.base}/rbm-static/{site['quarter']}/AFR", max_redirects=0)
        assert gone.status == 403  # the browser's cookie no longer opens anything
        w.check()
    finally:
        w.ctx.close()
