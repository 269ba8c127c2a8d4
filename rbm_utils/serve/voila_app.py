"""The dashboards' Voila: a standalone Voila app and a kernel manager, hardened.

Imported only by :func:`rbm_utils.serve.server.run` (and the server's lazy attributes): Voila
is slow to import, so ``rbm serve``'s option checks stay fast.

- :class:`DashboardKernelManager`: at most ``max_kernels`` kernels at once and
  ``max_kernels_per_user`` per signed-in reader (a page view beyond that gets HTTP 503), none for a
  page view without a reader (:data:`VIEWER`, set by the page handler, which also refuses a review
  the reader may not see with 403 before any kernel starts), each kernel's heap and private mappings capped at ``kernel_memory_mb``
  (RLIMIT_DATA), and a kernel environment without the server's secrets that marks the kernel
  frozen-only (:func:`rbm_utils.serve.server.dashboard_kernel_environment`).
- :class:`DashboardVoila`: every route signed in (:func:`signed_in_only`; ``/login`` and ``/logout``
  from :mod:`rbm_utils.serve.signin`); a kernel's websocket, model and shutdown answer only the
  reader it was started for; ``/`` redirects to the landing page; no directory listing, no contents
  API, template static files only under our template; never reads voila.json or voila.py.
- :func:`bound_lost_wakeups`: kernel sockets polled in short slices.
- hostile browsers (issue 18): the security headers on every response
  (:func:`rbm_utils.serve.headers.install`), MathJax's plugin served as one that typesets nothing
  (:mod:`rbm_utils.serve.typesetting`), kernel errors made plain on the websocket
  (:mod:`rbm_utils.serve.kernel_messages`), error pages in plain words.
- the file routes (:mod:`rbm_utils.serve.file_routes`): a review's downloads and static copy (no
  kernel: readable when every kernel is taken; the "too many dashboards" page, HTTP 503, links to
  the static copy of the page asked for), the static copies' plotly.js, and Voila's fingerprinted
  lab extensions cached a year; the template's own files carry ``?v=<hash>`` (Tornado caches those).
- ``/logout`` ends the session (:mod:`rbm_utils.serve.signin`).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any
from urllib.parse import quote

from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_server.base.handlers import FileFindHandler
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
from rbm_utils.serve import access, data, downloads, headers, kernel_messages, typesetting
from rbm_utils.serve.file_routes import (
    HIDDEN,
    DownloadHandler,
    LabextensionHandler,
    StaticReviewHandler,
    static_copy_routes,
)
from rbm_utils.serve.params import pick
from rbm_utils.serve.server import LANDING, TEMPLATE_NAME, dashboard_kernel_environment
from rbm_utils.serve.signin import (
    LOGIN,
    LOGOUT,
    DashboardIdentityProvider,
    LoginHandler,
    LogoutHandler,
    SignedInOnly,
    describe,
    person_of,
)

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


@dataclass(frozen=True)
class Viewer:
    """Whom a page view's kernel is for: the signed-in user's ``name`` and what the kernel may
    show them (``env``: :data:`rbm_utils.serve.access.VISIBLE_ENV` and the viewer's description)."""

    name: str
    env: dict[str, str] = field(default_factory=dict)


#: Set by the page handler (the server, from the session) around the page's kernel start.
VIEWER: contextvars.ContextVar[Viewer | None] = contextvars.ContextVar("rbm_viewer", default=None)
TOO_MANY = headers.own_message("Too many dashboards are open right now; close a tab or try again in a few minutes.")
TOO_MANY_YOURS = headers.own_message(
    "You have too many dashboards open right now; close one of your tabs or try again in a few minutes."
)


class DashboardKernelManager(AsyncMappingKernelManager):
    """Jupyter's kernel manager with a cap on kernels alive at once and per signed-in user, an
    address-space cap per kernel and a kernel environment without the server's secrets, marked
    frozen-only and carrying what the signed-in reader may see. No kernel starts for a page view
    without a signed-in reader (:data:`VIEWER`)."""

    max_kernels = Integer(40, config=True, help="Kernels (page views) alive at once; more get HTTP 503.")
    max_kernels_per_user = Integer(
        4, config=True, help="Kernels one signed-in user may hold at once; more get HTTP 503 (0: no limit)."
    )
    kernel_memory_mb = Integer(1536, config=True, help="RLIMIT_DATA of each kernel in MiB; 0 for none.")
    render_slots = Integer(
        2, config=True, help="Pages whose notebook runs at once (one per core); later views wait their turn."
    )

    _starting = 0
    _gate: asyncio.Semaphore | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._owners: dict[str, str] = {}
        self._starting_for: dict[str, int] = {}

    def owner_of(self, kernel_id: str) -> str | None:
        """The user a kernel was started for (None: unknown kernel)."""
        return self._owners.get(kernel_id)

    def kernels_of(self, name: str) -> int:
        """Kernels alive or starting for the user ``name``."""
        alive = set(self.list_kernel_ids())
        for kid in [k for k in self._owners if k not in alive]:
            self._owners.pop(kid, None)
        return sum(1 for u in self._owners.values() if u == name) + self._starting_for.get(name, 0)

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
        viewer = VIEWER.get()
        if kernel_id is None:
            if viewer is None:  # never a kernel for a request the server has not signed in
                raise web.HTTPError(403, "Sign in to open the dashboards.")
            alive = len(self.list_kernel_ids())
            if alive + self._starting >= self.max_kernels:
                self.log.warning(
                    "refused a dashboard kernel: %d kernels alive (max_kernels=%d)", alive, self.max_kernels
                )
                raise web.HTTPError(503, TOO_MANY)
            if 0 < self.max_kernels_per_user <= self.kernels_of(viewer.name):
                self.log.warning(
                    "refused a dashboard kernel to %s: %d of theirs alive (max_kernels_per_user=%d)",
                    viewer.name,
                    self.kernels_of(viewer.name),
                    self.max_kernels_per_user,
                )
                raise web.HTTPError(503, TOO_MANY_YOURS)
        # Without an env, jupyter_client would hand the kernel the server's whole environment.
        env = kwargs.get("env")
        kwargs["env"] = {
            **dashboard_kernel_environment(os.environ if env is None else env),
            **(viewer.env if viewer is not None else {}),
        }
        who = viewer.name if viewer is not None else ""
        self._starting += 1
        self._starting_for[who] = self._starting_for.get(who, 0) + 1
        try:
            kid = await super().start_kernel(kernel_id=kernel_id, path=path, **kwargs)
        finally:
            self._starting -= 1
            self._starting_for[who] -= 1
            if not self._starting_for[who]:
                self._starting_for.pop(who)
        if viewer is not None:
            self._owners[kid] = viewer.name
        try:
            pid = getattr(self.get_kernel(kid).provisioner, "pid", None)
        except (KeyError, web.HTTPError):  # gone already
            pid = None
        if pid:
            limit_kernel_memory(int(pid), self.kernel_memory_mb)
        return kid


#: The page and query parameter that name a review (the landing page names none).
PAGE_REVIEWS = {"review.ipynb": "unit", "joint.ipynb": "pair"}


def hidden_review(page: str, args: dict[str, list[bytes]], visible: access.Visible) -> bool:
    """True when a page view asks for a review ``visible`` does not cover: a published unit or
    joint pair (any value of the query, for any quarter it may fall back to), or the overview."""
    outputs, config = data.outputs_dir(), load_config()
    quarters = data.published_quarters(outputs)
    asked = {pick(v.decode("utf-8", "replace"), quarters) for v in args.get("quarter", [])}
    candidates = {q for q in asked | {data.default_quarter(outputs)} if q}
    for q in candidates:
        if page == "overview.ipynb" and data.has_overview(outputs, q) and not visible.review(q, data.OVERVIEW):
            return True
        name = PAGE_REVIEWS.get(page)
        if name is None:
            continue
        listed = (
            data.published_units(outputs, q, config) if name == "unit" else data.published_joint(outputs, q, config)
        )
        for v in args.get(name, []):
            review = pick(v.decode("utf-8", "replace"), listed)
            if review is not None and not visible.review(q, review):
                return True
    return False


class _PageHandler(TornadoVoilaHandler):
    @web.authenticated
    async def get(self, path: str | None = None) -> None:
        person = person_of(self)
        provider = self.identity_provider
        if person is None or not isinstance(provider, DashboardIdentityProvider):
            raise web.HTTPError(403, "Sign in to open the dashboards.")
        visible = provider.visible(person)
        page = (path or "").rsplit("/", 1)[-1]
        if hidden_review(page, self.request.query_arguments, visible):
            raise web.HTTPError(403, HIDDEN)  # before any kernel starts
        env = {access.VISIBLE_ENV: access.to_env(visible), access.VIEWER_ENV: describe(person)}
        token = VIEWER.set(Viewer(person.name, env))
        try:
            gate = getattr(self.kernel_manager, "render_gate", None)
            if gate is None:
                await super().get(path)
                return
            async with gate():  # the page's kernel starts and its notebook runs when a slot is free
                await super().get(path)
        finally:
            VIEWER.reset(token)

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
            provider, person = self.identity_provider, person_of(self)
            if not isinstance(provider, DashboardIdentityProvider) or not provider.visible(person).review(
                quarter, wanted
            ):
                return None  # no link to a copy this reader may not open
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


#: Handlers addressing one kernel (its websocket, its model, its shutdown): its own reader's only.
KERNEL_HANDLERS = ("KernelHandler", "VoilaKernelWebsocketHandler", "VoilaShutdownKernelHandler")


class OwnKernelOnly:
    """Mixed into :data:`KERNEL_HANDLERS`: a kernel answers only the reader it was started for (403)."""

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        handler: Any = self
        result = super().prepare(*args, **kwargs)  # type: ignore[misc]
        if inspect.isawaitable(result):
            await result
        if handler._finished:
            return
        kid = handler.path_kwargs.get("kernel_id") or (handler.path_args[0] if handler.path_args else "")
        owner = getattr(handler.kernel_manager, "owner_of", lambda _k: None)(kid)
        if owner is None or getattr(handler.current_user, "username", None) != owner:
            raise web.HTTPError(403)  # another reader's kernel, or none


def signed_in_only(handler: type) -> type:
    """``handler`` behind :class:`rbm_utils.serve.signin.SignedInOnly` (the sign-in and sign-out
    pages excepted), and behind :class:`OwnKernelOnly` too when it addresses one kernel. Pages and
    the redirects of ``/`` send a reader who is not signed in to the sign-in page."""
    if handler in (LoginHandler, LogoutHandler):
        return handler
    bases = (SignedInOnly, OwnKernelOnly) if handler.__name__ in KERNEL_HANDLERS else (SignedInOnly,)
    redirect = issubclass(handler, (_PageHandler, web.RedirectHandler))
    return type(f"SignedIn{handler.__name__}", (*bases, handler), {"signin_redirect": redirect})


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
            FileFindHandler: LabextensionHandler,
        }
        handlers = []
        for h in super().init_handlers():
            if h[1] in (TornadoVoilaTreeHandler, VoilaContentsHandler):
                continue
            handlers.append((h[0], replace_by.get(h[1], h[1]), *h[2:]))
        landing = url_path_join(self.base_url, LANDING)
        # Jupyter's own /login and /logout pages need templates Voila does not ship (/logout answered
        # 500): ours (rbm_utils.serve.signin) replace them.
        handlers = [h for h in handlers if not h[0].rstrip("/").endswith(("/login", "/logout"))]
        routes = [
            (url_path_join(self.server_url, LOGIN), LoginHandler),
            (url_path_join(self.server_url, LOGOUT), LogoutHandler),
            (url_path_join(self.server_url, r"/?"), web.RedirectHandler, {"url": landing}),
            (url_path_join(self.server_url, r"/index(?:\.html)?"), web.RedirectHandler, {"url": landing}),
            (url_path_join(self.server_url, downloads.ROUTE, r"([^/]+)/([^/]+)/([^/]+)"), DownloadHandler),
            *static_copy_routes(self.server_url, StaticReviewHandler),
            (url_path_join(self.server_url, downloads.STATIC_ROUTE, r"([^/]+)/([^/]+)"), StaticReviewHandler),
            *handlers,
        ]
        return [(r[0], signed_in_only(r[1]), *r[2:]) for r in routes]
