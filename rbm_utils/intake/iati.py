"""Reading another organisation's IATI 2.03 activity file: its results as a comparison table.

``rbm import iati FILE.xml`` reads the results of any IATI activity file (one row per
indicator, period and breakdown: baseline, target and actual) so the bureau can set its own
KPIs beside them. The reader is defensive, as for a workbook:

- streaming (``lxml.etree.iterparse``): each ``iati-activity`` is read, then dropped, so a
  file of any size is read in little memory;
- no document type declaration is accepted: a ``<!DOCTYPE`` or ``<!ENTITY`` (billion laughs,
  external entities that read local files or reach the network) is refused with one sentence,
  before anything is expanded; the parser never loads a DTD, never resolves an entity and
  never opens the network;
- what real files do is read, not refused: missing baselines, annual periods, several
  indicators per result, values that are not numbers (kept empty, with a warning), codes the
  workbench does not know (kept as they are, with a warning), elements of other namespaces
  (ignored). The IATI ruleset checks of :mod:`rbm_utils.intake.iati_rules` add warnings.

Example:
    >>> data = b'''<iati-activities version="2.03"><iati-activity>
    ...   <iati-identifier>XM-1-A</iati-identifier><reporting-org ref="XM-1" type="40"><narrative>Org</narrative></reporting-org>
    ...   <result type="2"><title><narrative>Better access</narrative></title>
    ...     <indicator measure="2"><title><narrative>Share online</narrative></title>
    ...       <period><period-start iso-date="2025-01-01"/><period-end iso-date="2025-12-31"/>
    ...         <target value="40"/><actual value="35"/></period></indicator></result>
    ... </iati-activity></iati-activities>'''
    >>> t = read_iati(data).table
    >>> t[["activity_id", "result_type", "indicator", "measure", "period_end", "target", "actual"]].to_dict("records")
    [{'activity_id': 'XM-1-A', 'result_type': 'outcome', 'indicator': 'Share online', 'measure': 'percentage', 'period_end': '2025-12-31', 'target': 40.0, 'actual': 35.0}]
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from lxml import etree

from rbm_utils.intake.iati_rules import ActivityFacts, activity_problems, iso_date, row_rule_warnings

#: IATI ResultType codes in words (2.03 codelist; 9 is "Other").
RESULT_TYPES = {"1": "output", "2": "outcome", "3": "impact", "9": "other"}
#: IATI IndicatorMeasure codes in words.
MEASURES = {"1": "unit", "2": "percentage", "3": "nominal", "4": "ordinal", "5": "qualitative"}

#: Columns of the comparison table, in order.
COLUMNS = (
    "source_org",
    "source_org_ref",
    "activity_id",
    "activity_title",
    "result_ref",
    "result_title",
    "result_type",
    "indicator_ref",
    "indicator",
    "measure",
    "ascending",
    "baseline_year",
    "baseline_value",
    "period_start",
    "period_end",
    "dimension",
    "target",
    "actual",
    "theme",
    "warnings",
)

#: How much of a file's start is searched for a document type declaration before parsing.
_PROLOG_BYTES = 65536


class IatiFileError(ValueError):
    """An IATI file that cannot be read: the message is one sentence naming the file."""


@dataclass
class IatiRead:
    """What was read: the comparison table (:data:`COLUMNS`) and each activity's facts."""

    table: pd.DataFrame
    activities: list[ActivityFacts] = field(default_factory=list)
    generated: str = ""


def _refuse_doctype(head: bytes, name: str) -> None:
    """Refuse a document type declaration in the prolog (what comes before the root element)."""
    utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    text = head.decode("utf-16" if utf16 else "utf-8", errors="replace")
    root = _ROOT_START.search(text)
    prolog = text[: root.start()] if root else text
    if "<!DOCTYPE" in prolog.upper() or "<!ENTITY" in prolog.upper():
        raise IatiFileError(_DOCTYPE_MESSAGE.format(name=name))


_ROOT_START = re.compile(r"<[A-Za-z_]")
_DOCTYPE_MESSAGE = (
    "{name}: refused: the file declares a document type (<!DOCTYPE or <!ENTITY); IATI files have none, "
    "and such declarations can expand to huge text or read other files"
)


def _text(el: etree._Element | None) -> str:
    """The first narrative's text (or the element's own text), stripped."""
    if el is None:
        return ""
    narrative = el.find("narrative")
    node = narrative if narrative is not None else el
    return " ".join((node.text or "").split())


def _number(raw: str | None, what: str, warnings: list[str]) -> float:
    if raw is None or not raw.strip():
        return math.nan
    try:
        value = float(raw.strip())
    except ValueError:
        warnings.append(f"{what} {raw.strip()[:40]!r} is not a number")
        return math.nan
    if not math.isfinite(value):
        warnings.append(f"{what} {raw.strip()[:40]!r} is not a finite number")
        return math.nan
    return value


def _dimension(el: etree._Element) -> str:
    """The element's dimensions as ``name=value; name=value`` sorted by name (``""``: the total)."""
    pairs = sorted(
        (" ".join((d.get("name") or "").split()), " ".join((d.get("value") or "").split()))
        for d in el.findall("dimension")
    )
    return "; ".join(f"{k}={v}" for k, v in pairs)


def _values(period: etree._Element, tag: str, warnings: list[str]) -> dict[str, float]:
    """Each target (or actual) of a period by its breakdown; the first of a repeated breakdown."""
    out: dict[str, float] = {}
    for el in period.findall(tag):
        key = _dimension(el)
        if key in out:
            continue
        out[key] = _number(el.get("value"), tag, warnings)
    return out


def _indicator_rows(ind: etree._Element, base: dict[str, Any]) -> list[dict[str, Any]]:
    warnings: list[str] = []
    measure_code = (ind.get("measure") or "").strip()
    if measure_code not in MEASURES:
        warnings.append(f"unknown indicator measure code {measure_code[:20]!r}")
    ascending = (ind.get("ascending") or "1").strip().lower() not in ("0", "false")
    ref = ind.find("reference")
    baselines = ind.findall("baseline")
    baseline = next((b for b in baselines if b.find("dimension") is None), baselines[0] if baselines else None)
    year: Any = pd.NA
    value = math.nan
    if baseline is not None:
        raw_year = (baseline.get("year") or "").strip()
        year = int(raw_year) if raw_year.isdigit() else pd.NA
        if year is pd.NA:
            warnings.append(f"baseline year {raw_year[:20]!r} is not a year")
        value = _number(baseline.get("value"), "baseline value", warnings)
    common = {
        **base,
        "indicator_ref": ref.get("code", "").strip() if ref is not None else "",
        "indicator": _text(ind.find("title")),
        "measure": MEASURES.get(measure_code, measure_code),
        "ascending": ascending,
        "baseline_year": year,
        "baseline_value": value,
    }
    rows = []
    for period in ind.findall("period"):
        pw: list[str] = []
        start = period.find("period-start")
        end = period.find("period-end")
        targets = _values(period, "target", pw)
        actuals = _values(period, "actual", pw)
        keys = sorted(set(targets) | set(actuals)) or [""]
        for key in keys:
            rows.append(
                {
                    **common,
                    "period_start": (start.get("iso-date") or "").strip() or None if start is not None else None,
                    "period_end": (end.get("iso-date") or "").strip() or None if end is not None else None,
                    "dimension": key,
                    "target": targets.get(key, math.nan),
                    "actual": actuals.get(key, math.nan),
                    "warnings": "; ".join(warnings + pw),
                }
            )
    if not rows:  # an indicator with a baseline only
        rows.append(
            {
                **common,
                "period_start": None,
                "period_end": None,
                "dimension": "",
                "target": math.nan,
                "actual": math.nan,
                "warnings": "; ".join(warnings),
            }
        )
    return rows


def _activity(act: etree._Element, generated: str) -> tuple[ActivityFacts, list[dict[str, Any]]]:
    org = act.find("reporting-org")
    activity_id = " ".join((act.findtext("iati-identifier") or "").split())
    reporting = iso_date(act.get("last-updated-datetime")) or iso_date(generated)
    facts = ActivityFacts(
        activity_id=activity_id,
        reporting_org_ref=(org.get("ref") or "").strip() if org is not None else "",
        reporting_date=reporting,
        budgets=[
            ((b.find("period-start").get("iso-date") or ""), (b.find("period-end").get("iso-date") or ""))
            for b in act.findall("budget")
            if b.find("period-start") is not None and b.find("period-end") is not None
        ],
        transactions=[
            t.get("iso-date") or "" for t in act.findall("transaction/transaction-date") if t.get("iso-date")
        ],
        dates=[(d.get("type") or "", d.get("iso-date") or "") for d in act.findall("activity-date")],
    )
    base = {
        "source_org": _text(org),
        "source_org_ref": facts.reporting_org_ref,
        "activity_id": activity_id,
        "activity_title": _text(act.find("title")),
    }
    rows: list[dict[str, Any]] = []
    for n_result, result in enumerate(act.findall("result")):
        code = (result.get("type") or "").strip()
        ref = result.find("reference")
        rbase = {
            **base,
            "result_ref": ref.get("code", "").strip() if ref is not None else "",
            "result_title": _text(result.find("title")),
            "result_type": RESULT_TYPES.get(code, code),
        }
        for n_ind, ind in enumerate(result.findall("indicator")):
            ind_rows = _indicator_rows(ind, rbase)
            if code not in RESULT_TYPES:
                for r in ind_rows:
                    r["warnings"] = "; ".join(filter(None, [f"unknown result type code {code[:20]!r}", r["warnings"]]))
            for r in ind_rows:
                r["indicator_key"] = f"{n_result}.{n_ind}"
            rows += ind_rows
    return facts, rows


def _events(source: Path | bytes) -> Iterator[tuple[str, etree._Element]]:
    stream: Any = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
    return etree.iterparse(
        stream,
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def read_iati(source: str | os.PathLike | bytes, theme: str = "") -> IatiRead:
    """Read an IATI activity file (a path or its bytes) into its comparison table.

    Raises :class:`IatiFileError` (one sentence naming the file) when the file cannot be read,
    is not XML, declares a document type, or is not an ``iati-activities`` file.
    """
    name = "the IATI file" if isinstance(source, bytes) else Path(source).name
    src: Path | bytes = source if isinstance(source, bytes) else Path(source)
    try:
        if isinstance(src, bytes):
            head = src[:_PROLOG_BYTES]
        else:
            with open(src, "rb") as fh:
                head = fh.read(_PROLOG_BYTES)
    except OSError as exc:
        raise IatiFileError(f"{name}: cannot be read: {exc.strerror or exc}") from None
    _refuse_doctype(head, name)
    rows: list[dict[str, Any]] = []
    facts: list[ActivityFacts] = []
    generated = ""
    root_seen = False
    depth = 0
    etree.clear_error_log()  # the message below names this file's first error, not an earlier one's
    try:
        for event, el in _events(src):
            if event == "start":
                depth += 1
                if not root_seen:
                    root_seen = True
                    info = el.getroottree().docinfo
                    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
                        raise IatiFileError(_DOCTYPE_MESSAGE.format(name=name))
                    if el.tag != "iati-activities":
                        raise IatiFileError(
                            f"{name}: not an IATI activity file (its root element is {str(el.tag)[:60]!r}, "
                            "not 'iati-activities')"
                        )
                    generated = el.get("generated-datetime") or ""
                continue
            depth -= 1
            if el.tag == "iati-activity" and depth == 1:
                f, r = _activity(el, generated)
                facts.append(f)
                rows += r
                el.clear(keep_tail=False)
                parent = el.getparent()
                while parent is not None and el.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        first = next(iter(exc.error_log), None)
        where = f" (line {first.line}, column {first.column})" if first is not None else ""
        msg = ((first.message if first is not None else "") or str(exc)).split("\n")[0][:200] + where
        if "entity reference loop" in msg.lower() or "amplification" in msg.lower():
            raise IatiFileError(_DOCTYPE_MESSAGE.format(name=name)) from None
        raise IatiFileError(f"{name}: not well-formed XML: {msg}") from None
    if not root_seen:
        raise IatiFileError(f"{name}: empty file")
    table = pd.DataFrame(rows, columns=[*COLUMNS, "indicator_key"])
    table["theme"] = theme
    table["baseline_year"] = table["baseline_year"].astype("Int64")
    for col in ("baseline_value", "target", "actual"):
        table[col] = table[col].astype(float)
    table["ascending"] = table["ascending"].astype(bool)
    dates = {f.activity_id: f.reporting_date for f in facts}
    rule = row_rule_warnings(table, dates)
    by_activity = {f.activity_id: "; ".join(activity_problems(f)) for f in facts}
    table["warnings"] = [
        "; ".join(filter(None, (w, r, by_activity.get(a, ""))))
        for w, r, a in zip(table["warnings"].fillna(""), rule, table["activity_id"], strict=True)
    ]
    return IatiRead(table[list(COLUMNS)].reset_index(drop=True), facts, generated)
