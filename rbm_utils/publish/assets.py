"""The quarter's shared page assets: plotly.js once per published quarter, beside the pages.

Each static review page used to carry plotly.js (~4.7 MB) inlined. Now the batch writes it
once into ``outputs/<Q>/assets/plotly-<plotly.js version>.<sha256 prefix>.min.js``, taken from
the installed ``plotly`` package (offline, never a CDN), and each page loads it by a
**relative** path (``../assets/...`` from ``outputs/<Q>/AFR/``, ``../../assets/...`` from
``outputs/<Q>/joint/CYB-AFR/``), so a page opens from disk (``file://``) and through the
server (``/rbm-static/assets/<file>``) alike.

The name carries the content's hash: a file of that name never changes, so it is written
once (atomically: a reader never sees half of it), never deleted, and may be cached for
ever. A newer plotly writes a new file beside the old one, which older pages still load.

A folder moved into the archive (``<Q>/archive/AFR-<stamp>/``) is one level deeper than
where it was published, so its relative reference points elsewhere: :func:`keep_reachable`
puts a hard link (or a copy) of the asset where the archived page looks for it.

Example:
    >>> import tempfile
    >>> q = Path(tempfile.mkdtemp()) / "2026-Q3"
    >>> asset = write_plotly_asset(q / ASSETS_DIR)
    >>> asset.name == plotly_asset_name(), is_asset_name(asset.name)
    (True, True)
    >>> asset_src(q / "AFR", q / ASSETS_DIR) == "../assets/" + asset.name
    True
    >>> asset_src(q / "joint" / "CYB-AFR", q / ASSETS_DIR).startswith("../../assets/plotly-")
    True
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shutil
import uuid
from pathlib import Path

from rbm_utils.core.files import atomic_write_bytes

log = logging.getLogger(__name__)

#: Folder of a published quarter that holds its shared page assets.
ASSETS_DIR = "assets"
#: The name of a plotly.js asset: version, then the first 12 hex digits of its sha256.
_ASSET_RE = re.compile(r"^plotly-[0-9A-Za-z.+_-]{1,40}\.[0-9a-f]{12}\.min\.js$")
#: A page's reference to an asset (what :func:`plotly.io.to_html` writes for a ``.js`` path).
_REF_RE = re.compile(r'<script[^>]*\ssrc="((?:\.\./)+(?:[A-Za-z0-9_.-]+/)*plotly-[^"/]+\.min\.js)"')


@functools.cache
def _bundle() -> tuple[str, bytes]:
    """The installed plotly.js: its asset name and bytes (read once per process)."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    data = get_plotlyjs().encode("utf-8")
    version = re.sub(r"[^0-9A-Za-z.+_-]", "_", get_plotlyjs_version())
    return f"plotly-{version}.{hashlib.sha256(data).hexdigest()[:12]}.min.js", data


def plotly_asset_name() -> str:
    """The asset name of the installed plotly.js (``plotly-<version>.<sha256[:12]>.min.js``)."""
    return _bundle()[0]


def plotly_js_size() -> int:
    """Size in bytes of the installed plotly.js (what a page inlining it would carry)."""
    return len(_bundle()[1])


def is_asset_name(name: str) -> bool:
    """True for the name of a plotly.js asset (and nothing else: no path, no other file).

    >>> is_asset_name("plotly-4.1.1.0123456789ab.min.js"), is_asset_name("../plotly.min.js")
    (True, False)
    """
    return bool(_ASSET_RE.match(name))


def write_plotly_asset(assets_dir: Path) -> Path:
    """Write the installed plotly.js into ``assets_dir`` once; returns its path.

    A file already there under the name is kept when its size is right (the name is its
    content's hash; every write is atomic, so a file of the right size is the whole file);
    otherwise it is written again, atomically."""
    name, data = _bundle()
    path = Path(assets_dir) / name
    try:
        if path.stat().st_size == len(data):
            return path
    except OSError:
        pass
    return atomic_write_bytes(path, data)


def asset_src(page_dir: Path, assets_dir: Path) -> str:
    """The relative URL of the plotly.js asset seen from a page in ``page_dir`` (``/`` separators)."""
    rel = os.path.relpath(Path(assets_dir) / plotly_asset_name(), Path(page_dir))
    return Path(rel).as_posix()


def page_asset_refs(html: str) -> list[str]:
    """The relative plotly.js references of a page.

    >>> page_asset_refs('<script charset="utf-8" src="../assets/plotly-4.1.1.0123456789ab.min.js"></script>')
    ['../assets/plotly-4.1.1.0123456789ab.min.js']
    """
    return _REF_RE.findall(html)


def _link_or_copy(src: Path, dest: Path) -> None:
    """Put ``src`` at ``dest`` atomically: a hard link when the file system allows, else a copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.tmp"
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def keep_reachable(folder: Path, assets_dir: Path) -> list[Path]:
    """Make every plotly.js reference of the pages in ``folder`` resolve, from where ``folder`` is now.

    For each reference of each ``*.html`` page that points nowhere, the asset of that name in
    ``assets_dir`` is linked (or copied) where the reference points, provided that place is
    inside the quarter (``assets_dir``'s parent) and an ``assets`` folder. Nothing is ever
    deleted. Returns the files added.
    """
    quarter = Path(assets_dir).resolve().parent
    added: list[Path] = []
    for page in sorted(Path(folder).glob("*.html")):
        try:
            refs = page_asset_refs(page.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        for ref in refs:
            target = Path(os.path.normpath(page.parent.resolve() / ref))
            source = Path(assets_dir) / target.name
            if target.exists() or not is_asset_name(target.name) or not source.is_file():
                continue
            if target.parent.name != ASSETS_DIR or not target.is_relative_to(quarter):
                log.warning("%s refers to %s, outside the quarter's folders: not linked", page, ref)
                continue
            _link_or_copy(source, target)
            added.append(target)
    return added
