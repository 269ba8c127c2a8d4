"""The one gate for what a browser sends: query-string parameters and widget values are checked
against lists built from what exists, and links point only at our own pages.

:func:`pick` returns the element of the list (never the value it was given), so a path is only
ever built from a listed folder name, never from what a browser sent. Values that do not match
are ignored (logged). No query, path or expression is built from a value: values are compared.

Example:
    >>> pick("AFR", ["AFR", "CYB"]), pick("../etc", ["AFR", "CYB"])
    ('AFR', None)
    >>> request_parameters("unit=AFR&quarter=2026-Q3&x=1", {"unit": ["AFR"], "quarter": ["2026-Q3"]})
    {'unit': 'AFR', 'quarter': '2026-Q3'}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode

log = logging.getLogger(__name__)

#: The value of a filter that keeps everything.
ALL = "__all__"
#: Query-string limits: longer strings are ignored whole.
MAX_QUERY_CHARS = 2000
MAX_QUERY_FIELDS = 20
#: The dashboard notebooks a page may link to.
PAGES: tuple[str, ...] = ("index.ipynb", "review.ipynb", "overview.ipynb", "joint.ipynb")


def pick(value: Any, allowed: Sequence[str]) -> str | None:
    """The element of ``allowed`` equal to ``value``, else ``None`` (never ``value`` itself).

    >>> pick("CYB", ("AFR", "CYB")), pick(None, ("AFR",)), pick(["AFR"], ("AFR",))
    ('CYB', None, None)
    """
    if not isinstance(value, str):
        return None
    for a in allowed:
        if a == value:
            return a
    return None


def query_names(query_string: str | None) -> set[str]:
    """Names of the parameters a query string holds (none when it is oversized).

    >>> sorted(query_names("unit=AFR&quarter=x"))
    ['quarter', 'unit']
    """
    qs = query_string or ""
    return set(parse_qs(qs)) if len(qs) <= MAX_QUERY_CHARS else set()


def request_parameters(query_string: str | None, allowed: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Parameters of a page's query string that are allowed, each checked with :func:`pick`.

    Unknown names, repeated names with different values, and values not in the list are
    dropped (logged at INFO).

    >>> request_parameters("unit=CYB&unit=AFR", {"unit": ["AFR", "CYB"]})
    {}
    >>> request_parameters("quarter=2026-Q3&unit=%3Cscript%3E", {"quarter": ["2026-Q3"], "unit": ["AFR"]})
    {'quarter': '2026-Q3'}
    """
    qs = query_string or ""
    if len(qs) > MAX_QUERY_CHARS:
        log.info("query string of %d characters ignored", len(qs))
        return {}
    try:
        parsed = parse_qs(qs, keep_blank_values=False, strict_parsing=False, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        log.info("query string ignored: too many fields")
        return {}
    out: dict[str, str] = {}
    for name, options in allowed.items():
        values = set(parsed.get(name, []))
        if len(values) != 1:
            continue
        chosen = pick(values.pop(), options)
        if chosen is None:
            log.info("query parameter %s ignored: not one of the published values", name)
        else:
            out[name] = chosen
    return out


def page_link(page: str, **params: str) -> str:
    """A relative link to another dashboard notebook (the page name is one of :data:`PAGES`).

    >>> page_link("review.ipynb", quarter="2026-Q3", unit="AFR")
    'review.ipynb?quarter=2026-Q3&unit=AFR'
    """
    if page not in PAGES:
        raise ValueError(f"not a dashboard page: {page!r}")
    return page + ("?" + urlencode(params) if params else "")
