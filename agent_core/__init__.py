"""Lookout's browser agent, framework-free: browser, DOM scraper, actions, LLM clients, engines, run loop."""
