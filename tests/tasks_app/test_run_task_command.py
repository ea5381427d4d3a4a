"""`manage.py run_task`: runs one task in this process, prints progress, exits 0 only when completed."""

import json
import re

import pytest
from django.core.management import CommandError, call_command

from tasks_app.models import Task
from tests.fakes.openai_server import reply_json
from tests.scripting import act, element_id, step

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def model(settings, fake_openai):
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "test", fake_openai.base_url
    settings.LOOKOUT_RUNNER = "inprocess"
    return fake_openai


def test_completed_run_prints_json_and_exits_zero(model, site, org, capsys, tmp_path):
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}))

    def script(req):
        if (req.body.get("response_format") or {}).get("json_schema", {}).get("name") == "extracted_information":
            return reply_json({"count": 3})
        return step(act("complete"), goal_achieved=True)

    model.script = script
    call_command("run_task", "--url", site.url("/table/"), "--extract", "How many products?", "--schema", str(schema),
                 "--org", org.slug, "--max-steps", "3", "--json")
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["status"] == "completed" and result["extracted_information"] == {"count": 3}
    assert result["steps"] == 1 and result["usage"]["input_tokens"] > 0
    assert "step 1" in err and "status completed" in err  # progress went to stderr, stdout is one JSON object
    assert Task.objects.get(pk=result["id"]).organization == org


def test_failed_run_exits_nonzero(model, site, org, capsys):
    model.script = lambda req: step(act("click", "e999"))
    with pytest.raises(SystemExit) as exit_:
        call_command("run_task", "--url", site.url("/job/"), "--goal", "apply", "--max-steps", "1")
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "result: failed" in out and "e999" in out


def test_typing_form_progress_lines(model, site, org, capsys):
    model.script = lambda req: (
        step(act("input_text", element_id(req, r"name=full_name"), text="Ada")) if req.index == 0 else step(act("complete"), goal_achieved=True)
    )
    call_command("run_task", "--url", site.url("/job/"), "--goal", "type the name", "--payload", '{"name": "Ada"}')
    out = capsys.readouterr().out
    assert "-> input_text" in out and "result: completed" in out
    assert re.search(r'page: \[e\d+\] value now "Ada"', out)  # what the action changed, as the model reads it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "ftp://x.test/", "--goal", "g"], "url must be an http(s) URL"),
        (["--url", "https://x.test/", "--goal", "g", "--payload", "{nope"], "--payload is not valid JSON"),
        (["--url", "https://x.test/", "--goal", "g", "--schema", "/no/such/file"], "--schema: no such file"),
        (["--url", "https://x.test/", "--goal", "g", "--org", "nobody"], "no organization with slug"),
    ],
)
def test_bad_input_is_a_clear_error(model, org, args, message):
    with pytest.raises(CommandError) as err:
        call_command("run_task", *args)
    assert message in str(err.value)
    assert not Task.objects.exists()
