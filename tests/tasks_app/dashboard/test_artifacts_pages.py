"""The artifact gallery and viewer: step order, filters, viewers per type, downloads, org isolation."""

import json
import re

import pytest
from django.urls import reverse

from tasks_app.models import Action, Step
from tests.factories import TaskFactory
from tests.tasks_app.dashboard.conftest import make_artifact, png

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(org):
    """A finished run with two steps (the first retried), actions and one artifact of every kind."""
    task = TaskFactory(organization=org, status="completed")
    s1 = Step.objects.create(task=task, order=1, status="failed")
    s1b = Step.objects.create(task=task, order=1, retry_index=1, status="completed")
    s2 = Step.objects.create(task=task, order=2, status="completed")
    a1 = Action.objects.create(task=task, step=s1b, index=0, action_type="click", element_id="e3", success=True)
    a2 = Action.objects.create(task=task, step=s2, index=0, action_type="input_text", element_id="e7", success=True)
    arts = {
        # created out of order on purpose: the gallery sorts by step, then action
        "shot_2": make_artifact(task, "screenshot_llm", png(), step=s2, name="step-2.png"),
        "shot_2a": make_artifact(task, "screenshot_action", png(), step=s2, action=a2, name="after-input.png"),
        "shot_1": make_artifact(task, "screenshot_llm", png(), step=s1, name="step-1.png"),
        "shot_1b": make_artifact(task, "screenshot_llm", png(), step=s1b, name="step-1-retry.png"),
        "shot_1ba": make_artifact(task, "screenshot_action", png(), step=s1b, action=a1, name="after-click.png"),
        "final": make_artifact(task, "screenshot_final", png(), name="final.png"),
        "html": make_artifact(task, "html_scrape", b"<html><body><h1>Shop</h1><script>alert(1)</script></body></html>", step=s1, content_type="text/html", name="scrape.html"),
        "tree": make_artifact(task, "element_tree_full", json.dumps({"tag": "body", "children": []}).encode(), step=s1, content_type="application/json", name="element_tree.json"),
        "prompt": make_artifact(task, "llm_prompt", b"You are a browser agent.\n\n---\n\n[e3] <button>Buy</button>", step=s1, content_type="text/plain", name="prompt.txt"),
        "response": make_artifact(task, "llm_response", b'{"thinking":"click buy","actions":[]}', step=s1, content_type="application/json", name="response.json"),
        "video": make_artifact(task, "recording", b"\x1aE\xdf\xa3webm", content_type="video/webm", name="run.webm"),
        "trace": make_artifact(task, "trace", b"PK\x03\x04", content_type="application/zip", name="trace.zip"),
        "har": make_artifact(task, "har", b'{"log": {"entries": []}}', content_type="application/json", name="network.har"),
    }
    return task, arts


def gallery_names(html):
    section = html.split('data-gallery', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'<span class="shot-caption">([^<]+)</span>', section)


def test_gallery_shows_screenshots_in_step_order(client, operator, run):
    task, arts = run
    client.force_login(operator)
    html = client.get(reverse("task-artifacts", args=[task.pk])).content.decode()
    assert gallery_names(html) == [
        "Step 1 · sent to the model",
        "Step 1 (retry 1) · sent to the model",
        "Step 1 (retry 1) · after click e3",
        "Step 2 · sent to the model",
        "Step 2 · after input_text e7",
        "final page",
    ]
    # thumbnails in the grid, full files in the lightbox, download links for each
    shot = arts["shot_1"]
    assert f'src="{reverse("artifact-thumbnail", args=[task.pk, shot.pk])}"' in html
    assert f'data-full="{reverse("artifact-file", args=[task.pk, shot.pk])}"' in html
    assert f'data-download="{reverse("artifact-file", args=[task.pk, shot.pk])}?download=1"' in html
    assert '<dialog id="lightbox"' in html and "js/gallery.js" in html
    # every other artifact is listed with a viewer and a download
    for key in ("html", "tree", "prompt", "response", "video", "trace", "har"):
        art = arts[key]
        assert f'href="{reverse("artifact-view", args=[task.pk, art.pk])}"' in html
        assert f'href="{reverse("artifact-file", args=[task.pk, art.pk])}?download=1"' in html


@pytest.mark.parametrize(
    ("query", "shots", "others"),
    [
        ({"kind": "screenshot"}, 6, 0),
        ({"kind": "screenshot_action"}, 2, 0),
        ({"kind": "html_scrape"}, 0, 1),
        ({"step": "1"}, 3, 4),
        ({"step": "2"}, 2, 0),
        ({"kind": "screenshot_llm", "step": "1"}, 2, 0),
        ({"kind": "bogus"}, 6, 7),
    ],
)
def test_gallery_filters(client, operator, run, query, shots, others):
    task, _ = run
    client.force_login(operator)
    response = client.get(reverse("task-artifacts", args=[task.pk]), query)
    assert len(response.context["screenshots"]) == shots
    assert len(response.context["others"]) == others


def test_gallery_filter_menus_list_what_the_task_has(client, operator, run):
    task, _ = run
    client.force_login(operator)
    html = client.get(reverse("task-artifacts", args=[task.pk]), {"step": "2"}).content.decode()
    assert '<option value="screenshot" >Screenshots, all (6)</option>' in html
    assert ">Video recording (1)</option>" in html and "Download (" not in html
    assert '<option value="2" selected>Step 2</option>' in html


def test_gallery_empty_state(client, operator, org):
    task = TaskFactory(organization=org)
    client.force_login(operator)
    html = client.get(reverse("task-artifacts", args=[task.pk])).content.decode()
    assert "No artifacts yet" in html


@pytest.mark.parametrize(
    ("key", "expect"),
    [
        ("shot_1", r'<img class="artifact-image" src="{file}"'),
        ("video", r'<video class="artifact-video" controls preload="metadata" src="{file}"'),
        ("html", r'<iframe class="artifact-html" sandbox src="{file}"'),
        ("tree", r'<pre id="artifact-text" class="code tall" tabindex="0">\{{\n  &quot;tag&quot;: &quot;body&quot;'),
        ("response", r"&quot;thinking&quot;: &quot;click buy&quot;"),
        ("prompt", r"You are a browser agent.\n\n---\n\n\[e3\] &lt;button&gt;Buy&lt;/button&gt;"),
        ("har", r"&quot;log&quot;: \{{"),
        ("trace", r"Open trace</a> in Playwright.s trace viewer"),
    ],
)
def test_artifact_viewers(client, operator, run, key, expect):
    task, arts = run
    art = arts[key]
    client.force_login(operator)
    response = client.get(reverse("artifact-view", args=[task.pk, art.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    file_url = reverse("artifact-file", args=[task.pk, art.pk])
    assert re.search(expect.format(file=re.escape(file_url)), html), html[html.find("<section class=\"card viewer"):][:600]
    assert f'href="{file_url}?download=1"' in html


def test_html_artifact_is_sandboxed_and_frameable_by_our_pages_only(client, operator, run):
    task, arts = run
    client.force_login(operator)
    html = client.get(reverse("artifact-view", args=[task.pk, arts["html"].pk])).content.decode()
    iframe = re.search(r"<iframe[^>]*>", html).group(0)
    assert " sandbox " in iframe and "allow-scripts" not in iframe and "allow-same-origin" not in iframe
    response = client.get(reverse("artifact-file", args=[task.pk, arts["html"].pk]))
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert response["Content-Security-Policy"].startswith("sandbox")
    download = client.get(reverse("artifact-file", args=[task.pk, arts["html"].pk]) + "?download=1")
    assert download["Content-Disposition"].startswith("attachment")


def test_viewer_role_can_browse_artifacts(client, viewer, run):
    task, arts = run
    client.force_login(viewer)
    assert client.get(reverse("task-artifacts", args=[task.pk])).status_code == 200
    assert client.get(reverse("artifact-view", args=[task.pk, arts["prompt"].pk])).status_code == 200


def test_artifact_of_another_task_is_404(client, operator, run, org):
    task, arts = run
    other_task = TaskFactory(organization=org)
    client.force_login(operator)
    assert client.get(reverse("artifact-view", args=[other_task.pk, arts["prompt"].pk])).status_code == 404


def test_missing_file_is_reported(client, operator, run):
    task, arts = run
    arts["prompt"].file.storage.delete(arts["prompt"].file.name)
    client.force_login(operator)
    html = client.get(reverse("artifact-view", args=[task.pk, arts["prompt"].pk])).content.decode()
    assert "missing from storage" in html
