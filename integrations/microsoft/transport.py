"""The fast response path: requests built, authenticated and sent by msgraph-sdk (its middleware
included), responses parsed from bytes into lean pydantic models instead of the SDK's slow ones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import Enum
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import unquote
from uuid import UUID

from kiota_abstractions.request_information import RequestInformation
from kiota_http.middleware import UrlReplaceHandler
from kiota_http.middleware.options import RetryHandlerOption, UrlReplaceHandlerOption
from msgraph import GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.graph_request_adapter import options as graph_default_middleware_options
from pydantic import BaseModel
from uritemplate import URITemplate

from integrations.errors import ToolError

M = TypeVar("M", bound=BaseModel)

ERROR_MAP = {"XXX": ODataError}
"""How the SDK turns any failed status into an exception (an ODataError with Graph's code and message)."""

NOT_RETRIED = RetryHandlerOption(delay=0, max_retries=0, should_retry=False)
"""Per-request option that turns the SDK's retry middleware off (429/503/504 come back at once)."""

_ME_SEGMENT = graph_default_middleware_options[UrlReplaceHandlerOption.get_key()]
"""The SDK's rewrite of `/users/me-token-to-replace` (how `graph.me` builds its URLs) to `/me`."""
_ME_REWRITE = UrlReplaceHandler(_ME_SEGMENT)
_URL_ALREADY_REPLACED = UrlReplaceHandlerOption(enabled=False)
DOT_SEGMENTS = frozenset({".", ".."})
"""Path segments an HTTP client resolves (RFC 3986 5.2.4): as an id, `..` would address the parent resource."""


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

    The adapter reads the URL several times and each read expands the template again with std-uritemplate,
    which percent-encodes one character at a time (slow for Graph's long ids). The template is expanded
    here once with `uritemplate` (RFC 6570, the library google-api-python-client already uses), from the
    values the SDK would give it, and `/users/me-token-to-replace` becomes `/me` here, with the SDK's own
    rule, instead of in a middleware that parses the URL again. The request's parameter dicts, which it
    shares with its builder, are replaced rather than cleared (setting a URL clears them).

    Each id is one percent-encoded path segment; an id that is a dot segment is refused with a ToolError,
    since no encoding keeps an HTTP client from resolving it into the parent resource.
    """
    if request.request_options.get(_URL_ALREADY_REPLACED.get_key()) is _URL_ALREADY_REPLACED:
        return request.url  # expanded before (and perhaps extended since)
    raw_url = request.path_parameters.get(RequestInformation.RAW_URL_KEY)
    if not raw_url:
        _refuse_dot_segments(request.path_parameters)
    values = {**request.query_parameters, **request.path_parameters, "baseurl": graph.request_adapter.base_url}
    request.path_parameters, request.query_parameters = {}, {}
    if isinstance(raw_url, str) and raw_url:
        request.url = raw_url
    else:
        url = _template(request.url_template).expand({key: _template_value(value) for key, value in values.items()})
        request.url = _ME_REWRITE.replace_url_segment(url, _ME_SEGMENT)
    request.add_request_options([_URL_ALREADY_REPLACED])
    return request.url


def _refuse_dot_segments(path_parameters: dict[str, Any]) -> None:
    for name, value in path_parameters.items():
        if isinstance(value, str) and value in DOT_SEGMENTS:
            what = unquote(name).replace("-", " ")   # "message%2Did" -> "message id"
            raise ToolError(f"{what} {value!r} is not an id: '.' and '..' never are; use an id returned by a "
                            "list or search tool")


@lru_cache(maxsize=512)
def _template(url_template: str) -> URITemplate:
    return URITemplate(url_template)


def _template_value(value: Any) -> Any:
    """A parameter value as the SDK's expansion renders it: enums by value, booleans in lower case, numbers
    and dates as text, enum lists joined by commas (`uritemplate` alone would drop a 0 and write `True`)."""
    if isinstance(value, (list, tuple, set)):
        if value and all(isinstance(item, Enum) for item in value):
            return ",".join(str(item.value) for item in value)
        return [_template_value(item) for item in value]
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat("T")
    if isinstance(value, (int, float, UUID, date, time)):
        return str(value)
    return value


async def fetch(graph: GraphServiceClient, request: RequestInformation, model: type[M], *, retry_safe: bool = True) -> M:
    """Send `request` and parse its JSON body into `model` (pydantic-core, straight from bytes)."""
    body = await send(graph, request, retry_safe=retry_safe)
    if not body:
        raise ToolError(f"Microsoft Graph answered {request.http_method.value if request.http_method else ''} {request.url} "
                        "with no content where data was expected; try again, and report it if it persists")
    return model.model_validate_json(body)
