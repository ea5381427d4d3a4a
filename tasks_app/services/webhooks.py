"""Webhooks: a signed JSON notification of every final status (and of a run that waits for a person's
answer), retried with capped exponential backoff, sent under the egress policy (a refused URL is a failed
delivery that is not retried)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from agent_core.errors import EgressDenied, FetchError
from agent_core.fetch import FetchResult, fetch_sync
from tasks_app.egress import policy as egress_policy
from tasks_app.models import Task, WebhookDelivery
from tasks_app.selectors.tasks import step_count
from tasks_app.services.dispatch import dispatch_webhook
from tasks_app.validation import url_problem

TIMESTAMP_HEADER = "x-lookout-timestamp"
SIGNATURE_HEADER = "x-lookout-signature"


def sign(*, secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 (hex) over `timestamp + "." + body` with the organization's webhook secret."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(*, secret: str, timestamp: str, body: bytes, signature: str, tolerance_s: float = 300) -> bool:
    """What a receiver does: recompute, compare in constant time, reject stale timestamps."""
    if abs(time.time() - float(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret=secret, timestamp=timestamp, body=body), signature)


def backoff_seconds(attempt: int) -> float:
    """Delay before attempt `attempt + 1`: base * 2^(attempt-1), capped."""
    return min(settings.LOOKOUT_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1), settings.LOOKOUT_WEBHOOK_BACKOFF_CAP)


AWAITING_INPUT_EVENT = "task.awaiting_input"


def webhook_payload(task: Task, event: str = "task.finished") -> dict[str, Any]:
    """The body of a webhook. `task.awaiting_input` also carries the agent's `question`."""
    extra = {"question": task.pending_question} if event == AWAITING_INPUT_EVENT else {}
    return {
        "event": event,
        "task_id": str(task.pk),
        "status": task.status,
        "failure_reason": task.failure_reason or None,
        "extracted_information": task.extracted_information,
        "errors": task.errors,
        "url": task.url,
        "title": task.title,
        "steps": step_count(task=task),
        "input_tokens": task.input_tokens,
        "output_tokens": task.output_tokens,
        "cost": str(task.cost),
        "created_at": task.created_at.isoformat(),
        "finished_at": task.finished_at.isoformat() if task.finished_at else None,
        "retry_of": str(task.retry_of_id) if task.retry_of_id else None,
        "run_with": task.run_with,
        "replay": task.replay,  # a replay's figures (model calls, tokens saved), None for runs of the model
        **extra,
    }


class UndeliverableWebhookError(Exception):
    """The webhook URL can never be sent to (not http(s), unparsable, CR/LF in it, refused by the egress
    policy): retrying is pointless."""


def send_webhook(*, url: str, body: bytes, headers: dict[str, str]) -> FetchResult:
    """The one place a webhook leaves Lookout: one POST under the egress policy, checked and pinned like
    every server-side fetch. A redirect is the receiver's answer (not followed); only the start of the
    answer is read. Raises UndeliverableWebhookError for a URL that cannot be sent at all (a policy
    refusal included), FetchError for a failed attempt (a name that does not resolve is one: it may later)."""
    problem = url_problem(url)
    if problem:
        raise UndeliverableWebhookError(f"the webhook URL cannot be used: {problem}")
    try:
        return fetch_sync(
            url,
            egress_policy(),
            method="POST",
            content=body,
            headers=headers,
            follow_redirects=False,
            max_bytes=64_000,
            truncate=True,
            timeout=settings.LOOKOUT_WEBHOOK_TIMEOUT,
            deadline=settings.LOOKOUT_WEBHOOK_TIMEOUT * 3,
        )
    except EgressDenied as exc:
        if exc.kind == "unresolvable":
            raise FetchError(str(exc)) from exc
        raise UndeliverableWebhookError(str(exc)) from exc


def schedule_webhook(*, task_id: Any, event: str = "task.finished") -> None:
    """Start delivery for a task that reached a final status (or now waits for a person's answer), if it
    asked for a webhook."""
    url = Task.objects.filter(pk=task_id).values_list("webhook_callback_url", flat=True).first()
    if url:
        dispatch_webhook(task_id, attempt=1, countdown=0, event=event)


def attempt_webhook(*, task_id: Any, attempt: int, event: str = "task.finished") -> float | None:
    """Make one delivery attempt and record it. Returns the delay before the next attempt, or None when
    done (delivered, given up, or nothing to deliver). Safe to call again after a success: it stops.
    A `task.awaiting_input` notification is dropped once the task no longer waits."""
    task = Task.objects.select_related("organization").filter(pk=task_id).first()
    if task is None or not task.webhook_callback_url:
        return None
    if event == AWAITING_INPUT_EVENT:
        if task.status != Task.Status.AWAITING_INPUT:
            return None
    elif WebhookDelivery.objects.filter(task=task, event=event, succeeded=True).exists():
        return None
    payload = webhook_payload(task, event)
    body = json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "user-agent": "Lookout-Webhook/1",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret=task.organization.webhook_secret, timestamp=timestamp, body=body),
    }
    delivery = WebhookDelivery(task=task, url=task.webhook_callback_url, event=event, attempt=attempt, payload=payload)
    started = time.perf_counter()
    undeliverable = False
    try:
        response = send_webhook(url=task.webhook_callback_url, body=body, headers=headers)
        delivery.status_code = response.status_code
        delivery.response_body = response.text[:2000]
        delivery.succeeded = response.ok
        if not delivery.succeeded:
            delivery.error = f"receiver answered HTTP {response.status_code}"
    except UndeliverableWebhookError as exc:
        delivery.error, undeliverable = str(exc)[:2000], True
    except FetchError as exc:
        delivery.error = str(exc)[:2000]
    delivery.duration_ms = int((time.perf_counter() - started) * 1000)
    delivery.save()
    if delivery.succeeded or undeliverable or attempt >= settings.LOOKOUT_WEBHOOK_MAX_ATTEMPTS:
        return None
    return backoff_seconds(attempt)
