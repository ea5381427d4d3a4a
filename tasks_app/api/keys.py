"""API key management under /api/v1/keys/, for organization admins: list, create (secret shown once), revoke."""

from __future__ import annotations

from django.contrib.auth.models import User
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app import services
from tasks_app.api.base import OrgApi, errors
from tasks_app.api.serializers import ApiKeyOutput
from tasks_app.models import ApiKey, Membership
from tasks_app.selectors import api_keys as key_selectors

KEY_ID = OpenApiParameter("key_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The key's id.")


def _user_behind(actor: object) -> User | None:
    """The person a new key is recorded as created by: the session user, or the user behind an admin key."""
    if isinstance(actor, ApiKey):
        return actor.created_by
    return actor if isinstance(actor, User) else None


class ApiKeysApi(OrgApi):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, help_text="What the key is for, e.g. \"CI\".")
        role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.OPERATOR,
                                       help_text="The role the key acts with.")

        class Meta:
            ref_name = "ApiKeyCreate"

    class CreatedOutput(ApiKeyOutput):
        key = serializers.CharField(read_only=True, help_text="The secret. Shown only in this response.")

        class Meta(ApiKeyOutput.Meta):
            ref_name = "ApiKeyCreated"
            fields = [*ApiKeyOutput.Meta.fields, "key"]
            read_only_fields = fields

    @extend_schema(operation_id="keys_list", summary="List the organization's API keys (admins)",
                   tags=["api keys"], responses={200: ApiKeyOutput(many=True), **errors()})
    def get(self, request: Request) -> Response:
        self.ensure_admin()
        keys = key_selectors.list_api_keys(organization=self.organization)
        return Response(ApiKeyOutput(keys, many=True).data)

    @extend_schema(operation_id="keys_create", summary="Create an API key (admins)",
                   description="The response carries the secret in `key`; it is stored hashed and never shown again.",
                   tags=["api keys"], request=InputSerializer, responses={201: CreatedOutput, **errors(400, 415)})
    def post(self, request: Request) -> Response:
        self.ensure_admin()
        serializer = self.InputSerializer(data=self.body())
        serializer.is_valid(raise_exception=True)
        key, secret = services.create_api_key(
            organization=self.organization, created_by=_user_behind(self.actor), **serializer.validated_data
        )
        key.key = secret  # type: ignore[attr-defined]  # for CreatedOutput only; never stored
        return Response(self.CreatedOutput(key).data, status=201)


class ApiKeyRevokeApi(OrgApi):
    @extend_schema(operation_id="keys_revoke", summary="Revoke an API key (admins)",
                   description="Requests with the key fail with 401 from now on. Revoking twice is harmless.",
                   tags=["api keys"], parameters=[KEY_ID], request=None,
                   responses={200: ApiKeyOutput, **errors(404)})
    def post(self, request: Request, key_id: int) -> Response:
        self.ensure_admin()
        key = key_selectors.get_api_key(organization=self.organization, key_id=key_id)
        return Response(ApiKeyOutput(services.revoke_api_key(api_key=key)).data)
