"""Execution: the one home of a run, in the order a run goes through it.

- `dispatch`: how a queued task reaches an executor (registered as the services' dispatcher at start-up).
- `jobs`: the Celery jobs (execute a task, deliver a webhook, sweep lost runs).
- `inprocess`: the embedded runner, executing on the ASGI server's own event loop.
- `browser`: the worker's browser: one long-lived loop and one Chromium per process, closed at shutdown.
- `execute`: `execute_task`, the coroutine every runner calls: claim, run the agent, record the ending.
- `config`: agent_core's configuration, built from settings and the task.
- `hooks`: what the agent reports (steps, actions, screenshots, model replies, frames) written through services.
- `control`: operator decisions (pause, resume, terminate, retry step, approvals) read back into the run.

Only this package touches both agent_core and the database; it writes only through `tasks_app.services`.
"""
