"""The one exception type a user can cause while configuring or generating data."""

from __future__ import annotations

#: The longest message a ConfigError carries; a longer one keeps its start and end (the middle is elided).
MAX_MESSAGE = 2000


class ConfigError(ValueError):
    """A bad configuration or request. The message names the field (or file) at fault.

    The CLI prints the message alone (no traceback) and exits with status 2. The message is kept to one line of at
    most :data:`MAX_MESSAGE` characters, whatever was put in it (a value from a hostile file included).
    """

    def __init__(self, field: str | None, message: str):
        self.field = field
        self.message = one_line(message)
        super().__init__(f"{field}: {self.message}" if field else self.message)


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line (line breaks become spaces), at most ``limit`` characters."""
    text = " ".join(str(text).split()) if "\n" in str(text) or "\r" in str(text) else str(text)
    if len(text) <= limit:
        return text
    keep = limit - 48  # room for the note below
    head = keep * 3 // 4
    return f"{text[:head]} ... [{len(text) - keep} characters left out] ... {text[len(text) - (keep - head):]}"
