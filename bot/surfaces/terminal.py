"""The terminal surface behind `codemem chat`: the same journeys as Slack, as plain text."""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import TextIO

from bot.app import CodeMem
from bot.core.views import (Answer, ConnectLink, DeleteConfirmation, Home, Notice, PreviewReport, Progress, Question,
                            RunForm, RunHistory, SaveForm, ScheduleForm, ShareRequest, SkillDetail, SkillList,
                            SkillProposal, SkillRunReport, ThreadRef, View, usage_text)
from bot.surfaces.text import checklist, data_text, usage_line
from skills_db.models import Owner

SAVE_WORDS = ("save", "/save")


class TerminalSurface:
    """Prints views; remembers the offered choices and skill so a number or `save` can answer them."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.choices: list[str] = []
        self.offered_skill: str | None = None
        self._count = 0

    async def post(self, thread: ThreadRef, view: View) -> str:
        self._count += 1
        self._print(view)
        return str(self._count)

    async def update(self, thread: ThreadRef, message_id: str, view: View) -> None:
        self._print(view)

    def _print(self, view: View) -> None:
        match view:
            case Progress(status=status, todos=todos):
                self.out.write(f"… {status}\n" + (checklist(todos) + "\n" if todos else ""))
            case Question(text=text, choices=choices):
                self.choices = list(choices)
                lines = [f"? {text}"] + [f"  {n}. {choice}" for n, choice in enumerate(choices, 1)]
                self.out.write("\n".join(lines) + "\n")
            case Answer(text=text, data=data, offer=offer, usage=usage):
                self.offered_skill = offer.button_value if offer else None
                self.out.write(f"\n{text}\n" + (data_text(data) + "\n" if data is not None else ""))
                if offer is not None:
                    if offer.diff:
                        self.out.write(offer.diff + "\n")
                    self.out.write(f"Type `save` to save this as the skill `{offer.name}` (version {offer.version}).\n")
                if usage:
                    self.out.write(usage_line(usage) + "\n")
            case SkillRunReport() as report:
                state = "finished" if report.succeeded else "failed"
                self.out.write(f"{report.skill_name} v{report.version} {state} in {report.duration_ms / 1000:.1f} s\n")
                self.out.write((data_text(report.result) if report.succeeded else report.error or "") + "\n")
            case SkillList(skills=skills):
                self.out.write("\n".join(f"{s.name} (v{s.version}): {s.description} [{usage_text(s.parameters)}]"
                                         for s in skills) or "No saved skills yet.")
                self.out.write("\n")
            case Notice(text=text, error=error):
                self.out.write(("! " if error else "") + text + "\n")
            case ConnectLink(provider=provider, url=url):
                self.out.write(f"Open this link to connect your {provider} account: {url}\n")
            case RunHistory(skill_name=name, runs=runs):
                self.out.write(f"Runs of {name}:\n" + "".join(f"  #{r.run_id} v{r.version} {r.status} {r.started_at}"
                                                               f"{' — ' + r.error.splitlines()[0] if r.error else ''}\n"
                                                               for r in runs) or "  none\n")
            case SkillDetail() as d:
                tools = ", ".join(f"{t.name} ({t.effect})" for t in d.tools) or "none"
                self.out.write(f"{d.name} v{d.version} ({d.status}): {d.description}\n[{usage_text(d.parameters)}]\n"
                               f"tools: {tools}\n{d.code}\n" + (f"schedule: {d.schedule}\n" if d.schedule else ""))
            case RunForm(name=name, parameters=parameters, problems=problems):
                missing = [p["name"] for p in parameters if p.get("required")]
                self.out.write(f"`{name}` needs {', '.join(missing)}: run it again with key=value [{usage_text(parameters)}]"
                               + "".join(f"\n  {problem}" for problem in problems) + "\n")
            case ScheduleForm(name=name, current=current):
                self.out.write(f"{name}: {current or 'not scheduled'}. Use /skill schedule {name} \"CRON\" tz=ZONE\n")
            case SaveForm(name=name):
                self.out.write(f"Type `save` to save {name}.\n")
            case SkillProposal() as p:
                self.out.write(f"Proposed skill {p.name} v{p.version}:\n{p.code}\n"
                               f"dry run: {p.preview_error or data_text(p.preview_result)}\n")
            case PreviewReport() as r:
                self.out.write(f"Dry run of {r.skill_name} v{r.version}: {r.error or data_text(r.result)}\n")
            case ShareRequest() as r:
                self.out.write(f"Review {r.skill_name} v{r.version}, shared with {r.scope}:\n{r.diff or r.code}\n")
            case Home(skills=skills):
                self._print(SkillList(skills))
            case DeleteConfirmation() as confirmation:
                self.out.write(f"{confirmation.text} Type `/skill delete {confirmation.name} yes` to delete it.\n")
        self.out.flush()


async def chat(codemem: CodeMem, thread_name: str) -> None:
    """Read lines from the terminal until end of input; each line is a message, a choice or a command."""
    surface = TerminalSurface()
    codemem.surfaces.attach("terminal", surface)
    user = Owner("terminal", "local", getpass.getuser())
    thread = ThreadRef("terminal", "local", "console", thread_name)
    print(f"CodeMem in the terminal (demo workspace at {codemem.workspace.emulator_url}). "
          "Type a task, `/skill list`, `/skill run NAME key=value`, or Ctrl-D to quit.")
    while True:
        try:
            line = (await asyncio.to_thread(input, "you> ")).strip()
        except EOFError:
            return
        if not line:
            continue
        if line.startswith("/skill"):
            await surface.post(thread, await codemem.skills.command(thread, user, line[len("/skill"):], private=True))
        elif line.startswith(("/connect", "/disconnect")):
            verb, _, provider = line[1:].partition(" ")
            journey = codemem.connections.connect if verb == "connect" else codemem.connections.disconnect
            await surface.post(thread, await journey(user, provider.strip().lower()))
        elif line.lower() in SAVE_WORDS and surface.offered_skill is not None:
            await surface.post(thread, await codemem.skills.save(user, surface.offered_skill))
        else:
            if line.isdigit() and 0 < int(line) <= len(surface.choices):
                line = surface.choices[int(line) - 1]
            surface.choices = []
            await codemem.conversations.on_message(surface, thread, user, line)
        await codemem.jobs.drain()
