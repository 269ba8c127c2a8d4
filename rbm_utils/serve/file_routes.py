"""The server's file routes: a review's downloads, its static copy and the static copies' plotly.js.

- :class:`DownloadHandler`: ``/rbm-download/<quarter>/<review>/<kind>``, a review's published PDF or
  Excel pack through the allow-list of :mod:`rbm_utils.serve.downloads`; anything else is 404.
- :class:`StaticReviewHandler`: ``/rbm-static/<quarter>/<review>``, a review's published static HTML
  copy (no kernel), also through the allow-list.
- :class:`StaticAssetHandler`: ``/rbm-static/assets/<file>``, the quarters' plotly.js the static
  copies load (fingerprinted name, cached a year); :func:`static_copy_routes`.
- :class:`LabextensionHandler`: Voila's lab extensions named by their content's hash (plotly.js
  among them) are cached a year (:func:`fingerprinted`).

Each answers only a signed-in reader who may read the review (:func:`check_visible`: 403 otherwise).
"""

from __future__ import annotations

import re

from jupyter_server.base.handlers import FileFindHandler, JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from rbm_utils.core.config import load_config
from rbm_utils.serve import data, downloads, headers
from rbm_utils.serve.signin import DashboardIdentityProvider, person_of

#: What a reader who may not see a review is told (HTTP 403).
HIDDEN = headers.own_message(
    "This review is not approved yet: until it is, only the unit's officers and approvers and the "
    "bureau's leadership can open it."
)


def check_visible(handler: JupyterHandler, quarter: str, review: str) -> None:
    """403 unless the signed-in reader may read ``review`` of ``quarter`` (both already allow-listed)."""
    provider = handler.identity_provider
    person = person_of(handler)
    if person is None or not isinstance(provider, DashboardIdentityProvider):
        raise web.HTTPError(403)
    if not provider.visible(person).review(quarter, review):
        raise web.HTTPError(403, HIDDEN)


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
        check_visible(self, quarter, review)
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
        check_visible(self, quarter, review)
        payload = path.read_bytes()
        self.set_header("Content-Type", "text/html; charset=utf-8")
        # its inline scripts (one call per figure; older copies inline plotly.js too) allowed by hash, no other
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


class LabextensionHandler(FileFindHandler):
    """Voila's lab extensions (the widget manager, plotly's renderer with plotly.js): files named by
    their content's hash are cached a year (``immutable``); the others (``style.js``) keep Voila's
    ``no-cache`` (checked again on each view)."""

    def set_headers(self) -> None:
        super().set_headers()
        if fingerprinted(self.request.path):
            self.set_header("Cache-Control", downloads.ASSET_CACHE_CONTROL)


def static_copy_routes(server_url: str, review_handler: type) -> list[tuple[str, type]]:
    """Routes of the static copies' shared assets and of a joint review at its folder's depth
    (before ``/rbm-static/<quarter>/<review>``, which would take ``assets/<file>`` for a review)."""
    return [
        (url_path_join(server_url, downloads.STATIC_ROUTE, downloads.ASSETS_SEGMENT, r"([^/]+)"), StaticAssetHandler),
        (url_path_join(server_url, downloads.STATIC_ROUTE, r"([^/]+)", data.JOINT, r"([^/]+)"), review_handler),
    ]
