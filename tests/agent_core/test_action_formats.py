"""Without a browser: dates and times as inputs take them, what counts as a field having taken a text, and the
new actions' parsing and schema (set_slider, hover, read_text, select_option with a list)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from agent_core.actions import (
    AGENT_STEP_SCHEMA,
    FormatRefused,
    Hover,
    ReadText,
    SelectOption,
    SetSlider,
    action_to_dict,
    normalise_value,
    parse_agent_step,
)
from agent_core.actions.fields import text_took
from agent_core.actions.formats import order_from_pattern
from agent_core.errors import InvalidModelOutputError


@pytest.mark.parametrize(
    ("input_type", "text", "order", "value"),
    [
        ("time", "8:22 AM", None, "08:22"),
        ("time", "8:22pm", None, "20:22"),
        ("time", "8:22 p.m.", None, "20:22"),
        ("time", "20:22", None, "20:22"),
        ("time", "12:05 am", None, "00:05"),
        ("time", "12 PM", None, "12:00"),
        ("time", "07:30:15", None, "07:30:15"),
        ("date", "2012-09-10", None, "2012-09-10"),
        ("date", "September 10, 2012", None, "2012-09-10"),
        ("date", "Monday, Sept. 10th, 2012", None, "2012-09-10"),
        ("date", "10 Sep 2012", None, "2012-09-10"),
        ("date", "25/10/2012", None, "2012-10-25"),  # a part above 12 can only be the day
        ("date", "10/25/2012", None, "2012-10-25"),
        ("date", "05/05/2012", None, "2012-05-05"),  # both orders agree
        ("date", "01.03.2027", None, "2027-03-01"),  # dotted dates are day first everywhere
        ("date", "09/10/2012", "MDY", "2012-09-10"),
        ("date", "09/10/2012", "DMY", "2012-10-09"),
        ("month", "September 2012", None, "2012-09"),
        ("month", "09/2012", None, "2012-09"),
        ("month", "2012-09", None, "2012-09"),
        ("week", "2012-W37", None, "2012-W37"),
        ("week", "week 37, 2012", None, "2012-W37"),
        ("week", "2012-09-10", None, "2012-W37"),  # the ISO week of that day
        ("datetime-local", "2012-09-10T08:22", None, "2012-09-10T08:22"),
        ("datetime-local", "2012-09-10 20:22", None, "2012-09-10T20:22"),
        ("datetime-local", "September 10, 2012 at 8:22 PM", None, "2012-09-10T20:22"),
        ("date", "", None, ""),  # clears the field
        ("text", "09/10/2012", None, "09/10/2012"),  # other inputs are left alone
    ],
)
def test_dates_and_times_are_normalised(input_type: str, text: str, order: str | None, value: str) -> None:
    assert normalise_value(input_type, text, order=order) == value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("input_type", "text", "message"),
    [
        (
            "date",
            "09/10/2012",
            "'09/10/2012' is ambiguous (September 10, 2012 or 9 October 2012; the page does not say which order "
            "it uses); this field takes YYYY-MM-DD: write 2012-09-10 or 2012-10-09",
        ),
        (
            "datetime-local",
            "09/10/2012 20:22",
            "'09/10/2012' is ambiguous (September 10, 2012 or 9 October 2012; the page does not say which order "
            "it uses); this field takes YYYY-MM-DDTHH:MM: write 2012-09-10 or 2012-10-09",
        ),
        ("date", "09/10/12", "'09/10/12' has a two-digit year; this field takes YYYY-MM-DD: e.g. 2024-03-31"),
        ("date", "02/30/2012", "'02/30/2012' is not a real date; this field takes YYYY-MM-DD: e.g. 2024-03-31"),
        ("date", "next Tuesday", "'next Tuesday' is not a date this field can read; this field takes YYYY-MM-DD"),
        ("time", "13:00 PM", "'13:00 PM' is not a time: 13 o'clock with pm; this field takes HH:MM (24-hour)"),
        ("time", "8", "'8' is not a time this field can read (hours and minutes?); this field takes HH:MM"),
        ("week", "2015-W54", "2015 has no week 54; this field takes YYYY-Www"),
        ("datetime-local", "2012-09-10", "is not a date and time this field can read; this field takes YYYY-MM-DDTHH:MM"),
    ],
)
def test_what_cannot_be_read_one_way_is_refused_with_the_format(input_type: str, text: str, message: str) -> None:
    with pytest.raises(FormatRefused) as refused:
        normalise_value(input_type, text)
    assert message in str(refused.value)


def test_date_order_from_a_pattern_the_page_writes() -> None:
    assert order_from_pattern("Date of birth (MM/DD/YYYY)") == "MDY"
    assert order_from_pattern("dd.mm.yyyy") == "DMY"
    assert order_from_pattern("jj/mm/aaaa") == "DMY"
    assert order_from_pattern("Departure date") is None


@pytest.mark.parametrize(
    ("expected", "held", "suggests", "took"),
    [
        ("Ada", "Ada", False, True),
        ("ada  lovelace", "Ada Lovelace", False, True),
        ("5551234567", "(555) 123-4567", False, True),  # a mask's punctuation
        ("1000", "$1,000.00", False, True),  # a number's formatting
        ("New notes", "New notes\n", False, True),  # a contenteditable's trailing line
        ("Egy", "Egypt", True, True),  # completed inline by a combobox
        ("Egy", "Egypt", False, False),
        ("SAVE10", "", False, False),
        ("902101234", "90210", False, False),  # cut by maxlength
        ("08:22", "", False, False),
        ("2012-09-10", "09/10/2012", False, True),  # a date picker writes the date its own way
        ("September 10, 2012", "2012-09-10", False, True),
        ("2012-09-10", "10/09/2012", False, True),
        ("2012-09-10", "09/11/2012", False, False),
        ("09/10/2012", "10/09/2012", False, False),  # both read two ways: nothing says they agree
        ("8:22 PM", "20:22", False, True),
        ("8:22 PM", "08:22", False, False),
    ],
)
def test_what_counts_as_a_field_having_taken_a_text(expected: str, held: str, suggests: bool, took: bool) -> None:
    assert text_took(expected, held, suggests=suggests) is took


def test_new_actions_parse_from_what_models_write() -> None:
    step = parse_agent_step(
        {
            "thinking": "",
            "goal_achieved": False,
            "actions": [
                {"action_type": "select_option", "element_id": "e1", "option": ["Olives", "Mushrooms", "Olives"]},
                {"action_type": "select_option", "element_id": "e1", "option": [{"label": "Olives"}, 3]},
                {"action_type": "slider", "element_id": "e2", "value": "65%"},
                {"action_type": "set_slider", "element_id": "e2", "value": 7.5},
                {"action_type": "mouse_over", "element_id": "e3"},
                {"action_type": "read_text", "element_id": "e4", "offset": None},
                {"action_type": "read", "element_id": "e4", "offset": 4000},
            ],
        }
    )
    multiple, mixed, slider, half, hover, read, more = step.actions
    assert isinstance(multiple, SelectOption) and multiple.options == ["Olives", "Mushrooms"]
    assert isinstance(mixed, SelectOption) and mixed.option == ["Olives", "3"]
    assert isinstance(slider, SetSlider) and slider.value == 65 and isinstance(slider.value, int)
    assert isinstance(half, SetSlider) and half.value == 7.5
    assert isinstance(hover, Hover) and isinstance(read, ReadText) and read.offset == 0
    assert isinstance(more, ReadText) and more.offset == 4000
    as_dicts = [action_to_dict(action) for action in step.actions]
    assert as_dicts[2] == {"action_type": "set_slider", "element_id": "e2", "reasoning": "", "value": 65}
    jsonschema.validate({"thinking": "", "goal_achieved": False, "actions": as_dicts}, AGENT_STEP_SCHEMA)
    assert json.loads(json.dumps(as_dicts)) == as_dicts


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ({"action_type": "set_slider", "element_id": "e2", "value": "loud"}, "value must be a number, not 'loud'"),
        ({"action_type": "set_slider", "element_id": "e2"}, "missing 'value' for set_slider"),
        ({"action_type": "set_slider", "element_id": "e2", "value": True}, "value must be a number"),
        ({"action_type": "hover"}, "hover needs an element_id"),
        ({"action_type": "read_text", "element_id": "e4", "offset": -5}, "'offset' for read_text"),
    ],
)
def test_new_actions_refuse_what_they_cannot_do(action: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidModelOutputError, match=reason):
        parse_agent_step({"actions": [action]})
