"""What the bot shows, independent of the chat platform. Each surface renders these natively."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ThreadRef:
    """A conversation thread on a chat platform."""

    platform: str
    team: str
    channel: str
    thread: str

    @property
    def thread_id(self) -> str:
        """The key of the thread's graph checkpoints and jobs: `platform:team:channel:thread`."""
        return f"{self.platform}:{self.team}:{self.channel}:{self.thread}"


@dataclass(frozen=True)
class Progress:
    """The one progress message of a task, edited in place."""

    status: str
    todos: list[dict[str, str]] = field(default_factory=list)
    finished: bool = False

    @property
    def stoppable(self) -> bool:
        """A running task offers a Stop button."""
        return not self.finished


@dataclass(frozen=True)
class Question:
    """A question from the agent (or from a tool, through the host); the answer (a reply or a choice) resumes the
    task. `link`: a page the question asks the user to open (an MCP server's URL elicitation)."""

    text: str
    choices: list[str] = field(default_factory=list)
    link: str | None = None


@dataclass(frozen=True)
class SkillOffer:
    """A proposed skill, or a new version of one, that the user may save."""

    skill_id: int
    name: str
    version: int
    parameters: list[dict[str, Any]]
    diff: str = ""          # against the current version, for a new version

    @property
    def button_value(self) -> str:
        return f"{self.skill_id}:{self.version}"


@dataclass(frozen=True)
class Answer:
    """The result of a task, with the skill the user may save and the tokens the task used."""

    text: str
    data: Any = None
    offer: SkillOffer | None = None
    usage: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SkillRunReport:
    """The outcome of a skill run; a failed one offers Retry (of run `run_id`)."""

    skill_name: str
    version: int
    succeeded: bool
    result: Any
    logs: str
    error: str | None
    duration_ms: float
    run_id: int | None = None


@dataclass(frozen=True)
class SkillSummary:
    """A skill in a list: its own or, with `shared`, one shared with the viewer (Run, Schedule, History)."""

    name: str
    description: str
    version: int | None
    parameters: list[dict[str, Any]]
    skill_id: int | None = None
    shared: bool = False


@dataclass(frozen=True)
class SkillList:
    skills: list[SkillSummary]


@dataclass(frozen=True)
class ToolUse:
    """A tool a skill calls and its effect (`read`, `write`, `send`, `destructive`)."""

    name: str
    effect: str | None


@dataclass(frozen=True)
class RunLine:
    """One run in a history: `status` is running, succeeded or failed; failed runs offer Retry."""

    run_id: int
    skill_name: str
    version: int
    status: str
    started_at: str
    duration_ms: float | None
    trigger: str
    error: str | None = None


@dataclass(frozen=True)
class RunHistory:
    """The recent runs of one skill that the viewer may see, newest first."""

    skill_name: str
    runs: list[RunLine]


@dataclass(frozen=True)
class SkillDetail:
    """`/skill show`: what a skill is, takes, calls and does, with Run, Preview and History."""

    skill_id: int
    name: str
    description: str
    version: int | None
    status: str
    parameters: list[dict[str, Any]]
    tools: list[ToolUse]
    code: str
    schedule: str | None = None
    shares: list[str] = field(default_factory=list)
    owned: bool = True


@dataclass(frozen=True)
class RunForm:
    """A form for a skill's parameters: from a Run button, or when a command left required ones out."""

    skill_id: int
    name: str
    version: int
    description: str
    parameters: list[dict[str, Any]]
    values: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SaveForm:
    """Save as skill: name, description, parameter defaults and an optional schedule, before the proposal."""

    skill_id: int
    version: int
    name: str
    description: str
    parameters: list[dict[str, Any]]
    name_fixed: bool = False      # a new version of an existing skill keeps its name
    cron: str = ""
    timezone: str = "UTC"


@dataclass(frozen=True)
class ScheduleForm:
    """When to run a skill (cron and time zone) and with which arguments."""

    skill_id: int
    name: str
    parameters: list[dict[str, Any]]
    cron: str = ""
    timezone: str = "UTC"
    arguments: dict[str, str] = field(default_factory=dict)
    current: str | None = None    # the schedule in words, when it has one


@dataclass(frozen=True)
class SkillProposal:
    """A skill version waiting for its owner: code, parameters, tools and their effects, a dry-run preview,
    and the schedule it will get; Approve, Edit or Dismiss."""

    skill_id: int
    name: str
    version: int
    description: str
    parameters: list[dict[str, Any]]
    code: str
    tools: list[ToolUse]
    preview_result: Any = None
    preview_logs: str = ""
    preview_error: str | None = None
    writes: list[dict[str, Any]] = field(default_factory=list)
    cron: str = ""
    timezone: str = ""


@dataclass(frozen=True)
class PreviewReport:
    """A dry run of a skill: what it returned and printed, and the writes it would have made (not made)."""

    skill_name: str
    version: int
    result: Any
    logs: str
    error: str | None
    writes: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ShareRequest:
    """For an approver: a skill shared with their channel or team, the version to approve, Approve / Reject."""

    share_id: int
    skill_name: str
    owner: str
    scope: str
    version: int
    code: str
    tools: list[ToolUse]
    diff: str = ""                # against the version approved before, if any


@dataclass(frozen=True)
class Home:
    """The App Home: the user's skills (Run, Schedule, History), their schedules, and recent runs."""

    skills: list[SkillSummary]
    schedules: dict[str, str]     # skill name -> the schedule in words
    runs: list[RunLine]


@dataclass(frozen=True)
class Notice:
    """A short message: a confirmation, or an error saying what was wrong and how to fix it."""

    text: str
    error: bool = False


@dataclass(frozen=True)
class SuggestedPrompt:
    """A prompt offered when someone opens the agent's conversation: a title, and the message it sends."""

    title: str
    message: str


@dataclass(frozen=True)
class DeleteConfirmation:
    """`/skill delete NAME` asks first: what goes with the skill (`goes`, in words), and a Delete button."""

    skill_id: int
    name: str
    goes: str

    @property
    def button_value(self) -> str:
        return f"{self.skill_id}:{self.name}"

    @property
    def text(self) -> str:
        return f"Delete `{self.name}`? This also deletes {self.goes}. It cannot be undone."


@dataclass(frozen=True)
class ConnectLink:
    """A sign-in link that connects the user's account of a provider."""

    provider: str
    url: str


View = (Progress | Question | Answer | SkillRunReport | SkillList | Notice | ConnectLink | RunHistory | SkillDetail
        | RunForm | SaveForm | ScheduleForm | SkillProposal | PreviewReport | ShareRequest | Home | DeleteConfirmation)


def usage_text(parameters: list[dict[str, Any]]) -> str:
    """`name: type = default` for each parameter, as shown in help and confirmations."""
    parts = []
    for p in parameters:
        part = f"{p['name']}: {p['type']}"
        if not p.get("required"):
            part += f" = {p.get('default')!r}"
        parts.append(part)
    return ", ".join(parts) or "no parameters"
