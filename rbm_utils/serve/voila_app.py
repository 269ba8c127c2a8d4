"""The dashboards' Voila: a standalone Voila app and a kernel manager, hardened.

Imported only by :func:`rbm_utils.serve.server.run` (and the server's lazy attributes): Voila
is slow to import, so ``rbm serve``'s option checks stay fast.

- :class:`DashboardKernelManager`: at most ``max_kernels`` kernels at once (a page view beyond that
  gets HTTP 503), each kernel's heap and private mappings capped at ``kernel_memory_mb``
  (RLIMIT_DATA), and a kernel environment without the server's secrets that marks the kernel
  frozen-only (:func:`rbm_utils.serve.server.dashboard_kernel_environment`).
- :class:`DashboardVoila`: ``/`` redirects to the landing page; no directory listing, no contents
  API, template static files only under our template; never reads voila.json or voila.py.
- :func:`bound_lost_wakeups`: kernel sockets polled in short slices.
- hostile browsers (issue 18): the security headers on every response
  (:func:`rbm_utils.serve.headers.install`), MathJax's plugin served as one that typesets nothing
  (:mod:`rbm_utils.serve.typesetting`), kernel errors made plain on the websocket
  (:mod:`rbm_utils.serve.kernel_messages`), error pages in plain words, ``/logout`` a redirect.
- :class:`DownloadHandler`: ``/rbm-download/<quarter>/<review>/<kind>``, a review's published PDF or
  Excel pack through the allow-list of :mod:`rbm_utils.serve.downloads`; anything else is 404.
- :class:`StaticReviewHandler`: ``/rbm-static/<quarter>/<review>``, a review's published static HTML
  copy through the same allow-list (no kernel: readable when every kernel is taken); the
  "too many dashboards" page (HTTP 503) links to the static copy of the page asked for.
- :class:`StaticAssetHandler`: ``/rbm-static/assets/<file>``, the quarters' plotly.js
  the static copies load (fingerprinted name, cached a year); :func:`static_copy_routes`.
- Voila's lab extensions named by their content's hash (plotly.js among them) are cached a year
  (:func:`fingerprinted`); the template's own files carry ``?v=<hash>`` (Tornado caches those).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import resource
import shutil
import tempfile
import time
from pathlib import Path
from queue import Empty
from typing import Any
from urllib.parse import quote

from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_server.base.handlers import FileFindHandler, JupyterHandler
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupyter_server.utils import url_path_join
from tornado import web
from traitlets import Integer, default
from voila.app import Voila
from voila.static_file_handler import TemplateStaticFileHandler
from voila.tornado.contentshandler import VoilaContentsHandler
from voila.tornado.handler import TornadoVoilaHandler
from voila.tornado.treehandler import TornadoVoilaTreeHandler

from rbm_utils.core.config import load_config
from rbm_utils.serve import data, downloads, headers, kernel_messages, typesetting
from rbm_utils.serve.server import LANDING, TEMPLATE_NAME, dashboard_kernel_environment

log = logging.getLogger(__name__)

#: Longest single wait on a kernel socket; see :func:`bound_lost_wakeups`.
POLL_SLICE_S = 0.1


def limit_kernel_memory(pid: int, megabytes: int) -> None:
    """Cap a kernel's data segment (RLIMIT_DATA: heap and private writable mappings, what pandas
    and pyarrow allocate) so one viewer cannot take the machine's memory. Past the cap an
    allocation fails with MemoryError in that kernel only."""
    if megabytes <= 0 or not hasattr(resource, "prlimit"):
        return
    limit = int(megabytes) * 1024 * 1024
    try:
        resource.prlimit(pid, resource.RLIMIT_DATA, (limit, limit))
    except (OSError, ValueError) as exc:  # e.g. the kernel already exited
        log.warning("could not cap the memory of kernel process %s: %s", pid, exc)


def bound_lost_wakeups(slice_s: float = POLL_SLICE_S) -> None:
    """Wait on kernel sockets in slices of ``slice_s`` seconds (this process only).

    Measured here (pyzmq 27.3, jupyter_client 8.10, nbclient 0.11, ipykernel 7.4, 2 busy cores):
    in about one notebook run in six, an asyncio ``socket.poll(timeout)`` on the execute-reply or
    IOPub socket misses the wake-up of a message that has arrived, and returns only when its
    timeout expires (it then finds the message). A dashboard page then took the whole executor
    timeout (120 s) to load, or lost its kernel to the culler. A blocking client never stalls.
    Polling in short slices bounds each stall to ``slice_s``; the result is unchanged because
    pyzmq re-checks the socket when a poll times out.
    """
    if getattr(AsyncZMQSocketChannel.get_msg, "_rbm_sliced", False):
        return

    async def get_msg(self: AsyncZMQSocketChannel, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = slice_s if deadline is None else max(0.0, min(slice_s, deadline - time.monotonic()))
            if await self.socket.poll(int(wait * 1000)):
                return await self._recv()
            if deadline is not None and time.monotonic() >= deadline:
                raise Empty

    get_msg._rbm_sliced = True  # type: ignore[attr-defined]
    AsyncZMQSocketChannel.get_msg = get_msg  # type: ignore[method-assign]


class DashboardKernelManager(AsyncMappingKernelManager):
    """Jupyter's kernel manager with a cap on kernels alive at once, an address-space cap per
    kernel and a kernel environment without the server's secrets, marked frozen-only."""

    max_kernels = Integer(40, config=True, help="Kernels (page views) alive at once; more get HTTP 503.")
    kernel_memory_mb = Integer(1536, config=True, help="RLIMIT_DATA of each kernel in MiB; 0 for none.")
    render_slots = Integer(
        2, config=True, help="Pages whose notebook runs at once (one per core); later views wait their turn."
    )

    _starting = 0
    _gate: asyncio.Semaphore | None = None

    def render_gate(self) -> asyncio.Semaphore:
        """Bounds the pages executing at once to ``render_slots``, first come first served: with 30
        readers on 2 cores, each page in turn gets the cores instead of all 30 sharing them and
        arriving together at the end (docs/dashboards.md, "Many readers at once")."""
        if self._gate is None:
            self._gate = asyncio.Semaphore(max(1, int(self.render_slots)))
        return self._gate

    # jupyter_server's async manager overrides the synchronous signature of jupyter_client's too.
    async def start_kernel(  # type: ignore[override]
        self, *, kernel_id: str | None = None, path: Any = None, **kwargs: Any
    ) -> str:
        if kernel_id is None:
            alive = len(self.list_kernel_ids())
            if alive + self._starting >= self.max_kernels:
                self.log.warning(
                    "refused a dashboard kernel: %d kernels alive (max_kernels=%d)", alive, self.max_kernels
                )
                raise web.HTTPError(
                    503, "Too many dashboards are open right now; close a tab or try again in a few minutes."
                )
        # Without an env, jupyter_client would hand the kernel the server's whole environment.
        env = kwargs.get("env")
        kwargs["env"] = dashboard_kernel_environment(os.environ if env is None else env)
        self._starting += 1
        try:
            kid = await super().start_kernel(kernel_id=kernel_id, path=path, **kwargs)
        finally:
            self._starting -= 1
        try:
            pid = getattr(self.get_kernel(kid).provisioner, "pid", None)
        except KeyError:
            pid = None
        if pid:
            limit_kernel_memory(int(pid), self.kernel_memory_mb)
        return kid


class _PageHandler(TornadoVoilaHandler):
    async def get(self, path: str | None = None) -> None:
        gate = getattr(self.kernel_manager, "render_gate", None)
        if gate is None:
            await super().get(path)
            return
        async with gate():  # the page's kernel starts and its notebook runs when a slot is free
            await super().get(path)

    async def prepare(self) -> None:
        await super().prepare()
        # Set the _xsrf cookie: the page sends it back when the tab closes, so that
        # POST /voila/api/shutdown/<kernel> passes the XSRF check and the kernel stops
        # at once instead of waiting for the culler.
        _ = self.xsrf_token

    def render_template(self, name: str, **ns: Any) -> str:
        if "status_code" in ns:  # an error page: a plain message, never the exception's (paths)
            ns["message"] = headers.public_message(ns["status_code"], ns.get("message"))
            ns["exception"] = None
        if ns.get("status_code") == 503:  # every kernel taken: offer the page's static copy
            ns["static_link"] = self.static_fallback()
        return super().render_template(name, **ns)

    def static_fallback(self) -> str | None:
        """The static copy of the review this page view asked for (the overview's for the landing
        page), when published; None otherwise. Names are checked against the published lists."""
        try:
            outputs, config = data.outputs_dir(), load_config()
            quarter = self.get_argument("quarter", None) or data.default_quarter(outputs)
            name = self.request.path.rsplit("/", 1)[-1]
            review = {"review.ipynb": self.get_argument("unit", None), "joint.ipynb": self.get_argument("pair", None)}
            wanted = review.get(name) or data.OVERVIEW
            if not quarter or downloads.resolve_static(outputs, config, quarter, wanted) is None:
                return None
            return url_path_join(self.base_url, downloads.STATIC_ROUTE, quote(quarter), quote(wanted))
        except Exception:  # the error page must render whatever happens here
            log.exception("no static copy for the 503 page")
            return None


class _TemplateStaticHandler(TemplateStaticFileHandler):
    def parse_url_path(self, url_path: str) -> str:
        # only <our template>/static/<file>, no "..": voila's handler answers 500 to the rest
        parts = url_path.replace("\\", "/").split("/")
        if len(parts) < 3 or parts[0] != TEMPLATE_NAME or parts[1] != "static" or ".." in parts or "" in parts:
            raise web.HTTPError(404)
        return super().parse_url_path(url_path)


class DownloadHandler(headers.PlainErrors, JupyterHandler):
    """A review's published PDF or Excel pack: the three path parts are looked up in the allow-list
    (:func:`rbm_utils.serve.downloads.resolve`), never joined into a path; anything else is 404.
    GET (and HEAD) only; the server's security headers and Host check apply as to every page."""

    @web.authenticated
    async def get(self, quarter: str, review: str, kind: str) -> None:
        await self._send(quarter, review, kind, body=True)

    @web.authenticated
    async def head(self, quarter: str, review: str, kind: str) -> None:
        await self._send(quarter, review, kind, body=False)

    async def _send(self, quarter: str, review: str, kind: str, *, body: bool) -> None:
        path = downloads.resolve(data.outputs_dir(), load_config(), quarter, review, kind)
        if path is None:
            raise web.HTTPError(404)
        payload = path.read_bytes()
        self.set_header("Content-Type", downloads.KINDS[kind].media_type)
        self.set_header(
            "Content-Disposition", f'attachment; filename="{downloads.download_name(quarter, review, kind)}"'
        )
        self.set_header("Content-Length", str(len(payload)))
        self.set_header("Cache-Control", "no-store")
        if body:
            self.write(payload)
        await self.finish()


class StaticReviewHandler(headers.PlainErrors, JupyterHandler):
    """A review's published static HTML copy (``/rbm-static/<quarter>/<review>``): the two path parts
    are looked up in the allow-list (:func:`rbm_utils.serve.downloads.resolve_static`), never joined
    into a path; anything else is 404. No kernel is started. GET and HEAD only; the server's
    security headers (its Content-Security-Policy too) and Host check apply."""

    @web.authenticated
    async def get(self, quarter: str, review: str) -> None:
        await self._send(quarter, review, body=True)

    @web.authenticated
    async def head(self, quarter: str, review: str) -> None:
        await self._send(quarter, review, body=False)

    async def _send(self, quarter: str, review: str, *, body: bool) -> None:
        path = downloads.resolve_static(data.outputs_dir(), load_config(), quarter, review)
        if path is None:
            raise web.HTTPError(404)
        payload = path.read_bytes()
        self.set_header("Content-Type", "text/html; charset=utf-8")
        # its inline scripts (plotly.js, one call per figure) allowed by hash, no other inline script
        self.set_header("Content-Security-Policy", headers.static_copy_csp(headers.inline_script_hashes(payload)))
        self.set_header("Content-Length", str(len(payload)))
        self.set_header("Cache-Control", "no-cache")
        if body:
            self.write(payload)
        await self.finish()


class StaticAssetHandler(JupyterHandler):
    """The plotly.js asset that static copies load by a relative path (``/rbm-static/assets/<file>``):
    looked up in the allow-list (:func:`rbm_utils.serve.downloads.resolve_asset`), anything else
    404. Its name carries its content's hash, so browsers may keep it a year (``immutable``)."""

    @web.authenticated
    async def get(self, name: str) -> None:
        await self._send(name, body=True)

    @web.authenticated
    async def head(self, name: str) -> None:
        await self._send(name, body=False)

    async def _send(self, name: str, *, body: bool) -> None:
        path = downloads.resolve_asset(data.outputs_dir(), name)
        if path is None:
            raise web.HTTPError(404)
        payload = path.read_bytes()
        self.set_header("Content-Type", downloads.ASSET_MEDIA_TYPE)
        self.set_header("Content-Length", str(len(payload)))
        self.set_header("Cache-Control", downloads.ASSET_CACHE_CONTROL)
        if body:
            self.write(payload)
        await self.finish()


#: A file name carrying its content's hash (webpack's ``[name].[contenthash].js`` of the lab
#: extensions: ``remoteEntry.1dda3c8f6e5cd2a3.js``, ``0.03957c7088ad5ed0.js``).
_FINGERPRINTED = re.compile(r"^[A-Za-z0-9_-]+\.[0-9a-f]{16,}\.(?:js|css)$")


def fingerprinted(path: str) -> bool:
    """True when the last part of ``path`` names a file by its content's hash (cacheable for ever).

    >>> fingerprinted("/voila/labextensions/jupyterlab-plotly/static/0.03957c7088ad5ed0.js")
    True
    >>> fingerprinted("/voila/labextensions/jupyterlab-plotly/static/style.js"), fingerprinted("/voila/static/voila.js")
    (False, False)
    """
    return bool(_FINGERPRINTED.match(path.rsplit("/", 1)[-1]))


class _LabextensionHandler(FileFindHandler):
    """Voila's lab extensions (the widget manager, plotly's renderer with plotly.js): files named by
    their content's hash are cached a year (``immutable``); the others (``style.js``) keep Voila's
    ``no-cache`` (checked again on each view)."""

    def set_headers(self) -> None:
        super().set_headers()
        if fingerprinted(self.request.path):
            self.set_header("Cache-Control", downloads.ASSET_CACHE_CONTROL)


def static_copy_routes(server_url: str) -> list[tuple[str, type]]:
    """Routes of the static copies' shared assets and of a joint review at its folder's depth
    (before ``/rbm-static/<quarter>/<review>``, which would take ``assets/<file>`` for a review)."""
    return [
        (url_path_join(server_url, downloads.STATIC_ROUTE, downloads.ASSETS_SEGMENT, r"([^/]+)"), StaticAssetHandler),
        (url_path_join(server_url, downloads.STATIC_ROUTE, r"([^/]+)", data.JOINT, r"([^/]+)"), StaticReviewHandler),
    ]


class DashboardVoila(Voila):
    """Standalone Voila with the landing page at ``/`` and no directory listing or contents API."""

    @default("config_file_paths")
    def _no_config_files(self) -> list[str]:
        return []  # never read voila.json / voila.py from the working directory or ~/.jupyter

    # ---- hostile browsers (issue 18): MathJax off, security headers on every response, no
    # traceback over the kernel websocket
    _own_static: Path | None = None

    @default("kernel_websocket_connection_class")
    def _plain_errors_connection(self) -> type:
        return kernel_messages.PlainErrorsConnection  # serve/kernel_messages.py

    def setup_template_dirs(self) -> None:
        super().setup_template_dirs()
        # MathJax off: our no-typesetting chunk first among the static folders (serve/typesetting.py)
        self._own_static = Path(tempfile.mkdtemp(prefix="rbm-static-"))
        static_paths: list[str] = list(self.static_paths)  # type: ignore[has-type]
        typesetting.install(static_paths, self._own_static)
        self.static_paths = [str(self._own_static), *static_paths]

    def listen(self) -> None:
        headers.install(self.app)  # every response, whatever its handler (serve/headers.py)
        super().listen()

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self._own_static is not None:
                shutil.rmtree(self._own_static, ignore_errors=True)

    # ---- end hostile browsers

    def init_handlers(self) -> list:
        replace_by = {
            TornadoVoilaHandler: _PageHandler,
            TemplateStaticFileHandler: _TemplateStaticHandler,
            FileFindHandler: _LabextensionHandler,
        }
        handlers = []
        for h in super().init_handlers():
            if h[1] in (TornadoVoilaTreeHandler, VoilaContentsHandler):
                continue
            handlers.append((h[0], replace_by.get(h[1], h[1]), *h[2:]))
        landing = url_path_join(self.base_url, LANDING)
        # Jupyter's own /login and /logout pages need templates Voila does not ship (/logout answered
        # 500): without sign-in there is nothing to leave, so /logout goes back to the landing page.
        handlers = [h for h in handlers if not h[0].rstrip("/").endswith(("/login", "/logout"))]
        return [
            (url_path_join(self.server_url, r"/logout/?"), web.RedirectHandler, {"url": landing, "permanent": False}),
            (url_path_join(self.server_url, r"/?"), web.RedirectHandler, {"url": landing}),
            (url_path_join(self.server_url, r"/index(?:\.html)?"), web.RedirectHandler, {"url": landing}),
            (url_path_join(self.server_url, downloads.ROUTE, r"([^/]+)/([^/]+)/([^/]+)"), DownloadHandler),
            *static_copy_routes(self.server_url),
            (url_path_join(self.server_url, downloads.STATIC_ROUTE, r"([^/]+)/([^/]+)"), StaticReviewHandler),
            *handlers,
        ]
