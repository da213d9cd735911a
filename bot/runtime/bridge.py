"""The host side of the tool bridge: sandbox sessions whose functions act for one owner."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from integrations.errors import ToolError
from integrations.registry import Registry
from sandbox.session import SubprocessSession
from skills_db.models import Owner
from bot.workspace import DemoWorkspace


@dataclass
class BridgedSession:
    """A sandbox session plus the set of functions it may call."""

    session: SubprocessSession
    registry: Registry
    allowed: set[str] = field(default_factory=set)

    async def allow(self, names: Iterable[str]) -> None:
        """Make more functions callable inside the session (their stubs are defined there)."""
        wanted = self.allowed | set(names)
        if wanted != self.allowed:
            self.allowed = wanted
            await self.session.define_tools(self.registry.catalogue(sorted(wanted)))

    async def close(self) -> None:
        await self.session.close()


class ToolBridge:
    """Opens sandbox sessions whose workspace functions run on the host with the owner's account.

    The sandbox only ever sees signatures and JSON: credentials stay here. Every call is checked
    against the session's allowed functions and validated by the registry before it runs.
    """

    def __init__(self, registry: Registry, workspace: DemoWorkspace, *, output_limit: int = 20_000) -> None:
        self.registry = registry
        self.workspace = workspace
        self.output_limit = output_limit

    async def open(self, owner: Owner, tools: Iterable[str] = (), *, dry_run: bool = False) -> BridgedSession:
        """Start a session for `owner` with `tools` callable."""
        context = self.workspace.context_for(owner, dry_run=dry_run)
        bridged: BridgedSession

        async def dispatch(name: str, args: dict) -> object:
            if name not in bridged.allowed:
                raise ToolError(f"{name} is not loaded in this session: call load_functions first.")
            return await self.registry.call(name, args, context)

        bridged = BridgedSession(SubprocessSession(dispatch, output_limit=self.output_limit), self.registry)
        await bridged.session.start()
        await bridged.allow(tools)
        return bridged
