"""A run's secrets: its credentials and the navigation_payload values marked secret.

The model only ever sees placeholders: `{{acme.username}}`, `{{acme.password}}`, `{{acme.totp}}` for a
credential named "acme", `{{payload.card}}` for the secret payload key "card". It types them with
`input_text` like any text, and `Secrets.reveal` swaps in the real value as the text is typed: a fresh
TOTP code (RFC 6238) when `.totp` is typed, a credential's values only on pages of its sites (a phishing
guard), a password only into a password field (browsers draw those as dots, so it never shows on a
screenshot). Everything the run reports goes through `Secrets.mask*` (one Masker, see agent_core.masking):
`MaskingHooks` wraps the host's hooks so no value reaches a row, an event, an artifact or a log.
"""

from __future__ import annotations

import asyncio
import binascii
import dataclasses
import hashlib
import json
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp

from agent_core.masking import MIN_SECRET_LENGTH, Masker, is_text
from agent_core.types import (
    ActionFinished,
    ActionStarted,
    ArtifactKind,
    ArtifactOut,
    CredentialSpec,
    EgressBlocked,
    Frame,
    LLMDelta,
    LLMResponse,
    RunHooks,
    ScriptOut,
    StepFinished,
    StepStarted,
    TaskSpec,
)

__all__ = [
    "CREDENTIAL_FIELDS",
    "PAYLOAD_NAMESPACE",
    "MaskingHooks",
    "MaskingLogFilter",
    "SecretRefused",
    "Secrets",
    "parse_totp",
    "placeholder",
    "site_matches",
]

PAYLOAD_NAMESPACE = "payload"
CREDENTIAL_FIELDS = ("username", "password", "totp")
NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"  # a credential's name, as it appears in its placeholders
PAYLOAD_KEY_PATTERN = r"[^{}\s]{1,100}"  # a secret payload key
PLACEHOLDER = re.compile(r"\{\{\s*(" + NAME_PATTERN + r")\.(" + PAYLOAD_KEY_PATTERN + r"?)\s*\}\}")
# A TOTP code typed with less of its window left than this may expire before the site checks it: wait
# for the next window instead.
TOTP_MIN_LEFT_S = 3.0
# Cookie values of a saved login this long or longer are masked out of recordings (session tokens);
# shorter ones ("1", "true", "en") would mask half the page.
COOKIE_MASK_MIN_LENGTH = 16
# Artifacts that are pictures, or recordings masked on their own (agent_core.recording): left as they are.
_UNMASKED_KINDS = frozenset(
    {
        ArtifactKind.SCREENSHOT_LLM,
        ArtifactKind.SCREENSHOT_ACTION,
        ArtifactKind.SCREENSHOT_FINAL,
        ArtifactKind.RECORDING,
        ArtifactKind.TRACE,
        ArtifactKind.HAR,
    }
)

log = logging.getLogger(__name__)


class SecretRefused(Exception):
    """A placeholder that may not be typed here; the message says why, for the model and the timeline."""


def placeholder(namespace: str, key: str) -> str:
    return "{{" + namespace + "." + key + "}}"


class _ClientTOTP(pyotp.TOTP):
    """pyotp's TOTP without its minimum secret length: the site chose the secret, and many issue 80-bit
    ones (16 base32 characters); refusing them here would only stop the login."""

    min_secret_length_bits = 8


_DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def parse_totp(secret: str) -> pyotp.TOTP:
    """A TOTP generator from a base32 secret (spaces, dashes and case ignored) or an
    `otpauth://totp/...?secret=...[&digits=&period=&algorithm=]` URI. Raises ValueError saying what is wrong."""
    text = secret.strip()
    digits, interval, digest = 6, 30, "SHA1"
    if text.lower().startswith("otpauth://"):
        parts = urlsplit(text)
        if parts.netloc.lower() != "totp":
            raise ValueError("only time-based codes (otpauth://totp/...) are supported")
        query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
        text = query.get("secret", "")
        if not text:
            raise ValueError("the otpauth:// URI has no secret")
        try:
            digits, interval = int(query.get("digits", "6")), int(query.get("period", "30"))
        except ValueError as exc:
            raise ValueError("the otpauth:// URI has a digits or period that is not a number") from exc
        digest = query.get("algorithm", "SHA1").upper()
        if digest not in _DIGESTS or interval < 1:
            raise ValueError("the otpauth:// URI has an unsupported algorithm or period")
    try:
        otp = _ClientTOTP(re.sub(r"[\s-]", "", text).upper(), digits=digits, digest=_DIGESTS[digest], interval=interval)
        otp.at(0)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError("not a base32 secret or an otpauth://totp/ URI") from exc
    return otp


def _totp_strings(secret: str) -> list[str]:
    """What to mask for a TOTP secret: as given, and its base32 secret (out of a URI, or normalised)."""
    found = [secret, secret.strip()]
    try:
        found.append(parse_totp(secret).secret)
    except ValueError:
        pass
    return found


def _site_parts(site: str) -> tuple[str | None, str, int | None]:
    """(scheme or None, host, port or None) of a credential's site: `acme.com`, `https://acme.com`,
    `acme.com:8443`, `http://127.0.0.1:8123/login` (the path is ignored)."""
    text = site.strip()
    if "://" not in text:
        text = "//" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower() or None
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower().rstrip("."), port


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "https": 443}.get(scheme)


def site_matches(site: str, url: str) -> bool:
    """Whether `url` belongs to `site`: the same host or a subdomain of it (IP addresses: the same address);
    and, when the site names them, the same scheme and port."""
    scheme, host, port = _site_parts(site)
    try:
        page = urlsplit(url)
        page_port = page.port or _default_port(page.scheme.lower())
    except ValueError:
        return False
    page_host = (page.hostname or "").lower().rstrip(".")
    if not host or not page_host or page.scheme.lower() not in ("http", "https"):
        return False
    if scheme is not None and page.scheme.lower() != scheme:
        return False
    if port is not None and page_port != port:
        return False
    if scheme is not None and port is None and page_port != _default_port(scheme):
        return False
    if page_host == host:
        return True
    is_ip = bool(re.fullmatch(r"[\d.]+|\[?[0-9a-f:]+\]?", host))
    return not is_ip and page_host.endswith("." + host)


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return url[:100]
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else (url[:100] or "a blank page")


@dataclass(frozen=True)
class _Entry:
    """One placeholder's value: fixed text, or a TOTP generator; `sites` is None when any page may have it."""

    text: str = dataclasses.field(default="", repr=False)
    totp: pyotp.TOTP | None = dataclasses.field(default=None, repr=False)
    sites: tuple[str, ...] | None = None
    credential: str = ""
    field: str = ""


_live: weakref.WeakSet[Secrets] = weakref.WeakSet()  # for MaskingLogFilter


class Secrets:
    """The secrets of one run. Empty (`Secrets()`) types everything as written and masks nothing."""

    def __init__(
        self,
        credentials: Sequence[CredentialSpec] = (),
        payload: Mapping[str, Any] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._entries: dict[str, _Entry] = {}
        self._credentials = {c.name: c for c in credentials}
        self._values: set[str] = set()
        self._masker: Masker | None = None
        self._dirty = False
        self._clock, self._sleep = clock, sleep
        for cred in credentials:
            sites = tuple(cred.sites)
            if cred.username:
                self._entries[placeholder(cred.name, "username")] = _Entry(
                    text=cred.username, sites=sites, credential=cred.name, field="username"
                )
            if cred.password:
                self._entries[placeholder(cred.name, "password")] = _Entry(
                    text=cred.password, sites=sites, credential=cred.name, field="password"
                )
            if cred.totp_secret:
                self._entries[placeholder(cred.name, "totp")] = _Entry(
                    totp=parse_totp(cred.totp_secret), sites=sites, credential=cred.name, field="totp"
                )
                self.add(*_totp_strings(cred.totp_secret))
            self.add(cred.username, cred.password)
        for key, value in (payload or {}).items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            self._entries[placeholder(PAYLOAD_NAMESPACE, key)] = _Entry(text=text, field=key)
            self.add(text)
        if self._values:
            _live.add(self)

    @classmethod
    def from_spec(cls, spec: TaskSpec, **kwargs: Any) -> Secrets:
        """The spec's credentials, and the values of its secret payload keys (of a payload object)."""
        payload = spec.navigation_payload if isinstance(spec.navigation_payload, Mapping) else {}
        secret = {key: payload[key] for key in spec.secret_payload_keys if key in payload}
        return cls(spec.credentials, secret, **kwargs)

    @staticmethod
    def public_spec(spec: TaskSpec) -> TaskSpec:
        """The spec the engines get: secret payload values and credential values replaced by their
        placeholders, so no prompt can carry one."""
        payload = spec.navigation_payload
        if isinstance(payload, Mapping) and spec.secret_payload_keys:
            payload = {
                key: placeholder(PAYLOAD_NAMESPACE, key) if key in spec.secret_payload_keys else value
                for key, value in payload.items()
            }
        credentials = tuple(
            CredentialSpec(
                name=c.name,
                username=placeholder(c.name, "username") if c.username else "",
                password=placeholder(c.name, "password") if c.password else "",
                totp_secret=placeholder(c.name, "totp") if c.totp_secret else "",
                sites=c.sites,
            )
            for c in spec.credentials
        )
        return dataclasses.replace(spec, navigation_payload=payload, credentials=credentials)

    # ---- masking ------------------------------------------------------------------------------

    def add(self, *values: str) -> None:
        """More strings to mask from now on (a typed TOTP code, a saved login's session cookie)."""
        for value in values:
            if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH and value not in self._values:
                self._values.add(value)
                self._dirty = True
        if self._values:
            _live.add(self)

    def add_cookies(self, state: Mapping[str, Any] | None) -> None:
        """Mask the long cookie values of a Playwright storage_state (session tokens)."""
        for cookie in (state or {}).get("cookies") or []:
            value = cookie.get("value") if isinstance(cookie, Mapping) else None
            if isinstance(value, str) and len(value) >= COOKIE_MASK_MIN_LENGTH:
                self.add(value)

    @property
    def values(self) -> frozenset[str]:
        return frozenset(self._values)

    def masker(self, *extra: str) -> Masker | None:
        """The Masker of the run's secrets (and `extra` strings), None when there is nothing to mask."""
        if extra:
            return Masker.for_secrets([*self._values, *extra])
        if self._dirty:
            self._masker = Masker.for_secrets(self._values)
            self._dirty = False
        return self._masker

    def mask_text(self, text: str) -> str:
        masker = self.masker()
        return masker.text(text)[0] if masker is not None and text else text

    def mask_bytes(self, data: bytes) -> bytes:
        masker = self.masker()
        return masker.bytes(data)[0] if masker is not None and data else data

    def mask_json(self, value: Any) -> Any:
        """A copy of decoded JSON (or any dict/list/str tree) with every string masked."""
        masker = self.masker()
        return masker.json_value(value)[0] if masker is not None else value

    def mask_json_bytes(self, data: bytes) -> bytes:
        """JSON text masked value by value (its base64 images are left whole); other text byte-wise."""
        masker = self.masker()
        if masker is None or not masker.bytes_pattern.search(data):
            return data
        try:
            value = json.loads(data)
        except ValueError:
            return masker.bytes(data)[0]
        return json.dumps(masker.json_value(value)[0]).encode()

    # ---- typing ---------------------------------------------------------------------------------

    def has_placeholders(self, text: str) -> bool:
        return bool(self._entries) and PLACEHOLDER.search(text) is not None

    def _entry(self, match: re.Match[str]) -> _Entry | None:
        """The value a placeholder stands for; None for text that only looks like one (typed as is).
        Raises SecretRefused for one of ours that does not exist (a misspelt name or field)."""
        namespace, key = match.group(1), match.group(2)
        entry = self._entries.get(placeholder(namespace, key))
        if entry is not None:
            return entry
        if namespace == PAYLOAD_NAMESPACE:
            known = [p for p, e in self._entries.items() if not e.credential]
            raise SecretRefused(
                f"{match.group(0)} is not a secret payload value of this task"
                + (f"; there are {', '.join(known)}" if known else "")
            )
        if key in CREDENTIAL_FIELDS or namespace in self._credentials:
            cred = self._credentials.get(namespace)
            if cred is None:
                named = ", ".join(sorted(self._credentials)) or "none"
                raise SecretRefused(f"{match.group(0)}: there is no credential {namespace!r} (this task has: {named})")
            raise SecretRefused(f"{match.group(0)}: the credential {namespace!r} has no {key}")
        return None

    async def reveal(self, text: str, *, url: str, input_type: str | None, target: str = "the field") -> str:
        """`text` with its placeholders replaced by the real values, to be typed into an element of
        type `input_type` (None when unknown) in a document at `url`. Waits for the next TOTP window when the
        current one is about to end. Raises SecretRefused, with a reason to show the model, when a
        placeholder may not be typed there; nothing is typed then."""
        matches = list(PLACEHOLDER.finditer(text)) if self._entries else []
        if not matches:
            return text
        entries = [(match, self._entry(match)) for match in matches]
        for match, entry in entries:
            if entry is None:
                continue
            if entry.sites is not None and not any(site_matches(site, url) for site in entry.sites):
                allowed = ", ".join(entry.sites) or "no site"
                raise SecretRefused(
                    f"refused to type {match.group(0)} on {_origin(url)}: the credential {entry.credential!r} "
                    f"may only be typed on {allowed} (phishing guard)"
                )
            if entry.field == "password" and entry.credential and input_type != "password":
                raise SecretRefused(
                    f"refused to type {match.group(0)} into {target}, which is not a password field "
                    "(type=password): a password is only typed where the browser hides it"
                )
        out, last = [], 0
        for match, entry in entries:
            out.append(text[last : match.start()])
            out.append(match.group(0) if entry is None else await self._value(entry))
            last = match.end()
        out.append(text[last:])
        return "".join(out)

    async def _value(self, entry: _Entry) -> str:
        if entry.totp is None:
            return entry.text
        interval = float(entry.totp.interval)
        left = interval - (self._clock() % interval)
        if left < TOTP_MIN_LEFT_S:
            await self._sleep(left + 0.05)
        code = entry.totp.at(int(self._clock()))
        self.add(code)
        return code


def _mask_result(secrets: Secrets, event: ActionFinished) -> ActionFinished:
    result = dataclasses.replace(
        event.result,
        error=secrets.mask_text(event.result.error) if event.result.error else event.result.error,
        data=secrets.mask_json(event.result.data),
    )
    return dataclasses.replace(
        event, action=secrets.mask_json(event.action), result=result, why=secrets.mask_text(event.why)
    )


class MaskingHooks(RunHooks):
    """The host's hooks, with the run's secrets masked out of every event and textual artifact first.
    Screenshots pass as they are (a password field shows dots); HAR and trace are masked by
    agent_core.recording before they get here."""

    def __init__(self, inner: RunHooks, secrets: Secrets) -> None:
        self.inner, self.secrets = inner, secrets

    async def step_started(self, event: StepStarted) -> None:
        await self.inner.step_started(
            dataclasses.replace(event, url=self.secrets.mask_text(event.url), why=self.secrets.mask_text(event.why))
        )

    async def step_finished(self, event: StepFinished) -> None:
        error = self.secrets.mask_text(event.error) if event.error else event.error
        await self.inner.step_finished(dataclasses.replace(event, error=error))

    async def artifact(self, event: ArtifactOut) -> None:
        if event.kind not in _UNMASKED_KINDS and self.secrets.masker() is not None:
            if "json" in event.content_type:
                event = dataclasses.replace(event, data=self.secrets.mask_json_bytes(event.data))
            elif event.kind != ArtifactKind.DOWNLOAD or is_text(event.data):
                event = dataclasses.replace(event, data=self.secrets.mask_bytes(event.data))
        await self.inner.artifact(event)

    async def llm_delta(self, event: LLMDelta) -> None:
        await self.inner.llm_delta(dataclasses.replace(event, text=self.secrets.mask_text(event.text)))

    async def llm_response(self, event: LLMResponse) -> None:
        await self.inner.llm_response(
            dataclasses.replace(event, parsed=self.secrets.mask_json(event.parsed), raw=self.secrets.mask_text(event.raw))
        )

    async def action_started(self, event: ActionStarted) -> None:
        await self.inner.action_started(
            dataclasses.replace(event, action=self.secrets.mask_json(event.action), why=self.secrets.mask_text(event.why))
        )

    async def action_finished(self, event: ActionFinished) -> None:
        await self.inner.action_finished(_mask_result(self.secrets, event))

    async def frame(self, event: Frame) -> None:
        await self.inner.frame(event)

    async def browser_ready(self, session: Any) -> None:
        await self.inner.browser_ready(session)

    async def storage_state(self, state: dict[str, Any]) -> None:
        await self.inner.storage_state(state)

    async def script(self, event: ScriptOut) -> None:
        await self.inner.script(dataclasses.replace(event, document=self.secrets.mask_json(event.document)))

    async def egress_blocked(self, event: EgressBlocked) -> None:
        await self.inner.egress_blocked(
            dataclasses.replace(event, url=self.secrets.mask_text(event.url), reason=self.secrets.mask_text(event.reason))
        )


class MaskingLogFilter(logging.Filter):
    """A logging filter masking the secrets of every run alive in this process out of log records (their
    message and traceback). Hosts install it on their handlers (Lookout: settings.LOGGING)."""

    def filter(self, record: logging.LogRecord) -> bool:
        maskers = [m for m in (s.masker() for s in list(_live)) if m is not None]
        if not maskers:
            return True
        message = record.getMessage()
        exc_text = record.exc_text
        if record.exc_info and not exc_text:
            exc_text = logging.Formatter().formatException(record.exc_info)
        for masker in maskers:
            message = masker.text(message)[0]
            if exc_text:
                exc_text = masker.text(exc_text)[0]
        record.msg, record.args = message, ()
        if exc_text:
            record.exc_text = exc_text
        return True

