"""App config for tasks_app."""

from django.apps import AppConfig


class TasksAppConfig(AppConfig):
    name = "tasks_app"
    verbose_name = "Lookout"
    default_auto_field = "django.db.models.BigAutoField"
