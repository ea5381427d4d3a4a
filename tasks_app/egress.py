"""This deployment's egress policy, built once from LOOKOUT_ALLOWED_NETWORKS, and the check of the URLs a
task request names. Everything that fetches or browses (runs, uploads, webhooks) takes its policy from here."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from agent_core.egress import EgressPolicy, Purpose, check_url_sync
from agent_core.errors import EgressDenied
from tasks_app.errors import InvalidRequestError


def policy() -> EgressPolicy:
    """The policy of the current settings (validated at start-up; see project/settings/base.py)."""
    return _policy_of(settings.LOOKOUT_ALLOWED_NETWORKS)


@lru_cache(maxsize=8)
def _policy_of(allowed_networks: str) -> EgressPolicy:
    # Keyed by the setting's value, so a test that overrides the setting gets the matching policy.
    return EgressPolicy.from_setting(allowed_networks)


def check_task_url(url: str, *, field: str = "url", purpose: Purpose = "browser") -> None:
    """Raise InvalidRequestError naming `field` when the egress policy refuses `url` ("url is blocked by
    the egress policy: 10.0.0.5 is a private address"). `purpose`: "browser" for a page the agent opens,
    "fetch" for a URL Lookout itself calls (a webhook).

    Host names are resolved (blocking: call it from sync code). A URL that does not parse, or a name that
    does not resolve from here, is left alone: the caller's own checks judge the syntax, and the run (or
    the delivery) checks the name again when it connects, as it does every time.
    """
    try:
        check_url_sync(url, policy(), purpose=purpose)
    except EgressDenied as exc:
        if exc.kind in ("invalid", "unresolvable"):
            return
        raise InvalidRequestError(f"{field} is {exc}", field=field) from None
