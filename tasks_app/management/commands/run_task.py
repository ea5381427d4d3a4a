"""`manage.py run_task`: create one task, run it (in this process, or on Celery when configured), print
progress as events arrive, then the result. Exit status 0 only when the task completed. `--replay TASK_ID`
runs the script that task recorded (or replays) again, without the model, with `--payload` if given."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agent_core.browser import BrowserManager
from tasks_app import services
from tasks_app.errors import LookoutError
from tasks_app.models import Organization, Task, TaskEvent
from tasks_app.runs.config import browser_config
from tasks_app.runs.execute import execute_task
from tasks_app.selectors.events import events_after
from tasks_app.selectors.tasks import task_status


def describe(event: TaskEvent) -> str | None:
    """One progress line per timeline event (None for those not worth a line)."""
    d = event.data
    match event.type:
        case "task.status":
            extra = f": {d['failure_reason']}" if d.get("failure_reason") else ""
            return f"status {d['status']}{extra}"
        case "step.started":
            mode = {"replayed": " [replayed]", "model": f" [asked the model: {d.get('why') or 'no reason given'}]"}.get(
                d.get("mode", ""), ""
            )
            retry = f" (retry {d['retry_index']})" if d.get("retry_index") else ""
            return f"step {d['order']}{retry}{mode} at {d.get('url', '')}"
        case "step.finished":
            return None if d.get("success") else f"  step {d['order']} failed: {d.get('error')}"
        case "llm.response":
            parsed = d.get("parsed") or {}
            return f"  model: {str(parsed.get('thinking', ''))[:160]}" if parsed else None
        case "action.started":
            a = d.get("action", {})
            target = f" {a['element_id']}" if a.get("element_id") else ""
            return f"  -> {a.get('action_type')}{target}: {str(a.get('reasoning', ''))[:120]}"
        case "action.finished":
            if not d.get("success"):
                return f"     failed: {d.get('error')}"
            data = d.get("data")
            changes = data.get("changes") if isinstance(data, dict) else None
            # What the action changed on the page (the dom engine's change report), as the model reads it.
            return f"     page: {changes['summary']}" if isinstance(changes, dict) and changes.get("summary") else None
        case "approval.pending":
            checks = "; ".join(f"{c.get('code')}: {c.get('message')}" for c in d.get("checks", []))
            return f"safety check waiting for approval: {checks}"
        case "approval.resolved":
            return f"safety checks {'approved' if d.get('approved') else 'denied'} by {d.get('by')}"
        case "profile.saved":
            return f"saved login {d.get('profile')} {'created' if d.get('created') else 'updated'}"
        case "input.requested":
            return f"the agent asks: {d.get('question')}"
        case "input.answered":
            return f"  answered by {d.get('by')}" + (" (handled it themselves)" if d.get("handled") else f": {d.get('answer')}")
        case "control.taken":
            return f"control taken by {d.get('by')}"
        case "control.action":
            return f"  {d.get('by')} {d.get('text')}"
        case "control.released":
            return f"control released by {d.get('by')}"
        case "script.recorded":
            return f"script version {d.get('version')} {d.get('reason')} ({d.get('steps')} actions)"
        case "replay.finished":
            return (
                f"replay: {d.get('steps_replayed')} steps replayed, {d.get('steps_healed')} asked the model; "
                f"{d.get('model_calls')} model calls (recorded run: {d.get('model_calls_recorded')}), "
                f"{d.get('tokens_saved')} tokens saved"
            )
    return None


def summary(task: Task) -> dict[str, Any]:
    return {
        "id": str(task.pk),
        "status": task.status,
        "failure_reason": task.failure_reason or None,
        "extracted_information": task.extracted_information,
        "errors": task.errors,
        "steps": task.steps.count(),
        "usage": {"input_tokens": task.input_tokens, "output_tokens": task.output_tokens, "cost": str(task.cost)},
        "run_with": task.run_with,
        "script": {"id": task.script_id, "version": task.script.version} if task.script else None,
        "replay": task.replay,
        "duration_seconds": task.duration_seconds,
    }


class Command(BaseCommand):
    help = "Run one browser task from the shell with the model configured in the environment."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", help="start URL (required unless --replay)")
        parser.add_argument("--replay", metavar="TASK_ID",
                            help="run the script this task recorded (or replays) again without the model; the request "
                            "is that run's, with --payload as the new payload if given")
        parser.add_argument("--goal", default="", help="navigation goal")
        parser.add_argument("--title", default="")
        parser.add_argument("--payload", help="navigation payload as JSON")
        parser.add_argument("--extract", default="", help="data extraction goal")
        parser.add_argument("--schema", help="file holding the JSON Schema of the extracted information")
        parser.add_argument("--errors", help="error code mapping as JSON: {code: description}")
        parser.add_argument("--engine", choices=["dom", "cua"])
        parser.add_argument("--model", default="")
        parser.add_argument("--max-steps", type=int)
        parser.add_argument("--org", help="organization slug (default: the first)")
        parser.add_argument("--credential", action="append", default=[], metavar="NAME",
                            help="a credential of the organization the agent may log in with (repeatable)")
        parser.add_argument("--secret-key", action="append", default=[], metavar="KEY",
                            help="a --payload key whose value is secret (repeatable)")
        parser.add_argument("--profile", default="", help="saved login (browser profile) to start from")
        parser.add_argument("--save-profile", action="store_true", help="save the login as --profile when it completes")
        parser.add_argument("--webhook", default="", help="webhook URL notified of the final status")
        parser.add_argument("--approve-safety-checks", action="store_true")
        parser.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")

    def handle(self, *args: Any, **opts: Any) -> None:
        in_process = settings.LOOKOUT_RUNNER != "celery"
        try:
            if opts.get("replay"):
                task = self._replay(opts, dispatch=not in_process)
                org = task.organization
            else:
                if not opts.get("url"):
                    raise CommandError("give --url (the page the agent starts on), or --replay TASK_ID")
                request = self._request(opts)
                org = self._org(opts.get("org"))
                task = services.create_task(organization=org, start=True, dispatch=not in_process, **request)
        except LookoutError as exc:
            raise CommandError(f"invalid task: {exc.message}") from exc
        self.as_json = opts["json"]
        self.approve_all = opts["approve_safety_checks"]
        self.log(f"task {task.pk} created in {org.slug} ({'in this process' if in_process else 'queued to Celery'})")
        final = asyncio.run(self._run(task.pk, in_process))
        result = summary(final)
        if self.as_json:
            self.stdout.write(json.dumps(result, default=str))
        else:
            self.stdout.write(f"result: {final.status}" + (f" ({final.failure_reason})" if final.failure_reason else ""))
            if final.extracted_information is not None:
                self.stdout.write(json.dumps(final.extracted_information, indent=2, default=str))
        if final.status != Task.Status.COMPLETED:
            sys.exit(1)

    # Options that describe a new request, which a replay takes from the recorded run instead.
    REPLAY_REFUSES = ("url", "goal", "title", "extract", "schema", "errors", "credential", "profile", "save_profile", "webhook")

    def _replay(self, opts: dict[str, Any], *, dispatch: bool) -> Task:
        """A task replaying the script of --replay TASK_ID (its organization's; --org, if given, must match)."""
        given = [f"--{name.replace('_', '-')}" for name in self.REPLAY_REFUSES if opts.get(name)]
        if given:
            raise CommandError(f"--replay takes the request from the recorded run: leave out {', '.join(given)}")
        if opts.get("engine") not in (None, "dom"):
            raise CommandError("--replay runs on the dom engine only (the cua engine records no script)")
        try:
            source = Task.objects.select_related("organization", "script").get(pk=opts["replay"])
        except (Task.DoesNotExist, ValueError, DjangoValidationError) as exc:
            raise CommandError(f"--replay: no task {opts['replay']}") from exc
        if opts.get("org") and source.organization.slug != opts["org"]:
            raise CommandError(f"--replay: no task {opts['replay']} in organization {opts['org']!r}")
        changes: dict[str, Any] = {}
        if opts.get("payload") is not None:
            changes["navigation_payload"] = self._load("payload", opts["payload"])
        if opts.get("secret_key"):
            changes["secret_payload_keys"] = opts["secret_key"]
        if opts.get("model"):
            changes["model"] = opts["model"]
        if opts.get("max_steps"):
            changes["max_steps"] = opts["max_steps"]
        return services.replay_task(
            organization=source.organization, by=None, replay_of=source, dispatch=dispatch, **changes
        )

    @staticmethod
    def _load(name: str, text: str | None) -> Any:
        if text is None:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--{name} is not valid JSON: {exc}") from exc

    def log(self, line: str) -> None:
        (self.stderr if self.as_json else self.stdout).write(line)

    def _request(self, opts: dict[str, Any]) -> dict[str, Any]:
        load = self._load
        schema = None
        if opts.get("schema"):
            path = Path(opts["schema"])
            if not path.is_file():
                raise CommandError(f"--schema: no such file {path}")
            schema = load("schema", path.read_text())
        return {
            "url": opts["url"],
            "title": opts["title"],
            "navigation_goal": opts["goal"],
            "data_extraction_goal": opts["extract"],
            "navigation_payload": load("payload", opts.get("payload")),
            "extracted_information_schema": schema,
            "error_code_mapping": load("errors", opts.get("errors")),
            "engine": opts.get("engine") or "dom",
            "model": opts["model"],
            "max_steps": opts.get("max_steps"),
            "webhook_callback_url": opts["webhook"],
            "credentials": opts.get("credential") or [],
            "secret_payload_keys": opts.get("secret_key") or [],
            "profile": opts.get("profile") or "",
            "save_profile": bool(opts.get("save_profile")),
        }

    def _org(self, slug: str | None) -> Organization:
        qs = Organization.objects.order_by("id")
        org = qs.filter(slug=slug).first() if slug else qs.first()
        if org is None:
            if slug:
                raise CommandError(f"no organization with slug {slug!r}")
            org = services.create_organization(name="Default", slug="default")
        return org

    async def _run(self, task_id: Any, in_process: bool) -> Task:
        runner = None
        browser = None
        if in_process:
            browser = BrowserManager(browser_config())
            runner = asyncio.create_task(execute_task(task_id, browser=browser, worker="cli"))
        try:
            await self._follow(task_id, runner)
        finally:
            if runner is not None:
                await runner
            if browser is not None:
                await browser.close()
        return await Task.objects.aget(pk=task_id)

    async def _follow(self, task_id: Any, runner: asyncio.Task[Any] | None) -> None:
        after = 0
        asked: set[int] = set()
        while True:
            events = [e async for e in events_after(task_id=task_id, after=after)]
            for event in events:
                after = event.seq
                line = describe(event)
                if line:
                    self.log(line)
                if event.type == "approval.pending" and event.seq not in asked:
                    asked.add(event.seq)
                    await self._decide(task_id)
                if event.type == "input.requested" and event.seq not in asked:
                    asked.add(event.seq)
                    await self._answer(task_id, str(event.data.get("question") or ""))
            status = await sync_to_async(task_status)(task_id=task_id)
            if status in Task.FINAL_STATUSES and (runner is None or runner.done()) and not events:
                return
            await asyncio.sleep(0.2)

    async def _answer(self, task_id: Any, question: str) -> None:
        """The agent asks a person: on a terminal, the answer is read here (an empty line leaves it to the
        dashboard); otherwise the run waits for an answer there, at most LOOKOUT_INPUT_TIMEOUT."""
        if not sys.stdin.isatty():
            self.log("  waiting for an answer in the dashboard or through the API (POST /api/v1/tasks/<id>/answer/)")
            return
        answer = await asyncio.get_running_loop().run_in_executor(None, lambda: input(f"{question}\nYour answer: "))
        if not answer.strip():
            self.log("  no answer given here: answer in the dashboard")
            return
        task = await Task.objects.select_related("organization").aget(pk=task_id)
        try:
            await sync_to_async(services.answer_question)(task=task, by=None, answer=answer)
        except LookoutError as exc:
            self.log(f"  the answer was not taken: {exc.message}")

    async def _decide(self, task_id: Any) -> None:
        task = await Task.objects.select_related("organization").aget(pk=task_id)
        if self.approve_all:
            await sync_to_async(services.approve_safety_checks)(task=task, by=None)
            return
        if not sys.stdin.isatty():
            self.log("  waiting for an operator to approve or deny in the dashboard (or rerun with --approve-safety-checks)")
            return
        answer = await asyncio.get_running_loop().run_in_executor(None, lambda: input("Approve these safety checks? [y/N] "))
        service = services.approve_safety_checks if answer.strip().lower() in ("y", "yes") else services.deny_safety_checks
        await sync_to_async(service)(task=task, by=None)
