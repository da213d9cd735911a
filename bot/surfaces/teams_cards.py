"""Rendering the core's views as Adaptive Cards (schema 1.5, the version Teams supports), within Teams' limits.

Buttons are `Action.Execute`: a click arrives as an `adaptiveCard/action` invoke with the verb and data below.
Every card also carries the key of its thread (`thread`), so a click in a group chat finds the task it belongs to.
"""

from __future__ import annotations

import json
from typing import Any

from microsoft_teams.api import MessageActivityInput
from microsoft_teams.cards import (ActionSet, AdaptiveCard, CardElement, ColumnDefinition, Container, ExecuteAction, Fact,
                                   FactSet, NumberInput, OpenUrlAction, Table, TableCell, TableRow, TextBlock, TextInput, ToggleInput)

from bot.core.views import (Answer, ConnectLink, DeleteConfirmation, Home, Notice, PreviewReport, Progress, Question,
                            RunForm, RunHistory, RunLine, SaveForm, ScheduleForm, ShareRequest, SkillDetail, SkillList, SkillProposal,
                            SkillRunReport, SkillSummary, ToolUse, View, usage_text)
from bot.surfaces.text import CHECK_MARKS, data_text, fallback_text, report_title, truncate, usage_line
from skills_db.params import SkillParameter

CARD_BYTES_LIMIT = 26_000   # Teams refuses messages over about 28 KB; keep room for the activity around the card
TEXT_LIMIT = 4_000
CELL_LIMIT = 200
TABLE_ROWS = 20
TABLE_COLUMNS = 8
CHOICES_LIMIT = 5
BUTTON_TEXT_LIMIT = 60
SKILLS_LIMIT = 25

CHOICE_VERB = "codemem.choice"
SAVE_SKILL_VERB = "codemem.save_skill"
STOP_VERB = "codemem.stop"
RUN_FORM_VERB = "codemem.run_form"
RUN_VERB = "codemem.run"
DELETE_VERB = "codemem.delete_skill"
PARAMETER_PREFIX = "param_"


def message(view: View, thread_key: str) -> MessageActivityInput:
    """The activity showing `view`: one Adaptive Card."""
    return card_message(render(view, thread_key))


def card_message(card: AdaptiveCard) -> MessageActivityInput:
    """An activity holding `card` alone (its `fallbackText` is what notifications show)."""
    return MessageActivityInput().add_card(card)


def render(view: View, thread_key: str) -> AdaptiveCard:
    """`view` as an Adaptive Card 1.5; buttons carry `thread_key`."""
    body = _body(view, thread_key)
    card = AdaptiveCard(version="1.5", body=body, fallback_text=truncate(fallback_text(view), 500))
    return _fit(card)


def answered_question(question: str, choice: str) -> AdaptiveCard:
    """The question card after a click: the question and the choice, with no buttons left to click twice."""
    return AdaptiveCard(version="1.5", fallback_text=truncate(f"{question} → {choice}", 500), body=[
        _text(f"❓ {question}"), _text(f"✅ {choice}", subtle=True)])


def run_form(skill: SkillSummary, thread_key: str) -> AdaptiveCard:
    """A form with one input per parameter of `skill`, prefilled with the defaults, and a Run button."""
    body: list[CardElement] = [_text(f"Run **{skill.name}** (v{skill.version})", weight="Bolder")]
    if skill.description:
        body.append(_text(skill.description, subtle=True))
    body += [_input(p) for p in skill.parameters]
    body.append(ActionSet(actions=[_button("Run", RUN_VERB, {"skill": skill.name, "thread": thread_key},
                                           style="positive")]))
    return _fit(AdaptiveCard(version="1.5", body=body, fallback_text=f"Run {skill.name}"))


def form_arguments(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The `(name, value)` pairs a submitted run form holds, empty inputs left out (so defaults apply)."""
    return [(key[len(PARAMETER_PREFIX):], _form_value(value)) for key, value in data.items()
            if key.startswith(PARAMETER_PREFIX) and str(value).strip() != ""]


def _body(view: View, thread_key: str) -> list[CardElement]:
    match view:
        case Progress(status=status, todos=todos, finished=finished) as progress:
            body: list[CardElement] = [_text(f"{'✅' if finished else '⏳'} **{status}**")]
            body += [_text(f"{CHECK_MARKS.get(t['status'], '⬜')} {t['content']}", spacing="None") for t in todos]
            if progress.stoppable:
                body.append(ActionSet(actions=[_button("Stop", STOP_VERB, {"thread": thread_key}, "destructive")]))
            return body
        case Question(text=text, choices=choices, link=link):
            body = [_text(f"❓ {text}")]
            if link:
                body.append(ActionSet(actions=[OpenUrlAction(title="Open the page", url=link)]))
            if choices:
                body.append(ActionSet(actions=[
                    _button(choice, CHOICE_VERB, {"choice": choice, "question": truncate(text, 500),
                                                  "thread": thread_key}) for choice in choices[:CHOICES_LIMIT]]))
            return body
        case Answer(text=text, data=data, offer=offer, usage=usage):
            body = [_text(text)] + _data(data)
            if offer is not None:
                if offer.diff:
                    body += [_text(f"Changes in version {offer.version}:"), _text(offer.diff, monospace=True)]
                label = f"Save as skill: {offer.name}" if offer.version == 1 else f"Save {offer.name} v{offer.version}"
                body.append(ActionSet(actions=[_button(label, SAVE_SKILL_VERB,
                                                       {"offer": offer.button_value, "thread": thread_key},
                                                       style="positive")]))
            if usage:
                body.append(_text(usage_line(usage), subtle=True))
            return body
        case SkillRunReport() as report:
            body = [_text(report_title(report), weight="Bolder")]
            if report.succeeded and report.result is not None:
                body += _data(report.result)
            if report.error:
                body.append(_text(report.error, color="Attention", monospace=True))
            return body
        case SkillList(skills=skills):
            if not skills:
                return [_text("You have no saved skills yet. Ask me for a task, then click **Save as skill**.")]
            return [Container(separator=True, items=[
                _text(f"**{s.name}** (v{s.version}) — {s.description}"),
                _text(usage_text(s.parameters), subtle=True, monospace=True, spacing="None"),
                ActionSet(actions=[_button("Run", RUN_FORM_VERB, {"skill": s.name, "thread": thread_key})]),
            ]) for s in skills[:SKILLS_LIMIT]]
        case Notice(text=text, error=error):
            return [_text(("⚠️ " if error else "") + text, color="Attention" if error else None)]
        case DeleteConfirmation() as confirmation:
            return [_text(confirmation.text),
                    ActionSet(actions=[_button("Delete", DELETE_VERB, {"skill": confirmation.button_value},
                                               "destructive")])]
        case ConnectLink(provider=provider, url=url):
            return [_text(f"Connect your {provider} account: sign in in your browser (the link works once, "
                          "for ten minutes)."),
                    ActionSet(actions=[OpenUrlAction(title=f"Connect {provider.split(' ')[0]}", url=url)])]
        case RunHistory(skill_name=name, runs=runs):
            return [_text(f"**Runs of {name}**", weight="Bolder")] + ([_run_line(r) for r in runs[:TABLE_ROWS]]
                                                                       or [_text("No runs yet.", subtle=True)])
        case SkillDetail() as d:
            body = [_text(f"**{d.name}** v{d.version} ({d.status})", weight="Bolder")]
            body += [_text(d.description)] if d.description else []
            body += [_text(usage_text(d.parameters), subtle=True, monospace=True), _text(_tools(d.tools)),
                     _text(d.code, monospace=True)]
            body += [_text(f"🕒 {d.schedule}", subtle=True)] if d.schedule else []
            if d.status == "active":
                body.append(ActionSet(actions=[_button("Run", RUN_FORM_VERB, {"skill": d.name, "thread": thread_key})]))
            return body
        case RunForm() as form:
            summary = SkillSummary(form.name, form.description, form.version, form.parameters, form.skill_id)
            problems = [_text("\n".join(form.problems), color="Attention")] if form.problems else []
            return problems + (run_form(summary, thread_key).body or [])
        case SaveForm(name=name):
            return [_text(f"Save {name} with the Save button of its answer card.")]
        case ScheduleForm(name=name, current=current):
            return [_text(f"{name}: {current or 'not scheduled'}. Type `skill schedule {name} \"0 9 * * 1\" "
                          "tz=Europe/Paris` to set it.")]
        case SkillProposal() as p:
            body = [_text(f"**Proposed skill: {p.name} v{p.version}**", weight="Bolder"), _text(p.description),
                    _text(usage_text(p.parameters), subtle=True, monospace=True), _text(_tools(p.tools)),
                    _text(p.code, monospace=True),
                    _text(f"Dry run: {p.preview_error or data_text(p.preview_result) or 'None'}", monospace=True)]
            return body + ([_text(f"🕒 {p.cron} ({p.timezone})", subtle=True)] if p.cron else [])
        case PreviewReport() as r:
            return [_text(f"Dry run of **{r.skill_name}** v{r.version} (nothing was written)", weight="Bolder"),
                    _text(r.error or data_text(r.result) or "None", monospace=True),
                    _text("Writes it would make: " + (", ".join(w["name"] for w in r.writes) or "none"), subtle=True)]
        case ShareRequest() as r:
            return [_text(f"**Review: {r.skill_name} v{r.version}**, shared with {r.scope}", weight="Bolder"),
                    _text(_tools(r.tools)), _text(r.diff or r.code, monospace=True)]
        case Home() as home:
            return _body(SkillList(home.skills), thread_key) + [_run_line(r) for r in home.runs[:TABLE_ROWS]]
    raise TypeError(f"no Teams rendering for {type(view).__name__}")


def _run_line(run: RunLine) -> TextBlock:
    icon = {"succeeded": "✅", "failed": "❌", "running": "⏳"}.get(run.status, "•")
    return _text(f"{icon} {run.skill_name} v{run.version} {run.status} · {run.trigger} · {run.started_at}"
                 + (f" — {run.error.splitlines()[0]}" if run.error else ""), spacing="None")


def _tools(tools: list[ToolUse]) -> str:
    return "Tools: " + (", ".join(f"{t.name} ({t.effect or 'unknown'})" for t in tools) or "none")


def _data(data: Any) -> list[CardElement]:
    """Result data: a fact set for a record's plain fields, a table for a list of records, JSON otherwise."""
    if data is None:
        return []
    if isinstance(data, dict):
        records = next((v for v in data.values() if _is_records(v)), None)
        facts = [Fact(title=str(k), value=truncate(_scalar(v), CELL_LIMIT)) for k, v in data.items() if not _is_records(v)]
        elements: list[CardElement] = [FactSet(facts=facts)] if facts else []
        return elements + (_table(records) if records is not None else [])
    if _is_records(data):
        return _table(data)
    return [_text(data_text(data), monospace=True)]


def _table(records: list[dict[str, Any]], max_rows: int = TABLE_ROWS) -> list[CardElement]:
    columns = list(dict.fromkeys(key for record in records for key in record))[:TABLE_COLUMNS]

    def row(values: list[str], header: bool = False) -> TableRow:
        return TableRow(cells=[TableCell(items=[_text(truncate(v, CELL_LIMIT), weight="Bolder" if header else None)])
                               for v in values])

    rows = [row(columns, header=True)] + [row([_scalar(r.get(c, "")) for c in columns]) for r in records[:max_rows]]
    elements: list[CardElement] = [Table(columns=[ColumnDefinition(width=1) for _ in columns], rows=rows)]
    if len(records) > max_rows:
        elements.append(_text(f"… and {len(records) - max_rows} more rows", subtle=True))
    return elements


def _fit(card: AdaptiveCard) -> AdaptiveCard:
    """`card`, with its tables, then its long texts, then its last elements cut until it fits in a Teams message."""
    note = None
    while len(card_json(card)) > CARD_BYTES_LIMIT:
        table = next((e for e in card.body or [] if isinstance(e, Table) and len(e.rows or []) > 2), None)
        if table is not None:
            kept = len(table.rows) // 2
            table.rows = table.rows[:kept]
            index = card.body.index(table)
            card.body.insert(index + 1, _text(f"… rows cut to fit in one Teams message ({kept - 1} shown)", subtle=True))
            continue
        long_texts = [e for e in card.body or [] if isinstance(e, TextBlock) and len(e.text or "") > 400]
        if long_texts:
            longest = max(long_texts, key=lambda e: len(e.text or ""))
            longest.text = truncate(longest.text or "", len(longest.text or "") // 2)
            continue
        if note is None:   # nothing left to shorten: drop elements from the end
            note = _text("… cut to fit in one Teams message", subtle=True)
            card.body.append(note)
        card.body.pop(-2)
    return card


def card_json(card: AdaptiveCard) -> str:
    """The card's JSON as Teams receives it."""
    return card.model_dump_json(by_alias=True, exclude_none=True)


def _text(text: str, *, weight: str | None = None, color: str | None = None, subtle: bool = False,
          monospace: bool = False, spacing: str | None = None) -> TextBlock:
    return TextBlock(text=truncate(text, TEXT_LIMIT), wrap=True, weight=weight, color=color,
                     is_subtle=subtle or None, font_type="Monospace" if monospace else None, spacing=spacing)


def _button(title: str, verb: str, data: dict[str, Any], style: str | None = None) -> ExecuteAction:
    return ExecuteAction(title=truncate(title, BUTTON_TEXT_LIMIT), verb=verb, data=data, style=style)


def _input(stored: dict[str, Any]) -> CardElement:
    parameter = SkillParameter.from_dict(stored)
    name, kind, default, required = parameter.name, parameter.base_type, parameter.default, parameter.required
    input_id, label = f"{PARAMETER_PREFIX}{name}", f"{name}: {parameter.label}"
    if kind in ("int", "float"):
        return NumberInput(id=input_id, label=label, is_required=required or None,
                           value=default if isinstance(default, (int, float)) and not isinstance(default, bool) else None)
    if kind == "bool":
        return ToggleInput(id=input_id, label=name, title=name, value="true" if default else "false")
    if isinstance(default, list):
        shown = ",".join(str(item) for item in default)
    else:
        shown = "" if default is None else str(default)
    return TextInput(id=input_id, label=label, value=shown or None, is_required=required or None,
                     placeholder=parameter.description or None)




def _form_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text.removesuffix(".0") if text.removesuffix(".0").lstrip("-").isdigit() else text


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)
