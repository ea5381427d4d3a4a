"""App config for tasks_app: registers the runner that services dispatch work to."""

from django.apps import AppConfig


class TasksAppConfig(AppConfig):
    name = "tasks_app"
    verbose_name = "Lookout"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tasks_app.runs.dispatch import RunDispatcher
        from tasks_app.services.dispatch import register_dispatcher

        register_dispatcher(RunDispatcher())
