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

A call past the last turn raises `ReplayExhausted` (the scripted demo is over), which is how tests prove that
a skill rerun never reached the model. A file that is missing, not YAML or not a replay raises
`ReplayFileError` with what is wrong.

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


class ReplayFileError(Exception):
    """A replay file that is missing, not YAML or not a replay; the message says which and what it needs.
    (Not a ValueError, which pydantic would wrap into a ValidationError while building the model.)"""


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
        self._turns, self._scripts = read_replay(self.path)

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


NEEDS = "a replay file is YAML with a top-level 'turns:' list of assistant turns (README: Offline and in tests)"


def read_replay(path: Path) -> tuple[list[dict[str, Any]], list[tuple[re.Pattern, list[dict[str, Any]]]]]:
    """The turns and the sub-agent scripts of the replay file at `path`; `ReplayFileError` when it is missing,
    not YAML, or not shaped like a replay."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReplayFileError(f"the replay file {path} does not exist (relative paths start at {Path.cwd()})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReplayFileError(f"the replay file {path} cannot be read ({error})") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ReplayFileError(f"{path} is not YAML ({getattr(error, 'problem', None) or error}{at}); {NEEDS}") from None
    turns = data.get("turns") if isinstance(data, dict) else None
    if not isinstance(turns, list) or not all(isinstance(turn, dict) for turn in turns):
        raise ReplayFileError(f"{path} is not a replay: {NEEDS}")
    scripts = []
    for script in (data.get("scripts") or []):
        if not (isinstance(script, dict) and isinstance(script.get("match"), str)
                and isinstance(script.get("turns"), list)):
            raise ReplayFileError(f"{path}: each entry of 'scripts:' needs a 'match:' pattern and a 'turns:' list")
        try:
            scripts.append((re.compile(script["match"]), script["turns"]))
        except re.error as error:
            raise ReplayFileError(f"{path}: the script pattern {script['match']!r} is not a regular expression "
                                  f"({error})") from None
    return turns, scripts
