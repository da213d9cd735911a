"""A skill's run policy: how often a transient failure is retried, with what backoff, and when a schedule pauses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class RunPolicy:
    """Retries with exponential backoff; ``pause_after`` failed scheduled slots in a row pause the schedule.

    ``max_attempts`` counts the first try: 1 means no retry. The delay before attempt ``n + 1`` is
    ``backoff_seconds * backoff_factor ** (n - 1)``, capped at ``max_backoff_seconds``.
    """

    max_attempts: int = 3
    backoff_seconds: float = 2.0
    backoff_factor: float = 2.0
    max_backoff_seconds: float = 60.0
    pause_after: int = 3

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.max_attempts <= 10:
            problems.append(f"max_attempts must be 1-10 (1 = no retry), got {self.max_attempts}")
        if self.backoff_seconds < 0 or self.max_backoff_seconds < 0:
            problems.append("backoff_seconds and max_backoff_seconds must not be negative")
        if self.backoff_factor < 1:
            problems.append(f"backoff_factor must be at least 1, got {self.backoff_factor}")
        if self.pause_after < 1:
            problems.append(f"pause_after must be at least 1 failure, got {self.pause_after}")
        if problems:
            raise ValueError("; ".join(problems))

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next one."""
        return min(self.backoff_seconds * self.backoff_factor ** (attempt - 1), self.max_backoff_seconds)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in ``Skill.run_policy``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RunPolicy:
        """The policy stored as ``data``; missing keys take their defaults, unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in (data or {}).items() if key in known})
