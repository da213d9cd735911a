"""Keeping a long thread's context small: old code outputs are summarised, the plan anchors the rest."""

from __future__ import annotations

from langchain_core.messages import AnyMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately

KEEP_RECENT_OUTPUTS = 2


def compact(messages: list[AnyMessage], budget_tokens: int) -> list[ToolMessage]:
    """Replacements (same ids) for old execute_code outputs when the thread exceeds `budget_tokens`.

    The newest outputs stay whole; older ones keep their first line and say how much was elided. The
    replacements go into the state, so checkpoints shrink too.
    """
    if count_tokens_approximately(messages) <= budget_tokens:
        return []
    outputs = [m for m in messages if isinstance(m, ToolMessage) and m.name == "execute_code"]
    replaced = []
    for message in outputs[:-KEEP_RECENT_OUTPUTS]:
        text = message.text
        if text.startswith("[elided"):
            continue
        first_line = text.splitlines()[0][:200] if text else ""
        replaced.append(ToolMessage(f"[elided: an earlier code output of {len(text):,} characters; it began: "
                                    f"{first_line}]", tool_call_id=message.tool_call_id, name=message.name,
                                    id=message.id))
    return replaced
