"""Webhooks: signed, retried with capped backoff, every attempt recorded, exactly one accepted delivery."""

import json

import pytest

from tasks_app import services
from tasks_app.models import Task, WebhookDelivery
from tasks_app.services.webhooks import backoff_seconds, verify
from tests.factories import TaskFactory
from tests.receivers import receiver  # noqa: F401


@pytest.fixture
def fast_webhooks(settings):
    settings.LOOKOUT_WEBHOOK_BACKOFF_SECONDS = 0.01
    settings.LOOKOUT_WEBHOOK_BACKOFF_CAP = 0.05
    settings.LOOKOUT_WEBHOOK_MAX_ATTEMPTS = 4
    settings.LOOKOUT_RUNNER = "celery"  # eager in tests: countdowns collapse, attempts run in line


@pytest.mark.django_db
def test_fails_twice_then_one_accepted_delivery(receiver, fast_webhooks, org, django_capture_on_commit_callbacks):  # noqa: F811
    receiver.statuses = [500, 503, 200]
    task = TaskFactory(organization=org, status=Task.Status.RUNNING, webhook_callback_url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        services.finish_task(task=task, status=Task.Status.COMPLETED, extracted_information={"ok": True})
    deliveries = list(WebhookDelivery.objects.filter(task=task).order_by("attempt"))
    assert [d.attempt for d in deliveries] == [1, 2, 3]
    assert [d.status_code for d in deliveries] == [500, 503, 200]
    assert [d.succeeded for d in deliveries] == [False, False, True]
    assert len(receiver.requests) == 3
    last = receiver.requests[-1]
    assert verify(
        secret=org.webhook_secret,
        timestamp=last["headers"]["x-lookout-timestamp"],
        body=last["body"],
        signature=last["headers"]["x-lookout-signature"],
    )
    assert not verify(secret="wrong", timestamp=last["headers"]["x-lookout-timestamp"], body=last["body"],
                      signature=last["headers"]["x-lookout-signature"])
    payload = json.loads(last["body"])
    assert payload["status"] == "completed" and payload["extracted_information"] == {"ok": True}
    assert payload["task_id"] == str(task.pk)
    # a second finish (or a redelivered job) does not deliver again
    from tasks_app.services.webhooks import attempt_webhook

    assert attempt_webhook(task_id=task.pk, attempt=9) is None and len(receiver.requests) == 3


@pytest.mark.django_db
def test_dead_receiver_gives_up_after_cap(fast_webhooks, org, django_capture_on_commit_callbacks):
    task = TaskFactory(organization=org, status=Task.Status.RUNNING, webhook_callback_url="http://127.0.0.1:9/nothing")
    with django_capture_on_commit_callbacks(execute=True):
        services.terminate_task(task=task, by=None)
    deliveries = list(WebhookDelivery.objects.filter(task=task))
    assert len(deliveries) == 4 and not any(d.succeeded for d in deliveries)
    assert all(d.error for d in deliveries)
    assert Task.objects.get(pk=task.pk).status == "terminated"  # the task is unaffected


def test_backoff_is_exponential_and_capped(settings):
    settings.LOOKOUT_WEBHOOK_BACKOFF_SECONDS, settings.LOOKOUT_WEBHOOK_BACKOFF_CAP = 2, 30
    assert [backoff_seconds(a) for a in range(1, 7)] == [2, 4, 8, 16, 30, 30]


@pytest.mark.django_db
def test_no_webhook_without_url(org, django_capture_on_commit_callbacks, fast_webhooks):
    task = TaskFactory(organization=org, status=Task.Status.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        services.finish_task(task=task, status=Task.Status.FAILED, failure_reason="x")
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.test/\r\nX-Injected: 1", "control or whitespace"),
        ("http://[bad/hook", "cannot be parsed"),
        ("ftp://hooks.test/hook", "not http or https"),
    ],
)
def test_unsendable_url_is_one_failed_delivery_with_the_reason(fast_webhooks, org, django_capture_on_commit_callbacks, url, reason):
    # Stored before creation-time validation existed (or written straight to the database).
    task = TaskFactory(organization=org, status=Task.Status.RUNNING, webhook_callback_url=url)
    with django_capture_on_commit_callbacks(execute=True):
        services.finish_task(task=task, status=Task.Status.COMPLETED)
    [delivery] = WebhookDelivery.objects.filter(task=task)  # recorded once, not retried: it can never work
    assert not delivery.succeeded and delivery.status_code is None
    assert delivery.error.startswith("the webhook URL cannot be used") and reason in delivery.error


@pytest.mark.django_db
def test_every_attempt_goes_through_the_one_sending_function(receiver, fast_webhooks, org, monkeypatch, django_capture_on_commit_callbacks):  # noqa: F811
    from tasks_app.services import webhooks

    sent = []
    real = webhooks.send_webhook
    monkeypatch.setattr(webhooks, "send_webhook", lambda **kw: sent.append(kw["url"]) or real(**kw))
    task = TaskFactory(organization=org, status=Task.Status.RUNNING, webhook_callback_url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        services.finish_task(task=task, status=Task.Status.COMPLETED)
    assert sent == [receiver.url] and len(receiver.requests) == 1
