"""Rendering the core's views as Slack Block Kit (messages, modals and the App Home), within Slack's
documented limits: every text, list and value is cut to fit, and long results go out as a file instead."""

from __future__ import annotations

import json
from typing import Any

from bot.core.proposals import default_text, proposal_value
from bot.core.views import (Answer, ConnectLink, DeleteConfirmation, Home, Notice, PreviewReport, Progress, Question,
                            RunForm, RunHistory, RunLine, SaveForm, ScheduleForm, ShareRequest, SkillDetail, SkillList, SkillProposal,
                            SkillRunReport, SkillSummary, ToolUse, View, usage_text)
from bot.surfaces.text import checklist, data_text, fallback_text, report_title, truncate, usage_line
from skills_db.params import SkillParameter

SECTION_LIMIT = 3000       # characters in a section's text
HEADER_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
MESSAGE_TEXT_LIMIT = 4000  # the fallback `text`, shown in notifications
MESSAGE_BLOCKS = 50
SURFACE_BLOCKS = 100       # modals and the App Home
MODAL_TITLE_LIMIT = 24
LABEL_LIMIT = 2000
PLACEHOLDER_LIMIT = 150
INPUT_LIMIT = 3000
CONTEXT_ELEMENTS = 10
FILE_THRESHOLD = 2800      # a result longer than this (as JSON) also goes out as a file; the message shows a preview

CHOICE_ACTION = "codemem_choice"
SAVE_SKILL_ACTION = "codemem_save_skill"
SAVE_FORM_ACTION = "codemem_save_skill_form"
STOP_ACTION = "codemem_stop"
CONNECT_ACTION = "codemem_connect"   # a link button: Slack still sends the click, which is only acked
RUN_ACTION = "codemem_run"
SCHEDULE_ACTION = "codemem_schedule"
HISTORY_ACTION = "codemem_history"
PREVIEW_ACTION = "codemem_preview"
RETRY_ACTION = "codemem_retry"
PROPOSAL_APPROVE_ACTION = "codemem_proposal_approve"
PROPOSAL_EDIT_ACTION = "codemem_proposal_edit"
PROPOSAL_DISMISS_ACTION = "codemem_proposal_dismiss"
SHARE_APPROVE_ACTION = "codemem_share_approve"
SHARE_REJECT_ACTION = "codemem_share_reject"
DELETE_ACTION = "codemem_delete_skill"
DECIDED_BLOCK = "codemem_decided"    # the actions block of a card that is answered once (replaced after a click)

RUN_MODAL = "codemem_run_modal"
SAVE_MODAL = "codemem_save_modal"
SCHEDULE_MODAL = "codemem_schedule_modal"
INFO_MODAL = "codemem_info_modal"
PARAMETER_BLOCK = "param_"
INPUT_ACTION = "value"

EFFECT_MARKS = {"read": "👀 read", "write": "✏️ write", "send": "📤 send", "destructive": "🗑️ destructive"}


def render(view: View) -> dict[str, Any]:
    """`text` and `blocks` for chat.postMessage / chat.update / ack."""
    blocks = _blocks(view)
    if len(blocks) > MESSAGE_BLOCKS:
        blocks = blocks[:MESSAGE_BLOCKS - 1] + [_context(f"… {len(blocks) - MESSAGE_BLOCKS + 1} more not shown")]
    text = truncate(fallback_text(view, quote="`"), MESSAGE_TEXT_LIMIT)
    return {"text": text, "blocks": blocks}


def attachment(view: View) -> tuple[str, str] | None:
    """`(filename, content)` of a result too long for a message (it goes into the thread as a file)."""
    match view:
        case Answer(data=data) if data is not None:
            name, value = "result", data
        case SkillRunReport(succeeded=True, result=result, skill_name=skill) if result is not None:
            name, value = f"{skill}-result", result
        case PreviewReport(result=result, skill_name=skill) if result is not None:
            name, value = f"{skill}-preview", result
        case _:
            return None
    content = json.dumps(value, indent=1, default=str, ensure_ascii=False)
    return (f"{name}.json", content) if len(content) > FILE_THRESHOLD else None


def escape(text: str) -> str:
    """Text from the agent or the user, made literal in mrkdwn (`<`, `>` and `&` are control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ----------------------------------------------------------------------------------------------- modals

def modal(view: RunForm | SaveForm | ScheduleForm | RunHistory | SkillDetail, metadata: str) -> dict[str, Any]:
    """`view` as a modal; `metadata` (where the form was opened) comes back with the submission."""
    match view:
        case RunForm() as form:
            blocks = [_section(f"*{escape(form.name)}* v{form.version}" +
                               (f"\n{escape(form.description)}" if form.description else ""))]
            if form.problems:
                blocks.append(_section("⚠️ " + escape("\n".join(form.problems))))
            blocks += [_parameter_input(p, form.values.get(p["name"])) for p in form.parameters]
            return _modal(RUN_MODAL, "Run skill", blocks, metadata, submit="Run")
        case SaveForm() as form:
            blocks = []
            if form.name_fixed:
                blocks.append(_section(f"*{escape(form.name)}* — new version {form.version}\n{escape(form.description)}"))
            else:
                blocks += [_input("name", "Name", form.name, hint="Letters, digits, - and _; `/skill run NAME` uses it."),
                           _input("description", "Description", form.description, multiline=True, optional=True)]
            if form.parameters:
                blocks.append(_context("Parameters and their defaults (a skill run without a value uses the default):"))
            blocks += [_parameter_input(p, default_text(p.get("default")) if not p.get("required") else None,
                                        optional=True) for p in form.parameters]
            blocks += [_input("cron", "Schedule (optional, cron)", form.cron, optional=True,
                              placeholder="0 9 * * 1  (Mondays at 09:00)"),
                       _input("timezone", "Time zone", form.timezone, optional=True, placeholder="Europe/Paris")]
            return _modal(SAVE_MODAL, "Save as skill", blocks, metadata, submit="Preview")
        case ScheduleForm() as form:
            blocks = [_section(f"*{escape(form.name)}*" + (f"\nNow: {escape(form.current)}" if form.current else ""))]
            blocks += [_input("cron", "When (cron)", form.cron, placeholder="0 9 * * 1  (Mondays at 09:00)"),
                       _input("timezone", "Time zone", form.timezone, placeholder="Europe/Paris")]
            blocks += [_parameter_input(p, form.arguments.get(p["name"]), optional=not p.get("required"))
                       for p in form.parameters]
            return _modal(SCHEDULE_MODAL, "Schedule skill", blocks, metadata, submit="Schedule")
        case RunHistory() | SkillDetail():
            return _modal(INFO_MODAL, "Run history" if isinstance(view, RunHistory) else "Skill", _blocks(view),
                          metadata)
    raise TypeError(f"no Slack modal for {type(view).__name__}")


def home_view(home: Home) -> dict[str, Any]:
    """The App Home tab: skills with Run, Schedule and History, and the latest runs with their status."""
    blocks: list[dict] = [_header("Your skills")]
    if not home.skills:
        blocks.append(_section("You have no saved skills yet. Ask me for a task in a channel or here, then click "
                               "*Save as skill*."))
    for skill in home.skills[:30]:
        schedule = home.schedules.get(skill.name)
        blocks += _skill_blocks(skill, schedule)
    if len(home.skills) > 30:
        blocks.append(_context(f"… and {len(home.skills) - 30} more: `/skill list` shows them all"))
    blocks += [{"type": "divider"}, _header("Recent runs")]
    blocks += [_run_line(run) for run in home.runs] or [_section("No runs yet.")]
    return {"type": "home", "blocks": blocks[:SURFACE_BLOCKS]}


def form_values(state: dict[str, Any]) -> dict[str, str]:
    """The texts typed into a submitted modal, by block id (`param_x` → the value of parameter x)."""
    values = {}
    for block_id, actions in (state.get("values") or {}).items():
        element = actions.get(INPUT_ACTION) or {}
        selected = element.get("selected_option")
        values[block_id] = (selected or {}).get("value") if selected else (element.get("value") or "")
    return values


def parameter_values(values: dict[str, str]) -> dict[str, str]:
    """The parameter fields of `form_values`, by parameter name."""
    return {key[len(PARAMETER_BLOCK):]: value for key, value in values.items() if key.startswith(PARAMETER_BLOCK)}


def parameter_errors(problems: dict[str, str], blocks: list[str]) -> dict[str, str]:
    """`problems` by field as Slack's `response_action: errors` (every problem on a field that exists)."""
    errors = {}
    for name, problem in problems.items():
        block = name if name in blocks else f"{PARAMETER_BLOCK}{name}"
        if block not in blocks:
            block = blocks[0] if blocks else name
        errors[block] = truncate(f"{errors[block]} {problem}" if block in errors else problem, 150)
    return errors


def decided(blocks: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """A card's blocks with its once-only buttons replaced by what was decided (so nobody clicks twice)."""
    kept = [b for b in blocks if b.get("block_id") != DECIDED_BLOCK]
    return kept[:MESSAGE_BLOCKS - 1] + [_context(text)]


# ------------------------------------------------------------------------------------------ the pieces

def _section(text: str, accessory: dict | None = None) -> dict:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT)}}
    if accessory:
        section["accessory"] = accessory
    return section


def _header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, HEADER_LIMIT)}}


def _context(*texts: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(t, SECTION_LIMIT)}
                                            for t in texts[:CONTEXT_ELEMENTS]]}


def _code(text: str) -> dict:
    return _section(f"```{truncate(text, SECTION_LIMIT - 6)}```")


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    button = {"type": "button", "action_id": action_id, "value": value[:BUTTON_VALUE_LIMIT],
              "text": {"type": "plain_text", "text": truncate(text, BUTTON_TEXT_LIMIT)}}
    if style:
        button["style"] = style
    return button


def _actions(block_id: str, *buttons: dict) -> dict:
    return {"type": "actions", "block_id": block_id, "elements": list(buttons)[:25]}


def _input(block_id: str, label: str, initial: str | None, *, optional: bool = False, multiline: bool = False,
           hint: str | None = None, placeholder: str | None = None) -> dict:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": INPUT_ACTION, "multiline": multiline,
                               "max_length": INPUT_LIMIT}
    if initial:
        element["initial_value"] = truncate(initial, INPUT_LIMIT)
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": truncate(placeholder, PLACEHOLDER_LIMIT)}
    block = {"type": "input", "block_id": block_id, "optional": optional, "element": element,
             "label": {"type": "plain_text", "text": truncate(label, LABEL_LIMIT)}}
    if hint:
        block["hint"] = {"type": "plain_text", "text": truncate(hint, LABEL_LIMIT)}
    return block


def _parameter_input(stored: dict[str, Any], initial: str | None, *, optional: bool | None = None) -> dict:
    parameter = SkillParameter.from_dict(stored)
    shown = initial if initial is not None else (default_text(parameter.default) if not parameter.required else "")
    return _input(f"{PARAMETER_BLOCK}{parameter.name}", f"{parameter.name} ({parameter.label})", shown,
                  optional=(not parameter.required) if optional is None else optional,
                  hint=parameter.description or None)


def _modal(callback_id: str, title: str, blocks: list[dict], metadata: str, submit: str | None = None) -> dict:
    view: dict[str, Any] = {"type": "modal", "callback_id": callback_id, "private_metadata": metadata[:3000],
                            "title": {"type": "plain_text", "text": title[:MODAL_TITLE_LIMIT]},
                            "close": {"type": "plain_text", "text": "Close" if submit is None else "Cancel"},
                            "blocks": blocks[:SURFACE_BLOCKS]}
    if submit:
        view["submit"] = {"type": "plain_text", "text": submit[:MODAL_TITLE_LIMIT]}
    return view


def _tools(tools: list[ToolUse]) -> str:
    return "\n".join(f"• `{t.name}` — {EFFECT_MARKS.get(t.effect or '', 'unknown effect')}" for t in tools) \
        or "• no tools"


def _parameters(parameters: list[dict[str, Any]]) -> str:
    lines = []
    for p in parameters:
        line = f"• `{p['name']}`: {p['type']}" + ("" if p.get("required") else f" = `{p.get('default')!r}`")
        lines.append(line + (f" — {escape(p['description'])}" if p.get("description") else ""))
    return "\n".join(lines) or "• no parameters"


def _writes(writes: list[dict[str, Any]]) -> str:
    return "\n".join(f"• `{w['name']}` {escape(json.dumps(w.get('args'), default=str, ensure_ascii=False)[:200])}"
                     for w in writes[:20]) or "• none"


def _skill_blocks(skill: SkillSummary, schedule: str | None) -> list[dict]:
    text = f"*{escape(skill.name)}* (v{skill.version})" + (" · _shared with you_" if skill.shared else "")
    text += f" — {escape(skill.description)}" if skill.description else ""
    text += f"\n`{escape(usage_text(skill.parameters))}`"
    if schedule:
        text += f"\n🕒 {escape(schedule)}"
    value = str(skill.skill_id)
    buttons = [_button("Run", RUN_ACTION, value, "primary")]
    if not skill.shared:
        buttons.append(_button("Schedule", SCHEDULE_ACTION, value))
    buttons.append(_button("History", HISTORY_ACTION, value))
    return [_section(text), _actions(f"codemem_skill_{skill.skill_id}", *buttons)]


def _run_line(run: RunLine) -> dict:
    icon = {"succeeded": "✅", "failed": "❌", "running": "⏳"}.get(run.status, "•")
    took = f" in {run.duration_ms / 1000:.1f} s" if run.duration_ms is not None else ""
    text = f"{icon} `{escape(run.skill_name)}` v{run.version} {run.status}{took} · {run.trigger} · {run.started_at}"
    if run.error:
        text += f"\n{escape(truncate(run.error.splitlines()[0], 300))}"
    retry = _button("Retry", RETRY_ACTION, str(run.run_id)) if run.status == "failed" else None
    return _section(text, retry)


def _blocks(view: View) -> list[dict]:
    match view:
        case Progress(status=status, todos=todos, finished=finished) as progress:
            icon = "✅" if finished else "⏳"
            blocks = [_section(f"{icon} *{escape(status)}*")]
            if todos:
                blocks.append(_section(escape(checklist(todos))))
            if progress.stoppable:
                blocks.append(_actions("codemem_progress", _button("Stop", STOP_ACTION, "stop", "danger")))
            return blocks
        case Question(text=text, choices=choices, link=link):
            blocks = [_section(f"❓ {escape(text)}")]
            if link:
                blocks.append(_actions("codemem_link", {**_button("Open the page", CONNECT_ACTION, "open",
                                                                  "primary"), "url": link}))
            if choices:
                styles = {"allow": "primary", "deny": "danger"}
                blocks.append(_actions(DECIDED_BLOCK, *[
                    _button(choice, f"{CHOICE_ACTION}_{n}", choice, styles.get(choice.strip().lower()))
                    for n, choice in enumerate(choices[:5])]))
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
                blocks.append(_actions("codemem_answer",
                                       _button(label, SAVE_SKILL_ACTION, offer.button_value, "primary"),
                                       _button("Review and edit…", SAVE_FORM_ACTION, offer.button_value)))
            if usage:
                blocks.append(_context(usage_line(usage)))
            return blocks
        case SkillRunReport() as report:
            blocks = [_section(report_title(report, quote="`"))]
            if report.succeeded and report.result is not None:
                blocks.append(_code(escape(data_text(report.result))))
            if report.error:
                blocks.append(_code(escape(report.error)))
            if not report.succeeded and report.run_id is not None:
                blocks.append(_actions(DECIDED_BLOCK, _button("Retry", RETRY_ACTION, str(report.run_id), "primary")))
            return blocks
        case SkillList(skills=skills):
            if not skills:
                return [_section("You have no saved skills yet. Ask me for a task, then click *Save as skill*.")]
            blocks = [block for s in skills[:24] for block in _skill_blocks(s, None)]
            if len(skills) > 24:
                blocks.append(_context(f"… and {len(skills) - 24} more: the App Home lists them all"))
            return blocks
        case Notice(text=text, error=error):
            return [_section(("⚠️ " if error else "") + text)]
        case DeleteConfirmation() as confirmation:
            return [_section(confirmation.text.replace(f"`{confirmation.name}`", f"`{escape(confirmation.name)}`")),
                    _actions(DECIDED_BLOCK, _button("Delete", DELETE_ACTION, confirmation.button_value, "danger"))]
        case ConnectLink(provider=provider, url=url):
            return [_section(f"Connect your {provider} account: sign in in your browser (the link works once, "
                             "for ten minutes)."),
                    _actions("codemem_connect", {**_button(f"Connect {provider.split(' ')[0]}", CONNECT_ACTION,
                                                           "connect", "primary"), "url": url})]
        case RunHistory(skill_name=name, runs=runs):
            return [_section(f"*Runs of `{escape(name)}`*")] + ([_run_line(r) for r in runs[:40]]
                                                                 or [_section("No runs yet.")])
        case SkillDetail() as d:
            blocks = [_header(f"{d.name} v{d.version} ({d.status})")]
            if d.description:
                blocks.append(_section(escape(d.description)))
            blocks += [_section(f"*Parameters*\n{_parameters(d.parameters)}"), _section(f"*Tools*\n{_tools(d.tools)}"),
                       _code(escape(d.code))]
            notes = ([f"🕒 {escape(d.schedule)}"] if d.schedule else []) + [f"Shared: {escape(s)}" for s in d.shares]
            if notes:
                blocks.append(_context(*notes))
            value = str(d.skill_id)
            buttons = [_button("Run", RUN_ACTION, value, "primary"), _button("Preview", PREVIEW_ACTION, value)]
            if d.owned:
                buttons.append(_button("Schedule", SCHEDULE_ACTION, value))
            buttons.append(_button("History", HISTORY_ACTION, value))
            if d.status == "active":
                blocks.append(_actions(f"codemem_show_{d.skill_id}", *buttons))
            return blocks
        case RunForm() as form:
            missing = [p["name"] for p in form.parameters if p.get("required") and p["name"] not in form.values]
            text = f"`{escape(form.name)}` needs " + (", ".join(f"`{m}`" for m in missing) or "parameters")
            return [_section(text + (f"\n{escape(chr(10).join(form.problems))}" if form.problems else "")),
                    _actions("codemem_run_form", _button("Fill in and run…", RUN_ACTION, str(form.skill_id), "primary"))]
        case ScheduleForm() as form:
            return [_section(f"`{escape(form.name)}`: " + (escape(form.current) if form.current else "not scheduled")),
                    _actions("codemem_schedule_form", _button("Set the schedule…", SCHEDULE_ACTION, str(form.skill_id)))]
        case SaveForm() as form:
            return [_section(f"Save `{escape(form.name)}` v{form.version} as a skill"),
                    _actions("codemem_save_form", _button("Review and edit…", SAVE_FORM_ACTION,
                                                          f"{form.skill_id}:{form.version}", "primary"))]
        case SkillProposal() as p:
            blocks = [_header(f"Proposed skill: {p.name} v{p.version}")]
            if p.description:
                blocks.append(_section(escape(p.description)))
            blocks += [_section(f"*Parameters*\n{_parameters(p.parameters)}"), _section(f"*Tools*\n{_tools(p.tools)}"),
                       _code(escape(p.code))]
            if p.preview_error:
                blocks.append(_section(f"*Dry run* ❌\n```{escape(truncate(p.preview_error, SECTION_LIMIT - 40))}```"))
            else:
                blocks.append(_section(f"*Dry run* ✅ (nothing was written)\n```"
                                       f"{escape(truncate(data_text(p.preview_result) or 'None', SECTION_LIMIT - 60))}```"))
            blocks.append(_section(f"*Writes it would make*\n{_writes(p.writes)}"))
            if p.cron:
                blocks.append(_context(f"🕒 Schedule after approval: `{escape(p.cron)}` ({escape(p.timezone)})"))
            value = proposal_value(p)
            blocks.append(_actions(DECIDED_BLOCK, _button("Approve", PROPOSAL_APPROVE_ACTION, value, "primary"),
                                   _button("Edit", PROPOSAL_EDIT_ACTION, value),
                                   _button("Dismiss", PROPOSAL_DISMISS_ACTION, value, "danger")))
            return blocks
        case PreviewReport() as r:
            state = "❌ failed" if r.error else "✅ finished"
            blocks = [_section(f"Dry run of `{escape(r.skill_name)}` v{r.version} {state} (nothing was written)")]
            blocks.append(_code(escape(r.error or data_text(r.result) or "None")))
            blocks.append(_section(f"*Writes it would make*\n{_writes(r.writes)}"))
            return blocks
        case ShareRequest() as r:
            blocks = [_header(f"Review: {r.skill_name} v{r.version}"),
                      _section(f"<@{r.owner}> shared `{escape(r.skill_name)}` with {escape(r.scope)}. Members can run "
                               "it once you approve this version."),
                      _section(f"*Tools*\n{_tools(r.tools)}"),
                      _code(escape(r.diff or r.code))]
            value = f"{r.share_id}:{r.version}"
            blocks.append(_actions(DECIDED_BLOCK, _button("Approve", SHARE_APPROVE_ACTION, value, "primary"),
                                   _button("Reject", SHARE_REJECT_ACTION, value, "danger")))
            return blocks
        case Home() as home:
            return home_view(home)["blocks"][:MESSAGE_BLOCKS]
    raise TypeError(f"no Slack rendering for {type(view).__name__}")


