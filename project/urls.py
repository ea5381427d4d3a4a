"""URL map: dashboard, auth, admin, REST API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from tasks_app.views import base

urlpatterns = [
    path("", base.home, name="home"),
    path("org/switch/", base.switch_organization, name="switch-org"),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
