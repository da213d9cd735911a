"""The typed state of a conversation's graph, checkpointed after every step."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


def add_usage(total: dict[str, int] | None, more: dict[str, int] | None) -> dict[str, int]:
    """Token counts add up across model calls."""
    total, more = total or {}, more or {}
    return {key: total.get(key, 0) + more.get(key, 0) for key in {*total, *more}}


class AgentState(TypedDict, total=False):
    """What a conversation keeps between steps and across restarts. The sandbox session itself is not
    state (a process cannot be checkpointed): `trials` records what ran, so a lost session is said."""

    messages: Annotated[list[AnyMessage], add_messages]
    requester: dict[str, str]            # the Owner fields of the user who asked
    todos: list[dict[str, str]]          # the plan checklist, kept outside the chat history
    loaded: list[str]                    # functions loaded into the sandbox
    grants: list[str]                    # effects (write, send) the user allowed in this thread
    trials: list[dict[str, Any]]         # executed code blocks: code, ok, tools called
    result: dict[str, Any] | None        # the answer: {"text": ..., "data": ...}
    proposal: dict[str, Any] | None      # the skill (version) offered to the user
    usage: Annotated[dict[str, int], add_usage]   # input/output tokens of every model call
    seed: dict[str, Any]                 # a sub-agent's objects, set as variables in its fresh sandbox
    input_request: dict[str, Any] | None  # a call's questions for the person (InputRequired.to_json), being asked
    mcp_answers: dict[str, dict[str, Any]]   # the person's answers, by call key, for the call's next attempt
