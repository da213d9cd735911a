"""Skills as tools for callers outside chat (MCP clients, scripts over the HTTP API): which skills a user may
call, each described as a tool (a JSON Schema of its typed parameters, hints computed from the tools it
calls), and a call run through the same runner as `/skill run`, recorded, without the model.

Who may call what is the store's rule, the one `/skill list` and `/skill run` use: the caller's own active
skills and those shared with their workspace to run, at the approved version. A skill they may not run is
reported exactly like one that does not exist. A caller from outside chat acts from no channel, so skills
shared with a channel only are not theirs here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.core.proposals import tool_uses
from bot.runtime.skill_runner import PreparedRun, RunOutcome, SkillRunner
from skills_db.access import Caller
from skills_db.errors import AmbiguousSkillName, RunNotFound
from skills_db.models import Owner, SkillRun
from skills_db.params import ArgumentError, SkillParameter, argument_text
from skills_db.store import RunnableSkill, SkillStore

T = TypeVar("T")

MAX_ROW_ID = 2**63
READ_EFFECTS = frozenset({"read"})
CONFIRM_EFFECTS = frozenset({"send", "destructive"})
_JSON_TYPES: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "str": {"type": "string"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "list[str]": {"type": "array", "items": {"type": "string"}},
    "list[int]": {"type": "array", "items": {"type": "integer"}},
}


class NoSuchSkill(LookupError):
    """The caller has no skill of that name to run (missing, or not theirs: the same answer)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"you have no skill named '{name}' that you can run")
        self.name = name


@dataclass(frozen=True)
class SkillTool:
    """A runnable skill described as a tool."""

    name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool
    destructive: bool
    open_world: bool
    skill_id: int
    version: int

    @property
    def needs_confirmation(self) -> bool:
        """A skill that sends or deletes asks the person before each call."""
        return self.destructive


class SkillTools:
    """The skills a user may call, as tools, and their calls."""

    def __init__(self, store: SkillStore, runner: SkillRunner) -> None:
        self.store = store
        self.runner = runner
        self._described: dict[tuple[int, int], SkillTool] = {}   # versions are immutable, so are their tools

    async def list(self, user: Owner) -> list[SkillTool]:
        """One tool per skill `user` may run, own first then shared, each by name (a stable order)."""
        runnable = await self._read(self.store.list_runnable, Caller(user))
        return [self.describe(found) for found in runnable]

    async def find(self, user: Owner, name: str) -> SkillTool:
        """The tool called `name` for `user`; `NoSuchSkill` when they may not run one of that name."""
        found = await self._find(user, name)
        return self.describe(found)

    def describe(self, found: RunnableSkill) -> SkillTool:
        """`found` as a tool (cached per skill version)."""
        key = (found.skill.id or 0, found.version.version)
        tool = self._described.get(key)
        if tool is None:
            effects = {use.effect or "destructive" for use in tool_uses(self.runner, list(found.version.tools))}
            tool = SkillTool(found.skill.name, found.skill.description or f"Run the saved skill {found.skill.name}.",
                             input_schema(found.version.parameters), read_only=effects <= READ_EFFECTS,
                             destructive=bool(effects & CONFIRM_EFFECTS), open_world=bool(effects),
                             skill_id=key[0], version=key[1])
            self._described[key] = tool
        return tool

    async def prepare(self, user: Owner, name: str, arguments: dict[str, Any], trigger: str) -> PreparedRun:
        """Authorize and type a call: `NoSuchSkill`, or `ArgumentError` with the same messages as chat."""
        if not isinstance(arguments, dict):
            raise ArgumentError(["the arguments must be a JSON object of parameter names and values"])
        texts = {key: argument_text(value) for key, value in arguments.items()}
        found = await self._find(user, name)
        return await self._read(self.runner.prepare, Caller(user), skill_id=found.skill.id,
                                version=found.version.version, arguments=texts, trigger=trigger)

    async def run(self, prepared: PreparedRun) -> RunOutcome:
        """Run it as `/skill run` does (retries, memory, every attempt recorded)."""
        return await self.runner.start(prepared)

    async def get_run(self, user: Owner, run_id: int) -> tuple[SkillRun, str]:
        """A run `user` may see and its skill's name; the store's `RunNotFound` otherwise."""
        if not 0 < run_id < MAX_ROW_ID:   # no such row, and no database could look it up
            raise RunNotFound(f"you have no run with id {run_id}")
        run = await self._read(self.store.get_run, run_id, user)
        skill = await self._read(self.store.get, run.skill_id, user)
        return run, skill.name

    async def skill_document(self, user: Owner, name: str) -> dict[str, Any]:
        """What a caller may read of a skill they may run: description, parameters, the source of the version
        they run, and the versions they can see; `NoSuchSkill` otherwise."""
        found = await self._find(user, name)
        versions = await self._read(self.store.versions, found.skill.id, Caller(user))
        shown = [v for v in versions if not found.shared or v.version == found.version.version]
        return {"name": found.skill.name, "description": found.skill.description, "version": found.version.version,
                "parameters": found.version.parameters, "input_schema": self.describe(found).input_schema,
                "source": found.version.code, "tools": list(found.version.tools),
                "versions": [{"version": v.version, "created_at": v.created_at.isoformat()} for v in shown]}

    async def _find(self, user: Owner, name: str) -> RunnableSkill:
        try:
            found = await self._read(self.store.find_runnable, Caller(user), name)
        except AmbiguousSkillName:
            found = None
        if found is None:
            raise NoSuchSkill(name)
        return found

    async def _read(self, read: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Inline on SQLite (sub-millisecond reads), in a worker thread on PostgreSQL (a network round trip)."""
        if self.store.is_local:
            return read(*args, **kwargs)
        return await asyncio.to_thread(read, *args, **kwargs)


def input_schema(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON Schema of a skill's typed parameters: types, formats for dates, defaults, descriptions."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in map(SkillParameter.from_dict, parameters):
        schema = dict(_JSON_TYPES[parameter.base_type])
        if parameter.optional:
            schema = {"anyOf": [schema, {"type": "null"}]}
        if parameter.description:
            schema["description"] = parameter.description
        if parameter.required:
            required.append(parameter.name)
        else:
            schema["default"] = parameter.default
        properties[parameter.name] = schema
    schema_: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema_["required"] = required
    return schema_


def run_summary(name: str, run: SkillRun) -> str:
    """One line saying how a run ended."""
    if run.status == "succeeded":
        return f"{name} v{run.version} succeeded in {run.duration_ms or 0} ms (run {run.id})."
    if run.status == "running":
        return f"{name} v{run.version} is still running (run {run.id})."
    return f"{name} v{run.version} failed (run {run.id}): {run.error or 'the run failed'}"


def run_record(name: str, run: SkillRun) -> dict[str, Any]:
    """A run as callers outside chat see it (the MCP tools' structured content, the HTTP API's body)."""
    return {"run_id": run.id, "skill": name, "version": run.version, "status": run.status, "result": run.result,
            "error": run.error, "logs": run.logs, "trigger": run.trigger,
            "started_at": run.started_at.isoformat(), "duration_ms": run.duration_ms}
