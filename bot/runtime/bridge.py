"""The host side of the tool bridge: sandbox sessions whose functions act for one owner."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from integrations.context import McpCallScope
from integrations.errors import ToolError
from integrations.mcp.catalog import McpTools, schema_changes
from integrations.mcp.input_required import CONFIRM_KEY, InputQuestion, InputRequired, call_key
from integrations.registry import Registry
from sandbox.backends import SandboxSession, open_session
from skills_db.mcp_servers import McpServerStore
from skills_db.models import McpToolPin, Owner
from bot.workspace import AccountWorkspace, DemoWorkspace
from sandbox.pool import WorkerPool

GRANTABLE_EFFECTS = frozenset({"write", "send"})   # a thread grant covers these; destructive asks each time


@dataclass(frozen=True)
class HostFunction:
    """A function the host offers inside a session besides the workspace tools (e.g. `spawn_agent`).
    Its arguments arrive as JSON; it runs on the host with no access for the sandbox beyond its result."""

    name: str
    signature: str
    doc: str
    fn: Callable[..., Awaitable[Any]]


@dataclass
class BridgedSession:
    """A sandbox session, the functions it may call, and the effects (write, send) it is granted.

    `answers` are the person's answers to questions asked during this conversation's calls, by call (see
    integrations.mcp.input_required); `pending_input` is the last question a call could not go on without, for
    the host to put to the person after the code block; `used_answers` the answers calls went on with."""

    session: SandboxSession
    registry: Registry
    host_functions: dict[str, HostFunction] = field(default_factory=dict)
    allowed: set[str] = field(default_factory=set)
    granted: set[str] = field(default_factory=set)
    defined: bool = False
    interactive: bool = False
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending_input: InputRequired | None = None
    used_answers: set[str] = field(default_factory=set)

    def take_input_state(self) -> tuple[InputRequired | None, set[str]]:
        """The question left pending and the answers used since the last call of this (both then cleared)."""
        pending, used = self.pending_input, self.used_answers
        self.pending_input, self.used_answers = None, set()
        return pending, used

    async def allow(self, names: Iterable[str]) -> None:
        """Make more workspace functions callable inside the session (their stubs are defined there)."""
        wanted = self.allowed | set(names)
        if wanted != self.allowed or not self.defined:
            self.allowed, self.defined = wanted, True
            catalogue = self.registry.catalogue(sorted(wanted))
            catalogue["functions"] += [{"name": f.name, "signature": f.signature, "doc": f.doc}
                                       for f in self.host_functions.values()]
            await self.session.define_tools(catalogue)

    async def close(self) -> None:
        await self.session.close()


class ToolBridge:
    """Opens sandbox sessions whose workspace functions run on the host with the owner's account.

    The sandbox only ever sees signatures and JSON: credentials stay here. Every call is checked against
    the session's allowed functions and granted effects, then validated by the registry before it runs.
    Only the host grants effects (from the user's answer or a skill's approval): nothing the sandbox says,
    and nothing a mail or document contains, can. A destructive call asks the person each time (an answer
    holds for that one call, its function and arguments); MCP calls act with the owner's own token.
    """

    def __init__(self, registry: Registry, workspace: DemoWorkspace | AccountWorkspace, *, backend: str = "subprocess",
                 pool: WorkerPool | None = None, output_limit: int = 20_000, mcp: McpTools | None = None,
                 mcp_store: McpServerStore | None = None) -> None:
        self.registry = registry
        self.workspace = workspace
        self.backend = backend
        self.pool = pool
        self.output_limit = output_limit
        self.mcp = mcp
        self.mcp_store = mcp_store

    async def pin_tools(self, skill_id: int, version: int, tools: Iterable[str]) -> None:
        """Keep the input schemas of the MCP tools among a new skill version's `tools`, for its reruns to check."""
        if self.mcp is None or self.mcp_store is None:
            return
        pins = [McpToolPin(skill_id=skill_id, version=version, function=f.function, server=f.server, tool=f.tool,
                           schema_digest=f.digest, input_schema=f.input_schema)
                for name in tools if (f := self.mcp.functions.get(name)) is not None]
        await asyncio.to_thread(self.mcp_store.pin, pins)

    async def check_pins(self, skill_id: int, version: int) -> None:
        """ToolError naming the server, the tool and what changed when an MCP tool of the skill version is gone or
        its input schema is not the one the version was made with."""
        if self.mcp is None or self.mcp_store is None:
            return
        for pin in await asyncio.to_thread(self.mcp_store.pins, skill_id, version):
            if pin.server not in self.mcp.clients:
                raise ToolError(f"it calls {pin.function}, but the MCP server {pin.server} is no longer registered "
                                f"(an admin removed it): register it again with `codemem mcp add {pin.server} URL`, "
                                "or change the skill")
            current = self.mcp.functions.get(pin.function)
            if current is None:
                raise ToolError(f"the MCP server {pin.server} no longer offers the tool {pin.tool!r} ({pin.function})"
                                "; change the skill to do without it")
            if current.digest != pin.schema_digest:
                raise ToolError(f"the MCP server {pin.server} changed the tool {pin.tool!r} ({pin.function}) since "
                                f"this version was approved: {schema_changes(pin.input_schema, current.input_schema)}"
                                "; check the skill and save a new version")

    async def open(self, owner: Owner, tools: Iterable[str] = (), *, granted: Iterable[str] | None = None,
                   dry_run: bool = False, host_functions: Iterable[HostFunction] = (),
                   key: str | None = None, calls_wait_for: Awaitable[Any] | None = None,
                   interactive: bool = False, pinned: tuple[int, int] | None = None) -> BridgedSession:
        """Start a session for `owner` with `tools` and `host_functions` callable; `key` names the
        conversation, so a pool gives its turns the same warm worker. Tool calls wait for `calls_wait_for`
        (e.g. the record of a skill run) and fail if it fails.

        `granted` lists the effects allowed without asking; None grants the effects of `tools` themselves,
        which is what an approved skill's run gets (its owner approved those tools). `interactive` sessions
        (a conversation) can put a call's question to the person; others fail that call saying why. `pinned`
        (skill id, version) checks the MCP tools against the schemas that version was made with.
        """
        tools = list(tools)
        if self.mcp is not None and self.mcp.clients:
            await self.mcp.refresh(owner_key(owner))
        if pinned is not None:
            await self.check_pins(*pinned)
        context = self.workspace.context_for(owner, dry_run=dry_run)
        bridged: BridgedSession

        async def dispatch(name: str, args: dict) -> object:
            if calls_wait_for is not None:
                await calls_wait_for
            if name in bridged.host_functions:
                return await bridged.host_functions[name].fn(**args)
            if name not in bridged.allowed:
                raise ToolError(f"{name} is not loaded in this session: call load_functions first.")
            spec = self.registry.get(name)
            effect = spec.effect
            keyed = (effect == "destructive" or bridged.answers) and isinstance(args, dict)
            this_call = call_key(name, {k: v for k, v in args.items() if v is not None}) if keyed else name
            if effect == "destructive" and not dry_run and isinstance(args, dict):
                _confirmed_or_ask(bridged, name, spec.provider, this_call, args)
            elif effect != "read" and not dry_run and effect not in bridged.granted:
                raise ToolError(f"{name} would {effect} in the user's workspace and needs their go-ahead: "
                                "ask with ask_user(..., grant_writes=true) first.")
            try:
                result = await self.registry.call(name, args, context)
            except InputRequired as needed:
                raise _asked(bridged, needed) from None
            if this_call in bridged.answers:
                bridged.used_answers.add(this_call)
            return result

        if granted is None:
            granted = {self.registry.get(name).effect for name in tools} & GRANTABLE_EFFECTS
        session = open_session(self.backend, dispatch, key=key, pool=self.pool, output_limit=self.output_limit)
        bridged = BridgedSession(session, self.registry, {f.name: f for f in host_functions}, granted=set(granted),
                                 interactive=interactive)
        context.mcp = McpCallScope(owner_key(owner), bridged.answers)
        await bridged.allow(tools)   # starts the worker with the tools defined (a pool may have one ready)
        return bridged


def owner_key(owner: Owner) -> str:
    """`platform:team:user`: whose tokens (e.g. for MCP servers) a call uses."""
    return f"{owner.platform}:{owner.team}:{owner.user}"


def _confirmed_or_ask(bridged: BridgedSession, name: str, provider: str, this_call: str, args: dict) -> None:
    """Let a destructive call through when the person confirmed this very call; otherwise ask them."""
    responses = (bridged.answers.get(this_call) or {}).get("responses") or {}
    if ((responses.get(CONFIRM_KEY) or {}).get("content") or {}).get("allow") is True:
        return
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items() if v is not None)
    question = InputQuestion(CONFIRM_KEY, f"Allow {name}({shown})? It cannot be undone.", ("Yes", "No"),
                             {"properties": {"allow": {"type": "boolean"}}})
    raise _asked(bridged, InputRequired(f"{name} is destructive and needs the person's go-ahead for this call",
                                        function=name, server=provider, call_key=this_call, questions=[question],
                                        request_state=None))


def _asked(bridged: BridgedSession, needed: InputRequired) -> ToolError:
    """The error the sandbox sees for a call that needs the person: in a conversation the question is kept for the
    host to ask after this code block; elsewhere (a skill run) it cannot be asked, and the error says so."""
    if bridged.interactive:
        bridged.pending_input = needed
        return ToolError(f"{needed}. The question is being put to the person in the thread: stop here, and when they "
                         "have answered, make the same call again with the same arguments.", code="input_required")
    return ToolError(f"{needed}. Nobody can answer it during this run: do this from a conversation with the bot "
                     "instead (ask it there), or change the skill so that the call needs no answer.",
                     code="input_required")
