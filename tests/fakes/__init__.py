"""Fakes for agent_core's edges: an OpenAI-compatible HTTP server (`openai_server`)."""
