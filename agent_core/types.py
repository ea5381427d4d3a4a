"""The data that crosses between agent_core and its host: specs, configs, events, results, hooks, control.

Everything here is plain Python (frozen dataclasses and protocols) so the Django side, the CLI and the
tests can all drive the agent without agent_core knowing who they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from agent_core.egress import EgressPolicy

DEFAULT_MAX_DOWNLOAD_BYTES = 100 * 2**20


class Engine(StrEnum):
    DOM = "dom"
    CUA = "cua"


class ArtifactKind(StrEnum):
    SCREENSHOT_LLM = "screenshot_llm"
    SCREENSHOT_ACTION = "screenshot_action"
    SCREENSHOT_FINAL = "screenshot_final"
    HTML_SCRAPE = "html_scrape"
    HTML_ACTION = "html_action"
    ELEMENT_TREE_FULL = "element_tree_full"
    ELEMENT_TREE_PROMPT = "element_tree_prompt"
    LLM_PROMPT = "llm_prompt"
    LLM_REQUEST = "llm_request"
    LLM_RESPONSE = "llm_response"
    RECORDING = "recording"
    TRACE = "trace"
    HAR = "har"
    DOWNLOAD = "download"


class RunStatus(StrEnum):
    """How a run ended, as the agent sees it (the host maps these onto its task statuses)."""

    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class CredentialSpec:
    """A login the agent may type without ever seeing it. The model is shown placeholders
    (`{{name.username}}`, `{{name.password}}`, `{{name.totp}}` when there is a TOTP secret) and the executor
    types the real values, only on pages of `sites` (see agent_core.secrets). Values stay out of repr()."""

    name: str
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    totp_secret: str = field(default="", repr=False)  # base32, or an otpauth:// URI; "" for none
    sites: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskSpec:
    """What to do. Validated by `agent_core.runner.validate_spec` before a run starts.

    `credentials` and the `navigation_payload` keys named in `secret_payload_keys` are secrets: the run
    shows the model placeholders for them and masks their values out of everything it reports."""

    url: str
    navigation_goal: str = ""
    data_extraction_goal: str = ""
    navigation_payload: Any = field(default=None, repr=False)
    extracted_information_schema: dict[str, Any] | None = None
    error_code_mapping: dict[str, str] = field(default_factory=dict)
    engine: Engine = Engine.DOM
    max_steps: int = 10
    title: str = ""
    credentials: tuple[CredentialSpec, ...] = ()
    secret_payload_keys: tuple[str, ...] = ()
    # "agent": the engine asks its model each step (a successful dom run hands its Script to RunHooks.script).
    # "script": replay `script` (a Script document, agent_core.replay.script) with this spec's payload; the
    # model is asked only for a step that no longer fits (dom engine only).
    run_with: str = "agent"
    script: dict[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class BrowserConfig:
    executable_path: str | None = None  # None: auto-detect the system Chromium
    headless: bool = True
    viewport_width: int = 1280
    viewport_height: int = 800
    user_agent: str | None = None
    proxy: str | None = None  # e.g. "http://127.0.0.1:3128"
    extra_headers: dict[str, str] = field(default_factory=dict)
    downloads_dir: str | None = None
    # JPEG quality of screenshots (model input and artifacts); None for PNG. JPEG is ~30% faster to
    # capture than PNG here and several times smaller.
    screenshot_quality: int | None = 80
    upload_dirs: tuple[str, ...] = ()  # local folders upload_file may read from (URLs are always allowed)
    # What the browser and upload_file may reach (agent_core.egress). The default refuses loopback,
    # private and reserved addresses as well as link-local and metadata ones; hosts open what they need.
    egress: EgressPolicy = EgressPolicy()
    # A download that grows past this is cancelled and reported; it never reaches the host whole.
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES
    navigation_timeout_ms: int = 30_000
    action_timeout_ms: int = 5_000
    # Recording (video / trace / HAR): directories the session writes into; None turns each off.
    video_dir: str | None = None
    har_path: str | None = None
    trace: bool = False
    # A saved login: Playwright's storage_state (cookies and local storage) loaded into the fresh context.
    storage_state: dict[str, Any] | None = field(default=None, repr=False)
    # Hand the context's storage_state to RunHooks.storage_state when the run completes.
    save_storage_state: bool = False


@dataclass(frozen=True)
class LLMConfig:
    api_key: str = ""
    base_url: str | None = None
    model: str = "gpt-4o"  # dom engine step model
    extraction_model: str | None = None  # None: same as model
    cua_model: str = "computer-use-preview"
    timeout_s: float = 60.0
    max_retries: int = 3


@dataclass(frozen=True)
class AgentConfig:
    max_steps: int = 25  # hard cap; a task's own max_steps is bounded by this
    max_retries_per_step: int = 3
    history_window: int = 10  # earlier actions shown to the model
    # The same action on the same page state: the model is warned once it was done `loop_warning` times,
    # and a step asking for it again after `loop_limit` times fails, naming the loop.
    loop_warning: int = 3
    loop_limit: int = 5
    image_retention: int = 3  # cua: screenshots kept when history is replayed


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    model: str = ""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            model=self.model or other.model,
        )


@dataclass(frozen=True)
class StepRef:
    """Identifies a step: `order` counts steps from 1; a retried step keeps its order, bumps retry_index."""

    order: int
    retry_index: int = 0


@dataclass(frozen=True)
class SafetyCheck:
    id: str
    code: str
    message: str


@dataclass(frozen=True)
class HumanReply:
    """A person's reply to the agent's question (`ask_human`): their answer, or, when `handled` is True,
    that they took control of the browser and did what was needed themselves (the page shows it)."""

    answer: str = ""
    by: str = ""
    handled: bool = False


@dataclass(frozen=True)
class ActionResult:
    """How an action went. The dom engine's `data["changes"]` is what it changed on the page (agent_core.changes)."""

    success: bool
    error: str | None = None
    data: Any = None
    navigated: bool = False
    duration_ms: float = 0.0
    settle_ms: float = 0.0  # of duration_ms, the time spent waiting for the page to settle after the action
    settled: bool = True  # False: the page was still busy when settling gave up


# ---- events handed to RunHooks -------------------------------------------------------------


# How a step or action of a replay (TaskSpec.run_with == "script") came about: "replayed" from the script
# without the model, or "model" (the model was asked, `why` says why). "" outside replays.
REPLAYED = "replayed"
ASKED_MODEL = "model"


@dataclass(frozen=True)
class StepStarted:
    step: StepRef
    url: str
    mode: str = ""
    why: str = ""


@dataclass(frozen=True)
class StepFinished:
    step: StepRef
    success: bool
    error: str | None = None
    usage: Usage = Usage()
    duration_ms: float = 0.0


@dataclass(frozen=True)
class ArtifactOut:
    kind: ArtifactKind
    data: bytes
    content_type: str
    name: str
    step: StepRef | None = None
    action_index: int | None = None


@dataclass(frozen=True)
class LLMDelta:
    step: StepRef
    text: str


@dataclass(frozen=True)
class LLMResponse:
    step: StepRef
    parsed: dict[str, Any] | None
    raw: str
    usage: Usage = Usage()


@dataclass(frozen=True)
class ActionStarted:
    step: StepRef
    index: int
    action: dict[str, Any]  # action_type, element_id, reasoning and the type's own parameters
    mode: str = ""  # see REPLAYED / ASKED_MODEL
    why: str = ""


@dataclass(frozen=True)
class ActionFinished:
    step: StepRef
    index: int
    action: dict[str, Any]
    result: ActionResult
    mode: str = ""
    why: str = ""


@dataclass(frozen=True)
class EgressBlocked:
    """A request the egress policy refused: the browser's (navigation, subresource, redirect hop,
    WebSocket) or a server-side fetch. `reason` reads "blocked by the egress policy: ..."."""

    url: str
    reason: str


@dataclass(frozen=True)
class Frame:
    """A live-view JPEG from the CDP screencast: lossy, never stored."""

    data: bytes
    width: int
    height: int
    captured_at: float = 0.0  # seconds since the epoch, when Chromium produced the frame


@dataclass(frozen=True)
class RunOutcome:
    status: RunStatus
    failure_reason: str | None = None
    extracted_information: Any = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = Usage()
    steps: int = 0
    # Replays only: {"steps_replayed", "steps_healed", "model_calls", "model_calls_recorded", "tokens_saved"}.
    replay: dict[str, Any] | None = None


@dataclass(frozen=True)
class ScriptOut:
    """A Script document (agent_core.replay.script, JSON-ready, secrets only as placeholders) to store as a
    new version: `reason` "recorded" (a successful dom run) or "repaired" (a replay that asked the model for
    the steps numbered in `healed_steps`, 1-based step numbers of the new document)."""

    document: dict[str, Any]
    healed_steps: list[int] = field(default_factory=list)
    reason: str = "recorded"


class RunHooks:
    """Callbacks the run loop awaits for everything the dashboard shows. All no-ops by default.

    Hooks must be quick: the agent awaits them in line. `frame` in particular is called from the
    screencast and must never block (drop frames rather than queue them).
    """

    async def step_started(self, event: StepStarted) -> None: ...

    async def step_finished(self, event: StepFinished) -> None: ...

    async def artifact(self, event: ArtifactOut) -> None: ...

    async def llm_delta(self, event: LLMDelta) -> None: ...

    async def llm_response(self, event: LLMResponse) -> None: ...

    async def action_started(self, event: ActionStarted) -> None: ...

    async def action_finished(self, event: ActionFinished) -> None: ...

    async def frame(self, event: Frame) -> None: ...

    async def egress_blocked(self, event: EgressBlocked) -> None:
        """The egress policy refused a request of this run. Called in line with the browser's request
        handling, possibly many times (a page can ask for many refused URLs): keep it cheap."""

    async def browser_ready(self, session: Any) -> None:
        """The run's BrowserSession is open (hosts use it to start/stop the live-view screencast)."""

    async def script(self, event: ScriptOut) -> None:
        """A run's replayable script: at the end of a successful dom run ("recorded") and of a replay that
        repaired steps ("repaired"). Store it as the next version of the lineage's script."""

    async def storage_state(self, state: dict[str, Any]) -> None:
        """The context's cookies and local storage at the end of a completed run whose BrowserConfig has
        `save_storage_state`. A saved login: keep it encrypted. Not masked (it is the login itself)."""


@runtime_checkable
class Control(Protocol):
    """The operator's hand on a run (see agent_core.control.LocalControl for the reference implementation)."""

    async def checkpoint(self) -> None:
        """Return at once when running; block while paused; raise RunTerminatedError when terminated,
        RetryStepRequested when an operator asked to redo the current step."""
        ...

    async def approve(self, checks: list[SafetyCheck]) -> bool:
        """Wait for an operator's decision on safety checks: True approved, False denied.
        Raises RunTerminatedError if the run is terminated while waiting."""
        ...

    async def wait_terminated(self) -> str:
        """Return the reason once the run is terminated (used to cancel an in-flight model call)."""
        ...


@runtime_checkable
class HumanHelp(Protocol):
    """Optional extension of Control for hosts where a person can help the agent: answer its questions, and
    take the browser over while the run is paused. Engines check `isinstance(control, HumanHelp)`; without
    it, `ask_human` has nobody to ask and the step fails with that reason."""

    async def ask_human(self, question: str) -> HumanReply:
        """Wait for a person's reply to `question`. Raises RunTerminatedError if the run ends meanwhile."""
        ...

    def take_notes(self) -> list[str]:
        """What people told or did for the agent since the last call (e.g. a summary of what they did while
        they had control), to put in the next prompt. Each note is returned once."""
        ...
