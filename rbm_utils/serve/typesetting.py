"""MathJax off on the dashboards: workbook text is never typeset.

Voila's page (JupyterLab's rendering) always registers JupyterLab's MathJax plugin, which typesets
every HTML output and widget: a KPI name ``$\\href{...}{click}$`` became a live link and
``$$\\rule{..}{..}$$`` drew a black box. Voila offers no setting to turn it off (its page registers
the plugin unconditionally). The plugin is one small webpack chunk of Voila's bundle
(``<n>.voila.js``, the one that defines ``@jupyterlab/mathjax-extension:plugin``); the server
serves, in its place, a chunk that defines the same plugin with a typesetter that leaves the page
as it is (:func:`no_typesetting_chunk`). MathJax itself (a dozen further chunks the plugin would
load on its first use) is then never requested.

:func:`install` writes that chunk into a folder put first among Voila's static folders (Voila looks
a file up in its static folders in order). If the installed Voila's chunk does not have the
expected shape, :class:`TypesettingError` stops the server: the dashboards are not served with
MathJax on.

Example:
    >>> original = ('"use strict";(self.webpackChunkX=self.webpackChunkX||[]).push([[3307],{85688:(e,t,a)=>{'
    ...     'a.r(t);var n,i=a(68211),s=a(40488);const r={id:"@jupyterlab/mathjax-extension:plugin",'
    ...     'provides:s.ILatexTypesetter,activate:e=>1,autoStart:!0}}}]);')
    >>> chunk = no_typesetting_chunk(original)
    >>> "push([[3307],{85688:" in chunk, "a(40488)" in chunk, "68211" in chunk, "async typeset(e){}" in chunk
    (True, True, False, True)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

PLUGIN_ID = "@jupyterlab/mathjax-extension:plugin"

_HEAD = re.compile(r"\(self\.(?P<var>[\w$]+)=self\.(?P=var)\|\|\[\]\)\.push\(\[\[(?P<chunk>\d+)\],\{(?P<module>\d+):")
_ARGS = re.compile(r"\{\d+:\((?P<m>\w+),(?P<e>\w+),(?P<r>\w+)\)=>\{")
_PROVIDES = re.compile(r"provides:(?P<v>[\w$]+)\.ILatexTypesetter")


class TypesettingError(RuntimeError):
    """The installed Voila's MathJax plugin cannot be replaced: its chunk is missing or changed shape."""


def no_typesetting_chunk(original: str) -> str:
    """The webpack chunk that replaces ``original`` (the chunk defining :data:`PLUGIN_ID`): same chunk
    and module ids, the same plugin id providing the same ``ILatexTypesetter`` token, and a
    typesetter whose ``typeset`` does nothing. Raises :class:`TypesettingError` if ``original``
    does not have the expected shape."""
    head, args, provides = _HEAD.search(original), _ARGS.search(original), _PROVIDES.search(original)
    if PLUGIN_ID not in original or not head or not args or not provides:
        raise TypesettingError(f"the chunk defining {PLUGIN_ID} has an unexpected shape")
    req = args.group("r")
    token = re.search(rf"[,\s]{re.escape(provides.group('v'))}={re.escape(req)}\((\d+)\)", original)
    if not token:
        raise TypesettingError(f"the chunk defining {PLUGIN_ID}: no module for the ILatexTypesetter token")
    var, chunk, module = head.group("var"), head.group("chunk"), head.group("module")
    return (
        f'"use strict";(self.{var}=self.{var}||[]).push([[{chunk}],{{{module}:(e,t,a)=>{{'
        f"a.r(t);var s=a({token.group(1)});"
        "class o{async typeset(e){}async mathDocument(){throw new Error('typesetting is off')}}"
        f'const r={{id:"{PLUGIN_ID}",description:"Typesetting off: workbook text is shown as written.",'
        "provides:s.ILatexTypesetter,activate:()=>new o,autoStart:!0};"
        "a.d(t,{MathJaxTypesetter:()=>o,default:()=>r})}}]);\n"
    )


def find_chunk(static_dirs: Iterable[str | Path]) -> Path:
    """The chunk file of Voila's bundle that defines :data:`PLUGIN_ID` (the first folder that has one)."""
    for d in static_dirs:
        folder = Path(d)
        if not folder.is_dir():
            continue
        found = [p for p in sorted(folder.glob("*.js")) if PLUGIN_ID in p.read_text(encoding="utf-8", errors="replace")]
        if len(found) > 1:
            raise TypesettingError(f"{PLUGIN_ID} is defined in several files: {[p.name for p in found]}")
        if found:
            return found[0]
    raise TypesettingError(f"no file of Voila's bundle defines {PLUGIN_ID}")


def install(static_dirs: Iterable[str | Path], dest: Path) -> Path:
    """Write the replacing chunk into ``dest`` (under the original's name) and return its path;
    ``dest`` must come first among the static folders Voila serves."""
    original = find_chunk(static_dirs)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / original.name
    target.write_text(no_typesetting_chunk(original.read_text(encoding="utf-8")), encoding="utf-8")
    return target
