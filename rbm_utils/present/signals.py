"""Signals a manager can act on, in words: how many open risks are red-flagged and by which rules
(docs/rules.md, "Red flags"). Used by the overview notebook and the bureau overview dashboard.

Example:
    >>> import pandas as pd
    >>> risks = pd.DataFrame({"is_open": [True, True, True, True, False]})
    >>> flags = pd.DataFrame({"rules": ["critical", "worsening, review_overdue"]})
    >>> red_flag_summary(risks, flags)
    '2 of 4 open risks are red-flagged (50 %). Rules that fired: critical 1, worsening 1, review overdue 1.'
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from rbm_utils.analytics.risks import red_flag_rules, red_flag_share
from rbm_utils.core.text import escape_text, untypeset

#: Words of each escalation rule (:data:`rbm_utils.analytics.risks.ESCALATION_RULES`).
RULE_WORDS: dict[str, str] = {
    "critical": "critical",
    "worsening": "worsening",
    "off_track_result": "result off track",
    "no_mitigation": "no mitigation",
    "review_overdue": "review overdue",
}


def red_flag_summary(risks: pd.DataFrame | None, flags: pd.DataFrame | None) -> str:
    """ "N of M open risks are red-flagged (P %)" and how many red flags each rule fired for
    (a risk that meets several rules counts under each). Plain text, unescaped.

    >>> red_flag_summary(pd.DataFrame({"is_open": [False]}), None)
    'No open risk.'
    """
    reg = risks if risks is not None else pd.DataFrame({"is_open": pd.Series(dtype=bool)})
    fl = flags if flags is not None else pd.DataFrame()
    share = red_flag_share(reg, fl) if len(reg) else float("nan")
    if math.isnan(share):
        return "No open risk."
    n_open = int(reg["is_open"].astype(bool).sum())
    text = f"{len(fl)} of {n_open} open risk{'s' if n_open != 1 else ''} {'are' if len(fl) != 1 else 'is'} "
    text += f"red-flagged ({share * 100:.0f} %)."
    counts = red_flag_rules(fl)
    if counts:
        text += " Rules that fired: " + ", ".join(f"{RULE_WORDS.get(k, k)} {n}" for k, n in counts.items()) + "."
    return text


def red_flag_summary_html(risks: pd.DataFrame | None, flags: pd.DataFrame | None) -> str:
    """:func:`red_flag_summary` as an escaped paragraph.

    >>> red_flag_summary_html(None, None)
    '<p class="rbm-signal">No open risk.</p>'
    """
    return f'<p class="rbm-signal">{escape_text(red_flag_summary(risks, flags))}</p>'


def red_flags(results: Mapping[str, pd.DataFrame]):
    """The red-flag share of a loaded review's results, for a notebook cell."""
    from IPython.display import HTML  # IPython display: only where a notebook shows it

    return HTML(untypeset(red_flag_summary_html(results.get("risks"), results.get("red_flags"))))
