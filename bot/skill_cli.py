"""`codemem skill …`: the `/skill` commands from a shell, for operators and scripts.

Each command goes through the same core (`bot.core.skills`) and the same authorization as chat, acting as the
user `--as platform:team:user` (default: the local user of `codemem chat`), and prints the same messages. Runs
happen in this process (the embedded job engine), with no model. Exit status: 0 when done, 1 when the answer is
a refusal or a failed run, 2 for a command line that cannot work.
"""

from __future__ import annotations

import asyncio
import getpass
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from bot.settings import Settings

skill_cli = typer.Typer(help="Your skills from the command line: the same commands as /skill in chat.",
                        no_args_is_help=True)

AS_HELP = "Act as this chat user, platform:team:user (e.g. slack:T0123:U0456); default: the user of `codemem chat`."
CHANNEL_HELP = "The channel to act in (skills shared with a channel are reachable there)."
AsOption = typer.Option(None, "--as", help=AS_HELP)
ChannelOption = typer.Option(None, "--channel", help=CHANNEL_HELP)


@dataclass(frozen=True)
class Identity:
    """Who a command acts as, and where."""

    platform: str
    team: str
    user: str
    channel: str

    @classmethod
    def parse(cls, text: str | None, channel: str | None) -> Identity:
        """From `--as platform:team:user` (None: the terminal user of `codemem chat`); exit 2 when malformed."""
        if text is None:
            return cls("terminal", "local", getpass.getuser(), channel or "console")
        parts = text.split(":")
        if len(parts) != 3 or not all(part.strip() for part in parts):
            _fail(f"--as takes platform:team:user (for example slack:T0123:U0456), not {text!r}.")
        platform, team, user = (part.strip() for part in parts)
        return cls(platform, team, user, channel or "cli")


@skill_cli.command("list")
def list_skills(as_: str = AsOption, channel: str = ChannelOption) -> None:
    """The skills you can run: your own and those shared with you."""
    _command(Identity.parse(as_, channel), ["list"])


@skill_cli.command("show")
def show(name: str, as_: str = AsOption, channel: str = ChannelOption) -> None:
    """A skill's parameters, tools, code and schedule."""
    _command(Identity.parse(as_, channel), ["show", name])


@skill_cli.command("run")
def run(name: str, arguments: list[str] = typer.Argument(None, help="key=value for each parameter to change."),
        as_: str = AsOption, channel: str = ChannelOption) -> None:
    """Run a skill, without the model (values are parsed as in chat: folder="Email Attachments", lists a,b,c)."""
    _command(Identity.parse(as_, channel), ["run", name, *(arguments or [])])


@skill_cli.command("history")
def history(name: str, as_: str = AsOption, channel: str = ChannelOption) -> None:
    """A skill's recent runs."""
    _command(Identity.parse(as_, channel), ["history", name])


@skill_cli.command("delete")
def delete(name: str, yes: bool = typer.Option(False, "--yes", help="Delete without asking."),
           as_: str = AsOption, channel: str = ChannelOption) -> None:
    """Delete one of your skills, with its versions, runs, schedule and shares (it asks first, unless --yes)."""
    identity = Identity.parse(as_, channel)
    if yes:
        _command(identity, ["delete", name, "yes"])
        return
    asked = _command(identity, ["delete", name], exit_when_done=False)
    if asked.failed:
        raise typer.Exit(1)
    if not sys.stdin.isatty():
        _fail("Nothing was deleted: confirm with --yes (standard input is not a terminal to ask on).")
    if not typer.confirm("Delete it?", default=False):
        typer.echo("Nothing was deleted.")
        raise typer.Exit(1)
    _command(identity, ["delete", name, "yes"])


@skill_cli.command("approvers")
def approvers(action: str = typer.Argument(..., help="list, add or remove."),
              scope: str = typer.Argument(..., help="channel (the one --channel names) or team."),
              users: list[str] = typer.Argument(None, help="The chat user ids to add or remove."),
              as_: str = AsOption, channel: str = ChannelOption) -> None:
    """Who approves the skills shared with a channel or a team. An operator acts as the workspace's admin:
    --as names the platform and team (and the operator, recorded as the one who added each approver)."""
    identity = Identity.parse(as_, channel)
    if scope.lower() == "channel" and channel is None:
        _fail("Name the channel whose approvers these are with --channel (or use the scope team).")

    async def yes() -> bool:
        return True

    _command(identity, ["approvers", action, scope, *(users or [])], is_admin=yes)


@skill_cli.command("export")
def export(name: str, out: Path = typer.Option(None, "--out", help="The file to write (default: NAME.py here); - for "
                                               "standard output."),
           as_: str = AsOption, channel: str = ChannelOption) -> None:
    """Write a skill as one readable .py file (a metadata header, then its code), to keep in git or import elsewhere."""
    from skills_db.access import Caller
    from skills_db.errors import SkillStoreError

    identity = Identity.parse(as_, channel)

    async def main(skills: Any, user: Any) -> tuple[str, str]:
        return skills.export(Caller(user, identity.channel), name)

    try:
        file_name, text = _with_core(identity, main)
    except SkillStoreError as error:
        _fail(_sentence(str(error)), status=1)
    if out is not None and str(out) == "-":
        typer.echo(text, nl=False)
        return
    path = out or Path(file_name)
    path.write_text(text)
    typer.echo(f"Wrote {path}: codemem skill import {path} reads it back.")


@skill_cli.command("import")
def import_skill(file: Path = typer.Argument(..., help="A file written by `codemem skill export`."),
                 name: str = typer.Option(None, "--name", help="Save it under this name instead of the file's."),
                 yes: bool = typer.Option(False, "--yes", help="Import and approve without asking."),
                 as_: str = AsOption, channel: str = ChannelOption) -> None:
    """Read an exported skill file into your skills (a new skill, or a new version of yours of that name); it
    shows the code and asks before approving it, unless --yes."""
    from skills_db.errors import SkillStoreError
    from skills_db.transfer import SkillFile

    identity = Identity.parse(as_, channel)
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as error:
        _fail(f"Cannot read {file}: {error.strerror if isinstance(error, OSError) else error}.")
    try:
        parsed = SkillFile.parse(text)
    except SkillStoreError as error:
        _fail(f"{file} is not a skill file: {error}.")
    if not yes:
        typer.echo(f"{name or parsed.name} (from {file}): {parsed.description}\n"
                   f"tools: {', '.join(parsed.tools) or 'none'}\n\n{parsed.code}")
        if not sys.stdin.isatty():
            _fail("Nothing was imported: confirm with --yes (standard input is not a terminal to ask on).")
        if not typer.confirm("Import this code as a skill that runs without review?", default=False):
            typer.echo("Nothing was imported.")
            raise typer.Exit(1)

    async def main(skills: Any, user: Any) -> Any:
        return skills.import_file(user, text, name=name)

    try:
        notice = _with_core(identity, main)
    except SkillStoreError as error:
        _fail(f"Cannot import {file}: {_sentence(str(error))}", status=1)
    from bot.surfaces.terminal import plain

    typer.echo(plain(notice.text))


# ------------------------------------------------------------------------------------------------ plumbing

def _command(identity: Identity, words: list[str], *, exit_when_done: bool = True,
             is_admin: Callable[[], Any] | None = None) -> Any:
    """Run `/skill WORDS` as `identity` and print what chat would show; exit 1 when it refused or failed."""
    from bot.core.views import ThreadRef

    async def main(skills: Any, user: Any, surface: Any) -> None:
        where = ThreadRef(identity.platform, identity.team, identity.channel, "cli")
        await surface.post(where, await skills.command(where, user, shlex.join(words), is_admin=is_admin))

    surface = _with_core(identity, main, surface=True)
    if exit_when_done and surface.failed:
        raise typer.Exit(1)
    return surface


def _with_core(identity: Identity, main: Callable[..., Any], *, surface: bool = False) -> Any:
    """Open CodeMem for one command (embedded jobs, no model), run `main` and wait for the jobs it started."""
    from bot.agent.model import ModelConfigError
    from bot.app import SettingsError
    from bot.extras import MissingExtra
    from skills_db.connections import SecretKeyError

    try:
        return asyncio.run(_open_and_run(identity, main, surface))
    except (ModelConfigError, SecretKeyError, SettingsError, MissingExtra) as error:
        _fail(str(error))


async def _open_and_run(identity: Identity, main: Callable[..., Any], surface: bool) -> Any:
    from bot.app import open_codemem
    from skills_db.models import Owner

    printer = _Printer()
    settings = Settings()
    # One command: the jobs it starts run here, a sandbox worker starts on demand, and no model is needed.
    settings = settings.model_copy(update={"jobs": "inprocess", "model": None,
                                           "sandbox": "subprocess" if settings.sandbox == "pool" else settings.sandbox})
    async with open_codemem(settings) as codemem:
        codemem.surfaces.attach(identity.platform, printer)
        user = Owner(identity.platform, identity.team, identity.user)
        result = await (main(codemem.skills, user, printer) if surface else main(codemem.skills, user))
        await codemem.jobs.drain()
    return printer if surface else result


class _Printer:
    """The terminal's rendering of views, remembering whether any was a refusal or a failed run."""

    def __init__(self) -> None:
        from bot.surfaces.terminal import TerminalSurface

        self.terminal = TerminalSurface()
        self.failed = False

    async def post(self, thread: Any, view: Any) -> str:
        from bot.core.views import DeleteConfirmation, Notice, RunForm, SkillRunReport
        from bot.surfaces.terminal import plain

        if isinstance(view, DeleteConfirmation):   # the command line asks with a prompt, or takes --yes
            self.terminal.out.write(plain(view.text) + "\n")
            return ""
        if (isinstance(view, Notice) and view.error) or isinstance(view, RunForm) or (
                isinstance(view, SkillRunReport) and not view.succeeded):
            self.failed = True
        return await self.terminal.post(thread, view)

    async def update(self, thread: Any, message_id: str, view: Any) -> None:
        await self.post(thread, view)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:].rstrip(".") + "."


def _fail(message: str, *, status: int = 2) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(status)
