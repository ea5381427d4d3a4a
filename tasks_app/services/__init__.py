"""Every write Lookout makes goes through these services (re-exported here for convenience); the run
pipeline's writes are in `services.runs`."""

from tasks_app.services.api_keys import create_api_key, resolve_api_key, revoke_api_key
from tasks_app.services.control import answer_question, release_control, request_input, take_control
from tasks_app.services.credentials import (
    create_credential,
    delete_credential,
    delete_profile,
    update_credential,
)
from tasks_app.services.events import record_event
from tasks_app.services.organizations import bootstrap_first_run, create_organization, grant_admin_site_access
from tasks_app.services.scripts import replay_task
from tasks_app.services.tasks import (
    approve_safety_checks,
    cancel_task,
    claim_task,
    create_task,
    deny_safety_checks,
    enqueue_task,
    finish_task,
    pause_task,
    request_approval,
    resume_task,
    retry_step,
    retry_task,
    terminate_task,
)

__all__ = [
    "answer_question",
    "approve_safety_checks",
    "bootstrap_first_run",
    "cancel_task",
    "claim_task",
    "create_api_key",
    "create_credential",
    "create_organization",
    "create_task",
    "delete_credential",
    "delete_profile",
    "deny_safety_checks",
    "enqueue_task",
    "grant_admin_site_access",
    "finish_task",
    "pause_task",
    "record_event",
    "release_control",
    "replay_task",
    "request_approval",
    "request_input",
    "resolve_api_key",
    "resume_task",
    "retry_step",
    "retry_task",
    "revoke_api_key",
    "take_control",
    "terminate_task",
    "update_credential",
]
