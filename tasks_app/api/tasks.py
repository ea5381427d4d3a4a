"""Task endpoints under /api/v1/tasks/: create, list, read (steps, actions, artifacts, events) and control."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app import services
from tasks_app.api.base import OrgApi, errors
from tasks_app.api.serializers import (
    ActionOutput,
    ArtifactOutput,
    EventOutput,
    ScriptOutput,
    ScriptVersionOutput,
    StepOutput,
    TaskOutput,
    no_null_characters,
)
from tasks_app.errors import InvalidRequestError, NotFoundError
from tasks_app.models import Artifact, Task
from tasks_app.selectors import artifacts as artifact_selectors
from tasks_app.selectors import events as event_selectors
from tasks_app.selectors import scripts as script_selectors
from tasks_app.selectors import tasks as task_selectors
from tasks_app.services.events import event_payload
from tasks_app.views.artifacts import file_response

TASK_ID = OpenApiParameter("task_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The task's id.")
MAX_SEQ = 2**63 - 1


class TaskCursorPagination(CursorPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("-created_at", "-id")

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except NotFound as exc:  # DRF says 404; a malformed cursor is a bad request
            raise InvalidRequestError("invalid pagination cursor", field=self.cursor_query_param) from exc


class TasksApi(OrgApi):
    # GET: the organization's tasks, newest first. POST: create a task and queue it.

    class FilterSerializer(serializers.Serializer):
        status = serializers.ListField(
            child=serializers.ChoiceField(choices=Task.Status.choices), required=False,
            help_text="Only tasks in these statuses (repeat the parameter for several).",
        )
        engine = serializers.ChoiceField(choices=Task.Engine.choices, required=False)
        run_with = serializers.ChoiceField(
            choices=Task.RunWith.choices, required=False,
            help_text="`script`: only replays of a recorded script; `agent`: only runs of the model.",
        )
        created_after = serializers.DateTimeField(required=False, help_text="ISO 8601; exclusive.")
        created_before = serializers.DateTimeField(required=False, help_text="ISO 8601; exclusive.")

        class Meta:
            ref_name = "TaskFilter"

    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(
            max_length=2048, required=False,
            help_text="Start URL (http or https). Required, except when replaying (run_with script).",
        )
        title = serializers.CharField(max_length=200, required=False, allow_blank=True)
        navigation_goal = serializers.CharField(
            required=False, allow_blank=True, help_text="What to do, in plain words. This or data_extraction_goal."
        )
        data_extraction_goal = serializers.CharField(
            required=False, allow_blank=True, help_text="What to extract once the goal is reached."
        )
        navigation_payload = serializers.JSONField(
            required=False, allow_null=True, validators=[no_null_characters],
            help_text="Input data the agent may type into forms (any JSON, at most 64 KiB).",
        )
        extracted_information_schema = serializers.DictField(
            required=False, allow_null=True, validators=[no_null_characters],
            help_text="JSON Schema the extracted information must satisfy.",
        )
        error_code_mapping = serializers.DictField(
            child=serializers.CharField(allow_blank=True), required=False, allow_null=True,
            validators=[no_null_characters],
            help_text="Error codes the agent may end with, each with a description of when.",
        )
        webhook_callback_url = serializers.CharField(
            max_length=2048, required=False, allow_blank=True, help_text="Notified (signed POST) when the task ends."
        )
        engine = serializers.ChoiceField(choices=Task.Engine.choices, required=False)
        model = serializers.CharField(
            max_length=100, required=False, allow_blank=True, help_text="Model name; empty for the server's default."
        )
        max_steps = serializers.IntegerField(
            min_value=1, required=False, allow_null=True,
            help_text="At most the organization's limit; defaults to the server's default.",
        )
        credentials = serializers.ListField(
            child=serializers.CharField(max_length=64), required=False, max_length=20,
            help_text="Names of the organization's credentials the agent may log in with. The model sees only "
            "placeholders such as `{{acme.password}}`; the values are typed for it, on the credential's sites.",
        )
        secret_payload_keys = serializers.ListField(
            child=serializers.CharField(max_length=100), required=False, max_length=50,
            help_text="navigation_payload keys whose values are secret: stored encrypted, shown as •••, and given "
            "to the model as `{{payload.KEY}}` placeholders that are replaced as they are typed.",
        )
        profile = serializers.CharField(
            max_length=64, required=False, allow_blank=True,
            help_text="A saved login (browser profile) to start from: its cookies and local storage are loaded.",
        )
        save_profile = serializers.BooleanField(
            required=False, help_text="Save the browser's cookies and local storage as `profile` when the run "
            "completes (created if missing; the last run to save wins).",
        )
        run_with = serializers.ChoiceField(
            choices=Task.RunWith.choices, required=False,
            help_text="`script` runs it again without the model: it replays the script a completed dom run "
            "recorded (`replay_of`, or an exact version with `script_id`), asking the model only for steps "
            "that no longer work. The request is the recorded run's; a replay may change only "
            "navigation_payload, secret_payload_keys, title, webhook_callback_url, max_steps and model.",
        )
        replay_of = serializers.UUIDField(
            required=False, help_text="With run_with script: the task whose script to replay (its newest version)."
        )
        script_id = serializers.IntegerField(
            required=False, min_value=1, help_text="With run_with script: the exact script version to replay."
        )

        class Meta:
            ref_name = "TaskCreate"

    class PageOutput(serializers.Serializer):
        next = serializers.URLField(allow_null=True, help_text="The next (older) page, or null.")
        previous = serializers.URLField(allow_null=True)
        results = TaskOutput(many=True)

        class Meta:
            ref_name = "TaskPage"

    @extend_schema(
        operation_id="tasks_list",
        summary="List tasks",
        tags=["tasks"],
        parameters=[
            FilterSerializer,
            OpenApiParameter("cursor", str, description="Opaque cursor from `next` or `previous`."),
            OpenApiParameter("page_size", int, description="1 to 100 (default 20)."),
        ],
        responses={200: PageOutput, **errors(400)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        tasks = task_selectors.filter_tasks(
            organization=self.organization,
            statuses=params.get("status"),
            engine=params.get("engine"),
            run_with=params.get("run_with"),
            created_after=params.get("created_after"),
            created_before=params.get("created_before"),
        )
        paginator = TaskCursorPagination()
        page = paginator.paginate_queryset(tasks, request, view=self)
        return paginator.get_paginated_response(TaskOutput(page, many=True).data)

    @extend_schema(
        operation_id="tasks_create",
        summary="Create a task",
        description="Validates the request, stores the task and queues it for a worker. "
        "Unknown fields are refused, so a typo cannot silently drop a setting. With `run_with: \"script\"`, "
        "the task replays a recorded script (404 when `replay_of` or `script_id` is not of this organization).",
        tags=["tasks"],
        request=InputSerializer,
        responses={201: TaskOutput, **errors(400, 404, 415)},
    )
    def post(self, request: Request) -> Response:
        body = self.body()
        unknown = sorted(set(body) - set(self.InputSerializer().fields))
        if unknown:
            raise InvalidRequestError(f"unknown task fields: {', '.join(unknown)}", field=unknown[0])
        serializer = self.InputSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        run_with = fields.pop("run_with", Task.RunWith.AGENT)
        replay_of, script_id = fields.pop("replay_of", None), fields.pop("script_id", None)
        if run_with == Task.RunWith.SCRIPT:
            task = services.replay_task(
                organization=self.organization,
                by=self.actor,
                replay_of=self.get_task(replay_of) if replay_of else None,
                script=script_selectors.get_script(organization=self.organization, script_id=script_id)
                if script_id else None,
                **fields,
            )
        else:
            if replay_of or script_id:
                field = "replay_of" if replay_of else "script_id"
                raise InvalidRequestError(f'{field} goes with run_with "script"', field=field)
            if not fields.get("url"):
                raise InvalidRequestError("url is required (the page the agent starts on)", field="url")
            task = services.create_task(organization=self.organization, created_by=self.actor, **fields)
        return Response(TaskOutput(task).data, status=201)


class TaskDetailApi(OrgApi):
    @extend_schema(operation_id="tasks_retrieve", summary="Get a task", tags=["tasks"], parameters=[TASK_ID],
                   responses={200: TaskOutput, **errors(404)})
    def get(self, request: Request, task_id: UUID) -> Response:
        return Response(TaskOutput(self.get_task(task_id)).data)


class TaskStepsApi(OrgApi):
    @extend_schema(operation_id="tasks_steps", summary="A task's steps, with their actions", tags=["tasks"],
                   parameters=[TASK_ID], responses={200: StepOutput(many=True), **errors(404)})
    def get(self, request: Request, task_id: UUID) -> Response:
        steps = task_selectors.list_steps(task=self.get_task(task_id))
        return Response(StepOutput(steps, many=True).data)


class TaskActionsApi(OrgApi):
    @extend_schema(operation_id="tasks_actions", summary="A task's actions, in order", tags=["tasks"],
                   parameters=[TASK_ID], responses={200: ActionOutput(many=True), **errors(404)})
    def get(self, request: Request, task_id: UUID) -> Response:
        actions = task_selectors.list_actions(task=self.get_task(task_id))
        return Response(ActionOutput(actions, many=True).data)


class TaskArtifactsApi(OrgApi):
    class FilterSerializer(serializers.Serializer):
        kind = serializers.ListField(
            child=serializers.ChoiceField(choices=Artifact.Kind.choices), required=False,
            help_text="Only these kinds (repeat the parameter for several).",
        )

        class Meta:
            ref_name = "ArtifactFilter"

    @extend_schema(operation_id="tasks_artifacts", summary="A task's artifacts", tags=["tasks"],
                   parameters=[TASK_ID, FilterSerializer],
                   responses={200: ArtifactOutput(many=True), **errors(400, 404)})
    def get(self, request: Request, task_id: UUID) -> Response:
        task = self.get_task(task_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        artifacts = artifact_selectors.artifacts_of_kinds(task=task, kinds=filters.validated_data.get("kind"))
        return Response(ArtifactOutput(artifacts, many=True, context={"request": request}).data)


class ArtifactContentApi(OrgApi):
    """The artifact's file, for API keys and sessions alike (the same response as the dashboard's)."""

    class FilterSerializer(serializers.Serializer):
        download = serializers.BooleanField(required=False, help_text="Send as an attachment.")
        thumbnail = serializers.BooleanField(required=False, help_text="The JPEG thumbnail instead of the file.")

        class Meta:
            ref_name = "ArtifactContentOptions"

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # The file answers for itself; errors are JSON whatever the client's Accept header says.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        operation_id="tasks_artifact_content",
        summary="Download an artifact's file",
        tags=["tasks"],
        parameters=[TASK_ID, OpenApiParameter("artifact_id", int, OpenApiParameter.PATH), FilterSerializer],
        responses={
            (200, "*/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The file, with its content type."),
            **errors(400, 404),
        },
    )
    def get(self, request: Request, task_id: UUID, artifact_id: int) -> HttpResponseBase:
        options = self.FilterSerializer(data=request.query_params)
        options.is_valid(raise_exception=True)
        artifact = artifact_selectors.get_artifact(task=self.get_task(task_id), artifact_id=artifact_id)
        return file_response(
            artifact,
            thumbnail=options.validated_data.get("thumbnail", False),
            download=options.validated_data.get("download", False),
        )


class TaskScriptApi(OrgApi):
    """The script of a task's lineage (the one it recorded, or the one it replays) and its versions."""

    class FilterSerializer(serializers.Serializer):
        version = serializers.IntegerField(required=False, min_value=1, help_text="A version; the newest by default.")

        class Meta:
            ref_name = "ScriptFilter"

    class OutputSerializer(serializers.Serializer):
        lineage = serializers.UUIDField(help_text="The task that recorded version 1.")
        script = ScriptOutput()
        versions = ScriptVersionOutput(many=True, help_text="Newest first.")

        class Meta:
            ref_name = "TaskScript"

    @extend_schema(operation_id="tasks_script", summary="The script a task recorded or replays", tags=["tasks"],
                   parameters=[TASK_ID, FilterSerializer], responses={200: OutputSerializer, **errors(400, 404)})
    def get(self, request: Request, task_id: UUID) -> Response:
        task = self.get_task(task_id)
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        lineage_id = script_selectors.lineage_id_of(task)
        versions = list(script_selectors.script_versions(organization=self.organization, lineage_id=lineage_id))
        wanted = params.validated_data.get("version")
        script = next((v for v in versions if wanted in (None, v.version)), None)
        if script is None:
            raise NotFoundError(f"task {task.pk} has no script" + (f" version {wanted}" if wanted and versions else ""))
        data = {"lineage": lineage_id, "script": script, "versions": versions}
        return Response(self.OutputSerializer(data).data)


class TaskEventsApi(OrgApi):
    """The task's stored timeline, the same events the websocket sends, for clients that poll."""

    class FilterSerializer(serializers.Serializer):
        after = serializers.IntegerField(min_value=0, max_value=MAX_SEQ, default=0,
                                         help_text="Only events with a larger seq.")
        limit = serializers.IntegerField(min_value=1, max_value=1000, default=500)

        class Meta:
            ref_name = "EventFilter"

    class OutputSerializer(serializers.Serializer):
        events = EventOutput(many=True)
        last_seq = serializers.IntegerField(help_text="The task's latest seq; poll again with after=<last seen>.")

        class Meta:
            ref_name = "EventPage"

    @extend_schema(operation_id="tasks_events", summary="A task's timeline events after a seq", tags=["tasks"],
                   parameters=[TASK_ID, FilterSerializer], responses={200: OutputSerializer, **errors(400, 404)})
    def get(self, request: Request, task_id: UUID) -> Response:
        task = self.get_task(task_id)
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        events = event_selectors.events_after(task_id=task.pk, after=params.validated_data["after"])
        payloads = [event_payload(event) for event in events[: params.validated_data["limit"]]]
        return Response(self.OutputSerializer({"events": payloads, "last_seq": task.last_event_seq}).data)


# ---- controls: one view per service ------------------------------------------------------------


class TaskControlApi(OrgApi):
    """POST calls one control service on the task and answers with the task as it is afterwards."""

    service: Callable[..., Task]
    status_code = 200

    def control(self, task: Task) -> Task:
        return type(self).service(task=task, by=self.actor)

    def post(self, request: Request, task_id: UUID) -> Response:
        task = self.control(self.get_task(task_id))
        return Response(TaskOutput(task).data, status=self.status_code)


def control_schema(name: str, summary: str, description: str, *, request: Any = None, status: int = 200,
                   statuses: tuple[int, ...] = ()) -> Callable[[Any], Any]:
    return extend_schema(
        operation_id=f"tasks_{name.replace('-', '_')}",
        summary=summary,
        description=description,
        tags=["controls"],
        parameters=[TASK_ID],
        request=request,
        responses={status: TaskOutput, **errors(404, 409, *statuses)},
    )


def _control(name: str, service: Callable[..., Task], summary: str, description: str) -> type[TaskControlApi]:
    @control_schema(name, summary, description)
    def post(self: TaskControlApi, request: Request, task_id: UUID) -> Response:
        return TaskControlApi.post(self, request, task_id)

    view_name = "Task" + name.title().replace("-", "") + "Api"
    return type(view_name, (TaskControlApi,), {"service": staticmethod(service), "post": post})


TaskPauseApi = _control("pause", services.pause_task, "Pause a run",
                        "running → paused: the run stops at its next checkpoint; the browser stays open.")
TaskResumeApi = _control("resume", services.resume_task, "Resume a paused run", "paused → running.")
TaskCancelApi = _control("cancel", services.cancel_task, "Cancel a task that has not started",
                         "created/queued → canceled.")
TaskRetryStepApi = _control("retry-step", services.retry_step, "Retry the current step of a paused run",
                            "Drops the current plan and asks the model again from the page as it is.")
TaskApproveApi = _control("approve", services.approve_safety_checks, "Approve pending safety checks",
                          "awaiting_approval → running: the held action runs.")
TaskDenyApi = _control("deny", services.deny_safety_checks, "Deny pending safety checks",
                       "awaiting_approval → terminated, naming the checks in the failure reason.")
TaskTakeControlApi = _control(
    "take-control", services.take_control, "Take control of the agent's browser",
    "The run pauses at its next checkpoint (at once when paused or awaiting_input) and the caller drives its "
    "page from the dashboard's live view. One holder at a time: 409 names who has control; an organization "
    "admin takes it over. Idempotent for the holder.",
)
TaskReleaseControlApi = _control(
    "release-control", services.release_control, "Hand the browser back to the agent",
    "The run resumes from the page as the person left it, and the model is told what they did; a task "
    "awaiting_input gets \"handled it myself\" as its answer. The holder or an organization admin only.",
)


class AnswerInput(serializers.Serializer):
    answer = serializers.CharField(max_length=4000, help_text="Goes to the model with its next step.")

    class Meta:
        ref_name = "TaskAnswer"


class TaskAnswerApi(TaskControlApi):
    InputSerializer = AnswerInput

    def control(self, task: Task) -> Task:
        serializer = self.InputSerializer(data=self.body())
        serializer.is_valid(raise_exception=True)
        return services.answer_question(task=task, by=self.actor, answer=serializer.validated_data["answer"])

    @control_schema("answer", "Answer the agent's question", "awaiting_input → running: the answer goes to the "
                    "model with its next step (`pending_question` holds the question).", request=AnswerInput,
                    statuses=(400, 415))
    def post(self, request: Request, task_id: UUID) -> Response:
        return super().post(request, task_id)


class TerminateInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000,
                                   help_text="Recorded as the failure reason.")

    class Meta:
        ref_name = "TaskTerminate"


class TaskTerminateApi(TaskControlApi):
    InputSerializer = TerminateInput

    def control(self, task: Task) -> Task:
        serializer = self.InputSerializer(data=self.body())
        serializer.is_valid(raise_exception=True)
        return services.terminate_task(task=task, by=self.actor, reason=serializer.validated_data.get("reason", ""))

    @control_schema("terminate", "Terminate a run", "running/paused/awaiting_approval → terminated, as soon as "
                    "possible. Final artifacts are kept. The body is optional.", request=TerminateInput,
                    statuses=(400, 415))
    def post(self, request: Request, task_id: UUID) -> Response:
        return super().post(request, task_id)


class TaskRetryApi(TaskControlApi):
    service = staticmethod(services.retry_task)
    status_code = 201

    @control_schema("retry", "Retry a finished task",
                    "Creates and queues a new task with the same request; its `retry_of` is this task.", status=201)
    def post(self, request: Request, task_id: UUID) -> Response:
        return super().post(request, task_id)
