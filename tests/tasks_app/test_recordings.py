"""Run recordings: a real run stores its video, trace and HAR as artifacts however it ends, with the task's
secrets masked; the dashboard plays the video (Range requests), opens Playwright's trace viewer, lists the
HAR's requests; other organizations get 404s; prune_recordings deletes old ones only.

Run with: flock /tmp/lookout-browser.lock .venv/bin/pytest tests/tasks_app/test_recordings.py
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from agent_core.browser import BrowserManager
from agent_core.types import BrowserConfig
from tasks_app import services
from tasks_app.models import Artifact, Task, TaskEvent
from tasks_app.runs import config as run_config
from tasks_app.runs import execute as run_execute
from tasks_app.runs.config import browser_config
from tasks_app.runs.execute import execute_task
from tests.factories import TaskFactory
from tests.fakes.openai_server import reply_json
from tests.scripting import act, element_id, page_url, step
from tests.sites.server import LOGIN_PASSWORD
from tests.tasks_app.running import make_task, run_until_model_asked

RUN = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
RECORDINGS = {"recording", "trace", "har"}

# Values of the task's navigation_payload the agent types and sends: they must not survive in clear.
PASSWORD = LOGIN_PASSWORD  # what the login site accepts
PLAN = 'Zebra "VIP" & co/é+1'
PAYLOAD = {"login": {"username": "ada", "password": PASSWORD}, "choices": [PLAN], "note": 42}


@pytest.fixture
def model(model, settings):
    settings.LOOKOUT_RECORD_RUNS = True
    return model


def login_script(site):
    """Sign in with the payload's password, open the confirm page with the plan in its query string,
    confirm (the plan is posted, and echoed in the page), complete."""

    def script(req):
        url = page_url(req)
        if url.endswith("/login/") or "/login/session" in url:
            return step(
                act("input_text", element_id(req, r"name=username"), text="ada"),
                act("input_text", element_id(req, r"name=password"), text=PASSWORD),
                act("click", element_id(req, r"<button")),
            )
        if "plans.html" in url:
            return step(act("goto_url", None, url=site.url("/login/confirm.html?plan=" + quote(PLAN, safe=""))))
        if "confirm.html" in url:
            return step(act("click", element_id(req, r"<button", r"Confirm")))
        return step(act("complete"), goal_achieved=True)

    return script


def recordings_of(task_id) -> dict[str, Artifact]:
    return {a.kind: a for a in Artifact.objects.filter(task_id=task_id, kind__in=RECORDINGS)}


def read(artifact: Artifact) -> bytes:
    with artifact.file.open("rb") as handle:
        return handle.read()


def video_duration(data: bytes, tmp_path: Path) -> float | None:
    """Seconds, from Debian's ffprobe (None when it is not installed)."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    path = tmp_path / "video.webm"
    path.write_bytes(data)
    out = subprocess.run(
        [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", str(path)],
        capture_output=True, text=True, check=True, timeout=30,
    )
    return float(out.stdout.strip())


def clear_forms(secret: str) -> set[bytes]:
    """How a secret would look if it were left in clear: verbatim, URL-encoded, JSON- and HTML-escaped."""
    forms = {
        secret,
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
    }
    return {f.encode() for f in forms}


def assert_masked(data: bytes, where: str) -> None:
    for secret in (PASSWORD, PLAN):
        for form in clear_forms(secret):
            assert form not in data, f"{form!r} in clear in {where}"
    # Any fragment long enough to identify them, in any spelling, is gone too.
    for fragment in (PASSWORD.encode(), b"Zebra"):
        assert fragment not in data, f"{fragment!r} in {where}"


def check_recordings(recs: dict[str, Artifact], tmp_path: Path, *, max_seconds: float) -> dict[str, object]:
    """The three recordings are what they claim to be; returns the parsed HAR and trace entry names."""
    assert set(recs) == RECORDINGS, set(recs)
    video = read(recs["recording"])
    assert video[:4] == b"\x1a\x45\xdf\xa3", "not a WebM (EBML) file"
    assert recs["recording"].content_type == "video/webm" and recs["recording"].name == "video.webm"
    duration = video_duration(video, tmp_path)
    if duration is not None:
        assert 0.2 < duration < max_seconds, duration
    trace = zipfile.ZipFile(io.BytesIO(read(recs["trace"])))
    names = trace.namelist()
    assert any(n.endswith(".trace") for n in names) and any(n.endswith(".network") for n in names), names
    assert trace.testzip() is None
    har = json.loads(read(recs["har"]))
    for artifact in recs.values():
        assert artifact.size == artifact.file.size > 0
    return {"har": har, "trace": trace}


# ---- runs ---------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
async def test_completed_run_records_video_trace_and_har_with_secrets_masked(
    site, model, browser, org, operator, tmp_path, monkeypatch
):
    workdirs: list[str] = []
    mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        made = mkdtemp(*args, **kwargs)
        if kwargs.get("prefix") == "lookout-run-":
            workdirs.append(made)
        return made

    monkeypatch.setattr(run_execute.tempfile, "mkdtemp", recording_mkdtemp)
    model.script = login_script(site)
    task = await sync_to_async(make_task)(
        org, operator, url=site.url("/login/"), navigation_goal="Sign in and subscribe", navigation_payload=PAYLOAD
    )
    started = asyncio.get_running_loop().time()
    finished = await execute_task(task.pk, browser=browser)
    took = asyncio.get_running_loop().time() - started
    assert finished.status == "completed", finished.failure_reason
    # The site got the real values: masking happens to the files afterwards, never to the run.
    assert site.last("/login/session")["fields"]["password"] == PASSWORD
    assert site.last("/login/confirm")["fields"]["plan"] == PLAN

    recs = await sync_to_async(recordings_of)(task.pk)
    checked = await sync_to_async(check_recordings)(recs, tmp_path, max_seconds=took + 5)
    har, trace = checked["har"], checked["trace"]
    requests = [(e["request"]["method"], e["request"]["url"]) for e in har["log"]["entries"]]
    assert ("GET", site.url("/login/")) in requests
    assert ("POST", site.url("/login/session")) in requests and ("POST", site.url("/login/confirm")) in requests
    assert any(url.startswith(site.url("/login/confirm.html?plan=")) for _, url in requests)

    har_bytes = await sync_to_async(read)(recs["har"])
    assert_masked(har_bytes, "the HAR")
    assert b"[masked]" in har_bytes
    session_post = next(e for e in har["log"]["entries"] if e["request"]["url"].endswith("/login/session"))
    assert session_post["request"]["postData"]["text"] == "username=ada&password=[masked]"  # short values stay
    masked_in_trace = 0
    for name in trace.namelist():
        data = trace.read(name)
        assert_masked(data, f"trace entry {name}")
        masked_in_trace += data.count(b"[masked]")
        if name.endswith((".trace", ".network")):
            for line in data.splitlines():
                if line.strip():
                    json.loads(line)  # still valid JSON lines after masking
    assert masked_in_trace > 0
    # The run's folder (where the recordings were written) is gone, after they were stored.
    assert workdirs and not any(Path(d).exists() for d in workdirs)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
async def test_terminated_run_keeps_its_recordings(site, model, browser, org, operator, tmp_path):
    model.script = lambda req: reply_json({}, delay=30)
    task = await sync_to_async(make_task)(org, operator, url=site.url("/table/"), navigation_goal="look")
    run = await run_until_model_asked(task.pk, browser=browser, model=model)
    current = await Task.objects.select_related("organization").aget(pk=task.pk)
    await sync_to_async(services.terminate_task)(task=current, by=operator, reason="operator says stop")
    finished = await asyncio.wait_for(run, 15)
    assert finished.status == "terminated"
    recs = await sync_to_async(recordings_of)(task.pk)
    checked = await sync_to_async(check_recordings)(recs, tmp_path, max_seconds=30)
    assert any(e["request"]["url"] == site.url("/table/") for e in checked["har"]["log"]["entries"])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
async def test_worker_shutting_down_keeps_the_recordings(site, model, browser, org, operator, tmp_path):
    """A worker stopping cleanly cancels its runs: the recordings are stored before the run gives up."""
    model.script = lambda req: reply_json({}, delay=30)
    task = await sync_to_async(make_task)(org, operator, url=site.url("/table/"), navigation_goal="look")
    run = await run_until_model_asked(task.pk, browser=browser, model=model)
    run.cancel()
    await asyncio.sleep(0.05)
    run.cancel()  # impatient: again while the run is closing its browser context
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(run, 15)
    refreshed = await Task.objects.aget(pk=task.pk)
    assert refreshed.status == "failed" and "worker stopped" in refreshed.failure_reason
    recs = await sync_to_async(recordings_of)(task.pk)
    await sync_to_async(check_recordings)(recs, tmp_path, max_seconds=30)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
async def test_without_ffmpeg_the_run_goes_on_without_video_and_the_page_says_why(
    site, model, browser, org, operator, monkeypatch, client
):
    monkeypatch.setattr(run_config, "find_ffmpeg", lambda: None)
    model.script = [step(act("complete"), goal_achieved=True)]
    task = await sync_to_async(make_task)(org, operator, url=site.url("/table/"), navigation_goal="look")
    finished = await execute_task(task.pk, browser=browser)
    assert finished.status == "completed"
    recs = await sync_to_async(recordings_of)(task.pk)
    assert set(recs) == {"trace", "har"}
    note = await TaskEvent.objects.filter(task=task, type="recording.unavailable").afirst()
    assert note is not None and "ffmpeg" in note.data["reason"]
    await sync_to_async(client.force_login)(operator)
    page = (await sync_to_async(client.get)(reverse("task-detail", args=[task.pk]))).content.decode()
    assert "ffmpeg was not found" in page and "<video" not in page and "Open trace" in page


@pytest.mark.django_db
def test_browser_config_follows_the_setting_and_the_organization(settings, org, tmp_path, monkeypatch):
    monkeypatch.setattr(run_config, "find_ffmpeg", lambda: "/usr/bin/ffmpeg")
    workdir = str(tmp_path)
    settings.LOOKOUT_RECORD_RUNS = True
    on = browser_config(workdir=workdir, organization=org)
    assert on.trace and on.video_dir == f"{workdir}/recordings" and on.har_path == f"{workdir}/recordings/network.har"
    assert not browser_config().trace and browser_config().video_dir is None  # the process-wide manager's config
    org.record_runs = False
    off = browser_config(workdir=workdir, organization=org)
    assert (off.trace, off.video_dir, off.har_path) == (False, None, None)
    org.record_runs = True
    settings.LOOKOUT_RECORD_RUNS = False
    off = browser_config(workdir=workdir, organization=org)
    assert (off.trace, off.video_dir, off.har_path) == (False, None, None)
    settings.LOOKOUT_RECORD_RUNS = True
    monkeypatch.setattr(run_config, "find_ffmpeg", lambda: None)
    no_video = browser_config(workdir=workdir, organization=org)
    assert no_video.trace and no_video.har_path and no_video.video_dir is None


# ---- the dashboard ----------------------------------------------------------------------------------


HAR = {
    "log": {
        "version": "1.2",
        "creator": {"name": "Playwright", "version": "1.65"},
        "entries": [
            {
                "startedDateTime": "2026-01-01T00:00:00Z",
                "time": 12.5,
                "request": {"method": "GET", "url": "https://shop.example.test/", "headers": []},
                "response": {"status": 200, "content": {"size": 2048, "mimeType": "text/html"}, "bodySize": 2048},
            },
            {
                "startedDateTime": "2026-01-01T00:00:01Z",
                "time": 40,
                "request": {"method": "POST", "url": "https://shop.example.test/subscribe", "headers": []},
                "response": {"status": 303, "content": {"size": -1}, "bodySize": 0},
            },
        ],
    }
}
VIDEO = b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 40  # 10244 bytes: EBML magic, then known content


def stored(task, kind, data, *, name, content_type, age_days=0):
    artifact = Artifact(task=task, kind=kind, name=name, content_type=content_type, size=len(data))
    artifact.file.save(name, ContentFile(data), save=False)
    artifact.save()
    if age_days:
        Artifact.objects.filter(pk=artifact.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    return artifact


@pytest.fixture
def finished_task(org, operator):
    task = TaskFactory(organization=org, created_by=operator, status=Task.Status.COMPLETED, url="https://shop.example.test/")
    video = stored(task, "recording", VIDEO, name="video.webm", content_type="video/webm")
    trace_zip = io.BytesIO()
    with zipfile.ZipFile(trace_zip, "w") as z:
        z.writestr("trace.trace", "{}\n")
    trace = stored(task, "trace", trace_zip.getvalue(), name="trace.zip", content_type="application/zip")
    har = stored(task, "har", json.dumps(HAR).encode(), name="network.har", content_type="application/json")
    return task, video, trace, har


def file_url(artifact):
    return reverse("artifact-file", args=[artifact.task_id, artifact.pk])


@pytest.mark.django_db
def test_range_requests_get_206_with_the_right_bytes(client, operator, finished_task):
    _, video, _, _ = finished_task
    client.force_login(operator)
    url = file_url(video)
    whole = client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes" and b"".join(whole.streaming_content) == VIDEO
    size = len(VIDEO)
    cases = {
        "bytes=0-3": (0, 3),
        "bytes=100-199": (100, 199),
        "bytes=10000-": (10000, size - 1),
        "bytes=-44": (size - 44, size - 1),
        "bytes=10200-99999": (10200, size - 1),  # clipped to the end
    }
    for header, (start, end) in cases.items():
        part = client.get(url, HTTP_RANGE=header)
        assert part.status_code == 206, header
        assert part["Content-Range"] == f"bytes {start}-{end}/{size}", header
        body = b"".join(part.streaming_content)
        assert body == VIDEO[start : end + 1] and int(part["Content-Length"]) == len(body), header
    assert b"".join(client.get(url, HTTP_RANGE="bytes=0-3").streaming_content) == b"\x1a\x45\xdf\xa3"
    unsatisfiable = client.get(url, HTTP_RANGE=f"bytes={size}-")
    assert unsatisfiable.status_code == 416 and unsatisfiable["Content-Range"] == f"bytes */{size}"
    # Several ranges, garbage, or an If-Range that is not our ETag: the whole file.
    for extra in ({"HTTP_RANGE": "bytes=0-1,5-6"}, {"HTTP_RANGE": "lines=1-2"}, {"HTTP_RANGE": "bytes=0-3", "HTTP_IF_RANGE": '"other"'}):
        full = client.get(url, **extra)
        assert full.status_code == 200 and b"".join(full.streaming_content) == VIDEO, extra
    matching = client.get(url, HTTP_RANGE="bytes=0-3", HTTP_IF_RANGE=whole["ETag"])
    assert matching.status_code == 206
    download = client.get(url + "?download=1", HTTP_RANGE="bytes=4-7")
    assert download.status_code == 206 and "attachment" in download["Content-Disposition"]


@pytest.mark.django_db
def test_task_page_shows_video_trace_link_har_table_and_sizes(client, operator, finished_task):
    task, video, trace, har = finished_task
    client.force_login(operator)
    page = client.get(reverse("task-detail", args=[task.pk])).content.decode()
    assert f'<video class="artifact-video" controls preload="metadata" src="{file_url(video)}"' in page
    assert f'href="{reverse("trace-open", args=[task.pk, trace.pk])}"' in page and "Open trace" in page
    assert f'href="{file_url(har)}?download=1" download' in page
    assert "https://shop.example.test/subscribe" in page and "<td>POST</td>" in page and "2.0\xa0KB" in page
    assert "Requests in the HAR (2)" in page and "13 ms" in page
    total = video.size + trace.size + har.size
    from django.template.defaultfilters import filesizeformat

    assert f"{filesizeformat(total)} stored" in page
    partial = client.get(reverse("task-recordings", args=[task.pk]))
    assert partial.status_code == 200 and 'id="recordings"' in partial.content.decode()
    gallery = client.get(reverse("task-artifacts", args=[task.pk])).content.decode()
    assert f'src="{file_url(video)}"></video>' in gallery and "Open trace" in gallery
    assert filesizeformat(video.size) in gallery
    har_download = client.get(file_url(har) + "?download=1")
    assert 'attachment; filename="network.har"' == har_download["Content-Disposition"]


@pytest.mark.django_db
def test_running_task_and_recording_switched_off_say_so(client, operator, org, settings):
    client.force_login(operator)
    running = TaskFactory(organization=org, created_by=operator, status=Task.Status.RUNNING)
    page = client.get(reverse("task-detail", args=[running.pk])).content.decode()
    assert "appear here when it ends" in page and "js/recordings.js" in page
    org.record_runs = False
    org.save()
    page = client.get(reverse("task-detail", args=[running.pk])).content.decode()
    assert "Recording is off for this organization." in page


@pytest.mark.django_db
def test_trace_viewer_is_served_from_the_playwright_package(client, operator, finished_task):
    task, _, trace, _ = finished_task
    client.force_login(operator)
    opened = client.get(reverse("trace-open", args=[task.pk, trace.pk]))
    assert opened.status_code == 302
    viewer = client.get(opened["Location"])
    assert viewer.status_code == 200 and viewer["Content-Type"].startswith("text/html")
    text = b"".join(viewer.streaming_content).decode()
    assert "Playwright Trace Viewer" in text and "https://" not in text.split("<body>")[0]  # nothing from a CDN
    assert opened["Location"] == "/trace-viewer/?" + "trace=" + quote(file_url(trace), safe="")
    sw = client.get("/trace-viewer/sw.bundle.js")
    assert sw.status_code == 200 and sw["Content-Type"].startswith("text/javascript") and sw["Cache-Control"] == "no-cache"
    for name, ctype in (("playwright-logo.svg", "image/svg+xml"), ("manifest.webmanifest", "application/manifest+json")):
        assert client.get(f"/trace-viewer/{name}")["Content-Type"] == ctype
    assert client.get("/trace-viewer/../../../__init__.py").status_code == 404
    assert client.get("/trace-viewer/%2e%2e/%2e%2e/package.json").status_code == 404
    # The page only opens for a trace artifact of the user's organization on this origin.
    video = task.artifacts.get(kind="recording")
    for bad in ("", "?trace=https://evil.example/trace.zip", f"?trace={file_url(video)}", "?trace=/tasks/"):
        assert client.get("/trace-viewer/" + bad).status_code == 404, bad
    assert client.get(reverse("trace-open", args=[task.pk, video.pk])).status_code == 404
    client.logout()
    assert client.get("/trace-viewer/sw.bundle.js").status_code == 302  # to the login page


@pytest.mark.django_db
def test_other_organizations_get_404_for_the_viewer_and_the_files(client, outsider, finished_task):
    task, video, trace, har = finished_task
    client.force_login(outsider)
    assert client.get(reverse("trace-open", args=[task.pk, trace.pk])).status_code == 404
    assert client.get(reverse("trace-viewer-index") + "?trace=" + quote(file_url(trace), safe="")).status_code == 404
    for artifact in (video, trace, har):
        assert client.get(file_url(artifact)).status_code == 404
        assert client.get(file_url(artifact), HTTP_RANGE="bytes=0-3").status_code == 404
    assert client.get(reverse("task-recordings", args=[task.pk])).status_code == 404


# ---- pruning --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_prune_recordings_deletes_old_ones_only(org, other_org, operator):
    old_task = TaskFactory(organization=org, created_by=operator, status=Task.Status.COMPLETED)
    old = [
        stored(old_task, "recording", b"v" * 3000, name="video.webm", content_type="video/webm", age_days=10),
        stored(old_task, "trace", b"t" * 2000, name="trace.zip", content_type="application/zip", age_days=10),
        stored(old_task, "har", b"h" * 1000, name="network.har", content_type="application/json", age_days=10),
    ]
    old_shot = stored(old_task, "screenshot_final", b"s", name="final.jpg", content_type="image/jpeg", age_days=10)
    recent = stored(old_task, "recording", b"r" * 500, name="video.webm", content_type="video/webm", age_days=2)
    other_task = TaskFactory(organization=other_org, status=Task.Status.COMPLETED)
    other_old = stored(other_task, "har", b"o" * 700, name="network.har", content_type="application/json", age_days=30)
    paths = {a.pk: Path(a.file.path) for a in [*old, recent, other_old, old_shot]}

    out = io.StringIO()
    call_command("prune_recordings", "--days", "7", "--dry-run", stdout=out)
    assert "would free" in out.getvalue() and f"{org.slug}: 3 recording(s) (1 HAR, 1 video, 1 trace)" in out.getvalue()
    assert Artifact.objects.count() == 6 and all(p.exists() for p in paths.values())

    out = io.StringIO()
    call_command("prune_recordings", "--days", "7", "--org", org.slug, stdout=out)
    text = out.getvalue()
    assert f"{org.slug}: 3 recording(s)" in text and "freed 5.9 KB" in text and other_org.slug not in text
    remaining = set(Artifact.objects.values_list("pk", flat=True))
    assert remaining == {old_shot.pk, recent.pk, other_old.pk}
    assert not any(paths[a.pk].exists() for a in old)
    assert paths[recent.pk].exists() and paths[old_shot.pk].exists() and paths[other_old.pk].exists()

    out = io.StringIO()
    call_command("prune_recordings", "--days", "7", stdout=out)
    assert f"{other_org.slug}: 1 recording(s) (1 HAR)" in out.getvalue()
    assert not paths[other_old.pk].exists() and Artifact.objects.filter(pk=recent.pk).exists()
    out = io.StringIO()
    call_command("prune_recordings", "--days", "7", stdout=out)
    assert "No recordings older than 7 day(s)" in out.getvalue()


# ---- the trace viewer in a real browser --------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_trace_viewer_opens_from_the_task_page_and_lists_the_run_actions(live_server, site, model, org, operator, client):
    model.script = login_script(site)
    task = make_task(org, operator, url=site.url("/login/"), navigation_goal="Sign in and subscribe", navigation_payload=PAYLOAD)

    async def run() -> Task | None:
        async with BrowserManager(BrowserConfig()) as manager:
            return await execute_task(task.pk, browser=manager)

    finished = asyncio.run(run())
    assert finished is not None and finished.status == "completed", finished and finished.failure_reason
    client.force_login(operator)
    session_cookie = client.cookies["sessionid"].value

    from playwright.sync_api import expect, sync_playwright

    from agent_core.browser import CHROMIUM_ARGS, find_chromium

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # the sync API runs a loop on this thread
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=find_chromium(), headless=True, args=list(CHROMIUM_ARGS))
            context = chromium.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
            context.set_default_timeout(20_000)
            context.add_cookies([{"name": "sessionid", "value": session_cookie, "url": live_server.url}])
            page = context.new_page()
            page.goto(f"/tasks/{task.pk}/")
            video = page.locator("#recordings video")
            duration = video.evaluate(
                "v => v.readyState >= 1 ? v.duration : new Promise(r => v.addEventListener('loadedmetadata', () => r(v.duration)))"
            )
            assert duration > 0.2
            with context.expect_page() as opened:
                page.get_by_role("link", name="Open trace").click()
            viewer = opened.value
            viewer.wait_for_load_state()
            assert "/trace-viewer/" in viewer.url
            actions = viewer.locator(".action-title")
            expect(actions.first).to_be_visible()
            titles = " | ".join(actions.all_inner_texts())
            assert "Navigate" in titles and "Fill" in titles and "Click" in titles, titles
            assert "plan=[masked]" in titles  # the goto_url of the payload value, masked in the trace
            assert PASSWORD not in viewer.content()
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
