"""A published folder read through FolderView stays one version while it is exchanged."""

from __future__ import annotations

import pandas as pd
import pytest

from rbm_utils.core.files import FolderView, exchange_dirs
from rbm_utils.publish.folders import read_folder_tables


def version(folder, rows: int) -> None:
    folder.mkdir()
    pd.DataFrame({"v": range(rows)}).to_parquet(folder / "kpi_progress.parquet")
    (folder / "inputs.json").write_text(f'{{"rows": {rows}}}', encoding="utf-8")


def test_a_view_keeps_the_version_it_opened_when_the_folder_is_exchanged(tmp_path):
    live, new = tmp_path / "AFR", tmp_path / ".tmp-AFR"
    version(live, 3)
    version(new, 5000)
    with FolderView(live) as view:
        if not exchange_dirs(new, live):
            pytest.skip("renameat2(RENAME_EXCHANGE) is not supported here")
        # the path now names the new version; the view still reads the old one, file by file
        assert len(pd.read_parquet(live / "kpi_progress.parquet")) == 5000
        assert view.read_text("inputs.json") == '{"rows": 3}'
        with view.open("kpi_progress.parquet") as fh:
            assert len(pd.read_parquet(fh)) == 3
        assert view.is_file("kpi_progress.parquet") and not view.is_file("figures.json")
        with pytest.raises(FileNotFoundError):
            view.open("figures.json")


def test_folder_tables_come_from_one_version_and_a_missing_folder_is_empty(tmp_path):
    version(tmp_path / "AFR", 4)
    tables = read_folder_tables(tmp_path / "AFR", {"kpi_progress": "kpi", "risks": "risks"})
    assert list(tables) == ["kpi"] and len(tables["kpi"]) == 4
    assert read_folder_tables(tmp_path / "gone", {"kpi_progress": "kpi"}) == {}
