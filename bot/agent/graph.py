"""The agent graph: a model node, a meta-tool node and two question nodes, checkpointed at every step.

    agent ──tool calls──▶ tools ──ask_user?──▶ ask (interrupt: waits for the user) ──▶ agent
      │                     ├──a call needs the person?──▶ elicit (interrupt, once per question) ──▶ agent
      │                     └──────────────────────────────────────────────────────▶ agent
      └──no tool calls──▶ END

`elicit` asks a question that a tool call could not go on without (an MCP server's `input_required` or
elicitation, or the host's confirmation of a destructive call): the host words it from the server's own
message and choices, not the model. The answer is kept by call (function and arguments) and sent with that
same call when the model makes it again.

The question lives in its own node because LangGraph re-runs an interrupted node from its start when
it resumes: keeping `interrupt()` first in a node of its own means resuming never repeats code that
already ran. The model node retries transient provider errors with backoff.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy, interrupt
from pydantic import ValidationError

from bot.agent.compaction import compact
from bot.agent.handlers import AgentDeps, MetaTools, plan_reminder
from bot.agent.meta_tools import AskUser, tool_definitions
from bot.agent.state import AgentState
from bot.agent.transient import is_transient
from bot.runtime.bridge import GRANTABLE_EFFECTS
from integrations.mcp.input_required import CONFIRM_KEY, InputQuestion

SYSTEM_PROMPT = files("bot.agent").joinpath("prompts/system.md").read_text(encoding="utf-8")
CONTEXT_BUDGET_TOKENS = 24_000


def build_graph(deps: AgentDeps, checkpointer: Any, *, retry_interval: float = 1.0) -> Any:
    """Compile the agent graph with `checkpointer` saving every step."""
    model = deps.model.bind_tools(tool_definitions())
    meta_tools = MetaTools(deps)

    async def agent(state: AgentState) -> dict:
        get_stream_writer()({"type": "status", "text": "Thinking…"})
        compacted = {m.id: m for m in compact(state["messages"], CONTEXT_BUDGET_TOKENS)}
        history = [compacted.get(m.id, m) for m in state["messages"]]
        prompt = SystemMessage(SYSTEM_PROMPT + plan_reminder(state.get("todos") or []))
        response = await model.ainvoke([prompt, *history])
        usage = response.usage_metadata or {}
        return {"messages": [*compacted.values(), response],
                "usage": {"input_tokens": usage.get("input_tokens", 0),
                          "output_tokens": usage.get("output_tokens", 0)}}

    async def tools(state: AgentState, config: RunnableConfig) -> dict:
        calls = [call for call in _last_ai(state).tool_calls if call["name"] != "ask_user"]
        return await meta_tools.run(state, calls, config["configurable"]["thread_id"])

    async def ask(state: AgentState, config: RunnableConfig) -> dict:
        first, *others = [call for call in _last_ai(state).tool_calls if call["name"] == "ask_user"]
        later = [ToolMessage("Not asked: ask one question at a time.", tool_call_id=c["id"], name="ask_user")
                 for c in others]
        if config["configurable"].get("parent_thread"):
            return {"messages": [ToolMessage("A sub-agent cannot ask the user: decide, or submit what is unclear.",
                                             tool_call_id=first["id"], name="ask_user"), *later]}
        try:
            question = AskUser.model_validate(first["args"])
        except ValidationError as error:
            return {"messages": [ToolMessage(f"Error: {error}", tool_call_id=first["id"], name="ask_user"), *later]}
        choices = question.choices or (["Allow", "Deny"] if question.grant_writes else [])
        answer = str(interrupt({"question": question.question, "choices": choices}))
        update: dict[str, Any] = {}
        text = f"The user answered: {answer}"
        if question.grant_writes and choices and answer.strip().lower() == choices[0].strip().lower():
            update["grants"] = sorted(set(state.get("grants") or []) | GRANTABLE_EFFECTS)
            text += "\nWrite access is granted for the rest of this conversation."
        update["messages"] = [ToolMessage(text, tool_call_id=first["id"], name="ask_user"), *later]
        return update

    async def elicit(state: AgentState, config: RunnableConfig) -> dict:
        request = state["input_request"] or {}
        question, *rest = [InputQuestion.from_json(q) for q in request["questions"]]
        if config["configurable"].get("parent_thread"):
            return {"input_request": None, "messages": [HumanMessage(
                f"A sub-agent cannot ask the person, so {request['function']} cannot go on: it needs an answer to "
                f"{question.message!r}. Submit what is unclear.")]}
        where = "Before this destructive call" if question.key == CONFIRM_KEY else f"The {request['server']} server asks"
        payload: dict[str, Any] = {"question": f"{where}: {question.message}" + (f"\n{question.url}" if question.url
                                                                                 else ""),
                                   "choices": list(question.choices)}
        if question.url:
            payload["url"] = question.url
        answer = str(interrupt(payload))
        answers = dict(state.get("mcp_answers") or {})
        entry = dict(answers.get(request["call_key"]) or {})
        entry["responses"] = {**(entry.get("responses") or {}), question.key: question.response(answer)}
        if request.get("request_state"):
            entry["request_state"] = request["request_state"]
        answers[request["call_key"]] = entry
        then = ("There are more questions for this call." if rest else
                f"Make the same call of {request['function']} again, with the same arguments, to go on.")
        note = HumanMessage(f"(Answer to the question of {request['function']}: {question.message!r}) {answer}\n{then}")
        return {"mcp_answers": answers, "input_request": {**request, "questions": [q.to_json() for q in rest]}
                if rest else None, "messages": [note]}

    graph = StateGraph(AgentState)
    graph.add_node("agent", agent, retry_policy=RetryPolicy(initial_interval=retry_interval, max_attempts=3,
                                                            retry_on=is_transient))
    graph.add_node("tools", tools)
    graph.add_node("ask", ask)
    graph.add_node("elicit", elicit)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", lambda s: "tools" if _last_ai(s).tool_calls else END, ["tools", END])
    graph.add_conditional_edges("tools", _after_tools, ["ask", "elicit", "agent"])
    graph.add_edge("ask", "agent")
    graph.add_conditional_edges("elicit", lambda s: "elicit" if s.get("input_request") else "agent",
                                ["elicit", "agent"])
    compiled = graph.compile(checkpointer=checkpointer)
    if deps.subagents is not None:
        deps.subagents.attach(compiled, deps.sessions)
    return compiled


def _after_tools(state: AgentState) -> str:
    if any(call["name"] == "ask_user" for call in _last_ai(state).tool_calls):
        return "ask"
    return "elicit" if state.get("input_request") else "agent"


def _last_ai(state: AgentState) -> AIMessage:
    return next(m for m in reversed(state["messages"]) if isinstance(m, AIMessage))
