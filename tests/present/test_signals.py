"""The red-flag share in words (rbm_utils/present/signals), on the hand-computed register of
tests/analytics/test_risks.py."""

from __future__ import annotations

import pandas as pd

from rbm_utils.analytics.risks import red_flags, risk_register
from rbm_utils.core import schema
from rbm_utils.present.signals import red_flag_summary, red_flag_summary_html


def _register() -> pd.DataFrame:
    rows = [
        {"risk_id": "CRIT", "likelihood": 4, "impact": 5, "mitigation": "Plan B", "review_on": "2026-08-01"},
        {"risk_id": "BARE", "likelihood": 5, "impact": 3, "review_on": "2027-01-01"},
        {"risk_id": "LOW", "likelihood": 1, "impact": 2, "mitigation": "Plan B", "review_on": "2027-01-01"},
        {"risk_id": "MED", "likelihood": 2, "impact": 5, "mitigation": "Plan B", "review_on": "2027-01-01"},
        {"risk_id": "GONE", "likelihood": 5, "impact": 5, "status": "closed"},
    ]
    base = {"unit_code": "AFR", "category": "Operational", "owner": "Ana", "status": "open", "title": "<b>x</b>"}
    risks = schema.conform("Risks", pd.DataFrame([{**base, **r} for r in rows]), with_unit=True)
    return risk_register({"Risks": risks}, "2026-Q3")


def test_share_and_every_rule_that_fired():
    reg = _register()
    flags = red_flags(reg)
    # 4 open risks (GONE is closed); CRIT is critical and 60 days late, BARE has no mitigation
    assert red_flag_summary(reg, flags) == (
        "2 of 4 open risks are red-flagged (50 %). Rules that fired: critical 1, no mitigation 1, review overdue 1."
    )


def test_no_red_flag_and_no_open_risk():
    reg = _register()
    assert red_flag_summary(reg, red_flags(reg).iloc[:0]) == "0 of 4 open risks are red-flagged (0 %)."
    assert red_flag_summary(reg.iloc[:0], None) == "No open risk."
    one = reg[reg["risk_id"] == "BARE"]
    assert red_flag_summary(one, red_flags(one)).startswith("1 of 1 open risk is red-flagged (100 %).")


def test_the_html_is_one_escaped_paragraph():
    reg = _register()
    assert (
        red_flag_summary_html(reg, red_flags(reg))
        == f'<p class="rbm-signal">{red_flag_summary(reg, red_flags(reg))}</p>'
    )
