"""bench.run takes over the sections of an earlier results file it did not measure, and says so."""

from __future__ import annotations

import json

from bench.run import reuse_sections


def test_sections_not_measured_are_taken_over_with_where_they_came_from(tmp_path):
    earlier = tmp_path / "scale.json"
    earlier.write_text(
        json.dumps(
            {
                "sections": ["scale", "dashboard", "bogus"],
                "details": {"scale": {"200": {"units": 200}}, "dashboard": {"old": True}, "bogus": {}},
                "errors": {},
                "created_at": "2026-12-01T17:30:00+00:00",
                "seconds": 4800.0,
                "machine": {"load_average_start": [2.0, 2.0, 2.0], "load_average_end": [3.0, 3.0, 3.0]},
            }
        ),
        encoding="utf-8",
    )
    details = {"dashboard": {"new": True}}
    errors: dict[str, str] = {}
    taken = reuse_sections(earlier, ["dashboard", "batch"], details, errors)
    assert list(taken) == ["scale"]  # measured now: kept; unknown section: ignored
    assert details == {"dashboard": {"new": True}, "scale": {"200": {"units": 200}}}
    assert taken["scale"]["created_at"] == "2026-12-01T17:30:00+00:00"
    assert taken["scale"]["load_average_end"] == [3.0, 3.0, 3.0]


def test_a_section_that_failed_earlier_is_taken_over_as_its_error(tmp_path):
    earlier = tmp_path / "r.json"
    earlier.write_text(
        json.dumps({"sections": ["scale"], "details": {}, "errors": {"scale": "boom"}}), encoding="utf-8"
    )
    details: dict = {}
    errors: dict[str, str] = {}
    assert list(reuse_sections(earlier, [], details, errors)) == ["scale"]
    assert errors == {"scale": "boom"} and details == {}
