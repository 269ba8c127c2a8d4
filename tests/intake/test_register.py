"""The partner register (sheet Partners): old workbooks, what a row funds, dates, stage moves
against the stored register, and KPIs reconciled with the register, on hand-computed cases."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from factories import minimal_unit, sheet_rows, write_grid_xlsx

from rbm_utils.core.config import load_config
from rbm_utils.core.quarters import Quarter
from rbm_utils.core.schema import conform
from rbm_utils.intake.register import agrees, moved_back, register_figure
from rbm_utils.intake.validate import parse_source

CFG = load_config()
TODAY = dt.date(2026, 11, 28)

#: The register of the cases below (the minimal unit's in-kind row is row 2 of sheet Partners).
#: By hand: received in 2026-Q2 15,000 (row 2); in 2026-Q3 100,000 (row 3); secured in 2026-Q3
#: 100,000 + 50,000 (row 4, signed) = 150,000; received by the end of 2026-Q3 115,000.
EXTRA = [
    {
        "partner": "Donor government",
        "partner_type": "government",
        "result_id": "AFR-O1",
        "contribution_type": "cash",
        "stage": "received",
        "amount": 100000,
        "expected_date": "2026-07-31",
        "actual_date": "2026-08-10",
        "owner": "A. Diallo",
    },
    {
        "partner": "Development bank",
        "partner_type": "development_bank",
        "initiative": "AFR3",
        "contribution_type": "cash",
        "stage": "agreement_signed",
        "amount": 50000,
        "expected_date": "2026-12-15",
        "actual_date": "2026-09-01",
        "owner": "A. Diallo",
    },
    {
        "partner": "Operator",
        "partner_type": "private",
        "result_id": "AFR-O1",
        "stage": "prospect",
        "amount": 200000,
        "expected_date": "2027-01-31",
        "owner": "B. Mensah",
    },
    {
        "partner": "Foundation",
        "partner_type": "ngo",
        "result_id": "AFR-O1",
        "stage": "declined",
        "amount": 80000,
        "actual_date": "2026-06-30",
        "note": "Priorities moved to health.",
    },
]


def _frames(extra=EXTRA, kpi=None, actuals=()):
    """The minimal unit with ``extra`` register rows, a KPI measured from the register and its totals."""
    unit, frames = minimal_unit()
    frames["Partners"] = conform("Partners", pd.concat([frames["Partners"], pd.DataFrame(list(extra))]))
    if kpi is not None:
        row = {
            "kpi_id": "AFR-K5",
            "result_id": "AFR-O1",
            "name": "Resources mobilised",
            "measure": "currency",
            "direction": "increase",
            "aggregation": "sum",
            "baseline_value": 0,
            "baseline_period": "2025-Q4",
            "target_value": 500000,
            "target_period": "2026-Q4",
            "data_source": "Partner register",
            "responsible": "Head of unit",
            "measured_from": "register_received",
            **kpi,
        }
        frames["KPIs"] = conform("KPIs", pd.concat([frames["KPIs"], pd.DataFrame([row])]))
        rows = [{"kpi_id": "AFR-K5", "period": p, "value": v, "evidence": "register"} for p, v in actuals]
        frames["Actuals"] = conform("Actuals", pd.concat([frames["Actuals"], pd.DataFrame(rows)]))
    return unit, frames


def _parse(tmp_path, unit, frames, previous=None, drop_columns=()):
    grids = sheet_rows(unit, frames)
    if drop_columns:
        head = grids["Partners"][0]
        keep = [i for i, h in enumerate(head) if h not in drop_columns]
        grids["Partners"] = [[row[i] for i in keep] for row in grids["Partners"]]
    path = write_grid_xlsx(tmp_path / "AFR.xlsx", grids)
    return parse_source(path, CFG, today=TODAY, previous=previous)


def _codes(parsed, code):
    return [p for p in parsed.problems if p.code == code]


def test_the_register_of_the_cases_is_clean(tmp_path):
    parsed = _parse(tmp_path, *_frames())
    assert parsed.problems == [], parsed.problems_frame().to_string()
    assert parsed.frames["Partners"]["stage"].tolist() == [
        "received",
        "received",
        "agreement_signed",
        "prospect",
        "declined",
    ]


# ------------------------------------------------------------------------ an older workbook


def test_an_old_register_reads_with_one_warning_naming_its_rows(tmp_path):
    old = [
        {"partner": f"Partner {i}", "activity_id": "AFR-ACT1", "contribution_type": "cash", "amount": 1000.0 * i}
        for i in range(1, 4)
    ]
    unit, frames = minimal_unit()
    frames["Partners"] = conform("Partners", pd.DataFrame(old))
    new_columns = ("result_id", "initiative", "stage", "expected_date", "actual_date", "owner", "note")
    parsed = _parse(tmp_path, unit, frames, drop_columns=new_columns)
    assert parsed.ok
    (w,) = parsed.problems  # one warning for the three rows, nothing else
    assert (w.code, w.severity, w.sheet, w.row) == ("partner_stage_missing", "warning", "Partners", 2)
    assert "3 rows" in w.message and "rows 2, 3, 4" in w.message and "read as received" in w.message
    assert "no 'stage' column" in w.message
    assert parsed.frames["Partners"]["stage"].isna().all()  # the store keeps what was handed in
    assert parsed.frames["Partners"]["amount"].tolist() == [1000.0, 2000.0, 3000.0]


def test_a_blank_stage_in_a_new_register_is_one_warning_at_its_cell(tmp_path):
    rows = [dict(EXTRA[0], stage=None), dict(EXTRA[2], stage=None)]
    parsed = _parse(tmp_path, *_frames(rows))
    (w,) = _codes(parsed, "partner_stage_missing")
    assert (w.row, w.column) == (3, "G") and "2 rows" in w.message and "rows 3, 4" in w.message
    assert parsed.ok


# ------------------------------------------------------------------------ what a row funds, its dates


def test_a_row_funding_nothing_is_an_error(tmp_path):
    parsed = _parse(tmp_path, *_frames([{"partner": "Nobody", "stage": "prospect", "amount": 5000}]))
    (e,) = parsed.errors
    assert (e.code, e.row, e.column) == ("partner_funds_nothing", 3, "C")


def test_an_initiative_must_be_one_of_the_units_results(tmp_path):
    parsed = _parse(tmp_path, *_frames([dict(EXTRA[1], initiative="AFR9")]))
    (e,) = parsed.errors
    assert (e.code, e.row, e.column, e.value) == ("unknown_reference", 3, "D", "AFR9")
    assert "AFR3" in e.message


@pytest.mark.parametrize(
    "change, code, column",
    [
        ({"actual_date": None}, "partner_date_missing", "J"),  # received needs its date
        ({"stage": "agreement_signed", "actual_date": None}, "partner_date_missing", "J"),
        ({"actual_date": "2026-10-01"}, "partner_date_after_quarter", "J"),  # after 2026-09-30
        ({"stage": "pledged", "expected_date": "2026-08-01"}, "partner_date_order", "I"),  # before 2026-08-10
    ],
)
def test_dates_agree_with_the_stage_and_the_quarter(tmp_path, change, code, column):
    parsed = _parse(tmp_path, *_frames([dict(EXTRA[0], **change)]))
    (e,) = parsed.errors
    assert (e.code, e.row, e.column) == (code, 3, column)


def test_dates_that_agree_pass(tmp_path):
    rows = [
        dict(EXTRA[0], expected_date="2026-05-01"),  # received late: expected before received is fine
        dict(EXTRA[1], expected_date="2026-09-01"),  # signed, money expected the same day
        dict(EXTRA[2], stage="pledged", actual_date=None),  # a pledge may go undated
        dict(EXTRA[3], actual_date=None),  # a declined offer too
        dict(EXTRA[0], partner="Late", stage="received", actual_date="2026-09-30"),  # the quarter's last day
    ]
    parsed = _parse(tmp_path, *_frames(rows))
    assert parsed.problems == [], parsed.problems_frame().to_string()


# ------------------------------------------------------------------------ stage moves against the store


def _stored(stage, note=None):
    unit, frames = _frames()
    partners = frames["Partners"].copy()
    partners.loc[1, "stage"] = stage
    partners.loc[1, "note"] = note
    return {"Partners": partners}


@pytest.mark.parametrize(
    "old, new, warned",
    [
        ("agreement_signed", "pledged", True),
        ("declined", "prospect", True),
        ("received", "declined", True),
        ("pledged", "agreement_signed", False),
        ("prospect", "received", False),
        ("proposal_submitted", "declined", False),
        ("received", "received", False),
        (None, "pledged", False),  # a stored row without a stage (older workbook) is not compared
    ],
)
def test_a_stage_moving_back_without_a_note_is_a_warning_naming_both(tmp_path, old, new, warned):
    row = dict(EXTRA[0], stage=new, actual_date="2026-08-10", expected_date="2026-12-01", note=None)
    parsed = _parse(tmp_path, *_frames([row]), previous=_stored(old))
    got = _codes(parsed, "partner_stage_moved_back")
    assert parsed.ok
    assert len(got) == warned
    if warned:
        (w,) = got
        assert (w.severity, w.row, w.column) == ("warning", 3, "G")
        assert f"from {old} (as stored) to {new}" in w.message and "Donor government" in w.message


def test_a_move_back_explained_by_a_new_note_is_quiet(tmp_path):
    row = dict(EXTRA[0], stage="pledged", expected_date="2026-12-01", note="Agreement reopened: new ministry.")
    parsed = _parse(tmp_path, *_frames([row]), previous=_stored("agreement_signed", "Signed in Geneva."))
    assert _codes(parsed, "partner_stage_moved_back") == []
    stale = dict(row, note="Signed in Geneva.")  # the stored note explains nothing new
    parsed = _parse(tmp_path, *_frames([stale]), previous=_stored("agreement_signed", "Signed in Geneva."))
    assert len(_codes(parsed, "partner_stage_moved_back")) == 1


# ------------------------------------------------------------------------ reconciliation


def test_register_figures_by_hand():
    rows = [dict(r, _row=i) for i, r in enumerate(_frames()[1]["Partners"].to_dict("records"), start=2)]
    rows = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in rows]
    q2, q3 = Quarter(2026, 2), Quarter(2026, 3)
    assert register_figure(rows, "register_received", q2, cumulative=False) == (15000.0, 1)
    assert register_figure(rows, "register_received", q3, cumulative=False) == (100000.0, 1)
    assert register_figure(rows, "register_secured", q3, cumulative=False) == (150000.0, 2)
    assert register_figure(rows, "register_received", q3, cumulative=True) == (115000.0, 2)
    assert register_figure(rows, "register_secured", q2, cumulative=True) == (15000.0, 1)
    assert agrees(100_400, 100_000) and not agrees(100_600, 100_000)  # 0.5 % of the register's figure
    assert agrees(1, 0) and not agrees(2, 0)  # or 1 unit of currency
    assert moved_back("declined", "declined") is False


def test_the_reconciliation_warning_fires_on_a_planted_mismatch(tmp_path):
    parsed = _parse(tmp_path, *_frames(kpi={}, actuals=[("2026-Q2", 15000), ("2026-Q3", 1192000)]))
    assert parsed.ok
    (w,) = _codes(parsed, "register_mismatch")
    assert (w.severity, w.sheet, w.row, w.column) == ("warning", "Actuals", 9, "C")
    assert "reported 1,192,000; the register gives 100,000 received in 2026-Q3 (1 row of sheet Partners)" in w.message


def test_the_reconciliation_is_quiet_when_the_figures_agree(tmp_path):
    parsed = _parse(tmp_path, *_frames(kpi={}, actuals=[("2026-Q2", 15000), ("2026-Q3", 100400)]))
    assert parsed.problems == [], parsed.problems_frame().to_string()


@pytest.mark.parametrize(
    "kpi, right, wrong, said",
    [
        (
            {"measured_from": "register_secured"},
            150000,
            100000,
            "gives 150,000 secured (agreement signed or received) in 2026-Q3",
        ),
        ({"aggregation": "latest"}, 115000, 100000, "gives 115,000 received by the end of 2026-Q3"),
        ({"aggregation": "max", "measured_from": "register_secured"}, 165000, 150000, "gives 165,000 secured"),
    ],
)
def test_secured_and_cumulative_figures(tmp_path, kpi, right, wrong, said):
    parsed = _parse(tmp_path, *_frames(kpi=kpi, actuals=[("2026-Q3", right)]))
    assert _codes(parsed, "register_mismatch") == []
    parsed = _parse(tmp_path, *_frames(kpi=kpi, actuals=[("2026-Q3", wrong)]))
    (w,) = _codes(parsed, "register_mismatch")
    assert said in w.message


def test_breakdown_rows_and_kpis_not_measured_from_the_register_are_not_reconciled(tmp_path):
    unit, frames = _frames(kpi={"measured_from": None}, actuals=[("2026-Q3", 999)])
    parsed = _parse(tmp_path, unit, frames)
    assert _codes(parsed, "register_mismatch") == []
    unit, frames = _frames(kpi={}, actuals=[("2026-Q3", 100000)])
    part = {"kpi_id": "AFR-K5", "period": "2026-Q3", "value": 100000, "disaggregation": "type=cash", "evidence": "x"}
    frames["Actuals"] = conform("Actuals", pd.concat([frames["Actuals"], pd.DataFrame([part])]))
    assert _codes(_parse(tmp_path, unit, frames), "register_mismatch") == []


def test_two_tranches_of_one_partner_to_one_output_are_two_rows_by_their_reference(tmp_path):
    first = dict(EXTRA[0], amount=60000, actual_date="2026-07-10", reference="AFR-RM-2026-03")
    second = dict(EXTRA[0], amount=40000, actual_date="2026-08-10", reference="AFR-RM-2026-04")
    parsed = _parse(tmp_path, *_frames([first, second], kpi={}, actuals=[("2026-Q2", 15000), ("2026-Q3", 100000)]))
    assert parsed.problems == [], parsed.problems_frame().to_string()
    parsed = _parse(tmp_path, *_frames([first, dict(second, reference="AFR-RM-2026-03")]))
    (e,) = parsed.errors
    assert (e.code, e.row) == ("duplicate_key", 4)
