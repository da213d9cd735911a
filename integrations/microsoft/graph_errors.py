"""Turn msgraph-sdk and transport failures into one-line ToolErrors that say what to do next."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

import httpx
from kiota_abstractions.api_error import APIError
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from pydantic import ValidationError

from integrations.errors import ToolError

_HINTS_BY_STATUS: dict[int, str] = {
    400: "Graph rejected the request: check the arguments",
    401: "the Microsoft account is not connected or its sign-in expired: ask the user to run /connect microsoft",
    403: "the Microsoft connection lacks a permission this needs: ask the user to reconnect with /connect microsoft and accept the requested access",
    404: "it does not exist (any more): check the id or path",
    409: "an item with that name already exists: choose another name or conflict behaviour",
    413: "the content is too large for this request",
    429: "Microsoft Graph is throttling requests: wait a minute and try again",
    503: "Microsoft Graph is temporarily unavailable: wait a minute and try again",
    504: "Microsoft Graph timed out: wait a minute and try again",
}


def graph_error_details(error: APIError) -> tuple[int | None, str | None, str]:
    """(HTTP status, Graph error code, Graph error message) of an SDK error."""
    status = error.response_status_code
    if isinstance(error, ODataError) and error.error is not None:
        return status, error.error.code, error.error.message or ""
    return status, None, error.message or ""


def is_not_found(error: APIError) -> bool:
    return error.response_status_code == 404


@asynccontextmanager
async def graph_errors_as_tool_errors(action: str, hints: dict[int, str] | None = None) -> AsyncIterator[None]:
    """Re-raise Graph failures inside the block as ToolError("<action> failed: ...; <what to do>").

    `hints` overrides the advice for particular HTTP statuses.
    """
    try:
        yield
    except APIError as error:
        status, code, message = graph_error_details(error)
        hint = (hints or {}).get(status or 0) or _HINTS_BY_STATUS.get(status or 0, "try again later; if it keeps failing, report it")
        answered = " ".join(part for part in (str(status or "error"), code) if part)
        detail = " ".join(message.split()) or "no details"
        raise ToolError(f"{action} failed: Microsoft Graph answered {answered} ({detail}); {hint}", status=status, code=code) from error
    except ValidationError as error:
        raise ToolError(
            f"{action} failed: Microsoft Graph answered in an unexpected shape ({error.error_count()} problems, first: "
            f"{error.errors()[0]['msg']} at {'.'.join(map(str, error.errors()[0]['loc']))}); report this, retrying will not help"
        ) from error
    except httpx.HTTPError as error:
        raise ToolError(
            f"{action} failed: could not reach Microsoft Graph ({type(error).__name__}: {error}); check the network and try again"
        ) from error
