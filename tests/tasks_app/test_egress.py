"""The egress policy as Lookout applies it: task URLs at creation, the run's browser (start URL, goto_url,
redirects, subresources), upload_file, webhooks, and the download cap, each under LOOKOUT_ALLOWED_NETWORKS.

The internal addresses are local servers (tests/fakes/hosts.py) that record every request they get: a
refused request must leave their record empty. 169.254.169.254 is never contacted: the policy refuses it
before any connection is opened, and tests/conftest.py fails (and lists) any connection this process
tries to open to an address outside loopback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async

from tasks_app.errors import InvalidRequestError
from tasks_app.models import Action, Artifact, Task, TaskEvent, WebhookDelivery
from tasks_app.runs.execute import execute_task
from tasks_app.runs.hooks import MAX_EGRESS_EVENTS
from tasks_app.services.webhooks import attempt_webhook
from tests.conftest import FOREIGN_CONNECTS
from tests.factories import TaskFactory
from tests.fakes.hosts import LoopbackServer, loopback_available
from tests.scripting import act, element_id, step
from tests.tasks_app.running import assert_events_typed, make_task

OPEN = "127.0.0.0/8, ::1/128"  # what project/settings/test.py sets for the local test sites
PREFIX = "blocked by the egress policy: "
NAMES = ("127.0.0.1", "[::1]", "0x7f000001", "localhost", "169.254.169.254")
# Why each is refused. localhost resolves from /etc/hosts, no DNS query (tests/conftest.py allows no other).
REASONS = {
    "127.0.0.1": "127.0.0.1 is a loopback address",
    "[::1]": "::1 is a loopback address",
    "0x7f000001": "127.0.0.1 is a loopback address",
    "localhost": "localhost resolves to 127.0.0.1, a loopback address",
    "169.254.169.254": "169.254.169.254 is a cloud metadata address",
}
ALWAYS_REFUSED = {"169.254.169.254"}


@dataclass
class Internal:
    """The internal hosts: a recording server on 127.0.0.1 and one on ::1 (169.254.169.254 has none)."""

    v4: LoopbackServer
    v6: LoopbackServer

    def url(self, name: str, path: str) -> str:
        if name == "169.254.169.254":
            return f"http://169.254.169.254/latest/meta-data/{path.lstrip('/')}"
        server = self.v6 if name == "[::1]" else self.v4
        return f"http://{name}:{server.port}/{path.lstrip('/')}"

    def hits(self) -> list[str]:
        return self.v4.paths() + self.v6.paths()


@pytest.fixture
def internal(loopback: LoopbackServer) -> Iterator[Internal]:
    if not loopback_available("::1"):
        pytest.skip("no IPv6 loopback here")
    with LoopbackServer("::1") as v6:
        yield Internal(loopback, v6)


@pytest.fixture(autouse=True)
def _no_foreign_connections() -> Iterator[None]:
    before = len(FOREIGN_CONNECTS)
    yield
    assert FOREIGN_CONNECTS[before:] == [], "a connection to an address outside loopback was attempted"


def canonical(url: str) -> str:
    return url.replace("//0x7f000001:", "//127.0.0.1:")


def refusal(name: str) -> str:
    return PREFIX + REASONS[name]


def allowed_with_the_list(name: str) -> bool:
    return name not in ALWAYS_REFUSED


# ---- task URLs at creation --------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("name", NAMES)
def test_task_url_is_refused_at_creation_without_the_allow_list(
    name: str, settings, org, operator, internal: Internal
) -> None:
    settings.LOOKOUT_ALLOWED_NETWORKS = ""
    with pytest.raises(InvalidRequestError) as caught:
        make_task(org, operator, url=internal.url(name, "/ok"), navigation_goal="look")
    assert caught.value.field == "url"
    assert str(caught.value) == f"url is {refusal(name)}"
    assert not Task.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("name", NAMES)
def test_task_url_is_accepted_with_the_allow_list(name: str, settings, org, operator, internal: Internal) -> None:
    settings.LOOKOUT_ALLOWED_NETWORKS = OPEN
    url = internal.url(name, "/ok")
    if not allowed_with_the_list(name):  # no allow-list opens the metadata service
        with pytest.raises(InvalidRequestError, match=f"^url is {refusal(name)}$"):
            make_task(org, operator, url=url, navigation_goal="look")
        return
    assert make_task(org, operator, url=url, navigation_goal="look").status == Task.Status.QUEUED
    assert internal.hits() == []  # checked, not fetched


@pytest.mark.django_db
def test_private_addresses_and_webhooks_are_checked_at_creation(settings, org, operator) -> None:
    settings.LOOKOUT_ALLOWED_NETWORKS = ""
    with pytest.raises(InvalidRequestError, match=r"^url is blocked by the egress policy: 10\.0\.0\.5 is a private address$"):
        make_task(org, operator, url="http://10.0.0.5/admin", navigation_goal="look")
    with pytest.raises(InvalidRequestError) as caught:
        make_task(
            org,
            operator,
            url="https://example.test/",  # resolves to nothing here: left to the run, which checks again
            navigation_goal="look",
            webhook_callback_url="http://[::1]:8000/hook",
        )
    assert caught.value.field == "webhook_callback_url"
    assert str(caught.value) == "webhook_callback_url is blocked by the egress policy: ::1 is a loopback address"


# ---- webhooks ---------------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("allow_list", ["", OPEN], ids=["without", "with"])
def test_webhook_delivery_follows_the_allow_list(name: str, allow_list: str, settings, org, internal: Internal) -> None:
    settings.LOOKOUT_ALLOWED_NETWORKS = allow_list
    # Made directly: a URL accepted when it was created (under another policy, or a name that resolved
    # elsewhere) is judged again when it is sent.
    task = TaskFactory(organization=org, status=Task.Status.COMPLETED, webhook_callback_url=internal.url(name, "/ok"))
    next_delay = attempt_webhook(task_id=task.pk, attempt=1)
    [delivery] = WebhookDelivery.objects.filter(task=task)
    if allow_list and allowed_with_the_list(name):
        assert delivery.succeeded and delivery.status_code == 200 and next_delay is None
        assert internal.hits() == ["/ok"]
        return
    assert (delivery.succeeded, delivery.status_code, delivery.error) == (False, None, refusal(name))
    assert next_delay is None  # a refusal is not retried: it would be refused again
    assert internal.hits() == []


# ---- the run's browser ------------------------------------------------------------------------------------
def scripted(actions: list[dict]) -> Callable:
    """A model that answers each request with the next action (one per step), then completes."""
    queue = list(actions)

    def script(req):
        if queue:
            return step(queue.pop(0))
        return step(act("complete"), goal_achieved=True)

    return script


async def events_of(task: Task, type_: str) -> list[TaskEvent]:
    return await sync_to_async(list)(TaskEvent.objects.filter(task=task, type=type_).order_by("seq"))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("allow_list", ["127.0.0.2/32", OPEN], ids=["without", "with"])
async def test_browser_follows_the_allow_list(
    allow_list: str, settings, model, browser, org, operator, internal: Internal, loopback2: LoopbackServer
) -> None:
    """The start page lives on 127.0.0.2, which both settings open; the internal hosts are open only by the
    full list. Subresources (direct and through a redirect), goto_url and navigations through a redirect
    reach them with it and are refused without it; the metadata address never."""
    settings.LOOKOUT_ALLOWED_NETWORKS = allow_list
    org.max_retries_per_step = 20  # without the list every goto fails, and each failure is a retry
    await sync_to_async(org.save)()
    images = "".join(
        f'<img src="{internal.url(n, "/ok?img")}"><img src="/redirect?to={internal.url(n, "/ok?img-hop")}">'
        for n in NAMES
    )
    loopback2.pages["/start"] = f"<h1>Start</h1>{images}"
    gotos = [act("goto_url", url=internal.url(n, "/ok?goto")) for n in NAMES]
    hops = [act("goto_url", url=loopback2.url(f"/redirect?to={internal.url(n, '/ok?goto-hop')}")) for n in NAMES]
    model.script = scripted(gotos + hops)
    task = await sync_to_async(make_task)(org, operator, url=loopback2.url("/start"), navigation_goal="look", max_steps=25)
    finished = await execute_task(task.pk, browser=browser)
    assert finished.status == "completed", finished.failure_reason

    actions = await sync_to_async(list)(Action.objects.filter(task=task, action_type="goto_url").order_by("id"))
    outcome = {a.parameters["url"]: (a.success, a.error) for a in actions}
    # Chromium writes 0x7f000001 as 127.0.0.1; the agent's own check reports the URL as the model gave it.
    blocked = [(canonical(e.data["url"]), e.data["reason"]) for e in await events_of(task, "egress.blocked")]
    for name in NAMES:
        goto, hop = internal.url(name, "/ok?goto"), loopback2.url(f"/redirect?to={internal.url(name, '/ok?goto-hop')}")
        if allow_list == OPEN and allowed_with_the_list(name):
            assert outcome[goto] == (True, "") and outcome[hop] == (True, ""), name
            continue
        assert outcome[goto] == outcome[hop] == (False, refusal(name)), name
        for what in ("/ok?goto", "/ok?goto-hop", "/ok?img", "/ok?img-hop"):
            assert (canonical(internal.url(name, what)), refusal(name)) in blocked, (name, what)
    expected_hits = (
        {"/ok?img", "/ok?img-hop", "/ok?goto", "/ok?goto-hop"} if allow_list == OPEN else set()
    )
    assert set(internal.hits()) - {"/favicon.ico"} == expected_hits
    if allow_list == OPEN:
        metadata = {internal.url("169.254.169.254", p) for p in ("/ok?img", "/ok?img-hop", "/ok?goto", "/ok?goto-hop")}
        assert {url for url, _ in blocked} == metadata
    assert_events_typed(await sync_to_async(list)(TaskEvent.objects.filter(task=task)))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
async def test_refused_start_url_fails_the_run_with_the_reason(settings, model, browser, org, operator, internal: Internal) -> None:
    settings.LOOKOUT_ALLOWED_NETWORKS = OPEN
    task = await sync_to_async(make_task)(org, operator, url=internal.url("localhost", "/ok"), navigation_goal="look")
    settings.LOOKOUT_ALLOWED_NETWORKS = ""  # the policy tightened after the task was queued
    finished = await execute_task(task.pk, browser=browser)
    url = internal.url("localhost", "/ok")
    assert finished.status == "failed"
    assert finished.failure_reason == f"could not open {url}: {refusal('localhost')}"
    assert [(e.data["url"], e.data["reason"]) for e in await events_of(task, "egress.blocked")] == [(url, refusal("localhost"))]
    assert internal.hits() == [] and not model.requests


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
async def test_refusals_on_the_timeline_are_bounded(settings, model, browser, org, operator, loopback: LoopbackServer, loopback2: LoopbackServer) -> None:
    settings.LOOKOUT_ALLOWED_NETWORKS = "127.0.0.1/32"
    many = MAX_EGRESS_EVENTS + 30
    loopback.pages["/noisy"] = "<h1>Noisy</h1>" + "".join(f'<img src="{loopback2.url(f"/ok?{i}")}">' for i in range(many))
    model.script = scripted([])
    task = await sync_to_async(make_task)(org, operator, url=loopback.url("/noisy"), navigation_goal="look")
    finished = await execute_task(task.pk, browser=browser)
    assert finished.status == "completed", finished.failure_reason
    events = await events_of(task, "egress.blocked")
    assert len(events) == MAX_EGRESS_EVENTS + 1
    assert all(e.data["reason"] == PREFIX + "127.0.0.2 is a loopback address" for e in events[:-1])
    omitted = events[-1].data.get("omitted", 0)
    assert omitted >= many - MAX_EGRESS_EVENTS
    assert events[-1].data == {
        "url": "",
        "reason": f"and {omitted} more requests blocked by the egress policy",
        "omitted": omitted,
    }
    assert loopback2.paths() == []


# ---- the exfiltration page --------------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
async def test_hostile_page_cannot_have_an_internal_page_uploaded_to_it(
    settings, model, browser, org, operator, site, loopback2: LoopbackServer
) -> None:
    """The page asks the agent to upload an internal admin page and posts whatever it gets back to itself;
    the model (scripted here) complies. The worker refuses to fetch it: the internal server sees nothing,
    the hostile page gets an empty form, and the timeline says why."""
    settings.LOOKOUT_ALLOWED_NETWORKS = "127.0.0.1/32"  # the sites; 127.0.0.2 plays the internal network
    secret = loopback2.url("/admin/login/")
    loopback2.pages["/admin/login/"] = "<h1>Lookout administration</h1><form>csrfmiddlewaretoken=s3cr3t</form>"

    def script(req):
        if req.index == 0:
            return step(
                act("upload_file", element_id(req, r"type=file"), file_url=secret),
                act("click", element_id(req, r"<button", r"Verify")),
            )
        if req.index == 1:  # after the refusal, it submits the form anyway
            return step(act("click", element_id(req, r"<button", r"Verify")))
        return step(act("complete"), goal_achieved=True)

    model.script = script
    task = await sync_to_async(make_task)(
        org, operator, url=site.url(f"/hostile/?internal_url={secret}"), navigation_goal="Verify the account"
    )
    finished = await execute_task(task.pk, browser=browser)
    assert finished.status == "completed", finished.failure_reason

    assert loopback2.paths() == []  # the internal server saw no request
    [posted] = site.posts("/hostile/collect")  # the page got its form back: with nothing in it
    assert posted["files"]["loot"]["content"] == b""
    upload = await Action.objects.aget(task=task, action_type="upload_file")
    assert (upload.success, upload.error) == (False, PREFIX + "127.0.0.2 is a loopback address")
    finished_events = [e.data for e in await events_of(task, "action.finished") if e.data["action_type"] == "upload_file"]
    assert [(d["success"], d["error"]) for d in finished_events] == [(False, upload.error)]
    assert [e.data for e in await events_of(task, "egress.blocked")] == [{"url": secret, "reason": upload.error}]
    assert_events_typed(await sync_to_async(list)(TaskEvent.objects.filter(task=task)))


# ---- downloads --------------------------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
async def test_oversize_download_is_stopped_and_reported(settings, model, browser, org, operator, site) -> None:
    settings.LOOKOUT_MAX_DOWNLOAD_MB = 1

    def script(req):
        if req.index == 0:
            return step(act("click", element_id(req, r"Download the archive")))
        return step(act("complete"), goal_achieved=True)

    model.script = script
    task = await sync_to_async(make_task)(org, operator, url=site.url("/download/archive.html"), navigation_goal="get it")
    finished = await execute_task(task.pk, browser=browser)
    assert finished.status == "completed", finished.failure_reason
    click = await Action.objects.aget(task=task, action_type="click")
    assert (click.success, click.error) == (False, "download of archive.bin stopped: larger than 1 MB")
    assert not await Artifact.objects.filter(task=task, kind=Artifact.Kind.DOWNLOAD).aexists()
    [stream] = site.streams
    assert not stream["complete"] and stream["sent"] < stream["size"]
