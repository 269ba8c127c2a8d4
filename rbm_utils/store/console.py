"""Tables for the terminal that never cut a message: long cells wrap inside their column.

The ``rbm`` commands print through :func:`print_table`: a ``rich`` table as wide as the terminal
(``$COLUMNS`` or 100 columns when the output is not a terminal), every cell whole, long ones
folded over several lines. Text is printed as it is (no markup: ``[x]`` stays ``[x]``), but for
terminal escape sequences and control characters, which are removed (a cell could otherwise clear
the screen or rewrite what the officer reads).

Example:
    >>> import io
    >>> df = pd.DataFrame({"where": ["Actuals!C14"], "message": ["a long message " * 12]})
    >>> out = io.StringIO()
    >>> print_table(df, file=out, width=60)
    >>> ("a long message " * 12).strip() in " ".join(out.getvalue().split())
    True
"""

from __future__ import annotations

import io
import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any

import pandas as pd
from rich.box import SIMPLE_HEAD
from rich.console import Console
from rich.table import Table

from rbm_utils.core.text import terminal_safe

__all__ = ["SafeStream", "console_width", "print_table", "rich_table", "safe_stdout"]

#: Width used when the output is not a terminal and ``$COLUMNS`` is not set.
DEFAULT_WIDTH = 100


def console_width(file: IO[str] | None = None) -> int:
    """The terminal's width (``$COLUMNS`` first), or :data:`DEFAULT_WIDTH` for a file or a pipe."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 20:
        return int(env)
    stream = file if file is not None else sys.stdout
    if hasattr(stream, "isatty") and stream.isatty():
        return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return DEFAULT_WIDTH


#: Columns whose cells are never folded.
KEEP_WHOLE = frozenset({"severity", "code"})


def rich_table(
    df: pd.DataFrame, columns: Sequence[str] | None = None, max_widths: Mapping[str, int] | None = None
) -> Table:
    """``df`` (or its ``columns``) as a rich table: every cell whole, long ones folded;
    ``max_widths`` keeps some columns at most that wide (their cells fold); a problem's code and
    severity are never broken: an officer looks them up in docs/ingest.md."""
    view = df[list(columns)] if columns else df
    table = Table(box=SIMPLE_HEAD, show_edge=False, pad_edge=True, padding=(0, 1))
    for name in view.columns:
        whole = str(name) in KEEP_WHOLE
        table.add_column(
            terminal_safe(name), overflow="fold", no_wrap=whole, max_width=(max_widths or {}).get(str(name))
        )
    for row in view.astype(object).where(view.notna(), "").itertuples(index=False, name=None):
        table.add_row(*(terminal_safe(v) for v in row))
    return table


def print_table(
    df: pd.DataFrame | None,
    columns: Sequence[str] | None = None,
    *,
    file: IO[str] | None = None,
    width: int | None = None,
    empty: str = "  (none)",
    max_widths: Mapping[str, int] | None = None,
    wrap: bool = True,
) -> None:
    """Print ``df`` wrapped to the terminal's width; ``empty`` when there is nothing to show.
    ``wrap=False`` keeps each row on one line, the table as wide as it needs (a table of short
    codes and counts); nothing is cut either way."""
    out = file if file is not None else sys.stdout
    if df is None or df.empty:
        print(empty, file=out)
        return
    table = rich_table(df, columns, max_widths)
    width = width or console_width(out)
    if not wrap:
        width = max(width, Console(width=10_000, file=io.StringIO()).measure(table).maximum)
    console = Console(
        file=out,
        width=width,
        markup=False,
        highlight=False,
        emoji=False,
        color_system=None,
        soft_wrap=False,
    )
    console.print(table)


class SafeStream:
    """A text stream that removes terminal escape sequences and control characters from all
    that is written to it (:func:`rbm_utils.core.text.terminal_safe`); the rest is the stream's.

    >>> out = io.StringIO()
    >>> SafeStream(out).write("AFR\\x1b]0;title\\x07 ok\\n")
    17
    >>> out.getvalue()
    'AFR ok\\n'
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(terminal_safe(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def safe_stdout() -> Iterator[None]:
    """Everything printed to standard output inside the block goes through :class:`SafeStream`
    (``rbm`` runs every command so: a workbook's value or a file name cannot drive the terminal)."""
    real = sys.stdout
    sys.stdout = SafeStream(real)
    try:
        yield
    finally:
        sys.stdout = real
