"""The one exception type that library code raises and the CLI reports."""

from __future__ import annotations


class PipmodelsError(Exception):
    """Something the user can act on.

    ``message`` says what happened; ``hint`` says what to do about it. Neither may hold a
    credential: build them from redacted values only.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class Interrupted(PipmodelsError):
    """The user pressed Ctrl-C; the CLI exits 130."""

    def __init__(self) -> None:
        super().__init__("Interrupted; the cache and requirements files were left as they were.")
