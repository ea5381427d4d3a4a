"""Key names as models write them ("CTRL", "ARROWLEFT", "Return", "cmd+shift+k") mapped to Playwright's.

Shared by the dom engine's keypress action and the cua engine's computer actions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Looked up after lower-casing and dropping "_", "-" and spaces, so "PAGE_UP", "Page_Up" and "pageup" agree.
_NAMES: dict[str, str] = {
    # modifiers
    "ctrl": "Control",
    "control": "Control",
    "lctrl": "Control",
    "rctrl": "Control",
    "controlleft": "Control",
    "controlright": "Control",
    "cmd": "Meta",
    "command": "Meta",
    "meta": "Meta",
    "super": "Meta",
    "win": "Meta",
    "windows": "Meta",
    "os": "Meta",
    "alt": "Alt",
    "option": "Alt",
    "opt": "Alt",
    "altleft": "Alt",
    "altright": "Alt",
    "shift": "Shift",
    "lshift": "Shift",
    "rshift": "Shift",
    "shiftleft": "Shift",
    "shiftright": "Shift",
    "controlormeta": "ControlOrMeta",
    # editing and whitespace
    "enter": "Enter",
    "return": "Enter",
    "kpenter": "Enter",
    "esc": "Escape",
    "escape": "Escape",
    "tab": "Tab",
    "space": "Space",
    "spacebar": "Space",
    "backspace": "Backspace",
    "delete": "Delete",
    "del": "Delete",
    "insert": "Insert",
    "ins": "Insert",
    "capslock": "CapsLock",
    "numlock": "NumLock",
    "scrolllock": "ScrollLock",
    "pause": "Pause",
    "printscreen": "PrintScreen",
    "contextmenu": "ContextMenu",
    "menu": "ContextMenu",
    # navigation
    "up": "ArrowUp",
    "down": "ArrowDown",
    "left": "ArrowLeft",
    "right": "ArrowRight",
    "arrowup": "ArrowUp",
    "arrowdown": "ArrowDown",
    "arrowleft": "ArrowLeft",
    "arrowright": "ArrowRight",
    "home": "Home",
    "end": "End",
    "pageup": "PageUp",
    "pgup": "PageUp",
    "pagedown": "PageDown",
    "pgdn": "PageDown",
    # characters models sometimes spell out
    "plus": "+",
    "minus": "-",
    "comma": ",",
    "period": ".",
    "slash": "/",
    "backslash": "\\",
    "semicolon": ";",
    "quote": "'",
    "apostrophe": "'",
    "backquote": "`",
    "grave": "`",
    "equal": "=",
    "equals": "=",
    "bracketleft": "[",
    "bracketright": "]",
}
_FUNCTION_KEY = re.compile(r"f([1-9]|1[0-9]|2[0-4])")
# Playwright names a key has to have already: KeyA, Digit1, Numpad0, ...
_PLAYWRIGHT_CODE = re.compile(r"(Key[A-Z]|Digit[0-9]|Numpad[0-9]|Numpad\w+)")


class UnknownKeyError(ValueError):
    """A key name neither this table nor Playwright knows."""


def playwright_key(name: str) -> str:
    """Playwright's name for one key: "CTRL" → "Control", "ARROWLEFT" → "ArrowLeft", "A" → "a", "f5" → "F5".

    Single characters pass through (letters lower-cased: with a modifier held, "A" means the A key, and
    "Control+A" would also press Shift in Playwright). Raises UnknownKeyError for a name it cannot place.
    """
    if len(name) == 1:
        return name.lower() if name.isalpha() else name
    stripped = name.strip()
    if not stripped:
        raise UnknownKeyError(f"empty key name {name!r}")
    if len(stripped) == 1:
        return playwright_key(stripped)
    folded = re.sub(r"[\s_-]", "", stripped.lower())
    if folded in _NAMES:
        return _NAMES[folded]
    if _FUNCTION_KEY.fullmatch(folded):
        return folded.upper()
    if _PLAYWRIGHT_CODE.fullmatch(stripped):
        return stripped
    raise UnknownKeyError(f"unknown key {name!r}")


def key_combo(keys: Sequence[str]) -> str:
    """One Playwright `keyboard.press` string for keys held together: ["CTRL", "A"] → "Control+a".

    A single entry may itself be a combo ("ctrl+shift+k"). Raises UnknownKeyError (naming the key) for a
    name that is not a key, e.g. a word the model meant to type.
    """
    names: list[str] = []
    for key in keys:
        parts = key.split("+") if "+" in key.strip("+") else [key]
        names.extend(playwright_key(part) for part in parts)
    if not names:
        raise UnknownKeyError("no keys given")
    return "+".join(names)
