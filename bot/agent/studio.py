"""LangGraph Studio's entry point (langgraph.json, `langgraph dev`): the agent graph over the demo workspace.

The LangGraph server imports this file, calls `make_graph` inside its event loop (where a blocking call is an
error) and keeps the checkpoints itself. So the graph is compiled without a checkpointer, and what blocks
(reading the replay file, the database, starting the demo workspace) is built once, in a worker thread, and
kept for the server's lifetime. A run started from Studio carries only messages: it acts as the Studio user.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import asdict
from typing import Any

from langgraph.graph import END, START, StateGraph

from bot.agent.graph import build_graph
from bot.agent.handlers import AgentDeps
from bot.agent.state import AgentState
from bot.settings import Settings
from skills_db.models import Owner

STUDIO_USER = Owner("studio", "local", "studio")

_lock = threading.Lock()
_deps: AgentDeps | None = None


class StudioConfigError(RuntimeError):
    """Settings Studio cannot open the graph with; the message says what to set."""


async def make_graph(config: Any = None) -> Any:
    """The graph `codemem serve` runs (same model, tools, sandbox and skills database), for the LangGraph
    server: runs without a `requester` act as STUDIO_USER."""
    deps = await asyncio.to_thread(_shared_deps)
    return _as_studio_user(build_graph(deps, checkpointer=None))


async def close() -> None:
    """Stop the sandbox sessions the graph's runs opened (the server's exit does without; tests call this)."""
    if _deps is not None:
        await _deps.sessions.close_all()


def _as_studio_user(agent: Any) -> Any:
    def who(state: AgentState) -> dict[str, Any]:
        return {} if state.get("requester") else {"requester": asdict(STUDIO_USER)}

    graph = StateGraph(AgentState)
    graph.add_node("who", who)
    graph.add_node("codemem", agent)
    graph.add_edge(START, "who")
    graph.add_edge("who", "codemem")
    graph.add_edge("codemem", END)
    return graph.compile()


def _shared_deps() -> AgentDeps:
    """The agent's parts, built once per process (from a worker thread: this blocks)."""
    global _deps
    with _lock:
        if _deps is None:
            _deps = _build_deps(Settings())
        return _deps


def _build_deps(settings: Settings) -> AgentDeps:
    from bot.agent.model import load_model
    from bot.agent.sessions import ThreadSessions
    from bot.agent.subagents import SubAgents
    from bot.observability import MeteredRegistry
    from bot.runtime.bridge import ToolBridge
    from bot.runtime.skill_runner import SkillRunner
    from bot.workspace import DemoWorkspace
    from integrations.emulator.server import EmulatorServer
    from integrations.registry import default_registry
    from skills_db.db import init_db, make_engine
    from skills_db.store import SkillStore

    if not settings.model:
        raise StudioConfigError("set CODEMEM_MODEL (e.g. replay:bot/demo/save_attachments.yaml, or "
                                "anthropic:claude-sonnet-4-5) in .env to open the graph in LangGraph Studio")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    store = SkillStore(engine)
    model = load_model(settings.model)
    emulator_url = settings.emulator_url
    if not emulator_url:   # the built-in demo workspace, kept running for the server's lifetime
        emulator = EmulatorServer()
        emulator.start()
        emulator_url = emulator.url
    registry = MeteredRegistry(default_registry())
    sandbox = "subprocess" if settings.sandbox == "pool" else settings.sandbox   # a pool needs a loop to start
    bridge = ToolBridge(registry, DemoWorkspace(emulator_url), backend=sandbox)
    subagents = SubAgents(model)
    sessions = ThreadSessions(bridge, subagents.host_functions)
    return AgentDeps(model, registry, sessions, store, SkillRunner(store, bridge), subagents,
                     exec_timeout=settings.exec_timeout)
