"""Which model errors are worth retrying."""

from __future__ import annotations

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def is_transient(error: BaseException) -> bool:
    """True for timeouts, lost connections, rate limits and overloaded or failing servers: a retry may pass.
    Bad requests, authentication and our own bugs are not retried."""
    if isinstance(error, TimeoutError | ConnectionError):
        return True
    status = getattr(error, "status_code", None) or getattr(getattr(error, "response", None), "status_code", None)
    return status in RETRYABLE_STATUS
