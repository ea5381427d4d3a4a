"""Reads, by entity: every query the pages, the API, the websockets and the run pipeline make. Each
function is scoped to an organization or to a task the caller already resolved through `tasks_app.access`."""
