"""A server's mid-call request for input (2026-07-28 `input_required`, or a 2025-11-25 elicitation), as data the
host can put to the person in the thread, and the person's answer as the server's wire response."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from integrations.errors import ToolError

CONFIRM_KEY = "codemem:confirm"     # the host's own question before a destructive call


@dataclass(frozen=True)
class InputQuestion:
    """One question: the server's message, and the choices offered (or a URL to open)."""

    key: str
    message: str
    choices: tuple[str, ...]
    schema: dict[str, Any] = field(default_factory=dict)
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "message": self.message, "choices": list(self.choices), "schema": self.schema,
                "url": self.url}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputQuestion:
        return cls(data["key"], data["message"], tuple(data["choices"]), data.get("schema") or {}, data.get("url"))

    def response(self, answer: str) -> dict[str, Any]:
        """The elicitation result (`{"action", "content"}`) that `answer` (a choice or typed text) stands for."""
        text = answer.strip()
        if self.url is not None:
            return {"action": "accept" if text.lower() in ("done", "opened", "yes") else "decline"}
        if text.lower() in ("cancel", "decline", "no") and not _boolean_field(self.schema):
            return {"action": "decline"}
        properties = self.schema.get("properties") or {}
        if len(properties) == 1:
            name, prop = next(iter(properties.items()))
            if prop.get("type") == "boolean":
                return {"action": "accept", "content": {name: text.lower() in ("yes", "y", "true", "ok", "confirm")}}
            if prop.get("type") in ("integer", "number"):
                try:
                    return {"action": "accept", "content": {name: json.loads(text)}}
                except ValueError:
                    return {"action": "decline"}
            return {"action": "accept", "content": {name: text}}
        try:
            content = json.loads(text)
        except ValueError:
            return {"action": "decline"}
        return {"action": "accept", "content": content} if isinstance(content, dict) else {"action": "decline"}


def question_for(key: str, message: str, schema: dict[str, Any] | None, url: str | None = None) -> InputQuestion:
    """The question for a form (or URL) elicitation, with buttons taken from its schema where it has one field."""
    schema = schema or {}
    if url is not None:
        return InputQuestion(key, message, ("Done", "Cancel"), schema, url)
    properties = schema.get("properties") or {}
    choices: tuple[str, ...] = ()
    if len(properties) == 1:
        prop = next(iter(properties.values()))
        if prop.get("type") == "boolean":
            choices = ("Yes", "No")
        elif prop.get("enum"):
            choices = (*(str(v) for v in prop["enum"]), "Cancel")
        elif prop.get("oneOf"):
            choices = (*(str(o.get("const")) for o in prop["oneOf"] if "const" in o), "Cancel")
    return InputQuestion(key, message, choices, schema)


class InputRequired(ToolError):
    """A call that cannot go on until the person answers `questions` (the server's, or the host's own)."""

    def __init__(self, message: str, *, function: str, server: str, call_key: str,
                 questions: list[InputQuestion], request_state: str | None) -> None:
        super().__init__(message, code="input_required")
        self.function = function
        self.server = server
        self.call_key = call_key
        self.questions = questions
        self.request_state = request_state

    def to_json(self) -> dict[str, Any]:
        """What the thread keeps while the person answers."""
        return {"function": self.function, "server": self.server, "call_key": self.call_key,
                "questions": [q.to_json() for q in self.questions], "request_state": self.request_state}


def call_key(function: str, arguments: dict[str, Any]) -> str:
    """Identifies one call: the function and a digest of its arguments (an answer belongs to that call only)."""
    digest = hashlib.sha256(json.dumps(arguments, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{function}:{digest}"


def _boolean_field(schema: dict[str, Any]) -> bool:
    properties = schema.get("properties") or {}
    return len(properties) == 1 and next(iter(properties.values())).get("type") == "boolean"
