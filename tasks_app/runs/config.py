"""agent_core's configuration for one run, built from settings, the task and its organization."""

from __future__ import annotations

from django.conf import settings

from agent_core.recording import find_ffmpeg
from agent_core.types import AgentConfig, BrowserConfig, Engine, LLMConfig, TaskSpec
from tasks_app.egress import policy as egress_policy
from tasks_app.models import Organization, Task

NO_FFMPEG = (
    "No video for this run: ffmpeg was not found (install Debian's ffmpeg package, e.g. `make system-deps`). "
    "The trace and the HAR were still recorded."
)


def spec_from_task(task: Task) -> TaskSpec:
    return TaskSpec(
        url=task.url,
        navigation_goal=task.navigation_goal,
        data_extraction_goal=task.data_extraction_goal,
        navigation_payload=task.navigation_payload,
        extracted_information_schema=task.extracted_information_schema,
        error_code_mapping=task.error_code_mapping or {},
        engine=Engine(task.engine),
        max_steps=task.max_steps,
        title=task.title,
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


def browser_config(*, workdir: str | None = None, organization: Organization | None = None) -> BrowserConfig:
    """The process-wide browser settings (egress policy and download cap included); with `workdir`, a run's own downloads folder inside it, and when
    `organization` records runs, its video (if ffmpeg is there), trace and HAR under `workdir/recordings`."""
    record = workdir is not None and records_runs(organization)
    recordings = f"{workdir}/recordings"
    return BrowserConfig(
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
