"""The skill journeys: save a proposed skill, list skills, and rerun one without the model."""

from __future__ import annotations

import shlex

from bot.core.surface import Surface
from bot.core.views import Notice, SkillList, SkillRunReport, SkillSummary, ThreadRef, View, usage_text
from bot.runtime.jobs import JobRunner
from bot.runtime.skill_runner import SkillRunner
from skills_db.models import Owner
from skills_db.params import ArgumentError, SkillParameter, coerce_arguments, parse_arguments
from skills_db.errors import NotAllowed, SkillNotFound, VersionNotFound
from skills_db.store import SkillStore

USAGE = ("Usage: `/skill list` · `/skill run NAME key=value …` (quote values with spaces: "
         "`folder=\"Email Attachments\"`) · `/skill help`")


class Skills:
    """Skill commands. `command` answers at once (the ack) and runs the slow part as a job."""

    def __init__(self, store: SkillStore, runner: SkillRunner, jobs: JobRunner) -> None:
        self.store = store
        self.runner = runner
        self.jobs = jobs

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

    async def command(self, surface: Surface, where: ThreadRef, user: Owner, text: str) -> View:
        """Handle `/skill …` text; return the immediate answer and start any run in the background."""
        try:
            words = shlex.split(text)
        except ValueError as error:
            return Notice(f"I could not read that command ({error}). {USAGE}", error=True)
        verb = words[0].lower() if words else "help"
        if verb == "list":
            return self._list(user)
        if verb == "run" and len(words) >= 2:
            return self._start_run(surface, where, user, words[1], shlex.join(words[2:]))
        return Notice(USAGE, error=verb not in ("help", ""))

    def _list(self, user: Owner) -> View:
        summaries = []
        for skill in self.store.list_skills(user):
            if skill.status != "active":
                continue
            version = self.store.get_version(skill.id, viewer=user)
            summaries.append(SkillSummary(skill.name, skill.description, skill.current_version, version.parameters))
        return SkillList(summaries)

    def _start_run(self, surface: Surface, where: ThreadRef, user: Owner, name: str, arg_text: str) -> View:
        found = self.store.find_active(user, name)
        if found is None:
            return Notice(f"You have no saved skill named `{name}`. `/skill list` shows yours.", error=True)
        skill, version = found
        parameters = [SkillParameter.from_dict(p) for p in version.parameters]
        try:
            arguments = coerce_arguments(parameters, parse_arguments(arg_text))
        except ArgumentError as error:
            return Notice(f"{error}\nParameters of `{name}`: {usage_text(version.parameters)}", error=True)

        async def run() -> None:
            record = await self.runner.run(skill, version, arguments, triggered_by=f"{user.platform}:{user.user}",
                                           trigger="command")
            await surface.post(where, SkillRunReport(
                skill.name, record.version, record.status == "succeeded", record.result, record.logs,
                record.error, record.duration_ms or 0.0))

        self.jobs.submit(f"skill:{user.platform}:{user.team}:{user.user}", run)
        shown = ", ".join(f"{k}={v}" for k, v in arguments.items())
        return Notice(f"Running `{name}` v{version.version} ({shown or 'defaults'})… I'll post the result here.")
