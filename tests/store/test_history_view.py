"""``rbm history``'s views: rows (not values) counted per submission, details on request, short hashes."""

from __future__ import annotations

import pandas as pd

from rbm_utils.store.history_view import HASH_CHARS, change_lines, row_counts, submission_lines


def _changes() -> pd.DataFrame:
    rows = []
    for field, new in (("kpi_id", '"K1"'), ("period", '"2026-Q4"'), ("value", "3.0"), ("disaggregation", '""')):
        rows.append((2, "Actuals", '["K1", "2026-Q4", ""]', field, None, new))  # one new row: four values
    rows += [
        (2, "KPIs", '["K1"]', "target_value", "10.0", "12.0"),  # changed
        (2, "Risks", '["R9"]', "risk_id", '"R9"', None),  # removed
        (2, "Risks", '["R9"]', "impact", "3", None),
        (3, "approval", '["2026-Q4"]', "approved_by", None, '"Amara Diallo"'),
        (3, "Milestones", '["K2", "2026-Q4"]', "target_value", "5.0", "6.0"),
    ]
    return pd.DataFrame(rows, columns=["submission_id", "sheet", "key", "field", "old", "new"])


def _subs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [2, 3],
            "quarter": ["2026-Q4", "2026-Q4"],
            "file_name": ["AFR_2026-Q4.xlsx", "AFR_2026-Q4b.xlsx"],
            "sha256": ["0123456789abcdef" * 4, "f" * 64],
            "submitted_by": ["Ann Officer", ""],
            "ingested_by": ["ann", "bo"],
            "ingested_at": ["2027-01-05T09:30:12Z", "2027-01-06T10:00:00Z"],
            "n_warnings": [2, 0],
            "n_changes": [7, 2],
        }
    )


def test_rows_are_counted_not_values():
    counts = row_counts(_changes()).set_index(["submission_id", "sheet"])
    assert counts.loc[(2, "Actuals")].tolist() == [1, 0, 0]  # four changed values, one row added
    assert counts.loc[(2, "KPIs")].tolist() == [0, 1, 0]
    assert counts.loc[(2, "Risks")].tolist() == [0, 0, 1]


def test_one_line_per_submission_with_who_when_file_and_counts():
    lines = submission_lines(_subs(), _changes())
    assert lines.columns.tolist() == ["id", "quarter", "received", "by", "file", "warnings", "what changed"]
    first, second = lines.to_dict("records")
    assert first["what changed"] == "Actuals +1; KPIs ~1; Risks -1"
    assert first["file"] == "AFR_2026-Q4.xlsx 01234567" and len(first["file"].split()[1]) == HASH_CHARS
    assert first["received"] == "2027-01-05 09:30" and first["by"] == "Ann Officer"
    assert second["by"] == "bo"  # no officer's name on the workbook: who ingested it
    assert second["what changed"] == "Milestones ~1; approved +1"


def test_details_of_one_submission_or_one_kpi():
    sub = change_lines(_changes(), submission=3)
    assert sub["field"].tolist() == ["approved_by", "target_value"]
    assert sub["new"].tolist() == ["Amara Diallo", "6.0"]  # JSON text shown plainly
    kpi = change_lines(_changes(), kpi="K1")
    assert set(kpi["sheet"]) == {"Actuals", "KPIs"}
    assert "disaggregation" not in kpi["field"].tolist()  # an empty cell of a new row is no change
    assert kpi.loc[kpi["sheet"] == "Actuals", "row"].iloc[0] == "K1 / 2026-Q4"
    assert change_lines(_changes(), submission=3, kpi="K1").empty
