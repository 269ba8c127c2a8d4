"""Downloads for managers (rbm_utils.serve.downloads and the server's /rbm-download route): a review's
PDF and Excel pack, served only through the allow-list of published quarters, reviews and kinds.

The published site of tests/serve/test_serve.py gets AFR's and the overview's exports on demand
(rbm export); EUR's review stays without them.
"""

from __future__ import annotations

import io
import os

import openpyxl
import pytest
from test_serve import get, published_site, raw, running_server, session_headers

from rbm_utils.core.config import load_config
from rbm_utils.exchange import excel_pack, pdf
from rbm_utils.exchange.reviews import export_reviews
from rbm_utils.serve import downloads
from rbm_utils.serve import headers as serve_headers
from rbm_utils.serve import server as serve
from rbm_utils.serve.pages import overview as overview_page
from rbm_utils.serve.pages import unit as unit_page

CFG = load_config()


def _chromium() -> bool:
    try:
        pdf.check_chromium()
    except pdf.PdfError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PDF tests must run in CI: {exc}", pytrace=False)
        return False
    return True


@pytest.fixture(scope="module")
def site(sample_bureau, tmp_path_factory):
    s = published_site(sample_bureau, tmp_path_factory)
    if not (s["outputs"] / s["quarter"] / "AFR" / excel_pack.PACK_FILE).is_file():
        export_reviews(s["outputs"], s["quarter"], ["AFR", "overview"], CFG, excel=True, with_pdf=_chromium())
    return s


@pytest.fixture(scope="module")
def server(request, site):
    return running_server(request, site)


def test_resolve_maps_only_listed_names_to_published_files(site):
    out, q = site["outputs"], site["quarter"]
    assert downloads.resolve(out, CFG, q, "AFR", "xlsx") == out / q / "AFR" / excel_pack.PACK_FILE
    assert downloads.resolve(out, CFG, q, "overview", "xlsx") == out / q / "overview" / excel_pack.PACK_FILE
    for quarter, review, kind in [
        (q, "EUR", "xlsx"),  # published review, no pack
        (q, "CIS", "xlsx"),  # not reviewed
        ("2025-Q1", "AFR", "xlsx"),  # not published
        (q, "AFR", "ipynb"),
        (q, "AFR", "../kpi_progress.parquet"),
        (q, "../AFR", "xlsx"),
        (q, "snapshot", "xlsx"),
        (q, "joint", "xlsx"),
        ("..", "2026-Q3", "xlsx"),
        (q, "afr", "xlsx"),
    ]:
        assert downloads.resolve(out, CFG, quarter, review, kind) is None, (quarter, review, kind)


def test_the_unit_page_offers_its_downloads_only_when_published(site):
    q = site["quarter"]
    afr = unit_page.page(outputs=site["outputs"], config=CFG, query_string=f"quarter={q}&unit=AFR", env={})
    assert f'href="../../rbm-download/{q}/AFR/xlsx"' in afr.title.value
    assert ("rbm-download-pdf" in afr.title.value) == _chromium()
    eur = unit_page.page(outputs=site["outputs"], config=CFG, query_string=f"quarter={q}&unit=EUR", env={})
    assert "rbm-download/" not in eur.title.value and "rbm-static/" in eur.title.value  # no pack; the static copy
    ov = overview_page.page(outputs=site["outputs"], config=CFG, query_string=f"quarter={q}", env={})
    assert f'href="../../rbm-download/{q}/overview/xlsx"' in ov.title.value


def _fetch(url: str) -> tuple[int, bytes, dict]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=session_headers(url)), timeout=120) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


@pytest.mark.slow
def test_the_route_serves_the_published_pack_with_the_server_headers(server, site):
    q = site["quarter"]
    # the link of the unit page, resolved from the page's own address
    page = f"{server.base}/voila/render/review.ipynb"
    import urllib.parse

    status, body, headers = _fetch(urllib.parse.urljoin(page, downloads.download_link(q, "AFR", "xlsx")))
    assert status == 200
    assert body == (site["outputs"] / q / "AFR" / excel_pack.PACK_FILE).read_bytes()
    assert headers["Content-Type"] == excel_pack.PACK_MEDIA_TYPE
    assert headers["Content-Disposition"] == f'attachment; filename="AFR-{q}-review-pack.xlsx"'
    assert headers["Content-Security-Policy"] == serve.CSP and headers["X-Frame-Options"] == "DENY"
    wb = openpyxl.load_workbook(io.BytesIO(body))
    assert wb.sheetnames[0] == excel_pack.COVER and "KPI progress" in wb.sheetnames
    assert wb["KPI progress"].freeze_panes == "A2"
    status, body, _ = _fetch(f"{server.base}/rbm-download/{q}/overview/xlsx")
    assert status == 200 and body[:2] == b"PK"


@pytest.mark.slow
def test_the_route_serves_the_published_pdf(server, site):
    if not _chromium():
        pytest.skip("no chromium: the site has no PDF")
    q = site["quarter"]
    status, body, headers = _fetch(f"{server.base}/rbm-download/{q}/AFR/pdf")
    assert status == 200 and body.startswith(b"%PDF-")
    assert headers["Content-Type"] == "application/pdf"
    assert body == (site["outputs"] / q / "AFR" / pdf.PDF_FILE).read_bytes()


REFUSED = [
    "/rbm-download/{q}/AFR/ipynb",
    "/rbm-download/{q}/AFR/parquet",
    "/rbm-download/{q}/EUR/xlsx",
    "/rbm-download/{q}/CIS/pdf",
    "/rbm-download/2025-Q1/AFR/xlsx",
    "/rbm-download/{q}/snapshot/xlsx",
    "/rbm-download/{q}/joint/xlsx",
    "/rbm-download/{q}/AFR/xlsx/extra",
    "/rbm-download/{q}/AFR",
    "/rbm-download/{q}/AFR%2Fkpi_progress.parquet/xlsx",
    "/rbm-download/{q}/..%2F..%2F..%2Fetc/xlsx",
    "/rbm-download/{q}/AFR/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/rbm-download/{q}/%2e%2e/xlsx",
    "/rbm-download/%2e%2e/{q}/xlsx",
    "/rbm-download/{q}/AFR%00/xlsx",
    "/rbm-download/../../etc/passwd",
    "/rbm-download/{q}/AFR/..\\..\\..\\etc\\passwd",
]


@pytest.mark.slow
def test_anything_but_a_listed_download_is_refused(server, site):
    q = site["quarter"]
    for path in REFUSED:
        status, body = raw(server.opts.port, "GET", path.format(q=q))
        assert status in (400, 404), (path, status)
        assert not body.startswith(("PK", "%PDF", "PAR1")) and "root:x:0:" not in body, path
    status, _ = raw(server.opts.port, "POST", f"/rbm-download/{q}/AFR/xlsx", body="")
    assert status in (403, 405)
    # DNS rebinding: a foreign Host header is refused here too
    status, _ = raw(server.opts.port, "GET", f"/rbm-download/{q}/AFR/xlsx", headers={"Host": "attacker.example"})
    assert status == 403
    status, _, _ = get(f"{server.base}/rbm-download/{q}/AFR/xlsx")
    assert status == 200
    status, body = raw(server.opts.port, "HEAD", f"/rbm-download/{q}/AFR/xlsx")
    assert status == 200 and body == ""


# --------------------------------------------------------------------------- the static review (no kernel)


def test_static_names_follow_the_review_notebooks():
    from rbm_utils.publish import quarterly

    assert downloads.STATIC_FILES == {
        "unit": quarterly.UNIT_TEMPLATE.with_suffix(".html").name,
        "overview": quarterly.OVERVIEW_TEMPLATE.with_suffix(".html").name,
        "joint": quarterly.JOINT_TEMPLATE.with_suffix(".html").name,
    }


def test_resolve_static_maps_only_published_reviews(site):
    from test_serve import JOINT

    out, q = site["outputs"], site["quarter"]
    assert downloads.resolve_static(out, CFG, q, "AFR") == out / q / "AFR" / "quarterly_review.html"
    assert downloads.resolve_static(out, CFG, q, "overview") == out / q / "overview" / "bdt_overview.html"
    assert downloads.resolve_static(out, CFG, q, JOINT) == out / q / "joint" / JOINT / "joint_review.html"
    for quarter, review in [
        (q, "CIS"),  # not reviewed
        ("2025-Q1", "AFR"),
        (q, "snapshot"),
        (q, "joint"),
        (q, "../AFR"),
        (q, "AFR/quarterly_review.html"),
        (q, "AMS-AFR"),  # not a cluster-region pair
        ("..", q),
        (q, "afr"),
    ]:
        assert downloads.resolve_static(out, CFG, quarter, review) is None, (quarter, review)


def test_every_page_links_its_static_copy(site):
    from test_serve import JOINT

    from rbm_utils.serve.pages import joint as joint_page

    q = site["quarter"]
    afr = unit_page.page(outputs=site["outputs"], config=CFG, query_string=f"quarter={q}&unit=AFR", env={})
    assert f'class="rbm-static" href="../../rbm-static/{q}/AFR"' in afr.title.value
    ov = overview_page.page(outputs=site["outputs"], config=CFG, query_string=f"quarter={q}", env={})
    assert f'href="../../rbm-static/{q}/overview"' in ov.title.value
    jp = joint_page.joint_html(site["outputs"], q, JOINT, CFG)
    assert f'href="../../rbm-static/{q}/joint/{JOINT}"' in jp  # at its folder's depth: its assets resolve


def test_resolve_asset_maps_only_the_quarters_listed_asset_files(site):
    from rbm_utils.publish import assets

    out, q = site["outputs"], site["quarter"]
    name = assets.plotly_asset_name()
    assert downloads.resolve_asset(out, name) == out / q / assets.ASSETS_DIR / name
    for asset in [
        f"../{q}/snapshot/manifest.json",
        "plotly-0.0.0.0123456789ab.min.js",  # an asset's name, not there
        name + "x",
        "run_report.json",
        "..",
    ]:
        assert downloads.resolve_asset(out, asset) is None, asset


@pytest.mark.slow
def test_the_static_route_serves_the_published_html_without_a_kernel(server, site):
    import urllib.parse

    from test_serve import JOINT

    q = site["quarter"]
    before = len(server.kernels())
    page = f"{server.base}/voila/render/review.ipynb"
    for review, path in [
        ("AFR", site["outputs"] / q / "AFR" / "quarterly_review.html"),
        ("overview", site["outputs"] / q / "overview" / "bdt_overview.html"),
        (JOINT, site["outputs"] / q / "joint" / JOINT / "joint_review.html"),
    ]:
        status, body, headers = _fetch(urllib.parse.urljoin(page, downloads.static_link(q, review)))
        assert status == 200 and body == path.read_bytes(), review
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        # the server's policy, with the copy's own inline scripts (plotly.js, the charts) allowed by hash
        policy = serve_headers.static_copy_csp(serve_headers.inline_script_hashes(body))
        assert headers["Content-Security-Policy"] == policy and headers["X-Frame-Options"] == "DENY"
    assert len(server.kernels()) <= before  # no kernel started for a static copy
    # the quarter's plotly.js, where the static page's relative path leads through the server
    from rbm_utils.publish import assets

    html = (site["outputs"] / q / "AFR" / "quarterly_review.html").read_text(encoding="utf-8")
    [ref] = assets.page_asset_refs(html)
    static = urllib.parse.urljoin(page, downloads.static_link(q, "AFR"))
    status, body, headers = _fetch(urllib.parse.urljoin(static, ref))
    assert status == 200 and body == (site["outputs"] / q / assets.ASSETS_DIR / assets.plotly_asset_name()).read_bytes()
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["Content-Type"].startswith("text/javascript")
    assert headers["Content-Security-Policy"] == serve.CSP
    # a joint review at its folder's depth finds the same asset
    joint_static = urllib.parse.urljoin(page, downloads.static_link(q, JOINT))
    assert _fetch(joint_static)[0] == 200
    assert urllib.parse.urljoin(joint_static, f"../../assets/{assets.plotly_asset_name()}") == urllib.parse.urljoin(
        static, ref
    )
    for path in [
        "/rbm-static/assets/..%2F{q}%2Frun_report.json",
        "/rbm-static/assets/plotly-0.0.0.0123456789ab.min.js",
        "/rbm-static/assets/%2e%2e",
        "/rbm-static/{q}/assets/" + assets.plotly_asset_name(),
        "/rbm-static/{q}/joint/AFR%2Fkpi_progress.parquet",
        "/rbm-static/{q}/CIS",
        "/rbm-static/{q}/AFR/extra",
        "/rbm-static/{q}/..%2F..%2F..%2Fetc%2Fpasswd",
        "/rbm-static/{q}/%2e%2e",
        "/rbm-static/%2e%2e/AFR",
        "/rbm-static/{q}/AFR%2Fkpi_progress.parquet",
        "/rbm-static/{q}/snapshot",
        "/rbm-static/../../etc/passwd",
    ]:
        status, body = raw(server.opts.port, "GET", path.format(q=q))
        assert status in (400, 404), (path, status)
        assert "root:x:0:" not in body and not body.startswith("PAR1"), path
    status, _ = raw(server.opts.port, "POST", f"/rbm-static/{q}/AFR", body="")
    assert status in (403, 405)
    status, _ = raw(server.opts.port, "GET", f"/rbm-static/{q}/AFR", headers={"Host": "attacker.example"})
    assert status == 403


@pytest.mark.slow
def test_the_dashboards_fingerprinted_scripts_are_cached_and_the_others_revalidated(server):
    """plotly.js of the dashboards comes with Voila's plotly extension under a name carrying its
    hash: cached a year; a file without a hash in its name (style.js) is checked again each view."""
    import sys
    from pathlib import Path

    static = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyterlab-plotly" / "static"
    hashed = [p.name for p in static.glob("*.js") if p.name != "style.js" and not p.name.startswith("remoteEntry")]
    if not hashed:
        pytest.skip(f"no plotly lab extension in {static}")
    biggest = max(hashed, key=lambda n: (static / n).stat().st_size)  # plotly.js itself
    url = f"{server.base}/voila/labextensions/jupyterlab-plotly/static/"
    status, body, headers = _fetch(url + biggest)
    assert status == 200 and len(body) == (static / biggest).stat().st_size
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    status, _, headers = _fetch(url + "style.js")
    assert status == 200 and headers["Cache-Control"] == "no-cache"
