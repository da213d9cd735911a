"""What one execution in the sandbox produced, and its short text form for a model."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

RESTART_NOTE = (
    "The session was restarted: variables are lost; re-run your setup (imports, variables, functions)."
)
INTERRUPTED_NOTE = "The time limit was reached and the code was interrupted; variables are kept."
ARGS_PREVIEW_CHARS = 2_000
"""Characters of JSON a tool-call record keeps of the call's arguments (the digest covers all of them)."""
NAME_CHARS = 200
PREVIEW_KEY = "$preview"


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
    """One call from sandbox code to a host tool.

    ``args`` is a bounded preview: the arguments themselves when their JSON fits in ``ARGS_PREVIEW_CHARS``
    (bytes shown as ``"<N bytes>"``), else ``{"$preview": the head of that JSON, "$chars": its length}``;
    ``args_digest`` is the SHA-256 of all of them. Build records with ``made``, never from raw arguments.
    """

    name: str
    args: dict
    ok: bool
    duration_ms: float
    error: str | None
    args_digest: str = ""

    @classmethod
    def made(cls, name: str, args: Any, ok: bool, duration_ms: float, error: str | None) -> ToolCallRecord:
        """The record of a call with ``args`` as sent: a preview and a digest are kept, not the arguments."""
        preview, digest = preview_arguments(args)
        return cls(cap_text(name, NAME_CHARS), preview, ok, duration_ms, error, digest)


def preview_arguments(args: Any) -> tuple[dict, str]:
    """A bounded preview of a tool call's arguments (a fresh object, sharing nothing with them) and their digest."""
    digest = hashlib.sha256()
    text = json.dumps(args if isinstance(args, dict) else {}, default=lambda value: _stand_in(value, digest),
                      ensure_ascii=False, sort_keys=True)
    digest.update(text.encode("utf-8", errors="surrogatepass"))
    if len(text) <= ARGS_PREVIEW_CHARS:
        return json.loads(text), digest.hexdigest()
    return {PREVIEW_KEY: text[:ARGS_PREVIEW_CHARS], "$chars": len(text)}, digest.hexdigest()


def _stand_in(value: Any, digest: Any) -> str:
    """What a value that is not JSON shows in a preview (bytes: their size; their content goes to the digest)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        digest.update(bytes(value))
        return f"<{len(value):,} bytes>"
    return f"<{type(value).__name__}>"


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
    notes: tuple[str, ...] = ()
    """What the host did about the session between runs (e.g. tool calls refused after the last run ended)."""

    def observation(self, limit: int = 4000) -> str:
        """One short text for a model: output (head and tail), value, submission, error, and what a timeout or restart means."""
        closing: list[str] = []
        if self.error:
            closing.append(cap_text(self.error.rstrip(), max(limit // 2, 200)))
        if self.timed_out and not self.restarted:
            closing.append(INTERRUPTED_NOTE)
        if self.restarted:
            closing.append(RESTART_NOTE)
        closing += self.notes
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
