"""Functions the agent's code can call besides the workspace: `spawn_agent` and `llm`.

`spawn_agent(task, **objects)` runs a sub-agent with its own loop, thread and sandbox; the objects reach
its scope as JSON copies, so nothing is shared by accident, and several run at once with
`asyncio.gather`. `llm(prompt, schema=None)` asks the model a small question from inside code.
The tokens both spend are the calling thread's: `take_usage` hands them to its state after each code block.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage

from bot.agent.state import add_usage
from bot.runtime.bridge import HostFunction
from integrations.errors import ToolError
from skills_db.models import Owner

SPAWN_DOC = ("Start a sub-agent on `task` and wait for its result. Keyword arguments become variables in "
             "its sandbox (as JSON copies). Run several at once with asyncio.gather. The sub-agent cannot "
             "ask the user questions.")
LLM_DOC = ("Ask the model a small question (extract, classify, summarise) and get its answer: text, or "
           "JSON data when `schema` (a JSON schema) is given. Answers may vary between runs.")


class SubAgents:
    """Builds the host functions of a thread's sandbox; `attach` gives it the compiled graph to run."""

    def __init__(self, model: BaseChatModel) -> None:
        self.model = model
        self.graph: Any = None
        self.sessions: Any = None
        self._spent: dict[str, dict[str, int]] = {}   # tokens spent from inside code, by calling thread

    def attach(self, graph: Any, sessions: Any) -> None:
        """Sub-agents are runs of `graph`; their sandboxes live in `sessions` until they finish."""
        self.graph, self.sessions = graph, sessions

    def take_usage(self, thread_id: str) -> dict[str, int]:
        """The tokens that `llm()` calls and sub-agents spent for `thread_id` since the last call, and forget them."""
        return self._spent.pop(thread_id, {})

    def _spend(self, thread_id: str, usage: dict[str, int] | None) -> None:
        if usage:
            self._spent[thread_id] = add_usage(self._spent.get(thread_id), usage)

    def host_functions(self, thread_id: str, owner: Owner, grants: Callable[[], list[str]]) -> list[HostFunction]:
        async def spawn_agent(task: str, objects: dict[str, Any] | None = None) -> Any:
            # A fresh context: the sub-agent is a run of its own, not a step of the caller's run.
            run = self._run_subagent(thread_id, owner, grants(), task, objects or {})
            return await asyncio.create_task(run, context=contextvars.Context())

        async def llm(prompt: str, schema: dict[str, Any] | None = None) -> Any:
            return await self._ask_model(thread_id, prompt, schema)

        return [HostFunction("spawn_agent", "async def spawn_agent(task: str, **objects: Any) -> Any",
                             SPAWN_DOC, spawn_agent),
                HostFunction("llm", "async def llm(prompt: str, schema: dict | None = None) -> Any", LLM_DOC, llm)]

    async def _run_subagent(self, parent: str, owner: Owner, grants: list[str], task: str,
                            objects: dict[str, Any]) -> Any:
        thread_id = f"{parent}/sub-{secrets.token_hex(4)}"
        names = ", ".join(sorted(objects)) or "none"
        message = f"{task}\n\n(Variables already in your sandbox: {names}. Submit your result with submit().)"
        config = {"configurable": {"thread_id": thread_id, "parent_thread": parent}, "recursion_limit": 60}
        try:
            state = await self.graph.ainvoke({"messages": [HumanMessage(message)], "requester": asdict(owner),
                                              "grants": grants, "seed": objects}, config)
        finally:
            await self.sessions.close(thread_id)
            # Its own model calls and, through its code blocks, those of its llm() calls and sub-agents.
            self._spend(parent, (await self.graph.aget_state(config)).values.get("usage"))
        result = state.get("result") or {}
        if "data" in result:
            return result["data"]
        if "text" in result:
            return result["text"]
        raise ToolError(f"the sub-agent for {task[:60]!r} finished without submitting a result")

    async def _ask_model(self, thread_id: str, prompt: str, schema: dict[str, Any] | None) -> Any:
        if schema is not None:
            prompt += f"\n\nAnswer with JSON only, matching this JSON schema:\n{json.dumps(schema)}"
        response = await self.model.ainvoke([HumanMessage(prompt)])
        usage = response.usage_metadata or {}
        self._spend(thread_id, {"input_tokens": usage.get("input_tokens", 0),
                                "output_tokens": usage.get("output_tokens", 0)})
        answer = response.text
        if schema is None:
            return answer
        try:
            return json.loads(answer.strip().removeprefix("```json").removesuffix("```"))
        except json.JSONDecodeError as error:
            raise ToolError(f"the model did not answer with JSON ({error}); ask again more simply") from error
