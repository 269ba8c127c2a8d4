"""The ``rbm export iati`` and ``rbm import iati`` commands, added to the ``rbm`` parser by
:func:`add_exchange_commands` (``cli.py`` wires them; the work is done by the modules they call,
imported only when a command runs). A refusal is one line on stderr and exit code 1.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(prog="rbm")
    >>> add_exchange_commands(p.add_subparsers(dest="command"), lambda a: None, ValueError, "")
    >>> args = p.parse_args(["import", "iati", "other.xml", "--theme", "broadband"])
    >>> args.file, args.theme, args.func.__name__
    ('other.xml', 'broadband', 'run')
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any


def export_iati_command(args: argparse.Namespace, cfg: Any, usage_error: type[Exception]) -> int:
    from rbm_utils.exchange.iati_export import IatiExportError, export_iati
    from rbm_utils.store.snapshot import SnapshotError

    quarter = args.quarter or cfg.current_quarter
    if not args.all and not args.unit:
        raise usage_error("name the units to export with --unit U ... or give --all")
    try:
        rep = export_iati(quarter, cfg, args.out, units=args.unit, outputs=args.outputs, store_url=args.store)
    except (IatiExportError, SnapshotError) as exc:
        print(f"rbm export iati: {exc}", file=sys.stderr)
        return 1
    print(
        f"Wrote {rep.path}: IATI 2.03, {rep.activities} activities, {rep.results} results, {rep.indicators} "
        f"indicators, {rep.periods} periods of {quarter} from {rep.source}; valid against the IATI schema and rules."
    )
    return 0


def import_iati_command(args: argparse.Namespace, cfg: Any, usage_error: type[Exception]) -> int:
    from rbm_utils.exchange.iati_import import import_iati
    from rbm_utils.intake.iati import IatiFileError

    try:
        rep = import_iati(args.file, cfg, theme=args.theme or "", name=args.name or "", folder=args.folder)
    except IatiFileError as exc:
        print(f"rbm import iati: {exc}", file=sys.stderr)
        return 1
    print(
        f"Kept {rep.path}: {rep.indicators} indicators of {rep.activities} activities, {rep.rows} rows"
        + (f", {rep.with_warnings} with warnings (see the warnings column)" if rep.with_warnings else "")
        + (f"; theme {args.theme}." if args.theme else "; no theme given: the overview cannot match it to KPIs.")
    )
    return 0


def add_exchange_commands(
    sub: Any, config_of: Callable[[argparse.Namespace], Any], usage_error: type[Exception], epilog: str
) -> None:
    """Add ``export iati`` and ``import iati`` to the ``rbm`` subparsers ``sub``.

    ``config_of(args)`` gives the settings, ``usage_error`` is raised for words that do not fit (exit 2).
    """

    def bind(command: Callable[[argparse.Namespace, Any, type[Exception]], int]) -> Callable[[argparse.Namespace], int]:
        def run(args: argparse.Namespace) -> int:
            return command(args, config_of(args), usage_error)

        return run

    def no_format(args: argparse.Namespace) -> int:
        raise usage_error("name the format: iati")

    def group(name: str, help_: str) -> Any:
        sp = sub.add_parser(name, help=help_, description=help_, epilog=epilog)
        sp.set_defaults(func=no_format)
        return sp.add_subparsers(dest="format", metavar="FORMAT")

    sp = group("export", "Export the bureau's results in an exchange format (iati).").add_parser(
        "iati",
        help="a quarter's results as an IATI 2.03 activity file",
        description="Write a quarter's results, budgets, spending and partners as an IATI 2.03 activity file, "
        "one activity per unit, checked against the official schema and the IATI rules on dates.",
        epilog=epilog,
    )
    sp.set_defaults(func=bind(export_iati_command))
    sp.add_argument("--quarter", help="quarter to export (default: the settings' current quarter)")
    sp.add_argument("--unit", action="append", metavar="U", help="a unit to export (repeat for more)")
    sp.add_argument("--all", action="store_true", help="every unit with KPIs")
    sp.add_argument("--out", required=True, metavar="FILE.xml", help="file to write")
    sp.add_argument("--outputs", help="outputs folder holding frozen quarters (default: the project's outputs/)")
    sp.add_argument("--store", help="store URL when the quarter is not frozen (default: the settings' store.url)")

    sp = group("import", "Import another organisation's published results (iati) as a benchmark.").add_parser(
        "iati",
        help="another organisation's IATI activity file, kept as a benchmark",
        description="Read the results of an IATI 2.03 activity file (indicators, baselines, targets and actuals "
        "per period) into the benchmarks folder; the overview shows them beside the KPIs of the same theme.",
        epilog=epilog,
    )
    sp.set_defaults(func=bind(import_iati_command))
    sp.add_argument("file", metavar="FILE.xml", help="an IATI activity file")
    sp.add_argument("--theme", help="the theme it compares with, as in the Results sheet, e.g. cybersecurity")
    sp.add_argument("--name", help="name to keep it under (default: the file's name); the same name replaces it")
    sp.add_argument("--folder", help="benchmarks folder (default: the settings' iati.benchmarks_dir)")
