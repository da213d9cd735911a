"""The host side of the tool bridge: sandbox sessions whose functions act for one owner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from integrations.errors import ToolError
from integrations.registry import Registry
from sandbox.backends import SandboxSession, open_session
from skills_db.models import Owner
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
    """A sandbox session, the functions it may call, and the effects (write, send) it is granted."""

    session: SandboxSession
    registry: Registry
    host_functions: dict[str, HostFunction] = field(default_factory=dict)
    allowed: set[str] = field(default_factory=set)
    granted: set[str] = field(default_factory=set)
    defined: bool = False

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
    and nothing a mail or document contains, can.
    """

    def __init__(self, registry: Registry, workspace: DemoWorkspace | AccountWorkspace, *, backend: str = "subprocess",
                 pool: WorkerPool | None = None, output_limit: int = 20_000) -> None:
        self.registry = registry
        self.workspace = workspace
        self.backend = backend
        self.pool = pool
        self.output_limit = output_limit

    async def open(self, owner: Owner, tools: Iterable[str] = (), *, granted: Iterable[str] | None = None,
                   dry_run: bool = False, host_functions: Iterable[HostFunction] = (),
                   key: str | None = None, calls_wait_for: Awaitable[Any] | None = None) -> BridgedSession:
        """Start a session for `owner` with `tools` and `host_functions` callable; `key` names the
        conversation, so a pool gives its turns the same warm worker. Tool calls wait for `calls_wait_for`
        (e.g. the record of a skill run) and fail if it fails.

        `granted` lists the effects allowed without asking; None grants the effects of `tools` themselves,
        which is what an approved skill's run gets (its owner approved those tools).
        """
        tools = list(tools)
        context = self.workspace.context_for(owner, dry_run=dry_run)
        bridged: BridgedSession

        async def dispatch(name: str, args: dict) -> object:
            if calls_wait_for is not None:
                await calls_wait_for
            if name in bridged.host_functions:
                return await bridged.host_functions[name].fn(**args)
            if name not in bridged.allowed:
                raise ToolError(f"{name} is not loaded in this session: call load_functions first.")
            effect = self.registry.get(name).effect
            if effect != "read" and not dry_run and effect not in bridged.granted:
                raise ToolError(f"{name} would {effect} in the user's workspace and needs their go-ahead: "
                                "ask with ask_user(..., grant_writes=true) first.")
            return await self.registry.call(name, args, context)

        if granted is None:
            granted = {self.registry.get(name).effect for name in tools} & GRANTABLE_EFFECTS
        session = open_session(self.backend, dispatch, key=key, pool=self.pool, output_limit=self.output_limit)
        bridged = BridgedSession(session, self.registry, {f.name: f for f in host_functions}, granted=set(granted))
        await bridged.allow(tools)   # starts the worker with the tools defined (a pool may have one ready)
        return bridged
