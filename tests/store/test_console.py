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
