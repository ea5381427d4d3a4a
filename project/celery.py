"""The Celery app: Redis broker from settings, jobs discovered in `tasks_app.runs.jobs`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings.base")

app = Celery("lookout")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["tasks_app.runs"], related_name="jobs")
