"""The step and extraction prompts: what they carry, and that template mistakes fail loudly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import jinja2
import pytest

from agent_core.prompts import PAGE_TEXT_LIMIT, render_extraction_prompt, render_step_prompt, render_template
from agent_core.types import TaskSpec

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
LISTING = '[e12] <input name=email placeholder="Work email">\nNewsletter\n[e13] <button>Subscribe</button>'
SPEC = TaskSpec(
    url="https://shop.example/signup",
    navigation_goal="Subscribe to the newsletter with the given email.",
    data_extraction_goal="The confirmation number shown after subscribing.",
    navigation_payload={"email": "ada@example.com", "name": "Ada Lovelace"},
    error_code_mapping={"ALREADY_SUBSCRIBED": "the site says this email is already subscribed"},
)
HISTORY = [
    {
        "step": 1,
        "action_type": "input_text",
        "element_id": "e12",
        "reasoning": "Fill in the email.",
        "success": True,
        "error": None,
        "text": "ada@example.com",
    },
    {
        "step": 1,
        "action_type": "click",
        "element_id": "e13",
        "reasoning": "Submit the form.",
        "success": False,
        "error": "element is not visible",
    },
]


def step_prompt(**overrides: object) -> tuple[str, str]:
    args: dict[str, object] = {
        "spec": SPEC,
        "current_url": "https://shop.example/signup?step=2",
        "element_listing": LISTING,
        "history": HISTORY,
        "now": NOW,
    }
    args.update(overrides)
    return render_step_prompt(**args)  # type: ignore[arg-type]


def test_step_prompt_carries_the_task() -> None:
    system, user = step_prompt()

    assert SPEC.navigation_goal in user
    assert json.dumps(SPEC.navigation_payload, indent=2) in user
    assert "Type these values into the form fields" in user
    assert SPEC.data_extraction_goal in user
    assert "if one of these applies, terminate with its code" in user
    assert "- ALREADY_SUBSCRIBED: the site says this email is already subscribed" in user
    assert "Start URL: https://shop.example/signup\n" in user
    assert "Current URL: https://shop.example/signup?step=2" in user
    assert "2025-03-04T05:06:07+00:00" in user
    assert LISTING in user  # verbatim


def test_step_prompt_shows_earlier_actions_and_their_results() -> None:
    _, user = step_prompt()
    assert '- step 1: input_text [e12] text="ada@example.com" -> ok (Fill in the email.)' in user
    assert "- step 1: click [e13] -> FAILED: element is not visible (Submit the form.)" in user

    _, first = step_prompt(history=[])
    assert "(none yet: this is the first step)" in first


def test_step_prompt_leaves_out_what_the_task_does_not_set() -> None:
    _, user = step_prompt(spec=TaskSpec(url="https://a.example", navigation_goal="Find the price."))
    assert "Navigation payload" not in user
    assert "Data extraction goal" not in user
    assert "Error codes" not in user


def test_step_system_prompt_explains_the_reply_format() -> None:
    system, _ = step_prompt()
    for field in (
        '"thinking"',
        '"goal_achieved"',
        '"actions"',
        '"action_type"',
        '"element_id"',
        '"reasoning"',
    ):
        assert field in system
    for action, param in [
        ("click", None),
        ("input_text", '"text"'),
        ("select_option", '"option"'),
        ("checkbox", '"checked"'),
        ("upload_file", '"file_url"'),
        ("scroll", '"direction"'),
        ("keypress", '"keys"'),
        ("wait", '"seconds"'),
        ("goto_url", '"url"'),
        ("go_back", None),
        ("complete", None),
        ("terminate", '"errors"'),
    ]:
        line = next(line for line in system.splitlines() if line.startswith(f'- "{action}"'))
        if param:
            assert param in line, line
    assert '"up" or "down"' in system
    assert '["Enter"]' in system
    assert '"error_code"' in system
    assert "element_id must be one of the ids in the current listing" in system
    assert "JSON" in system


def test_step_prompt_time_defaults_to_now_in_utc() -> None:
    _, user = step_prompt(now=None)
    stamp = user.split("Current date and time (UTC): ")[1].split("\n")[0]
    assert abs(datetime.fromisoformat(stamp) - datetime.now(UTC)) < timedelta(minutes=1)

    _, user = step_prompt(now=datetime(2025, 3, 4, 7, 6, 7, tzinfo=timezone(timedelta(hours=2))))
    assert "2025-03-04T05:06:07+00:00" in user


def test_string_payload_is_shown_as_is() -> None:
    _, user = step_prompt(spec=TaskSpec(url="https://a.example", navigation_payload="order #123"))
    assert "order #123" in user
    assert '"order #123"' not in user


def test_extraction_prompt() -> None:
    schema = {"type": "object", "properties": {"confirmation": {"type": "string"}}}
    system, user = render_extraction_prompt(
        spec=SPEC,
        current_url="https://shop.example/thanks",
        page_text="Thanks! Your number is 4711.",
        schema=schema,
        now=NOW,
    )
    assert SPEC.data_extraction_goal in user
    assert "Current URL: https://shop.example/thanks" in user
    assert "Thanks! Your number is 4711." in user
    assert json.dumps(schema, indent=2) in user
    assert "truncated" not in user
    assert "JSON" in system and "schema" in system


def test_extraction_prompt_without_schema_still_asks_for_json() -> None:
    # json_object mode: the real API refuses a request whose messages never mention JSON.
    system, user = render_extraction_prompt(
        spec=SPEC, current_url="https://a.example", page_text="x", schema=None
    )
    assert "JSON schema" not in user
    assert "JSON object" in system


def test_long_page_text_is_truncated_and_says_so() -> None:
    text = "word " * 10_000 + "THE-END"
    _, user = render_extraction_prompt(
        spec=SPEC, current_url="https://a.example", page_text=text, schema=None
    )
    assert "THE-END" not in user
    assert f"truncated: the first {PAGE_TEXT_LIMIT} of {len(text)} characters" in user
    assert len(user) < PAGE_TEXT_LIMIT + 2_000


def test_strict_undefined_catches_template_mistakes() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render_template("step_user.j2", navigation_goal="only this")
    with pytest.raises(jinja2.UndefinedError):
        render_template("extract_user.j2")


def test_step_prompt_shows_what_each_action_changed_and_warns_about_repeats() -> None:
    changed = [{**HISTORY[0], "changes": '1 new: [e31] option "Egypt"; [e12] value now "ada@example.com"'}]
    note = "You have already done click [e13] 3 times on this page as it is now, and it is still the same."
    system, user = step_prompt(history=changed, warnings=[note])
    assert (
        '- step 1: input_text [e12] text="ada@example.com" -> ok; 1 new: [e31] option "Egypt"; '
        '[e12] value now "ada@example.com" (Fill in the email.)'
    ) in user
    assert f"Notice:\n- {note}\n" in user
    assert "Notice:" not in step_prompt()[1]
    # the system prompt says how to read the reports and the "(new)" mark
    assert '"no visible change"' in system and "(new)" in system


def test_step_system_prompt_documents_what_a_person_does_and_the_listing_words() -> None:
    system, _ = step_prompt()
    lines = {line.split('"')[1]: line for line in system.splitlines() if line.startswith('- "')}
    assert '"value"' in lines["set_slider"] and "role=slider" in lines["set_slider"]
    assert "hover" in lines["hover"] and "submenus" in lines["hover"]
    assert '"offset"' in lines["read_text"] and "4000 characters" in lines["read_text"]
    assert '["Red", "Blue"]' in lines["select_option"] and "exactly those" in lines["select_option"]
    # the listing's words (agent_core/js/scraper.js; /work/notes/listing-attrs.md) are explained
    for word in ("`expanded` / `collapsed`", "`haspopup=menu`", "`multiple`", "`truncated`", "`min=`", "`format=`"):
        assert word in system, word
    assert 'format="YYYY-MM-DD"' in system and 'format="HH:MM"' in system
    assert "09/10/2012" in system and "refused" in system
    assert "the action FAILED and says what the field holds now" in system


READ = {"step": 2, "action_type": "read_text", "element_id": "e7", "reasoning": "Read the terms.", "success": True,
        "error": None, "changes": "no visible change"}  # fmt: skip


def test_read_text_is_shown_whole_right_after_it_and_counted_later() -> None:
    part = {"text": 'Terms "one"\nthe end', "offset": 0, "total": 19}
    _, user = step_prompt(history=[*HISTORY, {**READ, "read": part}])
    assert (
        '- step 2: read_text [e7] -> ok; its whole text (19 characters): "Terms \\"one\\"\\nthe end" (Read the terms.)'
    ) in user
    cut = {"text": "x" * 4000, "offset": 4000, "total": 9000}
    _, user = step_prompt(history=[{**READ, "read": cut}])
    assert f'read_text [e7] -> ok; characters 4000 to 8000 of its 9000; read_text with offset 8000 reads on: "{"x" * 4000}"' in user
    later = {**HISTORY[0], "step": 3}
    _, user = step_prompt(history=[{**READ, "read": cut}, later])
    assert "- step 2: read_text [e7] -> ok; it held 9000 characters (no longer shown: read it again if you need it)" in user
    assert "x" * 301 not in user
