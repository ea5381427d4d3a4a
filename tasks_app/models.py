"""Lookout's tables: organizations and their members, keys, credentials and saved logins; tasks, steps,
actions, artifacts, events, webhooks; the scripts runs record and replay."""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


def _webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class Organization(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    max_steps_per_run = models.PositiveIntegerField(default=25, help_text="Upper bound on a task's max_steps.")
    max_retries_per_step = models.PositiveIntegerField(default=3)
    webhook_secret = models.CharField(max_length=100, default=_webhook_secret)
    record_runs = models.BooleanField(default=True, help_text="Record video, trace and HAR for every run.")
    max_concurrent_runs = models.PositiveIntegerField(
        default=4,
        validators=[MinValueValidator(1)],
        help_text="Runs of this organization that may execute at once; more wait in the queue, in order.",
    )
    # Retention, applied by the scheduled `apply_retention` job: empty keeps forever.
    keep_events_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Delete timeline events of finished tasks after this many days."
    )
    keep_artifacts_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Delete screenshots, pages, prompts and downloads after this many days."
    )
    keep_recordings_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Delete videos, traces and HARs after this many days."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members: models.ManyToManyField[Any, Any] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="organizations"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        OPERATOR = "operator", "Operator"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.OPERATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="one_membership_per_user_org")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class ApiKey(models.Model):
    """An organization's API key. Only a SHA-256 hash is stored; the key itself is shown once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The key's first characters, to recognise it.")
    hashed_key = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=20, choices=Membership.Role.choices, default=Membership.Role.OPERATOR)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Credential(models.Model):
    """A login the agent types without seeing it: the model gets `{{name.username}}`, `{{name.password}}`,
    `{{name.totp}}` and the executor types the values, only on `sites` (see agent_core.secrets). The three
    secrets are stored encrypted (tasks_app.crypto) and never shown again: only whether each is set."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="credentials")
    name = models.CharField(max_length=64, help_text="Letters, digits, - and _; tasks refer to it by this name.")
    username_encrypted = models.TextField(blank=True, editable=False)
    password_encrypted = models.TextField(blank=True, editable=False)
    totp_secret_encrypted = models.TextField(blank=True, editable=False)
    notes = models.TextField(blank=True)
    sites = models.JSONField(default=list, blank=True, help_text="Hosts the values may be typed on, e.g. acme.com.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="one_credential_name_per_org")]

    def __str__(self) -> str:
        return self.name

    @property
    def has_username(self) -> bool:
        return bool(self.username_encrypted)

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    @property
    def has_totp(self) -> bool:
        return bool(self.totp_secret_encrypted)


class BrowserProfile(models.Model):
    """A saved login: a browser context's cookies and local storage (Playwright's storage_state), stored
    encrypted. A task may start from it and save its own state back when it completes (last writer wins)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="browser_profiles")
    name = models.CharField(max_length=64)
    state_encrypted = models.TextField(blank=True, editable=False)
    sites = models.JSONField(default=list, blank=True, help_text="Domains of its cookies and origins of its storage.")
    cookie_count = models.PositiveIntegerField(default=0)
    saved_by_task = models.ForeignKey(
        "Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="The run that saved it last."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="one_profile_name_per_org")]

    def __str__(self) -> str:
        return self.name

    @property
    def has_state(self) -> bool:
        return bool(self.state_encrypted)


class Task(models.Model):
    class Status(models.TextChoices):
        CREATED = "created"
        QUEUED = "queued"
        RUNNING = "running"
        PAUSED = "paused"
        AWAITING_APPROVAL = "awaiting_approval"
        AWAITING_INPUT = "awaiting_input"
        COMPLETED = "completed"
        FAILED = "failed"
        TERMINATED = "terminated"
        CANCELED = "canceled"
        TIMED_OUT = "timed_out"

    FINAL_STATUSES = frozenset({"completed", "failed", "terminated", "canceled", "timed_out"})
    SECRET_SHOWN = "•••"  # what a secret payload value reads as, everywhere
    ACTIVE_STATUSES = frozenset({"running", "paused", "awaiting_approval", "awaiting_input"})

    class StopCause(models.TextChoices):
        """Who stopped a run that did not end on its own: kept as data, so the wording of a
        failure_reason can change without changing what the run (or an API mapping) does."""

        NONE = "", "-"
        OPERATOR = "operator", "Stopped by an operator"
        SAFETY_CHECK_DENIED = "safety_check_denied", "Safety check denied by an operator"

    class Engine(models.TextChoices):
        DOM = "dom", "DOM (chat model + element ids)"
        CUA = "cua", "Computer use (OpenAI Responses)"

    class RunWith(models.TextChoices):
        AGENT = "agent", "The model"
        SCRIPT = "script", "A recorded script"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tasks")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    # the request
    url = models.URLField(max_length=2048)
    title = models.CharField(max_length=200, blank=True)
    navigation_goal = models.TextField(blank=True)
    data_extraction_goal = models.TextField(blank=True)
    navigation_payload = models.JSONField(null=True, blank=True)
    extracted_information_schema = models.JSONField(null=True, blank=True)
    error_code_mapping = models.JSONField(null=True, blank=True)
    webhook_callback_url = models.URLField(max_length=2048, blank=True)
    engine = models.CharField(max_length=10, choices=Engine.choices, default=Engine.DOM)
    model = models.CharField(max_length=100, blank=True)
    max_steps = models.PositiveIntegerField(default=10)
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    # Replay: "script" runs the recorded `script` version (the model only repairs steps that broke).
    run_with = models.CharField(max_length=10, choices=RunWith.choices, default=RunWith.AGENT)
    script = models.ForeignKey(
        "Script", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays",
        help_text="The script version this run replays.",
    )
    # secrets: credentials by name, payload keys whose values are kept encrypted in `secret_payload` (the
    # stored navigation_payload shows SECRET_SHOWN instead), and a saved login to start from / save to
    credentials = models.JSONField(default=list, blank=True)
    secret_payload_keys = models.JSONField(default=list, blank=True)
    secret_payload = models.TextField(blank=True, editable=False)
    profile = models.CharField(max_length=64, blank=True)
    save_profile = models.BooleanField(default=False)
    # the outcome
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    failure_reason = models.TextField(blank=True)
    stop_cause = models.CharField(max_length=30, choices=StopCause.choices, default=StopCause.NONE, blank=True)
    extracted_information = models.JSONField(null=True, blank=True)
    errors = models.JSONField(default=list, blank=True)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    # A replay's figures (agent_core's RunOutcome.replay): steps replayed and healed, model calls made and
    # those of the recorded run, tokens saved. None for runs of the model.
    replay = models.JSONField(null=True, blank=True)
    # control and bookkeeping
    pending_safety_checks = models.JSONField(default=list, blank=True)
    retry_step_requested = models.BooleanField(default=False)
    # Take control: who drives the agent's browser from the live view (the run is paused meanwhile).
    # `control_holder_label` is non-empty exactly while someone holds control (an API key has no user).
    control_holder = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    control_holder_label = models.CharField(max_length=150, blank=True)
    control_taken_at = models.DateTimeField(null=True, blank=True)
    # Ask a person: the agent's open question, since when, and the reply waiting for the worker to read.
    pending_question = models.TextField(blank=True)
    input_requested_at = models.DateTimeField(null=True, blank=True)
    input_reply = models.JSONField(null=True, blank=True)
    last_event_seq = models.PositiveBigIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    requeue_count = models.PositiveIntegerField(default=0)
    # Set when a worker found the organization at its concurrent-run limit and left the task queued; a
    # run of the organization that ends dispatches the oldest such tasks again.
    deferred_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="task_org_created"),
            models.Index(fields=["organization", "status", "-created_at"], name="task_org_status_created"),
            models.Index(fields=["status", "heartbeat_at"], name="task_status_heartbeat"),
            models.Index(fields=["organization", "run_with", "-created_at"], name="task_org_run_with_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(max_steps__gte=1), name="task_max_steps_positive"),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.navigation_goal[:50] or self.url}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        from django.utils import timezone

        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def is_replay(self) -> bool:
        return self.run_with == self.RunWith.SCRIPT


class Step(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELED = "canceled"

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveIntegerField()
    retry_index = models.PositiveIntegerField(default=0)
    class Mode(models.TextChoices):
        NONE = "", "-"  # a run of the model: every step asks it
        REPLAYED = "replayed", "Replayed from the script"
        MODEL = "model", "Asked the model"

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    # In a replay: whether the step replayed a recorded action or asked the model, and why it had to.
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.NONE, blank=True)
    why = models.TextField(blank=True)
    url = models.URLField(max_length=2048, blank=True)
    error = models.TextField(blank=True)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order", "retry_index"]
        constraints = [
            models.UniqueConstraint(fields=["task", "order", "retry_index"], name="unique_step_order_retry"),
        ]

    def __str__(self) -> str:
        return f"step {self.order}.{self.retry_index} of {self.task_id}"


class Action(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="actions")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="actions")
    index = models.PositiveIntegerField()
    action_type = models.CharField(max_length=40)
    element_id = models.CharField(max_length=40, blank=True)
    reasoning = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    success = models.BooleanField(null=True)
    error = models.TextField(blank=True)
    data = models.JSONField(null=True, blank=True)
    navigated = models.BooleanField(default=False)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["step__order", "step__retry_index", "index"]
        constraints = [models.UniqueConstraint(fields=["step", "index"], name="unique_action_index")]

    def __str__(self) -> str:
        return f"{self.action_type} {self.element_id}".strip()


def artifact_path(instance: Artifact, filename: str) -> str:
    return f"org-{instance.task.organization_id}/tasks/{instance.task_id}/{uuid.uuid4().hex[:12]}-{filename}"


class Artifact(models.Model):
    class Kind(models.TextChoices):
        SCREENSHOT_LLM = "screenshot_llm", "Screenshot (sent to the model)"
        SCREENSHOT_ACTION = "screenshot_action", "Screenshot (after an action)"
        SCREENSHOT_FINAL = "screenshot_final", "Screenshot (final)"
        HTML_SCRAPE = "html_scrape", "HTML (scrape)"
        HTML_ACTION = "html_action", "HTML (after an action)"
        ELEMENT_TREE_FULL = "element_tree_full", "Element tree (full)"
        ELEMENT_TREE_PROMPT = "element_tree_prompt", "Element tree (in prompt)"
        LLM_PROMPT = "llm_prompt", "Model prompt"
        LLM_REQUEST = "llm_request", "Model request"
        LLM_RESPONSE = "llm_response", "Model response"
        RECORDING = "recording", "Video recording"
        TRACE = "trace", "Playwright trace"
        HAR = "har", "HAR"
        DOWNLOAD = "download", "Download"

    SCREENSHOT_KINDS = frozenset({"screenshot_llm", "screenshot_action", "screenshot_final"})

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="artifacts")
    step = models.ForeignKey(Step, null=True, blank=True, on_delete=models.CASCADE, related_name="artifacts")
    action = models.ForeignKey(Action, null=True, blank=True, on_delete=models.SET_NULL, related_name="artifacts")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    name = models.CharField(max_length=200)
    file = models.FileField(upload_to=artifact_path, max_length=500)
    thumbnail = models.FileField(upload_to=artifact_path, max_length=500, blank=True)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["task", "kind"], name="artifact_task_kind")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.name}"


class TaskEvent(models.Model):
    """Append-only, numbered timeline entry. seq counts from 1 per task with no gaps."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=40)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["task", "seq"], name="unique_event_seq")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"


class WebhookDelivery(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="webhook_deliveries")
    url = models.URLField(max_length=2048)
    event = models.CharField(max_length=40, default="task.finished")
    attempt = models.PositiveIntegerField(default=1)
    payload = models.JSONField(default=dict)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    succeeded = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.url} attempt {self.attempt}"


class Script(models.Model):
    """One version of a replayable record of a successful dom run: its actions with several locators per
    target, payload values as references, expected changes and the extraction (agent_core.replay's
    document, stored as given: it holds no secret). Versions form a lineage rooted at the run that
    recorded version 1; a replay that repaired steps adds the next version."""

    class Reason(models.TextChoices):
        RECORDED = "recorded", "Recorded by a run of the model"
        REPAIRED = "repaired", "Repaired by a replay"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="scripts")
    lineage = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="script_versions", help_text="The run that recorded version 1."
    )
    version = models.PositiveIntegerField()
    document = models.JSONField()
    reason = models.CharField(max_length=10, choices=Reason.choices)
    healed_steps = models.JSONField(default=list, blank=True)
    made_by_task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="The run that made this version."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["lineage", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["lineage", "version"], name="one_script_version_per_lineage"),
            models.CheckConstraint(condition=Q(version__gte=1), name="script_version_positive"),
        ]

    def __str__(self) -> str:
        return f"script v{self.version} of {self.lineage_id}"

    @property
    def step_count(self) -> int:
        steps = self.document.get("steps") if isinstance(self.document, dict) else None
        return len(steps) if isinstance(steps, list) else 0
