"""The one exception type a user can cause while configuring or generating data."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad configuration or request. The message names the field (or file) at fault.

    The CLI prints the message alone (no traceback) and exits with status 2.
    """

    def __init__(self, field: str | None, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)
