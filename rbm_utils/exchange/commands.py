"""The ``rbm export iati|excel|pdf`` and ``rbm import iati`` commands, added to the ``rbm`` parser by
:func:`add_exchange_commands` (``cli.py`` wires them; the work is done by the modules they call,
imported only when a command runs). A refusal is one line on stderr and exit code 1.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(prog="rbm")
    >>> add_exchange_commands(p.add_subparsers(dest="command"), lambda a: None, ValueError, "")
    >>> args = p.parse_args(["import", "iati", "other.xml", "--theme", "broadband"])
    >>> args.file, args.theme, args.func.__name__
    ('other.xml', 'broadband', 'run')
    >>> p.parse_args(["export", "pdf", "--unit", "AFR"]).export_kind
    'pdf'
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rbm_utils.core.config import PROJECT_ROOT, load_config


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


KINDS = {
    "excel": "the Excel review pack (review_pack.xlsx) of published reviews, into their folders",
    "pdf": "the PDF (review.pdf) of published reviews, into their folders (printed by Debian's chromium)",
}


def add_review_exports(sub: Any, epilog: str) -> None:
    """Add ``excel`` and ``pdf`` to the sub-parsers of ``rbm export``."""
    for kind, what in KINDS.items():
        ep = sub.add_parser(kind, help=f"Write {what}.", description=f"Write {what}.", epilog=epilog)
        ep.set_defaults(func=cmd_export_reviews)
        ep.add_argument("--quarter", help="published quarter (default: the settings' current quarter)")
        ep.add_argument("--unit", action="append", metavar="U", help="a unit's review (repeat for more)")
        ep.add_argument("--overview", action="store_true", help="the bureau overview")
        ep.add_argument("--all", action="store_true", help="every published unit review and the overview")
        ep.add_argument("--outputs", help="published outputs folder (default outputs/)")


def cmd_export_reviews(args: argparse.Namespace) -> int:
    """Write the files; 0 done, 1 refused (the message says why), 2 nothing named."""
    # the batch and the browser driver load only when a command runs, not for every `rbm --help`
    from rbm_utils.exchange.pdf import PdfError
    from rbm_utils.exchange.reviews import ExportError, export_reviews, published_reviews

    prog = f"rbm export {args.export_kind}"
    cfg = load_config(getattr(args, "config", None))
    quarter = args.quarter or cfg.current_quarter
    outputs = Path(args.outputs) if args.outputs else PROJECT_ROOT / "outputs"
    if not (args.all or args.unit or args.overview):
        print(f"{prog}: name the reviews with --unit U ... (or --overview), or give --all", file=sys.stderr)
        return 2
    for u in args.unit or []:
        cfg.unit(u)  # an unknown code: the settings' error, with the known codes
    names = published_reviews(outputs, quarter, cfg) if args.all else [*(args.unit or [])]
    if args.overview and not args.all:
        names.append("overview")
    try:
        written = export_reviews(
            outputs, quarter, names, cfg, excel=args.export_kind == "excel", with_pdf=args.export_kind == "pdf"
        )
    except (ExportError, PdfError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"Wrote {len(written)} file(s) for {quarter}.")
    return 0


def add_exchange_commands(
    sub: Any, config_of: Callable[[argparse.Namespace], Any], usage_error: type[Exception], epilog: str
) -> None:
    """Add ``export iati|excel|pdf`` and ``import iati`` to the ``rbm`` subparsers ``sub``.

    ``config_of(args)`` gives the settings, ``usage_error`` is raised for words that do not fit (exit 2).
    """

    def bind(command: Callable[[argparse.Namespace, Any, type[Exception]], int]) -> Callable[[argparse.Namespace], int]:
        def run(args: argparse.Namespace) -> int:
            return command(args, config_of(args), usage_error)

        return run

    def no_format(args: argparse.Namespace) -> int:
        raise usage_error("name the format: " + ("iati, excel or pdf" if args.command == "export" else "iati"))

    def group(name: str, help_: str) -> Any:
        sp = sub.add_parser(name, help=help_, description=help_, epilog=epilog)
        sp.set_defaults(func=no_format)
        return sp.add_subparsers(dest="export_kind" if name == "export" else "format", metavar="FORMAT")

    exports = group("export", "Export the bureau's results: an IATI file, Excel review packs, PDF reviews.")
    add_review_exports(exports, epilog)
    sp = exports.add_parser(
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
