"""Assembling CodeMem from its settings: the store, the workspace, the sandbox bridge, the agent, the job
engine (in-process, or procrastinate on PostgreSQL) and the schedules."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from bot import extras
from bot.agent.checkpoints import open_checkpointer
from bot.agent.graph import build_graph
from bot.agent.handlers import AgentDeps
from bot.agent.model import load_model
from bot.agent.sessions import ThreadSessions
from bot.agent.subagents import SubAgents
from bot.core.conversations import Conversations
from bot.core.personal_tokens import TokenCommands
from bot.core.skills import RUN_JOB, Skills
from bot.mcp_servers import McpConfigError, all_servers, build_mcp_tools, cipher_or_none
from bot.observability import MeteredRegistry
from bot.runtime.bridge import ToolBridge
from bot.runtime.jobs import InProcessJobs, Jobs
from bot.runtime.recovery import SkillRunRecovery
from bot.runtime.scheduled_jobs import QueuedScheduler
from bot.runtime.skill_runner import SkillRunner
from bot.settings import Settings
from bot.core.accounts import Connections, owner_from_key
from bot.core.surface import Surfaces
from bot.workspace import AccountWorkspace, DemoWorkspace, connect_accounts
from skills_db.connections import ConnectionStore, TokenCipher
from integrations.emulator.server import EmulatorServer
from sandbox.launch import ResourceLimits
from sandbox.pool import WorkerPool
from integrations.mcp.catalog import McpTools
from integrations.mcp.oauth import McpOAuth, OAuthServer
from integrations.registry import Registry, default_registry
from skills_db.mcp_servers import McpServerStore
from skills_db.personal_tokens import PersonalTokens
from skills_db.db import init_db, make_engine
from skills_db.store import SkillStore

log = logging.getLogger(__name__)


@dataclass
class CodeMem:
    """The platform-neutral core that every chat surface drives."""

    conversations: Conversations
    skills: Skills
    connections: Connections
    surfaces: Surfaces
    jobs: Jobs
    workspace: DemoWorkspace | AccountWorkspace
    store: SkillStore
    scheduler: QueuedScheduler
    engine: Engine

    async def problems(self) -> list[str]:
        """What keeps this process from serving (for /readyz): the database, the job queue. Empty when ready."""
        problems = []
        try:
            await asyncio.to_thread(_ping, self.engine)
        except Exception as error:
            problems.append(f"database unreachable: {type(error).__name__}: {error}")
        try:
            problems += await self.jobs.problems()
        except Exception as error:
            problems.append(f"job queue unreachable: {type(error).__name__}: {error}")
        return problems


class SettingsError(ValueError):
    """Settings that cannot work together; the message says what to set."""


@contextlib.asynccontextmanager
async def open_codemem(settings: Settings, *, registry: Registry | None = None) -> AsyncIterator[CodeMem]:
    """Build CodeMem for `settings` (with the default workspace tools unless a `registry` is given); on
    exit, stop the schedule loop, wait for this process's running jobs and stop every sandbox.

    Jobs are only submitted here: `codemem serve` (embedded engine) or `codemem worker` (procrastinate) runs them.
    """
    problem = settings.jobs_problem()
    if problem:
        raise SettingsError(problem)
    if settings.uses_postgres:
        extras.require("postgres", "CODEMEM_DATABASE_URL=postgresql…")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    try:
        init_db(engine)
    except OperationalError as error:
        raise SettingsError(settings.database_unreachable(error)) from None
    store = SkillStore(engine)
    model = load_model(settings.model) if settings.model else None
    surfaces = Surfaces()
    async with contextlib.AsyncExitStack() as stack:
        connections = Connections(surfaces)
        if settings.uses_accounts:
            connections.accounts = connect_accounts(
                settings, ConnectionStore(engine, TokenCipher.from_environment()), connections.confirm)
            workspace: DemoWorkspace | AccountWorkspace = AccountWorkspace(connections.accounts)
        else:
            emulator_url = settings.emulator_url
            if not emulator_url:
                emulator_url = stack.enter_context(EmulatorServer()).url
                log.info("demo workspace: built-in emulator at %s", emulator_url)
            workspace = DemoWorkspace(emulator_url, gmail_mcp_url=settings.gmail_mcp_endpoint(emulator_url))
        registry = MeteredRegistry(registry or default_registry())
        pool = WorkerPool(limits=sandbox_limits(settings)) if settings.sandbox == "pool" else None
        if pool is not None:
            await pool.start()
            stack.push_async_callback(pool.close)
        mcp = await _open_mcp(settings, engine, registry, connections)
        stack.push_async_callback(mcp.aclose)
        bridge = ToolBridge(registry, workspace, backend=settings.sandbox, pool=pool, mcp=mcp,
                            mcp_store=McpServerStore(engine, cipher_or_none()))
        subagents = SubAgents(model) if model is not None else None
        sessions = ThreadSessions(bridge, subagents.host_functions if subagents else None)
        jobs = await stack.enter_async_context(open_jobs(settings))
        runner = SkillRunner(store, bridge)
        jobs.on_interrupted(RUN_JOB, SkillRunRecovery(store, surfaces))
        scheduler = QueuedScheduler(store, runner, jobs, surfaces, poll_seconds=settings.schedule_poll,
                                    worker_id=jobs.name)
        async with open_checkpointer(settings) as checkpointer:
            graph = None
            if model is not None:
                deps = AgentDeps(model, registry, sessions, store, runner, subagents,
                                 exec_timeout=settings.exec_timeout)
                graph = build_graph(deps, checkpointer)
            tokens = TokenCommands(PersonalTokens(engine), settings.public_url)
            try:
                yield CodeMem(Conversations(graph, store, jobs, surfaces), Skills(store, runner, jobs, surfaces, tokens),
                              connections, surfaces, jobs, workspace, store, scheduler, engine)
            finally:
                await scheduler.stop()
                if isinstance(jobs, InProcessJobs):
                    await jobs.drain()
                await sessions.close_all()


async def _open_mcp(settings: Settings, engine: Engine, registry: MeteredRegistry,
                    connections: Connections) -> McpTools:
    """The MCP servers' tools in `registry` (each server that answers is listed now; OAuth servers when a user
    first searches), and `/connect NAME` for the OAuth servers; a configuration that cannot work stops the
    start with a SettingsError saying why."""
    try:
        entries = await asyncio.to_thread(all_servers, settings.mcp_servers, engine, cipher_or_none())
    except (McpConfigError, ValueError) as error:
        raise SettingsError(str(error)) from None
    oauth_servers = [OAuthServer(e.server.name, e.server.url) for e in entries if e.server.auth == "oauth"]
    if oauth_servers:   # each user connects their own account: tokens kept encrypted, so the keys must be set
        connections.mcp = McpOAuth(ConnectionStore(engine, TokenCipher.from_environment()), lambda: oauth_servers,
                                   redirect_base=settings.public_url, owner_of=owner_from_key,
                                   ca_certs=settings.ca_certs, on_connected=connections.confirm)
    mcp = build_mcp_tools(entries, registry, oauth=connections.mcp,   # type: ignore[arg-type]
                          timeout=settings.mcp_timeout)
    await mcp.refresh()
    for name, problem in mcp.problems.items():
        log.warning("MCP server %s: %s", name, problem)
    return mcp


def _ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@contextlib.asynccontextmanager
async def open_jobs(settings: Settings) -> AsyncIterator[Jobs]:
    """The job engine CODEMEM_JOBS names. With local sandboxes a thread's jobs stick to the worker holding
    its session; with E2B any worker takes any job."""
    if settings.jobs == "inprocess":
        yield InProcessJobs()
        return
    from bot.runtime.procrastinate_jobs import ProcrastinateJobs   # the `postgres` extra, checked by open_codemem

    jobs = ProcrastinateJobs(settings.postgres_dsn, affinity=settings.sandbox != "e2b",
                             heartbeat=settings.worker_heartbeat, stalled_after=settings.worker_stalled_after,
                             poll=settings.worker_poll)
    await jobs.open()
    try:
        yield jobs
    finally:
        await jobs.close()


def sandbox_limits(settings: Settings) -> ResourceLimits:
    """Each local worker's limits: its control group's memory (swap included), process count and CPU quota."""
    return ResourceLimits(memory_bytes=settings.sandbox_memory_mb * 1024**2, processes=settings.sandbox_processes,
                          cpus=settings.sandbox_cpus)
