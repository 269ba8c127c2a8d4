"""Reading another organisation's IATI file: the Standard's own example, what real files do,
and hostile XML refused with one sentence."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from rbm_utils.intake.iati import COLUMNS, IatiFileError, read_iati
from rbm_utils.intake.iati_rules import ActivityFacts, activity_problems, row_rule_warnings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "iati"
EXAMPLE = FIXTURES / "activity-standard-example-annotated.xml"


def _file(*activities: str, generated: str = "2026-10-05T00:00:00Z") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<iati-activities version="2.03" generated-datetime="{generated}">'
        + "".join(activities)
        + "</iati-activities>"
    ).encode()


def _activity(results: str, ident: str = "XM-9-P1", updated: str = "") -> str:
    upd = f' last-updated-datetime="{updated}"' if updated else ""
    return (
        f"<iati-activity{upd}><iati-identifier>{ident}</iati-identifier>"
        '<reporting-org ref="XM-9" type="40"><narrative>Other Org</narrative></reporting-org>'
        "<title><narrative>Connect schools</narrative></title>" + results + "</iati-activity>"
    )


def _period(start: str, end: str, target: str | None = None, actual: str | None = None) -> str:
    t = f'<target value="{target}"/>' if target is not None else ""
    a = f'<actual value="{actual}"/>' if actual is not None else ""
    return f'<period><period-start iso-date="{start}"/><period-end iso-date="{end}"/>{t}{a}</period>'


# ----------------------------------------------------------------------------- the Standard's example


def test_the_iati_standard_example_imports():
    read = read_iati(EXAMPLE, theme="broadband")
    t = read.table
    assert list(t.columns) == list(COLUMNS)
    assert len(t) == 1
    row = t.iloc[0]
    assert row["source_org"] == "Organisation name" and row["activity_id"] == "AA-AAA-123456789-ABC123"
    assert row["result_type"] == "output" and row["indicator"] == "Indicator title"
    assert row["measure"] == "unit" and bool(row["ascending"]) is True
    assert (row["baseline_year"], row["baseline_value"]) == (2012, 10.0)
    assert (row["period_start"], row["period_end"]) == ("2013-01-01", "2013-03-31")
    assert (row["target"], row["actual"]) == (10.0, 11.0)
    assert row["dimension"] == "age=adult; sex=female"
    assert row["theme"] == "broadband" and row["warnings"] == ""
    assert read.activities[0].reporting_date == dt.date(2014, 9, 10)


def test_several_indicators_annual_periods_and_missing_baselines():
    results = (
        '<result type="2"><title><narrative>Schools online</narrative></title>'
        '<indicator measure="2" ascending="1"><title><narrative>Share of schools online</narrative></title>'
        + _period("2024-01-01", "2024-12-31", "30", "28")
        + _period("2025-01-01", "2025-12-31", "40", "41")
        + "</indicator>"
        '<indicator measure="1"><title><narrative>Teachers trained</narrative></title>'
        '<baseline year="2023" value="100"/>' + _period("2025-01-01", "2025-12-31", "500") + "</indicator></result>"
        '<result type="3"><title><narrative>Learning</narrative></title>'
        '<indicator measure="5" ascending="false"><title><narrative>Dropout</narrative></title>'
        '<baseline year="2022"/></indicator></result>'
    )
    t = read_iati(_file(_activity(results))).table
    share = t[t["indicator"] == "Share of schools online"]
    assert share["baseline_year"].isna().all() and share["baseline_value"].isna().all()
    assert share[["period_end", "target", "actual"]].values.tolist() == [
        ["2024-12-31", 30.0, 28.0],
        ["2025-12-31", 40.0, 41.0],
    ]
    teachers = t[t["indicator"] == "Teachers trained"].iloc[0]
    assert (teachers["baseline_year"], teachers["target"]) == (2023, 500.0) and pd.isna(teachers["actual"])
    dropout = t[t["indicator"] == "Dropout"].iloc[0]  # a baseline only: one row, no period
    assert dropout["result_type"] == "impact" and dropout["measure"] == "qualitative"
    assert not bool(dropout["ascending"]) and pd.isna(dropout["period_start"]) and pd.isna(dropout["baseline_value"])
    assert (t["warnings"] == "").all()


def test_unknown_codes_and_non_numbers_are_kept_with_a_warning():
    results = (
        '<result type="7"><title><narrative>R</narrative></title>'
        '<indicator measure="42"><title><narrative>I</narrative></title>'
        + _period("2025-01-01", "2025-12-31", "n/a", "12")
        + "</indicator></result>"
    )
    row = read_iati(_file(_activity(results))).table.iloc[0]
    assert row["result_type"] == "7" and row["measure"] == "42"
    assert pd.isna(row["target"]) and row["actual"] == 12.0
    for words in (
        "unknown result type code '7'",
        "unknown indicator measure code '42'",
        "target 'n/a' is not a number",
    ):
        assert words in row["warnings"]


def test_breakdowns_pair_targets_with_actuals_and_other_namespaces_are_ignored():
    results = (
        '<result type="1"><title><narrative>R</narrative></title><indicator measure="1"><title><narrative>I</narrative>'
        '</title><period><period-start iso-date="2025-01-01"/><period-end iso-date="2025-12-31"/>'
        '<target value="10"/><actual value="9"/>'
        '<actual value="5"><dimension name="sex" value="female"/></actual>'
        '<target value="6"><dimension name="sex" value="female"/></target>'
        '<x:note xmlns:x="http://example.org/x">ignored</x:note></period></indicator></result>'
    )
    t = read_iati(_file(_activity(results))).table
    assert t[["dimension", "target", "actual"]].values.tolist() == [["", 10.0, 9.0], ["sex=female", 6.0, 5.0]]


def test_ruleset_checks_become_warnings_on_import():
    results = (
        '<result type="1"><title><narrative>R</narrative></title><indicator measure="1"><title><narrative>I</narrative>'
        '</title><baseline year="2026" value="1"/>'
        + _period("2025-01-01", "2025-12-31", "5", "4")
        + _period("2026-12-31", "2026-01-01", "8")
        + _period("2027-01-01", "2027-03-31", "9", "9")
        + "</indicator></result>"
    )
    t = read_iati(_file(_activity(results, ident="OTHER-1", updated="2026-10-05T00:00:00Z"))).table
    w = t["warnings"].tolist()
    assert all("baseline_before_periods: baseline year 2026 is after the first period's year 2025" in x for x in w)
    assert "period_order" in w[1] and "period_order" not in w[0]
    assert "actual_not_future" in w[2] and "actual_not_future" not in w[0]
    assert all("identifier_prefix: OTHER-1 does not start with XM-9" in x for x in w)


def test_activity_rules():
    facts = ActivityFacts(
        "XM-9-A",
        "XM-9",
        dt.date(2026, 9, 30),
        budgets=[("2026-01-01", "2026-12-31"), ("2026-06-01", "2026-01-01")],
        transactions=["2026-09-30", "2026-10-01"],
        dates=[("2", "2027-01-01"), ("3", "2030-01-01")],
    )
    problems = activity_problems(facts)
    assert [p.split(":")[0] for p in problems] == [
        "budget_period",
        "transaction_not_future",
        "activity_date_not_future",
    ]
    assert "2026-10-01" in problems[1] and "start date 2027-01-01" in problems[2]


def test_row_rules_need_no_reporting_date():
    rows = pd.DataFrame(
        {
            "activity_id": ["A"],
            "indicator_key": ["0.0"],
            "period_start": ["2030-01-01"],
            "period_end": ["2030-12-31"],
            "actual": [1.0],
            "baseline_year": [pd.NA],
        }
    )
    assert row_rule_warnings(rows, {"A": None}).tolist() == [""]


# ----------------------------------------------------------------------------- hostile and broken files

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<iati-activities version="2.03"><iati-activity><iati-identifier>&lol9;</iati-identifier></iati-activity></iati-activities>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE iati-activities [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<iati-activities version="2.03"><iati-activity><iati-identifier>&secret;</iati-identifier></iati-activity></iati-activities>
"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion_laughs", "external_entity"])
def test_hostile_xml_is_refused_with_one_sentence(tmp_path, data):
    path = tmp_path / "hostile.xml"
    path.write_bytes(data)
    with pytest.raises(IatiFileError) as err:
        read_iati(path)
    msg = str(err.value)
    assert msg.startswith("hostile.xml: refused: the file declares a document type") and "\n" not in msg
    assert "root:" not in msg  # nothing of /etc/passwd


def test_a_doctype_after_a_long_prolog_is_refused_too():
    data = b"<!--" + b"x" * 70000 + b"-->" + EXTERNAL_ENTITY.split(b"?>", 1)[1]
    with pytest.raises(IatiFileError, match="declares a document type"):
        read_iati(data)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"<iati-activities version='2.03'><iati-activity>", "not well-formed XML"),
        (b"<html><body/></html>", "not an IATI activity file (its root element is 'html'"),
        (b"", "not well-formed XML"),
    ],
)
def test_broken_files_are_refused_with_one_sentence(data, words):
    with pytest.raises(IatiFileError, match=words.replace("(", r"\(")):
        read_iati(data)


def test_a_missing_file_is_named():
    with pytest.raises(IatiFileError, match="nowhere.xml: cannot be read"):
        read_iati("/nonexistent/nowhere.xml")


def test_a_large_file_is_read_streaming(tmp_path):
    """Many activities, each dropped once read: every indicator comes back."""
    one = (
        '<result type="1"><title><narrative>R</narrative></title><indicator measure="1">'
        "<title><narrative>I</narrative></title>"
        + _period("2025-01-01", "2025-12-31", "10", "7")
        + "</indicator></result>"
    )
    path = tmp_path / "large.xml"
    n = 3000
    with path.open("wb") as fh:
        fh.write(b'<iati-activities version="2.03">')
        for i in range(n):
            fh.write(_activity(one * 3, ident=f"XM-9-{i}").encode())
        fh.write(b"</iati-activities>")
    t = read_iati(path).table
    assert len(t) == 3 * n and t["activity_id"].nunique() == n and (t["actual"] == 7.0).all()


def test_doctype_words_in_the_text_are_not_a_declaration():
    """Only a declaration before the root element is refused; an undefined entity is plain bad XML."""
    results = '<result type="1"><title><narrative>Why &lt;!DOCTYPE is refused</narrative></title></result>'
    assert read_iati(_file(_activity(results))).table.empty  # a result without indicators: no row
    with pytest.raises(IatiFileError, match="not well-formed XML: Entity 'nbsp' not defined"):
        read_iati(_file(_activity("<!-- <!DOCTYPE x> --><title><narrative>a&nbsp;b</narrative></title>")))
