"""The error the emulator answers with, in Microsoft Graph's error JSON shape."""

from __future__ import annotations


class GraphError(Exception):
    """An HTTP error that the emulator renders as `{"error": {"code": ..., "message": ...}}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def item_not_found() -> GraphError:
    """OneDrive's 404 for a missing drive item."""
    return GraphError(404, "itemNotFound", "The resource could not be found.")


def message_not_found() -> GraphError:
    """Outlook's 404 for a missing message or attachment."""
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
