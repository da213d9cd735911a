"""What each meta-tool does (all but ask_user, which is the graph's question node)."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import ToolMessage
from langgraph.config import get_stream_writer
from pydantic import ValidationError

from bot.agent.meta_tools import SCHEMAS
from bot.agent.sessions import ThreadSessions
from bot.agent.state import add_usage
from bot.agent.skill_code import defines_run, skill_source
from bot.agent.subagents import SubAgents
from bot.runtime.bridge import ToolBridge, owner_key
from bot.runtime.skill_runner import SkillRunner
from integrations.errors import ToolError
from integrations.registry import Registry
from integrations.tool_search import SearchIndex
from skills_db.errors import SkillStoreError
from skills_db.models import Owner
from skills_db.params import ArgumentError, SkillCodeError, argument_text, extract_parameters
from skills_db.store import SkillStore

SKILL_PREFIX = "skill:"
USER_ERRORS = (ValidationError, ToolError, SkillCodeError, SkillStoreError, ArgumentError)


@dataclass
class AgentDeps:
    """What the meta-tools act on."""

    model: Any
    registry: Registry
    sessions: ThreadSessions
    skills: SkillStore
    runner: SkillRunner
    subagents: SubAgents | None = None
    exec_timeout: float = 120.0

    @property
    def bridge(self) -> ToolBridge:
        return self.sessions.bridge


Outcome = tuple[str, dict[str, Any]]   # the observation for the model, and the state changes


class MetaTools:
    """Runs the meta-tool calls of one assistant turn, in order, each seeing the changes of the ones before."""

    def __init__(self, deps: AgentDeps) -> None:
        self.deps = deps

    async def run(self, state: dict, tool_calls: list[dict], thread_id: str) -> dict:
        update: dict[str, Any] = {"messages": []}
        for call in tool_calls:
            current = {**state, **{k: v for k, v in update.items() if k not in ("messages", "usage")}}
            try:
                text, changes = await self._dispatch(call, current, thread_id)
            except USER_ERRORS as error:
                text, changes = f"Error: {error}", {}
            update.update(changes)
            if self.deps.subagents is not None:   # tokens of llm() calls and sub-agents count as the thread's
                usage = add_usage(update.get("usage"), self.deps.subagents.take_usage(thread_id))
                if usage:
                    update["usage"] = usage
            update["messages"].append(ToolMessage(text, tool_call_id=call["id"], name=call["name"]))
        return update

    async def _dispatch(self, call: dict, state: dict, thread_id: str) -> Outcome:
        name = call["name"]
        if name not in SCHEMAS:
            return f"Error: there is no tool named {name}. Use one of: {', '.join(SCHEMAS)}.", {}
        args = SCHEMAS[name].model_validate(call["args"])
        return await getattr(self, f"_{name}")(args, state, thread_id)

    async def _search_functions(self, args: Any, state: dict, thread_id: str) -> Outcome:
        _status(f"Looking for functions: {args.query}")
        await self._refresh_mcp(state)
        lines = [f"{SKILL_PREFIX}{skill.name}: {skill.description} (a saved skill: use run_skill)"
                 for skill in self._matching_skills(Owner(**state["requester"]), args.query)]
        lines += [f"{spec.name}: {spec.summary}" for spec in self.deps.registry.search(args.query)]
        return "\n".join(lines) or "Nothing matches. Try other words.", {}

    def _matching_skills(self, owner: Owner, query: str, limit: int = 3) -> list[Any]:
        skills = [s for s in self.deps.skills.list_skills(owner) if s.status == "active"]
        index = SearchIndex([f"{s.name.replace('_', ' ')} {s.description}" for s in skills])
        return [skills[i] for i in index.rank(query, limit)]

    async def _load_functions(self, args: Any, state: dict, thread_id: str) -> Outcome:
        _status(f"Loading {', '.join(args.names)}")
        await self._refresh_mcp(state)
        description = self.deps.registry.describe(args.names)   # a clear ToolError for an unknown name
        return description, {"loaded": sorted(set(state.get("loaded") or []) | set(args.names))}

    async def _refresh_mcp(self, state: dict) -> None:
        """MCP servers' tools whose listing went stale are listed again (with the requester's token)."""
        mcp = self.deps.bridge.mcp
        if mcp is not None and mcp.clients:
            await mcp.refresh(owner_key(Owner(**state["requester"])))

    async def _write_todos(self, args: Any, state: dict, thread_id: str) -> Outcome:
        todos = [todo.model_dump() for todo in args.todos]
        get_stream_writer()({"type": "todos", "todos": todos})
        return "Plan updated.", {"todos": todos}

    async def _execute_code(self, args: Any, state: dict, thread_id: str) -> Outcome:
        _status("Running code…")
        owner = Owner(**state["requester"])
        trials = state.get("trials") or []
        answers = state.get("mcp_answers") or {}
        session, fresh = await self.deps.sessions.get(thread_id, owner, state.get("loaded") or [],
                                                      state.get("grants") or [], answers)
        if fresh and state.get("seed"):
            await session.session.exec(_seed_code(state["seed"]), timeout=self.deps.exec_timeout)
        result = await session.session.exec(args.code, timeout=self.deps.exec_timeout)
        ok = result.error is None and not result.timed_out
        trial = {"code": args.code, "ok": ok, "tools": sorted({c.name for c in result.tool_calls if c.ok})}
        changes: dict[str, Any] = {"trials": [*trials, trial]}
        if result.has_submission:
            changes["result"] = {**(state.get("result") or {}), "data": result.submitted}
        pending, used = session.take_input_state()
        if used:
            changes["mcp_answers"] = {key: answer for key, answer in answers.items() if key not in used}
        if pending is not None:
            changes["input_request"] = pending.to_json()
        observation = result.observation()
        if fresh and trials:
            observation = ("Note: this conversation's sandbox was started afresh (the bot restarted); variables "
                           "from earlier code blocks are gone.\n" + observation)
        if not ok:
            observation += "\n" + _plan_text(state.get("todos") or [])
        return observation, changes

    async def _run_skill(self, args: Any, state: dict, thread_id: str) -> Outcome:
        name = args.name.removeprefix(SKILL_PREFIX)
        # The runner authorizes (own or shared skills only) and types the arguments, as for /skill run.
        prepared = self.deps.runner.prepare(Owner(**state["requester"]), name=name, trigger="agent",
                                            arguments={k: argument_text(v) for k, v in args.arguments.items()})
        _status(f"Running the skill {name}…")
        outcome = await self.deps.runner.start(prepared)
        run = outcome.run
        if not outcome.succeeded:
            return f"The skill {name} failed: {outcome.failure}", {}
        text = (f"The skill {name} v{run.version} succeeded. Result: {_short(run.result)}\n"
                f"Logs: {_short(run.logs)}")
        return text, {"result": {**(state.get("result") or {}), "data": run.result}}

    async def _submit(self, args: Any, state: dict, thread_id: str) -> Outcome:
        return "Submitted.", {"result": {**(state.get("result") or {}), "text": args.text}}

    async def _propose_skill(self, args: Any, state: dict, thread_id: str) -> Outcome:
        _status("Checking the skill with a dry run…")
        owner = Owner(**state["requester"])
        code, tools = self._skill_code(args, state.get("trials") or [])
        extract_parameters(code)   # a clear SkillCodeError before anything runs
        preview = await self._dry_run(owner, code, tools)
        if preview.error or preview.timed_out:
            return (f"Error: the skill failed its dry run, so it was not offered: {preview.error or 'timed out'}\n"
                    "Fix the code and propose it again."), {}
        existing = next((s for s in self.deps.skills.list_skills(owner) if s.name == args.name), None)
        if existing is None:
            skill = self.deps.skills.create_draft(owner=owner, name=args.name, description=args.description,
                                                  code=code, tools=tools, source_thread=thread_id)
            version = self.deps.skills.get_version(skill.id, viewer=owner)
            diff = ""
        else:
            skill = existing
            before = self.deps.skills.get_version(skill.id, viewer=owner)
            version = self.deps.skills.add_version(skill.id, by=owner, code=code, tools=tools)
            diff = "".join(difflib.unified_diff(before.code.splitlines(True), code.splitlines(True),
                                                f"{skill.name} v{before.version}", f"{skill.name} v{version.version}"))
        await self.deps.bridge.pin_tools(skill.id, version.version, version.tools)
        writes = [c.name for c in preview.tool_calls if self.deps.registry.get(c.name).effect != "read"]
        proposal = {"skill_id": skill.id, "name": skill.name, "version": version.version,
                    "description": args.description, "parameters": version.parameters, "tools": version.tools,
                    "diff": diff, "dry_run_writes": len(writes)}
        return (f"Proposed {skill.name} v{version.version} (parameters: "
                f"{', '.join(p['name'] for p in version.parameters) or 'none'}; the dry run would make "
                f"{len(writes)} write call(s)). The user can now save it."), {"proposal": proposal}

    def _skill_code(self, args: Any, trials: list[dict]) -> tuple[str, list[str]]:
        if args.code:
            return skill_source(args.code), sorted({t for trial in trials if trial["ok"] for t in trial["tools"]})
        trial = next((t for t in reversed(trials) if t["ok"] and defines_run(t["code"])), None)
        if trial is None:
            raise SkillCodeError("no successful execute_code block defines `async def run(...)`: run the code "
                                 "once first, or pass `code`.")
        return skill_source(trial["code"]), trial["tools"]

    async def _dry_run(self, owner: Owner, code: str, tools: list[str]) -> Any:
        session = await self.deps.bridge.open(owner, tools, dry_run=True)
        try:
            defined = await session.session.exec(code, timeout=self.deps.exec_timeout)
            return defined if defined.error else await session.session.exec("await run()",
                                                                             timeout=self.deps.exec_timeout)
        finally:
            await session.close()


def plan_reminder(todos: list[dict[str, str]]) -> str:
    """The plan, appended to the system prompt on every model call so it survives long errors."""
    return f"\n\n{_plan_text(todos)}" if todos else ""


def _plan_text(todos: list[dict[str, str]]) -> str:
    if not todos:
        return ""
    marks = {"done": "x", "in_progress": "~", "pending": " "}
    return "Your current plan:\n" + "\n".join(f"- [{marks[t['status']]}] {t['content']}" for t in todos)


def _status(text: str) -> None:
    get_stream_writer()({"type": "status", "text": text})


def _seed_code(objects: dict[str, Any]) -> str:
    """Python that sets a sub-agent's objects as variables, from a JSON copy."""
    return "import json as _json\n" + "\n".join(
        f"{name} = _json.loads({json.dumps(value)!r})" for name, value in objects.items() if name.isidentifier())


def _short(value: Any, limit: int = 1500) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"
