"""Output shapes shared by several API views (tasks, steps, actions, artifacts, events, keys, errors).
They only read; the views' own Input serializers parse requests, and services do the writing."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tasks_app.models import Action, ApiKey, Artifact, Script, Step, Task


def no_null_characters(value: Any) -> None:
    """PostgreSQL cannot store U+0000 in text or jsonb: refuse it anywhere in a JSON value."""
    if isinstance(value, str):
        if "\x00" in value:
            raise serializers.ValidationError("null characters (\\u0000) are not allowed")
    elif isinstance(value, dict):
        for key, item in value.items():
            no_null_characters(key)
            no_null_characters(item)
    elif isinstance(value, list):
        for item in value:
            no_null_characters(item)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable error code: invalid, not_authenticated, permission_denied, "
                                 "not_found, illegal_state, throttled, parse_error, method_not_allowed, server_error, …")
    message = serializers.CharField(help_text="What went wrong, in words.")
    extra = serializers.DictField(
        help_text="Details. Validation errors: `field` (the first failing field) and `fields` (all of them).",
    )

    class Meta:
        ref_name = "Error"


class SafetyCheckSerializer(serializers.Serializer):
    id = serializers.CharField(required=False)
    code = serializers.CharField(required=False)
    message = serializers.CharField(required=False)

    class Meta:
        ref_name = "SafetyCheck"


class ReplayOutput(serializers.Serializer):
    steps_replayed = serializers.IntegerField(help_text="Recorded actions replayed without the model.")
    steps_healed = serializers.IntegerField(help_text="Steps the model redid because the page had changed.")
    model_calls = serializers.IntegerField(help_text="Model calls this run made.")
    model_calls_recorded = serializers.IntegerField(help_text="Model calls of the run that recorded the script.")
    tokens_saved = serializers.IntegerField(help_text="Tokens the recorded run used that this one did not.")

    class Meta:
        ref_name = "Replay"


class TaskOutput(serializers.ModelSerializer):
    url = serializers.CharField(read_only=True)  # as given (checked to be http(s)), not re-validated as a URI
    webhook_callback_url = serializers.CharField(read_only=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True, read_only=True)
    retry_of = serializers.UUIDField(source="retry_of_id", allow_null=True, read_only=True)
    navigation_payload = serializers.JSONField(allow_null=True, read_only=True)
    extracted_information_schema = serializers.DictField(allow_null=True, read_only=True)
    error_code_mapping = serializers.DictField(child=serializers.CharField(), allow_null=True, read_only=True)
    extracted_information = serializers.JSONField(allow_null=True, read_only=True)
    errors = serializers.ListField(child=serializers.DictField(), read_only=True)  # type: ignore[assignment]  # the API field, not Serializer.errors
    pending_safety_checks = SafetyCheckSerializer(many=True, read_only=True)
    duration_seconds = serializers.FloatField(allow_null=True, read_only=True)
    total_tokens = serializers.IntegerField(read_only=True)
    credentials = serializers.ListField(child=serializers.CharField(), read_only=True,
                                        help_text="Names of the credentials the run may use (never their values).")
    secret_payload_keys = serializers.ListField(child=serializers.CharField(), read_only=True,
                                                help_text="Payload keys whose values are secret: shown as •••.")
    control_holder = serializers.CharField(
        source="control_holder_label", read_only=True,
        help_text="Who has control of the agent's browser (take-control); empty when nobody does.",
    )
    pending_question = serializers.CharField(
        read_only=True, help_text="The agent's question while the task is awaiting_input; answer it with /answer/."
    )
    run_with = serializers.CharField(read_only=True, help_text="`agent` (the model) or `script` (a replay).")
    script = serializers.IntegerField(source="script_id", allow_null=True, read_only=True,
                                      help_text="The script version a replay runs (GET /tasks/<id>/script/).")
    replay = ReplayOutput(allow_null=True, read_only=True,
                          help_text="A finished replay's figures, against the run that recorded the script.")

    class Meta:
        model = Task
        ref_name = "Task"
        fields = [
            "id", "status", "url", "title", "navigation_goal", "data_extraction_goal", "navigation_payload",
            "extracted_information_schema", "error_code_mapping", "webhook_callback_url", "engine", "model",
            "max_steps", "failure_reason", "extracted_information", "errors", "pending_safety_checks",
            "pending_question", "control_holder",
            "input_tokens", "output_tokens", "total_tokens", "cost", "retry_of", "created_by", "last_event_seq",
            "created_at", "queued_at", "started_at", "finished_at", "duration_seconds", "credentials",
            "secret_payload_keys", "profile", "save_profile", "run_with", "script", "replay",
        ]  # fmt: skip
        read_only_fields = fields


class ActionOutput(serializers.ModelSerializer):
    step_id = serializers.IntegerField(read_only=True)
    parameters = serializers.DictField(read_only=True)
    data = serializers.JSONField(allow_null=True, read_only=True)  # type: ignore[assignment]  # the API field, not Serializer.errors

    class Meta:
        model = Action
        ref_name = "Action"
        fields = [
            "id", "step_id", "index", "action_type", "element_id", "reasoning", "parameters", "success", "error",
            "data", "navigated", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class StepOutput(serializers.ModelSerializer):
    url = serializers.CharField(read_only=True, help_text="The page the step started on (may be empty).")
    actions = ActionOutput(many=True, read_only=True)
    mode = serializers.CharField(read_only=True, help_text="In a replay: `replayed` or `model` (asked the model); "
                                 "empty for runs of the model.")
    why = serializers.CharField(read_only=True, help_text="Why a replay asked the model for this step.")

    class Meta:
        model = Step
        ref_name = "Step"
        fields = [
            "id", "order", "retry_index", "status", "mode", "why", "url", "error", "input_tokens", "output_tokens",
            "cost", "started_at", "finished_at", "actions",
        ]  # fmt: skip
        read_only_fields = fields


def artifact_content_url(request: Any, artifact: Artifact, **query: str) -> str:
    url = reverse("api:task-artifact-content", kwargs={"task_id": artifact.task_id, "artifact_id": artifact.pk})
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return request.build_absolute_uri(url) if request is not None else url


class ArtifactOutput(serializers.ModelSerializer):
    step_id = serializers.IntegerField(allow_null=True, read_only=True)
    action_id = serializers.IntegerField(allow_null=True, read_only=True)
    url = serializers.SerializerMethodField(help_text="Download URL; authenticate as for any API call.")
    thumbnail_url = serializers.SerializerMethodField(help_text="JPEG thumbnail of a screenshot, if there is one.")

    class Meta:
        model = Artifact
        ref_name = "Artifact"
        fields = ["id", "kind", "name", "content_type", "size", "step_id", "action_id", "created_at", "url",
                  "thumbnail_url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, artifact: Artifact) -> str:
        return artifact_content_url(self.context.get("request"), artifact)

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_thumbnail_url(self, artifact: Artifact) -> str | None:
        if not artifact.thumbnail:
            return None
        return artifact_content_url(self.context.get("request"), artifact, thumbnail="1")


class ScriptVersionOutput(serializers.ModelSerializer):
    lineage = serializers.UUIDField(source="lineage_id", read_only=True, help_text="The task that recorded version 1.")
    made_by_task = serializers.UUIDField(source="made_by_task_id", allow_null=True, read_only=True,
                                         help_text="The run that recorded or repaired this version.")
    healed_steps = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    steps = serializers.IntegerField(source="step_count", read_only=True, help_text="Recorded actions.")

    class Meta:
        model = Script
        ref_name = "ScriptVersion"
        fields = ["id", "lineage", "version", "reason", "healed_steps", "steps", "made_by_task", "created_at"]
        read_only_fields = fields


class ScriptOutput(ScriptVersionOutput):
    document = serializers.DictField(read_only=True, help_text="The script: its steps with their locators, "
                                     "payload references and expected changes, and the extraction.")

    class Meta(ScriptVersionOutput.Meta):
        ref_name = "Script"
        fields = [*ScriptVersionOutput.Meta.fields, "document"]
        read_only_fields = fields


class EventOutput(serializers.Serializer):
    """One timeline entry, the same shape the websocket sends."""

    seq = serializers.IntegerField()
    type = serializers.CharField()
    ts = serializers.DateTimeField()
    data = serializers.DictField()  # type: ignore[assignment]  # the API field, not Serializer.errors

    class Meta:
        ref_name = "Event"


class ApiKeyOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", allow_null=True, read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiKey
        ref_name = "ApiKey"
        fields = ["id", "name", "prefix", "role", "is_active", "created_by", "created_at", "last_used_at",
                  "revoked_at"]
        read_only_fields = fields
