"""Hostile browsers, over plain HTTP and the kernel websocket, against the real server (issue 18):
the same security headers on every kind of response, errors without tracebacks or server paths,
``/logout`` a clean redirect, MathJax's chunk replaced, kernel errors made plain."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import time
import uuid

import pytest
from test_serve import (
    ROOT,
    Server,
    _kernel_id,
    _msg,
    free_port,
    get,
    published_site,
    running_server,
    session_headers,
    view,
)

from rbm_utils.serve import headers, typesetting
from rbm_utils.serve.server import ServeOptions

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(sample_bureau, tmp_path_factory):
    return published_site(sample_bureau, tmp_path_factory)


@pytest.fixture(scope="module")
def server(request, site):
    return running_server(request, site)


def request(
    port: int, method: str, path: str, hdrs: dict | None = None, signed_in: bool = True
) -> tuple[int, dict, str]:
    """One request, the path sent as written (with the tests' session unless ``signed_in`` is
    False); status, headers and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    session = session_headers(f"http://127.0.0.1:{port}/") if signed_in else {}
    try:
        conn.request(method, path, headers={**session, **(hdrs or {})})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def assert_no_internals(text: str) -> None:
    """No traceback, no server path, no Python file name."""
    assert "Traceback" not in text
    assert str(ROOT) not in text and "/work/" not in text and "site-packages" not in text
    assert not re.search(r"\w\.py\b", text), re.search(r".{40}\w\.py\b.{20}", text)


def assert_security_headers(status: int, hdrs: dict, csp: str | None = headers.CSP) -> None:
    for name, value in headers.HEADERS.items():
        assert hdrs.get(name) == value, (name, status)
    if csp is not None:
        assert hdrs.get("Content-Security-Policy") == csp
    policy = hdrs["Content-Security-Policy"]
    assert "'unsafe-eval'" not in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    kind = hdrs.get("Content-Type", "").split(";")[0]
    if status >= 300 or kind == "text/html":
        assert "no-store" in hdrs.get("Cache-Control", "") or "no-cache" in hdrs.get("Cache-Control", ""), status


def _mathjax_chunk() -> str:
    from voila.paths import collect_static_paths

    return typesetting.find_chunk(collect_static_paths(["voila", "nbconvert"], "lab")).name


def responses(q: str) -> list[tuple[str, str, dict, tuple[int, ...]]]:
    """One request of each kind of response the server gives (none starts a kernel)."""
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    upgrade["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    return [
        ("GET", "/", {}, (301,)),  # redirect
        ("GET", "/index.html", {}, (301,)),
        ("GET", "/voila/static/voila.js", {}, (200,)),  # Voila's static files
        ("GET", f"/voila/static/{_mathjax_chunk()}", {}, (200,)),
        ("GET", "/voila/static/no-such-file.js", {}, (403, 404)),
        ("GET", "/voila/templates/rbm/static/rbm-page.js", {}, (200,)),  # template static
        ("GET", "/voila/templates/rbm/static/missing.js", {}, (403, 404)),
        ("GET", "/voila/templates/lab/../../../../etc/passwd", {}, (400, 403, 404)),
        ("GET", "/no/such/page", {}, (404,)),  # tornado's own 404
        ("GET", "/voila/render/missing.ipynb", {}, (404,)),  # Voila's 404
        ("GET", "/voila/labextensions/missing.js", {}, (403, 404)),
        ("GET", f"/rbm-download/{q}/AFR/doc", {}, (404,)),  # downloads: refused
        ("POST", f"/rbm-download/{q}/AFR/pdf", {}, (403, 405)),
        ("HEAD", f"/rbm-download/{q}/AFR/doc", {}, (404,)),
        ("GET", f"/rbm-static/{q}/NOPE", {}, (404,)),
        ("GET", "/api/kernels", {}, (404,)),
        ("GET", "/voila/render/index.ipynb", {"Host": "attacker.example"}, (403,)),  # DNS rebinding
        ("GET", f"/api/kernels/{uuid.uuid4()}/channels", {**upgrade, "Origin": "http://attacker.example"}, (403, 404)),
        ("GET", f"/api/kernels/{uuid.uuid4()}/channels", upgrade, (403, 404)),
    ]


def test_every_kind_of_response_carries_the_security_headers(server, site):
    for method, path, hdrs, expected in responses(site["quarter"]):
        status, got, body = request(server.opts.port, method, path, hdrs)
        assert status in expected, (method, path, status)
        assert_security_headers(status, got)
        if status >= 400 or got.get("Content-Type", "").startswith("text/html"):
            assert_no_internals(body)
    # not signed in: the sign-in page (pages) or 403 (the rest), with the same headers
    for method, path, hdrs, _ in responses(site["quarter"]):
        status, got, body = request(server.opts.port, method, path, hdrs, signed_in=False)
        assert status in (302, 400, 403, 404), (method, path, status)
        assert_security_headers(status, got)
        assert_no_internals(body)
    status, got, body = request(server.opts.port, "GET", "/logout", signed_in=False)  # nothing to end
    assert status in (200, 302) and "Traceback" not in body
    status, got, body = request(server.opts.port, "GET", "/login", signed_in=False)
    assert status == 200 and 'name="password"' in body
    assert_security_headers(status, got)


def test_a_page_and_its_static_copy_carry_the_headers(server, site):
    q = site["quarter"]
    status, page, got = get(f"{server.base}/voila/render/index.ipynb?quarter={q}")
    assert status == 200
    view(f"{server.base}/voila/render/index.ipynb?quarter={q}")  # (and closes its kernel)
    assert_security_headers(status, got)
    tags = re.findall(r"<script\b[^>]*>", page)
    inline = [t for t in tags if "src=" not in t and 'type="application/' not in t]
    assert tags and inline == []  # scripts are files of this server; the rest is JSON data
    status, got, copy = request(server.opts.port, "GET", f"/rbm-static/{q}/AFR")
    assert status == 200
    assert_security_headers(status, got, csp=None)
    hashes = headers.inline_script_hashes(copy.encode())
    assert hashes and got["Content-Security-Policy"] == headers.static_copy_csp(hashes)


def test_the_mathjax_plugin_is_served_without_typesetting(server):
    status, _, body = request(server.opts.port, "GET", f"/voila/static/{_mathjax_chunk()}")
    assert status == 200
    assert typesetting.PLUGIN_ID in body and "async typeset(e){}" in body and "ensureMathDocument" not in body


def test_error_pages_say_plain_words(server):
    status, _, body = request(server.opts.port, "GET", "/voila/render/missing.ipynb")
    assert status == 404 and "There is no page at this address." in body
    status, _, body = request(server.opts.port, "GET", "/rbm-download/x/y/z")
    assert status == 404 and "There is no page at this address." in body


def test_a_corrupted_published_table_shows_a_plain_message(site, tmp_path):
    outputs = tmp_path / "outputs"
    shutil.copytree(site["outputs"], outputs)
    (outputs / site["quarter"] / "AFR" / "kpi_progress.parquet").write_text(f"not parquet {ROOT}/secret.py")
    opts = ServeOptions(
        outputs=outputs,
        port=free_port(),
        quarter=site["quarter"],
        max_kernels=4,
        cell_timeout=120,
        store_url=site["store_url"],
    )
    srv = Server(opts, tmp_path / "server.log")
    try:
        status, page = view(f"{srv.base}/voila/render/review.ipynb?quarter={site['quarter']}&unit=AFR")
        assert status == 200
        assert "could not be shown" in page
        assert_no_internals(page)
    finally:
        srv.stop()


def test_kernel_errors_reach_the_browser_without_traceback(server, site):
    """Widget updates a dashboard refuses (an out-of-range selection) raise in the kernel: the
    browser is told so in plain words, the server log keeps the details."""
    import websocket

    status, page, _ = get(f"{server.base}/voila/render/review.ipynb?quarter={site['quarter']}&unit=AFR")
    assert status == 200
    kid = _kernel_id(page)
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{server.opts.port}/api/kernels/{kid}/channels?session_id={uuid.uuid4()}",
        timeout=5,
        origin=server.base,
        cookie=session_headers(server.base)["Cookie"],  # the page's reader: a kernel answers only them
    )
    seen: list[dict] = []
    try:
        ws.send(json.dumps(_msg("comm_info_request", {})))
        comms: dict = {}
        deadline = time.monotonic() + 60
        while not comms and time.monotonic() < deadline:
            try:
                m = json.loads(ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if m["msg_type"] == "comm_info_reply":
                comms = m["content"]["comms"]
        assert comms
        for cid in comms:
            state = {"index": 10**6, "value": "no such value"}
            ws.send(json.dumps(_msg("comm_msg", {"comm_id": cid, "data": {"method": "update", "state": state}})))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                seen.append(json.loads(ws.recv()))
            except websocket.WebSocketTimeoutException:
                if any(s["msg_type"] == "error" for s in seen):
                    break
    finally:
        ws.close()
    errors = [s["content"] for s in seen if s["msg_type"] == "error"]
    assert errors, "no kernel error was provoked"
    assert all(e["traceback"] == [] and e["ename"] == "Error" for e in errors)
    assert_no_internals(json.dumps(seen))
    deadline = time.monotonic() + 30
    while "message kept from the browser" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "TraitError" in server.log()  # the details stay on the server
