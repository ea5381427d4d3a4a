"""Filters the dashboard templates share: durations, status labels, pretty JSON, file sizes."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import template

register = template.Library()


def format_duration(seconds: float | None) -> str:
    """1.2 s, 42 s, 3 min 05 s, 1 h 02 min; an em dash for unknown."""
    if seconds is None:
        return "—"
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def duration(value: Any) -> str:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    return format_duration(value)


@register.filter
def status_label(value: str) -> str:
    return str(value or "").replace("_", " ")


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


@register.filter
def money(value: Any) -> str:
    """A cost in dollars: $0.0123, or $0 when nothing was spent."""
    amount = Decimal(str(value or 0))
    if not amount:
        return "$0"
    return f"${amount:.4f}" if amount < 1 else f"${amount:.2f}"
