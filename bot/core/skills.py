"""The skill journeys: save a proposed skill, list skills, and rerun one without the model."""

from __future__ import annotations

import shlex

from dataclasses import asdict
from typing import Any

from bot.core.surface import Surfaces
from bot.core.views import Notice, SkillList, SkillRunReport, SkillSummary, ThreadRef, View, usage_text
from bot.runtime.jobs import Jobs
from bot.runtime.skill_runner import SkillRunner
from skills_db.errors import NotAllowed, SkillNotFound, SkillStoreError, VersionNotFound
from skills_db.models import Owner
from skills_db.params import ArgumentError
from skills_db.store import SkillStore

RUN_JOB = "skill_run"
USAGE = ("Usage: `/skill list` · `/skill run NAME key=value …` (quote values with spaces: "
         "`folder=\"Email Attachments\"`) · `/skill help`")


class Skills:
    """Skill commands. `command` answers at once (the ack) and runs the slow part as a job."""

    def __init__(self, store: SkillStore, runner: SkillRunner, jobs: Jobs, surfaces: Surfaces) -> None:
        self.store = store
        self.runner = runner
        self.jobs = jobs
        self.surfaces = surfaces
        jobs.handle(RUN_JOB, self._run)

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

    async def command(self, where: ThreadRef, user: Owner, text: str) -> View:
        """Handle `/skill …` text; return the immediate answer and start any run in the background."""
        try:
            words = shlex.split(text)
        except ValueError as error:
            return Notice(f"I could not read that command ({error}). {USAGE}", error=True)
        verb = words[0].lower() if words else "help"
        if verb == "list":
            return self._list(user)
        if verb == "run" and len(words) >= 2:
            return await self._start_run(where, user, words[1], shlex.join(words[2:]))
        return Notice(USAGE, error=verb not in ("help", ""))

    def _list(self, user: Owner) -> View:
        summaries = []
        for skill in self.store.list_skills(user):
            if skill.status != "active":
                continue
            version = self.store.get_version(skill.id, viewer=user)
            summaries.append(SkillSummary(skill.name, skill.description, skill.current_version, version.parameters))
        return SkillList(summaries)

    async def _start_run(self, where: ThreadRef, user: Owner, name: str, arg_text: str) -> View:
        try:
            prepared = self.runner.prepare(user, name=name, arguments=arg_text)
        except ArgumentError as error:
            found = self.store.find_active(user, name)
            usage = f"\nParameters of `{name}`: {usage_text(found[1].parameters)}" if found else ""
            return Notice(f"{error}{usage}", error=True)
        except SkillStoreError as error:
            return Notice(f"You have no saved skill named `{name}` that you can run. `/skill list` shows yours."
                          if isinstance(error, SkillNotFound) else str(error), error=True)
        payload = {"where": asdict(where), "user": asdict(user), "skill_id": prepared.skill.id,
                   "version": prepared.version.version, "arguments": _texts(prepared.arguments)}
        await self.jobs.submit(RUN_JOB, payload, key=f"skill:{user.platform}:{user.team}:{user.user}")
        shown = ", ".join(f"{k}={v}" for k, v in prepared.arguments.items())
        return Notice(f"Running `{name}` v{prepared.version.version} ({shown or 'defaults'})… "
                      "I'll post the result here.")

    async def _run(self, payload: dict[str, Any]) -> None:
        where, user = ThreadRef(**payload["where"]), Owner(**payload["user"])
        prepared = self.runner.prepare(user, skill_id=payload["skill_id"], version=payload["version"],
                                       arguments=payload["arguments"])
        outcome = await self.runner.start(prepared)
        record = outcome.run
        await self.surfaces.get(where.platform).post(where, SkillRunReport(
            prepared.skill.name, record.version, outcome.succeeded, record.result, record.logs,
            outcome.failure, record.duration_ms or 0.0, record.id))


def _texts(arguments: dict[str, Any]) -> dict[str, str]:
    """Typed arguments back as the texts they were parsed from (a job's payload is JSON)."""
    def text(value: Any) -> str:
        if isinstance(value, list):
            return ",".join(map(str, value))
        return value.isoformat() if hasattr(value, "isoformat") else str(value)
    return {name: text(value) for name, value in arguments.items()}
