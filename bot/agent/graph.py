"""The agent graph: a model node, a meta-tool node and a question node, checkpointed at every step.

    agent ──tool calls──▶ tools ──ask_user?──▶ ask (interrupt: waits for the user) ──▶ agent
      │                     └──────────────────────────────────────────────────────▶ agent
      └──no tool calls──▶ END

The question lives in its own node because LangGraph re-runs an interrupted node from its start when
it resumes: keeping `interrupt()` first in a node of its own means resuming never repeats code that
already ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from typing import Annotated, Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt
from pydantic import ValidationError

from bot.agent.meta_tools import SCHEMAS, tool_definitions
from bot.agent.sessions import ThreadSessions
from bot.agent.skill_code import defines_run, skill_source
from integrations.errors import ToolError
from integrations.registry import Registry
from skills_db.models import Owner
from skills_db.params import SkillCodeError
from skills_db.errors import SkillStoreError
from skills_db.store import SkillStore

SYSTEM_PROMPT = files("bot.agent").joinpath("prompts/system.md").read_text(encoding="utf-8")


class AgentState(TypedDict, total=False):
    """What a conversation's graph keeps between steps (and across restarts)."""

    messages: Annotated[list[AnyMessage], add_messages]
    requester: dict[str, str]          # the Owner fields of the user who asked
    todos: list[dict[str, str]]
    loaded: list[str]
    trials: list[dict[str, Any]]       # executed code blocks: code, ok, tools called
    result: dict[str, Any] | None      # {"text": ..., "data": ...}
    proposal: dict[str, Any] | None    # the draft skill offered to the user


@dataclass
class AgentDeps:
    """What the meta-tools act on."""

    model: BaseChatModel
    registry: Registry
    sessions: ThreadSessions
    skills: SkillStore
    exec_timeout: float = 120.0


def build_graph(deps: AgentDeps, checkpointer: Any) -> Any:
    """Compile the agent graph with `checkpointer` saving every step."""
    model = deps.model.bind_tools(tool_definitions())
    tools = MetaTools(deps)

    async def agent(state: AgentState) -> dict:
        get_stream_writer()({"type": "status", "text": "Thinking…"})
        prompt = SystemMessage(SYSTEM_PROMPT + _plan_reminder(state.get("todos") or []))
        return {"messages": [await model.ainvoke([prompt, *state["messages"]])]}

    async def run_tools(state: AgentState, config: RunnableConfig) -> dict:
        return await tools.run(state, config["configurable"]["thread_id"])

    async def ask(state: AgentState) -> dict:
        call = next(call for call in _last_ai(state).tool_calls if call["name"] == "ask_user")
        question = _parse(call)
        answer = interrupt({"question": question.question, "choices": question.choices or []})
        return {"messages": [ToolMessage(f"The user answered: {answer}", tool_call_id=call["id"])]}

    graph = StateGraph(AgentState)
    graph.add_node("agent", agent)
    graph.add_node("tools", run_tools)
    graph.add_node("ask", ask)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", lambda s: "tools" if _last_ai(s).tool_calls else END, ["tools", END])
    graph.add_conditional_edges("tools", _after_tools, ["ask", "agent"])
    graph.add_edge("ask", "agent")
    return graph.compile(checkpointer=checkpointer)


def _after_tools(state: AgentState) -> str:
    asked = any(call["name"] == "ask_user" for call in _last_ai(state).tool_calls)
    return "ask" if asked else "agent"


def _last_ai(state: AgentState) -> AIMessage:
    return next(m for m in reversed(state["messages"]) if isinstance(m, AIMessage))


def _parse(call: dict) -> Any:
    return SCHEMAS[call["name"]].model_validate(call["args"])


def _plan_reminder(todos: list[dict[str, str]]) -> str:
    if not todos:
        return ""
    marks = {"done": "x", "in_progress": "~", "pending": " "}
    lines = "\n".join(f"- [{marks[t['status']]}] {t['content']}" for t in todos)
    return f"\n\nYour current plan:\n{lines}"


class MetaTools:
    """Runs the meta-tool calls of one assistant turn (all but ask_user, which has its own node)."""

    def __init__(self, deps: AgentDeps) -> None:
        self.deps = deps

    async def run(self, state: AgentState, thread_id: str) -> dict:
        update: dict[str, Any] = {"messages": []}
        for call in _last_ai(state).tool_calls:
            if call["name"] == "ask_user":
                continue
            current = {**state, **{k: v for k, v in update.items() if k != "messages"}}
            try:
                text, changes = await self._dispatch(call, current, thread_id)
            except (ValidationError, ToolError, SkillCodeError, SkillStoreError) as error:
                text, changes = f"Error: {error}", {}
            update.update(changes)
            update["messages"].append(ToolMessage(text, tool_call_id=call["id"]))
        return update

    async def _dispatch(self, call: dict, state: AgentState, thread_id: str) -> tuple[str, dict]:
        name = call["name"]
        if name not in SCHEMAS:
            return f"Error: there is no tool named {name}. Use one of: {', '.join(SCHEMAS)}.", {}
        args = _parse(call)
        handler = getattr(self, f"_{name}")
        return await handler(args, state, thread_id)

    async def _search_functions(self, args: Any, state: AgentState, thread_id: str) -> tuple[str, dict]:
        _status(f"Looking for functions: {args.query}")
        found = self.deps.registry.search(args.query)
        if not found:
            return "No function matches. Try other words.", {}
        return "\n".join(f"{spec.name}: {spec.summary}" for spec in found), {}

    async def _load_functions(self, args: Any, state: AgentState, thread_id: str) -> tuple[str, dict]:
        _status(f"Loading {', '.join(args.names)}")
        description = self.deps.registry.describe(args.names)   # raises ToolError for an unknown name
        loaded = sorted(set(state.get("loaded") or []) | set(args.names))
        return description, {"loaded": loaded}

    async def _write_todos(self, args: Any, state: AgentState, thread_id: str) -> tuple[str, dict]:
        todos = [todo.model_dump() for todo in args.todos]
        get_stream_writer()({"type": "todos", "todos": todos})
        return "Plan updated.", {"todos": todos}

    async def _execute_code(self, args: Any, state: AgentState, thread_id: str) -> tuple[str, dict]:
        _status("Running code…")
        owner = Owner(**state["requester"])
        session = await self.deps.sessions.get(thread_id, owner, state.get("loaded") or [])
        result = await session.session.exec(args.code, timeout=self.deps.exec_timeout)
        ok = result.error is None and not result.timed_out
        trial = {"code": args.code, "ok": ok, "tools": sorted({c.name for c in result.tool_calls if c.ok})}
        changes: dict[str, Any] = {"trials": [*(state.get("trials") or []), trial]}
        if result.has_submission:
            changes["result"] = {**(state.get("result") or {}), "data": result.submitted}
        return result.observation(), changes

    async def _submit(self, args: Any, state: AgentState, thread_id: str) -> tuple[str, dict]:
        return "Submitted.", {"result": {**(state.get("result") or {}), "text": args.text}}

    async def _propose_skill(self, args: Any, state: AgentState, thread_id: str) -> tuple[str, dict]:
        _status("Preparing a skill…")
        trials = state.get("trials") or []
        if args.code:
            code, tools = args.code, sorted({t for trial in trials if trial["ok"] for t in trial["tools"]})
        else:
            trial = next((t for t in reversed(trials) if t["ok"] and defines_run(t["code"])), None)
            if trial is None:
                return ("Error: no successful execute_code block defines `async def run(...)`. "
                        "Run the code once first, or pass `code`."), {}
            code, tools = trial["code"], trial["tools"]
        owner = Owner(**state["requester"])
        skill = self.deps.skills.create_draft(
            owner=owner, name=args.name, description=args.description,
            code=skill_source(code), tools=tools, source_thread=thread_id)
        version = self.deps.skills.get_version(skill.id, viewer=owner)
        proposal = {"skill_id": skill.id, "name": skill.name, "description": skill.description,
                    "parameters": version.parameters, "tools": version.tools}
        return (f"Proposed skill {skill.name} with parameters "
                f"{', '.join(p['name'] for p in version.parameters) or 'none'}; the user can save it."), {"proposal": proposal}


def _status(text: str) -> None:
    get_stream_writer()({"type": "status", "text": text})
