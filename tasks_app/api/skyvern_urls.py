"""Routes under /v1/: the run endpoints of Skyvern's Python client (paths without a trailing slash, as it calls them)."""

from django.urls import path

from tasks_app.api import skyvern

app_name = "skyvern"

urlpatterns = [
    path("run/tasks", skyvern.RunTaskApi.as_view(), name="run-task"),
    path("runs", skyvern.RunsApi.as_view(), name="runs"),
    path("runs/<uuid:run_id>", skyvern.RunDetailApi.as_view(), name="run"),
    path("runs/<uuid:run_id>/cancel", skyvern.RunCancelApi.as_view(), name="run-cancel"),
    path("runs/<uuid:run_id>/artifacts", skyvern.RunArtifactsApi.as_view(), name="run-artifacts"),
]
