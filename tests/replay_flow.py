"""The sign-up flow of tests/sites/replay/ for replay tests and bench/replay.py: its task, two payloads, and a
fake model that does it from what the prompt shows (10 actions over two pages, then an extraction)."""

from __future__ import annotations

import re
from typing import Any

from agent_core.types import TaskSpec
from tests.fakes.openai_server import FakeRequest, Reply, reply_json
from tests.scripting import act, element_id, is_extraction, page_url, step
from tests.sites.server import TestSite, replay_account

SCHEMA = {
    "type": "object",
    "properties": {
        "username": {"type": "string"},
        "plan": {"type": "string"},
        "account_number": {"type": "string"},
    },
    "required": ["username", "plan", "account_number"],
}
ADA = {"full_name": "Ada Lovelace", "email": "ada@example.test", "username": "ada_l", "password": "engine-1843",
       "phone": "+44 20 7946 0018", "plan": "Pro"}  # fmt: skip
GRACE = {"full_name": "Grace Hopper", "email": "grace@example.test", "username": "amazing_grace",
         "password": "cobol-1959", "phone": "+1 202 555 0148", "plan": "Team"}  # fmt: skip
NOTICE = "This run replays a recorded script"  # how a replay's request for one step begins its notice


def signup_spec(site: TestSite, payload: dict[str, str], **kwargs: Any) -> TaskSpec:
    return TaskSpec(
        url=site.url("/replay/"),
        navigation_goal="Sign up for an Orbit account with the payload's details, newsletter included.",
        data_extraction_goal="The new account's username, plan and account number.",
        extracted_information_schema=SCHEMA,
        navigation_payload=payload,
        secret_payload_keys=("password",),
        **kwargs,
    )


def expected_extraction(payload: dict[str, str]) -> dict[str, str]:
    return {"username": payload["username"], "plan": payload["plan"], "account_number": replay_account(payload["username"])}


def signup_model(payload: dict[str, str]):  # type: ignore[no-untyped-def]
    """Fills the form from the listing, confirms, completes; extracts from the page text; asked to repair one
    replay step, does only that (the button to go on); with no form on the page, gives up."""

    def script(req: FakeRequest) -> Reply:
        text = req.user_text()
        if is_extraction(req):
            found = {key: re.search(rf"{label}\s*\n?\s*(\S+)", text) for key, label in
                     (("username", "Username"), ("plan", "Plan"), ("account_number", "Account number"))}  # fmt: skip
            return reply_json({key: match.group(1) if match else "" for key, match in found.items()})
        url = page_url(req)
        if url.endswith("/replay/confirm"):
            return step(act("complete", reasoning="welcome page"), goal_achieved=True)
        if url.endswith("/replay/signup"):
            return step(act("click", element_id(req, r"<button", r"Create account|Open my account")))
        if "<input" not in text.split("# Elements on the page", 1)[1]:
            return step(act("terminate", reasoning="there is no sign-up form on this page"))
        if NOTICE in text:  # the button that goes on now: the form's last one
            buttons = re.findall(r"^\[(\w+)\][^\n]*<button", text.split("# Elements on the page", 1)[1], re.M)
            return step(act("click", buttons[-1]))
        return step(
            act("input_text", element_id(req, r'label="Full name"'), text=payload["full_name"]),
            act("input_text", element_id(req, r'placeholder="you@example.com"'), text=payload["email"]),
            act("input_text", element_id(req, r'label="Username"'), text=payload["username"]),
            act("input_text", element_id(req, r"type=password"), text="{{payload.password}}"),
            act("input_text", element_id(req, r'label="Phone"'), text=payload["phone"]),
            act("select_option", element_id(req, r"<select"), option=payload["plan"]),
            act("checkbox", element_id(req, r"newsletter"), checked=True),
            act("checkbox", element_id(req, r"terms"), checked=True),
            act("click", element_id(req, r"<button", "Continue")),
        )

    return script
