"""agent_core's configuration for one run, built from settings, the task and its organization."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from agent_core.recording import find_ffmpeg
from agent_core.types import AgentConfig, BrowserConfig, Engine, LLMConfig, TaskSpec
from tasks_app.crypto import decrypt_json
from tasks_app.egress import policy as egress_policy
from tasks_app.errors import NotFoundError
from tasks_app.models import Organization, Task
from tasks_app.selectors.credentials import credential_specs, profile_state
from tasks_app.selectors.scripts import script_document

NO_FFMPEG = (
    "No video for this run: ffmpeg was not found (install Debian's ffmpeg package, e.g. `make system-deps`). "
    "The trace and the HAR were still recorded."
)


def spec_from_task(task: Task) -> TaskSpec:
    """The agent's spec, with the task's secrets decrypted: its credentials and the real values of its
    secret payload keys (agent_core shows the model placeholders for both). Reads the database: call it
    in a thread from async code. A replay gets the document of the script version it replays. Raises
    NotFoundError for a credential or a replayed script deleted since the task was made, DecryptionError for a secret the configured keys cannot open."""
    payload = task.navigation_payload
    if task.secret_payload and isinstance(payload, dict):
        payload = {**payload, **(decrypt_json(task.secret_payload) or {})}
    credentials = credential_specs(organization=task.organization, names=task.credentials or [])
    script = script_document(task_id=task.pk) if task.is_replay else None
    if task.is_replay and script is None:
        raise NotFoundError("the script this task replays no longer exists")
    return TaskSpec(
        url=task.url,
        navigation_goal=task.navigation_goal,
        data_extraction_goal=task.data_extraction_goal,
        navigation_payload=payload,
        credentials=tuple(credentials),
        secret_payload_keys=tuple(task.secret_payload_keys or ()),
        extracted_information_schema=task.extracted_information_schema,
        error_code_mapping=task.error_code_mapping or {},
        engine=Engine(task.engine),
        max_steps=task.max_steps,
        title=task.title,
        run_with=task.run_with,
        script=script,
    )


def llm_config(task: Task | None = None) -> LLMConfig:
    model = (task.model if task is not None else "") or ""
    return LLMConfig(
        api_key=settings.OPENAI_API_KEY,
        base_url=settings.OPENAI_BASE_URL,
        model=model or settings.LOOKOUT_MODEL,
        extraction_model=settings.LOOKOUT_EXTRACTION_MODEL,
        cua_model=model or settings.LOOKOUT_CUA_MODEL,
        timeout_s=settings.LOOKOUT_LLM_TIMEOUT,
    )


def records_runs(organization: Organization | None) -> bool:
    """Whether runs of `organization` are recorded (video, trace, HAR): LOOKOUT_RECORD_RUNS and the
    organization's own switch."""
    return bool(settings.LOOKOUT_RECORD_RUNS and organization is not None and organization.record_runs)


def start_state(task: Task) -> dict[str, Any] | None:
    """The saved login the task starts from (decrypted), None for a fresh browser. Reads the database.
    Raises NotFoundError when the profile was deleted and the task does not save it anew."""
    if not task.profile:
        return None
    state = profile_state(organization=task.organization, name=task.profile)
    if state is None and not task.save_profile:
        raise NotFoundError(f"the browser profile {task.profile!r} no longer exists", extra={"profile": task.profile})
    return state


def browser_config(
    *,
    workdir: str | None = None,
    organization: Organization | None = None,
    storage_state: dict[str, Any] | None = None,
    save_storage_state: bool = False,
) -> BrowserConfig:
    """The process-wide browser settings (egress policy and download cap included); with `workdir`, a run's own downloads folder inside it, and when
    `organization` records runs, its video (if ffmpeg is there), trace and HAR under `workdir/recordings`.
    `storage_state` is a saved login to start from; `save_storage_state` hands the state back at the end."""
    record = workdir is not None and records_runs(organization)
    recordings = f"{workdir}/recordings"
    return BrowserConfig(
        storage_state=storage_state,
        save_storage_state=save_storage_state,
        executable_path=settings.LOOKOUT_CHROMIUM,
        headless=settings.LOOKOUT_HEADLESS,
        upload_dirs=tuple(settings.LOOKOUT_UPLOAD_DIRS),
        egress=egress_policy(),
        max_download_bytes=int(settings.LOOKOUT_MAX_DOWNLOAD_MB * 2**20),
        downloads_dir=f"{workdir}/downloads" if workdir else None,
        video_dir=recordings if record and find_ffmpeg() else None,
        har_path=f"{recordings}/network.har" if record else None,
        trace=record,
    )


def agent_config(task: Task) -> AgentConfig:
    org = task.organization
    return AgentConfig(max_steps=org.max_steps_per_run, max_retries_per_step=org.max_retries_per_step)
