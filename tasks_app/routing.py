"""Websocket URL routes."""

from django.urls import path

from tasks_app import consumers

websocket_urlpatterns = [
    path("ws/tasks/<uuid:task_id>/", consumers.TimelineConsumer.as_asgi()),  # type: ignore[arg-type]  # channels routes ASGI apps
    path("ws/tasks/<uuid:task_id>/frames/", consumers.FramesConsumer.as_asgi()),  # type: ignore[arg-type]
]
