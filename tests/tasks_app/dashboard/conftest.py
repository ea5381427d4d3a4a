"""Dashboard fixtures: task data with real artifact files, and for browser tests a live ASGI server (HTTP and
websockets), a logged-in Playwright page, and runs played through the real bridge.

The live server is Daphne running the real `project.asgi.application` on a thread of this process (one per
test session: Twisted's reactor cannot restart). pytest-django's `live_server` is WSGI-only, and a server in
another process would not share the in-memory channel layer of the embedded mode. Code that publishes
events must run on the server's event loop for the in-memory layer to deliver them, exactly as the
in-process runner does: `asgi_server.call(fn, **kwargs)` runs sync code there, `asgi_server.run(coro)`
awaits a coroutine there.

    pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

    def test_pause(asgi_server, logged_in_page, operator, live_task):
        page = logged_in_page(operator)
        page.goto(f"/tasks/{live_task.pk}/")
        asgi_server.call(services.pause_task, task=live_task, by=operator)
        expect(page.locator("#task-status")).to_have_text("paused")

`transaction=True` is needed because the server's threads use their own database connections; run browser
tests under `flock /tmp/lookout-browser.lock`. A task created through the pages is dispatched to the
in-process runner on the server's loop (embedded mode), or to Celery (eager in tests) when REDIS_URL is
set; `asgi_server` cancels in-process runs a test leaves behind.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from tasks_app.models import Action, Artifact, Step, Task
from tests.factories import TaskFactory

PASSWORD = "pw-for-tests-123"  # tests.factories.UserFactory's password


def pytest_configure(config: pytest.Config) -> None:
    """Browser tests need a test database that other threads can open: with SQLite, a file instead of
    Django's shared-cache in-memory database (whose table locks fail concurrent writers at once, where
    a file database in WAL mode waits its turn). PostgreSQL needs nothing."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3" and not (database.get("TEST") or {}).get("NAME"):
        folder = tempfile.mkdtemp(prefix="lookout-test-db-")
        database.setdefault("TEST", {})["NAME"] = os.path.join(folder, "test.sqlite3")


# ---- task data ---------------------------------------------------------------------------------


def png(color: str = "#3b6ef5", size: tuple[int, int] = (640, 400), text: str = "") -> bytes:
    """A real PNG (Pillow), optionally with a caption drawn on it, so galleries show something."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, color)
    if text:
        draw = ImageDraw.Draw(image)
        draw.rectangle((20, 20, size[0] - 20, 90), fill="white")
        draw.text((34, 44), text, fill="black")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def make_artifact(
    task: Task,
    kind: str,
    data: bytes,
    *,
    name: str = "",
    content_type: str = "",
    step: Step | None = None,
    action: Action | None = None,
    thumbnail: bool | None = None,
) -> Artifact:
    """An artifact with its file in storage (and a thumbnail for screenshots), like RecordingHooks makes."""
    is_shot = kind in Artifact.SCREENSHOT_KINDS
    artifact = Artifact(
        task=task,
        step=step,
        action=action,
        kind=kind,
        name=name or (f"{kind}.png" if is_shot else kind),
        content_type=content_type or ("image/png" if is_shot else "application/octet-stream"),
        size=len(data),
    )
    artifact.file.save(artifact.name, ContentFile(data), save=False)
    if thumbnail if thumbnail is not None else is_shot:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            img = img.convert("RGB")
            img.thumbnail((320, 1280))
            out = io.BytesIO()
            img.save(out, "JPEG", quality=70)
        artifact.thumbnail.save(f"thumb-{artifact.name}.jpg", ContentFile(out.getvalue()), save=False)
    artifact.save()
    return artifact


@pytest.fixture
def running_task(org: Any, operator: Any) -> Task:
    """A running task made with the factory (no events): for pages rendered by the Django test client."""
    now = timezone.now()
    return TaskFactory(
        organization=org,
        created_by=operator,
        title="Sign up for the newsletter",
        url="https://shop.example.test/",
        navigation_goal="Sign up for the newsletter with the payload's email",
        status=Task.Status.RUNNING,
        started_at=now,
        queued_at=now,
        heartbeat_at=now,
    )


# ---- the live server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AsgiLiveServer:
    """Daphne serving project.asgi.application on a background thread of this process."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def start(self) -> AsgiLiveServer:
        self._thread = threading.Thread(target=self._run, name="asgi-live-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while True:
            if self._error is not None:
                raise RuntimeError("the live server did not start") from self._error
            try:
                # A TCP connect, not a request: the first request attaches the in-process runner to this
                # loop, which should happen inside a test (see quiesce).
                socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the live server did not listen within 30 s") from None
                time.sleep(0.1)

    def _run(self) -> None:
        try:
            from daphne.server import Server
            from twisted.internet import reactor

            from project.asgi import application

            self.server = Server(
                application=application,
                endpoints=[f"tcp:port={self.port}:interface=127.0.0.1"],
                signal_handlers=False,
                verbosity=0,
            )
            self.loop = reactor._asyncioEventloop  # type: ignore[attr-defined]
            self.server.run()
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc

    def stop(self) -> None:
        from twisted.internet import reactor

        if self.loop is not None and not self.loop.is_closed():
            reactor.callFromThread(reactor.stop)  # type: ignore[attr-defined]
        if self._thread is not None:
            self._thread.join(timeout=10)

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 30, **kwargs: Any) -> Any:
        """Run sync `fn` (ORM, services) from the server's event loop, the way the in-process runner and
        the consumers do, so what it publishes reaches the server's websocket clients. Returns its result."""
        from channels.db import database_sync_to_async

        assert self.loop is not None, "the live server is not running"

        async def run() -> Any:
            return await database_sync_to_async(fn)(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=timeout)

    def run(self, coro: Any, *, timeout: float = 30) -> Any:
        """Await `coro` on the server's event loop (e.g. a RecordingHooks method) and return its result."""
        assert self.loop is not None, "the live server is not running"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)

    def quiesce(self) -> None:
        """After a test: cancel what it left on the server loop (in-process runs, the runner's sweeper) and
        detach the in-process runner from this loop, so later tests, browser or not, see no server loop
        (webhooks delivered in line, nothing sweeping their rows). The next request attaches it again."""
        from tasks_app.runs import inprocess

        runner_code = {inprocess._run.__code__, inprocess._sweep_forever.__code__, inprocess._startup.__code__}

        async def cancel_leftovers() -> None:
            leftovers = [task for task in asyncio.all_tasks() if getattr(task.get_coro(), "cr_code", None) in runner_code]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)

        self.run(cancel_leftovers())
        inprocess._loop = None


def _drop_server_connections() -> None:
    """Django under ASGI runs each request on a short-lived thread whose connection is closed only when
    that thread's locals are collected; PostgreSQL will not drop the test database while any is open."""
    import gc

    from django.db import connection

    gc.collect()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(scope="session")
def _asgi_server_session(django_db_setup: None, django_db_blocker: Any) -> Iterator[AsgiLiveServer]:
    server = AsgiLiveServer().start()
    try:
        yield server
    finally:
        server.stop()
        with django_db_blocker.unblock():
            _drop_server_connections()


@pytest.fixture
def asgi_server(_asgi_server_session: AsgiLiveServer) -> Iterator[AsgiLiveServer]:
    """The live server (one per session, started on first use) on the test database; tidied after each test.
    Use with `@pytest.mark.django_db(transaction=True)`."""
    yield _asgi_server_session
    _asgi_server_session.quiesce()


# ---- the browser ----------------------------------------------------------------------------------


@pytest.fixture
def playwright_browser() -> Iterator[Any]:
    """Headless system Chromium through Playwright's sync API.

    Per test, not per session: the sync API keeps an event loop running on this thread while it is
    started, which makes Django refuse ORM calls here (SynchronousOnlyOperation). The check is lifted
    while the browser is open, for the test's own ORM calls, and restored before the database is
    flushed, so tests that run later keep it."""
    from playwright.sync_api import sync_playwright

    from agent_core.browser import CHROMIUM_ARGS, find_chromium

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=find_chromium(), headless=True, args=list(CHROMIUM_ARGS)
            )
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def logged_in_page(asgi_server: AsgiLiveServer, playwright_browser: Any) -> Iterator[Callable[..., Any]]:
    """`logged_in_page(user)` -> a Playwright Page of a fresh browser context, logged in through the
    login form, with relative URLs resolved against the live server. Dialogs (the Terminate
    confirmation) are accepted."""
    contexts = []

    def open_page(user: Any, *, width: int = 1440, height: int = 900) -> Any:
        context = playwright_browser.new_context(
            base_url=asgi_server.base_url, viewport={"width": width, "height": height}, accept_downloads=True
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto("/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/login/" not in url)
        return page

    yield open_page
    for context in contexts:
        context.close()


# ---- runs played through the real bridge ------------------------------------------------------------


@pytest.fixture
def live_task(asgi_server: AsgiLiveServer, org: Any, operator: Any) -> Task:
    """A task created and claimed through the services (so its timeline starts with created, queued,
    running), on the server's loop. Not dispatched: tests play its run with ScriptedRun."""
    from tasks_app import services

    def create() -> Task:
        task = services.create_task(
            organization=org,
            created_by=operator,
            dispatch=False,
            url="https://shop.example.test/",
            title="Sign up for the newsletter",
            navigation_goal="Sign up for the newsletter with the email in the payload",
            data_extraction_goal="The confirmation number shown after signing up",
            navigation_payload={"email": "ada@example.com"},
        )
        return services.claim_task(task_id=task.pk, worker="tests:scripted")

    return asgi_server.call(create)


class ScriptedRun:
    """Plays agent_core events through the real `RecordingHooks` on the live server's loop, the way a run
    does: rows, artifact files, numbered events and live deltas are exactly what the bridge produces."""

    def __init__(self, server: AsgiLiveServer, task: Task) -> None:
        from tasks_app.runs.hooks import RecordingHooks

        self.server = server
        self.task = task
        self.hooks = RecordingHooks(task.pk)

    def step(self, order: int, url: str, retry_index: int = 0) -> Any:
        from agent_core.types import StepRef, StepStarted

        ref = StepRef(order=order, retry_index=retry_index)
        self.server.run(self.hooks.step_started(StepStarted(step=ref, url=url)))
        return ref

    def delta(self, step: Any, text: str) -> None:
        from agent_core.types import LLMDelta

        self.server.run(self.hooks.llm_delta(LLMDelta(step=step, text=text)))

    def reply(self, step: Any, parsed: dict[str, Any] | None, raw: str = "", tokens: tuple[int, int] = (1850, 96)) -> None:
        import json

        from agent_core.types import LLMResponse, Usage

        raw = raw or json.dumps(parsed)
        usage = Usage(input_tokens=tokens[0], output_tokens=tokens[1], model="gpt-4o")
        self.server.run(self.hooks.llm_response(LLMResponse(step=step, parsed=parsed, raw=raw, usage=usage)))

    def screenshot(self, step: Any | None, kind: str, image: bytes, action_index: int | None = None) -> None:
        from agent_core.types import ArtifactKind, ArtifactOut

        name = f"{kind}-{step.order if step else 'final'}-{action_index if action_index is not None else 0}.png"
        out = ArtifactOut(kind=ArtifactKind(kind), data=image, content_type="image/png", name=name, step=step, action_index=action_index)
        self.server.run(self.hooks.artifact(out))

    def action(self, step: Any, index: int, action: dict[str, Any]) -> None:
        from agent_core.types import ActionStarted

        self.server.run(self.hooks.action_started(ActionStarted(step=step, index=index, action=action)))

    def action_done(
        self, step: Any, index: int, action: dict[str, Any], *, success: bool = True, error: str | None = None,
        data: Any = None, navigated: bool = False, duration_ms: float = 240.0,
    ) -> None:
        from agent_core.types import ActionFinished, ActionResult

        result = ActionResult(success=success, error=error, data=data, navigated=navigated, duration_ms=duration_ms)
        self.server.run(self.hooks.action_finished(ActionFinished(step=step, index=index, action=action, result=result)))

    def step_done(
        self, step: Any, *, success: bool = True, error: str | None = None, tokens: tuple[int, int] = (1850, 96),
        duration_ms: float = 3200.0,
    ) -> None:
        from agent_core.types import StepFinished, Usage

        usage = Usage(input_tokens=tokens[0], output_tokens=tokens[1], model="gpt-4o")
        self.server.run(
            self.hooks.step_finished(StepFinished(step=step, success=success, error=error, usage=usage, duration_ms=duration_ms))
        )

    def frame(self, jpeg: bytes) -> None:
        """One live-view frame, as the screencast hands it to the bridge."""
        from agent_core.types import Frame

        self.server.run(self.hooks.frame(Frame(data=jpeg, width=1280, height=800, captured_at=time.time())))


@pytest.fixture
def scripted_run(asgi_server: AsgiLiveServer, live_task: Task) -> ScriptedRun:
    return ScriptedRun(asgi_server, live_task)


@pytest.fixture
def model(settings, fake_openai):
    """The fake OpenAI server as the dashboard's model, runs in process on the live server's loop."""
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "test", fake_openai.base_url
    settings.LOOKOUT_RUNNER = "inprocess"
    settings.LOOKOUT_HEARTBEAT_SECONDS = 0.5
    return fake_openai
