"""PDFs printed by Debian's Chromium (rbm_utils.exchange.pdf).

Needs /usr/bin/chromium and playwright: skipped when either is absent, except in CI (env CI set),
where it fails (.ci/run installs Debian's chromium).
"""

from __future__ import annotations

import os
import re
import unicodedata
import zlib

import pytest

from rbm_utils.core.config import load_config
from rbm_utils.exchange import pdf

CFG = load_config()
#: A4 in PDF points (1/72 inch), either way round: 210 x 297 mm.
A4 = (595.0, 842.0)


def _need_chromium() -> None:
    try:
        pdf.check_chromium()
    except pdf.PdfError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PDF tests must run in CI: {exc}", pytrace=False)
        pytest.skip(f"no browser to print with: {exc}")


def pdf_text(data: bytes) -> str:
    """The text a PDF shows, without spaces: Chromium writes glyph ids in compressed content
    streams and maps them back to characters with ToUnicode tables, read here."""
    streams = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            streams.append(zlib.decompress(m.group(1)))
        except zlib.error:
            continue
    cmap: dict[int, str] = {}
    for s in streams:
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", s, re.S):
            for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                cmap.setdefault(int(src, 16), bytes.fromhex(dst.decode()).decode("utf-16-be", "replace"))
        for block in re.findall(rb"beginbfrange(.*?)endbfrange", s, re.S):
            for lo, hi, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                for i, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                    cmap.setdefault(code, chr(int(dst, 16) + i))
    out = []
    for s in streams:
        if b"BT" in s and b"begincmap" not in s:
            for h in re.findall(rb"<([0-9A-Fa-f]+)>", s):
                out.append("".join(cmap.get(int(h[i : i + 4], 16), "?") for i in range(0, len(h) - 3, 4)))
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", "".join(out)))  # NFKC: ligatures back to letters


def page_sizes(data: bytes) -> list[tuple[float, float]]:
    return [(float(w), float(h)) for w, h in re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)]


PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sample review</title></head><body>
<div class="jp-Cell jp-MarkdownCell"><h1>Quarterly review of one unit</h1><p>Opening words.</p></div>
<div class="jp-Cell jp-MarkdownCell"><h2>Risks</h2><p>Open risks.</p></div>
<div class="jp-Cell jp-MarkdownCell"><h2>Money</h2><p>Spending.</p></div>
<img src="https://example.org/tracker.png">
</body></html>"""


def test_a_page_prints_to_a4_with_the_unit_and_quarter_in_the_header(tmp_path):
    _need_chromium()
    src = tmp_path / "page.html"
    src.write_text(PAGE, encoding="utf-8")
    out = pdf.html_to_pdf(src, tmp_path / "page.pdf", title="Regional Office for Africa (AFR)", quarter="2026-Q3")
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    sizes = page_sizes(data)
    # one page per section: the opening, Risks, Money (a break before each section)
    assert len(sizes) == 3
    for w, h in sizes:
        assert sorted((round(w), round(h))) == [round(A4[0]), round(A4[1])]
    assert w > h  # landscape
    text = pdf_text(data)
    assert text.count("RegionalOfficeforAfrica(AFR)") == 3  # the header, on every page
    assert text.count("Quarterlyreview2026-Q3") == 3
    assert "Page1of3" in text and "Risks" in text and "Money" in text
    assert not list(tmp_path.glob(".*.tmp"))


def test_header_text_is_escaped():
    head = pdf.header_html("<script>alert(1)</script>", "2026-Q3")
    assert "<script>" not in head and "&lt;script&gt;" in head


def test_a_review_is_printed_from_its_html_copy(tmp_path):
    _need_chromium()
    folder = tmp_path / "AFR"
    folder.mkdir()
    pdf.review_html(folder, "AFR").write_text(PAGE, encoding="utf-8")
    out = pdf.write_review_pdf(folder, "2026-Q3", "AFR", CFG)
    assert out == folder / pdf.PDF_FILE
    assert f"{CFG.unit('AFR').name}(AFR)".replace(" ", "") in pdf_text(out.read_bytes())


def test_no_html_copy_is_a_clear_error(tmp_path):
    _need_chromium()
    with pytest.raises(pdf.PdfError, match="no HTML copy"):
        pdf.write_review_pdf(tmp_path, "2026-Q3", None, CFG)


def test_missing_chromium_is_a_clear_error(tmp_path):
    with pytest.raises(pdf.PdfError, match="apt-get install chromium"):
        pdf.check_chromium(tmp_path / "no-chromium")


def test_a_staged_review_prints_its_charts_with_the_quarters_plotly_asset(tmp_path):
    """The batch prints the page in its staging folder, where the page's relative path to the
    quarter's plotly.js leads nowhere yet: the printer takes the asset from the quarter's folder,
    and the charts (here their titles, drawn by plotly as SVG text) are in the PDF."""
    _need_chromium()
    import nbformat.v4 as v4

    from rbm_utils.publish import assets
    from rbm_utils.publish.html import PLOTLY_MIME, notebook_to_html

    quarter = tmp_path / "outputs" / "2026-Q3"
    assets.write_plotly_asset(quarter / assets.ASSETS_DIR)
    fig = {"data": [{"type": "bar", "x": ["a", "b"], "y": [3, 5]}], "layout": {"title": {"text": "Spending by output"}}}
    nb = v4.new_notebook(cells=[v4.new_code_cell("", outputs=[v4.new_output("display_data", data={PLOTLY_MIME: fig})])])
    html = notebook_to_html(nb, plotly_js=assets.asset_src(quarter / "AFR", quarter / assets.ASSETS_DIR))
    staging = tmp_path / "outputs" / ".staging" / "2026-Q3" / "AFR"
    for folder in (staging, quarter / "AFR"):
        folder.mkdir(parents=True)
        pdf.review_html(folder, "AFR").write_text(html, encoding="utf-8")
    [ref] = assets.page_asset_refs(html)
    assert not (staging / ref).resolve().exists()  # from staging, the page's own path leads nowhere
    staged = pdf.write_review_pdf(staging, "2026-Q3", "AFR", CFG, assets_dir=quarter / assets.ASSETS_DIR)
    published = pdf.write_review_pdf(quarter / "AFR", "2026-Q3", "AFR", CFG)  # the asset resolves from disk
    for out in (staged, published):
        assert "Spendingbyoutput" in pdf_text(out.read_bytes()), out
