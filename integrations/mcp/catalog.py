"""MCP servers' tools in the tool registry, beside the native tools: `SERVER__tool` functions with typed
signatures (from the tools' JSON Schemas), effects from the tools' annotations when the server is trusted,
and calls that go to the server with the acting user's token.

Effects: an untrusted server's annotations are not believed, so each of its tools counts as a write (it needs
the thread's grant) and one that says `destructiveHint` as destructive; a trusted server's `readOnlyHint`
makes a read, `destructiveHint` a destructive tool, anything else a write.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import mcp_types as types

from integrations.context import current_context
from integrations.declaration import Effect
from integrations.errors import ToolError
from integrations.mcp.client import McpClient, McpServerConfig
from integrations.mcp.credentials import McpCredentials
from integrations.mcp.input_required import call_key
from integrations.mcp.naming import function_name
from integrations.mcp.placeholder import placeholder
from integrations.mcp.schema_types import tool_types, validate_arguments
from integrations.registry import DynamicTool, Registry

_log = logging.getLogger(__name__)
PROVIDER_PREFIX = "mcp:"
RETRY_LISTING_AFTER = 30.0   # seconds: searches do not wait on a server that just failed to answer


def provider_of(server: str) -> str:
    """The registry provider of a server's tools: `mcp:NAME`."""
    return PROVIDER_PREFIX + server


def effect_of(trusted: bool, annotations: types.ToolAnnotations | None) -> Effect:
    """What a tool is taken to do (see the module docstring)."""
    read_only = bool(annotations and annotations.read_only_hint)
    destructive = bool(annotations and annotations.destructive_hint)
    if destructive and not read_only:
        return "destructive"
    return "read" if trusted and read_only else "write"


def schema_digest(tool: types.Tool) -> str:
    """A digest of the tool's input schema: a skill keeps it, and a rerun fails when the server's changed."""
    text = json.dumps(tool.input_schema, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class McpFunction:
    """What the host knows of a registered MCP function: its server, the tool's wire name, its input schema."""

    function: str
    server: str
    tool: str
    digest: str
    input_schema: dict[str, Any]


class McpTools:
    """Keeps each registered server's tools in `registry` (refreshed when a listing goes stale) and calls them."""

    def __init__(self, registry: Registry, servers: Iterable[McpServerConfig],
                 credentials: dict[str, McpCredentials] | None = None, *, timeout: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`credentials`: the token source of each auth kind (`bearer`, `oauth`)."""
        self.registry = registry
        self.clients = {s.name: McpClient(s, (credentials or {}).get(s.auth), timeout=timeout, clock=clock)
                        for s in servers}
        self.functions: dict[str, McpFunction] = {}
        self.problems: dict[str, str] = {}
        self._clock = clock
        self._retry_at: dict[str, float] = {}   # a server that did not answer is not asked again before this
        self._refreshing = asyncio.Lock()

    async def refresh(self, user_key: str | None = None, *, force: bool = False) -> None:
        """List the tools of every server whose listing is stale (at once, side by side) and update the registry.

        An OAuth server is listed with `user_key`'s token (its tools are then known for everyone); a server that
        does not answer keeps its last tools, says why in `problems`, and is asked again RETRY_LISTING_AFTER
        seconds later."""
        async with self._refreshing:
            now = self._clock()
            stale = [c for c in self.clients.values() if force or (not c.listing_is_fresh()
                                                                   and now >= self._retry_at.get(c.server.name, 0))]
            if not stale:
                return
            listings = await asyncio.gather(*(self._list(c, user_key, force) for c in stale))
            for client, tools in zip(stale, listings):
                if tools is not None:
                    self._index(client, tools)

    async def _list(self, client: McpClient, user_key: str | None, force: bool) -> list[types.Tool] | None:
        if client.server.auth == "oauth" and user_key is None:
            return None
        try:
            tools = await client.list_tools(user_key, refresh=force)
        except ToolError as error:
            self.problems[client.server.name] = str(error)
            self._retry_at[client.server.name] = self._clock() + RETRY_LISTING_AFTER
            _log.warning("MCP server %s: %s", client.server.name, error)
            return None
        self.problems.pop(client.server.name, None)
        return tools

    def _index(self, client: McpClient, tools: list[types.Tool]) -> None:
        server = client.server
        dynamic, functions, skipped = [], {}, []
        for tool in tools:
            try:
                built, function = _dynamic_tool(client, tool)
            except (TypeError, ValueError) as error:   # a schema the types cannot express: leave the tool out
                skipped.append(f"{tool.name} ({error})")
                continue
            if built.name in functions:
                skipped.append(f"{tool.name} (its function name {built.name} is taken)")
                continue
            dynamic.append(built)
            functions[built.name] = function
        self.registry.replace_provider(provider_of(server.name), dynamic)
        self.functions = {name: f for name, f in self.functions.items() if f.server != server.name} | functions
        if skipped:
            self.problems[server.name] = "tools left out: " + "; ".join(skipped)

    async def aclose(self) -> None:
        """Close every server's kept connections."""
        await asyncio.gather(*(client.aclose() for client in self.clients.values()))


def _dynamic_tool(client: McpClient, tool: types.Tool) -> tuple[DynamicTool, McpFunction]:
    server = client.server
    name = function_name(server.name, tool.name)
    wrapped = _wraps_result(tool.output_schema)
    typed = tool_types(name, tool.input_schema, _unwrapped_schema(tool.output_schema) if wrapped else tool.output_schema)
    effect = effect_of(server.trusted, tool.annotations)
    described = (tool.description or tool.title or tool.name).strip()
    trust = "trusted" if server.trusted else "untrusted: its tools count as writes"
    doc = "\n".join([described, "", *typed.notes,
                     f"(Tool {tool.name!r} of the MCP server {server.name}, {trust}.)"]).replace("\n\n\n", "\n\n")

    def wire(arguments: dict[str, Any]) -> dict[str, Any]:   # a parameter left at None is not sent
        return typed.python_to_wire({k: v for k, v in arguments.items() if v is not None})

    def validate(arguments: dict[str, Any]) -> None:
        validate_arguments(name, tool.input_schema, wire(arguments))

    async def call(arguments: dict[str, Any]) -> Any:
        ctx = current_context()
        if ctx.mcp is None:
            raise ToolError(f"{name} needs to know whom it acts for; call it through the tool bridge")
        if ctx.dry_run and effect != "read":
            return placeholder(_unwrapped_schema(tool.output_schema) if wrapped else tool.output_schema)
        sent = wire(arguments)
        key = call_key(name, {k: v for k, v in arguments.items() if v is not None})
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await client.call(name, tool.name, sent, user_key=ctx.mcp.user_key, call_key=key,
                                       answer=ctx.mcp.answers.get(key), wrapped_result=wrapped)
            outcome = "ok"
            return typed.wire_to_python(result)
        except ToolError as error:
            outcome = error.code or "error"
            raise
        finally:
            _log.info("mcp call: server=%s tool=%s user=%s arguments=%s outcome=%s duration_ms=%.1f", server.name,
                      tool.name, ctx.mcp.user_key, key.rpartition(":")[2], outcome,
                      (time.perf_counter() - started) * 1000)

    idempotent = bool(server.trusted and tool.annotations and tool.annotations.idempotent_hint)
    built = DynamicTool(name=name, provider=provider_of(server.name), effect=effect,
                        retry_safe=effect == "read" or idempotent, doc=doc, signature=typed.signature,
                        parameters=tuple(typed.arguments.model_fields), models=typed.models, validate=validate,
                        call=call)
    return built, McpFunction(name, server.name, tool.name, schema_digest(tool), tool.input_schema)


def schema_changes(before: dict[str, Any], after: dict[str, Any]) -> str:
    """What changed between two input schemas, in words: parameters added, removed, newly required, retyped."""
    old, new = before.get("properties") or {}, after.get("properties") or {}
    old_required, new_required = set(before.get("required") or []), set(after.get("required") or [])
    changes = [f"new parameter {p!r}" + (" (required)" if p in new_required else "") for p in new if p not in old]
    changes += [f"parameter {p!r} removed" for p in old if p not in new]
    changes += [f"parameter {p!r} is now required" for p in new if p in old and p in new_required - old_required]
    changes += [f"parameter {p!r} changed from {_shape(old[p])} to {_shape(new[p])}"
                for p in new if p in old and old[p] != new[p] and _shape(old[p]) != _shape(new[p])]
    return "; ".join(changes) or "its input schema changed"


def _shape(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_shape(option) for option in schema["anyOf"])
    return str(schema.get("type") or schema.get("$ref", "any")).rsplit("/", 1)[-1]


def _wraps_result(output_schema: dict[str, Any] | None) -> bool:
    """Whether the server wraps a non-object result as `{"result": ...}` (as the SDK does for `-> list[T]`)."""
    return bool(output_schema) and set((output_schema or {}).get("properties") or {}) == {"result"} \
        and (output_schema or {}).get("required") == ["result"]


def _unwrapped_schema(output_schema: dict[str, Any] | None) -> dict[str, Any]:
    schema = dict((output_schema or {})["properties"]["result"])
    if "$defs" in (output_schema or {}):
        schema["$defs"] = output_schema["$defs"]   # type: ignore[index]
    return schema
