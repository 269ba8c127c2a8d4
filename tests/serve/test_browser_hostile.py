"""Hostile browsers in a real browser (issue 18): the dashboards render, charts and widgets, under a
Content-Security-Policy without 'unsafe-eval' or inline scripts, with no violation reported; TeX in
workbook text stays text (no MathJax loaded, no link made from ``\\href``).

Uses tests/serve/test_browser.py's browser and watched context (aborted requests, console errors,
page errors and dialogs fail the test); skipped without Chromium outside CI, like it.
"""

from __future__ import annotations

import re

import pytest
from test_browser import LOAD_MS, UNIT_FIRST_CHARTS, Watched, _charts, browser, wait_js  # noqa: F401 (fixture)
from test_serve import TEX, XSS_UNIT, published_site, running_server

from rbm_utils.serve import headers, typesetting

pytestmark = pytest.mark.slow

#: Records every CSP violation the page reports, before any of its own scripts runs.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push([e.violatedDirective, e.blockedURI, e.sourceFile, e.lineNumber].join(' '));
});
"""


@pytest.fixture(scope="module")
def site(sample_bureau, tmp_path_factory):
    return published_site(sample_bureau, tmp_path_factory)


@pytest.fixture(scope="module")
def server(request, site):
    return running_server(request, site)


@pytest.fixture
def watched(browser, server):  # noqa: F811 (the fixture imported above)
    w = Watched(browser, server)  # signed in as the tests' leadership user
    yield w
    try:
        from playwright.sync_api import Error as PlaywrightError

        for pg in w.ctx.pages:
            if not pg.is_closed():
                try:
                    pg.close(run_before_unload=True)
                except PlaywrightError:  # already closing (as test_browser's fixture)
                    pass
        w.check()
    finally:
        w.ctx.close()


def _mathjax_library_chunks() -> set[str]:
    """The chunks of MathJax itself, which Voila's MathJax plugin loads on its first use."""
    from voila.paths import collect_static_paths

    text = typesetting.find_chunk(collect_static_paths(["voila", "nbconvert"], "lab")).read_text(encoding="utf-8")
    return {f"{n}.voila.js" for n in re.findall(r"\.e\((\d+)\)", text)}


def test_pages_render_under_the_policy_without_a_violation(watched, server, site):
    q = site["quarter"]
    pages = [
        (f"/voila/render/index.ipynb?quarter={q}", "landing"),
        (f"/voila/render/review.ipynb?quarter={q}&unit=AFR", "unit"),
        (f"/voila/render/overview.ipynb?quarter={q}", "overview"),
        (f"/rbm-static/{q}/AFR", "static"),
    ]
    for path, kind in pages:
        pg = watched.page()
        pg.add_init_script(RECORD_VIOLATIONS)
        response = pg.goto(server.base + path, timeout=LOAD_MS)
        policy = response.headers["content-security-policy"]
        assert "'unsafe-eval'" not in policy and "'unsafe-inline'" not in policy.split(";")[1], kind
        if kind == "landing":
            assert policy == headers.CSP
            pg.wait_for_selector("a.rbm-unit")
            assert pg.locator("table.rbm-units tbody tr").count() > 0
        elif kind == "static":
            wait_js(pg, "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4")
        else:
            assert policy == headers.CSP
            assert _charts(pg, UNIT_FIRST_CHARTS if kind == "unit" else 9) >= (
                UNIT_FIRST_CHARTS if kind == "unit" else 9
            )
            assert pg.locator(".jupyter-widgets select").count() >= 1  # the filters: widgets drawn
            pg.locator(".jupyter-widgets select").first.focus()
        pg.wait_for_timeout(500)  # a late violation (a chunk loaded after the charts) is reported too
        assert pg.evaluate("window.__csp") == [], kind
        pg.close(run_before_unload=True)


def test_tex_in_workbook_text_stays_text(watched, server, site):
    q = site["quarter"]
    requested: list[str] = []
    pg = watched.page()
    pg.on("request", lambda r: requested.append(r.url.split("?")[0].rsplit("/", 1)[-1]))
    pg.goto(f"{server.base}/voila/render/review.ipynb?quarter={q}&unit={XSS_UNIT}", timeout=LOAD_MS)
    _charts(pg, 4)
    wait_js(pg, "document.querySelector('.rbm-kpi') && document.querySelector('.rbm-kpi').innerText.includes('rule')")
    assert TEX in pg.locator(".rbm-kpi").inner_text()  # the KPI name, as written
    assert pg.locator("a[href*='127.0.0.1:9']").count() == 0  # no link made from \href
    assert pg.locator("mjx-container, .MathJax, mjx-math").count() == 0
    assert pg.evaluate("typeof window.MathJax") == "undefined"
    assert _mathjax_library_chunks() & set(requested) == set()  # MathJax itself never loaded
    static = watched.page()
    static.goto(f"{server.base}/rbm-static/{q}/{XSS_UNIT}", timeout=LOAD_MS)
    assert TEX in static.locator("body").inner_text()
    assert static.locator("a[href*='127.0.0.1:9'], mjx-container").count() == 0
    assert static.evaluate("typeof window.MathJax") == "undefined"
