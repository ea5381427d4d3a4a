"""Model prices (USD per million tokens) for the cost shown on tasks and steps. Unknown models cost 0."""

from __future__ import annotations

from decimal import Decimal

from agent_core.types import Usage

# (input, cached input, output) per 1M tokens
PRICES: dict[str, tuple[Decimal, Decimal, Decimal]] = {
    "gpt-4o": (Decimal("2.50"), Decimal("1.25"), Decimal("10.00")),
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.075"), Decimal("0.60")),
    "gpt-4.1": (Decimal("2.00"), Decimal("0.50"), Decimal("8.00")),
    "gpt-4.1-mini": (Decimal("0.40"), Decimal("0.10"), Decimal("1.60")),
    "computer-use-preview": (Decimal("3.00"), Decimal("3.00"), Decimal("12.00")),
}


def cost_of(usage: Usage) -> Decimal:
    model = usage.model or ""
    prices = PRICES.get(model) or next((p for name, p in PRICES.items() if model.startswith(name + "-")), None)
    if prices is None:
        return Decimal("0")
    fresh = max(0, usage.input_tokens - usage.cached_tokens)
    total = fresh * prices[0] + usage.cached_tokens * prices[1] + usage.output_tokens * prices[2]
    return (total / Decimal(1_000_000)).quantize(Decimal("0.000001"))
