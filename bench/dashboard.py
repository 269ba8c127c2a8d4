"""Dashboard time-to-render in headless Chromium: our ``rbm serve`` against plain Voila.

Each measurement opens a fresh browser context (cold cache, as a manager's first view),
starts the clock just before the request and stops it when the last chart the page draws as it
opens has drawn (``.js-plotly-plot`` holding its ``.main-svg``; a unit review draws two, the
KPI status and the KPI trend: its evidence's five charts are drawn when the reader scrolls to them
or presses their "Show the chart" button, which no measurement here does); ``ttfb_seconds`` is the time to the
first byte of the response (the rest is server-side execution streamed into the page plus
the client's work: bundles, widgets, plotly.js). The number of charts a page has is
learnt from its first view (no new chart for :data:`SETTLE_S`); later views stop when
that many have drawn. Every request that would leave the machine is aborted and counted
(a CDN link would otherwise hang on a firewall that drops packets).

* ``ours``: :func:`rbm_utils.serve.server.start_server` (the configuration ``rbm serve`` runs)
  on ``dashboards/review.ipynb?quarter=Q&unit=U``;
* ``default``: plain ``voila dashboards/review.ipynb`` (its defaults: lab template, no
  culling), same notebook and outputs;
* ``floor``: our configuration on bench/notebooks/one_figure.ipynb, one trivial figure:
  the client-side floor (Voila's JS bundles, the widget manager and plotly.js);
* ``concurrent``: our server with its default kernel cap, and 1, 10 and 30 readers opening
  unit reviews at the same moment (one browser, a context each, rotating over the published
  units); per level the median and 95th percentile (nearest rank) of the time to the first
  chart drawn, and how many pages arrived (HTTP 200 and a chart within the page timeout).
  All tabs stay open until the last reader has its page, then close (their kernels stop).
  The browser shares the machine's cores with the server, as a reader's would not.

Our server requires sign-in: :func:`bench_readers` registers readers in the bench's store
(leadership, so every draft is theirs to read; one per concurrent reader, since a reader holds at
most ``kernels_per_user`` kernels), and each browser context carries its reader's session cookie
(signed in over HTTP before the clock starts, so sign-in is not timed).

Needs Playwright for Python and Chromium (``/usr/bin/chromium`` or ``$RBM_CHROMIUM``).
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rbm_utils.serve import server as serve
from rbm_utils.serve.server import DASHBOARDS, OUTPUTS_ENV, QUARTER_ENV

BENCH = Path(__file__).resolve().parent
ONE_FIGURE = BENCH / "notebooks" / "one_figure.ipynb"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
#: Seconds without a new chart after which a first view counts as complete.
SETTLE_S = 3.0
PAGE_TIMEOUT_S = 120.0
_COUNT_JS = (
    "() => { const all = Array.from(document.querySelectorAll('.js-plotly-plot'));"
    " return [all.filter(e => e.querySelector('.main-svg')).length, all.length]; }"
)


def chromium_path() -> str | None:
    for cand in (
        os.environ.get("RBM_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if cand and Path(cand).is_file():
            return cand
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return url.startswith(("data:", "blob:", "about:")) or host in ("127.0.0.1", "localhost", "::1")


READER_PASSWORD = "bench reader password"


def bench_readers(store_url: str, n: int) -> list[str]:
    """Names of ``n`` readers registered in the store (created when missing)."""
    from rbm_utils.store.database import Store
    from rbm_utils.store.users import add_user, get_user

    names = [f"bench.reader.{i}" for i in range(n)]
    with Store(store_url) as st:
        for name in names:
            if get_user(st, name) is None:
                add_user(st, name, "leadership", [], READER_PASSWORD)
    return names


def session_cookie(base: str, name: str, password: str = READER_PASSWORD) -> dict[str, Any]:
    """Sign ``name`` in over HTTP (the form's XSRF token included); the session cookie for a browser context."""
    import http.cookiejar
    import urllib.error
    import urllib.parse
    import urllib.request

    class _Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _Stay)
    opener.open(f"{base}/login", timeout=60).read()
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    form = urllib.parse.urlencode({"username": name, "password": password, "_xsrf": xsrf}).encode()
    try:
        opener.open(urllib.request.Request(f"{base}/login", data=form, method="POST"), timeout=60)
    except urllib.error.HTTPError as exc:  # the redirect after signing in, not followed
        if exc.code != 302:
            raise
    value = next((c.value for c in jar if c.name == "rbm_session"), None)
    if value is None:
        raise RuntimeError(f"could not sign {name} in at {base}")
    return {"name": "rbm_session", "value": value, "url": base, "httpOnly": True, "sameSite": "Strict"}


def time_renders(
    url: str, repeat: int = 5, cookie: dict[str, Any] | None = None, server: subprocess.Popen | None = None
) -> dict[str, Any]:
    """Seconds from request to the page's last chart drawn, ``repeat`` cold views; median and runs.
    ``cookie``: a session cookie each fresh context carries (our server requires sign-in).
    ``server``: our server's process; before each view (off the clock) the kernels of the views
    before it are waited for to end, as a reader's closed tabs hand them back (a reader may hold
    only a few at once: ``rbm serve --kernels-per-user``), so each view starts on an idle server."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("no Chromium found (/usr/bin/chromium or $RBM_CHROMIUM)")
    runs: list[float] = []
    served: list[float] = []
    aborted: list[str] = []
    expected: int | None = None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            for _ in range(max(1, repeat)):
                if server is not None:
                    _wait_kernels_gone(server)
                ctx = browser.new_context()
                if cookie is not None:
                    ctx.add_cookies([cookie])
                page = ctx.new_page()

                def route(r: Any) -> None:
                    if _loopback(r.request.url):
                        r.continue_()
                    else:
                        aborted.append(r.request.url)
                        r.abort()

                page.route("**/*", route)
                t0 = time.perf_counter()
                page.goto(url, wait_until="commit", timeout=PAGE_TIMEOUT_S * 1000)
                served.append(time.perf_counter() - t0)  # the response started
                drawn, last_change = 0, None
                while True:
                    now = time.perf_counter()
                    done, total = page.evaluate(_COUNT_JS)
                    if done != drawn:
                        drawn, last_change = done, now
                    if expected is not None and drawn >= expected and done == total:
                        break
                    if expected is None and drawn > 0 and done == total and now - last_change >= SETTLE_S:
                        expected = drawn
                        break
                    if now - t0 > PAGE_TIMEOUT_S:
                        text = " ".join(
                            str(page.evaluate("() => document.body ? document.body.innerText : ''")).split()
                        )[:300]
                        raise RuntimeError(
                            f"{url}: {drawn} chart(s) drawn after {PAGE_TIMEOUT_S:.0f} s "
                            f"(expected {expected or 'at least one'}); the page says: {text!r}"
                        )
                    time.sleep(0.02)
                runs.append(last_change - t0)
                # as a reader closes the tab: the page's unload hands its kernel back
                with page.expect_event("close"):
                    page.close(run_before_unload=True)
                ctx.close()
        finally:
            browser.close()
    return {
        "seconds": statistics.median(runs),
        "runs": runs,
        "charts": expected,
        "ttfb_seconds": statistics.median(served),
        "aborted_requests": len(aborted),
        "aborted_hosts": sorted({urlsplit(u).hostname or u for u in aborted}),
    }


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    serve.wait_until_ready(url, proc, timeout)


def _stop(proc: subprocess.Popen) -> None:
    serve.stop_server(proc)


def measure_ours(outputs: Path, quarter: str, unit: str, repeat: int, store_url: str) -> dict[str, Any]:
    """``rbm serve``'s server on the unit's review page."""
    opts = serve.ServeOptions(outputs=Path(outputs), port=free_port(), quarter=quarter, store_url=store_url)
    reader = bench_readers(store_url, 1)[0]
    proc = serve.start_server(opts)
    try:
        serve.wait_until_ready(opts.url, proc, timeout=90)
        cookie = session_cookie(opts.url.rstrip("/"), reader)
        return time_renders(
            f"{opts.url}voila/render/review.ipynb?quarter={quarter}&unit={unit}", repeat, cookie, server=proc
        )
    finally:
        _stop(proc)


def measure_floor(outputs: Path, repeat: int, store_url: str) -> dict[str, Any]:
    """Our configuration serving a root that holds only the one-figure notebook."""
    root = Path(tempfile.mkdtemp(prefix="rbm-bench-floor-"))
    port = free_port()
    reader = bench_readers(store_url, 1)[0]
    try:
        shutil.copy(ONE_FIGURE, root / ONE_FIGURE.name)
        code = (
            "import sys; from pathlib import Path; from rbm_utils.serve.server import ServeOptions, run; "
            "sys.exit(run(ServeOptions(outputs=Path(sys.argv[1]), port=int(sys.argv[2]), root=Path(sys.argv[3]))))"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(Path(outputs).resolve()), str(port), str(root)],
            env={**os.environ, "RBM_STORE": store_url},  # the users (never on the command line)
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait_http(f"http://127.0.0.1:{port}/", proc)
            cookie = session_cookie(f"http://127.0.0.1:{port}", reader)
            return time_renders(f"http://127.0.0.1:{port}/voila/render/{ONE_FIGURE.name}", repeat, cookie, server=proc)
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure_default(outputs: Path, quarter: str, unit: str, repeat: int) -> dict[str, Any]:
    """Plain Voila (its defaults) on the same review notebook and outputs."""
    port = free_port()
    env = {**os.environ, OUTPUTS_ENV: str(Path(outputs).resolve()), QUARTER_ENV: quarter}
    voila = Path(sys.executable).parent / "voila"
    cmd = [
        str(voila) if voila.is_file() else sys.executable,
        *([] if voila.is_file() else ["-m", "voila"]),
        str(DASHBOARDS / "review.ipynb"),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
    ]
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/", proc)
        return time_renders(f"http://127.0.0.1:{port}/?quarter={quarter}&unit={unit}", repeat)
    finally:
        _stop(proc)


#: Readers opening a page at the same moment, per level of the concurrency measurement.
VIEWERS = (1, 10, 30)
_FIRST_CHART_JS = "() => document.querySelector('.js-plotly-plot .main-svg') !== null"


def nearest_rank(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) of ``values`` by nearest rank (None when empty).

    >>> nearest_rank([1.0, 2.0, 3.0, 4.0], 0.95), nearest_rank([5.0], 0.5), nearest_rank([], 0.5)
    (4.0, 5.0, None)
    """
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-int(q * 100) * len(ordered) // 100) - 1))]


def time_first_charts(
    urls: list[str], timeout_s: float = 2 * PAGE_TIMEOUT_S, cookies: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Open every url at the same moment (a browser context each) and time each page to its first
    chart; keep all tabs open until every page has arrived or failed, then close them.
    ``cookies``: the session cookie of each url's reader (same order)."""
    import asyncio

    from playwright.async_api import async_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("no Chromium found (/usr/bin/chromium or $RBM_CHROMIUM)")
    aborted: list[str] = []

    async def main() -> list[dict[str, Any]]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
            contexts: list[Any] = []

            async def route(r: Any) -> None:
                if _loopback(r.request.url):
                    await r.continue_()
                else:
                    aborted.append(r.request.url)
                    await r.abort()

            async def viewer(url: str, start: asyncio.Event, cookie: dict[str, Any] | None) -> dict[str, Any]:
                ctx = await browser.new_context()
                if cookie is not None:
                    await ctx.add_cookies([cookie])
                contexts.append(ctx)
                page = await ctx.new_page()
                await page.route("**/*", route)
                await start.wait()
                t0 = time.perf_counter()
                status = None
                try:
                    resp = await page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
                    status = resp.status if resp is not None else None
                    if status != 200:
                        return {"status": status, "seconds": None}
                    left = max(1.0, timeout_s - (time.perf_counter() - t0))
                    await page.wait_for_function(_FIRST_CHART_JS, timeout=left * 1000, polling=50)
                    return {"status": status, "seconds": time.perf_counter() - t0}
                except Exception as exc:  # noqa: BLE001 - a page that did not arrive is a result
                    return {"status": status, "seconds": None, "error": f"{type(exc).__name__}: {exc}"[:200]}

            try:
                start = asyncio.Event()
                tasks = [
                    asyncio.ensure_future(viewer(u, start, cookies[i] if cookies else None)) for i, u in enumerate(urls)
                ]
                while len(contexts) < len(urls):  # every tab ready before the clock starts
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
                start.set()
                results = await asyncio.gather(*tasks)
                for ctx in contexts:  # readers close their tabs: each page stops its kernel
                    for pg in ctx.pages:
                        await pg.close(run_before_unload=True)
                await asyncio.sleep(2)  # the tabs' shutdown beacons leave before their contexts go
                for ctx in contexts:
                    await ctx.close()
                return list(results)
            finally:
                await browser.close()

    results = asyncio.run(main())
    seconds = [r["seconds"] for r in results if r["seconds"] is not None]
    statuses: dict[str, int] = {}
    for r in results:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    return {
        "viewers": len(urls),
        "arrived": len(seconds),
        "median_seconds": statistics.median(seconds) if seconds else None,
        "p95_seconds": nearest_rank(seconds, 0.95),
        "runs": seconds,
        "statuses": statuses,
        "errors": [r["error"] for r in results if r.get("error")][:3],
        "aborted_requests": len(aborted),
    }


def _wait_kernels_gone(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until ``proc`` (our server) has no kernel left, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while _kernels_of(proc) and time.monotonic() < deadline:
        time.sleep(0.2)


def _kernels_of(proc: subprocess.Popen) -> int:
    import psutil

    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        return 0
    n = 0
    for k in kids:
        try:
            n += "ipykernel" in " ".join(k.cmdline())
        except psutil.Error:
            continue
    return n


def measure_concurrent(
    outputs: Path, quarter: str, units: list[str], store_url: str, viewers: tuple[int, ...] = VIEWERS
) -> dict[str, Any]:
    """``rbm serve``'s server (default kernel cap and culling) under 1, 10 and 30 readers at once,
    each signed in as a reader of their own."""
    opts = serve.ServeOptions(outputs=Path(outputs), port=free_port(), quarter=quarter, store_url=store_url)
    readers = bench_readers(store_url, max(viewers, default=1))
    proc = serve.start_server(opts)
    out: dict[str, Any] = {"max_kernels": opts.max_kernels}
    try:
        serve.wait_until_ready(opts.url, proc, timeout=90)
        cookies = [session_cookie(opts.url.rstrip("/"), r) for r in readers]
        for n in viewers:
            urls = [
                f"{opts.url}voila/render/review.ipynb?quarter={quarter}&unit={units[i % len(units)]}" for i in range(n)
            ]
            out[str(n)] = time_first_charts(urls, cookies=cookies[:n])
            deadline = time.monotonic() + 60
            while _kernels_of(proc) and time.monotonic() < deadline:  # the closed tabs' kernels stop
                time.sleep(0.5)
            out[str(n)]["kernels_left_after_close"] = _kernels_of(proc)
        return out
    finally:
        _stop(proc)


def measure_all(
    outputs: Path,
    quarter: str,
    unit: str = "AFR",
    repeat: int = 5,
    viewers: tuple[int, ...] = VIEWERS,
    store_url: str = "",
) -> dict[str, Any]:
    """The four measurements; each one that cannot run gives ``{"error": reason}``. ``store_url``:
    the store the outputs were published from (its users sign in to our server)."""
    from rbm_utils.core.config import load_config
    from rbm_utils.serve.data import published_units

    units = published_units(Path(outputs), quarter, load_config()) or [unit]
    out: dict[str, Any] = {}
    for name, fn in (
        ("ours", lambda: measure_ours(outputs, quarter, unit, repeat, store_url)),
        ("default", lambda: measure_default(outputs, quarter, unit, repeat)),
        ("floor", lambda: measure_floor(outputs, repeat, store_url)),
        ("concurrent", lambda: measure_concurrent(outputs, quarter, units, store_url, viewers)),
    ):
        try:
            out[name] = fn()
        except Exception as exc:  # noqa: BLE001 - reported in the table, never fatal to the bench
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return out
