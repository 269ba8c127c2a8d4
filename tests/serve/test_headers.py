"""The security headers' policy (rbm_utils.serve.headers): what docs/dashboards.md says is what is sent."""

from __future__ import annotations

import re
from pathlib import Path

from rbm_utils.serve import headers
from rbm_utils.serve.server import ServeOptions, hardened_config

DOCS = Path(__file__).resolve().parents[2] / "docs" / "dashboards.md"


def test_the_documented_policy_is_the_one_sent():
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"Every response carries\n\n((?:    .*\n)+)", text)
    assert block, "docs/dashboards.md no longer quotes the policy"
    assert " ".join(block.group(1).split()) == headers.CSP


def test_jupyters_handlers_send_the_same_headers_as_every_other_response():
    sent = hardened_config(ServeOptions(outputs=Path("/x")))["Voila"]["tornado_settings"]["headers"]
    assert sent == {"Content-Security-Policy": headers.CSP, **headers.HEADERS}


def test_scripts_run_only_from_the_server():
    script = headers.CSP_DIRECTIVES["script-src"]
    assert script == "'self'" and headers.CSP_DIRECTIVES["frame-ancestors"] == "'none'"
    assert "'unsafe" not in " ".join(v for k, v in headers.CSP_DIRECTIVES.items() if k != "style-src")


def test_a_static_copy_allows_exactly_its_own_inline_scripts():
    page = (
        b'<script>Plotly.newPlot("a")</script><script src="/x.js"></script><script type="application/json">{}</script>'
    )
    hashes = headers.inline_script_hashes(page)
    assert len(hashes) == 1
    policy = headers.static_copy_csp(hashes)
    assert policy.replace(" " + hashes[0], "") == headers.CSP
