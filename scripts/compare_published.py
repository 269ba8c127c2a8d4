#!/usr/bin/env python3
"""Compare every parquet table of two published quarters (e.g. before and after a refactoring).

    .venv/bin/python scripts/compare_published.py OLD/outputs/2026-Q3 NEW/outputs/2026-Q3

Every table under OLD must exist under NEW with equal content (same columns, dtypes, rows in
the same order); provenance fields (who submitted, submission numbers, timestamps, hashes) are
left out of the comparison. Tables only in NEW are listed as new. Exit 0 when all are equal,
1 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

#: Columns that record where and when figures came from, not the figures themselves.
PROVENANCE = {
    "submission_id",
    "submitted_by",
    "ingested_at",
    "created_at",
    "published_at",
    "source_sha256",
    "file_sha256",
    "snapshot_content_sha256",
    "snapshot_created_at",
}
#: Folders that hold older versions, not the published ones.
SKIP_PARTS = {"archive", ".staging", ".locks"}


def tables(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*.parquet"))
        if not SKIP_PARTS & set(p.relative_to(root).parts)
    }


def compare(old_root: Path, new_root: Path) -> tuple[list[str], list[str], int]:
    old, new = tables(old_root), tables(new_root)
    problems: list[str] = []
    for name, path in old.items():
        if name not in new:
            problems.append(f"{name}: missing in {new_root}")
            continue
        a, b = pd.read_parquet(path), pd.read_parquet(new[name])
        a = a.drop(columns=[c for c in a.columns if c in PROVENANCE])
        b = b.drop(columns=[c for c in b.columns if c in PROVENANCE])
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=1e-12)
        except AssertionError as exc:
            problems.append(f"{name}: differs: {str(exc).splitlines()[0]}")
    return problems, sorted(set(new) - set(old)), len(old)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    problems, added, n = compare(Path(argv[0]), Path(argv[1]))
    for line in problems:
        print(line)
    print(f"{n - len(problems)} of {n} tables equal; {len(added)} new table(s) only in the second folder")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
