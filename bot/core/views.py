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
    """A question from the agent; the answer (a reply or a choice) resumes the task."""

    text: str
    choices: list[str] = field(default_factory=list)


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
    name: str
    description: str
    version: int | None
    parameters: list[dict[str, Any]]


@dataclass(frozen=True)
class SkillList:
    skills: list[SkillSummary]


@dataclass(frozen=True)
class Notice:
    """A short message: a confirmation, or an error saying what was wrong and how to fix it."""

    text: str
    error: bool = False


@dataclass(frozen=True)
class ConnectLink:
    """A sign-in link that connects the user's account of a provider."""

    provider: str
    url: str


View = Progress | Question | Answer | SkillRunReport | SkillList | Notice | ConnectLink


def usage_text(parameters: list[dict[str, Any]]) -> str:
    """`name: type = default` for each parameter, as shown in help and confirmations."""
    parts = []
    for p in parameters:
        part = f"{p['name']}: {p['type']}"
        if not p.get("required"):
            part += f" = {p.get('default')!r}"
        parts.append(part)
    return ", ".join(parts) or "no parameters"
