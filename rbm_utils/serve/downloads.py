"""Downloads for managers: a review's PDF and Excel pack, and its static copy, through allow-listed routes.

``/rbm-download/<quarter>/<review>/<kind>`` (``kind`` ``pdf`` or ``xlsx``; ``review`` a unit code or
``overview``) serves a file only when the three parts are, exactly, a published quarter, a review
published in it (a unit of the settings, or the overview) and a kind of :data:`KINDS`; the file is
then the fixed name of that kind in that review's published folder. The path is built from the
listing's own names (:func:`rbm_utils.serve.params.pick`), never from what the request sent;
anything else is 404.

``/rbm-static/<quarter>/<review>`` (``review`` a unit code, ``overview`` or a joint pair
``CLUSTER-REGION``) serves the static HTML copy of the review that ``rbm review`` published beside
its notebook (:data:`STATIC_FILES`), the same way: for reading and printing at once, with no
kernel, also when every dashboard kernel is taken. ``/rbm-static/<quarter>/joint/<pair>`` serves a
joint review at the depth of its folder on disk, and ``/rbm-static/assets/<file>`` the plotly.js
asset the static pages load by a relative path (:func:`resolve_asset`: a file listed in a
published quarter's ``assets`` folder under an asset's name). The handlers themselves (:class:`rbm_utils.serve.file_routes.DownloadHandler`) keeps
the server's headers, Content-Security-Policy and Host check.

Example:
    >>> download_link("2026-Q3", "AFR", "pdf")
    '../../rbm-download/2026-Q3/AFR/pdf'
    >>> static_link("2026-Q3", "CYB-AFR")
    '../../rbm-static/2026-Q3/joint/CYB-AFR'
    >>> download_name("2026-Q3", "overview", "xlsx")
    'overview-2026-Q3-review-pack.xlsx'
    >>> resolve(Path("/nonexistent"), config, "2026-Q3", "../../etc", "pdf") is None     # doctest: +SKIP
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from rbm_utils.core.config import Config
from rbm_utils.core.text import escape_text
from rbm_utils.exchange.excel_pack import PACK_FILE, PACK_MEDIA_TYPE
from rbm_utils.exchange.pdf import PDF_FILE, PDF_MEDIA_TYPE
from rbm_utils.publish.assets import ASSETS_DIR, is_asset_name
from rbm_utils.serve import data
from rbm_utils.serve.params import pick

#: The route's first path segment (under the server's base URL).
ROUTE = "rbm-download"
#: The static review route's first path segment.
STATIC_ROUTE = "rbm-static"
#: The static HTML copy ``rbm review`` writes beside each published notebook (the review
#: notebooks' names, ``notebooks/*.ipynb``, with ``.html``): unit, overview, joint review.
STATIC_FILES: dict[str, str] = {
    "unit": "quarterly_review.html",
    data.OVERVIEW: "bdt_overview.html",
    data.JOINT: "joint_review.html",
}
STATIC_WORDS = "Static copy (opens at once, prints well; no filters)"
#: Where the route is, seen from a dashboard page (``<base>/voila/render/<page>.ipynb``).
FROM_PAGE = "../../"


class Kind(NamedTuple):
    """A kind of download: the published file's name, its media type, the saved file's ending and the link's words."""

    file: str
    media_type: str
    suffix: str
    words: str


KINDS: dict[str, Kind] = {
    "pdf": Kind(PDF_FILE, PDF_MEDIA_TYPE, "review.pdf", "PDF of the review"),
    "xlsx": Kind(PACK_FILE, PACK_MEDIA_TYPE, "review-pack.xlsx", "Excel review pack"),
}


def published_reviews(outputs: Path, quarter: str, config: Config) -> list[str]:
    """Reviews of a published ``quarter`` a download may name: its published units, then ``overview``."""
    names = data.published_units(outputs, quarter, config)
    return names + ([data.OVERVIEW] if data.has_overview(outputs, quarter) else [])


def resolve(outputs: Path, config: Config, quarter: str, review: str, kind: str) -> Path | None:
    """The published file a download names, or None: each part must be one of the listed values,
    and the file must exist. The path is joined from the listed names only."""
    q = pick(quarter, data.published_quarters(outputs))
    r = pick(review, published_reviews(outputs, q, config)) if q else None
    k = pick(kind, list(KINDS))
    if q is None or r is None or k is None:
        return None
    path = Path(outputs) / q / r / KINDS[k].file
    return path if path.is_file() else None


def resolve_static(outputs: Path, config: Config, quarter: str, review: str) -> Path | None:
    """The published static HTML review a ``/rbm-static/`` request names, or None: the quarter must
    be published and the review one of its published units, its overview or one of its joint
    reviews; the path is joined from the listed names only, and the file must exist."""
    q = pick(quarter, data.published_quarters(outputs))
    if q is None:
        return None
    base = Path(outputs) / q
    r = pick(review, published_reviews(outputs, q, config))
    if r is not None:
        path = base / r / STATIC_FILES[data.OVERVIEW if r == data.OVERVIEW else "unit"]
    else:
        pair = pick(review, data.published_joint(outputs, q, config))
        if pair is None:
            return None
        path = base / data.JOINT / pair / STATIC_FILES[data.JOINT]
    return path if path.is_file() else None


def static_link(quarter: str, review: str) -> str:
    """The route of a review's static copy, relative to a dashboard page: a joint pair's
    (``CLUSTER-REGION``) under ``joint/``, as on disk, so the page's relative path to the
    quarter's assets resolves the same way through the server."""
    if "-" in review:
        return f"{FROM_PAGE}{STATIC_ROUTE}/{quarter}/{data.JOINT}/{review}"
    return f"{FROM_PAGE}{STATIC_ROUTE}/{quarter}/{review}"


#: The static copies' shared assets (plotly.js): ``<quarter>/assets/`` on disk, ``/rbm-static/assets/`` served.
ASSETS_SEGMENT = ASSETS_DIR
#: Served assets never change under their name (it carries their hash): browsers keep them a year.
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
ASSET_MEDIA_TYPE = "text/javascript; charset=utf-8"


def resolve_asset(outputs: Path, name: str) -> Path | None:
    """The shared asset a ``/rbm-static/assets/<name>`` request names, or None: ``name`` must be one
    of the files listed under an asset's name (:func:`rbm_utils.publish.assets.is_asset_name`) in
    the ``assets`` folder of a published quarter (the newest that has it: the name carries the
    content's hash, so every quarter's copy is the same file); the path is joined from the listed
    names only.

    A static copy at ``/rbm-static/<quarter>/<review>`` (or ``.../joint/<pair>``) loads
    ``../assets/<name>`` (``../../assets/<name>``), which the browser resolves to this route."""
    for q in data.published_quarters(outputs):
        folder = Path(outputs) / q / ASSETS_DIR
        try:
            listed = sorted(p.name for p in folder.iterdir() if p.is_file() and is_asset_name(p.name))
        except OSError:
            continue
        n = pick(name, listed)
        if n is not None:
            return folder / n
    return None


def download_name(quarter: str, review: str, kind: str) -> str:
    """The name a browser saves the file under."""
    return f"{review}-{quarter}-{KINDS[kind].suffix}"


def download_link(quarter: str, review: str, kind: str) -> str:
    """The route of one download, relative to a dashboard page."""
    return f"{FROM_PAGE}{ROUTE}/{quarter}/{review}/{kind}"


def links_html(outputs: Path, config: Config, quarter: str | None, review: str | None) -> str:
    """A line with the review's static copy and download links for the files published with it
    ('' when there are none). ``review``: a unit code, ``overview`` or a joint pair."""
    if not quarter or not review:
        return ""
    static = (
        f'<a class="rbm-static" href="{escape_text(static_link(quarter, review))}" target="_blank" rel="noopener">'
        f"{escape_text(STATIC_WORDS)}</a>"
        if resolve_static(outputs, config, quarter, review) is not None
        else ""
    )
    links = [
        f'<a class="rbm-download-{k}" href="{escape_text(download_link(quarter, review, k))}" download>'
        f"{escape_text(kind.words)}</a>"
        for k, kind in KINDS.items()
        if resolve(outputs, config, quarter, review, k) is not None
    ]
    parts = ([static] if static else []) + ([f"Download: {' · '.join(links)}"] if links else [])
    return f'<p class="rbm-downloads">{" · ".join(parts)}</p>' if parts else ""
