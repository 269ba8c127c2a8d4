"""The unit workbook as a folder of CSV files: one UTF-8 ``<Sheet>.csv`` per contract sheet.

``Unit.csv`` holds ``field,value`` rows; every other file has exactly the schema columns.
Numbers are plain (``1234567.5``: no exponent, no thousands separator), missing values empty,
text verbatim (the folder is input for ``rbm ingest``, so ``=x`` stays ``=x``).
:func:`rbm_utils.intake.template.write_csv_folder` writes the files.

Example:
    >>> from rbm_utils.intake.template import template_frames
    >>> files = csv_files({"unit_code": "AFR"}, template_frames(None))
    >>> files["Unit.csv"].splitlines()[:2]
    [b'field,value', b'unit_code,AFR']
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

import pandas as pd

from rbm_utils.core import schema
from rbm_utils.intake.template_values import UNIT_HEADER, csv_cell


def _csv_bytes(header: tuple[str, ...], rows: list[list[str]]) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def csv_files(unit: Mapping[str, Any], frames: Mapping[str, pd.DataFrame]) -> dict[str, bytes]:
    """``{"<Sheet>.csv": content}`` for every contract sheet, in contract order, from ``unit``
    (the Unit fields) and ``frames`` (every table sheet, conformed). Raises ``ValueError``
    naming the file and row for a value that is not plain (an infinite number)."""
    out: dict[str, bytes] = {}
    for sh in schema.SHEETS:
        header: tuple[str, ...]
        if sh.kind == "keyvalue":
            header = UNIT_HEADER
            rows = [[col.name, csv_cell(col, unit.get(col.name))] for col in sh.columns]
        else:
            header = sh.column_names
            rows = []
            for i, record in enumerate(frames[sh.name].itertuples(index=False, name=None), start=2):
                try:
                    rows.append([csv_cell(col, v) for col, v in zip(sh.columns, record)])
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{sh.name}.csv row {i}: {exc}") from None
        out[f"{sh.name}.csv"] = _csv_bytes(header, rows)
    return out
