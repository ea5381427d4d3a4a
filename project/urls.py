"""URL map: dashboard, auth, admin, REST API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from tasks_app.views import artifacts, base

urlpatterns = [
    path("", base.home, name="home"),
    path("org/switch/", base.switch_organization, name="switch-org"),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tasks/<uuid:task_id>/artifacts/<int:artifact_id>/file", artifacts.artifact_file, name="artifact-file"),
    path("tasks/<uuid:task_id>/artifacts/<int:artifact_id>/thumb", artifacts.artifact_thumbnail, name="artifact-thumbnail"),
    path("admin/", admin.site.urls),
]
