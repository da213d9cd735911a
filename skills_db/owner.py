"""Who owns a skill: a user on one chat platform, inside one workspace."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Owner:
    """A user identity: ``("slack", "T123", "U456")`` is user U456 of Slack workspace T123."""

    platform: str
    team: str
    user: str

    def __post_init__(self) -> None:
        for field_name in ("platform", "team", "user"):
            value = getattr(self, field_name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"Owner.{field_name} must be a non-empty string, got {value!r}")

    @property
    def user_ref(self) -> str:
        """``platform:user``, the form used in ``SkillRun.triggered_by`` (e.g. ``"slack:U456"``)."""
        return f"{self.platform}:{self.user}"
