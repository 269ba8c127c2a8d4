"""Terminal tables never cut a message: long cells fold inside their column; text stays text."""

from __future__ import annotations

import io

import pandas as pd

from rbm_utils.store.console import console_width, print_table


def test_long_messages_fold_and_are_never_cut():
    msg = "AFR-K11 takes the latest value and should increase, but 2026-Q4 (1) is below 2026-Q3 (51.69). " * 2
    df = pd.DataFrame({"severity": ["warning"], "where": ["Actuals!C222"], "message": [msg.strip()]})
    out = io.StringIO()
    print_table(df, file=out, width=60)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 60
    assert "…" not in out.getvalue()
    tokens = out.getvalue().split()
    assert tokens[tokens.index("Actuals!C222") + 1 :] == msg.split()  # every word, in order


def test_markup_is_printed_as_text():
    out = io.StringIO()
    print_table(pd.DataFrame({"value": ["[bold]x[/bold]"]}), file=out, width=40)
    assert "[bold]x[/bold]" in out.getvalue()


def test_a_table_of_codes_stays_on_one_line_per_row_when_asked():
    df = pd.DataFrame({c: [f"value-{c}-long"] for c in "abcdefghij"})
    out = io.StringIO()
    print_table(df, file=out, width=40, wrap=False)
    assert len(out.getvalue().splitlines()) == 3  # header, rule, one row
    assert "value-j-long" in out.getvalue()


def test_width_from_columns_or_a_default_for_pipes(monkeypatch):
    monkeypatch.setenv("COLUMNS", "132")
    assert console_width(io.StringIO()) == 132
    monkeypatch.delenv("COLUMNS")
    assert console_width(io.StringIO()) == 100


# ---------------------------------------------------------------- hostile values (issue 18, part B)

#: A cell that would clear the screen, retitle the window, colour and rewrite the line, flip the text.
HOSTILE = "Eve\x1b[2J\x1b]0;pwned\x07\x1b[31m red\x1b[0m\r\x08\x9b1m\u202eevil"


def _controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 32 and c not in "\n") or 0x7F <= ord(c) <= 0x9F or c == "\u202e"]


def test_a_table_strips_escape_sequences_and_control_characters():
    out = io.StringIO()
    print_table(pd.DataFrame({"by\x1b[2J": [HOSTILE]}), file=out, width=80)
    assert _controls(out.getvalue()) == []
    assert "Eve" in out.getvalue() and "red" in out.getvalue() and "pwned" not in out.getvalue()


def test_rbm_ingest_and_history_print_no_escape_sequence(tmp_path, capsys):
    from factories import minimal_unit

    from rbm_utils.cli import main
    from rbm_utils.intake.template import write_csv_folder

    unit, frames = minimal_unit()
    cell = HOSTILE.replace("\r", "")  # a bare CR ends a CSV row
    unit["submitted_by"] = cell
    frames["Actuals"].loc[0, "comment"] = cell
    folder = write_csv_folder(tmp_path / "AFR\x1b[2J", unit, frames)
    url = f"sqlite:///{tmp_path / 'rbm.sqlite'}"
    assert main(["ingest", str(folder), "--store", url, "--by", "t"]) == 0
    frames["Actuals"].loc[0, "period"] = cell  # not a quarter: the value is echoed in the problem table
    bad = write_csv_folder(tmp_path / "bad\x1b]0;pwned\x07", unit, frames)  # its name is printed
    assert main(["ingest", str(bad), "--store", url, "--by", "t"]) == 1
    assert main(["history", "AFR", "--store", url]) == 0
    out = capsys.readouterr().out
    assert "not_a_period" in out and "Eve" in out
    assert _controls(out) == []
