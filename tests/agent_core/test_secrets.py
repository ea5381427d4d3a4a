"""A run's secrets: placeholders for the model, the real values typed at the last moment (fresh TOTP codes,
only on the credential's sites, passwords only into password fields), and one masking for what is reported."""

from __future__ import annotations

import base64
import json
import logging

import pyotp
import pytest

from agent_core.actions import Click, InputText, execute_action
from agent_core.browser import BrowserSession
from agent_core.masking import MASK
from agent_core.prompts import render_cua_goal, render_step_prompt
from agent_core.scraper import scrape
from agent_core.secrets import (
    MaskingHooks,
    MaskingLogFilter,
    SecretRefused,
    Secrets,
    parse_totp,
    site_matches,
)
from agent_core.types import (
    ActionFinished,
    ActionResult,
    ActionStarted,
    ArtifactKind,
    ArtifactOut,
    CredentialSpec,
    LLMResponse,
    RunHooks,
    StepFinished,
    StepRef,
    StepStarted,
    TaskSpec,
)
from tests.sites.server import VAULT_PASSWORD, VAULT_TOTP_SECRET, VAULT_USER, TestSite

TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
ACME = CredentialSpec(
    name="acme", username="ada@acme.test", password="hunter2-hunter2", totp_secret=TOTP, sites=("acme.test",)
)


def test_sites_match_host_subdomains_and_the_port_or_scheme_they_name():
    assert site_matches("acme.test", "https://acme.test/login")
    assert site_matches("acme.test", "http://login.acme.test:8080/")
    assert not site_matches("acme.test", "https://acme.test.evil.example/")
    assert not site_matches("acme.test", "https://notacme.test/")
    assert site_matches("https://acme.test", "https://acme.test/x") and not site_matches("https://acme.test", "http://acme.test/")
    assert not site_matches("https://acme.test", "https://acme.test:8443/")
    assert site_matches("127.0.0.1:8123", "http://127.0.0.1:8123/vault/")
    assert not site_matches("127.0.0.1:8123", "http://127.0.0.1:9999/vault/")
    assert not site_matches("127.0.0.1:8123", "http://localhost:8123/vault/")
    assert not site_matches("0.1", "http://127.0.0.1/")  # addresses are never "subdomains"
    assert not site_matches("acme.test", "about:blank") and not site_matches("acme.test", "data:text/html,x")


def test_totp_secrets_in_base32_or_otpauth_uris():
    assert parse_totp("jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp").at(99) == pyotp.TOTP(TOTP).at(99)
    assert len(parse_totp("JBSWY3DPEHPK3PXP").now()) == 6  # 80 bits, as many sites issue: accepted
    uri = pyotp.TOTP(TOTP).provisioning_uri(name="ada@acme.test", issuer_name="Acme")
    assert parse_totp(uri).at(1_000_000) == pyotp.TOTP(TOTP).at(1_000_000)
    sha256 = parse_totp(f"otpauth://totp/x?secret={TOTP}&digits=8&period=60&algorithm=SHA256")
    assert sha256.at(600) == pyotp.TOTP(TOTP, digits=8, interval=60, digest="sha256").at(600)
    for bad in ("not base32!", "otpauth://hotp/x?secret=JBSWY3DPEHPK3PXP&counter=1", "otpauth://totp/x?digits=6"):
        with pytest.raises(ValueError):
            parse_totp(bad)


def test_the_public_spec_and_the_prompt_carry_placeholders_only():
    spec = TaskSpec(
        url="https://acme.test/",
        navigation_goal="log in and pay",
        navigation_payload={"name": "Ada", "card": "4111111111111111"},
        secret_payload_keys=("card",),
        credentials=(ACME,),
    )
    assert "hunter2" not in repr(spec) and "4111" not in repr(spec) and TOTP not in repr(spec)
    public = Secrets.public_spec(spec)
    _, user = render_step_prompt(spec=public, current_url=spec.url, element_listing="", history=[])
    goal = render_cua_goal(spec=public, current_url=spec.url)
    for text in (user, goal, repr(public)):
        assert "hunter2" not in text and "4111111111111111" not in text and TOTP not in text and "ada@acme" not in text
    assert "{{acme.username}}, {{acme.password}}, {{acme.totp}} (only on acme.test)" in user
    assert '"card": "{{payload.card}}"' in user and '"name": "Ada"' in user
    assert "{{acme.password}}" in goal and "{{payload.card}}" in goal


async def test_reveal_types_values_on_the_credentials_sites_only():
    secrets = Secrets([ACME], {"card": "4111111111111111"})
    url = "https://acme.test/login"
    assert await secrets.reveal("{{acme.username}}", url=url, input_type="text") == "ada@acme.test"
    assert await secrets.reveal("{{ acme.password }}", url=url, input_type="password") == "hunter2-hunter2"
    assert await secrets.reveal("card {{payload.card}}", url="https://any.example/", input_type="text") == "card 4111111111111111"
    assert await secrets.reveal("{{weather.today}} and {{x}}", url=url, input_type="text") == "{{weather.today}} and {{x}}"
    with pytest.raises(SecretRefused, match=r"refused to type \{\{acme.username\}\} on https://evil.example: .*acme.test \(phishing guard\)"):
        await secrets.reveal("{{acme.username}}", url="https://evil.example/acme.test", input_type="text")
    with pytest.raises(SecretRefused, match="not a password field"):
        await secrets.reveal("{{acme.password}}", url=url, input_type="text")
    with pytest.raises(SecretRefused, match="no credential 'acne'"):
        await secrets.reveal("{{acne.password}}", url=url, input_type="password")
    with pytest.raises(SecretRefused, match="has no pin"):
        await secrets.reveal("{{acme.pin}}", url=url, input_type="text")
    with pytest.raises(SecretRefused, match="not a secret payload value"):
        await secrets.reveal("{{payload.cvc}}", url=url, input_type="text")


async def test_a_totp_code_is_fresh_and_waits_for_the_next_window_near_its_end():
    now = [1_700_000_000.0 - (1_700_000_000 % 30) + 28.5]  # 1.5 s left in this window
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    secrets = Secrets([ACME], clock=lambda: now[0], sleep=sleep)
    code = await secrets.reveal("{{acme.totp}}", url="https://acme.test/", input_type="text")
    assert slept and 1.5 <= slept[0] < 1.6
    assert code == pyotp.TOTP(TOTP).at(int(now[0])) and code != pyotp.TOTP(TOTP).at(int(now[0]) - 2)
    assert secrets.mask_text(f"code {code}") == f"code {MASK}"  # a typed code is masked from then on
    now[0] += 10  # mid-window: no wait
    await secrets.reveal("{{acme.totp}}", url="https://acme.test/", input_type="text")
    assert len(slept) == 1


def test_masking_covers_every_value_and_spares_images():
    secrets = Secrets([ACME], {"card": "4111111111111111"})
    image = "data:image/jpeg;base64," + base64.b64encode(b"hunter2-hunter2 inside pixels").decode()
    request = json.dumps({"messages": [{"text": "typed ada@acme.test"}, {"image_url": image}]}).encode()
    masked = json.loads(secrets.mask_json_bytes(request))
    assert masked["messages"][0]["text"] == f"typed {MASK}" and masked["messages"][1]["image_url"] == image
    otpauth = f"otpauth://totp/Acme:ada?secret={TOTP}&issuer=Acme"
    uri_secrets = Secrets([CredentialSpec(name="a", password="pw-pw-pw", totp_secret=otpauth, sites=("a.test",))])
    assert TOTP not in uri_secrets.mask_text(f"{otpauth} / {TOTP}")
    assert Secrets().masker() is None and Secrets().mask_text("hunter2") == "hunter2"


class Recorder(RunHooks):
    def __init__(self) -> None:
        self.seen: list[object] = []

    async def step_started(self, event: StepStarted) -> None:
        self.seen.append(event)

    async def step_finished(self, event: StepFinished) -> None:
        self.seen.append(event)

    async def artifact(self, event: ArtifactOut) -> None:
        self.seen.append(event)

    async def llm_response(self, event: LLMResponse) -> None:
        self.seen.append(event)

    async def action_started(self, event: ActionStarted) -> None:
        self.seen.append(event)

    async def action_finished(self, event: ActionFinished) -> None:
        self.seen.append(event)


async def test_masking_hooks_mask_events_and_text_artifacts_but_not_screenshots():
    secrets = Secrets([ACME])
    inner = Recorder()
    hooks = MaskingHooks(inner, secrets)
    step = StepRef(order=1)
    shot = b"\xff\xd8\xff hunter2-hunter2"
    await hooks.step_started(StepStarted(step=step, url="https://acme.test/?u=ada@acme.test"))
    await hooks.artifact(ArtifactOut(ArtifactKind.HTML_SCRAPE, b"<input value='ada@acme.test'>", "text/html", "scrape.html", step))
    await hooks.artifact(ArtifactOut(ArtifactKind.SCREENSHOT_ACTION, shot, "image/jpeg", "a.jpeg", step))
    await hooks.llm_response(LLMResponse(step=step, parsed={"thinking": "ada@acme.test"}, raw="ada@acme.test"))
    action = {"action_type": "input_text", "element_id": "e1", "reasoning": "", "text": "{{acme.password}}"}
    await hooks.action_started(ActionStarted(step=step, index=0, action=action))
    result = ActionResult(success=False, error="could not fill hunter2-hunter2", data={"echo": "hunter2-hunter2"})
    await hooks.action_finished(ActionFinished(step=step, index=0, action=action, result=result))
    await hooks.step_finished(StepFinished(step=step, success=False, error="hunter2-hunter2 refused"))
    reported = repr(inner.seen)
    assert "hunter2-hunter2" not in reported.replace(repr(shot), "") and "ada@acme.test" not in reported
    assert inner.seen[2].data == shot  # pictures pass whole
    assert inner.seen[4].action["text"] == "{{acme.password}}"  # the placeholder, as the model wrote it


def test_the_log_filter_masks_live_secrets(caplog):
    secrets = Secrets([ACME])
    logger = logging.getLogger("tests.secrets")
    handler_filter = MaskingLogFilter()
    caplog.handler.addFilter(handler_filter)
    try:
        try:
            raise RuntimeError("boom with hunter2-hunter2")
        except RuntimeError:
            logger.exception("typing %s failed", "ada@acme.test")
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert "hunter2-hunter2" not in caplog.text and "ada@acme.test" not in caplog.text and MASK in caplog.text
    del secrets


# ---- in a browser: the vault site of tests/sites --------------------------------------------------------


def vault_credential(site: TestSite, *, host: str = "127.0.0.1") -> CredentialSpec:
    return CredentialSpec(
        name="vault", username=VAULT_USER, password=VAULT_PASSWORD, totp_secret=VAULT_TOTP_SECRET,
        sites=(f"{host}:{site.port}",),
    )


def find(page, pattern: str) -> str:
    import re

    for element in page.elements:
        if re.search(pattern, element.to_line()):
            return element.id
    raise AssertionError(f"no {pattern} in\n{page.listing}")


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
class TestTypingSecrets:
    async def test_placeholders_log_in_with_password_and_a_fresh_code(self, site: TestSite, session: BrowserSession) -> None:
        session.secrets = Secrets([vault_credential(site)])
        await session.goto(site.url("vault/"))
        page = await scrape(session.page)
        for action in (
            InputText(element_id=find(page, "name=username"), text="{{vault.username}}"),
            InputText(element_id=find(page, "name=password"), text="{{vault.password}}"),
        ):
            assert (await execute_action(session, page, action)).success
        listing = (await scrape(session.page)).listing
        assert VAULT_PASSWORD not in listing  # password fields read as stars
        assert (await execute_action(session, page, Click(element_id=find(page, "<button")))).navigated
        assert site.last("/vault/login")["fields"]["password"] == VAULT_PASSWORD
        page = await scrape(session.page)
        assert (await execute_action(session, page, InputText(element_id=find(page, "name=code"), text="{{vault.totp}}"))).success
        await execute_action(session, page, Click(element_id=find(page, "<button")))
        assert session.page.url == site.url("vault/members.html")

    async def test_a_placeholder_on_another_site_is_refused_and_nothing_is_typed(
        self, site: TestSite, session: BrowserSession
    ) -> None:
        session.secrets = Secrets([vault_credential(site)])
        await session.goto(site.cross_origin_url("vault/"))  # localhost: not the credential's 127.0.0.1
        page = await scrape(session.page)
        result = await execute_action(session, page, InputText(element_id=find(page, "name=username"), text="{{vault.username}}"))
        assert not result.success and "phishing guard" in (result.error or "")
        assert await session.page.input_value("#username") == ""

    async def test_a_password_is_not_typed_into_a_text_field(self, site: TestSite, session: BrowserSession) -> None:
        session.secrets = Secrets([vault_credential(site)])
        await session.goto(site.url("vault/"))
        page = await scrape(session.page)
        result = await execute_action(session, page, InputText(element_id=find(page, "name=username"), text="{{vault.password}}"))
        assert not result.success and "not a password field" in (result.error or "")
        assert await session.page.input_value("#username") == ""


def test_masking_hooks_forward_every_hook():
    """A hook added to RunHooks and not forwarded by MaskingHooks would silently do nothing in real runs."""
    import inspect

    from agent_core.secrets import MaskingHooks
    from agent_core.types import RunHooks

    hooks = {name for name, _ in inspect.getmembers(RunHooks, inspect.iscoroutinefunction) if not name.startswith("_")}
    missing = {name for name in hooks if getattr(MaskingHooks, name) is getattr(RunHooks, name)}
    assert missing == set()


async def test_a_crashed_run_ends_with_a_masked_reason(caplog):
    """An exception nobody expected (a bug, a broken browser) still ends the run with a reason, and the
    reason and the log never carry a secret value the exception happened to mention."""
    from agent_core.control import LocalControl
    from agent_core.egress import EgressPolicy
    from agent_core.runner import run_agent
    from agent_core.types import BrowserConfig, LLMConfig, RunStatus

    class BrokenBrowser:
        config = BrowserConfig(egress=EgressPolicy.from_setting("127.0.0.0/8"))

        async def new_session(self, **kwargs):
            raise RuntimeError(f"cannot type {ACME.password} or 4111111111111111")

    spec = TaskSpec(url="http://127.0.0.1:9/", navigation_goal="pay", navigation_payload={"card": "4111111111111111"},
                    secret_payload_keys=("card",), credentials=(ACME,))
    with caplog.at_level(logging.ERROR, logger="agent_core.runner"):
        outcome = await run_agent(spec, browser=BrokenBrowser(), llm=None, llm_config=LLMConfig(model="m"),  # type: ignore[arg-type]
                                  hooks=RunHooks(), control=LocalControl())
    assert outcome.status == RunStatus.FAILED
    assert outcome.failure_reason == f"internal error: RuntimeError: cannot type {MASK} or {MASK}"
    assert "the run crashed" in caplog.text and "4111111111111111" not in caplog.text
