"""plotly.js once per published quarter (rbm_utils.publish.assets), loaded by the static pages by a
relative path: the page is lean, the asset is written once and atomically, an archived page still
finds it, and a page opened from disk (file://) draws its charts in headless Chromium.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat.v4 as v4
import plotly
import plotly.offline
import pytest
from factories import PLOTLYJS_HEADER, PROBE

from rbm_utils.publish import assets
from rbm_utils.publish.folders import finish_job, publish_folder
from rbm_utils.publish.html import PLOTLY_MIME, notebook_to_html
from rbm_utils.publish.jobs import SENTINEL, Job, content_key

CHROMIUM = "/usr/bin/chromium"


def _figure_notebook(names: tuple[str, ...]) -> object:
    cells = []
    for i, name in enumerate(names):
        fig = {
            "data": [{"type": "bar", "x": ["a", "b"], "y": [i + 1, i + 2], "name": name}],
            "layout": {"title": {"text": name}},
        }
        cells.append(v4.new_code_cell("fig.show()", outputs=[v4.new_output("display_data", data={PLOTLY_MIME: fig})]))
    cells.append(v4.new_code_cell("print()", outputs=[v4.new_output("stream", name="stdout", text=SENTINEL + "\n")]))
    return v4.new_notebook(cells=cells)


def _page(
    folder: Path, quarter: Path, names: tuple[str, ...] = ("Delivered", "Planned"), published: Path | None = None
) -> Path:
    """A static page of figures in ``folder``, loading the quarter's asset by its relative path
    from ``published`` (where the page is published; ``folder`` by default), as the runners do."""
    src = assets.asset_src(published or folder, quarter / assets.ASSETS_DIR)
    page = folder / "quarterly_review.html"
    folder.mkdir(parents=True, exist_ok=True)
    page.write_text(notebook_to_html(_figure_notebook(names), title="AFR", plotly_js=src), encoding="utf-8")
    return page


def test_the_asset_is_the_installed_plotly_js_named_by_version_and_hash(tmp_path):
    path = assets.write_plotly_asset(tmp_path / "assets")
    version = plotly.offline.get_plotlyjs_version()
    assert path.name.startswith(f"plotly-{version}.") and path.name.endswith(".min.js")
    assert assets.is_asset_name(path.name)
    assert path.read_text(encoding="utf-8") == plotly.offline.get_plotlyjs()
    assert path.stat().st_size == assets.plotly_js_size()
    # written once: a second call keeps the file as it is
    before = path.stat().st_mtime_ns, path.stat().st_ino
    assert assets.write_plotly_asset(tmp_path / "assets") == path
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before
    # a torn file of that name (not the whole content) is written again, atomically
    path.write_bytes(b"Plotly = ")
    assets.write_plotly_asset(tmp_path / "assets")
    assert path.stat().st_size == assets.plotly_js_size()
    assert not list((tmp_path / "assets").glob(".*.tmp"))


def test_a_page_loads_plotly_by_relative_path_instead_of_inlining_it(tmp_path):
    q = tmp_path / "2026-Q3"
    page = _page(q / "AFR", q).read_text(encoding="utf-8")
    name = assets.plotly_asset_name()
    assert PLOTLYJS_HEADER not in page  # plotly.js not inlined
    assert len(page.encode()) < assets.plotly_js_size() / 10
    assert page.count(f'src="../assets/{name}"') == 1  # once, before the first figure
    assert page.index(f'src="../assets/{name}"') < page.index("rbm-plotly-0")
    assert page.count("Plotly.newPlot(") == 2
    joint = _page(q / "joint" / "CYB-AFR", q).read_text(encoding="utf-8")
    assert f'src="../../assets/{name}"' in joint
    # without an asset (a batch of other jobs), plotly.js stays inlined
    inline = notebook_to_html(_figure_notebook(("x",)))
    assert inline.count(PLOTLYJS_HEADER) == 1


def test_the_content_key_follows_the_asset_the_page_loads(tmp_path):
    plain = Job("AFR", PROBE, {"unit": "AFR"}, tmp_path / "AFR")
    with_asset = Job("AFR", PROBE, {"unit": "AFR"}, tmp_path / "AFR", assets_dir=tmp_path / "assets")
    assert content_key(plain) != content_key(with_asset)  # a page that inlined plotly.js is published again


def test_finish_writes_the_asset_before_publishing_and_an_archived_page_still_finds_it(tmp_path):
    q = tmp_path / "2026-Q3"
    job = Job("AFR", PROBE, {"unit": "AFR"}, q / "AFR", assets_dir=q / assets.ASSETS_DIR)
    seen: list[bool] = []

    def staged(gen: int) -> Path:
        staging = tmp_path / ".staging" / f"AFR-{gen}"
        _page(staging, q, published=q / "AFR")  # staged pages refer to the asset from the published place
        (staging / PROBE.name).write_text("{}", encoding="utf-8")
        return staging

    def extra(staging: Path, j: Job) -> None:  # the exports (PDF) run here: the asset is already there
        seen.append((q / assets.ASSETS_DIR / assets.plotly_asset_name()).is_file())

    job = Job("AFR", PROBE, {"unit": "AFR"}, q / "AFR", extra, q / assets.ASSETS_DIR)
    for gen in (1, 2):
        res = finish_job(job, f"key{gen}", staged(gen), {"status": "ok", "attempts": 1}, duration_s=1.0)
        assert res.status == "ok", res
    assert seen == [True, True]
    name = assets.plotly_asset_name()
    live = q / "AFR" / "quarterly_review.html"
    assert (live.parent / f"../assets/{name}").resolve().is_file()
    [archived] = list((q / "archive").glob("AFR-*"))
    ref = assets.page_asset_refs((archived / "quarterly_review.html").read_text(encoding="utf-8"))
    assert ref == [f"../assets/{name}"]
    target = (archived / ref[0]).resolve()
    assert target == q / "archive" / "assets" / name and target.is_file()
    assert target.read_bytes() == (q / assets.ASSETS_DIR / name).read_bytes()
    assert (q / assets.ASSETS_DIR / name).is_file()  # never removed


def test_keep_reachable_never_writes_outside_the_quarter(tmp_path):
    q = tmp_path / "2026-Q3"
    assets.write_plotly_asset(q / assets.ASSETS_DIR)
    folder = q / "AFR"
    folder.mkdir(parents=True)
    name = assets.plotly_asset_name()
    (folder / "x.html").write_text(f'<script charset="utf-8" src="../../../assets/{name}"></script>', encoding="utf-8")
    assert assets.keep_reachable(folder, q / assets.ASSETS_DIR) == []
    assert not (tmp_path.parent / "assets").exists()


def test_a_joint_review_archived_keeps_its_charts(tmp_path):
    q = tmp_path / "2026-Q3"
    pair_dir = q / "joint" / "CYB-AFR"
    job = Job("joint-CYB-AFR", PROBE, {}, pair_dir, assets_dir=q / assets.ASSETS_DIR)
    assets.write_plotly_asset(q / assets.ASSETS_DIR)
    for gen in (1, 2):
        staging = tmp_path / f"s{gen}"
        _page(staging, q, published=pair_dir)
        (staging / "joint_review.html").write_text(
            (staging / "quarterly_review.html").read_text(encoding="utf-8"), encoding="utf-8"
        )
        os.makedirs(pair_dir.parent, exist_ok=True)
        publish_folder(staging, job)
    [archived] = list((q / "joint" / "archive").glob("joint-CYB-AFR-*"))
    for page in archived.glob("*.html"):
        for ref in assets.page_asset_refs(page.read_text(encoding="utf-8")):
            assert (archived / ref).resolve().is_file(), ref


@pytest.mark.timeout(120)
def test_a_page_opened_from_disk_draws_its_charts_in_chromium(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    q = tmp_path / "2026-Q3"
    assets.write_plotly_asset(q / assets.ASSETS_DIR)
    pages = [_page(q / "AFR", q, ("Delivered", "Planned")), _page(q / "joint" / "CYB-AFR", q, ("Joint work",))]
    refused: list[str] = []

    def only_files(route) -> None:
        if route.request.url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True)
        try:
            ctx = browser.new_context(offline=True)
            ctx.route("**/*", only_files)
            pg = ctx.new_page()
            loaded: list[str] = []
            pg.on("requestfinished", lambda r: loaded.append(r.url))
            for page, names in zip(pages, (("Delivered", "Planned"), ("Joint work",)), strict=True):
                pg.goto(page.as_uri(), wait_until="load", timeout=60_000)
                pg.wait_for_function(
                    f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(names)}", timeout=60_000
                )
                assert pg.evaluate("typeof window.Plotly") == "object"
                assert pg.locator(".js-plotly-plot .gtitle").all_text_contents() == list(names)  # drawn by plotly
            assert any(u.endswith(assets.plotly_asset_name()) and u.startswith("file:") for u in loaded)
            ctx.close()
        finally:
            browser.close()
    assert refused == []
