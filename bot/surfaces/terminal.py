"""The terminal surface behind `codemem chat`: the same journeys as Slack, as plain text, with line editing."""

from __future__ import annotations

import asyncio
import getpass
import re
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.app import CodeMem
from bot.banner import model_summary
from bot.core.views import (Answer, ConnectLink, DeleteConfirmation, Home, Notice, PreviewReport, Progress, Question,
                            RunForm, RunHistory, SaveForm, ScheduleForm, ShareRequest, SkillDetail, SkillList,
                            SkillProposal, SkillRunReport, ThreadRef, View, usage_text)
from bot.surfaces.text import checklist, data_text, usage_line
from bot.workspace import DemoWorkspace
from skills_db.models import Owner

SAVE_WORDS = ("save", "/save")
QUIT_WORDS = ("/quit", "/exit")
HELP = """What you can type:
  a task in your own words       the agent works it out, asks when something is unclear
  a number                       answers the question above with that choice
  save                           saves the last result as a skill
  /skill list | run NAME key=value | show NAME | history NAME | help
  /connect microsoft|google      connect your own account (when OAuth clients are configured)
  /help                          this help
  /quit, Ctrl-D or Ctrl-C        leave (the conversation is kept: codemem chat --thread NAME)
Editing: arrow keys, Ctrl-A / Ctrl-E, Ctrl-R searches earlier lines."""

_SLACK_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)\|([^>]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")


def plain(text: str) -> str:
    """`text` without the chat markup the core writes for Slack: backticks, *bold*, <url|label> links."""
    text = _SLACK_LINK.sub(lambda m: f"{m[2]} ({m[1]})", text)
    return _BOLD.sub(r"\1", text.replace("```", "").replace("`", ""))


class TerminalSurface:
    """Prints views; remembers the offered choices and skill so a number or `save` can answer them.
    `width`: the table width (default: the terminal's); `estimated_tokens`: the model's counts are estimates."""

    def __init__(self, out: TextIO = sys.stdout, width: int | None = None, estimated_tokens: bool = False) -> None:
        self.out = out
        self.width = width
        self.estimated_tokens = estimated_tokens
        self.choices: list[str] = []
        self.offered_skill: str | None = None
        self._count = 0

    async def post(self, thread: ThreadRef, view: View) -> str:
        self._count += 1
        self._print(view)
        return str(self._count)

    async def update(self, thread: ThreadRef, message_id: str, view: View) -> None:
        self._print(view)

    def _data(self, data: object) -> str:
        return data_text(data, width=self.width or shutil.get_terminal_size().columns)

    def _print(self, view: View) -> None:
        match view:
            case Progress(status=status, todos=todos):
                self.out.write(f"… {plain(status)}\n" + (plain(checklist(todos)) + "\n" if todos else ""))
            case Question(text=text, choices=choices):
                self.choices = list(choices)
                lines = [f"? {plain(text)}"] + [f"  {n}. {plain(choice)}" for n, choice in enumerate(choices, 1)]
                self.out.write("\n".join(lines) + "\n")
            case Answer(text=text, data=data, offer=offer, usage=usage):
                self.offered_skill = offer.button_value if offer else None
                self.out.write(f"\n{plain(text)}\n" + (self._data(data) + "\n" if data is not None else ""))
                if offer is not None:
                    if offer.diff:
                        self.out.write(offer.diff + "\n")
                    self.out.write(f"Type save to save this as the skill {offer.name} (version {offer.version}).\n")
                if usage:
                    self.out.write(usage_line(usage, estimated=self.estimated_tokens) + "\n")
            case SkillRunReport() as report:
                state = "finished" if report.succeeded else "failed"
                self.out.write(f"{report.skill_name} v{report.version} {state} in {report.duration_ms / 1000:.1f} s\n")
                self.out.write((self._data(report.result) if report.succeeded else report.error or "") + "\n")
            case SkillList(skills=skills):
                self.out.write("\n".join(f"{s.name} (v{s.version}): {plain(s.description)} [{usage_text(s.parameters)}]"
                                         for s in skills) or "No saved skills yet.")
                self.out.write("\n")
            case Notice(text=text, error=error):
                self.out.write(("! " if error else "") + plain(text) + "\n")
            case ConnectLink(provider=provider, url=url):
                self.out.write(f"Open this link to connect your {provider} account: {url}\n")
            case RunHistory(skill_name=name, runs=[]):
                self.out.write(f"{name} has not run yet: /skill run {name} runs it.\n")
            case RunHistory(skill_name=name, runs=runs):
                self.out.write(f"Runs of {name}:\n" + "".join(f"  #{r.run_id} v{r.version} {r.status} {r.started_at}"
                                                               f"{' — ' + r.error.splitlines()[0] if r.error else ''}\n"
                                                               for r in runs))
            case SkillDetail() as d:
                tools = ", ".join(f"{t.name} ({t.effect})" for t in d.tools) or "none"
                self.out.write(f"{d.name} v{d.version} ({d.status}): {plain(d.description)}\n"
                               f"[{usage_text(d.parameters)}]\ntools: {tools}\n{d.code}\n"
                               + (f"schedule: {d.schedule}\n" if d.schedule else ""))
            case RunForm(name=name, parameters=parameters, problems=problems):
                missing = [p["name"] for p in parameters if p.get("required")]
                self.out.write(f"{name} needs {', '.join(missing)}: run it again with key=value [{usage_text(parameters)}]"
                               + "".join(f"\n  {plain(problem)}" for problem in problems) + "\n")
            case ScheduleForm(name=name, current=current):
                self.out.write(f"{name}: {current or 'not scheduled'}. Use /skill schedule {name} \"CRON\" tz=ZONE\n")
            case SaveForm(name=name):
                self.out.write(f"Type save to save {name}.\n")
            case SkillProposal() as p:
                self.out.write(f"Proposed skill {p.name} v{p.version}:\n{p.code}\n"
                               f"dry run: {p.preview_error or self._data(p.preview_result)}\n")
            case PreviewReport() as r:
                self.out.write(f"Dry run of {r.skill_name} v{r.version}: {r.error or self._data(r.result)}\n")
            case ShareRequest() as r:
                self.out.write(f"Review {r.skill_name} v{r.version}, shared with {r.scope}:\n{r.diff or r.code}\n")
            case Home(skills=skills):
                self._print(SkillList(skills))
            case DeleteConfirmation() as confirmation:
                self.out.write(f"{confirmation.text} Type `/skill delete {confirmation.name} yes` to delete it.\n")
        self.out.flush()


def line_reader(history: Path | None) -> Callable[[str], Awaitable[str]]:
    """How to read a line: prompt_toolkit on a terminal (editing, history in `history`, Ctrl-R), else plain
    input (piped scripts). Both raise EOFError at Ctrl-D or end of input, KeyboardInterrupt at Ctrl-C."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return lambda prompt: asyncio.to_thread(input, prompt)
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    session: PromptSession[str] = PromptSession(history=FileHistory(str(history)) if history else InMemoryHistory())
    return session.prompt_async


async def chat(codemem: CodeMem, thread_name: str, *, model: str | None = None, history: Path | None = None) -> None:
    """Read lines until /quit, Ctrl-D or Ctrl-C; each line is a message, a choice or a command. `model`:
    CODEMEM_MODEL, for the banner; `history`: the file that keeps typed lines between sessions."""
    estimated = bool(model and model.startswith("replay:"))   # the replay counts tokens approximately
    surface = TerminalSurface(estimated_tokens=estimated)
    codemem.surfaces.attach("terminal", surface)
    user = Owner("terminal", "local", getpass.getuser())
    thread = ThreadRef("terminal", "local", "console", thread_name)
    workspace = (f"the demo at {codemem.workspace.emulator_url}" if isinstance(codemem.workspace, DemoWorkspace)
                 else "your connected accounts")
    print(f"CodeMem in the terminal. Model: {model_summary(model)}. Workspace: {workspace}.")
    print(f"Conversation {thread_name} (come back with: codemem chat --thread {thread_name}). "
          "Type a task, or /help. /quit or Ctrl-D leaves.")
    pending = await codemem.conversations.pending_question(thread)
    if pending is not None:
        await surface.post(thread, pending)
    read = line_reader(history)
    while True:
        try:
            line = (await read("you> ")).strip()
        except (EOFError, KeyboardInterrupt):
            return
        if not line:
            continue
        if line.lower() in QUIT_WORDS:
            return
        if line.lower() in ("/help", "help", "?"):
            print(HELP)
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
        try:
            await codemem.jobs.drain()
        except asyncio.CancelledError:   # Ctrl-C while a task runs: stop it, then leave
            await codemem.jobs.cancel(thread.thread_id)
            raise
