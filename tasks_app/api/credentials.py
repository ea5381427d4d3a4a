"""Credentials and saved logins under /api/v1/credentials/ and /api/v1/profiles/, for organization admins.
Secrets are write-only: a credential answers with whether each value is set, never with the value; a
profile with its sites and when it was saved and used, never with its cookies."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app.api.base import OrgApi, errors
from tasks_app.api.serializers import no_null_characters
from tasks_app.errors import InvalidRequestError
from tasks_app.models import BrowserProfile, Credential
from tasks_app.selectors import credentials as selectors
from tasks_app.services import credentials as services

CREDENTIAL_ID = OpenApiParameter("credential_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The credential's id.")
PROFILE_ID = OpenApiParameter("profile_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The profile's id.")
SECRET_HELP = "Write-only: stored encrypted, never returned (the response says only whether it is set)."


class CredentialOutput(serializers.ModelSerializer):
    has_username = serializers.BooleanField(read_only=True)
    has_password = serializers.BooleanField(read_only=True)
    has_totp = serializers.BooleanField(read_only=True, help_text="Whether a TOTP secret is set.")
    sites = serializers.ListField(child=serializers.CharField(), read_only=True)
    placeholders = serializers.SerializerMethodField(help_text="What a task's model types to use it.")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, read_only=True)

    class Meta:
        model = Credential
        ref_name = "Credential"
        fields = ["id", "name", "has_username", "has_password", "has_totp", "sites", "notes", "placeholders",
                  "created_by", "created_at", "updated_at", "last_used_at"]
        read_only_fields = fields

    def get_placeholders(self, credential: Credential) -> list[str]:
        present = {"username": credential.has_username, "password": credential.has_password, "totp": credential.has_totp}
        return ["{{" + f"{credential.name}.{field}" + "}}" for field, ok in present.items() if ok]


class ProfileOutput(serializers.ModelSerializer):
    sites = serializers.ListField(child=serializers.CharField(), read_only=True)
    saved_by_task = serializers.UUIDField(source="saved_by_task_id", allow_null=True, read_only=True)

    class Meta:
        model = BrowserProfile
        ref_name = "BrowserProfile"
        fields = ["id", "name", "sites", "cookie_count", "saved_by_task", "created_at", "updated_at", "last_used_at"]
        read_only_fields = fields


def _reject_unknown(body: dict[str, object], serializer: serializers.Serializer) -> None:
    unknown = sorted(set(body) - set(serializer.fields))
    if unknown:
        raise InvalidRequestError(f"unknown credential fields: {', '.join(unknown)}", field=unknown[0])


class CredentialsApi(OrgApi):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=64, help_text="Letters, digits, - and _: tasks refer to it by name.")
        username = serializers.CharField(required=False, allow_blank=True, max_length=4096, write_only=True,
                                         validators=[no_null_characters], help_text=SECRET_HELP)
        password = serializers.CharField(required=False, allow_blank=True, max_length=4096, write_only=True,
                                         trim_whitespace=False, validators=[no_null_characters], help_text=SECRET_HELP)
        totp_secret = serializers.CharField(required=False, allow_blank=True, max_length=4096, write_only=True,
                                            validators=[no_null_characters],
                                            help_text="Base32, or an otpauth://totp/ URI. " + SECRET_HELP)
        sites = serializers.ListField(child=serializers.CharField(max_length=255, validators=[no_null_characters]),
                                      help_text="Hosts it may be typed on (acme.com also covers its subdomains; "
                                                "https://acme.com or acme.com:8443 also fix the scheme or port).")
        notes = serializers.CharField(required=False, allow_blank=True, max_length=10_000, validators=[no_null_characters])

        class Meta:
            ref_name = "CredentialCreate"

    @extend_schema(operation_id="credentials_list", summary="List credentials (admins)", tags=["credentials"],
                   responses={200: CredentialOutput(many=True), **errors()})
    def get(self, request: Request) -> Response:
        self.ensure_admin()
        return Response(CredentialOutput(selectors.list_credentials(organization=self.organization), many=True).data)

    @extend_schema(operation_id="credentials_create", summary="Create a credential (admins)", tags=["credentials"],
                   description="Tasks use it by name (`credentials: [\"acme\"]`); their model types "
                   "`{{acme.username}}`, `{{acme.password}}`, `{{acme.totp}}` and never sees the values.",
                   request=InputSerializer, responses={201: CredentialOutput, **errors(400, 415)})
    def post(self, request: Request) -> Response:
        self.ensure_admin()
        body = self.body()
        _reject_unknown(body, self.InputSerializer())
        serializer = self.InputSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        credential = services.create_credential(organization=self.organization, by=self.actor, **serializer.validated_data)
        return Response(CredentialOutput(credential).data, status=201)


class CredentialDetailApi(OrgApi):
    class UpdateSerializer(CredentialsApi.InputSerializer):
        name = serializers.CharField(max_length=64, required=False)
        sites = serializers.ListField(child=serializers.CharField(max_length=255, validators=[no_null_characters]),
                                      required=False)

        class Meta:
            ref_name = "CredentialUpdate"

    @extend_schema(operation_id="credentials_retrieve", summary="Get a credential (admins)", tags=["credentials"],
                   parameters=[CREDENTIAL_ID], responses={200: CredentialOutput, **errors(404)})
    def get(self, request: Request, credential_id: int) -> Response:
        self.ensure_admin()
        return Response(CredentialOutput(self._credential(credential_id)).data)

    @extend_schema(operation_id="credentials_update", summary="Change a credential (admins)", tags=["credentials"],
                   description="Only the fields given change. A secret given replaces the stored one; an empty "
                   "string clears it.", parameters=[CREDENTIAL_ID], request=UpdateSerializer,
                   responses={200: CredentialOutput, **errors(400, 404, 415)})
    def patch(self, request: Request, credential_id: int) -> Response:
        self.ensure_admin()
        credential = self._credential(credential_id)
        body = self.body()
        _reject_unknown(body, self.UpdateSerializer())
        serializer = self.UpdateSerializer(data=body, partial=True)
        serializer.is_valid(raise_exception=True)
        updated = services.update_credential(credential=credential, by=self.actor, **serializer.validated_data)
        return Response(CredentialOutput(updated).data)

    @extend_schema(operation_id="credentials_delete", summary="Delete a credential (admins)", tags=["credentials"],
                   parameters=[CREDENTIAL_ID], request=None, responses={204: None, **errors(404)})
    def delete(self, request: Request, credential_id: int) -> Response:
        self.ensure_admin()
        services.delete_credential(credential=self._credential(credential_id), by=self.actor)
        return Response(status=204)

    def _credential(self, credential_id: int) -> Credential:
        return selectors.get_credential(organization=self.organization, credential_id=credential_id)


class ProfilesApi(OrgApi):
    @extend_schema(operation_id="profiles_list", summary="List saved logins (admins)", tags=["profiles"],
                   description="Browser profiles: cookies and local storage saved by tasks with "
                   "`save_profile: true`, stored encrypted; a task starts from one with `profile`.",
                   responses={200: ProfileOutput(many=True), **errors()})
    def get(self, request: Request) -> Response:
        self.ensure_admin()
        return Response(ProfileOutput(selectors.list_profiles(organization=self.organization), many=True).data)


class ProfileDetailApi(OrgApi):
    @extend_schema(operation_id="profiles_retrieve", summary="Get a saved login (admins)", tags=["profiles"],
                   parameters=[PROFILE_ID], responses={200: ProfileOutput, **errors(404)})
    def get(self, request: Request, profile_id: int) -> Response:
        self.ensure_admin()
        return Response(ProfileOutput(selectors.get_profile(organization=self.organization, profile_id=profile_id)).data)

    @extend_schema(operation_id="profiles_delete", summary="Delete a saved login (admins)", tags=["profiles"],
                   parameters=[PROFILE_ID], request=None, responses={204: None, **errors(404)})
    def delete(self, request: Request, profile_id: int) -> Response:
        self.ensure_admin()
        profile = selectors.get_profile(organization=self.organization, profile_id=profile_id)
        services.delete_profile(profile=profile, by=self.actor)
        return Response(status=204)
