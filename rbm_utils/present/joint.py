"""What a joint review shows of a cluster's money and people in a region, beside its total.

The joint tables ``money`` (by output and basis) and ``money_summary`` (the region in all and the
cluster's total) come from :func:`rbm_utils.analytics.bureau.joint_view`; here their basis and
shares become words for the joint review notebook and the joint dashboard page alike.

Example:
    >>> frame = pd.DataFrame({"scope": ["in AFR"], "basis": ["activities"], "share_of_spending": [0.25]})
    >>> in_words(frame).loc[0, "share_of_spending"], in_words(frame).loc[0, "basis"].startswith("shared by")
    ('25%', True)
"""

from __future__ import annotations

import pandas as pd

from rbm_utils.core.text import escape_text, fmt_share, untypeset
from rbm_utils.present import columns
from rbm_utils.present.reports import table_html

#: How money came to the region, in words.
BASIS_WORDS: dict[str, str] = {
    "lines": "budget and expenditure lines of the region",
    "activities": "shared by the output's activities in the region",
    "unattributed": "not attributed to a region",
    "all": "in all",
}
#: Column headings of the money tables.
MONEY_LABELS: dict[str, str] = {
    "result_id": "output",
    "basis": "how it is attributed",
    "share": "share of the output's activities",
    "budget_year": "budget this year",
    "spent_year": "spent this year",
    "spent_cumulative": "spent since the start",
    "staff_months_planned_year": "staff months planned this year",
    "staff_months_used_year": "staff months used this year",
    "share_of_spending": "share of the cluster's spending this year",
}
#: What the money section says when its tables were not published for the quarter.
MONEY_NOT_PUBLISHED = "The cluster's money by region was not published for this quarter; run rbm review."


def in_words(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a joint money table with the basis in words and the shares as percents."""
    out = frame.copy()
    if "basis" in out.columns:
        out["basis"] = out["basis"].map(lambda b: BASIS_WORDS.get(str(b), str(b)))
    for c in ("share", "share_of_spending"):
        if c in out.columns:
            out[c] = out[c].map(fmt_share).astype(object)
    return out


def money_html(joint: dict[str, pd.DataFrame], region: str) -> str:
    """The cluster's money and staff months in ``region`` beside its total, then by output."""
    summary, detail = joint.get("money_summary"), joint.get("money")
    if summary is None or detail is None or "basis" not in detail.columns:
        return f'<p class="rbm-empty">{escape_text(MONEY_NOT_PUBLISHED)}</p>'
    return table_html(
        in_words(summary), columns.JOINT_MONEY_SUMMARY, MONEY_LABELS, empty="No money recorded."
    ) + table_html(
        in_words(detail),
        columns.JOINT_MONEY,
        MONEY_LABELS,
        empty=f"No money of the cluster is attributed to {region}.",
    )


def money(joint: dict[str, pd.DataFrame], region: str):
    """Display-ready :func:`money_html` (the joint review notebook)."""
    from IPython.display import HTML

    return HTML(untypeset(money_html(joint, region)))
