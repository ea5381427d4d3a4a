"""The run endpoints Skyvern's published Python client calls (`skyvern.client.Skyvern`: run_task, get_run,
cancel_run, get_run_artifacts, get_runs_v2), so code written for it works against Lookout with only its
base_url and api_key changed. Field names, status values and run_type values follow that client.

A run is a Lookout task: run_id is the task id. Lookout's statuses map onto Skyvern's (paused and
awaiting_approval are still "running" to a Skyvern client); the dom engine is Skyvern's "skyvern-1.0"
(run_type task_v1) and the cua engine its "openai-cua" (run_type openai_cua). Skyvern request fields with no
Lookout counterpart (proxy_location, totp_*, browser_session_id, extra_http_headers, …) are accepted and ignored.

`run_with: "code"` (Skyvern's cached script; Lookout also takes "script") replays the newest script recorded
for the same url and prompt, asking the model only for steps that broke; with none recorded yet, the run goes
to the model like "agent" and records one when it completes (as Skyvern's first code run does).
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app import json_limits, services
from tasks_app.api.base import OrgApi, errors
from tasks_app.api.serializers import artifact_content_url, no_null_characters
from tasks_app.errors import InvalidRequestError
from tasks_app.models import Artifact, Task
from tasks_app.selectors import artifacts as artifact_selectors
from tasks_app.selectors import scripts as script_selectors
from tasks_app.selectors import tasks as task_selectors

S = Task.Status
RUN_STATUS: dict[str, str] = {
    S.CREATED: "created",
    S.QUEUED: "queued",
    S.RUNNING: "running",
    S.PAUSED: "running",
    S.AWAITING_APPROVAL: "running",
    S.AWAITING_INPUT: "running",  # Skyvern's RunStatus has no waiting-for-a-person status
    S.COMPLETED: "completed",
    S.FAILED: "failed",
    S.TERMINATED: "terminated",
    S.CANCELED: "canceled",
    S.TIMED_OUT: "timed_out",
}


def run_status(task: Task) -> str:
    """Skyvern's status of a task. A run an operator stopped (terminate, a denied safety check, or this
    API's cancel) is Skyvern's `canceled`; `terminated` stays for the agent giving up on its own."""
    if task.status == S.TERMINATED and task.stop_cause:
        return "canceled"
    return RUN_STATUS[task.status]


def status_filter(run_statuses: list[str]) -> Q:
    """The tasks whose `run_status` is one of `run_statuses`."""
    wanted = Q(pk__in=[])
    for status, run in RUN_STATUS.items():
        if run not in run_statuses:
            continue
        wanted |= Q(status=status, stop_cause="") if status == S.TERMINATED else Q(status=status)
    if "canceled" in run_statuses:
        wanted |= Q(status=S.TERMINATED) & ~Q(stop_cause="")
    return wanted


RUN_STATUSES = ["created", "queued", "running", "timed_out", "failed", "terminated", "completed", "canceled"]
ENGINE_OF: dict[str, str] = {"skyvern-1.0": Task.Engine.DOM, "openai-cua": Task.Engine.CUA}
RUN_ENGINE: dict[str, str] = {engine: name for name, engine in ENGINE_OF.items()}
RUN_ENGINES = list(ENGINE_OF)
RUN_TYPE: dict[str, str] = {Task.Engine.DOM: "task_v1", Task.Engine.CUA: "openai_cua"}
RUN_TYPES = list(RUN_TYPE.values())
# Skyvern's run_with values (and its legacy spellings) -> Lookout's.
RUN_WITH_VALUES: dict[str, str] = {
    "agent": Task.RunWith.AGENT, "ai": Task.RunWith.AGENT,
    "code": Task.RunWith.SCRIPT, "code_v2": Task.RunWith.SCRIPT, "script": Task.RunWith.SCRIPT,
}
ARTIFACT_TYPE: dict[str, str] = {
    Artifact.Kind.ELEMENT_TREE_FULL: "visible_elements_tree",
    Artifact.Kind.ELEMENT_TREE_PROMPT: "visible_elements_tree_in_prompt",
}  # every other Lookout kind has the same name in Skyvern's ArtifactType
SCREENSHOT_URL_COUNT = 3  # Skyvern's TASK_RESPONSE_ACTION_SCREENSHOT_COUNT
# A Lookout field named in a validation error -> the Skyvern request field the client sent.
REQUEST_FIELD: dict[str, str] = {
    "navigation_goal": "prompt",
    "data_extraction_goal": "prompt",
    "extracted_information_schema": "data_extraction_schema",
    "webhook_callback_url": "webhook_url",
}
RUN_ID = OpenApiParameter("run_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The run's (task's) id.")


def artifact_type(kind: str) -> str:
    return ARTIFACT_TYPE.get(kind, kind)


def kinds_for(artifact_types: list[str]) -> list[str]:
    return [kind for kind in Artifact.Kind.values if artifact_type(kind) in artifact_types]


# ---- output shapes ------------------------------------------------------------------------------


class FileInfoOutput(serializers.Serializer):
    url = serializers.URLField()
    filename = serializers.CharField(allow_null=True)
    file_size = serializers.IntegerField(allow_null=True)
    checksum = serializers.CharField(allow_null=True)
    modified_at = serializers.DateTimeField(allow_null=True)
    artifact_id = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "SkyvernFileInfo"


class RunRequestOutput(serializers.Serializer):
    prompt = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    engine = serializers.ChoiceField(choices=RUN_ENGINES)
    title = serializers.CharField(allow_null=True)
    data_extraction_schema = serializers.DictField(allow_null=True)
    error_code_mapping = serializers.DictField(child=serializers.CharField(), allow_null=True)
    max_steps = serializers.IntegerField()
    webhook_url = serializers.CharField(allow_null=True)
    model = serializers.DictField(allow_null=True)
    run_with = serializers.ChoiceField(choices=["agent", "code"], help_text="`code` for a replay of a script.")

    class Meta:
        ref_name = "SkyvernTaskRunRequest"


class ScriptRunOutput(serializers.Serializer):
    ai_fallback_triggered = serializers.BooleanField(help_text="The model had to redo steps that broke.")
    script_id = serializers.CharField(help_text="The script's lineage: the run that recorded it.")
    script_revision_id = serializers.CharField(help_text="The script version replayed.")

    class Meta:
        ref_name = "SkyvernScriptRun"


class RunOutput(serializers.Serializer):
    """Skyvern's TaskRunResponse / GetRunResponse (task runs)."""

    run_id = serializers.CharField()
    run_type = serializers.ChoiceField(choices=RUN_TYPES)
    status = serializers.ChoiceField(choices=RUN_STATUSES)
    output = serializers.JSONField(allow_null=True, help_text="The extracted information: object, array or string.")
    downloaded_files = FileInfoOutput(many=True)
    recording_url = serializers.URLField(allow_null=True)
    screenshot_urls = serializers.ListField(child=serializers.URLField(), help_text="Newest first.")
    failure_reason = serializers.CharField(allow_null=True)
    errors = serializers.ListField(child=serializers.DictField())  # type: ignore[assignment]  # the API field, not Serializer.errors
    step_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    modified_at = serializers.DateTimeField()
    queued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    app_url = serializers.URLField(allow_null=True)
    script_run = ScriptRunOutput(allow_null=True, help_text="For a replay (run_with code): the script it runs.")
    run_request = RunRequestOutput()

    class Meta:
        ref_name = "SkyvernTaskRun"


class ArtifactOutput(serializers.Serializer):
    """Skyvern's Artifact. `uri` and `signed_url` are Lookout download URLs (send the x-api-key header)."""

    artifact_id = serializers.CharField()
    artifact_type = serializers.CharField()
    uri = serializers.URLField()
    signed_url = serializers.URLField()
    file_size = serializers.IntegerField()
    task_id = serializers.CharField()
    run_id = serializers.CharField()
    step_id = serializers.CharField(allow_null=True)
    organization_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    modified_at = serializers.DateTimeField()

    class Meta:
        ref_name = "SkyvernArtifact"


class RunListItemOutput(serializers.Serializer):
    """Skyvern's TaskRunListItem."""

    task_run_id = serializers.CharField()
    run_id = serializers.CharField()
    task_run_type = serializers.CharField()
    status = serializers.ChoiceField(choices=RUN_STATUSES)
    title = serializers.CharField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "SkyvernRunListItem"


# ---- mapping -----------------------------------------------------------------------------------


def _output(value: Any) -> Any:
    """Skyvern's output is an object, an array or a string; any other JSON value travels as its JSON text."""
    return value if value is None or isinstance(value, dict | list | str) else json.dumps(value)


def _app_url(request: Request, task: Task) -> str | None:
    try:  # the dashboard's task page, when the dashboard provides one
        return request.build_absolute_uri(reverse("task-detail", kwargs={"task_id": task.pk}))
    except NoReverseMatch:
        return None


def _artifact(request: Request, task: Task, artifact: Artifact) -> dict[str, Any]:
    url = artifact_content_url(request, artifact)
    return {
        "artifact_id": str(artifact.pk),
        "artifact_type": artifact_type(artifact.kind),
        "uri": url,
        "signed_url": url,
        "file_size": artifact.size,
        "task_id": str(artifact.task_id),
        "run_id": str(artifact.task_id),
        "step_id": str(artifact.step_id) if artifact.step_id else None,
        "organization_id": task.organization.slug,
        "created_at": artifact.created_at,
        "modified_at": artifact.created_at,
    }


def run_payload(request: Request, task: Task) -> dict[str, Any]:
    """One task as Skyvern's run response. Three queries: screenshots, recording + downloads, steps."""
    shown = artifact_selectors.artifacts_of_kinds(
        task=task, kinds=[Artifact.Kind.RECORDING, Artifact.Kind.DOWNLOAD]
    )
    screenshots = artifact_selectors.artifacts_of_kinds(
        task=task, kinds=[Artifact.Kind.SCREENSHOT_ACTION, Artifact.Kind.SCREENSHOT_FINAL]
    ).order_by("-created_at", "-id")[:SCREENSHOT_URL_COUNT]
    recordings = [a for a in shown if a.kind == Artifact.Kind.RECORDING]
    downloads = [a for a in shown if a.kind == Artifact.Kind.DOWNLOAD]
    moments = [t for t in (task.finished_at, task.heartbeat_at, task.started_at, task.queued_at) if t]
    return {
        "run_id": str(task.pk),
        "run_type": RUN_TYPE.get(task.engine, "task_v1"),
        "status": run_status(task),
        "output": _output(task.extracted_information),
        "downloaded_files": [
            {
                "url": artifact_content_url(request, a),
                "filename": a.name,
                "file_size": a.size,
                "checksum": None,
                "modified_at": a.created_at,
                "artifact_id": str(a.pk),
            }
            for a in downloads
        ],
        "recording_url": artifact_content_url(request, recordings[-1]) if recordings else None,
        "screenshot_urls": [artifact_content_url(request, a) for a in screenshots],
        "failure_reason": task.failure_reason or None,
        "errors": task.errors or [],
        "step_count": task_selectors.step_count(task=task),
        "created_at": task.created_at,
        "modified_at": max([task.created_at, *moments]),
        "queued_at": task.queued_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "app_url": _app_url(request, task),
        "script_run": _script_run(task),
        "run_request": {
            "prompt": task.navigation_goal or task.data_extraction_goal,
            "url": task.url or None,
            "engine": RUN_ENGINE.get(task.engine, "skyvern-1.0"),
            "title": task.title or None,
            "data_extraction_schema": task.extracted_information_schema,
            "error_code_mapping": task.error_code_mapping,
            "max_steps": task.max_steps,
            "webhook_url": task.webhook_callback_url or None,
            "model": {"model_name": task.model} if task.model else None,
            "run_with": "code" if task.is_replay else "agent",
        },
    }


def _script_run(task: Task) -> dict[str, Any] | None:
    if not task.is_replay or task.script is None:
        return None
    return {
        "ai_fallback_triggered": bool((task.replay or {}).get("steps_healed")),
        "script_id": str(task.script.lineage_id),
        "script_revision_id": str(task.script_id),
    }


def _run_response(request: Request, task: Task) -> Response:
    return Response(RunOutput(run_payload(request, task)).data)


# ---- views -------------------------------------------------------------------------------------


class RunTaskApi(OrgApi):
    class InputSerializer(serializers.Serializer):
        prompt = serializers.CharField(help_text="The goal, in plain words.")
        url = serializers.CharField(max_length=2048, required=False, allow_null=True, allow_blank=True,
                                    help_text="Start URL. Required by Lookout (it does not guess one).")
        engine = serializers.ChoiceField(
            choices=RUN_ENGINES, required=False, allow_null=True,
            error_messages={"invalid_choice": "engine {input} is not available on Lookout; "
                                              "use skyvern-1.0 (dom) or openai-cua (cua)"},
        )
        title = serializers.CharField(max_length=200, required=False, allow_null=True, allow_blank=True)
        data_extraction_schema = serializers.JSONField(
            required=False, allow_null=True, validators=[no_null_characters],
            help_text="JSON Schema (an object, or its JSON text) for the extracted output. The prompt is "
            "also the extraction goal when a schema is given.",
        )
        error_code_mapping = serializers.DictField(
            child=serializers.CharField(allow_null=True, allow_blank=True), required=False, allow_null=True,
            validators=[no_null_characters],
        )
        max_steps = serializers.IntegerField(min_value=1, required=False, allow_null=True,
                                             help_text="Capped at the organization's limit.")
        webhook_url = serializers.CharField(max_length=2048, required=False, allow_null=True, allow_blank=True)
        model = serializers.DictField(required=False, allow_null=True, help_text='{"model_name": "…"}')
        run_with = serializers.ChoiceField(
            choices=list(RUN_WITH_VALUES), required=False, allow_null=True,
            help_text="`code` (or `script`): replay the script recorded for the same url and prompt, asking the "
            "model only for steps that broke; without one yet, run the model and record it. `agent` (default): "
            "the model does every step.",
            error_messages={"invalid_choice": "run_with {input} is not available on Lookout; use agent or code"},
        )

        class Meta:
            ref_name = "SkyvernTaskRunCreate"

        def validate_data_extraction_schema(self, value: Any) -> Any:
            if isinstance(value, str) and value.strip():
                try:
                    value = json_limits.loads(value)
                except json_limits.JSONTooDeepError as exc:
                    raise serializers.ValidationError(str(exc)) from exc
                except json.JSONDecodeError as exc:
                    raise serializers.ValidationError("not valid JSON") from exc
            if value in (None, ""):
                return None
            if not isinstance(value, dict):
                raise serializers.ValidationError("Lookout needs a JSON Schema object here")
            return value

        def validate_model(self, value: dict[str, Any] | None) -> str:
            name = (value or {}).get("model_name") or ""
            if not isinstance(name, str) or len(name) > 100:
                raise serializers.ValidationError("model_name must be a model name (at most 100 characters)")
            return name

    @extend_schema(operation_id="skyvern_run_task", summary="Run a task (Skyvern-compatible)",
                   tags=["skyvern-compatible runs"], request=InputSerializer,
                   responses={200: RunOutput, **errors(400, 415)})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=self.body())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        schema = data.get("data_extraction_schema")
        mapping = data.get("error_code_mapping")
        max_steps = data.get("max_steps")
        engine = ENGINE_OF[data.get("engine") or "skyvern-1.0"]
        script = None
        if RUN_WITH_VALUES.get(data.get("run_with") or "agent") == Task.RunWith.SCRIPT:
            if engine != Task.Engine.DOM:
                raise InvalidRequestError('run_with "code" replays a script of skyvern-1.0 runs only', field="run_with")
            script = script_selectors.find_script_for(
                organization=self.organization, url=(data.get("url") or "").strip(), navigation_goal=data["prompt"]
            )
        if script is not None:
            changes = {
                "title": data.get("title"),
                "webhook_callback_url": data.get("webhook_url"),
                "model": data.get("model"),
                "max_steps": min(max_steps, self.organization.max_steps_per_run) if max_steps else None,
            }  # what the client gave; the rest is the recorded run's
            task = services.replay_task(
                organization=self.organization, by=self.actor, script=script, **{k: v for k, v in changes.items() if v}
            )
            return _run_response(request, task)
        try:
            task = services.create_task(
                organization=self.organization,
                created_by=self.actor,
                url=data.get("url") or "",
                title=data.get("title") or "",
                navigation_goal=data["prompt"],
                data_extraction_goal=data["prompt"] if schema is not None else "",
                extracted_information_schema=schema,
                error_code_mapping={k: v or "" for k, v in mapping.items()} if mapping else None,
                webhook_callback_url=data.get("webhook_url") or "",
                engine=engine,
                model=data.get("model") or "",
                max_steps=min(max_steps, self.organization.max_steps_per_run) if max_steps else None,
            )
        except InvalidRequestError as exc:
            field = REQUEST_FIELD.get(exc.field or "", exc.field)
            message = exc.message.replace(exc.field, field) if exc.field and field else exc.message
            raise InvalidRequestError(message, field=field) from exc
        return _run_response(request, task)


class RunsApi(OrgApi):
    class FilterSerializer(serializers.Serializer):
        page = serializers.IntegerField(min_value=1, max_value=10_000, default=1)
        page_size = serializers.IntegerField(min_value=1, max_value=100, default=10)
        status = serializers.ListField(child=serializers.ChoiceField(choices=RUN_STATUSES), required=False)
        run_type = serializers.ListField(child=serializers.ChoiceField(choices=RUN_TYPES),
                                         required=False)

        class Meta:
            ref_name = "SkyvernRunFilter"

    @extend_schema(operation_id="skyvern_get_runs", summary="List runs, newest first (Skyvern-compatible)",
                   tags=["skyvern-compatible runs"], parameters=[FilterSerializer],
                   responses={200: RunListItemOutput(many=True), **errors(400)})
    def get(self, request: Request) -> Response:
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        p = params.validated_data
        engines = [e for e, run_type in RUN_TYPE.items() if run_type in p["run_type"]] if p.get("run_type") else None
        tasks: QuerySet[Task] = task_selectors.filter_tasks(organization=self.organization)
        if p.get("status"):
            tasks = tasks.filter(status_filter(p["status"]))
        if engines is not None:
            tasks = tasks.filter(engine__in=engines)
        start = (p["page"] - 1) * p["page_size"]
        page = tasks.order_by("-created_at", "-id")[start : start + p["page_size"]]
        items = [
            {
                "task_run_id": str(task.pk),
                "run_id": str(task.pk),
                "task_run_type": RUN_TYPE.get(task.engine, "task_v1"),
                "status": run_status(task),
                "title": task.title or None,
                "started_at": task.started_at,
                "finished_at": task.finished_at,
                "created_at": task.created_at,
            }
            for task in page
        ]
        return Response(RunListItemOutput(items, many=True).data)


class RunDetailApi(OrgApi):
    @extend_schema(operation_id="skyvern_get_run", summary="Get a run (Skyvern-compatible)",
                   tags=["skyvern-compatible runs"], parameters=[RUN_ID], responses={200: RunOutput, **errors(404)})
    def get(self, request: Request, run_id: UUID) -> Response:
        return _run_response(request, self.get_task(run_id))


class RunCancelApi(OrgApi):
    @extend_schema(
        operation_id="skyvern_cancel_run",
        summary="Cancel a run (Skyvern-compatible)",
        description="A run that has not started is canceled; a started one is stopped and reported as `canceled`. A finished run is 409.",
        tags=["skyvern-compatible runs"], parameters=[RUN_ID], request=None,
        responses={200: RunOutput, **errors(404, 409)},
    )
    def post(self, request: Request, run_id: UUID) -> Response:
        task = self.get_task(run_id)
        if task.status in (Task.Status.CREATED, Task.Status.QUEUED):
            task = services.cancel_task(task=task, by=self.actor)
        else:  # started (or finished: terminate_task then says why it cannot)
            task = services.terminate_task(task=task, by=self.actor, reason="canceled through the run API")
        return _run_response(request, task)


class RunArtifactsApi(OrgApi):
    class FilterSerializer(serializers.Serializer):
        artifact_type = serializers.ListField(
            child=serializers.CharField(), required=False,
            help_text="Only these Skyvern artifact types (repeat for several); unknown types match nothing.",
        )

        class Meta:
            ref_name = "SkyvernArtifactFilter"

    @extend_schema(operation_id="skyvern_get_run_artifacts", summary="A run's artifacts (Skyvern-compatible)",
                   tags=["skyvern-compatible runs"], parameters=[RUN_ID, FilterSerializer],
                   responses={200: ArtifactOutput(many=True), **errors(400, 404)})
    def get(self, request: Request, run_id: UUID) -> Response:
        task = self.get_task(run_id)
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        wanted = params.validated_data.get("artifact_type")
        artifacts = artifact_selectors.artifacts_of_kinds(task=task, kinds=kinds_for(wanted) if wanted else None)
        return Response(ArtifactOutput([_artifact(request, task, a) for a in artifacts], many=True).data)
