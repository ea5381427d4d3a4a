"""URL map: dashboard, auth, admin, REST API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from tasks_app.views import artifacts, base, credentials, recordings, tasks

urlpatterns = [
    path("", tasks.task_list, name="home"),
    path("tasks/", tasks.task_list, name="task-list"),
    path("tasks/status/", tasks.task_statuses, name="task-statuses"),
    path("tasks/new/", tasks.task_new, name="task-new"),
    path("tasks/<uuid:task_id>/", tasks.task_detail, name="task-detail"),
    path("tasks/<uuid:task_id>/summary/", tasks.task_summary, name="task-summary"),
    path("tasks/<uuid:task_id>/control/<slug:action>/", tasks.task_control, name="task-control"),
    path("tasks/<uuid:task_id>/answer/", tasks.task_answer, name="task-answer"),
    path("tasks/<uuid:task_id>/replay/", tasks.task_replay, name="task-replay"),
    path("tasks/<uuid:task_id>/script/", tasks.task_script, name="task-script"),
    path("tasks/<uuid:task_id>/artifacts/", tasks.task_artifacts, name="task-artifacts"),
    path("tasks/<uuid:task_id>/artifacts/<int:artifact_id>/", tasks.artifact_detail, name="artifact-view"),
    path("credentials/", credentials.credential_list, name="credential-list"),
    path("credentials/new/", credentials.credential_edit, name="credential-new"),
    path("credentials/<int:credential_id>/", credentials.credential_edit, name="credential-edit"),
    path("credentials/<int:credential_id>/delete/", credentials.credential_delete, name="credential-delete"),
    path("profiles/<int:profile_id>/delete/", credentials.profile_delete, name="profile-delete"),
    path("org/switch/", base.switch_organization, name="switch-org"),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tasks/<uuid:task_id>/artifacts/<int:artifact_id>/file", artifacts.artifact_file, name="artifact-file"),
    path("tasks/<uuid:task_id>/artifacts/<int:artifact_id>/thumb", artifacts.artifact_thumbnail, name="artifact-thumbnail"),
    path("tasks/<uuid:task_id>/recordings/", recordings.task_recordings, name="task-recordings"),
    path("tasks/<uuid:task_id>/artifacts/<int:artifact_id>/trace/", recordings.trace_open, name="trace-open"),
    path("trace-viewer/", recordings.trace_viewer, name="trace-viewer-index"),
    path("trace-viewer/<path:path>", recordings.trace_viewer, name="trace-viewer-file"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("tasks_app.api.urls")),
    path("v1/", include("tasks_app.api.skyvern_urls")),
]
