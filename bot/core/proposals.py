"""Save as skill, reviewed: a form (name, description, parameter defaults, optional schedule) → a proposal
card with the code, parameters, tools and their effects and a dry-run preview → Approve, Edit or Dismiss.
Also the approval requests sent to the approvers of a channel or team a skill is shared with.
"""

from __future__ import annotations

import ast
import json
from dataclasses import asdict
from typing import Any

from bot.core.surface import Surfaces
from bot.core.views import Notice, SaveForm, ShareRequest, SkillProposal, ThreadRef, ToolUse
from bot.runtime.jobs import Jobs
from bot.runtime.skill_runner import PreparedRun, SkillRunner
from skills_db.cron import CronSpec
from skills_db.errors import SkillNotFound, SkillStoreError
from skills_db.models import Owner, RunTrigger, Skill, SkillStatus, SkillVersion
from skills_db.params import ArgumentError, SkillCodeError, SkillParameter, coerce_arguments, extract_parameters
from skills_db.store import SKILL_NAME_PATTERN, SkillStore, version_diff

PROPOSAL_JOB = "skill_proposal"
GONE = "This proposal is no longer there: it was dismissed, or it is not yours."


class Proposals:
    """The owner's review of a skill version before it runs, and the approvers' review of a share."""

    def __init__(self, store: SkillStore, runner: SkillRunner, jobs: Jobs, surfaces: Surfaces) -> None:
        self.store = store
        self.runner = runner
        self.jobs = jobs
        self.surfaces = surfaces
        jobs.handle(PROPOSAL_JOB, self._propose)

    def save_form(self, user: Owner, offer: str) -> SaveForm | Notice:
        """The form behind "Save as skill…" for an offer (`skill_id:version`), for its owner only."""
        skill_id, _, version_text = offer.partition(":")
        try:
            skill, version = self._owned(user, int(skill_id), int(version_text) if version_text else None)
        except (SkillStoreError, ValueError):
            return Notice("Only the person who asked for this task can save it as a skill.", error=True)
        return _form(skill, version)

    def edit_form(self, user: Owner, value: str) -> SaveForm | Notice:
        """The form again, filled as the proposal was (its Edit button)."""
        try:
            proposal = json.loads(value)
            skill, version = self._owned(user, int(proposal["s"]), int(proposal["v"]))
        except (SkillStoreError, ValueError, KeyError, TypeError):
            return Notice(GONE, error=True)
        return _form(skill, version, proposal.get("c", ""), proposal.get("z") or "UTC")

    async def submit_save_form(self, where: ThreadRef, user: Owner, skill_id: int, version: int, name: str,
                               description: str, defaults: dict[str, str], cron: str = "",
                               timezone: str = "UTC") -> dict[str, str]:
        """Store the form's choices and start the proposal (posted in `where` after a dry run).

        Returns the problems by field ({} when the proposal is on its way). A draft may be renamed and
        redescribed; changed defaults become a new version of the code; nothing runs for real until Approve.
        """
        try:
            skill, row = self._owned(user, skill_id, version)
        except SkillStoreError:
            return {"": GONE}
        name, description, cron, timezone = name.strip(), description.strip(), cron.strip(), timezone.strip() or "UTC"
        problems: dict[str, str] = {}
        is_draft = skill.status == SkillStatus.DRAFT
        if is_draft and name != skill.name:
            if not SKILL_NAME_PATTERN.match(name):
                problems["name"] = "Use 1-64 letters, digits, - or _, starting with a letter or digit."
            elif any(s.name == name for s in self.store.list_skills(user)):
                problems["name"] = f"You already have a skill named {name}."
        code, default_problems = _with_defaults(row.code, row.parameters, defaults)
        problems.update(default_problems)
        if cron:
            try:
                CronSpec.parse(cron, timezone)
            except SkillStoreError as error:
                problems["timezone" if "zone" in str(error) else "cron"] = str(error)
        if problems:
            return problems
        if is_draft and (name != skill.name or description != skill.description or code != row.code):
            skill, row = self._replace_draft(user, skill, row, name, description, code)
        elif code != row.code:
            row = self.store.add_version(skill.id, user, code, row.tools)
        await self.jobs.submit(PROPOSAL_JOB, {"where": asdict(where), "user": asdict(user), "skill_id": skill.id,
                                              "version": row.version, "cron": cron, "timezone": timezone},
                               key=f"proposal:{skill.id}")
        return {}

    async def approve(self, where: ThreadRef, user: Owner, value: str) -> Notice:
        """Approve on a proposal card: the version becomes the one that runs, with its schedule. Idempotent."""
        try:
            proposal = json.loads(value)
            skill, row = self._owned(user, int(proposal["s"]), int(proposal["v"]))
        except (SkillStoreError, ValueError, KeyError, TypeError):
            return Notice(GONE, error=True)
        already = skill.status == SkillStatus.ACTIVE and skill.current_version == row.version
        if not already:
            skill = self.store.approve(skill.id, user, row.version, note="approved on the proposal card")
        text = (f"`{skill.name}` v{row.version} is already approved." if already else
                f"Approved `{skill.name}` v{row.version}: run it with `/skill run {skill.name}`.")
        if proposal.get("c"):
            schedule = self.store.schedules.get(skill.id, user)
            if schedule is None or (schedule.cron, schedule.timezone) != (proposal["c"], proposal.get("z") or "UTC"):
                self.store.schedules.set(skill.id, user, proposal["c"], proposal.get("z") or "UTC", {},
                                         notify={"platform": where.platform, "team": where.team,
                                                 "channel": where.channel})
            text += f" Scheduled: {proposal['c']} ({proposal.get('z') or 'UTC'})."
        return Notice(text)

    def dismiss(self, user: Owner, value: str) -> Notice:
        """Dismiss on a proposal card: a draft is deleted, a new version is recorded as rejected. Idempotent."""
        try:
            proposal = json.loads(value)
            skill, row = self._owned(user, int(proposal["s"]), int(proposal["v"]))
        except (SkillStoreError, ValueError, KeyError, TypeError):
            return Notice(GONE, error=True)
        if skill.status == SkillStatus.DRAFT:
            self.store.delete(skill.id, user)
            return Notice(f"Dismissed `{skill.name}`: nothing was saved.")
        if skill.current_version == row.version:
            return Notice(f"`{skill.name}` v{row.version} is the version that runs; `/skill delete {skill.name}` "
                          "removes the skill.", error=True)
        rejected = any(a.version == row.version and a.decision == "rejected" and a.share_id is None
                       for a in self.store.approvals(skill.id, user))
        if not rejected:
            self.store.reject(skill.id, user, row.version, note="dismissed on the proposal card")
        return Notice(f"Dismissed version {row.version} of `{skill.name}`; v{skill.current_version} still runs.")

    async def ask_approver(self, approver: Owner, share_id: int) -> None:
        """Send `approver` (by direct message) the review of a shared skill, with Approve / Reject."""
        review = self.store.sharing.review(share_id, approver)
        diff = version_diff(review.skill.name, review.previous, review.version).text if review.previous else ""
        request = ShareRequest(share_id, review.skill.name, review.skill.owner_user,
                               f"{review.share.kind} {review.share.target}", review.version.version,
                               review.version.code, tool_uses(self.runner, review.version.tools), diff)
        dm = ThreadRef(approver.platform, approver.team, approver.user, "")
        await self.surfaces.get(approver.platform).post(dm, request)

    async def _propose(self, payload: dict[str, Any]) -> None:
        where, user = ThreadRef(**payload["where"]), Owner(**payload["user"])
        skill, row = self._owned(user, payload["skill_id"], payload["version"])
        parameters = [SkillParameter.from_dict(p) for p in row.parameters]
        try:
            arguments = coerce_arguments(parameters, {})
        except ArgumentError as error:
            result, logs, failure, writes = None, "", f"no preview: {', '.join(error.missing)} need a value", []
        else:
            preview = await self.runner.preview(PreparedRun(skill, row, arguments, user, user.user_ref,
                                                            RunTrigger.BUTTON.value))
            result, logs, failure, writes = preview.result, preview.logs, preview.error, preview.writes
        await self.surfaces.get(where.platform).post(where, SkillProposal(
            skill.id, skill.name, row.version, skill.description, row.parameters, row.code,
            tool_uses(self.runner, row.tools), result, logs, failure, writes, payload["cron"],
            payload["timezone"] if payload["cron"] else ""))

    def _owned(self, user: Owner, skill_id: int, version: int | None) -> tuple[Skill, SkillVersion]:
        skill = self.store.get(skill_id, user)
        if not skill.is_owned_by(user):
            raise SkillNotFound(f"you have no skill with id {skill_id}")
        return skill, self.store.get_version(skill_id, user, version)

    def _replace_draft(self, user: Owner, skill: Skill, row: SkillVersion, name: str, description: str,
                       code: str) -> tuple[Skill, SkillVersion]:
        """A draft renamed or changed is created again (drafts never ran: there is no history to keep)."""
        if name == skill.name:
            self.store.delete(skill.id, user)
        created = self.store.create_draft(user, name, description, code, row.tools, skill.source_thread)
        if name != skill.name:
            self.store.delete(skill.id, user)
        return created, self.store.get_version(created.id, user, 1)


def tool_uses(runner: SkillRunner, tools: list[str]) -> list[ToolUse]:
    """The tools with their effects, as the registry declares them (None for a tool no longer there)."""
    uses = []
    for name in tools:
        try:
            effect: str | None = runner.bridge.registry.get(name).effect
        except Exception:
            effect = None
        uses.append(ToolUse(name, effect))
    return uses


def proposal_value(proposal: SkillProposal) -> str:
    """What the proposal card's buttons carry: the skill, the version and the schedule to set."""
    return json.dumps({"s": proposal.skill_id, "v": proposal.version, "c": proposal.cron, "z": proposal.timezone},
                      separators=(",", ":"))


def default_text(value: Any) -> str:
    """A parameter's default as a form shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _form(skill: Skill, version: SkillVersion, cron: str = "", timezone: str = "UTC") -> SaveForm:
    return SaveForm(skill.id, version.version, skill.name, skill.description, version.parameters,
                    name_fixed=skill.status != SkillStatus.DRAFT, cron=cron, timezone=timezone)


def _with_defaults(code: str, stored: list[dict[str, Any]], wanted: dict[str, str]) -> tuple[str, dict[str, str]]:
    """`code` with the defaults of `run`'s parameters changed to `wanted` (texts; empty keeps the current one),
    and the problems by parameter name."""
    parameters = {p["name"]: SkillParameter.from_dict(p) for p in stored}
    changes: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, text in wanted.items():
        parameter = parameters.get(name)
        if parameter is None or text.strip() == "" or text.strip() == default_text(parameter.default):
            continue
        loose = SkillParameter(name, parameter.type, None, False)
        try:
            value = coerce_arguments([loose], {name: text})[name]
        except ArgumentError as error:
            problems[name] = str(error)
            continue
        changes[name] = value.isoformat() if hasattr(value, "isoformat") else value
    if problems or not changes:
        return code, problems
    edited = _edit_defaults(code, changes)
    try:
        extract_parameters(edited)
    except SkillCodeError as error:
        problems[next(iter(changes))] = f"{error} (give the parameters after it a default too)"
        return code, problems
    except SyntaxError:
        problems[next(iter(changes))] = "a parameter with a default cannot come before one without"
        return code, problems
    return edited, problems


def _edit_defaults(code: str, changes: dict[str, Any]) -> str:
    run = next(node for node in ast.parse(code).body if isinstance(node, ast.AsyncFunctionDef) and node.name == "run")
    args = run.args
    positional = args.posonlyargs + args.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = list(zip(positional, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))
    edits: list[tuple[int, int, int, int, str]] = []   # (line, col, end line, end col, text), 1-based lines, byte cols
    for arg, default in pairs:
        if arg.arg not in changes:
            continue
        literal = repr(changes[arg.arg])
        if default is not None:
            edits.append((default.lineno, default.col_offset, default.end_lineno, default.end_col_offset, literal))
        else:
            edits.append((arg.end_lineno, arg.end_col_offset, arg.end_lineno, arg.end_col_offset, f" = {literal}"))
    lines = [line.encode() for line in code.splitlines(keepends=True)]
    for line, col, end_line, end_col, text in sorted(edits, reverse=True):
        head, tail = lines[line - 1][:col], lines[end_line - 1][end_col:]
        lines[line - 1:end_line] = [head + text.encode() + tail]
    return b"".join(lines).decode()
