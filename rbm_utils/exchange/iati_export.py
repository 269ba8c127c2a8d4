"""``rbm export iati``: the units' results of a quarter as an IATI 2.03 activity file.

One ``iati-activity`` per unit (a unit is what the bureau plans, budgets and reviews; an
initiative shares results across units and has no budget of its own, so it is named in each
result's description instead). The quarter is read as it was frozen by ``rbm review``
(``outputs/<Q>/snapshot/``) when it was, else from the store as it stands. The file is:

- valid against the official IATI 2.03 schema, copied into ``rbm_utils/exchange/schema/``
  (read from disk only: the parser never opens the network);
- checked against the IATI ruleset's checks on results and dates
  (:mod:`rbm_utils.intake.iati_rules`), by reading the written bytes back with the same reader
  ``rbm import iati`` uses: a file that breaks one is not written (:class:`IatiExportError`);
- deterministic: units in settings order, results, KPIs and periods sorted, and its only
  timestamp the reporting quarter's last second, so two exports of a quarter are identical.

Example:
    >>> xsd_errors(b'<iati-activities version="2.03"/>')[0]
    "Element 'iati-activities': Missing child element(s). Expected is ( iati-activity ). (line 1)"
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from lxml import etree

from rbm_utils.analytics.kpi import kpi_series
from rbm_utils.core.config import PROJECT_ROOT, Config
from rbm_utils.core.files import atomic_write_bytes
from rbm_utils.core.quarters import Quarter, QuarterLike
from rbm_utils.exchange.iati_activity import unit_activity
from rbm_utils.intake.iati import IatiFileError, read_iati
from rbm_utils.intake.iati_rules import activity_problems
from rbm_utils.publish.frozen import split_previous
from rbm_utils.store.database import Store
from rbm_utils.store.snapshot import MANIFEST, SNAPSHOT_DIR, load_snapshot

#: The official IATI 2.03 activity schema and the schemas it includes, beside this module.
SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
SCHEMA_FILE = SCHEMA_DIR / "iati-activities-schema.xsd"
IATI_VERSION = "2.03"
#: At most this many problems are named in an error message.
_SHOWN = 8


class IatiExportError(RuntimeError):
    """The file cannot be exported (nothing to export, or it breaks the schema or a rule)."""


@dataclass(frozen=True)
class ExportReport:
    """What ``export_iati`` wrote."""

    path: Path
    activities: int
    results: int
    indicators: int
    periods: int
    source: str


def _parser() -> etree.XMLParser:
    return etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False, huge_tree=False)


@functools.cache
def schema() -> etree.XMLSchema:
    """The IATI 2.03 activity schema, read from :data:`SCHEMA_DIR` (its imports are local files)."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_FILE), _parser()))


def xsd_errors(data: bytes) -> list[str]:
    """What the official schema finds wrong with ``data`` (empty: valid)."""
    doc = etree.fromstring(data, _parser()).getroottree()
    xsd = schema()
    if xsd.validate(doc):
        return []
    return [f"{e.message} (line {e.line})" if e.line else e.message for e in xsd.error_log][:50] or ["invalid"]


def rule_problems(data: bytes) -> list[str]:
    """The IATI ruleset checks ``data`` breaks, read back as ``rbm import iati`` reads a file."""
    read = read_iati(data)
    t = read.table
    out = [f"{a}: {w}" for a, w in zip(t["activity_id"], t["warnings"], strict=True) if w]
    out += [f"{f.activity_id}: {p}" for f in read.activities for p in activity_problems(f)]
    return list(dict.fromkeys(out))


def quarter_state(
    quarter: QuarterLike, config: Config, outputs: str | os.PathLike | None = None, store_url: str | None = None
) -> tuple[dict[str, pd.DataFrame], str]:
    """The bureau of ``quarter``: the frozen snapshot under ``outputs`` when ``rbm review``
    froze one, else the store's state; and where it came from, in words."""
    q = Quarter.parse(quarter)
    snap = Path(outputs or PROJECT_ROOT / "outputs") / str(q) / SNAPSHOT_DIR
    if (snap / MANIFEST).is_file():
        state, _ = split_previous(load_snapshot(snap))
        return state, f"the frozen snapshot {snap}"
    with Store(store_url or config.store_url) as st:
        return st.bureau_state(str(q)), f"the store {st.safe_url} (the quarter is not frozen yet)"


def _unit_frames(state: Mapping[str, pd.DataFrame], code: str) -> dict[str, pd.DataFrame]:
    return {
        name: frame[frame["unit_code"] == code]
        for name, frame in state.items()
        if isinstance(frame, pd.DataFrame) and "unit_code" in frame.columns
    }


def build_iati(
    state: Mapping[str, pd.DataFrame], quarter: QuarterLike, config: Config, units: Sequence[str] | None = None
) -> bytes:
    """The IATI file of ``units`` (default: every unit with rows in ``state``), as UTF-8 bytes."""
    q = Quarter.parse(quarter)
    kpis = state.get("KPIs")
    present = set(kpis["unit_code"]) if kpis is not None and not kpis.empty else set()
    if units:
        unknown = [u for u in units if u not in config.units]
        if unknown:
            raise IatiExportError(f"unknown unit(s) {', '.join(unknown)}; known units: {', '.join(config.units)}")
        missing = [u for u in units if u not in present]
        if missing:
            raise IatiExportError(f"no KPIs of {', '.join(missing)} in {q}: nothing to export for them")
        chosen = [u for u in config.units if u in units]
    else:
        chosen = [u for u in config.units if u in present]
    if not chosen:
        raise IatiExportError(f"no unit has KPIs in {q}: nothing to export")
    stamp = f"{q.end.isoformat()}T23:59:59Z"
    series = kpi_series(state, q, config.thresholds)
    root = etree.Element("iati-activities")
    root.set("version", IATI_VERSION)
    root.set("generated-datetime", stamp)
    for code in chosen:
        frames = _unit_frames(state, code)
        unit_series = series[series["unit_code"] == code]
        unit_activity(root, config.unit(code), frames, unit_series, q, config.iati, config.currency, stamp)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def check_iati(data: bytes) -> None:
    """Raise :class:`IatiExportError` naming what is wrong when ``data`` breaks the schema or a rule."""
    problems = [f"schema: {e}" for e in xsd_errors(data)]
    if not problems:
        try:
            problems = rule_problems(data)
        except IatiFileError as exc:
            problems = [str(exc)]
    if problems:
        more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
        raise IatiExportError(
            f"the IATI file breaks {len(problems)} check(s), not written: " + "; ".join(problems[:_SHOWN]) + more
        )


def export_iati(
    quarter: QuarterLike,
    config: Config,
    out: str | os.PathLike,
    units: Sequence[str] | None = None,
    outputs: str | os.PathLike | None = None,
    store_url: str | None = None,
    state: Mapping[str, pd.DataFrame] | None = None,
) -> ExportReport:
    """Build, check and write the IATI file of ``quarter`` to ``out`` (atomically)."""
    if state is None:
        state, source = quarter_state(quarter, config, outputs, store_url)
    else:
        source = "the given state"
    data = build_iati(state, quarter, config, units)
    check_iati(data)
    path = atomic_write_bytes(Path(out), data)
    root = etree.fromstring(data, _parser())
    return ExportReport(
        path=path,
        activities=len(root.findall("iati-activity")),
        results=len(root.findall("iati-activity/result")),
        indicators=len(root.findall("iati-activity/result/indicator")),
        periods=len(root.findall("iati-activity/result/indicator/period")),
        source=source,
    )
