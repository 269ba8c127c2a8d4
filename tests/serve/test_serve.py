"""The dashboards' server (rbm_utils.serve.server): hardened configuration, and the real standalone Voila
attacked over HTTP and the kernel websocket.

The published site (outputs of ``review_quarter`` on a copy of the sample store, with unit EUR
replaced by a workbook whose text fields hold XSS payloads) and the running server are built
once per session by :func:`published_site` and :func:`running_server`; tests/test_dashboard.py
and tests/test_browser.py import them from here. The site's store holds the test users of
:data:`USERS`; each server is signed in as :data:`LEADER` and :func:`get`, :func:`view` and
:func:`raw` send that session's cookie (``signed_in=False`` sends none).
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
from factories import minimal_unit, sheet_rows, write_grid_xlsx

from rbm_utils.core.config import ActionPlan, load_config
from rbm_utils.serve import server as serve
from rbm_utils.serve.server import ServeError, ServeOptions

CFG = load_config()
ROOT = Path(__file__).resolve().parent.parent.parent
IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
#: TeX a typesetter would turn into a live link and a large black box: must stay plain text.
TEX = r"$\href{http://127.0.0.1:9/tex}{click me}$ $$\rule{300px}{300px}$$"
#: The units reviewed for the tests (EUR carries the XSS payloads) and the joint pair.
UNITS = ("AFR", "EUR")
JOINT = "CYB-AFR"
XSS_UNIT = "EUR"

_SITE: dict = {}
_SERVERS: dict = {}
#: The session cookie of each running server (by port), sent by get, view and raw.
_COOKIES: dict[int, str] = {}
PASSWORD = "correct horse battery staple"
#: Test users of the site's store: name -> (role, units).
USERS = {
    "pytest.lead": ("leadership", ()),
    "afr.officer": ("officer", ("AFR",)),
    "eur.officer": ("officer", ("EUR",)),
    "viewer": ("viewer", ()),
}
LEADER = "pytest.lead"


# --------------------------------------------------------------------------- shared fixtures


def _copy_sqlite(url: str, dest: Path) -> str:
    src = sqlite3.connect(url.removeprefix("sqlite:///"))
    dst = sqlite3.connect(dest)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{dest}"


def xss_workbook(path: Path) -> Path:
    """A valid unit EUR whose KPI names, risk title, an actual's comment and the programme hold payloads
    (markup, and TeX in the second KPI's name)."""
    unit, frames = minimal_unit(XSS_UNIT)
    frames["KPIs"].loc[0, "name"] = IMG
    frames["KPIs"].loc[1, "name"] = TEX
    frames["Risks"].loc[0, "title"] = SCRIPT
    frames["Actuals"] = frames["Actuals"].astype({"comment": object})
    frames["Actuals"].loc[2, "comment"] = IMG + SCRIPT
    frames["Results"]["programme"] = SCRIPT
    return write_grid_xlsx(path, sheet_rows(unit, frames))


def published_site(sample_bureau: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Once per session: the sample store copied, the XSS workbook ingested, and
    ``review_quarter`` run for AFR, EUR, the joint pair CYB-AFR and the overview."""
    if _SITE:
        return _SITE
    from rbm_utils.publish.quarterly import review_quarter
    from rbm_utils.store.database import Store
    from rbm_utils.store.ingest import ingest_file

    root = tmp_path_factory.mktemp("dashboards_site")
    url = _copy_sqlite(sample_bureau["store_url"], root / "rbm.sqlite")
    with Store(url) as st:
        # the payload programme is free text: ingested as under settings without the Action Plan's code lists
        free_text = dataclasses.replace(CFG, action_plan=ActionPlan())
        rep = ingest_file(xss_workbook(root / "EUR_xss.xlsx"), st, free_text, by="pytest")
        assert rep.status == "stored", rep.message
        add_test_users(st)
    outputs = root / "outputs"
    report = review_quarter(
        sample_bureau["quarter"],
        units=list(UNITS),
        joint=[JOINT],
        store_url=url,
        outputs=outputs,
        workers=3,
        progress=False,
    )
    assert report["ok"], report
    _SITE.update(outputs=outputs, quarter=sample_bureau["quarter"], store_url=url, root=root)
    return _SITE


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # the redirect itself is the answer
        return None


def add_test_users(store) -> None:
    """Register :data:`USERS` (password :data:`PASSWORD`) in ``store``."""
    from rbm_utils.store.users import add_user

    for name, (role, units) in USERS.items():
        add_user(store, name, role, units, PASSWORD)


def sign_in(base: str, name: str, password: str = PASSWORD) -> tuple[int, str | None, str]:
    """POST the sign-in form as a browser would (XSRF cookie and field): (status, session cookie, page)."""
    import http.cookiejar

    jar = http.cookiejar.CookieJar()

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    with opener.open(base + "/login", timeout=60) as r:
        r.read()
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    body = urllib.parse.urlencode({"username": name, "password": password, "_xsrf": xsrf}).encode()
    try:
        with opener.open(urllib.request.Request(base + "/login", data=body, method="POST"), timeout=60) as r:
            status, page = r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        status, page = e.code, e.read().decode("utf-8", "replace")
    session = next((f"rbm_session={c.value}" for c in jar if c.name == "rbm_session"), None)
    return status, session, page


def session_value(port: int) -> str:
    """The value of the ``rbm_session`` cookie the tests hold for the server on ``port``."""
    return _COOKIES[port].split("=", 1)[1]


def session_headers(url: str) -> dict:
    """The Cookie header of the session the tests hold for the server of ``url`` ({} when none)."""
    port = urllib.parse.urlsplit(url).port
    return {"Cookie": _COOKIES[port]} if port in _COOKIES else {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running dashboards server (child process) with its log file."""

    def __init__(self, opts: ServeOptions, log: Path, env: dict | None = None, user: str | None = LEADER) -> None:
        self.opts = opts
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = serve.start_server(opts, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        try:
            serve.wait_until_ready(opts.url, self.proc, timeout=120)
            if user is not None:  # get, view and raw send this session's cookie
                status, cookie, _ = sign_in(self.base, user)
                assert status == 302 and cookie, status
                _COOKIES[opts.port] = cookie
        except Exception:
            self.stop()
            raise

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.opts.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kernels(self) -> list:
        """The server's live kernel processes."""
        import psutil

        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        out = []
        for c in children:
            try:
                if (
                    c.is_running()
                    and c.status() != psutil.STATUS_ZOMBIE
                    and "ipykernel_launcher" in " ".join(c.cmdline())
                ):
                    out.append(c)
            except psutil.Error:
                continue
        return out

    def stop(self) -> None:
        serve.stop_server(self.proc)
        self._log.close()
        _COOKIES.pop(self.opts.port, None)


def running_server(request: pytest.FixtureRequest, site: dict, **overrides) -> Server:
    """Once per session (per set of overrides): the server on the published site."""
    key = tuple(sorted(overrides.items()))
    if key not in _SERVERS:
        opts = ServeOptions(
            outputs=site["outputs"],
            port=free_port(),
            quarter=site["quarter"],
            cull_idle_timeout=60,
            cull_interval=5,
            max_kernels=16,
            cell_timeout=120,
            store_url=site["store_url"],
            kernels_per_user=16,
        )
        for k, v in overrides.items():
            opts = dataclasses.replace(opts, **{k: v})
        srv = Server(opts, site["root"] / f"server-{len(_SERVERS)}.log")
        _SERVERS[key] = srv
        request.session.config.add_cleanup(srv.stop)
    return _SERVERS[key]


@pytest.fixture(scope="module")
def site(sample_bureau, tmp_path_factory):
    return published_site(sample_bureau, tmp_path_factory)


@pytest.fixture(scope="module")
def server(request, site):
    return running_server(request, site)


def get(url: str, timeout: float = 180, signed_in: bool = True, headers: dict | None = None) -> tuple[int, str, dict]:
    """GET ``url`` with the server's session cookie (none when ``signed_in`` is False); no redirect followed
    when not signed in (the answer is the redirect to the sign-in page)."""
    req = urllib.request.Request(url, headers={**(session_headers(url) if signed_in else {}), **(headers or {})})
    opener = urllib.request.build_opener() if signed_in else urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)


def view(url: str, timeout: float = 180, headers: dict | None = None) -> tuple[int, str]:
    """GET a dashboard page like a browser tab that is then closed: the page's kernel is shut
    down through POST /voila/api/shutdown/<kernel> with the page's _xsrf cookie. ``headers``
    (e.g. another user's session cookie) replace the server's session cookie."""
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    session = session_headers(url) if headers is None else headers
    try:
        with opener.open(urllib.request.Request(url, headers=session), timeout=timeout) as r:
            status, page = r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    m = re.search(r"""kernelId["']?\s*:\s*["']([0-9a-f-]{36})["']""", page)
    xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")
    if m:
        parts = urllib.parse.urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        cookie = "; ".join([*session.values(), f"_xsrf={xsrf}"])
        req = urllib.request.Request(
            f"{base}/voila/api/shutdown/{m.group(1)}",
            method="POST",
            data=urllib.parse.urlencode({"_xsrf": xsrf}).encode(),
            headers={"Cookie": cookie},
        )
        with opener.open(req, timeout=60) as r:
            assert r.status == 204
    return status, page


def raw(
    port: int, method: str, path: str, headers: dict | None = None, body: str | None = None, signed_in: bool = True
) -> tuple[int, str]:
    """A request with the path sent exactly as written (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    cookie = {"Cookie": _COOKIES[port]} if signed_in and port in _COOKIES else {}
    try:
        conn.request(method, path, body=body, headers={**cookie, **(headers or {})})
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def page_outputs(page: str) -> str:
    """The HTML and text of every cell output embedded in a Voila page, decoded from its JSON."""
    parts = []
    for block in re.findall(r'<script type="application/vnd.voila.cell-output\+json">(.*?)</script>', page, re.S):
        data = json.loads(block).get("data", {})
        parts += [str(data.get(k, "")) for k in ("text/html", "text/plain", "text/markdown")]
    return "\n".join(parts)


def notebook_code(name: str) -> list[str]:
    """Non-comment code lines of a dashboard notebook (none may appear in a page)."""
    nb = json.loads((serve.DASHBOARDS / name).read_text())
    lines = []
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            src = "".join(c["source"])
            lines += [ln.strip() for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return lines


# --------------------------------------------------------------------------- configuration (no server)


def test_hardened_configuration():
    opts = ServeOptions(
        outputs=Path("/x"),
        port=9999,
        cull_idle_timeout=77,
        cull_interval=7,
        max_kernels=5,
        kernel_memory_mb=999,
        cell_timeout=33,
    )
    c = serve.hardened_config(opts)
    assert c["Voila"]["ip"] == "127.0.0.1" and c["Voila"]["port"] == 9999 and c["Voila"]["port_retries"] == 0
    assert c["Voila"]["open_browser"] is False
    assert c["Voila"]["root_dir"] == str(serve.DASHBOARDS)
    vc = c["VoilaConfiguration"]
    assert vc["strip_sources"] is True and vc["show_tracebacks"] is False
    assert vc["allow_template_override"] == "NO" and vc["allow_theme_override"] == "NO"
    assert vc["file_allowlist"] == [] and vc["preheat_kernel"] is False
    assert vc["template"] == "rbm"
    assert vc["multi_kernel_manager_class"] == "rbm_utils.serve.server.DashboardKernelManager"
    assert c["VoilaExecutor"]["timeout"] == 33
    km = c["DashboardKernelManager"]
    assert (km["cull_idle_timeout"], km["cull_interval"], km["max_kernels"], km["kernel_memory_mb"]) == (77, 7, 5, 999)
    assert km["cull_connected"] is True and km["max_kernels_per_user"] == 4
    assert c["Voila"]["identity_provider_class"] == "rbm_utils.serve.signin.DashboardIdentityProvider"
    ts = c["Voila"]["tornado_settings"]
    assert ts["allow_remote_access"] is False
    csp = ts["headers"]["Content-Security-Policy"]
    assert "connect-src 'self'" in csp and "default-src 'self'" in csp and "http" not in csp


def test_every_configured_trait_exists_in_the_installed_voila():
    """A misspelt option is silently ignored by traitlets: check each against the real classes."""
    from voila.app import Voila
    from voila.configuration import VoilaConfiguration
    from voila.execute import VoilaExecutor

    from rbm_utils.serve import signin

    c = serve.hardened_config(ServeOptions(outputs=Path("/x")))
    classes = {
        "Voila": Voila,
        "VoilaConfiguration": VoilaConfiguration,
        "VoilaExecutor": VoilaExecutor,
        "DashboardKernelManager": serve.DashboardKernelManager,
        "DashboardIdentityProvider": signin.DashboardIdentityProvider,
    }
    for section, values in c.items():
        traits = classes[section].class_trait_names(config=True)
        assert set(values) <= set(traits), (section, set(values) - set(traits))


def test_kernel_environment_keeps_only_what_a_dashboard_needs():
    env = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "RBM_OUTPUTS": "/o",
        "QUERY_STRING": "unit=AFR",
        "LC_ALL": "C.UTF-8",
        "RBM_STORE": "postgresql+psycopg://rbm:secret@db/rbm",
        "PGPASSWORD": "secret",
        "AWS_SECRET_ACCESS_KEY": "k",
        "GITHUB_TOKEN": "t",
        "VOILA_KERNEL_ID": "k1",
    }
    assert serve.kernel_environment(env) == {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "RBM_OUTPUTS": "/o",
        "QUERY_STRING": "unit=AFR",
        "LC_ALL": "C.UTF-8",
        "VOILA_KERNEL_ID": "k1",
    }


def test_dashboard_kernels_are_marked_frozen_only():
    from rbm_utils.analytics import bureau

    assert serve.FROZEN_ONLY_ENV in bureau.FROZEN_ONLY_ENV
    env = serve.dashboard_kernel_environment({"PATH": "/usr/bin", "RBM_STORE": "sqlite:///x", "RBM_FROZEN_ONLY": "0"})
    assert env == {"PATH": "/usr/bin", "RBM_FROZEN_ONLY": "1"}


def test_serve_command_round_trips_through_the_child_parser(tmp_path):
    opts = ServeOptions(
        outputs=tmp_path,
        port=8123,
        quarter="2026-Q3",
        config_path=tmp_path / "w.yaml",
        cull_idle_timeout=30,
        cull_interval=3,
        max_kernels=4,
        kernel_memory_mb=512,
        cell_timeout=9,
    )
    cmd = serve.serve_command(opts, python="py")
    assert cmd[:3] == ["py", "-m", "rbm_utils.serve.server"]
    back = serve.options_from_args(serve._parser().parse_args(cmd[3:]))
    assert back == dataclasses.replace(opts, outputs=tmp_path.resolve(), config_path=(tmp_path / "w.yaml").resolve())


def test_server_environment_points_kernels_at_the_outputs(tmp_path):
    env = serve.server_environment(
        ServeOptions(outputs=tmp_path, quarter="2026-Q3"),
        {"RBM_QUARTER": "old", "X": "1"},
        jupyter_path=tmp_path / "share",
    )
    assert env["RBM_OUTPUTS"] == str(tmp_path.resolve()) and env["RBM_QUARTER"] == "2026-Q3"
    assert env["JUPYTER_PATH"] == str(tmp_path / "share") and env["X"] == "1"
    assert "RBM_QUARTER" not in serve.server_environment(ServeOptions(outputs=tmp_path), {"RBM_QUARTER": "old"})


def test_template_installs_where_voila_looks(tmp_path):
    from voila.paths import collect_template_paths

    share = serve.install_template(tmp_path)
    assert (share / "voila" / "templates" / "rbm" / "index.html.j2").is_file()
    text = (share / "voila" / "templates" / "rbm" / "index.html.j2").read_text()
    assert "cdn.jsdelivr" not in text and "https://" not in text
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(share)
    try:
        paths = collect_template_paths(["voila", "nbconvert"], "rbm", prune=True)
    finally:
        os.environ.pop("JUPYTER_PATH") if old is None else os.environ.__setitem__("JUPYTER_PATH", old)
    assert paths[0] == str(share / "voila" / "templates" / "rbm")
    assert any(p.endswith(os.path.join("voila", "templates", "lab")) for p in paths)  # inherits "lab"


def test_check_options_refuses_what_cannot_be_served(tmp_path):
    with pytest.raises(ServeError, match="no outputs folder"):
        serve.check_options(ServeOptions(outputs=tmp_path / "missing"))
    with pytest.raises(ServeError, match="not published"):
        serve.check_options(ServeOptions(outputs=tmp_path, quarter="2026-Q3", port=free_port()))
    with pytest.raises(ServeError, match="127.0.0.1 only"):
        serve.check_options(ServeOptions(outputs=tmp_path, ip="0.0.0.0", port=free_port()))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(ServeError, match="in use"):
            serve.check_options(ServeOptions(outputs=tmp_path, port=s.getsockname()[1]))
    ok = serve.check_options(ServeOptions(outputs=tmp_path, port=free_port()))
    assert ok.outputs == tmp_path.resolve()


def test_rbm_serve_reports_a_busy_port_without_traceback(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "rbm_utils.cli",
                "serve",
                "--outputs",
                str(tmp_path),
                "--port",
                str(s.getsockname()[1]),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1
    assert "in use" in out.stderr and "Traceback" not in out.stderr


# --------------------------------------------------------------------------- the running server


def test_landing_page_is_served_at_the_root(server, site):
    status, _ = raw(server.opts.port, "GET", "/")
    assert status == 301
    status, page = view(server.base + "/")
    assert status == 200
    shown, q = page_outputs(page), site["quarter"]
    for unit in UNITS:
        assert f'href="review.ipynb?quarter={q}&amp;unit={unit}"' in shown
    assert f'href="overview.ipynb?quarter={q}"' in shown
    assert f'href="joint.ipynb?quarter={q}&amp;pair={JOINT}"' in shown


def test_pages_carry_the_security_headers(server):
    status, _, headers = get(server.base + "/voila/render/index.ipynb")
    assert status == 200
    assert headers["Content-Security-Policy"] == serve.CSP
    assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "no-referrer"
    # DNS rebinding: a foreign Host header is refused
    status, _ = raw(server.opts.port, "GET", "/voila/render/index.ipynb", headers={"Host": "attacker.example"})
    assert status == 403


def test_query_string_reaches_the_kernel_and_is_validated(server, site):
    q = site["quarter"]
    status, page = view(f"{server.base}/voila/render/joint.ipynb?quarter={q}&pair={JOINT}")
    assert status == 200
    shown = page_outputs(page)
    assert f"Cybersecurity with Regional Office for Africa: joint review {q}" in shown
    for bad in ("..%2F..%2Fetc", "CYB-AFR%00", "CYB-AFR&pair=CYB-EUR", "%3Cscript%3E"):
        status, page = view(f"{server.base}/voila/render/joint.ipynb?quarter={q}&pair={bad}")
        assert status == 200
        shown = page_outputs(page)
        assert "Pick a joint review" in shown and "joint review 2026" not in shown, bad
        assert "root:x:0:0" not in page and "<script>" not in shown
    status, page = view(f"{server.base}/voila/render/review.ipynb?quarter={q}&unit=AFR")
    assert status == 200
    assert "Regional Office for Africa (AFR, region): quarterly review" in page  # the widget's text repr


REFUSED = [
    ("GET", "/api/contents"),
    ("GET", "/api/contents/review.ipynb"),
    ("GET", "/api/kernels"),
    ("POST", "/api/kernels"),
    ("GET", "/api/sessions"),
    ("GET", "/api/terminals"),
    ("GET", "/lab"),
    ("GET", "/tree"),
    ("GET", "/voila/tree"),
    ("GET", "/voila/api/contents"),
    ("GET", "/voila/api/contents/review.ipynb"),
    ("GET", "/notebooks/review.ipynb"),
    ("GET", "/files/review.ipynb"),
    ("GET", "/static/etc/passwd"),
    ("GET", "/static/../../../../etc/passwd"),
    ("GET", "/voila/static/etc/passwd"),
    ("GET", "/voila/static/../../../../../../../../etc/passwd"),
    ("GET", "/voila/static/..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd"),
    ("GET", "/voila/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
    ("GET", "/voila/static/%252e%252e/%252e%252e/%252e%252e/%252e%252e/etc/passwd"),
    ("GET", "/voila/static//etc/passwd"),
    ("GET", "/voila/static/..\\..\\..\\..\\etc\\passwd"),
    ("GET", "/voila/templates/rbm/static/../../../../../../../../etc/passwd"),
    ("GET", "/voila/templates/..%2F..%2F..%2F..%2F..%2Fetc/static/passwd"),
    ("GET", "/voila/labextensions/..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd"),
    ("GET", "/voila/files/review.ipynb"),
    ("GET", "/voila/files/index.ipynb"),
    ("GET", "/voila/files/templates/rbm/index.html.j2"),
    ("GET", "/voila/files/..%2Fparameters%2Fworkbench.yaml"),
    ("GET", "/voila/files/../parameters/workbench.yaml"),
    ("GET", "/voila/files/..%2Fdata%2Frbm.sqlite"),
    ("GET", "/voila/files/..%2Foutputs%2F2026-Q3%2FAFR%2Fkpi_progress.parquet"),
    ("GET", "/voila/files/%2Fetc%2Fpasswd"),
    ("GET", "/voila/render/..%2Fnotebooks%2Fquarterly_review.ipynb"),
    ("GET", "/voila/render/../notebooks/quarterly_review.ipynb"),
    ("GET", "/voila/render/templates/rbm/index.html.j2"),
    ("GET", "/voila/render/%2Fetc%2Fpasswd"),
]


@pytest.mark.parametrize(("method", "path"), REFUSED)
def test_jupyter_api_files_and_path_traversal_are_refused(server, method, path):
    status, body = raw(
        server.opts.port,
        method,
        path,
        body="{}" if method == "POST" else None,
        headers={"Content-Type": "application/json"} if method == "POST" else None,
    )
    assert status in (301, 302, 400, 403, 404, 405), (path, status)
    if status in (301, 302):  # only the redirect to a refused file URL is acceptable
        return
    assert "root:x:0:" not in body
    assert "current_quarter" not in body and "SQLite format" not in body and "PAR1" not in body
    assert '"cells"' not in body and "from rbm_utils" not in body


def test_redirects_of_non_notebooks_end_refused(server):
    status, body, _ = get(server.base + "/voila/render/templates/rbm/conf.json")
    assert status == 403 and "base_template" not in body


def test_no_notebook_source_in_any_page(server, site):
    q = site["quarter"]
    pages = {
        "index.ipynb": "",
        "review.ipynb": f"?quarter={q}&unit=AFR",
        "overview.ipynb": f"?quarter={q}",
        "joint.ipynb": f"?quarter={q}&pair={JOINT}",
    }
    for name, query in pages.items():
        status, page = view(f"{server.base}/voila/render/{name}{query}")
        assert status == 200, name
        code = notebook_code(name)
        assert code
        for line in code:
            assert line not in page, (name, line)
        assert "Traceback" not in page and "execute_input" not in page


def test_pages_reference_nothing_outside_the_server(server, site):
    status, page = view(f"{server.base}/voila/render/review.ipynb?quarter={site['quarter']}&unit=AFR")
    assert status == 200
    external = re.findall(r"""<(?:link|script|img|iframe)\b[^>]*\b(?:href|src)\s*=\s*["']?(?:https?:)?//""", page, re.I)
    assert external == []
    assert "fontawesome" not in page.lower() and "font-awesome" not in page.lower()
    status, page = raw(server.opts.port, "GET", "/voila/render/missing.ipynb")
    assert status == 404 and "cdn.jsdelivr" not in page


# --------------------------------------------------------------------------- the kernel websocket


def _kernel_id(page: str) -> str:
    m = re.search(r"""kernelId["']?\s*:\s*["']([0-9a-f-]{36})["']""", page)
    assert m, "no kernel id in the page"
    return m.group(1)


def _msg(msg_type: str, content: dict) -> dict:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "username": "attacker",
            "session": uuid.uuid4().hex,
            "msg_type": msg_type,
            "version": "5.3",
            "date": "2026-11-28T00:00:00Z",
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": "shell",
        "buffers": [],
    }


def test_kernel_websocket_refuses_code_completion_inspection_and_history(server, site, tmp_path):
    """voila's own test_no_execute_allowed, over a raw websocket, for the four request types."""
    import websocket

    status, page, _ = get(f"{server.base}/voila/render/review.ipynb?quarter={site['quarter']}&unit=AFR")
    assert status == 200
    kid = _kernel_id(page)
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{server.opts.port}/api/kernels/{kid}/channels?session_id={uuid.uuid4()}",
        timeout=5,
        origin=server.base,
        cookie=_COOKIES[server.opts.port],
    )
    marker = tmp_path / "pwned"
    code = f"open({str(marker)!r}, 'w').write('x'); print('EXECUTED')"
    try:
        info = _msg("kernel_info_request", {})
        refused = [
            _msg(
                "execute_request",
                {
                    "code": code,
                    "silent": False,
                    "store_history": True,
                    "user_expressions": {},
                    "allow_stdin": False,
                    "stop_on_error": False,
                },
            ),
            _msg("complete_request", {"code": "import o", "cursor_pos": 8}),
            _msg("inspect_request", {"code": "open", "cursor_pos": 4, "detail_level": 1}),
            _msg("history_request", {"output": True, "raw": True, "hist_access_type": "tail", "n": 100}),
        ]
        last = _msg("kernel_info_request", {})
        for m in [info, *refused, last]:
            ws.send(json.dumps(m))
        seen: list[dict] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                seen.append(json.loads(ws.recv()))
            except websocket.WebSocketTimeoutException:
                continue
            if any(
                s.get("parent_header", {}).get("msg_id") == last["header"]["msg_id"]
                and s["msg_type"] == "kernel_info_reply"
                for s in seen
            ):
                break
        time.sleep(2)  # anything a refused request would have produced has had time to arrive
        ws.settimeout(0.5)
        try:
            while True:
                seen.append(json.loads(ws.recv()))
        except (websocket.WebSocketTimeoutException, websocket.WebSocketConnectionClosedException):
            pass
    finally:
        ws.close()
    replies = {s["msg_type"] for s in seen if s.get("parent_header", {}).get("msg_id") == info["header"]["msg_id"]}
    assert "kernel_info_reply" in replies  # the socket works: allowed messages are answered
    refused_ids = {m["header"]["msg_id"] for m in refused}
    answered = [s["msg_type"] for s in seen if s.get("parent_header", {}).get("msg_id") in refused_ids]
    assert answered == []
    assert not marker.exists()
    assert "EXECUTED" not in json.dumps(seen)
    log = server.log()
    for t in ("execute_request", "complete_request", "inspect_request", "history_request"):
        assert f'Received message of type "{t}", which is not allowed. Ignoring.' in log, t


def test_kernel_websocket_refuses_a_foreign_origin(server, site):
    import websocket

    status, page, _ = get(f"{server.base}/voila/render/index.ipynb")
    kid = _kernel_id(page)
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        websocket.create_connection(
            f"ws://127.0.0.1:{server.opts.port}/api/kernels/{kid}/channels",
            timeout=10,
            origin="http://attacker.example",
            cookie=_COOKIES[server.opts.port],
        )
    assert err.value.status_code in (403, 404)


# --------------------------------------------------------------------------- kernels do not pile up


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kernels_are_capped_bounded_in_memory_stripped_of_secrets_and_culled(site, tmp_path):
    opts = ServeOptions(
        outputs=site["outputs"],
        port=free_port(),
        quarter=site["quarter"],
        cull_idle_timeout=3,
        cull_interval=1,
        max_kernels=2,
        kernel_memory_mb=1024,
        store_url=site["store_url"],
    )
    env = {**os.environ, "RBM_STORE": "postgresql+psycopg://rbm:s3cret@db.example/rbm", "PGPASSWORD": "s3cret"}
    srv = Server(opts, tmp_path / "server.log", env=env)
    try:
        statuses, most = [], 0
        for _ in range(4):
            status, body, _ = get(f"{srv.base}/voila/render/index.ipynb")
            statuses.append(status)
            most = max(most, len(srv.kernels()))
            if status == 503:
                assert "Too many dashboards are open" in body and "Traceback" not in body
                # the refused reader gets the overview's static copy, which needs no kernel
                assert f'class="rbm-static" href="/rbm-static/{site["quarter"]}/overview"' in body
        # two page views fit; the others are refused while both kernels live (or served once culled)
        assert statuses[:2] == [200, 200] and 503 in statuses[2:], statuses
        assert most <= 2
        kernels = srv.kernels()
        assert kernels
        for k in kernels:
            limits = Path(f"/proc/{k.pid}/limits").read_text()
            line = next(ln for ln in limits.splitlines() if ln.startswith("Max data size"))
            assert line.split()[3] == str(1024 * 1024 * 1024), line
            kenv = k.environ()
            assert "RBM_STORE" not in kenv and "PGPASSWORD" not in kenv
            assert kenv["RBM_FROZEN_ONLY"] == "1"  # the bureau analysis refuses to run there
            assert kenv["RBM_OUTPUTS"] == str(Path(site["outputs"]).resolve()) and "QUERY_STRING" in kenv
        deadline = time.monotonic() + 60
        while srv.kernels() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert srv.kernels() == [], "idle kernels were not culled"
        assert "Culling 'idle' kernel" in srv.log()
        status, _, _ = get(f"{srv.base}/voila/render/index.ipynb")
        assert status == 200
    finally:
        srv.stop()
    assert srv.kernels() == []


def test_pages_run_their_notebooks_in_turn_beyond_the_render_slots():
    import asyncio

    from rbm_utils.serve.voila_app import DashboardKernelManager

    km = DashboardKernelManager(render_slots=2)
    order: list[str] = []

    async def page(name: str, hold: float) -> None:
        async with km.render_gate():
            order.append(f"{name} runs")
            await asyncio.sleep(hold)
            order.append(f"{name} done")

    async def readers() -> None:
        await asyncio.gather(page("a", 0.2), page("b", 0.2), page("c", 0.0))

    asyncio.run(readers())
    # two pages at once; the third starts only when one of them has finished
    assert order[:2] == ["a runs", "b runs"] and order.index("c runs") > order.index("a done")
    assert km.render_gate() is km.render_gate()
    assert serve.hardened_config(serve.ServeOptions(outputs=Path("o")))["DashboardKernelManager"]["render_slots"] == 2
