"""A unit's page with few widgets (rbm_utils.serve.grouped): runs of sections in one Output, each
section's HTML in its own ``div``, the evidence's charts drawn when the reader asks."""

from __future__ import annotations

from rbm_utils.serve.grouped import ON_DEMAND, WIDGET_VIEW, SectionGroups, grouped
from rbm_utils.serve.widgets import FIGURE_MIME, PlotlyJSON, Unshown, html, show, titled


def fig(title: str) -> PlotlyJSON:
    return PlotlyJSON(data=[{"type": "bar", "y": [1]}], layout={"title": {"text": title}})


def section(name: str, heading: str, *items) -> Unshown:
    s = titled(Unshown(), heading)
    show(s, *items)
    return s


def test_each_section_keeps_its_order_heading_and_class():
    money = section("money", "Money & people", fig("Spent"), html("<table>m</table>"), fig("Flows"))
    out = grouped([("money", money.outputs)], lambda name, i, item: {"chart": (name, i)})
    assert [o.get("chart") or o["data"]["text/html"] for o in out] == [
        '<div class="rbm-money"><h3>Money &amp; people</h3></div>',
        ("money", 0),
        '<div class="rbm-money"><table>m</table></div>',
        ("money", 1),
    ]


def test_evidence_charts_wait_for_the_reader_and_stay_drawn():
    groups = SectionGroups()
    first, second = groups.add("summary"), groups.add("risk")
    groups.end_run()
    third, fourth = groups.add("money", alone=True), groups.add("taken")
    assert first is not None and second is None and third is not None and fourth is not None
    runs = [(names, alone) for _, names, alone in groups.groups]
    assert runs == [(["summary", "risk"], False), (["money"], True), (["taken"], False)]
    outs = {
        "summary": section("summary", "Summary", html("<table>s</table>"), fig("Status")),
        "risk": section("risk", "Risks", fig("Open risks"), html("<table>r</table>")),
        "money": section("money", "Money", fig("Spent")),
        "taken": section("taken", "Decisions", html("<p>none</p>")),
    }
    groups.compose(outs)
    shown = [o["data"] for o in first.outputs]
    assert FIGURE_MIME in shown[1]  # the summary's chart comes with the page
    risk = groups.slots[("risk", 0)]
    assert shown[3][WIDGET_VIEW]["model_id"] == risk.out.model_id  # the risks' chart: a slot
    assert risk.out.outputs[0]["data"][WIDGET_VIEW]["model_id"] == risk.button.model_id
    assert risk.button.description == "Show the chart: Open risks"
    before = first.outputs
    risk.button.click()
    assert risk.out.outputs == (outs["risk"].outputs[1],) and first.outputs == before  # only the slot redraws
    show(outs["risk"], fig("Open risks, one programme"))  # a filter redraws the section
    groups.compose(outs)
    assert chart_of(risk) == "Open risks, one programme"  # still drawn, the new chart
    assert groups.slots[("money", 0)].out.outputs[0]["data"].get(WIDGET_VIEW)  # not asked: still a button
    assert third._dom_classes == ("rbm-money",) and "rbm-money" not in str(third.outputs)  # its own Output, no div
    assert fourth.outputs[0]["data"]["text/html"] == '<div class="rbm-taken"><h3>Decisions</h3><p>none</p></div>'
    assert {"toc", "risk", "money", "funding"} == ON_DEMAND


def chart_of(slot) -> str:
    return slot.out.outputs[0]["data"][FIGURE_MIME]["layout"]["title"]["text"]
