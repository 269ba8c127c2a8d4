"""The quarter: one type, parsed once where a quarter enters, and all quarter arithmetic.

A quarter enters the workbench as text (``2026-Q3``) on the command line, in a notebook's
parameters, in a workbook cell or in the settings. :meth:`Quarter.parse` turns it into a
:class:`Quarter` there; everything after takes and passes the type. Inside DataFrames the
``period`` columns stay text in the same ``YYYY-Qn`` form (that is what the store and the
published tables hold); :func:`index_of` turns such a column into quarter counts in one
vectorised step.

Example:
    >>> q = Quarter.parse("2026-Q3")
    >>> str(q), str(q - 1), str(q + 2)
    ('2026-Q3', '2026-Q2', '2027-Q1')
    >>> q.end
    datetime.date(2026, 9, 30)
    >>> [str(x) for x in Quarter.span("2025-Q4", "2026-Q2")]
    ['2025-Q4', '2026-Q1', '2026-Q2']
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import overload

import numpy as np
import pandas as pd

#: The one written form of a quarter: four-digit year, ``-Q``, the quarter 1 to 4 (ASCII digits only).
QUARTER_RE = re.compile(r"^([0-9]{4})-Q([1-4])$")
#: Quarters as officers also type them (``2026 Q3``, ``2026q3``, ``2026/Q3``, digits of any script).
TYPED_QUARTER_RE = re.compile(r"^(\d{4})\s*[-_ /]?\s*[Qq]\s*([1-4])$")


#: Texts already parsed (quarters are immutable, so one object serves every row naming it).
_PARSED: dict[str, Quarter] = {}


class QuarterError(ValueError):
    """Text that is not a quarter written ``YYYY-Qn``."""


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter. Ordered, hashable, and ``int``-arithmetic moves by quarters.

    >>> Quarter(2026, 1) - Quarter(2025, 4)
    1
    >>> Quarter.parse("2026-Q1") < Quarter.parse("2026-Q2")
    True
    """

    year: int
    q: int

    def __post_init__(self) -> None:
        if not 1 <= self.q <= 4:
            raise QuarterError(f"quarter number must be 1 to 4, not {self.q}")

    # ----------------------------------------------------------------- entering
    @classmethod
    def parse(cls, value: QuarterLike) -> Quarter:
        """A :class:`Quarter` from ``YYYY-Qn`` text (surrounding spaces allowed) or a Quarter.

        >>> Quarter.parse(" 2026-Q3 ")
        Quarter(year=2026, q=3)
        >>> Quarter.parse("2026Q3")
        Traceback (most recent call last):
        ...
        rbm_utils.core.quarters.QuarterError: not a quarter (YYYY-Qn): '2026Q3'
        """
        if isinstance(value, Quarter):
            return value
        if isinstance(value, str):
            hit = _PARSED.get(value)  # a workbook names the same few quarters on every row
            if hit is not None:
                return hit
        m = QUARTER_RE.match(str(value).strip()) if isinstance(value, str) else None
        if m is None:
            raise QuarterError(f"not a quarter (YYYY-Qn): {value!r}")
        q = cls(int(m.group(1)), int(m.group(2)))
        if len(_PARSED) < 4096 and isinstance(value, str):
            _PARSED[value] = q
        return q

    @classmethod
    def parse_or_none(cls, value: object) -> Quarter | None:
        """Like :meth:`parse`, but None for anything that is not a quarter.

        >>> Quarter.parse_or_none("soon") is None
        True
        """
        try:
            return cls.parse(value) if isinstance(value, (str, Quarter)) else None
        except QuarterError:
            return None

    @classmethod
    def read_typed(cls, text: str) -> Quarter | None:
        """A quarter as an officer may type it in a workbook cell, or None.

        >>> str(Quarter.read_typed("2026 q3")), Quarter.read_typed("Q3 2026") is None
        ('2026-Q3', True)
        """
        exact = cls.parse_or_none(text)
        if exact is not None:
            return exact
        m = TYPED_QUARTER_RE.match(str(text).strip())
        return cls(int(m.group(1)), int(m.group(2))) if m else None

    @classmethod
    def from_index(cls, index: int) -> Quarter:
        """Inverse of :attr:`index`.

        >>> Quarter.from_index(Quarter(2026, 3).index)
        Quarter(year=2026, q=3)
        """
        index = int(index)
        return cls(index // 4, index % 4 + 1)

    @classmethod
    def of_date(cls, day: dt.date) -> Quarter:
        """The quarter a date falls in.

        >>> str(Quarter.of_date(dt.date(2026, 11, 30)))
        '2026-Q4'
        """
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def span(cls, first: QuarterLike, last: QuarterLike) -> list[Quarter]:
        """Every quarter from ``first`` to ``last`` inclusive (empty when ``last`` is earlier)."""
        a, b = cls.parse(first).index, cls.parse(last).index
        return [cls.from_index(i) for i in range(a, b + 1)]

    # ----------------------------------------------------------------- arithmetic
    @property
    def index(self) -> int:
        """A count of quarters since year 0, so quarters subtract and compare as integers."""
        return self.year * 4 + self.q - 1

    def __add__(self, quarters: int) -> Quarter:
        if not isinstance(quarters, (int, np.integer)) or isinstance(quarters, bool):
            return NotImplemented
        return Quarter.from_index(self.index + int(quarters))

    @overload
    def __sub__(self, other: Quarter) -> int: ...

    @overload
    def __sub__(self, other: int) -> Quarter: ...

    def __sub__(self, other: int | Quarter) -> Quarter | int:
        if isinstance(other, Quarter):
            return self.index - other.index
        if isinstance(other, (int, np.integer)) and not isinstance(other, bool):
            return Quarter.from_index(self.index - int(other))
        return NotImplemented

    @property
    def previous(self) -> Quarter:
        """The quarter before.

        >>> str(Quarter(2026, 1).previous)
        '2025-Q4'
        """
        return Quarter.from_index(self.index - 1)

    @property
    def start(self) -> dt.date:
        """First day of the quarter."""
        return dt.date(self.year, 3 * self.q - 2, 1)

    @property
    def end(self) -> dt.date:
        """Last day of the quarter."""
        return Quarter.from_index(self.index + 1).start - dt.timedelta(days=1)

    @property
    def period(self) -> pd.Period:
        """The same quarter as a ``pandas.Period`` (frequency Q)."""
        return pd.Period(year=self.year, quarter=self.q, freq="Q")

    def __str__(self) -> str:
        return f"{self.year:04d}-Q{self.q}"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


QuarterLike = Quarter | str


def index_of(values: pd.Series | Iterable[object]) -> pd.Series:
    """Quarter index of each cell of a text column (NaN where not a quarter), as float64.

    Parses each distinct value once, so it is fast on long columns.

    >>> index_of(pd.Series(["2026-Q1", "x", None])).tolist()[0] == Quarter(2026, 1).index
    True
    >>> bool(index_of(pd.Series(["x"])).isna().all())
    True
    """
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    codes, uniques = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=True)
    parsed = [Quarter.parse_or_none(u) if isinstance(u, str) else None for u in uniques]
    index = np.array([np.nan if q is None else float(q.index) for q in parsed] + [np.nan], dtype="float64")
    return pd.Series(index[codes], index=s.index, name=s.name, dtype="float64")  # missing (-1): the last, NaN


def text_of(indexes: np.ndarray | pd.Series) -> np.ndarray:
    """``YYYY-Qn`` text of each quarter index ('' where NaN).

    >>> text_of(np.array([Quarter(2026, 3).index, np.nan])).tolist()
    ['2026-Q3', '']
    """
    arr = np.asarray(indexes, dtype="float64")
    out = np.full(arr.shape, "", dtype=object)
    ok = ~np.isnan(arr)
    idx = arr[ok].astype(np.int64)
    out[ok] = [f"{i // 4}-Q{i % 4 + 1}" for i in idx]
    return out


def is_quarter(value: object) -> bool:
    """True for text written ``YYYY-Qn``.

    >>> is_quarter("2026-Q3"), is_quarter("2026-Q5"), is_quarter(3)
    (True, False, False)
    """
    return Quarter.parse_or_none(value) is not None
