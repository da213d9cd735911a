"""The fast response path: requests built, authenticated and sent by msgraph-sdk (its middleware
included), responses parsed from bytes into lean pydantic models instead of the SDK's slow ones."""

from __future__ import annotations

from typing import TypeVar

from kiota_abstractions.request_information import RequestInformation
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from pydantic import BaseModel

from integrations.errors import ToolError

M = TypeVar("M", bound=BaseModel)

ERROR_MAP = {"XXX": ODataError}
"""How the SDK turns any failed status into an exception (an ODataError with Graph's code and message)."""

NOT_RETRIED = RetryHandlerOption(delay=0, max_retries=0, should_retry=False)
"""Per-request option that turns the SDK's retry middleware off (429/503/504 come back at once)."""


async def send(graph: GraphServiceClient, request: RequestInformation, *, retry_safe: bool = True) -> bytes | None:
    """Send `request` through the SDK's adapter and middleware; the response body (None for 204).

    `retry_safe=False` sends it exactly once: the retry middleware is turned off for this request, so a
    write whose outcome is unknown after a 503 or 504 is never repeated. Failures raise the SDK's APIError.
    """
    if not retry_safe:
        request.add_request_options([NOT_RETRIED])
    fix_url(graph, request)
    return await graph.request_adapter.send_primitive_async(request, "bytes", ERROR_MAP)


def fix_url(graph: GraphServiceClient, request: RequestInformation) -> str:
    """Expand the request's URI template once, with the adapter's base URL, and keep the result; returns it.

    The adapter reads the URL several times and each read expands the template again (slow for Graph's
    long ids). Setting the URL clears the parameter dicts, which the request shares with its builder,
    so the request gets copies first.
    """
    request.path_parameters = {**request.path_parameters, "baseurl": graph.request_adapter.base_url}
    request.query_parameters = dict(request.query_parameters)
    request.url = request.url
    return request.url


async def fetch(graph: GraphServiceClient, request: RequestInformation, model: type[M], *, retry_safe: bool = True) -> M:
    """Send `request` and parse its JSON body into `model` (pydantic-core, straight from bytes)."""
    body = await send(graph, request, retry_safe=retry_safe)
    if not body:
        raise ToolError(f"Microsoft Graph answered {request.http_method.value if request.http_method else ''} {request.url} "
                        "with no content where data was expected; try again, and report it if it persists")
    return model.model_validate_json(body)
