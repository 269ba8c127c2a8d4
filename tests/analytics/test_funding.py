"""Funding framework: required, secured, received, spent, gap and weighted pipeline per output,
initiative, unit and the bureau, on a hand-computed register (docs/rules.md, "Funding framework")."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from pydantic import ValidationError

from rbm_utils.analytics.funding import FUNDING_COLUMNS, funding_framework
from rbm_utils.core import schema
from rbm_utils.core.config import Funding
from rbm_utils.core.settings import Settings

Q = "2026-Q3"


def _state() -> dict[str, pd.DataFrame]:
    results = pd.DataFrame(
        [
            ("AFR", "O1", "output", "CIRTs", "AFR3"),
            ("AFR", "O2", "output", "Drills", "AFR3"),
            ("AFR", "O3", "output", "Policy", None),
            ("CYB", "C1", "output", "Toolkit", None),
        ],
        columns=["unit_code", "result_id", "level", "title", "initiative"],
    )
    budget = pd.DataFrame(
        [
            ("AFR", "O1", "Regular budget", 2026, 600.0),
            ("AFR", "O1", "Donor", 2026, 400.0),
            ("AFR", "O1", "Regular budget", 2025, 999.0),  # another year
            ("AFR", "O2", "regular budget ", 2026, 200.0),  # matched ignoring case and spaces
            ("AFR", "O3", "ICT Development Fund", 2026, 300.0),  # not a regular source by default
            ("CYB", "C1", "Regular budget", 2026, 100.0),
        ],
        columns=["unit_code", "result_id", "funding_source", "year", "amount"],
    )
    spent = pd.DataFrame(
        [
            ("AFR", "O1", "2026-Q1", 100.0),
            ("AFR", "O1", "2026-Q3", 50.0),
            ("AFR", "O1", "2026-Q4", 70.0),  # after the quarter
            ("AFR", "O1", "2025-Q4", 80.0),  # last year
            ("AFR", "O2", "2026-Q2", 30.0),
        ],
        columns=["unit_code", "result_id", "period", "amount"],
    ).assign(funding_source="Regular budget")
    activities = pd.DataFrame([("AFR", "A1", "O2")], columns=["unit_code", "activity_id", "result_id"])
    partners = pd.DataFrame(
        [
            ("AFR", "EU", "O1", None, None, "agreement_signed", 100.0, "2026-06-30", None),
            ("AFR", "GSMA", None, "A1", None, "pledged", 200.0, "2026-10-01", None),  # via A1: O2
            ("AFR", "JICA", None, None, "AFR3", "received", 50.0, None, "2026-02-01"),  # the initiative itself
            ("AFR", "Bank", "O3", None, None, "prospect", 1000.0, "2027-03-01", None),  # next year's
            ("AFR", "Old", None, "A1", None, None, 30.0, None, None),  # old format: received, undated
            ("AFR", "Nope", "O1", None, None, "declined", 500.0, "2026-04-01", None),
            ("AFR", "Misc", None, None, None, "proposal_submitted", 100.0, "2026-09-01", None),  # the unit's
        ],
        columns=[
            "unit_code",
            "partner",
            "result_id",
            "activity_id",
            "initiative",
            "stage",
            "amount",
            "expected_date",
            "actual_date",
        ],
    )
    frames = {
        "Results": results,
        "Budget": budget,
        "Expenditure": spent,
        "Activities": activities,
        "Partners": partners,
    }
    return {k: schema.conform(k, v, with_unit=True) for k, v in frames.items()}


FIGURES = ["required", "secured", "received", "spent", "gap", "pipeline", "weighted_pipeline", "gap_after_pipeline"]


def _row(f: pd.DataFrame, level: str, unit: str, key: str = "") -> list[float]:
    col = {"output": "result_id", "initiative": "initiative"}.get(level)
    sel = (f["level"] == level) & (f["unit_code"] == unit)
    if col:
        sel &= f[col] == key
    assert sel.sum() == 1, (level, unit, key)
    return [float(v) for v in f.loc[sel, FIGURES].iloc[0]]


def test_outputs_by_hand():
    f = funding_framework(_state(), Q)
    assert list(f.columns) == FUNDING_COLUMNS
    # O1: 600 + 400 budget; secured = 600 regular + 100 signed (declined 500 ignored); spent Q1 + Q3
    assert _row(f, "output", "AFR", "O1") == [1000, 700, 600, 150, 300, 0, 0, 300]
    # O2: the old-format row (received) and the pledge reach O2 through activity A1; 200 x 0.7
    assert _row(f, "output", "AFR", "O2") == [200, 230, 230, 30, 0, 200, 140, 0]
    # O3: the Development Fund line is required, not secured; the 2027 prospect is next year's
    assert _row(f, "output", "AFR", "O3") == [300, 0, 0, 0, 300, 0, 0, 300]
    o1 = f[(f["level"] == "output") & (f["result_id"] == "O1")].iloc[0]
    assert (o1["initiative"], o1["title"], o1["quarter"]) == ("AFR3", "CIRTs", Q)
    assert math.isclose(o1["secured_share"], 0.7)


def test_initiative_unit_and_bureau_count_each_line_once():
    f = funding_framework(_state(), Q)
    # AFR3 = O1 + O2 + JICA's 50 for the initiative itself (not spread over its outputs)
    assert _row(f, "initiative", "AFR", "AFR3") == [1200, 980, 880, 180, 220, 200, 140, 80]
    # the unit: every line once, including Misc's proposal for the unit as a whole (100 x 0.3)
    assert _row(f, "unit", "AFR") == [1500, 980, 880, 180, 520, 300, 170, 350]
    assert _row(f, "unit", "CYB") == [100, 100, 100, 0, 0, 0, 0, 0]
    assert _row(f, "bureau", "bureau") == [1600, 1080, 980, 180, 520, 300, 170, 350]
    # the output rows do not hold the initiative's or the unit's own partner money
    outs = f[(f["level"] == "output") & (f["unit_code"] == "AFR")]
    assert outs["secured"].sum() == 930 and outs["pipeline"].sum() == 200


def test_settings_change_sources_and_weights():
    funding = Funding(
        pipeline_weights={"prospect": 0.1, "proposal_submitted": 0.3, "pledged": 0.5},
        regular_budget_sources=("Regular budget", "ict development FUND"),
    )
    f = funding_framework(_state(), Q, funding)
    assert _row(f, "output", "AFR", "O3") == [300, 300, 300, 0, 0, 0, 0, 0]
    assert _row(f, "output", "AFR", "O2")[6] == 100  # 200 x 0.5


def test_empty_and_old_format_states():
    assert funding_framework({}, Q).empty
    assert list(funding_framework({}, Q).columns) == FUNDING_COLUMNS
    # only old-format partner rows (stage blank, activity-linked, undated) and no budget
    st = _state()
    old = {k: st[k] for k in ("Results", "Activities")}
    old["Partners"] = schema.conform(
        "Partners",
        pd.DataFrame({"unit_code": ["AFR"], "partner": ["Old"], "activity_id": ["A1"], "amount": [30.0]}),
        with_unit=True,
    )
    f = funding_framework(old, Q)
    assert _row(f, "output", "AFR", "O2") == [0, 30, 30, 0, 0, 0, 0, 0]
    assert pd.isna(f.loc[f["level"] == "output", "secured_share"].iloc[0])  # nothing required


@pytest.mark.parametrize("weights", [{"pledged": 1.2}, {"prospect": -0.1}, {"signed": 0.5}])
def test_pipeline_weights_are_checked(weights):
    with pytest.raises(ValidationError):
        Settings.model_validate(
            {"units": [{"code": "AFR", "type": "region"}], "funding": {"pipeline_weights": weights}}
        )


def test_the_workbench_settings_give_the_weights_and_sources():
    from rbm_utils.core.config import load_config

    f = load_config().funding
    assert f.pipeline_weights == {"prospect": 0.1, "proposal_submitted": 0.3, "pledged": 0.7}
    assert "Regular budget" in f.regular_budget_sources
