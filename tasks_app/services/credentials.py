"""Writes on credentials and saved logins (browser profiles): organization admins create, change and delete
them; runs mark them used and save a profile's state back; `rotate_encryption` re-encrypts everything with
the first key of LOOKOUT_ENCRYPTION_KEY. Secret values go in encrypted and never come back out here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from agent_core.secrets import NAME_PATTERN, PAYLOAD_NAMESPACE, parse_totp
from tasks_app.access import Actor, ensure_admin
from tasks_app.crypto import encrypt_json, encrypt_text, rotate_token
from tasks_app.errors import InvalidRequestError
from tasks_app.models import ApiKey, BrowserProfile, Credential, Organization, Task

NAME = re.compile(NAME_PATTERN)
MAX_SITES = 20
MAX_SECRET_LENGTH = 4096
MAX_PROFILE_BYTES = 5 * 1024 * 1024  # a storage_state larger than this is not kept


def _user_of(actor: Actor) -> User | None:
    if isinstance(actor, ApiKey):
        return actor.created_by
    return actor if isinstance(actor, User) else None


def validate_name(name: Any, *, field: str = "name", what: str = "credential") -> str:
    text = str(name or "").strip()
    if not NAME.fullmatch(text):
        raise InvalidRequestError(
            f"a {what} name is 1 to 64 letters, digits, - or _ (it appears in placeholders such as "
            f"{{{{{text or 'name'}.password}}}})",
            field=field,
        )
    if what == "credential" and text == PAYLOAD_NAMESPACE:
        raise InvalidRequestError(f"{PAYLOAD_NAMESPACE!r} is reserved for secret payload values", field=field)
    return text


def normalise_sites(sites: Any) -> list[str]:
    """Hosts (with an optional scheme and port) the credential may be typed on: at least one."""
    if isinstance(sites, str):
        sites = [part for part in re.split(r"[\s,]+", sites) if part]
    if not isinstance(sites, list) or not sites:
        raise InvalidRequestError(
            "give at least one site the credential may be typed on, e.g. [\"acme.com\"] (the phishing guard)",
            field="sites",
        )
    if len(sites) > MAX_SITES:
        raise InvalidRequestError(f"at most {MAX_SITES} sites", field="sites")
    cleaned: list[str] = []
    for site in sites:
        text = str(site).strip().lower().rstrip("/") if isinstance(site, str) else ""
        try:
            parts = urlsplit(text if "://" in text else "//" + text)
            host, _port = parts.hostname, parts.port
        except ValueError:
            host = None
        if not text or not host or len(text) > 255 or (parts.scheme and parts.scheme not in ("http", "https")):
            raise InvalidRequestError(
                f"{site!r} is not a site: give a host such as acme.com, optionally with a scheme and port "
                "(https://acme.com, 127.0.0.1:8080)",
                field="sites",
            )
        if text not in cleaned:
            cleaned.append(text)
    return cleaned


def _secret(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(f"{field} must be a string", field=field)
    if len(value) > MAX_SECRET_LENGTH or "\x00" in value:
        raise InvalidRequestError(f"{field} is too long or holds a null character", field=field)
    return value


def check_totp(value: Any) -> str:
    text = _secret(value, "totp_secret").strip()
    if text:
        try:
            parse_totp(text)
        except ValueError as exc:
            raise InvalidRequestError(f"totp_secret is {exc}", field="totp_secret") from exc
    return text


def create_credential(
    *,
    organization: Organization,
    by: Actor,
    name: str,
    sites: Any,
    username: str = "",
    password: str = "",
    totp_secret: str = "",
    notes: str = "",
) -> Credential:
    """A new credential (organization admins only). Its values are stored encrypted and never shown."""
    ensure_admin(organization=organization, actor=by)
    name = validate_name(name)
    values = {"username": _secret(username, "username"), "password": _secret(password, "password"),
              "totp_secret": check_totp(totp_secret)}
    if not any(values.values()):
        raise InvalidRequestError("give a username, a password or a TOTP secret", field="password")
    if organization.credentials.filter(name=name).exists():
        raise InvalidRequestError(f"there is already a credential named {name!r}", field="name")
    try:
        with transaction.atomic():
            return Credential.objects.create(
                organization=organization,
                name=name,
                sites=normalise_sites(sites),
                notes=str(notes or "")[:10_000],
                username_encrypted=encrypt_text(values["username"]),
                password_encrypted=encrypt_text(values["password"]),
                totp_secret_encrypted=encrypt_text(values["totp_secret"]),
                created_by=_user_of(by),
            )
    except IntegrityError as exc:  # created meanwhile by someone else
        raise InvalidRequestError(f"there is already a credential named {name!r}", field="name") from exc


def update_credential(*, credential: Credential, by: Actor, **changes: Any) -> Credential:
    """Change what is given (organization admins only): name, sites, notes, and the secrets username,
    password, totp_secret (a new value replaces the old one; "" clears it). Absent fields stay as they are."""
    ensure_admin(organization=credential.organization, actor=by)
    unknown = set(changes) - {"name", "sites", "notes", "username", "password", "totp_secret"}
    if unknown:
        raise InvalidRequestError(f"unknown credential fields: {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    fields: list[str] = []
    if "name" in changes:
        name = validate_name(changes["name"])
        if name != credential.name and credential.organization.credentials.filter(name=name).exists():
            raise InvalidRequestError(f"there is already a credential named {name!r}", field="name")
        credential.name = name
        fields.append("name")
    if "sites" in changes:
        credential.sites = normalise_sites(changes["sites"])
        fields.append("sites")
    if "notes" in changes:
        credential.notes = str(changes["notes"] or "")[:10_000]
        fields.append("notes")
    for field in ("username", "password"):
        if field in changes:
            setattr(credential, f"{field}_encrypted", encrypt_text(_secret(changes[field], field)))
            fields.append(f"{field}_encrypted")
    if "totp_secret" in changes:
        credential.totp_secret_encrypted = encrypt_text(check_totp(changes["totp_secret"]))
        fields.append("totp_secret_encrypted")
    if not (credential.username_encrypted or credential.password_encrypted or credential.totp_secret_encrypted):
        raise InvalidRequestError("a credential needs a username, a password or a TOTP secret", field="password")
    if fields:
        try:
            with transaction.atomic():
                credential.save(update_fields=[*fields, "updated_at"])
        except IntegrityError as exc:
            raise InvalidRequestError(f"there is already a credential named {credential.name!r}", field="name") from exc
    return credential


def delete_credential(*, credential: Credential, by: Actor) -> None:
    """Organization admins only. Tasks that name it fail with a clear reason if they run later."""
    ensure_admin(organization=credential.organization, actor=by)
    credential.delete()


def mark_credentials_used(*, organization: Organization, names: Iterable[str]) -> None:
    names = list(names)
    if names:
        Credential.objects.filter(organization=organization, name__in=names).update(last_used_at=timezone.now())


# ---- saved logins ------------------------------------------------------------------------------


def profile_sites(state: Mapping[str, Any]) -> list[str]:
    """The hosts a storage_state holds a login for: its cookies' domains and its local-storage origins' hosts."""
    sites: set[str] = set()
    for cookie in state.get("cookies") or []:
        if isinstance(cookie, Mapping) and isinstance(cookie.get("domain"), str):
            sites.add(cookie["domain"].lstrip("."))
    for origin in state.get("origins") or []:
        if isinstance(origin, Mapping) and isinstance(origin.get("origin"), str):
            try:
                host = urlsplit(origin["origin"]).hostname
            except ValueError:
                continue
            if host:
                sites.add(host)
    return sorted(site for site in sites if site)


@dataclass(frozen=True)
class SavedProfile:
    profile: BrowserProfile
    created: bool


def save_profile_state(*, organization: Organization, name: str, state: Mapping[str, Any], task_id: Any = None) -> SavedProfile:
    """Store a run's storage_state as the profile `name` (created if missing), encrypted. Two runs saving
    the same profile at once do not mix: each write replaces the whole encrypted state in one UPDATE,
    so the last writer wins with its complete state."""
    name = validate_name(name, field="profile", what="profile")
    token = encrypt_json(dict(state))
    if len(token) > MAX_PROFILE_BYTES * 2:
        raise InvalidRequestError("the browser state is too large to save as a profile", field="profile")
    values = {
        "state_encrypted": token,
        "sites": profile_sites(state),
        "cookie_count": len(state.get("cookies") or []),
        "saved_by_task_id": task_id if task_id is None or Task.objects.filter(pk=task_id).exists() else None,
        "updated_at": timezone.now(),
    }
    with transaction.atomic():
        if BrowserProfile.objects.filter(organization=organization, name=name).update(**values):
            return SavedProfile(BrowserProfile.objects.get(organization=organization, name=name), created=False)
        try:
            with transaction.atomic():
                profile = BrowserProfile.objects.create(organization=organization, name=name, **values)
            return SavedProfile(profile, created=True)
        except IntegrityError:  # another run created it a moment ago: replace its state
            BrowserProfile.objects.filter(organization=organization, name=name).update(**values)
            return SavedProfile(BrowserProfile.objects.get(organization=organization, name=name), created=False)


def mark_profile_used(*, organization: Organization, name: str) -> None:
    BrowserProfile.objects.filter(organization=organization, name=name).update(last_used_at=timezone.now())


def delete_profile(*, profile: BrowserProfile, by: Actor) -> None:
    """Organization admins only. A task that starts from it later fails with a clear reason, unless it saves it."""
    ensure_admin(organization=profile.organization, actor=by)
    profile.delete()


# ---- key rotation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rotated:
    credentials: int
    profiles: int
    tasks: int


def rotate_encryption() -> Rotated:
    """Re-encrypt every stored secret with the first key of LOOKOUT_ENCRYPTION_KEY (each row in its own
    conditional UPDATE, so a value changed meanwhile is left as it was written). Safe to run again; raises
    DecryptionError on a secret no configured key opens."""
    counts = {"credentials": 0, "profiles": 0, "tasks": 0}
    for cred in Credential.objects.only("pk", "username_encrypted", "password_encrypted", "totp_secret_encrypted").iterator():
        Credential.objects.filter(
            pk=cred.pk,
            username_encrypted=cred.username_encrypted,
            password_encrypted=cred.password_encrypted,
            totp_secret_encrypted=cred.totp_secret_encrypted,
        ).update(
            username_encrypted=rotate_token(cred.username_encrypted),
            password_encrypted=rotate_token(cred.password_encrypted),
            totp_secret_encrypted=rotate_token(cred.totp_secret_encrypted),
        )
        counts["credentials"] += 1
    for profile in BrowserProfile.objects.exclude(state_encrypted="").only("pk", "state_encrypted").iterator():
        # Conditional: a run that saved the profile meanwhile wrote a token of the new key already.
        BrowserProfile.objects.filter(pk=profile.pk, state_encrypted=profile.state_encrypted).update(
            state_encrypted=rotate_token(profile.state_encrypted)
        )
        counts["profiles"] += 1
    for task in Task.objects.exclude(secret_payload="").only("pk", "secret_payload").iterator():
        Task.objects.filter(pk=task.pk).update(secret_payload=rotate_token(task.secret_payload))
        counts["tasks"] += 1
    return Rotated(**counts)
