"""Signing in to the dashboards: who a request is for, the sign-in page, signing out.

:class:`DashboardIdentityProvider` is the server's Jupyter identity provider (Voila's
``identity_provider_class``): every Jupyter handler of the server (pages, downloads, static
copies, the kernel websocket and API routes) asks it who the request is for, and a request it
cannot name is sent to ``/login`` (pages) or refused with 403 (anything else) before the handler
runs, so no kernel starts for it. It names a request from

- the ``rbm_session`` cookie: a random token of a live session (:class:`rbm_utils.serve.sessions.Sessions`),
  set at sign-in HttpOnly, SameSite=Strict (and Secure over HTTPS);
- or, for single sign-on, the identity header (``X-Forwarded-User`` unless configured) when the
  request's own peer address, never a forwarded one, is one of ``trusted_proxies`` and the header
  names a registered, active user; otherwise the header is ignored.

Users and approval states come from the store (``store_url``), re-read after ``cache_seconds``:
a disabled user is out within that time. :class:`LoginHandler` serves the sign-in form (no kernel,
no script) and checks ``username`` and ``password`` with :func:`rbm_utils.store.users.authenticate`,
behind the form's XSRF token; after ``max_failures`` failed attempts within ``failure_window``
seconds for a user name, or four times as many from one client address (several people may share
an address), it answers 429 until the window has passed, with the same words whether the name
exists or not. :class:`LogoutHandler` ends the session.

Example:
    >>> safe_next("/voila/render/review.ipynb?unit=AFR"), safe_next("//evil.example/x"), safe_next("https://x")
    ('/voila/render/review.ipynb?unit=AFR', '/', '/')
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import ipaddress
import time
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import IdentityProvider
from jupyter_server.auth.identity import User as JupyterUser
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from tornado.httputil import url_concat
from traitlets import Integer, List, Unicode

from rbm_utils.core.config import load_config
from rbm_utils.core.text import escape_text
from rbm_utils.serve import access, data
from rbm_utils.serve.sessions import Attempts, Sessions
from rbm_utils.store.database import Store
from rbm_utils.store.users import User, authenticate, get_user, has_users

COOKIE = "rbm_session"
LOGIN = "/login"
LOGOUT = "/logout"
MAX_FIELD = 200
FAILED = "The user name or the password is not right. Try again."
TOO_MANY = (
    "Too many failed sign-in attempts. Wait five minutes and try again, or ask the M&E team to reset your password."
)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this server only (else ``/``)."""
    t = (target or "").strip()
    if not t.startswith("/") or t.startswith("//") or "\\" in t or any(ord(c) < 32 for c in t) or len(t) > 2000:
        return "/"
    return t


def peer_address(request: Any) -> str:
    """The address of the connection itself (never X-Forwarded-For or X-Real-IP)."""
    context = getattr(getattr(request, "connection", None), "context", None)
    address = getattr(context, "address", None)
    if isinstance(address, tuple) and address:
        return str(address[0])
    return ""


def _canonical(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return ""


@dataclasses.dataclass
class Reader(JupyterUser):
    """A signed-in reader: the Jupyter user, with the registered ``person`` behind it."""

    person: User | None = None


def describe(person: User) -> str:
    """The reader as the pages say it: ``name (role: units)``.

    >>> describe(User("ada", "officer", ("AFR",)))
    'ada (officer: AFR)'
    """
    return f"{person.name} ({person.role}{': ' + ', '.join(person.units) if person.units else ''})"


class DashboardIdentityProvider(IdentityProvider):
    """Who a request is for: a session cookie or a trusted proxy's header; see the module."""

    store_url = Unicode("", config=True, help="The store holding the users and the approvals.")
    trusted_proxies = List(Unicode(), config=True, help="Peer addresses whose identity header is trusted.")
    identity_header = Unicode("X-Forwarded-User", config=True, help="The trusted proxies' identity header.")
    session_idle = Integer(3600, config=True, help="Seconds without a request before a session ends.")
    session_lifetime = Integer(12 * 3600, config=True, help="Seconds a session lasts at most.")
    max_failures = Integer(5, config=True, help="Failed sign-ins per name (x4 per address) within the window.")
    failure_window = Integer(300, config=True, help="Seconds over which failed sign-ins are counted.")
    cache_seconds = Integer(30, config=True, help="Seconds users and approval states are kept before re-reading.")

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("login_handler_class", None)  # our own handlers, added by the app
        super().__init__(**kwargs)
        self.sessions = Sessions(self.session_idle, self.session_lifetime)
        self.attempts = Attempts(self.max_failures, self.failure_window)
        self.address_attempts = Attempts(4 * self.max_failures, self.failure_window)
        self._store: Store | None = None
        self._people: dict[str, tuple[float, User | None]] = {}
        self._states: tuple[float, dict[str, dict[str, str]]] | None = None
        self._trusted = {_canonical(a) for a in self.trusted_proxies} - {""}
        try:
            if not has_users(self.store()):
                self.log.warning("nobody can sign in yet: register a user (rbm user add NAME --role leadership)")
        except Exception as exc:  # noqa: BLE001 - said once here; each sign-in says it again
            self.log.warning("the store of the users cannot be read: %s", type(exc).__name__)

    # jupyter_server: authentication is always on, with our login and logout pages
    @property
    def auth_enabled(self) -> bool:
        return True

    @property
    def login_available(self) -> bool:
        return True

    def get_handlers(self) -> list:
        return []  # /login and /logout: DashboardVoila.init_handlers adds LoginHandler and LogoutHandler

    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.store_url or load_config().store_url)
        return self._store

    def person(self, name: str) -> User | None:
        """The registered, active user ``name`` (kept ``cache_seconds``), or None."""
        now = time.monotonic()
        hit = self._people.get(name)
        if hit is None or now - hit[0] > self.cache_seconds:
            if len(self._people) > 10_000:
                self._people.clear()
            found = get_user(self.store(), name) if 0 < len(name) <= MAX_FIELD else None
            hit = (now, found if found is not None and found.active else None)
            self._people[name] = hit
        return hit[1]

    def remember(self, person: User) -> None:
        self._people[person.name] = (time.monotonic(), person)

    def approval_states(self) -> dict[str, dict[str, str]]:
        """Each published quarter's approval state per unit, from the store (kept ``cache_seconds``)."""
        now = time.monotonic()
        if self._states is None or now - self._states[0] > self.cache_seconds:
            config = load_config()
            states: dict[str, dict[str, str]] = {}
            for q in data.published_quarters(data.outputs_dir()):
                frame = self.store().approval_states(q, config.authority, config.currency)
                states[q] = dict(zip(frame["unit_code"].astype(str), frame["state"].astype(str), strict=True))
            self._states = (now, states)
        return self._states[1]

    def visible(self, person: User | None) -> access.Visible:
        """What ``person`` may read (:func:`rbm_utils.serve.access.visible_for`)."""
        return access.visible_for(person, self.approval_states())

    def trusted_name(self, handler: web.RequestHandler) -> str | None:
        """The identity header's value, when the request comes from a trusted proxy."""
        if not self._trusted or _canonical(peer_address(handler.request)) not in self._trusted:
            return None
        value = handler.request.headers.get(self.identity_header, "").strip()
        return value or None

    def get_user(self, handler: web.RequestHandler) -> Reader | None:
        person = None
        header = self.trusted_name(handler)
        if header is not None:
            person = self.person(header)
        if person is None:
            token = handler.get_cookie(COOKIE)
            name = self.sessions.user(token)
            if name is not None:
                person = self.person(name)
                if person is None:  # disabled or removed since signing in
                    self.sessions.end_user(name)
        if person is None:
            return None
        return Reader(username=person.name, name=person.name, display_name=person.name, person=person)


def person_of(handler: web.RequestHandler) -> User | None:
    """The registered user a handler's request is for (None: not signed in)."""
    user = handler.current_user
    return user.person if isinstance(user, Reader) else None


def _page(title: str, body: str, focus_error: bool = False) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape_text(title)}</title><style>"
        "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f5f5f5;color:#1a1a1a;"
        "margin:0;padding:2rem 1rem}main{max-width:24rem;margin:3rem auto;background:#fff;padding:2rem;"
        "border:1px solid #ccc;border-radius:6px}h1{font-size:1.4rem;margin-top:0}label{display:block;"
        "font-weight:600;margin:1rem 0 .3rem}input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;"
        "border:1px solid #595959;border-radius:4px}button{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem;"
        "background:#0072B2;color:#fff;border:0;border-radius:4px;cursor:pointer}"
        "input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid #0072B2;outline-offset:2px}"
        ".rbm-error{color:#8a2c00;background:#fdecea;border-left:4px solid #D55E00;padding:.6rem}"
        "</style></head><body><main>" + body + "</main></body></html>"
    )


class LoginHandler(JupyterHandler):
    """``/login``: the sign-in form (GET) and its check (POST, behind the form's XSRF token)."""

    @property
    def provider(self) -> DashboardIdentityProvider:
        return self.identity_provider  # type: ignore[return-value]

    def form(self, error: str = "", name: str = "") -> str:
        target = safe_next(self.get_argument("next", "/"))
        action = self.base_url.rstrip("/") + LOGIN
        note = f'<p class="rbm-error" role="alert" id="rbm-login-error">{escape_text(error)}</p>' if error else ""
        described = ' aria-describedby="rbm-login-error"' if error else ""
        body = (
            "<h1>Sign in to the quarterly reviews</h1>"
            + note
            + f'<form method="post" action="{escape_text(action)}">{self.xsrf_form_html()}'
            f'<input type="hidden" name="next" value="{escape_text(target)}">'
            '<label for="rbm-username">User name</label>'
            f'<input id="rbm-username" name="username" type="text" autocomplete="username" required autofocus'
            f' maxlength="{MAX_FIELD}" value="{escape_text(name)}"{described}>'
            '<label for="rbm-password">Password</label>'
            f'<input id="rbm-password" name="password" type="password" autocomplete="current-password" required'
            f' maxlength="{MAX_FIELD}"{described}>'
            '<button type="submit">Sign in</button></form>'
        )
        return _page("Sign in", body)

    def check_origin(self, origin_to_satisfy_tornado: str = "") -> bool:
        # With Referrer-Policy: no-referrer the browser posts the form with "Origin: null"; the
        # form's XSRF token (field and SameSite=Strict cookie) is what tells a page of ours.
        if self.request.headers.get("Origin") == "null":
            return True
        return bool(super().check_origin(origin_to_satisfy_tornado))

    def _no_cache(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "text/html; charset=utf-8")

    @allow_unauthenticated
    def get(self) -> None:
        if self.current_user is not None:
            self.redirect(safe_next(self.get_argument("next", "/")))
            return
        self._no_cache()
        self.finish(self.form())

    @allow_unauthenticated
    async def post(self) -> None:
        self._no_cache()
        name = self.get_body_argument("username", "")[:MAX_FIELD].strip()
        password = self.get_body_argument("password", "")[:MAX_FIELD]
        user_key, address = name.lower(), peer_address(self.request)
        by_user, by_address = self.provider.attempts, self.provider.address_attempts
        if by_user.blocked(user_key) or by_address.blocked(address):
            self.log.warning("sign-in refused: too many failed attempts (from %s)", address)
            self.set_status(429)
            self.finish(self.form(TOO_MANY, name))
            return
        store = self.provider.store()
        loop = asyncio.get_running_loop()
        person = await loop.run_in_executor(None, authenticate, store, name, password) if name else None
        if person is None:
            by_user.fail(user_key)
            by_address.fail(address)
            self.log.info("failed sign-in from %s", address)
            self.set_status(401)
            self.finish(self.form(FAILED, name))
            return
        by_user.clear(user_key)
        self.provider.remember(person)
        self.provider.sessions.end(self.get_cookie(COOKIE))  # never keep a session from before signing in
        token = self.provider.sessions.start(person.name)
        self.set_cookie(
            COOKIE,
            token,
            path=self.base_url,
            httponly=True,
            samesite="Strict",
            secure=self.request.protocol == "https",
        )
        self.log.info("%s signed in", person.name)
        self.redirect(safe_next(self.get_body_argument("next", "/")))


class LogoutHandler(JupyterHandler):
    """``/logout``: ends the session (cookie and server side) and offers to sign in again."""

    @allow_unauthenticated
    def get(self) -> None:
        provider = self.identity_provider
        if isinstance(provider, DashboardIdentityProvider):
            provider.sessions.end(self.get_cookie(COOKIE))
        self.clear_cookie(COOKIE, path=self.base_url)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        login = self.base_url.rstrip("/") + LOGIN
        self.finish(
            _page(
                "Signed out",
                f'<h1>You are signed out</h1><p><a href="{escape_text(login)}">Sign in again</a></p>',
            )
        )

    post = get


class SignedInOnly:
    """Mixed into every handler of the server but the sign-in and sign-out pages, before its own
    checks (Jupyter marks its static file handlers as open to anyone): a request that is not
    signed in is sent to the sign-in page (GET of a page or of ``/``; ``signin_redirect``) or
    refused (403)."""

    signin_redirect = False

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        handler: Any = self
        provider = handler.settings.get("identity_provider")
        user = provider.get_user(handler) if provider is not None else None
        if inspect.isawaitable(user):
            user = await user
        if user is None:
            handler.current_user = handler._jupyter_current_user = None
            if handler.signin_redirect and handler.request.method in ("GET", "HEAD"):
                login = handler.settings.get("login_url", LOGIN)
                handler.redirect(url_concat(login, {"next": handler.request.uri}))
                return
            raise web.HTTPError(403)
        parent = super().prepare(*args, **kwargs)  # type: ignore[misc]
        if inspect.isawaitable(parent):
            await parent
