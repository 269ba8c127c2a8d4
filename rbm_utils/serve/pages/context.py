"""A page's request: the outputs folder, the settings and the query string, and the parameters
of that query string checked against what is published.

Example:
    >>> ctx = page_context(Path("/nonexistent"), None, "quarter=2026-Q3", {})
    >>> page_parameters(ctx, ("unit",))
    ({}, 'The link asked for a quarter or unit that is not published; showing what is.')
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rbm_utils.core.config import Config, load_config
from rbm_utils.serve import data
from rbm_utils.serve.params import query_names, request_parameters

#: What a page may be asked for besides the quarter: a unit of the review, a unit of the bureau
#: (any unit of the settings: the overview keeps those in its tables) or a joint pair.
PARAMETER_KINDS = ("unit", "bureau_unit", "pair")
UNPUBLISHED_NOTICE = "The link asked for a quarter or unit that is not published; showing what is."


@dataclass(frozen=True)
class PageContext:
    """Where a page reads (``outputs``), with which settings, and what the browser asked (``query``)."""

    outputs: Path
    config: Config
    query: str
    env: Mapping[str, str]


def page_context(
    outputs: Path | None = None,
    config: Config | None = None,
    query_string: str | None = None,
    env: Mapping[str, str] | None = None,
) -> PageContext:
    """The context of a page: arguments given (tests), else ``$RBM_OUTPUTS``, the settings file
    and ``$QUERY_STRING`` (Voila sets it per page view)."""
    env = os.environ if env is None else env
    return PageContext(
        outputs=Path(outputs) if outputs is not None else data.outputs_dir(env),
        config=config or load_config(),
        query=env.get("QUERY_STRING", "") if query_string is None else query_string,
        env=env,
    )


def page_parameters(ctx: PageContext, names: Sequence[str] = ()) -> tuple[dict[str, str], str]:
    """(parameters, notice): ``quarter`` (asked and published, else ``$RBM_QUARTER`` or the newest)
    and each of ``names`` (:data:`PARAMETER_KINDS`) checked against its published list; the notice
    says when the link asked for something that is not published."""
    out, cfg, qs = ctx.outputs, ctx.config, ctx.query
    allowed: dict[str, Sequence[str]] = {"quarter": data.published_quarters(out)}
    q = request_parameters(qs, allowed).get("quarter") or data.default_quarter(out, ctx.env)
    if "unit" in names:
        allowed["unit"] = data.published_units(out, q, cfg) if q else []
    if "bureau_unit" in names:
        allowed["unit"] = list(cfg.units)
    if "pair" in names:
        allowed["pair"] = data.published_joint(out, q, cfg) if q else []
    params = request_parameters(qs, allowed)
    notice = UNPUBLISHED_NOTICE if (query_names(qs) & set(allowed)) - set(params) else ""
    if q and "quarter" not in params:
        params["quarter"] = q
    return params, notice
