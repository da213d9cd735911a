"""The one error type that workspace tools raise."""

from __future__ import annotations


class ToolError(Exception):
    """A tool call failed; the message says what failed and what to try next, in one line.

    `status` and `code` carry the provider's HTTP status and error code when there was one.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
