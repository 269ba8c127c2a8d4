"""MathJax off (rbm_utils.serve.typesetting): the installed Voila's MathJax plugin chunk is found and
replaced by one that defines the same plugin with a typesetter that does nothing."""

from __future__ import annotations

import re

import pytest
from voila.paths import collect_static_paths

from rbm_utils.serve import typesetting


def _voila_static() -> list[str]:
    return collect_static_paths(["voila", "nbconvert"], "lab")


def test_the_installed_voila_has_one_mathjax_chunk_of_the_expected_shape(tmp_path):
    original = typesetting.find_chunk(_voila_static())
    text = original.read_text(encoding="utf-8")
    written = typesetting.install(_voila_static(), tmp_path)
    assert written.name == original.name and written.parent == tmp_path
    chunk = written.read_text(encoding="utf-8")
    head = re.search(r"push\(\[\[(\d+)\],\{(\d+):", text)
    assert head and f"push([[{head.group(1)}],{{{head.group(2)}:" in chunk  # same chunk, same module
    var = re.search(r"provides:(\w)\.ILatexTypesetter", text).group(1)
    token = re.search(rf"[,\s]{var}=a\((\d+)\)", text)
    assert f'id:"{typesetting.PLUGIN_ID}"' in chunk and "provides:s.ILatexTypesetter" in chunk
    assert token and f"a({token.group(1)})" in chunk
    assert "async typeset(e){}" in chunk
    # the MathJax library chunks the real plugin loads on first use are never named
    for lib in re.findall(r"a\.e\((\d+)\)", text):
        assert f"a.e({lib})" not in chunk


def test_a_changed_chunk_stops_the_server_rather_than_typesetting(tmp_path):
    (tmp_path / "1.voila.js").write_text(f'console.log("{typesetting.PLUGIN_ID}")', encoding="utf-8")
    with pytest.raises(typesetting.TypesettingError):
        typesetting.install([tmp_path], tmp_path / "out")
    with pytest.raises(typesetting.TypesettingError):
        typesetting.find_chunk([tmp_path / "missing"])
