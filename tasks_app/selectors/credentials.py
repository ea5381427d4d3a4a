"""Read-only queries for an organization's credentials and saved logins (browser profiles), and the
decrypted values a run needs (only `tasks_app.runs` asks for those)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from agent_core.types import CredentialSpec
from tasks_app.crypto import decrypt_json, decrypt_text
from tasks_app.errors import NotFoundError
from tasks_app.models import BrowserProfile, Credential, Organization


def list_credentials(*, organization: Organization) -> QuerySet[Credential]:
    return organization.credentials.select_related("created_by").order_by("name", "id")


def get_credential(*, organization: Organization, credential_id: Any) -> Credential:
    try:
        found = organization.credentials.select_related("created_by").filter(pk=int(credential_id)).first()
    except (TypeError, ValueError):
        found = None
    if found is None:
        raise NotFoundError("credential not found")
    return found


def credential_names(*, organization: Organization) -> list[str]:
    return list(organization.credentials.order_by("name").values_list("name", flat=True))


def missing_credentials(*, organization: Organization, names: Iterable[str]) -> list[str]:
    """The names among `names` that the organization has no credential for, in the given order."""
    wanted = list(names)
    known = set(organization.credentials.filter(name__in=wanted).values_list("name", flat=True))
    return [name for name in wanted if name not in known]


def credential_specs(*, organization: Organization, names: Iterable[str]) -> list[CredentialSpec]:
    """The named credentials, decrypted for a run, in the given order. Raises NotFoundError naming the
    first one that no longer exists."""
    wanted = list(names)
    found = {c.name: c for c in organization.credentials.filter(name__in=wanted)}
    specs = []
    for name in wanted:
        cred = found.get(name)
        if cred is None:
            raise NotFoundError(f"the credential {name!r} no longer exists", extra={"credential": name})
        specs.append(
            CredentialSpec(
                name=cred.name,
                username=decrypt_text(cred.username_encrypted),
                password=decrypt_text(cred.password_encrypted),
                totp_secret=decrypt_text(cred.totp_secret_encrypted),
                sites=tuple(cred.sites or ()),
            )
        )
    return specs


def list_profiles(*, organization: Organization) -> QuerySet[BrowserProfile]:
    return organization.browser_profiles.select_related("saved_by_task").order_by("name", "id")


def get_profile(*, organization: Organization, profile_id: Any) -> BrowserProfile:
    try:
        found = organization.browser_profiles.filter(pk=int(profile_id)).first()
    except (TypeError, ValueError):
        found = None
    if found is None:
        raise NotFoundError("browser profile not found")
    return found


def profile_names(*, organization: Organization) -> list[str]:
    return list(organization.browser_profiles.order_by("name").values_list("name", flat=True))


def profile_exists(*, organization: Organization, name: str) -> bool:
    return organization.browser_profiles.filter(name=name).exists()


def profile_state(*, organization: Organization, name: str) -> dict[str, Any] | None:
    """The saved login's storage_state, decrypted for a run; None when there is no such profile yet (a
    task that saves it creates it)."""
    profile = organization.browser_profiles.filter(name=name).first()
    if profile is None or not profile.state_encrypted:
        return None
    state = decrypt_json(profile.state_encrypted)
    return state if isinstance(state, dict) else None
