"""Rendering the core's views as Slack Block Kit, within Slack's documented limits."""

from __future__ import annotations

from typing import Any

from bot.core.views import (Answer, ConnectLink, Notice, Progress, Question, SkillList, SkillRunReport, View,
                            usage_text)
from bot.surfaces.text import checklist, data_text, truncate, usage_line

SECTION_LIMIT = 3000       # characters in a section's text
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
MESSAGE_TEXT_LIMIT = 4000  # the fallback `text`, shown in notifications

CHOICE_ACTION = "codemem_choice"
SAVE_SKILL_ACTION = "codemem_save_skill"
STOP_ACTION = "codemem_stop"
CONNECT_ACTION = "codemem_connect"   # a link button: Slack still sends the click, which is only acked


def render(view: View) -> dict[str, Any]:
    """`text` and `blocks` for chat.postMessage / chat.update / ack."""
    blocks = _blocks(view)
    text = truncate(_fallback(view), MESSAGE_TEXT_LIMIT)
    return {"text": text, "blocks": blocks}


def escape(text: str) -> str:
    """Text from the agent or the user, made literal in mrkdwn (`<`, `>` and `&` are control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT)}}


def _code(text: str) -> dict:
    return _section(f"```{truncate(text, SECTION_LIMIT - 6)}```")


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    button = {"type": "button", "action_id": action_id, "value": value[:BUTTON_VALUE_LIMIT],
              "text": {"type": "plain_text", "text": truncate(text, BUTTON_TEXT_LIMIT)}}
    if style:
        button["style"] = style
    return button


def _blocks(view: View) -> list[dict]:
    match view:
        case Progress(status=status, todos=todos, finished=finished) as progress:
            icon = "✅" if finished else "⏳"
            blocks = [_section(f"{icon} *{escape(status)}*")]
            if todos:
                blocks.append(_section(escape(checklist(todos))))
            if progress.stoppable:
                blocks.append({"type": "actions", "block_id": "codemem_progress", "elements": [
                    _button("Stop", STOP_ACTION, "stop", "danger")]})
            return blocks
        case Question(text=text, choices=choices):
            blocks = [_section(f"❓ {escape(text)}")]
            if choices:
                blocks.append({"type": "actions", "block_id": "codemem_choices", "elements": [
                    _button(choice, f"{CHOICE_ACTION}_{n}", choice) for n, choice in enumerate(choices[:5])]})
            return blocks
        case Answer(text=text, data=data, offer=offer, usage=usage):
            blocks = [_section(escape(text))]
            if data is not None:
                blocks.append(_code(escape(data_text(data))))
            if offer is not None:
                if offer.diff:
                    blocks.append(_section(f"Changes in version {offer.version}:"))
                    blocks.append(_code(escape(offer.diff)))
                label = f"Save as skill: {offer.name}" if offer.version == 1 else f"Save {offer.name} v{offer.version}"
                blocks.append({"type": "actions", "block_id": "codemem_answer", "elements": [
                    _button(label, SAVE_SKILL_ACTION, offer.button_value, "primary")]})
            if usage:
                blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": usage_line(usage)}]})
            return blocks
        case SkillRunReport() as report:
            blocks = [_section(_report_title(report))]
            if report.succeeded and report.result is not None:
                blocks.append(_code(escape(data_text(report.result))))
            if report.error:
                blocks.append(_code(escape(report.error)))
            return blocks
        case SkillList(skills=skills):
            if not skills:
                return [_section("You have no saved skills yet. Ask me for a task, then click *Save as skill*.")]
            return [_section(f"*{s.name}* (v{s.version}) — {s.description}\n`{usage_text(s.parameters)}`")
                    for s in skills[:49]]
        case Notice(text=text, error=error):
            return [_section(("⚠️ " if error else "") + text)]
        case ConnectLink(provider=provider, url=url):
            return [_section(f"Connect your {provider} account: sign in in your browser (the link works once, "
                             "for ten minutes)."),
                    {"type": "actions", "block_id": "codemem_connect", "elements": [
                        {**_button(f"Connect {provider.split(' ')[0]}", CONNECT_ACTION, "connect", "primary"),
                         "url": url}]}]
    raise TypeError(f"no Slack rendering for {type(view).__name__}")


def _report_title(report: SkillRunReport) -> str:
    seconds = report.duration_ms / 1000
    if report.succeeded:
        return f"✅ `{report.skill_name}` v{report.version} finished in {seconds:.1f} s"
    return f"❌ `{report.skill_name}` v{report.version} failed after {seconds:.1f} s"


def _fallback(view: View) -> str:
    match view:
        case Progress(status=status):
            return status
        case Question(text=text) | Answer(text=text) | Notice(text=text):
            return text
        case ConnectLink(provider=provider):
            return f"Connect your {provider} account"
        case SkillRunReport() as report:
            return _report_title(report)
        case SkillList(skills=skills):
            return ", ".join(s.name for s in skills) or "No saved skills yet."
    return ""
