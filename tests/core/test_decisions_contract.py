"""The Decisions sheet of the workbook contract and the codes of the review loop."""

from __future__ import annotations

from typing import get_args

import pandas as pd

from rbm_utils.core import codes, schema
from rbm_utils.core.errors import CODES, ERROR, WARNING


def test_decisions_sheet_is_an_optional_table_keyed_by_decision_id():
    sh = schema.sheet("Decisions")
    assert sh.kind == "table" and not sh.required and sh.key == ("decision_id",) and sh.periodic is None
    assert sh in schema.DATA_SHEETS and sh.table_name == "sheet_decisions"
    assert schema.sheet_names()[-1] == "Decisions"  # added last: earlier sheets keep their order


def test_decisions_columns_types_and_codes():
    sh = schema.sheet("Decisions")
    got = [(c.name, c.type, c.required) for c in sh.columns]
    assert got == [
        ("decision_id", "id", True),
        ("meeting_quarter", "period", True),
        ("concerns", "id", True),
        ("concerns_kind", "code", True),
        ("other_unit", "id", False),
        ("decision", "text", True),
        ("kind", "code", True),
        ("owner", "text", True),
        ("due_quarter", "period", True),
        ("status", "code", True),
        ("follow_up", "text", False),
    ]
    assert sh.column("concerns_kind").codes == codes.DECISION_TARGETS
    assert sh.column("kind").codes == codes.DECISION_KINDS
    assert sh.column("status").codes == codes.DECISION_STATUSES
    assert all(c.note for c in sh.columns)
    assert sh.column("decision_id").note == "Unique id of the decision, e.g. AFR-D7."


def test_code_tuples_follow_their_literal_types():
    assert codes.DECISION_TARGETS == ("kpi", "result", "risk", "assumption", "budget", "activity", "initiative")
    assert codes.DECISION_KINDS == get_args(codes.DecisionKind) and len(codes.DECISION_KINDS) == 11
    assert codes.DECISION_KINDS[:2] == ("adjust_target", "reallocate_budget")
    assert codes.DECISION_STATUSES == ("open", "in_progress", "done", "dropped")
    assert set(codes.DECISION_OPEN_STATUSES) == {"open", "in_progress"}
    assert codes.APPROVAL_STATES == ("draft", "approved", "pending") == get_args(codes.ApprovalState)
    assert codes.AUTHORITY_LEVELS == ("unit", "bureau") == get_args(codes.AuthorityLevel)


def test_decision_and_authority_problem_codes():
    for code in (
        "decision_unknown_concern",
        "decision_due_before_meeting",
        "decision_meeting_after_report",
        "decision_closed_without_note",
        "decision_unknown_unit",
    ):
        assert CODES[code][0] == ERROR and CODES[code][1].endswith(".")
    assert CODES["change_without_decision"][0] == WARNING
    assert CODES["change_needs_bureau"][0] == WARNING and "pending" in CODES["change_needs_bureau"][1]


def test_empty_and_conformed_decisions_frames():
    empty = schema.empty_frame("Decisions", with_unit=True)
    assert list(empty.columns) == ["unit_code", *schema.sheet("Decisions").column_names]
    got = schema.conform("Decisions", pd.DataFrame({"decision_id": ["D1"], "status": ["open"]}))
    assert got.loc[0, "follow_up"] is None and got["due_quarter"].dtype == object
