"""The dashboard's forms: the new-task form, which parses what was typed (JSON fields included) into a
request for services.create_task, and the credential form (secrets write-only).

The form only checks what it must to build the request (JSON syntax, whole numbers, lengths); the rules of a
valid task live in the service, whose InvalidRequestError names the field to show the message next to.
"""

from __future__ import annotations

import json
from typing import Any, cast

from django import forms
from django.conf import settings

from tasks_app import json_limits
from tasks_app.errors import InvalidRequestError
from tasks_app.models import Credential, Organization, Task
from tasks_app.selectors.credentials import credential_names, profile_names
from tasks_app.validation import allowed_models

JSON_FIELDS = ("extracted_information_schema", "navigation_payload", "error_code_mapping")


class JSONTextField(forms.CharField):
    """A textarea holding JSON: empty means None; `object_only` requires a JSON object."""

    def __init__(self, *, object_only: bool = False, **kwargs: Any) -> None:
        self.object_only = object_only
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "mono"}))
        super().__init__(strip=True, **kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs["data-json"] = "object" if self.object_only else "any"
        return attrs

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        try:
            parsed = json_limits.loads(text)
        except json_limits.JSONTooDeepError as exc:
            raise forms.ValidationError(
                f"This JSON is nested too deeply (more than {exc.limit} levels).", code="too_deep"
            ) from exc
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).", code="invalid_json"
            ) from exc
        if self.object_only and not isinstance(parsed, dict):
            raise forms.ValidationError("This must be a JSON object, like {\"key\": \"value\"}.", code="not_object")
        return parsed

    def prepare_value(self, value: Any) -> Any:
        # Initial values (Run again) are Python data; what was typed comes back as the text itself.
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


class TaskForm(forms.Form):
    url = forms.CharField(
        label="Start URL",
        max_length=2048,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/", "autocomplete": "url"}),
    )
    title = forms.CharField(label="Title", max_length=200, required=False, help_text="Optional: a name for the list.")
    navigation_goal = forms.CharField(
        label="Navigation goal",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the agent should do, in plain words. Give this, an extraction goal, or both.",
    )
    data_extraction_goal = forms.CharField(
        label="Data extraction goal",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What information to bring back when the goal is reached.",
    )
    extracted_information_schema = JSONTextField(
        label="JSON schema of the extracted information",
        object_only=True,
        help_text="Optional JSON Schema the answer must follow, e.g. {\"type\": \"object\", \"properties\": {…}}.",
    )
    navigation_payload = JSONTextField(
        label="Navigation payload (JSON)",
        help_text="Optional input data for the agent to use, e.g. {\"email\": \"ada@example.com\"}.",
    )
    error_code_mapping = JSONTextField(
        label="Error code mapping (JSON object)",
        object_only=True,
        help_text="Optional: error codes the agent may end with, mapped to when to use them.",
    )
    engine = forms.ChoiceField(label="Engine", choices=Task.Engine.choices, initial=Task.Engine.DOM)
    model = forms.ChoiceField(label="Model", required=False)
    max_steps = forms.IntegerField(label="Max steps", required=False, min_value=1)
    webhook_callback_url = forms.CharField(
        label="Webhook URL",
        max_length=2048,
        required=False,
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/lookout"}),
        help_text="Optional: called (signed) when the run ends.",
    )

    credentials = forms.MultipleChoiceField(
        label="Credentials",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Logins the agent may use. It sees placeholders such as {{name.password}}, never the values.",
    )
    secret_payload_keys = forms.CharField(
        label="Secret payload keys",
        required=False,
        max_length=2000,
        help_text="Payload keys whose values are secret, separated by commas: stored encrypted, shown as •••, "
        "and typed from {{payload.KEY}} placeholders. Re-enter their values when you run a task again.",
    )
    profile = forms.CharField(
        label="Saved login (profile)",
        required=False,
        max_length=64,
        help_text="Start from this browser profile's cookies and local storage.",
    )
    save_profile = forms.BooleanField(
        label="Save the login when the run completes", required=False,
        help_text="Stores the browser's cookies and local storage under the profile name (created if missing).",
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = credential_names(organization=organization)
        cast(forms.MultipleChoiceField, self.fields["credentials"]).choices = [(name, name) for name in names]
        if not names:
            self.fields["credentials"].help_text = "None yet: organization admins add them under Credentials."
        self.fields["profile"].widget.attrs["list"] = "profile-names"
        self.profile_names = profile_names(organization=organization)
        limit = organization.max_steps_per_run
        self.fields["max_steps"].initial = min(settings.LOOKOUT_DEFAULT_MAX_STEPS, limit)
        self.fields["max_steps"].widget.attrs["max"] = limit
        self.fields["max_steps"].help_text = f"Up to {limit} in this organization."
        model_field = self.fields["model"]
        assert isinstance(model_field, forms.ChoiceField)
        choices = [("", "Server default"), *((name, name) for name in allowed_models())]
        earlier = self.initial.get("model")  # "Run again" of a task whose model is no longer offered: show it,
        if earlier and earlier not in allowed_models():  # and let the service say why it is refused
            choices.append((earlier, f"{earlier} (no longer offered)"))
        model_field.choices = choices
        model_field.help_text = (
            f"Server default: {settings.LOOKOUT_MODEL} for dom, {settings.LOOKOUT_CUA_MODEL} for cua."
        )
        self.fields["extracted_information_schema"].widget.attrs["data-schema"] = "1"
        for name, field in self.fields.items():
            bound = self[name]
            described = [f"{bound.auto_id}_error"]
            if field.help_text:
                described.insert(0, f"{bound.auto_id}_helptext")
            field.widget.attrs["aria-describedby"] = " ".join(described)

    @classmethod
    def initial_from(cls, task: Task) -> dict[str, Any]:
        """What "Run again" pre-fills: the task's request, as typed."""
        return {
            "url": task.url,
            "title": task.title,
            "navigation_goal": task.navigation_goal,
            "data_extraction_goal": task.data_extraction_goal,
            "extracted_information_schema": task.extracted_information_schema,
            "navigation_payload": task.navigation_payload,
            "error_code_mapping": task.error_code_mapping,
            "engine": task.engine,
            "model": task.model,
            "max_steps": task.max_steps,
            "webhook_callback_url": task.webhook_callback_url,
            "credentials": task.credentials,
            "secret_payload_keys": ", ".join(task.secret_payload_keys or []),
            "profile": task.profile,
            "save_profile": task.save_profile,
        }

    def request_fields(self) -> dict[str, Any]:
        """The cleaned data as keyword arguments for services.create_task."""
        fields = {name: self.cleaned_data.get(name) for name in self.fields}
        keys = str(fields.get("secret_payload_keys") or "")
        fields["secret_payload_keys"] = [key.strip() for key in keys.split(",") if key.strip()]
        fields["credentials"] = list(fields.get("credentials") or [])
        return fields

    def add_service_error(self, exc: InvalidRequestError) -> None:
        """Show the service's message next to the field it names (or above the form)."""
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, exc.message[:1].upper() + exc.message[1:])


class CredentialForm(forms.Form):
    """Add or change a credential. Secret fields start empty and are never filled in: on a change, an empty
    field keeps the stored value."""

    name = forms.CharField(max_length=64, help_text="Letters, digits, - and _. Tasks and placeholders use it.")
    username = forms.CharField(
        required=False, strip=False, max_length=4096, widget=forms.PasswordInput(render_value=False)
    )
    password = forms.CharField(
        required=False, strip=False, max_length=4096, widget=forms.PasswordInput(render_value=False)
    )
    totp_secret = forms.CharField(
        label="TOTP secret", required=False, max_length=4096, widget=forms.PasswordInput(render_value=False),
        help_text="Base32 (as shown under the site's QR code) or an otpauth://totp/ URI.",
    )
    clear_totp = forms.BooleanField(label="Remove the TOTP secret", required=False)
    sites = forms.CharField(
        max_length=5000,
        help_text="Where it may be typed, separated by commas: acme.com (and its subdomains), https://acme.com or "
        "acme.com:8443 to fix the scheme or port. Typing it anywhere else is refused.",
    )
    notes = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2}))

    SECRETS = ("username", "password", "totp_secret")

    def __init__(self, *args: Any, credential: Credential | None = None, **kwargs: Any) -> None:
        self.credential = credential
        if credential is not None:
            kwargs.setdefault(
                "initial", {"name": credential.name, "sites": ", ".join(credential.sites or []), "notes": credential.notes}
            )
        super().__init__(*args, **kwargs)
        if credential is None:
            del self.fields["clear_totp"]
        states = {} if credential is None else {
            "username": credential.has_username, "password": credential.has_password, "totp_secret": credential.has_totp,
        }
        for name in self.SECRETS:
            field = self.fields[name]
            field.widget.attrs["autocomplete"] = "new-password" if name != "username" else "off"
            if credential is not None:
                note = "Set; leave empty to keep it." if states[name] else "Not set."
                field.help_text = f"{note} {field.help_text}".strip()

    def changes(self) -> dict[str, Any]:
        """Keyword arguments for services.create_credential / update_credential."""
        data = self.cleaned_data
        out: dict[str, Any] = {"name": data["name"], "sites": data["sites"], "notes": data.get("notes") or ""}
        for name in self.SECRETS:
            if data.get(name) or self.credential is None:
                out[name] = data.get(name) or ""
        if data.get("clear_totp"):
            out["totp_secret"] = ""
        return out

    def add_service_error(self, exc: InvalidRequestError) -> None:
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, exc.message[:1].upper() + exc.message[1:])
