"""The two engines: dom (chat model + element ids) and cua (OpenAI computer use)."""
