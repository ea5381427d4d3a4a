"""A recorded run and its script, made through the services without running anything (the document is the
shape agent_core.replay records), for tests of the doors that replay it; and the fake model's script of a
real run to record (the job site's form, filled with the payload's values)."""

from __future__ import annotations

import copy

from tasks_app import services
from tasks_app.models import Task
from tasks_app.services.scripts import save_script
from tests.scripting import act, element_id, page_url, step

DOCUMENT = {
    "format": 1,
    "url": "https://example.test/signup",
    "navigation_goal": "Sign up with the payload's email",
    "data_extraction_goal": "",
    "extraction_schema": None,
    "steps": [
        {
            "action": "input_text",
            "params": {"text": {"payload": "email"}},
            "target": {"role": "textbox", "name": "Email", "attrs": {"name": "email"}},
            "expect": {"change": 'value now "..."'},
            "listing_line": "[e3] <input name=email placeholder=\"Work email\">",
        },
        {
            "action": "click",
            "params": {},
            "target": {"role": "button", "name": "Sign up"},
            "expect": {"url": "https://example.test/signup/review"},
            "listing_line": "[e4] <button>Sign up</button>",
        },
    ],
    "extraction": None,
}


def recorded_run(org, user, **fields) -> Task:
    """A completed dom run that recorded version 1 of a script."""
    request = {"url": "https://example.test/signup", "navigation_goal": "Sign up with the payload's email",
               "navigation_payload": {"email": "ada@example.test", "plan": "pro"}, **fields}
    task = services.create_task(organization=org, created_by=user, start=False, **request)
    Task.objects.filter(pk=task.pk).update(status=Task.Status.COMPLETED)
    save_script(task_id=task.pk, document=copy.deepcopy(DOCUMENT), healed_steps=[], reason="recorded")
    task.refresh_from_db()
    return task


ADA = {"full_name": "Ada Lovelace", "email": "ada@example.test", "start": "2027-01-04"}
GRACE = {"full_name": "Grace Hopper", "email": "grace@example.test", "start": "2027-02-01"}


def apply_with_payload(req):
    """The fake model's replies on the job site: the form filled with ADA's values, then done."""
    if "documents" in page_url(req):
        return step(act("complete"), goal_achieved=True)
    return step(
        act("input_text", element_id(req, r"name=full_name"), text=ADA["full_name"]),
        act("input_text", element_id(req, r"name=email"), text=ADA["email"]),
        act("select_option", element_id(req, r"<select"), option="France"),
        act("checkbox", element_id(req, r"type=radio", r'value="?mid'), checked=True),
        act("input_text", element_id(req, r"name=start_date"), text=ADA["start"]),
        act("checkbox", element_id(req, r"name=terms"), checked=True),
        act("click", element_id(req, r"<button")),
    )
