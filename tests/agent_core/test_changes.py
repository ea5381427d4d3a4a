"""The change report on its own: what agent_core.changes says about two page reads, and how much."""

from __future__ import annotations

from dataclasses import replace

from agent_core.changes import ChangeReport, measure_change
from agent_core.scraper import Element, ScrapeResult


def page(*elements: Element, url: str = "https://a.example/", text: str = "", doc: str = "d1") -> ScrapeResult:
    return ScrapeResult(url=url, title="A", elements=list(elements), listing="", tree=[], html="", text=text, doc_token=doc)


def element(id: str, **kwargs: object) -> Element:  # noqa: A002 - the field's name
    defaults: dict[str, object] = {"tag": "button", "attrs": {}, "text": "", "frame_path": (), "rect": (0, 0, 1, 1), "doc_token": "d1"}
    return Element(id=id, **{**defaults, **kwargs})  # type: ignore[arg-type]


def test_report_of_nothing_and_of_a_new_page() -> None:
    before = page(element("e1", text="Go"), text="Go")
    quiet = measure_change(action={"action_type": "click", "element_id": "e1"}, before=before, after=before)
    assert quiet == ChangeReport(target="e1") and quiet.summary() == "no visible change"
    moved = measure_change(
        action={"action_type": "click", "element_id": "e1"},
        before=before,
        after=page(element("e1", text="Other", doc_token="d2"), url="https://a.example/b", doc="d2", text="Other"),
    )
    assert moved.summary() == "new page https://a.example/b" and not moved.appeared


def test_report_is_bounded_and_names_what_appeared_changed_and_the_value() -> None:
    field = element("e1", tag="input", input_type="text", label="Country", value="")
    before = page(field, element("e2", text="More", expanded=False), text="Country\nMore")
    many = [element(f"e{n}", tag="li", role="option", text=f"Option {n} " + "x" * 60) for n in range(3, 40)]
    after = page(
        replace(field, value="Egy"),
        element("e2", text="More", expanded=True),
        *many,
        text="Country\nMore\n" + "\n".join(f"Line {n} " + "y" * 200 for n in range(30)),
    )
    report = measure_change(action={"action_type": "input_text", "element_id": "e1", "text": "Egy"}, before=before, after=after)
    assert report.appeared_total == 37 and len(report.appeared) == 4 and report.text_total == 30
    assert report.changed == ('[e2] button "More" now expanded',) and report.value == "Egy" and report.value_changed
    summary = report.summary()
    assert len(summary) <= 300 and summary.startswith('37 new: [e3] option "Option 3 xxx')
    data = report.to_data()
    assert data["appeared_total"] == 37 and data["value"] == "Egy" and "url" not in data
