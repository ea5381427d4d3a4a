"""Django admin, scoped per organization.

Superusers see everything. A staff user who is an *admin member* of organizations sees and edits only
those organizations' members, API keys, limits, tasks, steps and artifacts; every queryset, filter,
foreign-key choice and autocomplete goes through `admin_org_ids`, so nothing of another organization
shows or can be pointed at. Task actions call the same services as the dashboard and the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from tasks_app import services
from tasks_app.errors import InvalidRequestError, LookoutError
from tasks_app.models import (
    Action,
    ApiKey,
    Artifact,
    BrowserProfile,
    Credential,
    Membership,
    Organization,
    Script,
    Step,
    Task,
    TaskEvent,
    WebhookDelivery,
)
from tasks_app.services import credentials as credential_services

User = get_user_model()
if TYPE_CHECKING:
    from django.contrib.auth.models import User as AuthUser


def admin_org_ids(request: HttpRequest) -> set[int]:
    """Organizations the user administers (cached on the request)."""
    cached = getattr(request, "_lookout_admin_orgs", None)
    if cached is None:
        cached = set(
            Membership.objects.filter(user_id=request.user.pk or 0, role=Membership.Role.ADMIN).values_list(
                "organization_id", flat=True
            )
        )
        request._lookout_admin_orgs = cached  # type: ignore[attr-defined]
    return cached


def is_org_admin(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff and admin_org_ids(request))


class OrgScopedAdmin(admin.ModelAdmin):
    """Base for every model admin: `org_path` is the lookup from the model to its Organization."""

    org_path = "organization"
    read_only = False  # views only for org admins (and no add/delete)

    def _org_of(self, obj: Any) -> int | None:
        value: Any = obj
        for part in self.org_path.split("__"):
            value = getattr(value, part, None)
            if value is None:
                return None
        return value.pk if isinstance(value, Organization) else value

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.org_path}__in": admin_org_ids(request)}).distinct()

    def _allowed(self, request: HttpRequest, obj: Any = None) -> bool:
        if request.user.is_superuser:
            return True
        if not is_org_admin(request):
            return False
        return obj is None or self._org_of(obj) in admin_org_ids(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self.read_only and not request.user.is_superuser:
            return False
        return self._allowed(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        if self.read_only and not request.user.is_superuser:
            return False
        return self._allowed(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self.read_only and not request.user.is_superuser:
            return False
        return self._allowed(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if not request.user.is_superuser:
            orgs = admin_org_ids(request)
            model = db_field.related_model
            if model is Organization:
                kwargs["queryset"] = Organization.objects.filter(pk__in=orgs)
            elif model is Task:
                kwargs["queryset"] = Task.objects.filter(organization__in=orgs)
            elif model is Step:
                kwargs["queryset"] = Step.objects.filter(task__organization__in=orgs)
            elif model is Script:
                kwargs["queryset"] = Script.objects.filter(organization__in=orgs)
            elif model is User:
                kwargs["queryset"] = User.objects.filter(memberships__organization__in=orgs).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str) -> Any:
        # Django redirects to the index for an unknown id; for another organization's object say 404.
        raise Http404("not found")

    def get_list_filter(self, request: HttpRequest) -> Any:
        # RelatedOnlyFieldListFilter lists only organizations present in the (scoped) queryset.
        return [
            (f, admin.RelatedOnlyFieldListFilter) if f == "organization" else f for f in super().get_list_filter(request)
        ]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(OrgScopedAdmin):
    org_path = "pk"
    list_display = ["name", "slug", "max_steps_per_run", "max_retries_per_step", "max_concurrent_runs", "record_runs", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = admin.ModelAdmin.get_queryset(self, request)
        return qs if request.user.is_superuser else qs.filter(pk__in=admin_org_ids(request))

    def _org_of(self, obj: Any) -> int | None:
        return obj.pk

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if request.user.is_superuser else ("slug",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


@admin.register(Membership)
class MembershipAdmin(OrgScopedAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["organization", "role"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if obj.role == Membership.Role.ADMIN:
            services.grant_admin_site_access(user=obj.user)


@admin.register(ApiKey)
class ApiKeyAdmin(OrgScopedAdmin):
    list_display = ["name", "prefix", "organization", "role", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["organization", "role"]
    search_fields = ["name", "prefix"]
    fields = ["organization", "name", "role", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fixed = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
        return fixed + (["organization"] if obj is not None else [])

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, raw = services.create_api_key(
            organization=obj.organization, name=obj.name, role=obj.role, created_by=cast("AuthUser", request.user)
        )
        obj.pk, obj.prefix, obj.hashed_key = key.pk, key.prefix, key.hashed_key
        messages.warning(request, f"New API key (copy it now, it is not shown again): {raw}")

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            services.revoke_api_key(api_key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


class CredentialAdminForm(forms.ModelForm):
    """Secrets are write-only here too: the fields start empty, and an empty field keeps the stored value."""

    SECRET_HELP = "Stored encrypted and never shown. Leave empty to keep the current value."

    username = forms.CharField(required=False, strip=False, widget=forms.PasswordInput(render_value=False), help_text=SECRET_HELP)
    password = forms.CharField(required=False, strip=False, widget=forms.PasswordInput(render_value=False), help_text=SECRET_HELP)
    totp_secret = forms.CharField(
        label="TOTP secret", required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Base32 or an otpauth://totp/ URI. " + SECRET_HELP,
    )
    clear_totp = forms.BooleanField(label="Remove the TOTP secret", required=False)
    sites_text = forms.CharField(
        label="Sites", help_text="Hosts it may be typed on, separated by commas or spaces: acme.com (with its "
        "subdomains), https://acme.com or acme.com:8443 to fix the scheme or port.",
    )

    class Meta:
        model = Credential
        fields = ["organization", "name", "notes"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["sites_text"].initial = ", ".join(self.instance.sites or [])
            for name, is_set in (("username", self.instance.has_username), ("password", self.instance.has_password),
                                 ("totp_secret", self.instance.has_totp)):
                self.fields[name].help_text = ("Set. " if is_set else "Not set. ") + self.SECRET_HELP

    def clean(self) -> dict[str, Any]:
        """The services' own checks, shown next to their fields before anything is saved."""
        data = super().clean() or {}
        checks = {
            "name": lambda: credential_services.validate_name(data.get("name")),
            "sites_text": lambda: credential_services.normalise_sites(data.get("sites_text") or ""),
            "totp_secret": lambda: credential_services.check_totp(data.get("totp_secret") or ""),
        }
        for field, check in checks.items():
            try:
                check()
            except InvalidRequestError as exc:
                self.add_error(field, exc.message)
        if not self.instance.pk and not any(data.get(f) for f in ("username", "password", "totp_secret")):
            self.add_error("password", "Give a username, a password or a TOTP secret.")
        return data


@admin.register(Credential)
class CredentialAdmin(OrgScopedAdmin):
    """Organization admins manage their credentials; the secrets go through the services, encrypted."""

    form = CredentialAdminForm
    list_display = ["name", "organization", "username_set", "password_set", "totp_set", "site_list", "last_used_at"]
    list_filter = ["organization"]
    search_fields = ["name", "notes"]
    readonly_fields = ["created_by", "created_at", "updated_at", "last_used_at"]

    @admin.display(boolean=True, description="username")
    def username_set(self, obj: Credential) -> bool:
        return obj.has_username

    @admin.display(boolean=True, description="password")
    def password_set(self, obj: Credential) -> bool:
        return obj.has_password

    @admin.display(boolean=True, description="TOTP")
    def totp_set(self, obj: Credential) -> bool:
        return obj.has_totp

    @admin.display(description="sites")
    def site_list(self, obj: Credential) -> str:
        return ", ".join(obj.sites or [])

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = ["organization", "name", "username", "password", "totp_secret", "sites_text", "notes"]
        if obj is not None:
            fields.insert(5, "clear_totp")
            fields += self.readonly_fields
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*self.readonly_fields, *(["organization"] if obj is not None else [])]

    def save_model(self, request: HttpRequest, obj: Credential, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            if not change:
                created = services.create_credential(
                    organization=obj.organization, by=request.user, name=data["name"], sites=data["sites_text"],
                    username=data["username"], password=data["password"], totp_secret=data["totp_secret"],
                    notes=data["notes"],
                )
                obj.pk = created.pk
                return
            changes: dict[str, Any] = {"name": data["name"], "sites": data["sites_text"], "notes": data["notes"]}
            changes.update({field: data[field] for field in ("username", "password", "totp_secret") if data[field]})
            if data.get("clear_totp"):
                changes["totp_secret"] = ""
            current = Credential.objects.select_related("organization").get(pk=obj.pk)
            services.update_credential(credential=current, by=request.user, **changes)
        except InvalidRequestError as exc:
            # The admin has no form error after save_model: say what failed instead of saving half.
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: Credential) -> None:
        services.delete_credential(credential=obj, by=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Credential]) -> None:
        for credential in queryset.select_related("organization"):
            services.delete_credential(credential=credential, by=request.user)


@admin.register(BrowserProfile)
class BrowserProfileAdmin(OrgScopedAdmin):
    """Saved logins are made by runs: listed and deletable, never shown (their cookies are secrets)."""

    list_display = ["name", "organization", "site_list", "cookie_count", "updated_at", "last_used_at"]
    list_filter = ["organization"]
    search_fields = ["name"]
    fields = ["organization", "name", "sites", "cookie_count", "saved_by_task", "created_at", "updated_at", "last_used_at"]
    readonly_fields = fields  # type: ignore[assignment]  # the stubs widen `fields` to nested sequences

    @admin.display(description="sites")
    def site_list(self, obj: BrowserProfile) -> str:
        return ", ".join(obj.sites or [])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a task with save_profile makes one

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: BrowserProfile) -> None:
        services.delete_profile(profile=obj, by=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[BrowserProfile]) -> None:
        for profile in queryset.select_related("organization"):
            services.delete_profile(profile=profile, by=request.user)


class StepInline(admin.TabularInline):
    model = Step
    extra = 0
    can_delete = False
    fields = ["order", "retry_index", "status", "error", "input_tokens", "output_tokens", "started_at", "finished_at"]
    readonly_fields = fields  # type: ignore[assignment]  # the stubs widen `fields` to nested sequences
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Task)
class TaskAdmin(OrgScopedAdmin):
    list_display = ["__str__", "organization", "status", "engine", "run_with", "created_by", "created_at", "finished_at"]
    list_filter = ["organization", "status", "engine", "run_with"]
    search_fields = ["title", "url", "navigation_goal"]
    date_hierarchy = "created_at"
    inlines = [StepInline]
    actions = ["pause", "resume", "terminate", "cancel", "retry"]
    readonly_fields = [
        "id", "organization", "created_by", "status", "failure_reason", "extracted_information", "errors",
        "input_tokens", "output_tokens", "cost", "retry_of", "worker", "heartbeat_at", "created_at",
        "queued_at", "started_at", "finished_at", "pending_safety_checks", "pending_question",
        "control_holder_label", "last_event_seq", "credentials", "secret_payload_keys", "profile", "save_profile",
        "run_with", "script", "replay",
    ]
    exclude = ["retry_step_requested", "requeue_count", "control_holder", "control_taken_at", "input_reply",
               "input_requested_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tasks are created from the dashboard, the API or run_task

    def _control(self, request: HttpRequest, queryset: QuerySet[Task], service: Any, verb: str) -> None:
        done, failed = 0, []
        for task in queryset.select_related("organization"):
            try:
                service(task=task, by=request.user)
                done += 1
            except LookoutError as exc:
                failed.append(f"{task}: {exc.message}")
        if done:
            self.message_user(request, f"{verb}: {done} task(s).", messages.SUCCESS)
        for line in failed:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description="Pause selected runs")
    def pause(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        self._control(request, queryset, services.pause_task, "Paused")

    @admin.action(description="Resume selected runs")
    def resume(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        self._control(request, queryset, services.resume_task, "Resumed")

    @admin.action(description="Terminate selected runs")
    def terminate(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        self._control(request, queryset, services.terminate_task, "Terminated")

    @admin.action(description="Cancel selected tasks")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        self._control(request, queryset, services.cancel_task, "Canceled")

    @admin.action(description="Retry selected tasks")
    def retry(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        self._control(request, queryset, services.retry_task, "Retried")


class ActionInline(admin.TabularInline):
    model = Action
    extra = 0
    can_delete = False
    fields = ["index", "action_type", "element_id", "reasoning", "success", "error"]
    readonly_fields = fields  # type: ignore[assignment]  # the stubs widen `fields` to nested sequences

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Step)
class StepAdmin(OrgScopedAdmin):
    org_path = "task__organization"
    read_only = True
    list_display = ["__str__", "status", "input_tokens", "output_tokens", "started_at"]
    list_filter = ["status"]
    inlines = [ActionInline]


@admin.register(Artifact)
class ArtifactAdmin(OrgScopedAdmin):
    org_path = "task__organization"
    read_only = True
    list_display = ["name", "kind", "task", "size", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name"]


@admin.register(TaskEvent)
class TaskEventAdmin(OrgScopedAdmin):
    org_path = "task__organization"
    read_only = True
    list_display = ["task", "seq", "type", "created_at"]
    list_filter = ["type"]


@admin.register(Script)
class ScriptAdmin(OrgScopedAdmin):
    """Scripts are recorded and repaired by runs: listed and readable per organization (a script goes with
    the task that recorded it)."""

    read_only = True
    list_display = ["__str__", "organization", "version", "reason", "step_count", "made_by_task", "created_at"]
    list_filter = ["organization", "reason"]
    search_fields = ["lineage__title", "lineage__url", "lineage__navigation_goal"]
    fields = ["organization", "lineage", "version", "reason", "healed_steps", "made_by_task", "created_at", "document"]
    readonly_fields = fields  # type: ignore[assignment]  # the stubs widen `fields` to nested sequences

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a completed dom run records one


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(OrgScopedAdmin):
    org_path = "task__organization"
    read_only = True
    list_display = ["task", "url", "attempt", "status_code", "succeeded", "created_at"]
    list_filter = ["succeeded"]


admin.site.unregister(User)


@admin.register(User)
class ScopedUserAdmin(DjangoUserAdmin):
    """Org admins see the users of their organizations (for memberships and autocomplete), nothing more;
    they cannot grant superuser or change other users' permissions."""

    search_fields = ["username", "email", "first_name", "last_name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(memberships__organization__in=admin_org_ids(request)).distinct()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser or is_org_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if request.user.is_superuser:
            return True
        return is_org_admin(request) and (obj is None or self.get_queryset(request).filter(pk=obj.pk).exists())

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str) -> Any:
        raise Http404("not found")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser
