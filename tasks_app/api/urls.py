"""Routes under /api/v1/: tasks and their controls, API keys, credentials and saved logins, the OpenAPI
schema and its docs page."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from tasks_app.api import credentials, keys, tasks
from tasks_app.security import csp_changes

app_name = "api"

urlpatterns = [
    path("tasks/", tasks.TasksApi.as_view(), name="tasks"),
    path("tasks/<uuid:task_id>/", tasks.TaskDetailApi.as_view(), name="task-detail"),
    path("tasks/<uuid:task_id>/steps/", tasks.TaskStepsApi.as_view(), name="task-steps"),
    path("tasks/<uuid:task_id>/actions/", tasks.TaskActionsApi.as_view(), name="task-actions"),
    path("tasks/<uuid:task_id>/artifacts/", tasks.TaskArtifactsApi.as_view(), name="task-artifacts"),
    path(
        "tasks/<uuid:task_id>/artifacts/<int:artifact_id>/content",
        tasks.ArtifactContentApi.as_view(),
        name="task-artifact-content",
    ),
    path("tasks/<uuid:task_id>/events/", tasks.TaskEventsApi.as_view(), name="task-events"),
    path("tasks/<uuid:task_id>/script/", tasks.TaskScriptApi.as_view(), name="task-script"),
    path("tasks/<uuid:task_id>/pause/", tasks.TaskPauseApi.as_view(), name="task-pause"),
    path("tasks/<uuid:task_id>/resume/", tasks.TaskResumeApi.as_view(), name="task-resume"),
    path("tasks/<uuid:task_id>/terminate/", tasks.TaskTerminateApi.as_view(), name="task-terminate"),
    path("tasks/<uuid:task_id>/cancel/", tasks.TaskCancelApi.as_view(), name="task-cancel"),
    path("tasks/<uuid:task_id>/retry/", tasks.TaskRetryApi.as_view(), name="task-retry"),
    path("tasks/<uuid:task_id>/retry-step/", tasks.TaskRetryStepApi.as_view(), name="task-retry-step"),
    path("tasks/<uuid:task_id>/approve/", tasks.TaskApproveApi.as_view(), name="task-approve"),
    path("tasks/<uuid:task_id>/deny/", tasks.TaskDenyApi.as_view(), name="task-deny"),
    path("tasks/<uuid:task_id>/take-control/", tasks.TaskTakeControlApi.as_view(), name="task-take-control"),
    path("tasks/<uuid:task_id>/release-control/", tasks.TaskReleaseControlApi.as_view(), name="task-release-control"),
    path("tasks/<uuid:task_id>/answer/", tasks.TaskAnswerApi.as_view(), name="task-answer"),
    path("keys/", keys.ApiKeysApi.as_view(), name="keys"),
    path("keys/<int:key_id>/revoke/", keys.ApiKeyRevokeApi.as_view(), name="key-revoke"),
    path("credentials/", credentials.CredentialsApi.as_view(), name="credentials"),
    path("credentials/<int:credential_id>/", credentials.CredentialDetailApi.as_view(), name="credential-detail"),
    path("profiles/", credentials.ProfilesApi.as_view(), name="profiles"),
    path("profiles/<int:profile_id>/", credentials.ProfileDetailApi.as_view(), name="profile-detail"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI's init script is served by the same view (?script=), so the page runs no inline script;
    # its page carries one inline <style>.
    path(
        "docs/",
        csp_changes(style_src=["'self'", "'unsafe-inline'"])(SpectacularSwaggerSplitView.as_view(url_name="api:schema")),
        name="docs",
    ),
]
