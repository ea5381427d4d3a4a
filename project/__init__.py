"""Lookout's Django project: settings, URLs, ASGI and Celery apps."""

from project.celery import app as celery_app

__all__ = ["celery_app"]
