"""Listing lines of the state a person sees (issue 19), without a browser: popups, open or closed, ranges,
formats, cut values, several choices."""

from __future__ import annotations

from agent_core.scraper import Element


def test_state_words_on_a_line() -> None:
    def line(**fields) -> str:  # type: ignore[no-untyped-def]
        base = {"id": "e1", "tag": "span", "attrs": {}, "text": "", "frame_path": (), "rect": (0.0, 0.0, 1.0, 1.0)}
        return Element(**{**base, **fields}).to_line()

    assert line(text="File", attrs={"role": "menuitem"}, haspopup="menu", expanded=False) == (
        "[e1] <span role=menuitem haspopup=menu collapsed>File</span>"
    )
    assert line(text="File", expanded=True) == "[e1] <span expanded>File</span>"
    assert line(attrs={"role": "slider"}, label="Volume", value="40", value_min="0", value_max="100", valuetext="Loud") == (
        '[e1] <span role=slider label="Volume" value="40" valuetext="Loud" min=0 max=100>'
    )
    assert line(tag="input", input_type="time", value="", value_format="HH:MM:SS", value_step="1") == (
        '[e1] <input type=time value="" step=1 format="HH:MM:SS">'
    )
    assert line(tag="textarea", value="a\u2026", truncated=True) == '[e1] <textarea value="a\u2026" truncated>'
    options = [{"label": "A", "value": "a", "selected": True}, {"label": "B", "value": "b", "selected": True}]
    assert line(tag="select", value="a,b", options=options, options_total=2, multiple=True) == (
        '[e1] <select options="A (a)*|B (b)*" multiple>'
    )
