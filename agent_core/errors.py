"""Exceptions the agent raises; each carries a message fit to show an operator."""

from __future__ import annotations


class AgentError(Exception):
    """Base class for everything agent_core raises on purpose."""


class InvalidTaskError(AgentError):
    """The task spec cannot run at all (e.g. a start URL that is not http(s))."""


class StepFailedError(AgentError):
    """One step failed in a way that a retry of the step may fix.

    `raw` keeps what the model or the browser said, for the step's artifacts.
    """

    def __init__(self, message: str, *, raw: str | None = None) -> None:
        super().__init__(message)
        self.raw = raw


class InvalidModelOutputError(StepFailedError):
    """The model replied with something that is not a valid agent step (not JSON, unknown action, ...)."""


class LLMError(StepFailedError):
    """The model call itself failed (timeout, refusal, truncated reply, HTTP error after retries)."""


class BrowserError(StepFailedError):
    """The browser or page failed (crash, page closed, navigation timeout)."""


class RunTerminatedError(AgentError):
    """An operator terminated the run; raised from `Control.checkpoint()` and cancelled model calls."""

    def __init__(self, reason: str = "terminated by operator") -> None:
        super().__init__(reason)
        self.reason = reason


class RetryStepRequested(AgentError):
    """An operator asked to drop the current plan and ask the model again from the current page."""


class EgressDenied(AgentError):
    """The egress policy refused a URL or address (a private, loopback, link-local or metadata address, a
    name resolving to one, or a scheme that may not be fetched).

    Not a StepFailedError on purpose: retrying the same fetch cannot help, so callers translate it where
    they know what it means (a refused start URL fails the task; a refused action fails that action and
    the model reads the reason). `reason` is the part after the prefix, `kind` the classifier's word
    ("private", "metadata", "scheme", ...), `url` what was asked for when known.
    """

    def __init__(self, reason: str, *, kind: str = "", url: str = "") -> None:
        super().__init__(f"blocked by the egress policy: {reason}")
        self.reason = reason
        self.kind = kind
        self.url = url


class FetchError(AgentError):
    """A server-side fetch (an upload's file_url, a webhook) failed: connection, TLS, timeout, too many
    redirects, or a bad redirect. Policy refusals raise EgressDenied instead."""


class ResponseTooLarge(FetchError):
    """A server-side fetch returned more than the caller's `max_bytes`."""
