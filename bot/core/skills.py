"""The skill journeys: the `/skill` commands, runs (by command, form, button or retry), previews, schedules,
sharing with approvers, and the App Home. Saving a proposal as a skill is in `bot.core.proposals`.

Every method that acts takes the user from the platform's verified request and lets the store decide what
they may do: a click by someone else, or a forged button value, gets a refusal without detail. Methods given
a `once` key (a click's identity) do their work the first time only, so a double click is harmless.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, TypeVar

from bot.core.personal_tokens import TokenCommands
from bot.core.proposals import Proposals, tool_uses
from bot.core.surface import Surfaces
from bot.core.views import (DeleteConfirmation, Home, Notice, PreviewReport, RunForm, RunHistory, RunLine, ScheduleForm,
                            SkillDetail, SkillList, SkillRunReport, SkillSummary, SuggestedPrompt, ThreadRef, View,
                            usage_text)
from bot.runtime.jobs import Jobs
from bot.runtime.skill_runner import PreparedRun, SkillRunner
from skills_db.access import Caller, ShareScope
from skills_db.errors import NotAllowed, RunNotFound, SkillNotFound, SkillStoreError, VersionNotFound
from skills_db.models import Owner, RunTrigger, Skill, SkillRun
from skills_db.params import SMART_QUOTES, ArgumentError, argument_text, parse_arguments
from skills_db.schedules import describe
from skills_db.store import SkillStore

T = TypeVar("T")

RUN_JOB = "skill_run"
PREVIEW_JOB = "skill_preview"
SHARE_REVIEW_JOB = "skill_share_review"
APPROVER_JOB = "skill_new_approver"
HISTORY_LIMIT = 10
HOME_RUNS = 10
USAGE = ("Usage: `/skill list` · `/skill run NAME key=value …` (quote values with spaces: "
         "`folder=\"Email Attachments\"`) · `/skill show NAME` · `/skill history NAME` · "
         "`/skill schedule NAME \"0 9 * * 1\" tz=Europe/Paris key=value …` · `/skill unschedule NAME` · "
         "`/skill share NAME channel|team [run|view]` · `/skill delete NAME` · "
         "`/skill approvers list|add|remove channel|team @user` (admins) · "
         "`/skill mcp-token [list|revoke ID]` (a token for MCP clients and the HTTP API) · `/skill help`")
APPROVERS_USAGE = ("Usage: `/skill approvers list channel|team` · `/skill approvers add channel|team @user` · "
                   "`/skill approvers remove channel|team @user` (adding and removing: workspace admins and owners)")
NOT_ADMIN = ("Only a workspace admin or owner can change who approves shared skills. Ask one, or an operator "
             "(`codemem skill approvers`).")
_MENTION = re.compile(r"^<?@?(?P<id>[A-Za-z0-9][\w.:-]*?)(\|[^>]*)?>?$")

AdminCheck = Callable[[], Awaitable[bool]]
STARTER_PROMPTS = [
    SuggestedPrompt("Save my email attachments", "Save the PDF and XLSX attachments from the last 15 days of my "
                    "Outlook mail to OneDrive, one folder per company"),
    SuggestedPrompt("What can you do?", "Which workspace functions can you use, and what are skills?"),
]
PROMPTS_SHOWN = 4
DELETE_WORDS = ("yes", "--yes")
REFUSED = "That is not yours to use: only the person it belongs to can click it."
MAX_COMMAND_CHARS = 4000
"""The longest `/skill` text read: splitting it like a shell takes about a millisecond; `shlex` is slow on
long texts (0.4 MB took seconds), so longer ones are refused unread."""


class Skills:
    """Skill commands and buttons. Each answers at once (the ack) and runs the slow part as a job."""

    def __init__(self, store: SkillStore, runner: SkillRunner, jobs: Jobs, surfaces: Surfaces,
                 tokens: TokenCommands | None = None) -> None:
        self.store = store
        self.tokens = tokens
        self.runner = runner
        self.jobs = jobs
        self.surfaces = surfaces
        self.proposals = Proposals(store, runner, jobs, surfaces)
        jobs.handle(RUN_JOB, self._run)
        jobs.handle(PREVIEW_JOB, self._preview)
        jobs.handle(SHARE_REVIEW_JOB, self._ask_approvers)
        jobs.handle(APPROVER_JOB, self._brief_approver)

    async def _read(self, read: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A store read made while Slack or Teams waits for the ack: inline on SQLite (a local file, read in
        well under a millisecond; in threads, a burst of them would only queue for the interpreter lock), in
        a worker thread on PostgreSQL (a network round trip must not hold the event loop)."""
        if self.store.is_local:
            return read(*args, **kwargs)
        return await asyncio.to_thread(read, *args, **kwargs)

    async def save(self, user: Owner, offer: str) -> Notice:
        """The owner clicked "Save as skill" on an offer (`skill_id:version`): make that version the
        active one. Safe to click twice; anyone else, or a forged value, is refused without detail."""
        skill_id, _, version_text = offer.partition(":")
        try:
            skill = self.store.get(int(skill_id), viewer=user)
            version = int(version_text or skill.current_version)
            if skill.status == "active" and skill.current_version == version:
                return Notice(f"`{skill.name}` version {version} is already saved.")
            skill = self.store.activate(skill.id, by=user, version=version)
        except (NotAllowed, SkillNotFound, VersionNotFound, ValueError):
            return Notice("Only the person who asked for this task can save it as a skill.", error=True)
        saved = self.store.get_version(skill.id, viewer=user)
        return Notice(f"Saved skill `{skill.name}` (version {saved.version}) with parameters "
                      f"{usage_text(saved.parameters)}. Run it with `/skill run {skill.name}` "
                      "and `key=value` to change a parameter.")

    # ------------------------------------------------------------------------------------------ commands

    async def command(self, where: ThreadRef, user: Owner, text: str, *, is_admin: AdminCheck | None = None,
                      private: bool = False) -> View:
        """Handle `/skill …` text; return the immediate answer and start any run in the background.

        Missing required parameters give a `RunForm` (a modal on Slack); other mistakes a `Notice` that
        says what was wrong and shows the usage. The store is read as `_read` says: inline on SQLite, in a
        worker thread on PostgreSQL. The text is split in a worker thread (it is the user's, of any shape),
        and refused unread over MAX_COMMAND_CHARS. `is_admin` says whether `user` administers their workspace
        (asked only by `/skill approvers add|remove`; a surface that cannot tell passes None: not an admin).
        `private` says that only `user` sees the answer (a new personal token is shown only then)."""
        if len(text) > MAX_COMMAND_CHARS:
            return Notice(f"That command is {len(text):,} characters long: a `/skill` command takes at most "
                          f"{MAX_COMMAND_CHARS:,}. Shorten its values (a skill's defaults need not be typed). {USAGE}",
                          error=True)
        try:
            words = await asyncio.to_thread(_words, text)
        except ValueError as error:
            return Notice(f"I could not read that command ({error}). {USAGE}", error=True)
        verb, args = (words[0].lower(), words[1:]) if words else ("help", [])
        caller = Caller(user, where.channel or None)
        if verb == "list":
            return await self._read(self._list, caller)
        if verb == "help":
            return Notice(USAGE)
        if verb == "approvers":
            return await self._command_approvers(where, user, args, is_admin)
        if verb == "mcp-token" and self.tokens is not None:
            return await asyncio.to_thread(self.tokens.command, user, args, private=private)
        handlers = {"run": self._command_run, "show": self._command_show, "history": self._command_history,
                    "schedule": self._command_schedule, "unschedule": self._command_unschedule,
                    "share": self._command_share, "delete": self._command_delete}
        if verb not in handlers:
            return Notice(f"I don't know `/skill {verb}`. {USAGE}", error=True)
        if not args:
            return Notice(f"`/skill {verb}` needs the name of a skill. {USAGE}", error=True)
        try:
            return await handlers[verb](where, caller, args[0], args[1:])
        except (SkillStoreError, ArgumentError) as error:
            return Notice(f"{_sentence(str(error))} {USAGE}", error=True)

    def _list(self, caller: Caller) -> SkillList:
        return SkillList([_summary(r.skill, r.version.version, r.version.parameters, r.shared)
                          for r in self.store.list_runnable(caller)])

    async def _command_run(self, where: ThreadRef, caller: Caller, name: str, rest: list[str]) -> View:
        arg_text = shlex.join(rest)
        try:
            prepared = await self._read(self.runner.prepare, caller, name=name, arguments=arg_text)
        except ArgumentError as error:
            found = await self._read(self.store.find_runnable, caller, name)
            if found is not None and error.missing:
                values = _safe_arguments(arg_text)
                problems = [p for p in error.problems if not any(p.startswith(f"{m} is required") for m in error.missing)]
                return RunForm(found.skill.id, found.skill.name, found.version.version, found.skill.description,
                               found.version.parameters, values, problems)
            usage = f"\nParameters of `{name}`: {usage_text(found.version.parameters)}" if found else ""
            return Notice(f"{error}{usage}\n{USAGE}", error=True)
        except SkillNotFound:
            return Notice(f"You have no saved skill named `{name}` that you can run. `/skill list` shows yours.",
                          error=True)
        return await self._submit_run(where, caller, prepared)

    async def _command_show(self, where: ThreadRef, caller: Caller, name: str, rest: list[str]) -> View:
        return await self._read(lambda: self.detail(caller, self._find(caller, name).id))

    async def _command_history(self, where: ThreadRef, caller: Caller, name: str, rest: list[str]) -> View:
        return await self._read(lambda: self.history(caller, self._find(caller, name).id))

    async def _command_schedule(self, where: ThreadRef, caller: Caller, name: str, rest: list[str]) -> View:
        skill = self._own(caller.user, name)
        if not rest:
            return self.schedule_form(caller.user, skill.id)
        cron, options = rest[0], parse_arguments(shlex.join(rest[1:]))
        timezone, missed = options.pop("tz", "UTC"), options.pop("missed", "skip")
        try:
            schedule = self.store.schedules.set(skill.id, caller.user, cron, timezone, options, missed=missed,
                                                notify=_notify(where))
        except ArgumentError as error:
            return Notice(f"{error}\nParameters of `{name}`: {usage_text(self._version(caller, skill.id).parameters)}",
                          error=True)
        return Notice(f"Scheduled `{skill.name}`: {describe(schedule)}. Results are posted here.")

    async def _command_unschedule(self, where: ThreadRef, caller: Caller, name: str, rest: list[str]) -> View:
        skill = self._own(caller.user, name)
        removed = self.store.schedules.remove(skill.id, caller.user)
        return Notice(f"`{skill.name}` is no longer scheduled." if removed else f"`{skill.name}` had no schedule.")

    async def _command_share(self, where: ThreadRef, caller: Caller, name: str, rest: list[str]) -> View:
        skill = self._own(caller.user, name)
        target = rest[0].lower() if rest else "channel"
        role = rest[1].lower() if len(rest) > 1 else "run"
        user = caller.user
        if target == "team":
            scope = ShareScope.of_team(user.platform, user.team)
        elif target in ("channel", "here") and where.channel:
            scope = ShareScope.of_channel(user.platform, user.team, where.channel)
        else:
            return Notice(f"Share with `channel` (this one) or `team`, not `{rest[0]}`. {USAGE}", error=True)
        if role not in ("run", "view"):
            return Notice(f"A share lets people `run` or `view` a skill, not `{role}`. {USAGE}", error=True)
        share = self.store.sharing.share(skill.id, user, scope, role=role)
        approvers = self.store.sharing.approvers(scope)
        if not approvers:
            return Notice(f"Shared `{skill.name}` with {scope.label()}, but no one approves skills there yet: "
                          "an admin must add an approver before members can use it.")
        await self.jobs.submit(SHARE_REVIEW_JOB, {"share_id": share.id, "scope": asdict(scope)},
                               key=f"share:{share.id}")
        return Notice(f"Shared `{skill.name}` with {scope.label()}: I asked its {len(approvers)} approver(s) to "
                      "review it; members can use it once one approves.")

    async def _command_approvers(self, where: ThreadRef, user: Owner, args: list[str],
                                 is_admin: AdminCheck | None) -> Notice:
        action = args[0].lower() if args else "list"
        if action not in ("list", "add", "remove"):
            return Notice(f"I don't know `/skill approvers {args[0]}`. {APPROVERS_USAGE}", error=True)
        target = args[1].lower() if len(args) > 1 else "channel"
        if target == "team":
            scope = ShareScope.of_team(user.platform, user.team)
        elif target in ("channel", "here") and where.channel:
            scope = ShareScope.of_channel(user.platform, user.team, where.channel)
        else:
            return Notice(f"Approvers are of a `channel` (this one) or the `team`, not `{args[1]}`. {APPROVERS_USAGE}",
                          error=True)
        if action == "list":
            approvers = await self._read(self.store.sharing.approvers, scope)
            return Notice(f"Approvers of skills shared with {scope.label()}: "
                          + (", ".join(f"`{a}`" for a in approvers) + "." if approvers else
                             "none yet (a workspace admin adds them with `/skill approvers add`)."))
        found = [_MENTION.match(word) for word in args[2:]]
        if not found or not all(found):
            return Notice(f"Name the person to {action} as an approver: `/skill approvers {action} {target} @user`. "
                          f"{APPROVERS_USAGE}", error=True)
        if is_admin is None or not await is_admin():
            return Notice(NOT_ADMIN, error=True)
        lines = []
        for person in (match["id"] for match in found if match):
            if action == "add":
                added = await self._read(self.store.sharing.add_approver, scope, person, user.user_ref)
                lines.append(f"`{person}` now approves skills shared with {scope.label()}." if added else
                             f"`{person}` already approves skills shared with {scope.label()}.")
                if added:
                    await self.jobs.submit(APPROVER_JOB, {"approver": asdict(Owner(user.platform, user.team, person))},
                                           key=f"approver:{user.platform}:{user.team}:{person}")
            else:
                removed = await self._read(self.store.sharing.remove_approver, scope, person)
                lines.append(f"`{person}` no longer approves skills shared with {scope.label()}." if removed else
                             f"`{person}` was not an approver of {scope.label()}.")
        return Notice(" ".join(lines))

    async def _command_delete(self, where: ThreadRef, caller: Caller, name: str, rest: list[str]) -> View:
        skill = self._own(caller.user, name)
        if [word.lower() for word in rest] in ([word] for word in DELETE_WORDS):
            return self._delete(caller.user, skill)
        return self.delete_confirmation(caller.user, skill)

    def delete_confirmation(self, user: Owner, skill: Skill) -> DeleteConfirmation:
        """What `/skill delete` asks before deleting the owner's skill: what goes with it, in words."""
        versions = len(self.store.versions(skill.id, user))
        runs = self.store.run_count(skill.id)
        schedule = self.store.schedules.get(skill.id, user)
        shares = len(self.store.sharing.shares(skill.id, user))
        goes = [_count(versions, "version"), _count(runs, "recorded run")]
        if schedule is not None:
            goes.append(f"its schedule ({describe(schedule)})")
        if shares:
            goes.append(_count(shares, "share") + " with its approvals")
        return DeleteConfirmation(skill.id, skill.name, ", ".join(goes[:-1]) + " and " + goes[-1])

    def confirm_delete(self, user: Owner, value: str) -> Notice:
        """The owner clicked Delete on a `DeleteConfirmation` (`skill_id:name`); a second click says it is done.
        Anyone else, or a forged value, is refused without detail."""
        skill_id, _, name = value.partition(":")
        try:
            skill = self.store.get(int(skill_id), user)
        except SkillNotFound:
            # gone: deleted by this user (recorded when they did), or never theirs to see
            if not self.store.mark_event_processed(_deleted_key(skill_id, user)):
                return Notice(f"`{name}` is already deleted.")
            return Notice(REFUSED, error=True)
        except ValueError:
            return Notice(REFUSED, error=True)
        if not skill.is_owned_by(user):
            return Notice(REFUSED, error=True)
        return self._delete(user, skill)

    def _delete(self, user: Owner, skill: Skill) -> Notice:
        self.store.delete(skill.id, user)
        self.store.mark_event_processed(_deleted_key(str(skill.id), user))
        return Notice(f"Deleted `{skill.name}` with its versions, runs, schedule and shares.")

    # ---------------------------------------------------------------------------------- skills as files

    def export(self, caller: Caller, name: str) -> tuple[str, str]:
        """The caller's skill `name` (or one shared with them) as a readable `.py` file: (file name, text)."""
        skill = self._find(caller, name)
        return f"{skill.name}.py", self.store.export_file(skill.id, caller)

    def import_file(self, user: Owner, text: str, *, name: str | None = None) -> Notice:
        """Read an exported file into the user's skills (a new skill, or a new version of theirs of that name)
        and approve it: the person importing has read it. Raises `SkillStoreError` for a file that is not one."""
        skill, row = self.store.import_file(user, text, name=name)
        self.store.approve(skill.id, user, row.version, note="imported from a file")
        return Notice(f"Imported `{skill.name}` as version {row.version} with parameters {usage_text(row.parameters)}. "
                      f"Run it with `/skill run {skill.name}`.")

    # -------------------------------------------------------------------------------------- views of skills

    def detail(self, caller: Caller, skill_id: int) -> SkillDetail:
        """What `/skill show` and a Show button display (raises `SkillNotFound` for someone else's skill)."""
        skill = self.store.get(skill_id, caller)
        version = self._version(caller, skill_id)
        owned = skill.is_owned_by(caller.user)
        schedule = self.store.schedules.get(skill_id, caller.user) if owned else None
        shares = [f"{s.kind} {s.target}: " + (f"v{s.approved_version} approved" if s.approved_version else "pending")
                  for s in self.store.sharing.shares(skill_id, caller.user)] if owned else []
        return SkillDetail(skill.id, skill.name, skill.description, version.version, skill.status, version.parameters,
                           tool_uses(self.runner, version.tools), version.code, describe(schedule) if schedule else None,
                           shares, owned)

    def history(self, caller: Caller, skill_id: int) -> RunHistory:
        """The skill's recent runs that the caller may see."""
        skill = self.store.get(skill_id, caller)
        return RunHistory(skill.name, [_line(run, skill.name) for run in
                                       self.store.history(skill_id, caller, HISTORY_LIMIT)])

    def home(self, user: Owner) -> Home:
        """The App Home of `user`: runnable skills, schedules in words, and their latest runs."""
        runnable = self.store.list_runnable(user)
        schedules = {skill.name: describe(schedule) for skill, schedule in self.store.schedules.of_owner(user)}
        runs = [_line(run, r.skill.name) for r in runnable for run in self.store.history(r.skill.id, user, HOME_RUNS)]
        runs.sort(key=lambda line: (line.started_at, line.run_id), reverse=True)
        return Home([_summary(r.skill, r.version.version, r.version.parameters, r.shared) for r in runnable],
                    schedules, runs[:HOME_RUNS])

    def suggested_prompts(self, user: Owner) -> list[SuggestedPrompt]:
        """What to offer when `user` opens the agent's conversation: their first skills, then the starters."""
        own = [SuggestedPrompt(f"Run {s.skill.name}", f"Run my skill {s.skill.name}")
               for s in self.store.list_runnable(user)[:2]]
        return (own + STARTER_PROMPTS)[:PROMPTS_SHOWN]

    # -------------------------------------------------------------------------------------- runs and forms

    def run_form(self, caller: Caller, skill_id: int) -> RunForm | Notice:
        """The parameter form of a skill the caller may run (a Run button)."""
        try:
            runnable = self.store.get_runnable(skill_id, caller)
        except SkillStoreError as error:
            return refusal(error)
        return RunForm(skill_id, runnable.skill.name, runnable.version.version, runnable.skill.description,
                       runnable.version.parameters)

    async def submit_run_form(self, where: ThreadRef, caller: Caller, skill_id: int,
                              values: dict[str, str]) -> dict[str, str]:
        """Run with a submitted form's values (empty ones take the defaults): {} when started, else the
        problems by parameter name (a form shows them next to the fields)."""
        given = {name: value for name, value in values.items() if value.strip() != ""}
        try:
            prepared = await self._read(self.runner.prepare, caller, skill_id=skill_id, arguments=given,
                                        trigger=RunTrigger.BUTTON.value)
        except ArgumentError as error:
            return _by_parameter(error.problems, list(values))
        except SkillStoreError as error:
            return {"": refusal(error).text}
        await self._submit_run(where, caller, prepared)
        return {}

    async def retry(self, where: ThreadRef, caller: Caller, run_id: int, *, once: str | None = None) -> Notice:
        """Run failed run `run_id` again, same version and arguments (the Retry button)."""
        try:
            prepared = self.runner.prepare_retry(caller, run_id)
        except (SkillStoreError, ArgumentError) as error:
            return refusal(error)
        if once and not self.store.mark_event_processed(once):
            return Notice(f"`{prepared.skill.name}` is already being retried.")
        return await self._submit_run(where, caller, prepared, retry_of=run_id)

    async def preview(self, where: ThreadRef, caller: Caller, skill_id: int) -> Notice:
        """A dry run with the default arguments, posted in `where` (writes are listed, not made)."""
        try:
            prepared = self.runner.prepare(caller, skill_id=skill_id)
        except (SkillStoreError, ArgumentError) as error:
            return refusal(error)
        await self.jobs.submit(PREVIEW_JOB, _payload(where, caller, prepared), key=_user_key(caller.user))
        return Notice(f"Previewing `{prepared.skill.name}` (a dry run: nothing is written)…")

    def schedule_form(self, user: Owner, skill_id: int) -> ScheduleForm:
        """The schedule form of the owner's skill, filled with its current schedule."""
        skill = self.store.get(skill_id, user)
        if not skill.is_owned_by(user):
            raise NotAllowed(f"only the owner of skill '{skill.name}' can schedule it")
        version = self.store.get_version(skill_id, user)
        current = self.store.schedules.get(skill_id, user)
        if current is None:
            return ScheduleForm(skill.id, skill.name, version.parameters)
        return ScheduleForm(skill.id, skill.name, version.parameters, current.cron, current.timezone,
                            dict(current.arguments), describe(current))

    def submit_schedule(self, where: ThreadRef, user: Owner, skill_id: int, cron: str, timezone: str,
                        values: dict[str, str]) -> tuple[dict[str, str], Notice | None]:
        """Set the schedule from a submitted form: (problems by field, None) or ({}, the confirmation)."""
        given = {name: value for name, value in values.items() if value.strip() != ""}
        try:
            schedule = self.store.schedules.set(skill_id, user, cron.strip(), timezone.strip() or "UTC", given,
                                                notify=_notify(where))
        except ArgumentError as error:
            return _by_parameter(error.problems, list(values)), None
        except SkillStoreError as error:
            field_name = "cron" if "cron" in str(error).lower() else "timezone" if "zone" in str(error) else ""
            return {field_name: _sentence(str(error))}, None
        skill = self.store.get(skill_id, user)
        return {}, Notice(f"Scheduled `{skill.name}`: {describe(schedule)}.")

    # --------------------------------------------------------------------------------------------- sharing

    async def decide_share(self, approver: Owner, share_id: int, version: int, approve: bool,
                           *, once: str | None = None) -> Notice:
        """An approver's Approve / Reject on a share request; only an approver of its scope may."""
        try:
            review = self.store.sharing.review(share_id, approver)
        except SkillStoreError:
            return Notice("Only an approver of the channel or team this skill was shared with can decide.", error=True)
        name = review.skill.name
        if review.share.approved_version == version and approve:
            return Notice(f"Version {version} of `{name}` is already approved for {_scope(review.share)}.")
        if once and not self.store.mark_event_processed(once):
            return Notice(f"Version {version} of `{name}` was already decided.")
        try:
            if approve:
                self.store.sharing.approve(share_id, approver, version)
            else:
                self.store.sharing.reject(share_id, approver, version)
        except SkillStoreError as error:
            return Notice(_sentence(str(error)), error=True)
        verdict = "approved: members can run it now" if approve else "rejected"
        return Notice(f"Version {version} of `{name}` for {_scope(review.share)} {verdict}.")

    # ----------------------------------------------------------------------------------------------- jobs

    async def _submit_run(self, where: ThreadRef, caller: Caller, prepared: PreparedRun,
                          retry_of: int | None = None) -> Notice:
        payload = _payload(where, caller, prepared)
        payload["retry_of"] = retry_of
        await self.jobs.submit(RUN_JOB, payload, key=_user_key(caller.user))
        shown = ", ".join(f"{k}={v}" for k, v in prepared.arguments.items())
        again = "Retrying" if retry_of else "Running"
        return Notice(f"{again} `{prepared.skill.name}` v{prepared.version.version} ({shown or 'defaults'})… "
                      "I'll post the result here.")

    def _prepare_again(self, payload: dict[str, Any]) -> tuple[ThreadRef, PreparedRun]:
        where = ThreadRef(**payload["where"])
        caller = Caller(Owner(**payload["user"]), payload.get("channel"))
        if payload.get("retry_of"):
            return where, self.runner.prepare_retry(caller, payload["retry_of"])
        return where, self.runner.prepare(caller, skill_id=payload["skill_id"], version=payload["version"],
                                          arguments=payload["arguments"], trigger=payload["trigger"])

    async def _run(self, payload: dict[str, Any]) -> None:
        where, prepared = self._prepare_again(payload)
        outcome = await self.runner.start(prepared)
        record = outcome.run
        await self.surfaces.get(where.platform).post(where, SkillRunReport(
            prepared.skill.name, record.version, outcome.succeeded, record.result, record.logs,
            outcome.failure, record.duration_ms or 0.0, record.id))

    async def _preview(self, payload: dict[str, Any]) -> None:
        where, prepared = self._prepare_again(payload)
        preview = await self.runner.preview(prepared)
        await self.surfaces.get(where.platform).post(where, PreviewReport(
            prepared.skill.name, prepared.version.version, preview.result, preview.logs, preview.error, preview.writes))

    async def _ask_approvers(self, payload: dict[str, Any]) -> None:
        scope = ShareScope(**payload["scope"])
        for user in self.store.sharing.approvers(scope):
            await self.proposals.ask_approver(Owner(scope.platform, scope.team, user), payload["share_id"])

    async def _brief_approver(self, payload: dict[str, Any]) -> None:
        """A new approver is sent what already waits for them (shares made before anyone could approve)."""
        approver = Owner(**payload["approver"])
        for review in self.store.sharing.pending(approver):
            await self.proposals.ask_approver(approver, review.share.id)

    # -------------------------------------------------------------------------------------------- helpers

    def _find(self, caller: Caller, name: str) -> Skill:
        """The caller's own skill called `name` (any status), else one shared with them."""
        own = next((s for s in self.store.list_skills(caller.user) if s.name == name), None)
        if own is not None:
            return own
        found = self.store.find_runnable(caller, name)
        if found is None:
            raise SkillNotFound(f"you have no skill named '{name}'; /skill list shows yours")
        return found.skill

    def _own(self, user: Owner, name: str) -> Skill:
        own = next((s for s in self.store.list_skills(user) if s.name == name), None)
        if own is None:
            raise SkillNotFound(f"you have no skill named '{name}' of your own; /skill list shows yours")
        return own

    def _version(self, caller: Caller, skill_id: int) -> Any:
        return self.store.get_version(skill_id, caller)


def _words(text: str) -> list[str]:
    """`/skill` text split like a shell command line (typographic quotes read as straight ones)."""
    return shlex.split(text.translate(SMART_QUOTES))


def _summary(skill: Skill, version: int, parameters: list[dict[str, Any]], shared: bool) -> SkillSummary:
    return SkillSummary(skill.name, skill.description, version, parameters, skill.id, shared)


def _line(run: SkillRun, name: str) -> RunLine:
    return RunLine(run.id, name, run.version, run.status, run.started_at.isoformat(timespec="seconds"),
                   run.duration_ms, run.trigger, run.error)


def _payload(where: ThreadRef, caller: Caller, prepared: PreparedRun) -> dict[str, Any]:
    return {"where": asdict(where), "user": asdict(caller.user), "channel": caller.channel,
            "skill_id": prepared.skill.id, "version": prepared.version.version,
            "arguments": {k: argument_text(v) for k, v in prepared.arguments.items()}, "trigger": prepared.trigger}


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _deleted_key(skill_id: str, user: Owner) -> str:
    return f"skill-deleted:{skill_id}:{user.platform}:{user.team}:{user.user}"


def _user_key(user: Owner) -> str:
    return f"skill:{user.platform}:{user.team}:{user.user}"


def _notify(where: ThreadRef) -> dict[str, str]:
    return {"platform": where.platform, "team": where.team, "channel": where.channel}


def _scope(share: Any) -> str:
    return f"{share.kind} {share.target}"


def refusal(error: Exception) -> Notice:
    """The store's refusal as a user sees it: someone else's skill is refused without detail."""
    if isinstance(error, (SkillNotFound, NotAllowed, RunNotFound)):
        return Notice(REFUSED, error=True)
    return Notice(_sentence(str(error)), error=True)


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else text


def _safe_arguments(text: str) -> dict[str, str]:
    try:
        return parse_arguments(text)
    except ArgumentError:
        return {}


def _by_parameter(problems: list[str], names: list[str]) -> dict[str, str]:
    """Problems keyed by the parameter they name ("" for the rest)."""
    found: dict[str, str] = {}
    for problem in problems:
        name = next((n for n in names if problem.startswith(f"{n} ") or f"'{n}'" in problem), "")
        found[name] = f"{found[name]} {problem}".strip() if name in found else problem
    return found
