"""The dashboards' security headers, on every response of the server, and error texts without
internals.

Voila's own handlers set the server's ``headers`` setting, but static files, redirects, the 404
of an unknown path, template static files and refused websocket upgrades are plain tornado
handlers that never read it. :class:`SecurityHeaders` is a tornado output transform: it runs on
the first chunk of *every* response the application sends, whatever its handler, so nothing
leaves the server without them (:func:`install` adds it to the application).

- :data:`CSP`: scripts only from this server (no inline script, no ``eval``), connections only to
  this server, nothing framed; see docs/dashboards.md ("Content-Security-Policy") for what each
  directive allows and why. A handler may send a narrower policy of its own (the static copies of
  the reviews: :func:`static_copy_csp`, with the hashes of their inline scripts); the transform then
  keeps it.
- :data:`HEADERS`: ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: no-referrer``, ``Cross-Origin-Opener-Policy`` and ``-Resource-Policy``
  ``same-origin``, a ``Permissions-Policy`` that turns off camera, microphone, location ...
- ``Cache-Control: no-store`` on pages, errors and redirects (a page holds its kernel's id; an
  error is not worth keeping); static files keep their own caching.
- :func:`public_message`: the text an error page may show: ours (503: every kernel taken), or a
  plain sentence per status; never an exception's message (it may name a server path).

Example:
    >>> "'unsafe-eval'" in CSP, "'unsafe-inline'" in CSP.split("script-src")[1].split(";")[0]
    (False, False)
    >>> public_message(404, "file /work/x.ipynb not found")
    'There is no page at this address.'
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Iterable
from typing import Any

from tornado import httputil, web

#: The policy of every response. ``style-src 'unsafe-inline'`` stays: JupyterLab's bundles, the
#: widgets and plotly.js insert ``<style>`` elements and ``style`` attributes at run time; styles
#: cannot run code, and with ``img-src``/``font-src``/``connect-src`` limited to this server no
#: style can send data anywhere else.
CSP_DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self'",
    "frame-src": "'none'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy(directives: dict[str, str]) -> str:
    """A Content-Security-Policy header value from its directives (in their order).

    >>> policy({"default-src": "'self'", "object-src": "'none'"})
    "default-src 'self'; object-src 'none'"
    """
    return "; ".join(f"{name} {value}" for name, value in directives.items())


CSP = policy(CSP_DIRECTIVES)

#: Sent with every response (the Content-Security-Policy too, unless the handler sent its own).
HEADERS: dict[str, str] = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}

#: What an error page says, by status, instead of an exception's own message.
PUBLIC_MESSAGES: dict[int, str] = {
    400: "The address of this page is not valid.",
    403: "This page cannot be opened from here.",
    404: "There is no page at this address.",
    405: "This address cannot be used that way.",
    500: "Something went wrong on the server; the details are in the server log.",
    503: "The dashboards are busy; try again in a few minutes.",
}

#: Messages the server itself raises for readers (they name nothing of the server): shown as they are.
OWN_MESSAGES = {"Too many dashboards are open right now; close a tab or try again in a few minutes."}


def own_message(text: str) -> str:
    """Register ``text`` as one of :data:`OWN_MESSAGES` (written by us, in words: an error page
    may show it) and return it."""
    OWN_MESSAGES.add(text)
    return text


_HTML_TYPES = ("text/html", "application/json", "text/plain")


def public_message(status: int, message: str | None) -> str:
    """The message an error page of ``status`` may show: ``message`` when it is one of
    :data:`OWN_MESSAGES`, else the plain sentence of :data:`PUBLIC_MESSAGES` ('' for others).

    >>> public_message(503, "Too many dashboards are open right now; close a tab or try again in a few minutes.")[:9]
    'Too many '
    >>> public_message(500, "Traceback (most recent call last)"), public_message(418, "x")
    ('Something went wrong on the server; the details are in the server log.', '')
    """
    if message in OWN_MESSAGES:
        return str(message)
    return PUBLIC_MESSAGES.get(int(status), "")


class SecurityHeaders(web.OutputTransform):
    """Adds :data:`HEADERS`, the Content-Security-Policy (unless the handler set its own) and
    ``Cache-Control: no-store`` (pages, errors, redirects; unless the handler set one) to the
    first chunk of every response."""

    def transform_first_chunk(
        self, status_code: int, headers: httputil.HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, httputil.HTTPHeaders, bytes]:
        apply(status_code, headers)
        return status_code, headers, chunk


def apply(status_code: int, headers: Any) -> None:
    """Set the security headers on ``headers`` (a mapping) of a response of ``status_code``.

    >>> h = {"Content-Type": "text/html; charset=UTF-8"}
    >>> apply(404, h)
    >>> h["X-Frame-Options"], h["Cache-Control"], h["Content-Security-Policy"] == CSP
    ('DENY', 'no-store', True)
    >>> h = {"Content-Type": "text/javascript", "Content-Security-Policy": "default-src 'none'"}
    >>> apply(200, h)
    >>> "Cache-Control" in h, h["Content-Security-Policy"]
    (False, "default-src 'none'")
    """
    for name, value in HEADERS.items():
        headers[name] = value
    if not headers.get("Content-Security-Policy"):
        headers["Content-Security-Policy"] = CSP
    kind = str(headers.get("Content-Type", "")).split(";")[0].strip().lower()
    if "Cache-Control" not in headers and (status_code >= 300 or kind in _HTML_TYPES or not kind):
        headers["Cache-Control"] = "no-store"


def install(app: web.Application) -> None:
    """Add :class:`SecurityHeaders` to ``app``'s output transforms (once)."""
    if SecurityHeaders not in app.transforms:
        app.transforms.append(SecurityHeaders)


# --------------------------------------------------------------------------- static copies

_SCRIPT = re.compile(rb"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_TYPE = re.compile(rb"""\btype\s*=\s*["']?([^"'\s>]+)""", re.I)
_JS_TYPES = {b"", b"text/javascript", b"application/javascript", b"module"}


def inline_script_hashes(page: bytes) -> list[str]:
    """The CSP hash sources (``'sha256-...'``) of the inline scripts of an HTML page: scripts without
    ``src`` whose type is JavaScript (data blocks such as ``application/json`` run nothing).

    >>> inline_script_hashes(b'<script>a()</script><script src="x.js"></script><script type="application/json">{}</script>')
    ["'sha256-qVpDBgj7bpq5hMAcGp3AOc79J3Y1Z4HvySTwKrWDoy4='"]
    """
    out: list[str] = []
    for attrs, body in _SCRIPT.findall(page):
        if re.search(rb"\bsrc\s*=", attrs, re.I):
            continue
        m = _TYPE.search(attrs)
        if (m.group(1).lower() if m else b"") not in _JS_TYPES:
            continue
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        source = f"'sha256-{digest}'"
        if source not in out:
            out.append(source)
    return out


def static_copy_csp(hashes: Iterable[str]) -> str:
    """The policy of a review's static copy: :data:`CSP` with its inline scripts allowed by hash
    (each figure's call is inline there, and plotly.js in copies published before the asset
    file), nothing else.

    >>> static_copy_csp(["'sha256-abc='"]).split("; ")[1]
    "script-src 'self' 'sha256-abc='"
    """
    directives = dict(CSP_DIRECTIVES)
    directives["script-src"] = " ".join(["'self'", *hashes])
    return policy(directives)


# --------------------------------------------------------------------------- error pages


def error_page(status: int, message: str | None = None) -> str:
    """A small, self-contained error page: the status, :func:`public_message` and a link to the
    dashboards; nothing of the request or the exception.

    >>> page = error_page(500, "/work/rbm_utils/serve/x.py line 3")
    >>> "/work/" in page, "500: Internal Server Error" in page
    (False, True)
    """
    reason = httputil.responses.get(int(status), "Error")
    text = public_message(status, message)
    body = f"<p>{html.escape(text)}</p>" if text else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>RBM dashboards</title></head>'
        f"<body><h1>{int(status)}: {html.escape(reason)}</h1>{body}"
        '<p><a href="/">Back to the dashboards</a></p></body></html>'
    )


class PlainErrors(web.RequestHandler):
    """Mixin for the server's own handlers: errors are :func:`error_page` (never a traceback, a
    server path or an exception's message, whatever the server's settings)."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) if isinstance(exc, web.HTTPError) else None
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(error_page(status_code, message))
