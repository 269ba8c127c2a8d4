"""Signing in to the dashboards (rbm_utils.serve.signin, sessions, access) and who sees what.

The first part runs in this process (sessions, the brake on failed attempts, the visibility rule,
the kernel manager's caps, the trusted header). The second drives the real server on the
published site of tests/serve/test_serve.py with its own copy of the store (the test users of
``test_serve.USERS``; nothing is approved in it at first, so every quarter is a draft):

- a request that is not signed in gets the sign-in page (or 403) and starts no kernel;
- wrong passwords are refused alike for known and unknown names, then rate-limited (429);
- the session cookie is HttpOnly and SameSite=Strict, and signing out ends the session;
- an officer of AFR cannot open EUR's draft (page, static copy), an officer of EUR cannot open
  AFR's draft (page, static copy, download), and both can once it is approved; a viewer sees
  approved quarters only;
- the identity header counts only from a trusted proxy address;
- one reader opening many pages cannot take every kernel.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import re
import time
import urllib.parse
import uuid
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import websocket
from test_downloads import _chromium
from test_serve import (
    LEADER,
    PASSWORD,
    Server,
    _copy_sqlite,
    free_port,
    get,
    page_outputs,
    published_site,
    raw,
    sign_in,
    view,
)

from rbm_utils.core.config import load_config
from rbm_utils.serve import access, data, signin
from rbm_utils.serve.server import ServeOptions
from rbm_utils.serve.sessions import Attempts, Sessions
from rbm_utils.store.database import Store
from rbm_utils.store.users import User, add_user, set_active

CFG = load_config()


# --------------------------------------------------------------------------- sessions and attempts


def test_sessions_end_when_idle_too_old_or_signed_out():
    t = [0.0]
    s = Sessions(idle=60, lifetime=300, clock=lambda: t[0])
    a, b = s.start("ada"), s.start("bob")
    assert a != b and len(a) >= 40
    assert s.user(a) == "ada" and s.user("x" + a) is None and s.user(None) is None
    t[0] = 50
    assert s.user(a) == "ada"  # the request restarts the idle time
    t[0] = 100
    assert s.user(a) == "ada" and s.user(b) is None  # b was idle 100 s > 60
    for step in (150, 200, 250, 301):
        t[0] = step
        alive = s.user(a)
    assert alive is None  # never idle, but older than its lifetime
    c = s.start("ada")
    s.end(c)
    assert s.user(c) is None
    d = s.start("ada")
    s.end_user("ada")
    assert s.user(d) is None


def test_session_tokens_are_kept_only_as_digests():
    s = Sessions()
    token = s.start("ada")
    assert token not in repr(vars(s)) and len(s) == 1


def test_failed_attempts_block_within_the_window_then_release():
    t = [0.0]
    a = Attempts(limit=3, window=300, clock=lambda: t[0])
    for step in (0, 100, 200):
        t[0] = step
        assert not a.blocked("ada")
        a.fail("ada")
    assert a.blocked("ada") and not a.blocked("bob")
    t[0] = 299
    assert a.blocked("ada")
    t[0] = 300  # the first failure left the window
    assert not a.blocked("ada")
    a.fail("ada")
    assert a.blocked("ada")
    a.clear("ada")
    assert not a.blocked("ada")


# --------------------------------------------------------------------------- who sees what


STATES = {
    "2026-Q3": {"AFR": "draft", "EUR": "approved", "CYB": "pending"},
    "2026-Q2": {"AFR": "approved", "EUR": "approved", "CYB": "approved"},
}


def test_a_reader_sees_approved_quarters_and_drafts_of_their_own_units_only():
    officer = access.visible_for(User("ada", "officer", ("AFR",)), STATES)
    assert officer.units == {"2026-Q3": ("AFR", "EUR"), "2026-Q2": ("AFR", "CYB", "EUR")}
    assert officer.review("2026-Q3", "EUR") and not officer.review("2026-Q3", "CYB")
    assert not officer.review("2026-Q3", "CYB-AFR") and officer.review("2026-Q2", "CYB-AFR")
    assert officer.overview == ("2026-Q2",)  # Q3's overview shows CYB's pending quarter
    viewer = access.visible_for(User("v", "viewer", ()), STATES)
    assert viewer.units["2026-Q3"] == ("EUR",) and not viewer.review("2026-Q3", "AFR")
    facilitator = access.visible_for(User("f", "cluster_facilitator", ("CYB",)), STATES)
    assert facilitator.units["2026-Q3"] == ("CYB", "EUR")  # pending is not approved yet: own unit only
    lead = access.visible_for(User("l", "leadership", ()), STATES)
    assert lead.units["2026-Q3"] == ("AFR", "CYB", "EUR") and lead.overview == ("2026-Q3", "2026-Q2")
    assert access.visible_for(User("ada", "officer", ("AFR",), active=False), STATES) == access.Visible()
    assert access.visible_for(None, STATES) == access.Visible()


def test_a_dashboard_kernel_without_what_it_may_show_shows_nothing():
    assert access.from_env({}) is None  # outside a kernel (notebooks, tests): everything
    assert access.from_env({access.KERNEL_MARK: "1"}) == access.Visible()
    for broken in ("", "null", "[]", '{"units": 3}', '{"units": {}}', "{"):
        assert access.from_env({access.KERNEL_MARK: "1", access.VISIBLE_ENV: broken}) == access.Visible(), broken
    v = access.visible_for(User("ada", "officer", ("AFR",)), STATES)
    assert access.from_env({access.KERNEL_MARK: "1", access.VISIBLE_ENV: access.to_env(v)}) == v


def _layout(root: Path) -> Path:
    """A published quarter 2026-Q3 with AFR, EUR, the overview and the joint pair CYB-AFR (empty tables)."""
    q = root / "2026-Q3"
    (q / data.SNAPSHOT).mkdir(parents=True)
    (q / data.SNAPSHOT / "manifest.json").write_text("{}")
    for folder in ("AFR", "EUR", data.OVERVIEW):
        (q / folder).mkdir()
        pd.DataFrame({"kpi_id": pd.Series(dtype=str), "status": pd.Series(dtype=str)}).to_parquet(
            q / folder / "kpi_progress.parquet"
        )
    (q / data.JOINT / "CYB-AFR").mkdir(parents=True)
    return root


def test_a_kernel_lists_only_what_its_reader_may_see(tmp_path, monkeypatch):
    out = _layout(tmp_path)
    assert data.published_units(out, "2026-Q3", CFG) == ["AFR", "EUR"]
    assert data.published_joint(out, "2026-Q3", CFG) == ["CYB-AFR"] and data.has_overview(out, "2026-Q3")
    officer = access.visible_for(User("eve", "officer", ("EUR",)), {"2026-Q3": {"AFR": "draft", "EUR": "draft"}})
    monkeypatch.setenv(access.KERNEL_MARK, "1")
    monkeypatch.setenv(access.VISIBLE_ENV, access.to_env(officer))
    assert data.published_units(out, "2026-Q3", CFG) == ["EUR"]
    assert data.published_joint(out, "2026-Q3", CFG) == [] and not data.has_overview(out, "2026-Q3")
    with pytest.raises(ValueError):
        data.load_tables(out, "2026-Q3", "AFR", CFG)  # another unit's draft is "not published" here
    monkeypatch.delenv(access.VISIBLE_ENV)
    assert data.published_units(out, "2026-Q3", CFG) == []  # a kernel the server did not tell: nothing


def test_the_landing_page_names_the_units_it_does_not_show(tmp_path, monkeypatch):
    from rbm_utils.serve.pages import landing

    out = _layout(tmp_path)
    officer = access.visible_for(User("eve", "officer", ("EUR",)), {"2026-Q3": {"AFR": "draft", "EUR": "draft"}})
    monkeypatch.setenv(access.KERNEL_MARK, "1")
    monkeypatch.setenv(access.VISIBLE_ENV, access.to_env(officer))
    monkeypatch.setenv(access.VIEWER_ENV, "eve (officer: EUR)")
    page = landing.landing_html(out, "2026-Q3", CFG)
    assert 'data-unit="EUR"' in page and 'data-unit="AFR"' not in page
    assert "Not shown:" in page and "AFR" in page.split("Not shown:")[1].split("</p>")[0]
    assert "Signed in as eve (officer: EUR)" in page and 'href="../../logout"' in page
    assert "CYB-AFR" not in page and "overview.ipynb" not in page


# --------------------------------------------------------------------------- kernel manager caps


def test_kernels_are_capped_per_reader_and_never_start_without_one(monkeypatch):
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
    from tornado import web

    from rbm_utils.serve.voila_app import VIEWER, DashboardKernelManager, Viewer

    started: list[dict] = []

    async def fake_start(self, *, kernel_id=None, path=None, **kwargs):
        kid = str(uuid.uuid4())
        started.append({"kid": kid, **kwargs})
        return kid

    km = DashboardKernelManager(max_kernels=5, max_kernels_per_user=2)
    monkeypatch.setattr(AsyncMappingKernelManager, "start_kernel", fake_start)
    monkeypatch.setattr(DashboardKernelManager, "list_kernel_ids", lambda self: [s["kid"] for s in started])

    async def start(name: str | None) -> int:
        token = VIEWER.set(Viewer(name, {access.VISIBLE_ENV: "{}"}) if name else None)
        try:
            await km.start_kernel(env={"PATH": "/bin", "RBM_STORE": "sqlite:///secret"})
            return 200
        except web.HTTPError as exc:
            return exc.status_code
        finally:
            VIEWER.reset(token)

    async def scenario() -> list[int]:
        return [await start(n) for n in (None, "ada", "ada", "ada", "bob", "bob", "cy", "cy")]

    statuses = asyncio.run(scenario())
    # no reader: 403; ada's third: 503 (her share); bob gets his two; cy one, then the overall cap (5)
    assert statuses == [403, 200, 200, 503, 200, 200, 200, 503]
    assert len(started) == 5
    assert started[0]["env"] == {"PATH": "/bin", "RBM_FROZEN_ONLY": "1", access.VISIBLE_ENV: "{}"}
    started.pop(0)  # one of ada's kernels is gone: she may open another
    assert asyncio.run(start("ada")) == 200


# --------------------------------------------------------------------------- the trusted header


class _Request(SimpleNamespace):
    pass


def _handler(peer: str, headers: dict, cookie: str | None = None):
    request = _Request(connection=SimpleNamespace(context=SimpleNamespace(address=(peer, 5555))), headers=headers)
    return SimpleNamespace(request=request, get_cookie=lambda name: cookie if name == signin.COOKIE else None)


def test_the_identity_header_counts_only_from_a_trusted_proxy(tmp_path):
    url = f"sqlite:///{tmp_path / 'users.sqlite'}"
    with Store(url) as st:
        add_user(st, "ada", "officer", ["AFR"], PASSWORD)
        add_user(st, "gone", "viewer", [], PASSWORD)
        set_active(st, "gone", False)
    p = signin.DashboardIdentityProvider(store_url=url, trusted_proxies=["10.0.0.5"], identity_header="X-Remote-User")
    ok = p.get_user(_handler("10.0.0.5", {"X-Remote-User": "ada"}))
    assert ok is not None and ok.username == "ada" and ok.person.units == ("AFR",)
    # another peer, even one that says it forwards for the proxy
    spoofed = {"X-Remote-User": "ada", "X-Forwarded-For": "10.0.0.5", "X-Real-Ip": "10.0.0.5"}
    assert p.get_user(_handler("127.0.0.1", spoofed)) is None
    assert p.get_user(_handler("10.0.0.5", {"X-Forwarded-User": "ada"})) is None  # not the configured header
    assert p.get_user(_handler("10.0.0.5", {"X-Remote-User": "nobody"})) is None
    assert p.get_user(_handler("10.0.0.5", {"X-Remote-User": "gone"})) is None  # disabled
    untrusting = signin.DashboardIdentityProvider(store_url=url)
    assert untrusting.get_user(_handler("127.0.0.1", {"X-Forwarded-User": "ada"})) is None
    token = untrusting.sessions.start("ada")
    assert untrusting.get_user(_handler("127.0.0.1", {}, cookie=token)).username == "ada"


def test_after_signing_in_a_reader_goes_only_to_a_page_of_this_server():
    assert signin.safe_next("/voila/render/index.ipynb?quarter=2026-Q3") == "/voila/render/index.ipynb?quarter=2026-Q3"
    for bad in ("https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)", "", None, "/x\ny"):
        assert signin.safe_next(bad) == "/", bad


# --------------------------------------------------------------------------- the real server


@pytest.fixture(scope="module")
def site(sample_bureau, tmp_path_factory):
    from rbm_utils.exchange import excel_pack
    from rbm_utils.exchange.reviews import export_reviews

    s = published_site(sample_bureau, tmp_path_factory)
    if not (s["outputs"] / s["quarter"] / "AFR" / excel_pack.PACK_FILE).is_file():
        # as tests/serve/test_downloads.py does (whichever runs first exports for both)
        export_reviews(s["outputs"], s["quarter"], ["AFR", "overview"], CFG, excel=True, with_pdf=_chromium())
    root = tmp_path_factory.mktemp("signin")
    # a store of our own: the tests approve in it
    return {**s, "store_url": _copy_sqlite(s["store_url"], root / "rbm.sqlite"), "root": root}


def _server(request, site, **overrides) -> Server:
    opts = ServeOptions(
        outputs=site["outputs"],
        port=free_port(),
        quarter=site["quarter"],
        cull_idle_timeout=120,
        cull_interval=5,
        max_kernels=6,
        kernels_per_user=2,
        store_url=site["store_url"],
        cache_seconds=1,
    )
    srv = Server(dataclasses.replace(opts, **overrides), site["root"] / f"server-{uuid.uuid4().hex}.log", user=None)
    request.addfinalizer(srv.stop)
    return srv


@pytest.fixture(scope="module")
def server(request, site):
    return _server(request, site)


@pytest.fixture(scope="module")
def proxied(request, site):
    return _server(request, site, trusted_proxies=("127.0.0.1",), identity_header="X-Remote-User")


def _cookie(base: str, name: str) -> dict:
    status, cookie, _ = sign_in(base, name)
    assert status == 302 and cookie, (name, status)
    return {"Cookie": cookie}


def _as(base: str, cookie: dict, path: str) -> tuple[int, str]:
    status, body, _ = get(base + path, signed_in=False, headers=cookie)
    return status, body


UNSIGNED = [
    ("GET", "/"),
    ("GET", "/voila/render/index.ipynb"),
    ("GET", "/voila/render/review.ipynb?unit=AFR"),
    ("GET", "/voila/render/overview.ipynb"),
    ("GET", "/rbm-static/{q}/AFR"),
    ("GET", "/rbm-download/{q}/AFR/xlsx"),
    ("GET", "/voila/static/voila.js"),
    ("GET", "/voila/templates/rbm/static/voila.js"),
    ("GET", "/voila/labextensions/@jupyter-widgets/jupyterlab-manager/package.json"),
    ("GET", "/voila/api/themes/theme.css"),
    ("GET", "/api/kernels"),
    ("POST", "/api/kernels"),
    ("POST", "/voila/api/shutdown/00000000-0000-0000-0000-000000000000"),
    ("GET", "/api/kernels/00000000-0000-0000-0000-000000000000/channels"),
]


def test_requests_not_signed_in_get_the_sign_in_page_and_start_no_kernel(server, site):
    before = len(server.kernels())
    for method, path in UNSIGNED:
        path = path.format(q=site["quarter"])
        status, body = raw(server.opts.port, method, path, signed_in=False)
        assert status in (302, 400, 401, 403, 404), (path, status)
        assert "PK\x03\x04" not in body and "rbm-unit" not in body and "rbm-static" not in body, path
    conn = http.client.HTTPConnection("127.0.0.1", server.opts.port, timeout=60)
    conn.request("GET", "/voila/render/review.ipynb?unit=AFR")
    r = conn.getresponse()
    assert r.status == 302 and r.getheader("Location").startswith("/login?next=")
    conn.close()
    assert len(server.kernels()) == before == 0


def test_the_sign_in_page_is_a_plain_form_without_a_kernel(server):
    status, page, headers = get(server.base + "/login", signed_in=False)
    assert status == 200 and len(server.kernels()) == 0
    assert '<label for="rbm-username">' in page and 'id="rbm-username" name="username"' in page
    assert '<label for="rbm-password">' in page and 'type="password"' in page and 'name="_xsrf"' in page
    assert "<script" not in page and "kernelId" not in page
    assert headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"


def test_sign_in_needs_the_form_token(server):
    body = urllib.parse.urlencode({"username": LEADER, "password": PASSWORD})
    status, _ = raw(
        server.opts.port,
        "POST",
        "/login",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        signed_in=False,
    )
    assert status == 403


def test_a_wrong_password_is_refused_as_an_unknown_name_is(server):
    status, cookie, page = sign_in(server.base, "afr.officer", "not the password at all")
    status2, cookie2, page2 = sign_in(server.base, "no.such.user", "not the password at all")
    assert (status, status2) == (401, 401) and cookie is None and cookie2 is None
    strip = re.compile(r'name="_xsrf" value="[^"]*"|value="[^"]*" maxlength')
    assert signin.FAILED in page and strip.sub("", page).replace("afr.officer", "X") == strip.sub("", page2).replace(
        "no.such.user", "X"
    )


def test_the_session_cookie_is_httponly_and_samesite_strict_and_signing_out_ends_it(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.opts.port, timeout=60)
    conn.request("GET", "/login")
    r = conn.getresponse()
    r.read()
    xsrf = re.search(r"_xsrf=([^;]+)", r.getheader("Set-Cookie")).group(1)
    form = urllib.parse.urlencode({"username": LEADER, "password": PASSWORD, "_xsrf": xsrf, "next": "/"})
    conn.request(
        "POST",
        "/login",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"_xsrf={xsrf}"},
    )
    r = conn.getresponse()
    r.read()
    conn.close()
    assert r.status == 302
    cookie = next(c for c in r.headers.get_all("Set-Cookie") if c.startswith("rbm_session="))
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    session = {"Cookie": cookie.split(";")[0]}
    assert _as(server.base, session, "/rbm-static/x/y")[0] == 404  # signed in: the route answers
    status, page = _as(server.base, session, "/logout")
    assert status == 200 and "signed out" in page
    status, _ = _as(server.base, session, "/rbm-static/x/y")
    assert status == 403  # the old cookie no longer opens anything
    status, _, headers = get(server.base + "/voila/render/index.ipynb", signed_in=False, headers=session)
    assert status == 302 and headers["Location"].startswith("/login")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_who_sees_what(server, site):
    q, base = site["quarter"], server.base
    afr, eur, viewer = (_cookie(base, n) for n in ("afr.officer", "eur.officer", "viewer"))
    # officer of AFR: own draft yes; EUR's draft, the joint review with CYB and the overview no
    kernels = len(server.kernels())
    for path in (f"review.ipynb?quarter={q}&unit=EUR", f"joint.ipynb?quarter={q}&pair=CYB-AFR", "overview.ipynb"):
        status, page = _as(base, afr, f"/voila/render/{path}")
        assert status == 403 and "not approved yet" in page, path
    assert _as(base, afr, f"/voila/render/review.ipynb?quarter={q}&unit=AFR&unit=EUR")[0] == 403
    assert len(server.kernels()) == kernels  # refused before any kernel started
    assert _as(base, afr, f"/rbm-static/{q}/EUR")[0] == 403
    assert _as(base, afr, f"/rbm-static/{q}/CYB-AFR")[0] == 403
    assert _as(base, afr, f"/rbm-download/{q}/overview/xlsx")[0] == 403
    assert _as(base, afr, f"/rbm-static/{q}/AFR")[0] == 200
    assert _as(base, afr, f"/rbm-download/{q}/AFR/xlsx")[0] == 200
    status, page = view(f"{base}/voila/render/index.ipynb?quarter={q}", headers=afr)
    shown = page_outputs(page)
    assert status == 200 and "unit=AFR" in shown and "unit=EUR" not in shown and "Not shown:" in shown
    assert "Signed in as afr.officer" in shown
    status, page = view(f"{base}/voila/render/review.ipynb?quarter={q}&unit=AFR", headers=afr)
    assert status == 200 and "Regional Office for Africa (AFR, region): quarterly review" in page
    # officer of EUR: AFR's draft closed everywhere, also its download
    for path in (
        f"/voila/render/review.ipynb?quarter={q}&unit=AFR",
        f"/rbm-static/{q}/AFR",
        f"/rbm-download/{q}/AFR/xlsx",
    ):
        assert _as(base, eur, path)[0] == 403, path
    # a viewer: nothing is approved yet
    for path in (f"/rbm-static/{q}/AFR", f"/rbm-static/{q}/EUR", f"/rbm-static/{q}/overview"):
        assert _as(base, viewer, path)[0] == 403, path
    status, page = view(f"{base}/voila/render/index.ipynb?quarter={q}", headers=viewer)
    shown = page_outputs(page)
    assert status == 200 and "unit=AFR" not in shown and "unit=EUR" not in shown
    # AFR's quarter approved: the officer of EUR and the viewer read it, not EUR's draft
    with Store(site["store_url"]) as st:
        st.approve("AFR", q, CFG.unit("AFR").approvers[0], CFG)
    deadline = time.monotonic() + 60
    while _as(base, eur, f"/rbm-static/{q}/AFR")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _as(base, eur, f"/rbm-static/{q}/AFR")[0] == 200
    assert _as(base, eur, f"/rbm-download/{q}/AFR/xlsx")[0] == 200
    assert _as(base, viewer, f"/rbm-static/{q}/AFR")[0] == 200
    assert _as(base, viewer, f"/rbm-static/{q}/EUR")[0] == 403
    status, page = view(f"{base}/voila/render/review.ipynb?quarter={q}&unit=AFR", headers=eur)
    assert status == 200 and "Regional Office for Africa (AFR, region): quarterly review" in page


def test_the_identity_header_counts_only_from_a_configured_proxy(server, proxied, site):
    header = {"X-Remote-User": "afr.officer"}
    assert _as(proxied.base, header, f"/rbm-static/{site['quarter']}/AFR")[0] == 200
    assert _as(proxied.base, {"X-Remote-User": "no.such.user"}, f"/rbm-static/{site['quarter']}/AFR")[0] == 403
    # the server without --trusted-proxy ignores it (also under its default name)
    for h in (header, {"X-Forwarded-User": "afr.officer"}):
        assert _as(server.base, h, f"/rbm-static/{site['quarter']}/AFR")[0] == 403


def test_failed_sign_ins_are_rate_limited_per_name_and_per_address(proxied):
    base = proxied.base
    for _ in range(5):
        assert sign_in(base, "afr.officer", "wrong password, again")[0] == 401
    status, cookie, page = sign_in(base, "afr.officer")  # the right password, too late
    assert status == 429 and cookie is None and "Too many failed sign-in attempts" in page
    status, _, page = sign_in(base, "no.such.user", "wrong")  # unknown names count the same
    assert status == 401
    assert sign_in(base, "eur.officer")[0] == 302  # another name from this address still may
    for i in range(14):
        sign_in(base, f"guess.{i}", "wrong")
    status, cookie, page = sign_in(base, LEADER)  # 20 failures from this address
    assert status == 429 and cookie is None and "Too many failed sign-in attempts" in page


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_one_reader_cannot_take_every_kernel(server, site):
    q = site["quarter"]
    afr, lead = _cookie(server.base, "afr.officer"), _cookie(server.base, LEADER)
    before = len(server.kernels())
    for _ in range(10):  # requests without a session start nothing
        assert get(f"{server.base}/voila/render/review.ipynb?quarter={q}&unit=AFR", signed_in=False)[0] == 302
    assert len(server.kernels()) == before
    statuses, pages = [], []
    for _ in range(4):  # tabs left open
        status, body = _as(server.base, afr, f"/voila/render/review.ipynb?quarter={q}&unit=AFR")
        statuses.append(status)
        pages += [body] if status == 200 else []
        if status == 503:
            assert "too many dashboards open" in body and f'href="/rbm-static/{q}/AFR"' in body
    assert statuses == [200, 200, 503, 503]
    assert len(server.kernels()) == before + 2
    assert _as(server.base, afr, f"/voila/render/index.ipynb?quarter={q}")[0] == 503  # any page of theirs
    # another reader cannot reach the officer's kernels (websocket), the officer can
    kid = re.search(r"""kernelId["']?\s*:\s*["']([0-9a-f-]{36})["']""", pages[0]).group(1)
    ws_url = f"ws://127.0.0.1:{server.opts.port}/api/kernels/{kid}/channels"
    with pytest.raises(websocket.WebSocketBadStatusException) as err:
        websocket.create_connection(ws_url, timeout=10, origin=server.base, cookie=lead["Cookie"])
    assert err.value.status_code == 403
    websocket.create_connection(ws_url, timeout=10, origin=server.base, cookie=afr["Cookie"]).close()
    status, _ = _as(server.base, lead, f"/voila/render/review.ipynb?quarter={q}&unit=AFR")
    assert status == 200  # kernels are left for the others


def _post_login(port: int, origin: str | None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/login")
    r = conn.getresponse()
    r.read()
    xsrf = re.search(r"_xsrf=([^;]+)", r.getheader("Set-Cookie")).group(1)
    form = urllib.parse.urlencode({"username": LEADER, "password": PASSWORD, "_xsrf": xsrf})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"_xsrf={xsrf}"}
    conn.request("POST", "/login", body=form, headers={**headers, **({"Origin": origin} if origin else {})})
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status


def test_the_form_posted_from_our_page_passes_the_origin_check_another_site_does_not(server):
    # our pages carry Referrer-Policy: no-referrer, so the browser says "Origin: null"
    assert _post_login(server.opts.port, "null") == 302
    assert _post_login(server.opts.port, server.base) == 302
    assert _post_login(server.opts.port, "http://attacker.example") in (403, 404)


def test_rbm_serve_takes_the_store_and_refuses_a_proxy_that_is_not_an_address(tmp_path):
    from rbm_utils import cli
    from rbm_utils.serve import server as serve
    from rbm_utils.serve.server import ServeError

    args = cli.build_parser().parse_args(
        ["serve", "--store", "sqlite:///x.sqlite", "--trusted-proxy", "10.0.0.1", "--kernels-per-user", "3"]
    )
    assert (args.store, args.trusted_proxy, args.kernels_per_user) == ("sqlite:///x.sqlite", ["10.0.0.1"], 3)
    with pytest.raises(ServeError, match="not an IP address"):
        serve.check_options(ServeOptions(outputs=tmp_path, port=free_port(), trusted_proxies=("proxy.example",)))
    config = serve.hardened_config(ServeOptions(outputs=tmp_path, store_url="sqlite:///u.sqlite", kernels_per_user=3))
    assert config["DashboardIdentityProvider"]["store_url"] == "sqlite:///u.sqlite"
    assert config["DashboardKernelManager"]["max_kernels_per_user"] == 3
    assert "u.sqlite" not in " ".join(
        serve.serve_command(ServeOptions(outputs=tmp_path, store_url="sqlite:///u.sqlite"))
    )
