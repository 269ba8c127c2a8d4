"""A review's exports with the batch (rbm review, --pdf) and on demand (rbm export), end to end on
the sample bureau: AFR's 2026-Q3 review is published with its Excel pack and its PDF."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import openpyxl
import pytest

from rbm_utils import cli
from rbm_utils.core.config import load_config
from rbm_utils.exchange import excel_pack, pdf
from rbm_utils.exchange.reviews import ExportError, export_reviews, published_reviews

CFG = load_config()


def _copy_store(url: str, dest: Path) -> str:
    src, dst = sqlite3.connect(url.removeprefix("sqlite:///")), sqlite3.connect(dest)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{dest}"


@pytest.mark.slow
def test_the_batch_publishes_each_review_with_its_pack_and_pdf(sample_bureau, tmp_path, capsys):
    try:
        pdf.check_chromium()
    except pdf.PdfError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PDF tests must run in CI: {exc}", pytrace=False)
        pytest.skip(str(exc))
    q, out = sample_bureau["quarter"], tmp_path / "outputs"
    url = _copy_store(sample_bureau["store_url"], tmp_path / "rbm.sqlite")
    args = ["review", "--quarter", q, "--unit", "AFR", "--joint", "CYB-AFR", "--store", url, "--outputs", str(out)]
    assert cli.main([*args, "--quiet", "--pdf"]) == 0, capsys.readouterr().err
    afr, ov, joint = out / q / "AFR", out / q / "overview", out / q / "joint" / "CYB-AFR"
    for folder in (afr, ov):
        assert (folder / excel_pack.PACK_FILE).is_file() and (folder / pdf.PDF_FILE).is_file()
        assert (folder / pdf.PDF_FILE).read_bytes().startswith(b"%PDF-")
    assert not (joint / excel_pack.PACK_FILE).exists()  # a joint review has no pack
    # printed in the staging folder, the page still drew its charts with the quarter's plotly.js:
    # the chart titles of the HTML copy are text of the PDF
    from test_pdf import pdf_text

    html = (afr / "quarterly_review.html").read_text(encoding="utf-8")
    assert "* plotly.js v" not in html  # the page loads the quarter's asset
    titles = re.findall(r'"title":\{"text":"([A-Za-z ]{6,40})"', html)
    assert titles, "no chart title found in the AFR page"
    printed = pdf_text((afr / pdf.PDF_FILE).read_bytes())
    assert all(t.replace(" ", "") in printed for t in titles[:3]), titles[:3]
    wb = openpyxl.load_workbook(afr / excel_pack.PACK_FILE)
    assert wb.sheetnames[:2] == [excel_pack.COVER, "KPI progress"]
    cover = {r[0]: r[1] for r in wb[excel_pack.COVER].iter_rows(values_only=True) if r[0]}
    manifest = json.loads((out / q / "snapshot" / "manifest.json").read_text())
    assert cover["Snapshot content (sha256)"] == manifest["content_sha256"]
    assert published_reviews(out, q, CFG) == ["AFR", "overview"]

    # the batch again: nothing changed, nothing re-run; an export missing is written, the others kept
    (afr / pdf.PDF_FILE).unlink()
    pack_before = (afr / excel_pack.PACK_FILE).stat().st_mtime_ns
    assert cli.main([*args, "--quiet", "--pdf"]) == 0
    assert json.loads((out / q / "run_report.json").read_text())["totals"]["skipped_unchanged"] == 3
    assert (afr / pdf.PDF_FILE).is_file()
    assert (afr / excel_pack.PACK_FILE).stat().st_mtime_ns == pack_before

    # on demand
    (ov / excel_pack.PACK_FILE).unlink()
    assert cli.main(["export", "excel", "--quarter", q, "--all", "--outputs", str(out)]) == 0
    assert (ov / excel_pack.PACK_FILE).is_file()
    assert cli.main(["export", "pdf", "--quarter", q, "--unit", "EUR", "--outputs", str(out)]) == 1
    assert "no published review of EUR" in capsys.readouterr().err
    with pytest.raises(ExportError, match="no published review"):
        export_reviews(out, "2025-Q1", ["AFR"], CFG, excel=True)


def test_review_pdf_without_chromium_fails_before_the_batch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(pdf.CHROMIUM_ENV, str(tmp_path / "no-chromium"))
    code = cli.main(["review", "--quarter", "2026-Q3", "--unit", "AFR", "--outputs", str(tmp_path), "--pdf"])
    assert code == 1
    assert "apt-get install chromium" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing frozen or published
