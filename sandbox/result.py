"""What one execution in the sandbox produced, and its short text form for a model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

RESTART_NOTE = (
    "The session was restarted: variables are lost; re-run your setup (imports, variables, functions)."
)
INTERRUPTED_NOTE = "The time limit was reached and the code was interrupted; variables are kept."


def cap_text(text: str, limit: int) -> str:
    """Keep the head and tail of ``text`` within ``limit`` characters (note included), saying how much was cut."""
    if len(text) <= limit:
        return text
    keep = max(limit - len(f"\n... [{len(text):,} characters cut] ...\n"), 0)
    head, tail = keep - keep // 2, keep // 2
    cut = len(text) - head - tail
    return f"{text[:head]}\n... [{cut:,} characters cut] ...\n{text[len(text) - tail:] if tail else ''}"


@dataclass
class ToolCallRecord:
    """One call from sandbox code to a host tool."""

    name: str
    args: dict
    ok: bool
    duration_ms: float
    error: str | None


@dataclass
class ExecResult:
    """The outcome of one ``exec``: output, last-expression value, error, tool calls, submission."""

    stdout: str
    stderr: str
    value: Any
    value_repr: str | None
    error: str | None
    duration_ms: float
    tool_calls: list[ToolCallRecord]
    submitted: Any = None
    has_submission: bool = False
    timed_out: bool = False
    restarted: bool = False

    def observation(self, limit: int = 4000) -> str:
        """One short text for a model: output (head and tail), value, submission, error, and what a timeout or restart means."""
        closing: list[str] = []
        if self.error:
            closing.append(cap_text(self.error.rstrip(), max(limit // 2, 200)))
        if self.timed_out and not self.restarted:
            closing.append(INTERRUPTED_NOTE)
        if self.restarted:
            closing.append(RESTART_NOTE)
        opening: list[str] = []
        if self.has_submission:
            submitted = json.dumps(self.submitted, ensure_ascii=False, default=str)
            opening.append("Submitted: " + cap_text(submitted, max(limit // 4, 100)))
        if self.value_repr is not None:
            opening.append("Out: " + cap_text(self.value_repr, max(limit // 4, 100)))
        output = self.stdout
        if self.stderr:
            output += ("\n" if output and not output.endswith("\n") else "") + "[stderr]\n" + self.stderr
        used = sum(len(part) + 1 for part in opening + closing)
        parts = []
        if output:
            parts.append(cap_text(output.rstrip("\n"), max(limit - used - 40, 200)))
        parts += opening + closing
        return cap_text("\n".join(parts) if parts else "(no output)", limit)
