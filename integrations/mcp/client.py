"""One MCP server over Streamable HTTP, through the official SDK's `mcp.Client`: list its tools, call one for a user.

- Both protocol eras: the first connection probes (`mode="auto"`: `server/discover`, else `initialize`); later
  ones reuse what it found (a 2026-07-28 server's discover result is adopted, so a call is one HTTP request).
- Connections: one SDK client per (server, token), kept open for reuse (a few per server, the least recently
  used closed): a user's token is never sent on another user's connection, and repeated calls skip the set-up
  (a fresh client per call cost ~6x a kept one here).
- `tools/list`: every page, kept for the listing's `ttlMs` (2026-07-28) or `default_ttl`; a
  `notifications/tools/list_changed` seen on any connection makes it stale at once.
- A call returns the structured content (unwrapped when the server wrapped a non-object result as
  `{"result": ...}`), else the text content joined; `isError` becomes a ToolError with the server's text;
  a server that does not answer in `timeout` seconds, or is down, a ToolError naming it.
- Mid-call input: the call is made with the answers the thread already has for it; a request for more
  becomes `InputRequired` carrying the questions (the host asks the person, then the call is made again).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import CONNECTION_CLOSED, REQUEST_TIMEOUT
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from integrations.bearer_auth import BearerAuth
from integrations.errors import ToolError
from integrations.mcp.credentials import McpCredentials, token_for
from integrations.mcp.input_required import CONFIRM_KEY, InputQuestion, InputRequired, question_for

_log = logging.getLogger(__name__)

AuthKind = Literal["none", "bearer", "oauth"]
DEFAULT_TOOLS_TTL = 300.0         # seconds a listing is kept when the server gives no ttlMs
MAX_PAGES = 100                   # a paginator that never ends cannot hang a listing
CONNECTIONS_PER_SERVER = 8     # kept connections (one per token) per server


@dataclass(frozen=True)
class McpServerConfig:
    """A registered MCP server: its name (the prefix of its functions), URL, how calls authenticate, and whether
    its tool annotations (readOnlyHint, destructiveHint) are believed."""

    name: str
    url: str
    auth: AuthKind = "none"
    trusted: bool = False


@dataclass
class ToolsListing:
    """A server's tools and until when they are fresh (time.monotonic seconds)."""

    tools: list[types.Tool]
    fresh_until: float


class McpClient:
    """Calls one MCP server for users; see the module docstring."""

    def __init__(self, server: McpServerConfig, credentials: McpCredentials | None = None, *,
                 timeout: float = 30.0, default_ttl: float = DEFAULT_TOOLS_TTL, mode: str = "auto",
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`mode`: "auto" finds out which protocol era the server speaks; "legacy" insists on 2025-11-25."""
        self.server = server
        self.credentials = credentials
        self.timeout = timeout
        self.default_ttl = default_ttl
        self._clock = clock
        self._connections: OrderedDict[str, _Connection] = OrderedDict()
        self._connecting = asyncio.Lock()
        self._mode: str = mode
        self._discover: types.DiscoverResult | None = None
        self._listing: ToolsListing | None = None
        self._listing_lock = asyncio.Lock()

    @property
    def protocol_version(self) -> str | None:
        """The protocol revision the server speaks, once a connection found out."""
        return None if self._mode == "auto" else ("2025-11-25 or older" if self._mode == "legacy" else self._mode)

    # ------------------------------------------------------------------------------------------- tools

    def listing_is_fresh(self) -> bool:
        return self._listing is not None and self._clock() < self._listing.fresh_until

    async def list_tools(self, user_key: str | None = None, *, refresh: bool = False) -> list[types.Tool]:
        """Every tool of the server (all pages), from the kept listing while it is fresh."""
        async with self._listing_lock:
            if not refresh and self.listing_is_fresh():
                assert self._listing is not None
                return self._listing.tools
            token = await token_for(self.credentials, self.server.auth, user_key or "", self.server.name)
            tools: list[types.Tool] = []
            ttl_ms: int | None = None

            async def walk(client: Client) -> None:
                nonlocal ttl_ms
                cursor = None
                for _ in range(MAX_PAGES):
                    page = await client.list_tools(cursor=cursor, cache_mode="bypass")
                    tools.extend(page.tools)
                    ttl_ms = getattr(page, "ttl_ms", None) if ttl_ms is None else ttl_ms
                    cursor = page.next_cursor
                    if cursor is None:
                        return

            await self._with_client(token, walk, what="list its tools", user_key=user_key or "")
            # A 2026-07-28 server may say how long its listing holds; 0 is what servers send when they say nothing
            # (the SDK's default), and older servers cannot say: then the listing is kept for `default_ttl`.
            ttl = ttl_ms / 1000 if ttl_ms and self._mode in MODERN_PROTOCOL_VERSIONS else self.default_ttl
            self._listing = ToolsListing(tools, self._clock() + ttl)
            return tools

    def mark_stale(self) -> None:
        """Forget the kept listing (the server said its tools changed)."""
        if self._listing is not None:
            self._listing.fresh_until = 0.0

    # -------------------------------------------------------------------------------------------- calls

    async def call(self, function: str, tool: str, arguments: dict[str, Any], *, user_key: str,
                   call_key: str, answer: dict[str, Any] | None, wrapped_result: bool) -> Any:
        """Call `tool` for `user_key` with that user's token; `answer` holds the person's responses to this
        call's earlier questions (`{"responses": {key: result}, "request_state": ...}`)."""
        token = await token_for(self.credentials, self.server.auth, user_key, self.server.name)
        responses = {k: v for k, v in ((answer or {}).get("responses") or {}).items() if k != CONFIRM_KEY}
        asked: list[InputQuestion] = []

        async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult | types.ErrorData:
            # A 2025-11-25 server asks in the middle of the call: answer from the thread, or note the question.
            key = _legacy_key(params)
            if key in responses:
                return types.ElicitResult.model_validate(responses[key])
            asked.append(_question(key, params))
            return types.ElicitResult(action="cancel")

        async def send(client: Client) -> types.CallToolResult | types.InputRequiredResult:
            modern = client.protocol_version in MODERN_PROTOCOL_VERSIONS
            seeded = {k: types.ElicitResult.model_validate(v) for k, v in responses.items()} if modern else None
            return await client.session.call_tool(
                tool, arguments, input_responses=seeded or None,
                request_state=(answer or {}).get("request_state") if modern else None, allow_input_required=True)

        result = await self._with_client(token, send, what=f"run {tool}", elicitation=elicit, user_key=user_key)
        if isinstance(result, types.InputRequiredResult):
            questions = [_question(key, request.params) for key, request in (result.input_requests or {}).items()
                         if isinstance(request, types.ElicitRequest)]
            if not questions:
                raise ToolError(f"{function}: the {self.server.name} server asked for input CodeMem cannot give "
                                "(sampling or roots); this tool cannot be used here")
            raise self._input_required(function, call_key, questions, result.request_state)
        if asked:
            raise self._input_required(function, call_key, asked, None)
        return _call_result(function, self.server.name, result, wrapped_result)

    def _input_required(self, function: str, call_key: str, questions: list[InputQuestion],
                        request_state: str | None) -> InputRequired:
        quoted = " / ".join(f'"{q.message}"' for q in questions)
        return InputRequired(f"{function}: the {self.server.name} server needs an answer from the person: {quoted}",
                             function=function, server=self.server.name, call_key=call_key, questions=questions,
                             request_state=request_state)

    # ---------------------------------------------------------------------------------------- plumbing

    async def _with_client(self, token: str | None, use: Callable[[Client], Any], *, what: str, user_key: str,
                           elicitation: Any = None) -> Any:
        """Run `use(client)` on the kept connection for `token` within `timeout`; failures become ToolErrors
        naming the server (and the connection is dropped, so the next call reconnects)."""
        key = hashlib.sha256((token or "").encode()).hexdigest()
        try:
            async with asyncio.timeout(self.timeout):
                connection = await self._connection(key, token, user_key)
                async with connection.calling(elicitation):
                    return await use(connection.client)
        except ToolError:
            raise
        except Exception as error:   # a timeout, a refusal, or the server's side: connection, HTTP status, stream
            cause = root_cause(error)
            if isinstance(cause, MCPError) and cause.code not in (CONNECTION_CLOSED, REQUEST_TIMEOUT):   # it answered
                raise ToolError(f"the MCP server {self.server.name} refused to {what}: {cause}") from None
            await self._drop(key)
            if isinstance(cause, TimeoutError):
                raise ToolError(f"the MCP server {self.server.name} did not answer within {self.timeout:g} s "
                                f"(trying to {what}); try again later") from None
            raise ToolError(f"could not reach the MCP server {self.server.name} to {what} "
                            f"({type(cause).__name__}: {cause}); try again later") from None

    async def _connection(self, key: str, token: str | None, user_key: str) -> _Connection:
        async with self._connecting:
            connection = self._connections.get(key)
            if connection is None or not connection.alive:
                auth = self._refreshing_auth(token, user_key)
                headers = {"Authorization": f"Bearer {token}"} if token and auth is None else {}
                http = httpx2.AsyncClient(headers=headers, auth=auth, timeout=httpx2.Timeout(self.timeout),
                                          trust_env=False)
                transport = streamable_http_client(self.server.url, http_client=http)
                connection = _Connection(Client(transport, mode=self._mode, prior_discover=self._discover,
                                                cache=None, read_timeout_seconds=self.timeout,
                                                message_handler=self._on_message), http)
                await connection.open()
                self._learn(connection.client)
                self._connections[key] = connection
                while len(self._connections) > CONNECTIONS_PER_SERVER:
                    _, old = self._connections.popitem(last=False)
                    await old.close()
            self._connections.move_to_end(key)
            return connection

    def _refreshing_auth(self, token: str | None, user_key: str) -> BearerAuth | None:
        """On an OAuth server: the user's token, and after a 401 (the server may end a token early) one fresh
        token from the user's token source and the request sent again. None elsewhere (a fixed header)."""
        refreshed = getattr(self.credentials, "refreshed", None)
        if token is None or self.server.auth != "oauth" or refreshed is None:
            return None
        current = token

        async def now() -> str:
            return current

        async def renewed() -> str:
            nonlocal current
            current = await refreshed(user_key, self.server.name) or current
            return current

        return BearerAuth(now, renewed)

    async def _drop(self, key: str) -> None:
        connection = self._connections.pop(key, None)
        if connection is not None:
            await connection.close()

    def _learn(self, client: Client) -> None:
        """Keep what the first connection negotiated, so later ones skip the probe."""
        if self._mode != "auto":
            return
        if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
            self._mode, self._discover = client.protocol_version, client.session.discover_result
        else:
            self._mode = "legacy"

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self.mark_stale()

    async def aclose(self) -> None:
        """Close the kept connections."""
        connections, self._connections = list(self._connections.values()), OrderedDict()
        await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)


class _Connection:
    """An entered SDK client, kept open by a task of its own (anyio scopes must be left by the task that entered
    them). A 2025-11-25 server asks its questions on the connection, not the call: its calls take turns, each
    with its own elicitation handler; a 2026-07-28 server's calls run side by side."""

    def __init__(self, client: Client, http: httpx2.AsyncClient) -> None:
        self.client = client
        self._http = http
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._turn = asyncio.Lock()
        self._elicitation: Any = None
        self.alive = False
        client.elicitation_callback = self._elicit

    async def open(self) -> None:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def keep() -> None:
            try:
                async with self.client:
                    self.alive = True
                    ready.set_result(None)
                    await self._stop.wait()
            except BaseException as error:
                if not ready.done():
                    ready.set_exception(error)
            finally:
                self.alive = False
                await self._http.aclose()

        self._task = asyncio.get_running_loop().create_task(keep())
        await ready

    @contextlib.asynccontextmanager
    async def calling(self, elicitation: Any) -> AsyncIterator[None]:
        if self.client.protocol_version in MODERN_PROTOCOL_VERSIONS:
            yield
            return
        async with self._turn:
            self._elicitation = elicitation
            try:
                yield
            finally:
                self._elicitation = None

    async def _elicit(self, context: Any, params: Any) -> Any:
        if self._elicitation is None:
            return types.ElicitResult(action="decline")
        return await self._elicitation(context, params)

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(BaseException):
                await self._task


def _call_result(function: str, server: str, result: types.CallToolResult, wrapped: bool) -> Any:
    text = "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))
    if result.is_error:
        raise ToolError(f"{function}: the {server} server says: {text or 'the call failed (no message)'}")
    structured = result.structured_content
    if structured is not None:
        return structured["result"] if wrapped and isinstance(structured, dict) and "result" in structured \
            else structured
    return text


def _legacy_key(params: types.ElicitRequestParams) -> str:
    return "elicitation:" + hashlib.sha256(params.message.encode()).hexdigest()[:16]


def _question(key: str, params: Any) -> InputQuestion:
    if isinstance(params, types.ElicitRequestURLParams):
        return question_for(key, params.message, None, url=params.url)
    return question_for(key, params.message, getattr(params, "requested_schema", None))


def root_cause(error: BaseException) -> BaseException:
    """The first error inside (nested) exception groups: the SDK's transport runs in a task group."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error
