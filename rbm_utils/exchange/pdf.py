"""The PDF of a review: Debian's Chromium prints the static HTML copy the batch publishes.

Route: the batch already publishes each review as a static HTML page (outputs only, plotly.js
loaded from the quarter's asset file by a relative path, nothing loaded from the network:
:mod:`rbm_utils.publish.html`, :mod:`rbm_utils.publish.assets`). A page printed in the batch's
staging folder, where that relative path leads nowhere yet, gets the asset from the quarter's
``assets`` folder (``assets_dir``: the only file served that is not the page's own). Chromium
(``/usr/bin/chromium``, driven through Playwright, never ``playwright install``) opens that page
with every network request refused, lets plotly draw its charts -- plotly draws SVG, so lines,
bars, text and axes stay vector in the PDF -- and prints it with a print style sheet
(:data:`PRINT_CSS`): A4 landscape (wide tables stay readable), a page break before every
section, charts and table rows never split, and a running header naming the unit and the
quarter, a footer with page numbers. WeasyPrint would need the figures rendered to static
images first (it runs no JavaScript) and another system library; the browser is already
installed for the dashboards' browser tests.

Without Chromium or Playwright, :func:`check_chromium` raises :class:`PdfError` with what to install.

Example:
    >>> head = header_html("Africa (AFR) <review>", "2026-Q3")
    >>> "Africa (AFR) &lt;review&gt;" in head, "Quarterly review 2026-Q3" in head
    (True, True)
    >>> html_to_pdf(Path("AFR/quarterly_review.html"), Path("AFR/review.pdf"),
    ...             title="Africa (AFR)", quarter="2026-Q3")                     # doctest: +SKIP
    PosixPath('AFR/review.pdf')
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from rbm_utils.core.config import Config
from rbm_utils.core.files import atomic_write_bytes
from rbm_utils.publish.assets import is_asset_name

log = logging.getLogger(__name__)

#: File name of the PDF in a review's published folder (the dashboards' download route serves it).
PDF_FILE = "review.pdf"
PDF_MEDIA_TYPE = "application/pdf"
#: The browser that prints (Debian's package ``chromium``); ``$RBM_CHROMIUM`` overrides it.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ENV = "RBM_CHROMIUM"
#: Flags as in the browser tests: headless, no sandbox (runs as a service user or root), no GPU,
#: nothing fetched in the background.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
#: The page is laid out this wide (CSS pixels), the printable width of A4 landscape with
#: :data:`PRINT_CSS`'s margins, so plotly sizes its charts to the paper.
VIEWPORT = {"width": 1020, "height": 1400}
#: Longest wait for the page and its charts, in milliseconds.
TIMEOUT_MS = 120_000

PRINT_CSS = """
@page { size: A4 landscape; margin: 16mm 12mm 14mm 12mm; }
html, body { background: #ffffff !important; }
body { font-size: 10pt; }
.jp-MarkdownCell h2, .rbm-section { break-before: page; }
h1, h2, h3, h4 { break-after: avoid; }
.jp-OutputArea-output, .js-plotly-plot, .plotly-graph-div, figure, svg, img, tr { break-inside: avoid; }
thead { display: table-header-group; }
table { border-collapse: collapse; width: 100% !important; table-layout: auto !important; }
th, td { border: 1px solid #c8c8c8; padding: 2px 3px !important; vertical-align: top; text-align: left !important;
         font-size: 7.5pt !important; line-height: 1.25 !important; white-space: normal !important;
         overflow-wrap: break-word; word-break: normal; max-width: 22em; }
th { background: #e8eef5; }
.anchor-link, .modebar, .modebar-container, .jp-InputPrompt, .jp-OutputPrompt { display: none !important; }
.jp-Cell, .jp-OutputArea-output { overflow: visible !important; }
"""

#: Waits until every figure of the page is drawn (plotly's ``main-svg``), then shrinks any wider than the page.
_CHARTS_DRAWN = """() => [...document.querySelectorAll('div[id^="rbm-plotly-"]')]
    .every(d => d.querySelector('svg.main-svg'))"""
_FIT_CHARTS = """() => {
    const room = document.body.clientWidth;
    for (const d of document.querySelectorAll('.js-plotly-plot')) {
        const w = d.scrollWidth;
        if (w > room && w > 0) { d.style.zoom = String(room / w); }
    }
}"""


class PdfError(RuntimeError):
    """A PDF cannot be printed (no Chromium or Playwright, no HTML copy, the page did not render)."""


def chromium_path(env: dict[str, str] | None = None) -> Path:
    """The Chromium executable: ``$RBM_CHROMIUM`` or :data:`CHROMIUM`."""
    env = dict(os.environ) if env is None else env
    return Path(env.get(CHROMIUM_ENV) or CHROMIUM)


def check_chromium(path: Path | None = None) -> Path:
    """The Chromium to print with; :class:`PdfError` naming what to install when it or Playwright is missing."""
    exe = Path(path) if path else chromium_path()
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        raise PdfError(
            f"PDFs are printed by Chromium, and {exe} is not installed: install Debian's package "
            f"(apt-get install chromium) or point ${CHROMIUM_ENV} at a Chromium executable"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise PdfError(
            "PDFs are printed through Playwright, which is not installed: pip install 'rbm-workbench[pdf]' "
            "(it drives the system's Chromium; never run `playwright install`)"
        ) from None
    return exe


def header_html(title: str, quarter: str) -> str:
    """Chromium's running header of every page: what is reviewed on the left, the quarter on the right (escaped)."""
    return (
        '<div style="font-size:8px;width:100%;margin:0 12mm;display:flex;justify-content:space-between;'
        'font-family:sans-serif;color:#444;">'
        f'<span class="rbm-pdf-title">{html.escape(title)}</span>'
        f'<span class="rbm-pdf-quarter">Quarterly review {html.escape(quarter)}</span></div>'
    )


FOOTER_HTML = (
    '<div style="font-size:8px;width:100%;margin:0 12mm;text-align:right;font-family:sans-serif;color:#444;">'
    'Page <span class="pageNumber"></span> of <span class="totalPages"></span></div>'
)


def _refuse_network(route: Any) -> None:
    """Only the local file and inline data may load; anything else is aborted."""
    url = route.request.url
    if url.startswith(("file:", "data:", "blob:", "about:")):
        route.continue_()
    else:
        route.abort()


def _asset_router(assets_dir: Path | None) -> Any:
    """A route handler: a plotly.js asset the page asks for that is not where its relative path
    points (a page in a staging folder) comes from ``assets_dir``; everything else as
    :func:`_refuse_network`."""

    def route_request(route: Any) -> None:
        url = route.request.url
        if assets_dir is not None and url.startswith("file:"):
            name = url.rsplit("/", 1)[-1]
            local = Path(url2pathname(urlparse(url).path))
            if is_asset_name(name) and not local.is_file() and (Path(assets_dir) / name).is_file():
                route.fulfill(path=str(Path(assets_dir) / name), content_type="text/javascript")
                return
        _refuse_network(route)

    return route_request


def print_page(browser: Any, html_path: Path, *, title: str, quarter: str, assets_dir: Path | None = None) -> bytes:
    """The PDF bytes of one HTML file printed by an open Playwright ``browser``; its plotly.js
    asset, when not beside it, from ``assets_dir`` (the quarter's ``assets`` folder)."""
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=True, offline=True)
    try:
        context.route("**/*", _asset_router(assets_dir))
        page = context.new_page()
        page.emulate_media(media="print")
        page.goto(Path(html_path).resolve().as_uri(), wait_until="load", timeout=TIMEOUT_MS)
        page.wait_for_function(_CHARTS_DRAWN, timeout=TIMEOUT_MS)
        page.add_style_tag(content=PRINT_CSS)
        page.evaluate(_FIT_CHARTS)
        return page.pdf(
            format="A4",
            landscape=True,
            print_background=True,
            display_header_footer=True,
            header_template=header_html(title, quarter),
            footer_template=FOOTER_HTML,
            margin={"top": "16mm", "bottom": "14mm", "left": "12mm", "right": "12mm"},
            prefer_css_page_size=True,
        )
    finally:
        context.close()


class Printer:
    """An open Chromium to print several pages with one launch (``with Printer() as p: p.print(...)``)."""

    def __init__(self, chromium: Path | None = None) -> None:
        self.exe = check_chromium(chromium)
        self._pw: Any = None
        self._browser: Any = None

    def __enter__(self) -> Printer:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=str(self.exe), args=ARGS, headless=True)
        except Exception as exc:
            self._pw.stop()
            raise PdfError(f"Chromium ({self.exe}) did not start: {exc}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            if self._pw is not None:
                self._pw.stop()
            self._browser = self._pw = None

    def print(
        self, html_path: Path, pdf_path: Path, *, title: str, quarter: str, assets_dir: Path | None = None
    ) -> Path:
        """Print ``html_path`` into ``pdf_path`` (written atomically)."""
        if self._browser is None:
            raise RuntimeError("use the Printer in a with block")
        if not Path(html_path).is_file():
            raise PdfError(f"no HTML copy {html_path} to print: publish the review first (rbm review)")
        try:
            data = print_page(self._browser, Path(html_path), title=title, quarter=quarter, assets_dir=assets_dir)
        except PdfError:
            raise
        except Exception as exc:  # a page that does not load or draw within the time
            raise PdfError(f"printing {html_path} failed: {exc}") from None
        return atomic_write_bytes(Path(pdf_path), data)


def html_to_pdf(
    html_path: Path,
    pdf_path: Path,
    *,
    title: str,
    quarter: str,
    chromium: Path | None = None,
    assets_dir: Path | None = None,
) -> Path:
    """Print one HTML file to a PDF with its own Chromium (launched and closed here)."""
    with Printer(chromium) as printer:
        return printer.print(html_path, pdf_path, title=title, quarter=quarter, assets_dir=assets_dir)


def review_html(folder: Path, unit: str | None) -> Path:
    """The static HTML copy in a review's folder: the unit review's, or the overview's (``unit`` None)."""
    # imported here: the batch's module, which a page's download links need not load
    from rbm_utils.publish.quarterly import OVERVIEW_TEMPLATE, UNIT_TEMPLATE

    template = UNIT_TEMPLATE if unit else OVERVIEW_TEMPLATE
    return Path(folder) / template.with_suffix(".html").name


def review_title(unit: str | None, config: Config) -> str:
    """What the header names: the unit (name, code) or the bureau overview."""
    if unit:
        return f"{config.unit(unit).name} ({unit})"
    return f"{config.name}: bureau overview"


def write_review_pdf(
    folder: Path,
    quarter: str,
    unit: str | None,
    config: Config,
    printer: Printer | None = None,
    assets_dir: Path | None = None,
) -> Path:
    """Print the review published (or staged) in ``folder`` to ``<folder>/review.pdf``; ``unit``
    None for the bureau overview. With no ``printer``, a Chromium is launched for this one page.
    ``assets_dir``: the quarter's ``assets`` folder, for a page printed in a staging folder."""
    title = review_title(unit, config)
    src, dest = review_html(folder, unit), Path(folder) / PDF_FILE
    if printer is not None:
        out = printer.print(src, dest, title=title, quarter=quarter, assets_dir=assets_dir)
    else:
        out = html_to_pdf(src, dest, title=title, quarter=quarter, assets_dir=assets_dir)
    log.info("wrote the review PDF %s", out)
    return out
