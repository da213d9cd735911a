"""CodeMem's skills as an MCP server: `tools/list` is the caller's runnable skills, `tools/call` runs one as
`/skill run` does (recorded with trigger `mcp`, no model), plus `get_run`; each skill is also a resource
(`codemem://skills/NAME`: source, parameters, versions) as is each run (`codemem://runs/ID`); two prompts
(`make_this_a_skill`, `explain_run`). Served over Streamable HTTP at
`/mcp` by `codemem serve` (the caller is the owner of the bearer token) and over stdio by
`codemem mcp serve --stdio` (the caller is fixed when it starts).

One endpoint serves both protocol eras; a skill that sends or deletes asks for confirmation by form
elicitation before it runs: `input_required` on 2026-07-28, an `elicitation/create` request on 2025-11-25.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import mcp_types as types
from mcp.server.caching import CacheHint
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import INVALID_PARAMS
from mcp_types.version import is_version_at_least
from starlette.routing import BaseRoute, Route

from bot.app import CodeMem
from bot.core.skill_tools import (
    NoSuchSkill,
    SkillTool,
    SkillTools,
    run_record,
    run_summary,
)
from bot.surfaces.http_api import api_routes
from bot.surfaces.token_auth import ResourceServer, caller_of
from skills_db.errors import RunNotFound
from skills_db.models import Owner, RunTrigger, SkillRun
from skills_db.params import SUPPORTED_TYPES_TEXT, ArgumentError
from skills_db.personal_tokens import PersonalTokens

GET_RUN = "get_run"
SKILL_URI = "codemem://skills/"
RUN_URI = "codemem://runs/"
JSON_TYPE = "application/json"
RESOURCE_NOT_FOUND = -32002   # the spec's code for resources/read of an unknown URI
CONFIRM_KEY = "confirm_run"
INPUT_REQUIRED_VERSION = "2026-07-28"
INSTRUCTIONS = ("Each tool is one of your saved CodeMem skills: typed code that runs without a model, "
                "as you, with your connected accounts. get_run reads a run's result and log by its id.")
_GET_RUN_TOOL = types.Tool(
    name=GET_RUN, description="The status, result and log of one of your skill runs, by its run id.",
    input_schema={"type": "object", "properties": {"run_id": {"type": "integer", "description": "The run id."}},
                  "required": ["run_id"], "additionalProperties": False},
    annotations=types.ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                      open_world_hint=False))
MAKE_SKILL, EXPLAIN_RUN = "make_this_a_skill", "explain_run"
PROMPTS = [
    types.Prompt(name=MAKE_SKILL, description="Write what we just did as a CodeMem skill file to import.",
                 arguments=[types.PromptArgument(name="task", description="What the skill should do", required=False)]),
    types.Prompt(name=EXPLAIN_RUN, description="Explain one of your skill runs: what it did, and why it failed.",
                 arguments=[types.PromptArgument(name="run_id", description="The run's id", required=True)]),
]
MAKE_SKILL_TEXT = (
    "Write {task} as a CodeMem skill: one Python file defining exactly one top-level `async def run(...)` whose "
    "parameters are typed with {types}, with defaults for the optional ones, a docstring whose Args section "
    "describes each parameter, and a JSON-ready return value (a dict). Call only CodeMem's workspace functions "
    "(Outlook, OneDrive, Gmail, Google Sheets) for outside data. I will import it with `codemem skill import FILE`, "
    "read it and approve it.")
EXPLAIN_RUN_TEXT = ("Explain this CodeMem skill run to me in a few sentences: what it did, what it returned, and, if "
                    "it failed, the likely cause and what to change.\n\n{record}")
_CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["confirm"],
    "properties": {"confirm": {"type": "boolean", "title": "Run it",
                               "description": "Yes runs the skill now; no leaves everything as it is."}},
}


def build_mcp_server(skill_tools: SkillTools, user: Owner | None = None) -> Server[Any]:
    """The low-level server; `user` fixes the caller (stdio), else each request's bearer token names it."""

    def caller(ctx: ServerRequestContext[Any]) -> Owner:
        found = caller_of(ctx.request.scope) if ctx.request is not None else None
        if found is None:
            found = user
        if found is None:   # unreachable behind ResourceServer.protect: refuse rather than guess
            raise MCPError(INVALID_PARAMS, "no user: connect with a personal token (/skill mcp-token)")
        return found

    async def list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                         ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[_tool(t) for t in await skill_tools.list(caller(ctx))] + [_GET_RUN_TOOL])

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
                        ) -> types.CallToolResult | types.InputRequiredResult:
        who = caller(ctx)
        arguments = params.arguments or {}
        if params.name == GET_RUN:
            return await _get_run(skill_tools, who, arguments)
        try:
            tool = await skill_tools.find(who, params.name)
            prepared = await skill_tools.prepare(who, params.name, arguments, RunTrigger.MCP.value)
        except NoSuchSkill:
            raise _unknown_tool(params.name) from None
        except ArgumentError as error:
            return _error(f"{error}\nParameters of {tool.name}: {_parameter_names(tool)}")
        if tool.needs_confirmation:
            answer = await _confirmation(ctx, params, tool, arguments)
            if isinstance(answer, types.InputRequiredResult):
                return answer
            if not answer:
                return _error(f"{tool.name} did not run: it was not confirmed.")
        outcome = await skill_tools.run(prepared)
        return _run_result(tool.name, outcome.run)

    async def list_resources(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                             ) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[
            types.Resource(uri=SKILL_URI + tool.name, name=tool.name, mime_type=JSON_TYPE,
                           description=f"Source, parameters and versions of {tool.name}")
            for tool in await skill_tools.list(caller(ctx))])

    async def list_templates(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                             ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[
            types.ResourceTemplate(uri_template=SKILL_URI + "{name}", name="skill", mime_type=JSON_TYPE,
                                   description="One of your skills: source, parameters, versions"),
            types.ResourceTemplate(uri_template=RUN_URI + "{run_id}", name="run", mime_type=JSON_TYPE,
                                   description="One of your runs: status, result and log")])

    async def read_resource(ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
                            ) -> types.ReadResourceResult:
        who, uri = caller(ctx), str(params.uri)
        try:
            if uri.startswith(SKILL_URI):
                document = await skill_tools.skill_document(who, uri.removeprefix(SKILL_URI))
            elif uri.startswith(RUN_URI) and uri.removeprefix(RUN_URI).isdigit():
                run, name = await skill_tools.get_run(who, int(uri.removeprefix(RUN_URI)))
                document = run_record(name, run)
            else:
                raise NoSuchSkill(uri)
        except (NoSuchSkill, RunNotFound):
            raise MCPError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}") from None
        text = json.dumps(document, default=str, ensure_ascii=False, indent=1)
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type=JSON_TYPE, text=text)])

    async def list_prompts(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                           ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=PROMPTS)

    async def get_prompt(ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams) -> types.GetPromptResult:
        arguments = params.arguments or {}
        if params.name == MAKE_SKILL:
            text = MAKE_SKILL_TEXT.format(task=arguments.get("task", "").strip() or "the task we just did",
                                          types=SUPPORTED_TYPES_TEXT)
        elif params.name == EXPLAIN_RUN and arguments.get("run_id", "").strip().isdigit():
            try:
                run, name = await skill_tools.get_run(caller(ctx), int(arguments["run_id"]))
            except RunNotFound as error:
                raise MCPError(INVALID_PARAMS, str(error).split(";")[0]) from None
            text = EXPLAIN_RUN_TEXT.format(record=json.dumps(run_record(name, run), default=str, indent=1))
        elif params.name == EXPLAIN_RUN:
            raise MCPError(INVALID_PARAMS, "explain_run needs run_id, the number of one of your runs")
        else:
            raise MCPError(INVALID_PARAMS, f"Unknown prompt: {params.name}")
        return types.GetPromptResult(messages=[types.PromptMessage(role="user",
                                                                   content=types.TextContent(type="text", text=text))])

    return Server("codemem", instructions=INSTRUCTIONS, on_list_tools=list_tools, on_call_tool=call_tool,
                  on_list_resources=list_resources, on_list_resource_templates=list_templates,
                  on_read_resource=read_resource, on_list_prompts=list_prompts, on_get_prompt=get_prompt,
                  cache_hints={method: CacheHint(ttl_ms=0, scope="private")
                               for method in ("tools/list", "resources/list", "resources/templates/list")})


@contextlib.asynccontextmanager
async def mcp_routes(skill_tools: SkillTools, auth: ResourceServer) -> AsyncIterator[list[BaseRoute]]:
    """`/mcp` (Streamable HTTP, both eras, behind `auth`) and the resource metadata, while the session manager runs."""
    manager = StreamableHTTPSessionManager(
        app=build_mcp_server(skill_tools),
        # Origin is checked by `auth` (loopback and the public URL); the Host header is the proxy's business.
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    async with manager.run():
        yield [*auth.metadata_routes(), Route("/mcp", endpoint=auth.protect(manager.handle_request))]


async def _confirmation(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams, tool: SkillTool,
                        arguments: dict[str, Any]) -> bool | types.InputRequiredResult:
    """The person's yes or no before a skill that sends or deletes; on 2026-07-28 first the question itself."""
    shown = ", ".join(f"{key}={value!r}" for key, value in arguments.items()) or "its defaults"
    message = f"Run {tool.name} (v{tool.version}) with {shown}? It can send or delete data for you."
    if is_version_at_least(ctx.protocol_version, INPUT_REQUIRED_VERSION):
        answer = (params.input_responses or {}).get(CONFIRM_KEY)
        if answer is None:
            request = types.ElicitRequest(params=types.ElicitRequestFormParams(message=message,
                                                                               requested_schema=_CONFIRM_SCHEMA))
            return types.InputRequiredResult(input_requests={CONFIRM_KEY: request})
        return _accepted(answer)
    return _accepted(await ctx.session.elicit_form(message=message, requested_schema=_CONFIRM_SCHEMA,
                                                   related_request_id=ctx.request_id))


def _accepted(answer: Any) -> bool:
    content = getattr(answer, "content", None) or {}
    return getattr(answer, "action", None) == "accept" and content.get("confirm") is True


async def _get_run(skill_tools: SkillTools, who: Owner, arguments: dict[str, Any]) -> types.CallToolResult:
    run_id = arguments.get("run_id")
    if not isinstance(run_id, int) or isinstance(run_id, bool):
        return _error(f"run_id must be a whole number, got {run_id!r}")
    try:
        run, name = await skill_tools.get_run(who, run_id)
    except RunNotFound as error:
        return _error(str(error).split(";")[0] + ".")
    return _run_result(name, run)


def _tool(tool: SkillTool) -> types.Tool:
    return types.Tool(name=tool.name, description=tool.description, input_schema=tool.input_schema,
                      annotations=types.ToolAnnotations(read_only_hint=tool.read_only,
                                                        destructive_hint=tool.destructive,
                                                        idempotent_hint=tool.read_only,
                                                        open_world_hint=tool.open_world))


def _run_result(name: str, run: SkillRun) -> types.CallToolResult:
    record = run_record(name, run)
    text = run_summary(name, run)
    if run.status == "succeeded" and run.result is not None:
        text += "\n" + json.dumps(run.result, default=str, ensure_ascii=False)[:2000]
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=record,
                                is_error=run.status == "failed")


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def _unknown_tool(name: str) -> MCPError:
    """The one answer for a tool that does not exist and for a skill the caller may not run."""
    return MCPError(INVALID_PARAMS, f"Unknown tool: {name}")


def _parameter_names(tool: SkillTool) -> str:
    return ", ".join(tool.input_schema["properties"]) or "none"


@contextlib.asynccontextmanager
async def skill_endpoints(codemem: CodeMem, public_url: str) -> AsyncIterator[list[BaseRoute]]:
    """What `codemem serve` mounts for callers outside chat: `/mcp`, its resource metadata and `/api`."""
    tokens = PersonalTokens(codemem.engine)
    auth = ResourceServer(tokens, public_url)
    skill_tools = SkillTools(codemem.store, codemem.skills.runner)
    async with mcp_routes(skill_tools, auth) as routes:
        yield routes + api_routes(skill_tools, tokens, auth)
