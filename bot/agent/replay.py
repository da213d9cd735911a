"""A chat model that replays scripted assistant turns: the model used by tests and demos.

A replay file is YAML (JSON is valid YAML) with a list of turns::

    turns:
      - content: "Let me find the functions I need."
        tool_calls:
          - name: search_functions
            args: {query: "outlook attachments onedrive upload"}
      - content: "All done."

Turn *n* answers the model call that sees *n* earlier assistant messages in the thread, so a replay
resumes at the right turn after a restart and each thread is independent. Sub-agents and `llm()` calls
from code get scripts of their own, chosen by a regular expression searched in their first message::

    scripts:
      - match: "Summarise the mail from"
        turns:
          - content: "..."
 A call past the last turn
raises `ReplayExhausted`, which is how tests prove that a skill rerun never reached the model.

A turn may stand for a failing provider instead: ``error: {status: 529, message: overloaded, times: 1}``
fails the first `times` calls for that turn (counted per process) with `ReplayModelError`, then answers
with the turn's content and tool calls.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr


class ReplayExhausted(RuntimeError):
    """The model was called more often than the replay file has turns."""


class ReplayModelError(RuntimeError):
    """A scripted provider failure, with the HTTP status a provider would have answered."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class ReplayChatModel(BaseChatModel):
    """Replays the assistant turns of a file; see the module docstring for the format."""

    path: Path
    _turns: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _failures: dict[tuple[int, int], int] = PrivateAttr(default_factory=dict)
    _tools: list[Any] = PrivateAttr(default_factory=list)
    _scripts: list[tuple[re.Pattern, list[dict[str, Any]]]] = PrivateAttr(default_factory=list)

    def model_post_init(self, context: Any) -> None:
        data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        turns = data.get("turns") if isinstance(data, dict) else None
        if not isinstance(turns, list):
            raise ValueError(f"{self.path}: a replay file needs a top-level 'turns:' list")
        self._turns = turns
        self._scripts = [(re.compile(script["match"]), script["turns"]) for script in data.get("scripts") or []]

    def _script_for(self, messages: list[BaseMessage]) -> list[dict[str, Any]]:
        first = next((m.text for m in messages if isinstance(m, HumanMessage)), "")
        return next((turns for pattern, turns in self._scripts if pattern.search(first)), self._turns)

    @property
    def _llm_type(self) -> str:
        return "replay"

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ReplayChatModel":
        """Scripted turns name their tools themselves; the tools only count towards the prompt's tokens."""
        bound = self.model_copy()
        bound._tools = list(tools)
        bound._failures = self._failures
        return bound

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        turns = self._script_for(messages)
        index = sum(isinstance(message, AIMessage) for message in messages)
        if index >= len(turns):
            raise ReplayExhausted(f"the replay file {self.path.name} has no turn {index + 1} "
                                  f"(its script has {len(turns)})")
        turn = turns[index]
        error, key = turn.get("error"), (id(turns), index)
        if error and self._failures.get(key, 0) < error.get("times", 1):
            self._failures[key] = self._failures.get(key, 0) + 1
            raise ReplayModelError(error.get("message", "the model failed"), error.get("status", 500))
        tool_calls = [{"name": call["name"], "args": call.get("args") or {}, "id": f"call_{index}_{n}",
                       "type": "tool_call"} for n, call in enumerate(turn.get("tool_calls") or [])]
        prompt_tokens = count_tokens_approximately(messages, tools=self._tools or None)
        completion_tokens = count_tokens_approximately([AIMessage(content=turn.get("content", ""),
                                                                  tool_calls=tool_calls)])
        message = AIMessage(content=turn.get("content", ""), tool_calls=tool_calls, usage_metadata={
            "input_tokens": prompt_tokens, "output_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens})
        return ChatResult(generations=[ChatGeneration(message=message)])
