"""The Script document: validation with errors that name the step, payload references both ways, the listing
key locators compare, and how locators decide on an element (no browser)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agent_core.errors import InvalidTaskError
from agent_core.replay.locators import decide, listing_key
from agent_core.replay.script import Script, ScriptError, fill_references, reference_payload, references
from agent_core.runner import validate_spec
from agent_core.scraper import Element, ScrapeResult
from agent_core.secrets import MaskingHooks, Secrets
from agent_core.types import RunHooks, ScriptOut, TaskSpec

DOC: dict[str, Any] = {
    "format": 1,
    "url": "https://orbit.test/join",
    "navigation_goal": "Sign up",
    "data_extraction_goal": "",
    "extraction_schema": None,
    "recorded": {"model_calls": 3, "input_tokens": 900, "output_tokens": 90},
    "steps": [
        {"action": "input_text", "params": {"text": {"payload": "email"}},
         "target": {"role": "textbox", "name": "Email", "attrs": {"name": "email"}}, "expect": {"url": "https://orbit.test/join"}},
        {"action": "input_text", "params": {"text": "{{orbit.password}}"}, "target": {"label": "Password"}, "expect": {}},
        {"action": "checkbox", "params": {"checked": True}, "target": {"label": "I accept"}, "expect": {}},
        {"action": "goto_url", "params": {"url": "https://orbit.test/review"}, "target": None, "expect": {}},
        {"action": "click", "params": {}, "target": {"text": "Create account", "css": "html > body > button"},
         "listing_line": "<button>Create account</button>", "expect": {"navigates": True}},
    ],
    "extraction": None,
}  # fmt: skip


def broken(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOC)
    for path, value in changes.items():
        where: Any = doc
        keys = path.split("__")
        for key in keys[:-1]:
            where = where[int(key)] if key.isdigit() else where[key]
        where[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return doc


def test_a_document_round_trips() -> None:
    script = Script.from_dict(DOC)
    assert script.to_dict() == DOC
    assert [s.describe() for s in script.steps] == [
        'input_text "Email"', 'input_text "Password"', 'checkbox "I accept"', "goto_url", 'click "Create account"']  # fmt: skip
    assert references(script) == {"email"}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "a script must be a JSON object"),
        (broken(format=2), "unknown script format 2"),
        (broken(url="file:///etc/passwd"), "a script needs the http(s) URL it starts at"),
        (broken(steps=[]), "a script needs a non-empty list of steps"),
        (broken(steps__0__action="complete"), "script step 1: unknown or unreplayable action 'complete'"),
        (broken(steps__2__params={"checked": "maybe"}), "script step 3: checked: Input should be a valid boolean"),
        (broken(steps__0__params={"text": {"payload": ""}}), "script step 1: params.text: a payload reference names a key"),
        (broken(steps__0__params={"text": {"value": 1}}), "script step 1: params.text: an object that is not a payload"),
        (broken(steps__4__target=None), "script step 5: click needs a target element"),
        (broken(steps__3__target={"text": "Go"}), "script step 4: goto_url does not act on an element"),
        (broken(steps__4__target={"xpath": "//button"}), "script step 5: unknown locator 'xpath'"),
        (broken(steps__4__target={"tag": "button"}), "script step 5: target has no locator to find its element by"),
        (broken(steps__1__expect="soon"), "script step 2: expect must be an object"),
        (broken(extraction={"fields": [{"path": ["a"]}]}), "the script's extraction field 1 needs a css selector"),
    ],
)
def test_bad_documents_are_refused_naming_the_problem(doc: Any, message: str) -> None:
    with pytest.raises(ScriptError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        Script.from_dict(doc)


def test_payload_values_become_references_and_replays_type_their_own_payload() -> None:
    spec = TaskSpec(
        url="https://orbit.test/join",
        navigation_goal="x",
        navigation_payload={"email": "ada@example.test", "card": "4111 1111 1111 1111", "age": 36, "note": "FR"},
        secret_payload_keys=("card",),
    )
    public = Secrets.public_spec(spec).navigation_payload  # what the model typed from
    assert reference_payload({"text": "ada@example.test"}, public) == {"text": {"payload": "email"}}
    assert reference_payload({"text": "{{payload.card}}"}, public) == {"text": {"payload": "card"}}
    assert reference_payload({"text": "36", "option": "FR"}, public) == {"text": {"payload": "age"}, "option": {"payload": "note"}}
    assert reference_payload({"text": "{{orbit.password}}", "checked": True}, public) == {
        "text": "{{orbit.password}}", "checked": True}  # fmt: skip
    assert reference_payload({"text": "Ada"}, None) == {"text": "Ada"}
    # A replay types the new payload's values; a secret key's placeholder, which the executor reveals.
    again = Secrets.public_spec(
        TaskSpec(url=spec.url, navigation_goal="x", navigation_payload={"email": "g@h.test", "card": "5500", "age": 41},
                 secret_payload_keys=("card",))  # fmt: skip
    ).navigation_payload
    assert fill_references({"text": {"payload": "email"}}, again) == {"text": "g@h.test"}
    assert fill_references({"text": {"payload": "card"}}, again) == {"text": "{{payload.card}}"}
    assert fill_references({"text": {"payload": "age"}}, again) == {"text": "41"}
    with pytest.raises(ScriptError, match="payload value 'note', which this task's payload lacks"):
        fill_references({"option": {"payload": "note"}}, again)


def test_validate_spec_checks_run_with_and_the_script() -> None:
    base = TaskSpec(url="https://orbit.test/join", navigation_goal="x", navigation_payload={"email": "a@b.test"})
    validate_spec(TaskSpec(url=base.url, navigation_goal="x", run_with="script", script=DOC, navigation_payload={"email": "a"}))
    for spec, message in [
        (TaskSpec(url=base.url, navigation_goal="x", run_with="code"), 'run_with must be "agent" or "script"'),
        (TaskSpec(url=base.url, navigation_goal="x", run_with="script"), "needs the script to replay"),
        (TaskSpec(url=base.url, navigation_goal="x", run_with="script", script=DOC), "payload value 'email'"),
        (TaskSpec(url=base.url, navigation_goal="x", run_with="script", script=broken(format=0)), "unknown script format"),
    ]:
        with pytest.raises(InvalidTaskError, match=message):
            validate_spec(spec)


def test_listing_keys_leave_out_what_a_run_changes() -> None:
    assert listing_key('[e4] (new) <input type=text name=email label="Email" value="ada@x.test" required>') == (
        '<input type=text name=email label="Email" required>'
    )
    assert listing_key("[e9] <select name=plan value=\"pro\" options=\"Choose|Pro*|Team\">") == (
        '<select name=plan options="Choose|Pro|Team">'
    )
    assert listing_key("[e2] <input type=checkbox name=terms checked>") == "<input type=checkbox name=terms>"


def _page(*ids: str) -> ScrapeResult:
    elements = [Element(id=i, tag="button", attrs={}, text=i, frame_path=(), rect=(0, 0, 1, 1)) for i in ids]
    return ScrapeResult(url="https://x.test/", title="", elements=elements, listing="", tree=[], html="", text="")


def test_locators_agree_or_the_best_unique_match_wins_with_the_disagreement_said() -> None:
    page = _page("e1", "e2", "e3")
    agree = decide(page, {"role_name": ["e2"], "id": ["e2"], "css": ["e2"]})
    assert agree.element and agree.element.id == "e2" and agree.disagreed == {}
    best = decide(page, {"role_name": ["e2"], "label": ["e2"], "id": ["e1"], "css": [], "text": ["e1", "e3"]})
    assert best.element and best.element.id == "e2"
    assert best.disagreed == {"id": "another element (e1)", "css": "no match", "text": "2 matches"}
    tie = decide(page, {"role_name": ["e2"], "id": ["e1"]})
    assert tie.element is None and "different elements" in tie.problem
    assert decide(page, {"css": ["e3"]}).problem.startswith("only its position in the page still matches")
    assert decide(page, {"role_name": [], "id": []}).problem == "no element matches its recorded locators"
    assert decide(page, {"text": ["e1", "e2"]}).problem == "its locators match several elements"


async def test_masking_hooks_mask_secrets_out_of_a_script() -> None:
    kept: list[ScriptOut] = []

    class Keep(RunHooks):
        async def script(self, event: ScriptOut) -> None:
            kept.append(event)

    secrets = Secrets(payload={"card": "4111 1111 1111 1111"})
    document = {**DOC, "steps": [{**DOC["steps"][0], "listing_line": '<input name=card value="4111 1111 1111 1111">'}]}
    await MaskingHooks(Keep(), secrets).script(ScriptOut(document=document, healed_steps=[1], reason="repaired"))
    assert "4111" not in str(kept[0].document) and kept[0].healed_steps == [1] and kept[0].reason == "repaired"
