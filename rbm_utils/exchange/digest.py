"""``rbm digest --since DATE [--unit U] [--quarter Q] [--outputs DIR]``: what changed since a date.

Reads the store, computes the quarter's figures as they stood on the date and now with the
review's own analytics (:mod:`rbm_utils.analytics.digest` says how and why), prints the digest in
the terminal and writes it beside the outputs as Markdown and HTML:
``outputs/<Q>/digest/digest-<DATE>[-<UNIT>].md`` and ``.html`` (replaced atomically).

The state "as it stood on the date" is, per unit, the unit's content as of its latest
submission for the quarter or an earlier one that was received before the date (midnight UTC);
a unit with none then had no figures. The previous quarter's state (for risk trends and the
decisions no longer in a workbook) is taken the same way on each side.

Example:
    >>> digest_paths(Path("outputs"), "2026-Q3", "2026-09-01", "AFR")[0].as_posix()
    'outputs/2026-Q3/digest/digest-2026-09-01-AFR.md'
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from rbm_utils.analytics import digest as analysis
from rbm_utils.core.config import PROJECT_ROOT, Config
from rbm_utils.core.files import atomic_write_bytes
from rbm_utils.core.quarters import Quarter
from rbm_utils.present import digest as words
from rbm_utils.store.console import print_table
from rbm_utils.store.database import Store

#: The digests' folder in a quarter's outputs.
DIGEST_DIR = "digest"


def digest_paths(outputs: Path, quarter: str, since: str, unit: str | None = None) -> tuple[Path, Path]:
    """Where a digest is written: its Markdown and its HTML."""
    stem = f"digest-{since}" + (f"-{unit}" if unit else "")
    folder = Path(outputs) / str(quarter) / DIGEST_DIR
    return folder / f"{stem}.md", folder / f"{stem}.html"


def state_as_of(
    store: Store, quarter: Quarter, units: Iterable[str], before: pd.Timestamp | None = None
) -> dict[str, pd.DataFrame]:
    """The bureau's state of ``units`` as of ``quarter``: each unit's latest submission for the
    quarter or an earlier one (received before ``before`` when given), every sheet with a
    leading ``unit_code`` (the store's per-unit :meth:`~rbm_utils.store.database.Store.state`)."""
    subs = store.submissions()
    keep = list(units)
    if not subs.empty:
        subs = subs[subs["unit_code"].astype(str).isin(keep) & (subs["quarter"].astype(str) <= str(quarter))]
        if before is not None:
            at = pd.to_datetime(subs["ingested_at"].astype(str), utc=True, errors="coerce", format="ISO8601")
            subs = subs[(at < before).to_numpy()]
    latest = subs.groupby("unit_code")["id"].max() if not subs.empty else pd.Series(dtype="int64")
    out = store.bureau_state(quarter, units=[])  # every sheet, empty, with its columns
    states = {str(u): store.state(str(u), submission_id=int(sid)) for u, sid in latest.items()}
    for name, template in list(out.items()):
        frames = []
        for u, st in states.items():
            frame = st[name]
            frames.append(frame if "unit_code" in frame.columns else frame.assign(unit_code=u)[template.columns])
        nonempty = [f for f in frames if len(f)]
        out[name] = pd.concat(nonempty, ignore_index=True) if nonempty else template
    return out


def make_digest(
    store: Store, config: Config, start: pd.Timestamp, quarter: Quarter, unit: str | None = None
) -> dict[str, pd.DataFrame]:
    """The parts of the digest of ``quarter`` since ``start`` (every unit of the settings, or one)."""
    units = [unit] if unit else list(config.units)
    sides = []
    for before in (start, None):
        state = state_as_of(store, quarter, units, before)
        previous = state_as_of(store, quarter.previous, units, before)
        sides.append(analysis.figures(state, quarter, config.thresholds, previous))
    return analysis.digest(sides[0], sides[1], store.submissions(), start, quarter, units)


def write_digest(
    parts: dict[str, pd.DataFrame], outputs: Path, quarter: str, since: str, unit: str | None = None
) -> tuple[Path, Path]:
    """Write the digest's Markdown and HTML (each replaced atomically); their paths."""
    md, page = digest_paths(outputs, quarter, since, unit)
    md.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(md, words.digest_markdown(parts, since, quarter, unit).encode("utf-8"))
    atomic_write_bytes(page, words.digest_html(parts, since, quarter, unit).encode("utf-8"))
    return md, page


def print_digest(parts: dict[str, pd.DataFrame], since: str, quarter: str, unit: str | None = None) -> None:
    """The digest in the terminal: one table per section (a sentence when empty)."""
    tables = words.worded(parts)
    print(f"What changed since {since}: {quarter}" + (f", {unit}" if unit else ""))
    for key, heading, _, _, empty in words.SECTIONS:
        print(f"\n{heading} ({len(tables[key])})")
        print_table(tables[key], empty=f"  {empty}")


def digest_command(
    args: argparse.Namespace, config: Config, store_of: Callable[[], Store], usage_error: type[Exception]
) -> int:
    """``rbm digest``: check the words, make, print and write the digest."""
    try:
        day = analysis.since_time(args.since)
    except (ValueError, TypeError):
        raise usage_error(f"--since {args.since!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-09-01") from None
    if args.unit and args.unit not in config.units:
        raise usage_error(f"unknown unit {args.unit!r}; known units: {', '.join(config.units)}")
    try:
        quarter = Quarter.parse(args.quarter or config.current_quarter)
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    since = day.strftime("%Y-%m-%d") if day == day.normalize() else day.strftime("%Y-%m-%dT%H%MZ")
    with store_of() as st:
        parts = make_digest(st, config, day, quarter, args.unit)
    print_digest(parts, since, str(quarter), args.unit)
    outputs = Path(args.outputs) if args.outputs else PROJECT_ROOT / "outputs"
    md, page = write_digest(parts, outputs, str(quarter), since, args.unit)
    print(f"\nWrote {md} and {page}.", file=sys.stdout)
    return 0


def add_digest_command(
    sub: Any,
    config_of: Callable[[argparse.Namespace], Config],
    store_of: Callable[[argparse.Namespace], Store],
    usage_error: type[Exception],
    epilog: str,
) -> None:
    """Add ``rbm digest`` to the ``rbm`` subparsers ``sub``."""
    help_ = (
        "What changed since a date: KPIs whose status moved, new red flags, decisions now overdue, "
        "submissions received and units still to submit; printed, and written as Markdown and HTML."
    )
    sp = sub.add_parser("digest", help=help_, description=help_, epilog=epilog)
    sp.set_defaults(func=lambda args: digest_command(args, config_of(args), lambda: store_of(args), usage_error))
    sp.add_argument("--since", required=True, metavar="DATE", help="the date to compare with, e.g. 2026-09-01")
    sp.add_argument("--unit", metavar="U", help="one unit (default: every unit)")
    sp.add_argument("--quarter", help="quarter whose figures are compared (default: the settings' current quarter)")
    sp.add_argument("--outputs", help="outputs folder the digest is written into (default outputs/)")
    sp.add_argument("--store", help="store URL (default: the settings' store.url or $RBM_STORE)")
