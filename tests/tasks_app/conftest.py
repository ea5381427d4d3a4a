"""Fixtures for tasks_app tests that execute tasks in this process: the fake model in settings, a browser."""

from __future__ import annotations

import pytest

from agent_core.browser import BrowserManager
from agent_core.types import BrowserConfig


@pytest.fixture
def model(settings, fake_openai):
    """The fake OpenAI server, configured as the model endpoint; script it with `model.script = ...`."""
    settings.OPENAI_API_KEY = "test"
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.LOOKOUT_LLM_TIMEOUT = 10
    settings.LOOKOUT_HEARTBEAT_SECONDS = 0.5
    return fake_openai


@pytest.fixture
async def browser():
    manager = BrowserManager(BrowserConfig())
    await manager.start()
    yield manager
    await manager.close()
