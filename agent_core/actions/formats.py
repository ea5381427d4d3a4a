"""Dates and times as the browser's date, time, month, week and datetime-local inputs take them, from the
forms models write ("8:22 AM", "September 10, 2012", "10/09/2012"), refusing what is ambiguous.

Pure functions: the page's hint about the order of day and month (a placeholder "MM/DD/YYYY", a label, the
page's locale) is read by the caller and passed in as `order`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

__all__ = ["FORMATS", "DateOrder", "FormatRefused", "normalise_value", "order_from_pattern"]

DateOrder = Literal["MDY", "DMY"]

# What each input type takes, as the prompt and the errors name it.
FORMATS: dict[str, str] = {
    "date": "YYYY-MM-DD",
    "time": "HH:MM (24-hour)",
    "month": "YYYY-MM",
    "week": "YYYY-Www",
    "datetime-local": "YYYY-MM-DDTHH:MM",
}
_EXAMPLES = {
    "date": "2024-03-31",
    "time": "08:22 or 20:22",
    "month": "2024-03",
    "week": "2024-W13",
    "datetime-local": "2024-03-31T20:22",
}

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_WEEKDAY = re.compile(r"^(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?\s+", re.IGNORECASE)
_ORDINAL = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE)
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_NUMERIC = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{2}|\d{4})$")
_NAME_FIRST = re.compile(r"^([a-z]+)\.?\s+(\d{1,2}),?\s+(\d{4})$", re.IGNORECASE)
_DAY_FIRST = re.compile(r"^(\d{1,2})[\s\-/]+([a-z]+)\.?,?[\s\-/]+(\d{4})$", re.IGNORECASE)
_TIME = re.compile(
    r"^(\d{1,2})(?:[:.h](\d{2}))?(?::(\d{2})(?:\.(\d{1,3}))?)?\s*(?:([ap])\.?\s*m\.?)?$", re.IGNORECASE
)
_TIME_AT_END = re.compile(
    r"^(?P<date>.+?)(?:T|\s+at\s+|,\s*|\s+)(?P<time>\d{1,2}(?:[:.]\d{2}){0,2}(?:\.\d{1,3})?\s*(?:[ap]\.?\s*m\.?)?)$",
    re.IGNORECASE,
)
_MONTH_NUMERIC = re.compile(r"^(?:(\d{4})[-/.](\d{1,2})|(\d{1,2})[-/.](\d{4}))$")
_MONTH_NAMED = re.compile(r"^([a-z]+)\.?,?\s+(\d{4})$", re.IGNORECASE)
_WEEK = re.compile(
    r"^(?:(\d{4})\s*-?\s*w(?:eek)?\s*(\d{1,2})|w(?:eek)?\s*(\d{1,2}),?\s*(?:of\s+)?(\d{4}))$", re.IGNORECASE
)
# A pattern a page writes for its dates: "MM/DD/YYYY", "dd.mm.yyyy", "jj/mm/aaaa", "TT.MM.JJJJ".
_PATTERN = re.compile(r"\b([dmjt]{1,2})\s*[/.\-]\s*([dmjt]{1,2})\s*[/.\-]\s*(?:y{2,4}|a{2,4}|j{2,4})\b", re.IGNORECASE)


class FormatRefused(ValueError):
    """The text is not a value the field can take, or could mean two; the message names the expected format."""


def order_from_pattern(text: str) -> DateOrder | None:
    """The order of day and month in a date pattern somewhere in `text` ("Birthday (MM/DD/YYYY)" -> "MDY")."""
    for first, second in _PATTERN.findall(text):
        first, second = first.lower()[0], second.lower()[0]
        if first == "m" and second in ("d", "j", "t"):
            return "MDY"
        if first in ("d", "j", "t") and second == "m":
            return "DMY"
    return None


def normalise_value(input_type: str, text: str, *, order: DateOrder | None = None) -> str:
    """`text` as an input of `input_type` takes it: "8:22 AM" -> "08:22" for a time, "September 10, 2012"
    -> "2012-09-10" for a date. `order` says how the page writes numeric dates; without it "09/10/2012" is
    ambiguous and refused. Raises FormatRefused with a message fit for the model. An empty text stays empty
    (it clears the field)."""
    cleaned = " ".join(text.split())
    if not cleaned:
        return ""
    if input_type == "date":
        return _date(cleaned, order, input_type).isoformat()
    if input_type == "time":
        return _time(cleaned, input_type)
    if input_type == "month":
        return _month(cleaned, order)
    if input_type == "week":
        return _week(cleaned, order)
    if input_type == "datetime-local":
        return _datetime(cleaned, order)
    return text


def _refuse(text: str, input_type: str, why: str, *, example: str = "") -> FormatRefused:
    example = example or f"e.g. {_EXAMPLES[input_type]}"
    return FormatRefused(f"{why}; this field takes {FORMATS[input_type]}: {example}")


def _date(text: str, order: DateOrder | None, input_type: str) -> date:
    cleaned = _ORDINAL.sub(r"\1", _WEEKDAY.sub("", text.strip())).strip().rstrip(".")
    iso = _ISO.match(cleaned)
    if iso:
        return _make(text, input_type, int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    named = _NAME_FIRST.match(cleaned)
    if named and named.group(1).lower() in _MONTHS:
        return _make(text, input_type, int(named.group(3)), _MONTHS[named.group(1).lower()], int(named.group(2)))
    named = _DAY_FIRST.match(cleaned)
    if named and named.group(2).lower() in _MONTHS:
        return _make(text, input_type, int(named.group(3)), _MONTHS[named.group(2).lower()], int(named.group(1)))
    numeric = _NUMERIC.match(cleaned)
    if not numeric:
        raise _refuse(text, input_type, f"{text!r} is not a date this field can read")
    first, separator, second, year = numeric.groups()
    if len(year) == 2:
        raise _refuse(text, input_type, f"{text!r} has a two-digit year")
    a, b, y = int(first), int(second), int(year)
    if a > 12 >= b:
        return _make(text, input_type, y, b, a)
    if b > 12 >= a:
        return _make(text, input_type, y, a, b)
    if a == b or order == "MDY":
        return _make(text, input_type, y, a, b)
    if order == "DMY" or separator == ".":  # day.month.year is how dotted dates are written everywhere
        return _make(text, input_type, y, b, a)
    month_first, day_first = _make(text, input_type, y, a, b), _make(text, input_type, y, b, a)
    raise _refuse(
        text,
        input_type,
        f"{text!r} is ambiguous ({month_first:%B} {month_first.day}, {y} or {day_first.day} {day_first:%B} {y}; "
        "the page does not say which order it uses)",
        example=f"write {month_first.isoformat()} or {day_first.isoformat()}",
    )


def _make(text: str, input_type: str, year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _refuse(text, input_type, f"{text!r} is not a real date") from None


def _time(text: str, input_type: str) -> str:
    lowered = text.strip().lower()
    if lowered in ("noon", "midday", "12 noon"):
        return "12:00"
    if lowered == "midnight":
        return "00:00"
    match = _TIME.match(text.strip())
    if not match:
        raise _refuse(text, input_type, f"{text!r} is not a time this field can read")
    hour, minute, second, fraction = int(match.group(1)), int(match.group(2) or 0), match.group(3), match.group(4)
    half = (match.group(5) or "").lower()
    if not half and match.group(2) is None:
        raise _refuse(text, input_type, f"{text!r} is not a time this field can read (hours and minutes?)")
    if half:
        if not 1 <= hour <= 12:
            raise _refuse(text, input_type, f"{text!r} is not a time: {hour} o'clock with {half}m")
        hour = hour % 12 + (12 if half == "p" else 0)
    if hour > 23 or minute > 59 or (second is not None and int(second) > 59):
        raise _refuse(text, input_type, f"{text!r} is not a time")
    value = f"{hour:02d}:{minute:02d}"
    if (second and int(second)) or (fraction and int(fraction)):
        value += f":{int(second or 0):02d}"
        if fraction and int(fraction):
            value += "." + fraction.ljust(3, "0")
    return value


def _month(text: str, order: DateOrder | None) -> str:
    cleaned = text.strip().rstrip(".")
    numeric = _MONTH_NUMERIC.match(cleaned)
    if numeric:
        year, month = (numeric.group(1), numeric.group(2)) if numeric.group(1) else (numeric.group(4), numeric.group(3))
        if 1 <= int(month) <= 12:
            return f"{int(year):04d}-{int(month):02d}"
        raise _refuse(text, "month", f"{text!r} is not a month")
    named = _MONTH_NAMED.match(cleaned)
    if named and named.group(1).lower() in _MONTHS:
        return f"{int(named.group(2)):04d}-{_MONTHS[named.group(1).lower()]:02d}"
    day = _date_for(cleaned, text, order, "month")
    return f"{day.year:04d}-{day.month:02d}"


def _date_for(cleaned: str, text: str, order: DateOrder | None, kind: str) -> date:
    """The day a month or week field was given as a date; an ambiguous date stays refused as such."""
    try:
        return _date(cleaned, order, kind)
    except FormatRefused as exc:
        if "ambiguous" in str(exc):
            raise
        raise _refuse(text, kind, f"{text!r} is not a {kind} this field can read") from None


def _week(text: str, order: DateOrder | None) -> str:
    match = _WEEK.match(text.strip())
    if match:
        year, week = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
        try:
            date.fromisocalendar(int(year), int(week), 1)
        except ValueError:
            raise _refuse(text, "week", f"{year} has no week {int(week)}") from None
        return f"{int(year):04d}-W{int(week):02d}"
    day = _date_for(text, text, order, "week")
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def _datetime(text: str, order: DateOrder | None) -> str:
    match = _TIME_AT_END.match(text)
    if not match:
        raise _refuse(text, "datetime-local", f"{text!r} is not a date and time this field can read")
    try:
        day = _date(match.group("date").strip().rstrip(","), order, "datetime-local")
        time = _time(match.group("time"), "datetime-local")
    except FormatRefused as exc:
        if "ambiguous" in str(exc):
            raise
        raise _refuse(text, "datetime-local", f"{text!r} is not a date and time this field can read") from None
    return f"{day.isoformat()}T{time}"
