"""The new-task form: creates through services.create_task, shows each field's error next to it, keeps what
was typed, pre-fills "Run again", and is closed to viewers."""

import json
import re

import pytest
from django.urls import reverse

from tasks_app.models import Task
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

VALID = {
    "url": "https://shop.example.test/",
    "title": "Newsletter",
    "navigation_goal": "Sign up for the newsletter",
    "data_extraction_goal": "",
    "extracted_information_schema": "",
    "navigation_payload": "",
    "error_code_mapping": "",
    "engine": "dom",
    "model": "",
    "max_steps": "5",
    "webhook_callback_url": "",
}


def field_error(html: str, field: str) -> str:
    """The text of the error element next to a field."""
    match = re.search(rf'<p class="field-error" id="id_{field}_error">(.*?)</p>', html, re.S)
    assert match, f"no error element for {field}"
    return match.group(1).strip()


def test_form_renders_a_labelled_input_for_every_field(client, operator):
    client.force_login(operator)
    page = client.get(reverse("task-new")).content.decode()
    for field in VALID:
        assert f'<label for="id_{field}">' in page
        assert f'id="id_{field}"' in page
        assert re.search(rf'aria-describedby="[^"]*id_{field}_error"', page)
    assert 'data-json="object"' in page and 'data-json="any"' in page  # the client-side JSON checks
    assert "js/task-form.js" in page


def test_valid_submission_creates_and_redirects(client, operator, org, settings):
    settings.LOOKOUT_MODELS = ["gpt-4o", "my-model"]
    client.force_login(operator)
    data = {
        **VALID,
        "data_extraction_goal": "The confirmation number",
        "extracted_information_schema": '{"type": "object", "properties": {"number": {"type": "string"}}}',
        "navigation_payload": '{"email": "ada@example.com"}',
        "error_code_mapping": '{"SOLD_OUT": "the item is sold out"}',
        "engine": "cua",
        "model": "my-model",
        "webhook_callback_url": "https://hooks.example.test/x",
    }
    response = client.post(reverse("task-new"), data)
    task = Task.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("task-detail", args=[task.pk])
    assert task.organization == org and task.created_by == operator
    assert task.status == "queued"
    assert task.extracted_information_schema == {"type": "object", "properties": {"number": {"type": "string"}}}
    assert task.navigation_payload == {"email": "ada@example.com"}
    assert task.error_code_mapping == {"SOLD_OUT": "the item is sold out"}
    assert (task.engine, task.model, task.max_steps) == ("cua", "my-model", 5)
    assert task.webhook_callback_url == "https://hooks.example.test/x"
    assert "Task created" in client.get(response["Location"]).content.decode()


def test_empty_optional_fields_use_defaults(client, operator, settings):
    client.force_login(operator)
    client.post(reverse("task-new"), {**VALID, "max_steps": ""})
    task = Task.objects.get()
    assert task.max_steps == min(settings.LOOKOUT_DEFAULT_MAX_STEPS, 25)
    assert task.navigation_payload is None and task.error_code_mapping is None


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"url": ""}, "url", "This field is required"),
        ({"url": "ftp://example.test/"}, "url", "http(s)"),
        ({"url": "example.test"}, "url", "http(s)"),
        ({"title": "x" * 201}, "title", "at most 200 characters"),
        ({"navigation_goal": ""}, "navigation_goal", "navigation_goal, a data_extraction_goal or both"),
        ({"extracted_information_schema": "{not json"}, "extracted_information_schema", "not valid JSON"),
        ({"extracted_information_schema": "[1, 2]"}, "extracted_information_schema", "must be a JSON object"),
        ({"extracted_information_schema": '{"type": "nonsense"}'}, "extracted_information_schema", "not a valid JSON Schema"),
        ({"navigation_payload": '{"email": }'}, "navigation_payload", "not valid JSON"),
        ({"error_code_mapping": '["A"]'}, "error_code_mapping", "must be a JSON object"),
        ({"error_code_mapping": '{"A": 1}'}, "error_code_mapping", "strings"),
        ({"error_code_mapping": "{'A': 'b'}"}, "error_code_mapping", "not valid JSON"),
        ({"engine": "magic"}, "engine", "Select a valid choice"),
        ({"model": "m" * 101}, "model", "Select a valid choice"),
        ({"model": "o1-pro"}, "model", "Select a valid choice"),
        ({"url": "http://[bad"}, "url", "cannot be parsed"),
        ({"webhook_callback_url": "http://hooks.test/\tx"}, "webhook_callback_url", "control or whitespace"),
        ({"error_code_mapping": "[" * 5000 + "]" * 5000}, "error_code_mapping", "nested too deeply"),
        ({"extracted_information_schema": '{"type": "string", "pattern": "^(a+)+$"}'}, "extracted_information_schema", "nests a repeat"),
        ({"max_steps": "0"}, "max_steps", "greater than or equal to 1"),
        ({"max_steps": "many"}, "max_steps", "whole number"),
        ({"max_steps": "1000"}, "max_steps", "limited to 25"),
        ({"webhook_callback_url": "file:///etc/passwd"}, "webhook_callback_url", "http(s)"),
    ],
)
def test_each_field_error_is_shown_next_to_its_field_and_keeps_the_input(client, operator, changes, field, fragment):
    client.force_login(operator)
    data = {**VALID, "navigation_payload": '{"keep": "me"}', **changes}
    response = client.post(reverse("task-new"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert fragment in field_error(html, field).replace("&#x27;", "'").replace("&quot;", '"')
    assert "The task was not created" in html
    assert re.search(rf'id="id_{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="id_{field}"', html)
    # what was typed is still there
    assert "Sign up for the newsletter" in html or field == "navigation_goal"
    assert "{&quot;keep&quot;: &quot;me&quot;}" in html or field == "navigation_payload"
    if field == "navigation_payload":
        assert "{&quot;email&quot;: }" in html
    assert not Task.objects.exists()


def test_several_json_errors_are_shown_at_once(client, operator):
    client.force_login(operator)
    html = client.post(
        reverse("task-new"), {**VALID, "navigation_payload": "{", "error_code_mapping": "nope", "extracted_information_schema": "1"}
    ).content.decode()
    assert "not valid JSON" in field_error(html, "navigation_payload")
    assert "not valid JSON" in field_error(html, "error_code_mapping")
    assert "JSON object" in field_error(html, "extracted_information_schema")


def test_run_again_prefills_the_form(client, operator, org):
    source = TaskFactory(
        organization=org,
        status="failed",
        url="https://shop.example.test/cart",
        title="Checkout",
        navigation_goal="Check out",
        navigation_payload={"card": "4242"},
        extracted_information_schema={"type": "object"},
        error_code_mapping={"DECLINED": "card declined"},
        engine="cua",
        model="special",
        max_steps=7,
        webhook_callback_url="https://hooks.example.test/",
    )
    client.force_login(operator)
    response = client.get(reverse("task-new"), {"from": source.pk})
    assert response.status_code == 200
    form = response.context["form"]
    rendered = {name: form[name].value() for name in VALID}
    assert rendered["url"] == "https://shop.example.test/cart"
    assert json.loads(form["navigation_payload"].field.prepare_value(rendered["navigation_payload"])) == {"card": "4242"}
    html = response.content.decode()
    assert "&quot;card&quot;: &quot;4242&quot;" in html
    assert "&quot;DECLINED&quot;: &quot;card declined&quot;" in html
    assert 'value="special"' in html and 'value="7"' in html
    assert '<option value="cua" selected>' in html
    assert "Pre-filled from" in html


def test_run_again_of_another_orgs_task_is_404(client, operator, other_org):
    theirs = TaskFactory(organization=other_org)
    client.force_login(operator)
    assert client.get(reverse("task-new"), {"from": theirs.pk}).status_code == 404
    assert client.get(reverse("task-new"), {"from": "not-a-uuid"}).status_code == 404


def test_viewer_cannot_create(client, viewer):
    client.force_login(viewer)
    page = client.get(reverse("task-new"))
    assert page.status_code == 403 and "Viewers cannot start runs" in page.content.decode()
    response = client.post(reverse("task-new"), VALID)
    assert response.status_code == 403
    assert not Task.objects.exists()


def test_user_without_organization_gets_404(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    assert client.get(reverse("task-new")).status_code == 404


def test_model_is_chosen_from_the_configured_list(client, operator, settings):
    settings.LOOKOUT_MODELS = ["gpt-4o", "gpt-4.1-mini", "computer-use-preview"]
    client.force_login(operator)
    html = client.get(reverse("task-new")).content.decode()
    select = re.search(r'<select name="model"[^>]*>(.*?)</select>', html, re.S)
    assert select, "the model is a select"
    options = re.findall(r'<option value="([^"]*)"', select.group(1))
    assert options == ["", "gpt-4o", "gpt-4.1-mini", "computer-use-preview"]
