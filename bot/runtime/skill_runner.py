"""Running a saved skill: the same sandbox and tool bridge as the agent, and no model at all."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.runtime.bridge import ToolBridge
from skills_db.models import Owner, Skill, SkillRun, SkillVersion
from skills_db.store import SkillStore


class SkillRunner:
    """Executes a skill version with validated arguments and records the run."""

    def __init__(self, store: SkillStore, bridge: ToolBridge, timeout: float = 600.0) -> None:
        self.store = store
        self.bridge = bridge
        self.timeout = timeout

    async def run(self, skill: Skill, version: SkillVersion, arguments: dict[str, Any], *,
                  triggered_by: str, trigger: str) -> SkillRun:
        """Run `version` of `skill` with `arguments` (already coerced) in a fresh sandbox session."""
        run = self.store.start_run(skill_id=skill.id, version=version.version, triggered_by=triggered_by,
                                   trigger=trigger, parameters=_jsonable(arguments))
        owner = Owner(skill.owner_platform, skill.owner_team, skill.owner_user)
        session = await self.bridge.open(owner, version.tools)
        try:
            steps = [await session.session.exec(version.code, timeout=self.timeout)]
            if not steps[0].error:
                steps.append(await session.session.exec(f"await run({_call_arguments(arguments)})",
                                                        timeout=self.timeout))
        finally:
            await session.close()
        outcome = steps[-1]
        failed = outcome.error is not None or outcome.timed_out
        return self.store.finish_run(
            run.id, status="failed" if failed else "succeeded",
            result=None if failed else outcome.value,
            logs="".join(step.stdout for step in steps),
            tool_calls=[{"name": c.name, "ok": c.ok, "duration_ms": round(c.duration_ms, 2), "error": c.error}
                        for step in steps for c in step.tool_calls],
            error=outcome.error or ("the run took longer than its time limit" if outcome.timed_out else None))


def _call_arguments(arguments: dict[str, Any]) -> str:
    """Keyword arguments as Python source: the sandbox rebuilds dates from their constructors."""
    return ", ".join(f"{name}={_literal(value)}" for name, value in arguments.items())


def _literal(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return f"datetime.fromisoformat({value.isoformat()!r})"
    if isinstance(value, dt.date):
        return f"date.fromisoformat({value.isoformat()!r})"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    return repr(value)


def _jsonable(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in arguments.items()}
