"""Running a saved skill: the same sandbox and tool bridge as the agent, and no model at all.

A run is prepared first (``prepare``, ``prepare_retry``, ``prepare_scheduled``): the store decides whether
the caller may run the skill and which version, and the arguments are typed from chat text, so a surface
can answer at once with an error or an ack. ``start`` then runs it: the skill's memory is loaded into the
sandbox, the code runs with only the tools it declares acting for the caller's account, every attempt is
recorded, and transient failures are retried with the skill's backoff unless a write that is not safe to
repeat already happened. ``preview`` is the same run as a dry run: writes are listed, not made.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.runtime.bridge import BridgedSession, ToolBridge
from integrations.errors import ToolError
from sandbox.result import ExecResult, ToolCallRecord
from skills_db.access import Viewer, as_caller
from skills_db.errors import SkillNotFound
from skills_db.memory import MAX_KEY_CHARS, MAX_VALUE_BYTES
from skills_db.models import Owner, RunStatus, RunTrigger, Skill, SkillRun, SkillVersion
from skills_db.params import SkillParameter, argument_text, coerce_arguments, parse_arguments
from skills_db.schedules import DueRun
from skills_db.store import SCHEDULE_TRIGGER_PREFIX, RunnableSkill, SkillStore

# Failed tool calls whose message says one of these are worth another attempt (throttling, outages, network).
TRANSIENT_MARKERS = ("throttl", "temporarily unavailable", "timed out", "could not reach", "try again")
WRITE_EFFECTS = frozenset({"write", "send", "destructive"})

# Defines memory_get / memory_set / memory_delete in the sandbox scope over a snapshot of the skill's memory.
MEMORY_PRELUDE = '''
def __codemem_memory(snapshot, max_key, max_bytes):
    import json
    data, changed, removed = json.loads(snapshot), {}, set()

    def memory_get(key, default=None):
        """The value an earlier run of this skill stored under `key`, or `default`."""
        return json.loads(json.dumps(data[key])) if key in data else default

    def memory_set(key, value):
        """Remember `value` (JSON: numbers, text, lists, dicts) under `key` for later runs of this skill."""
        if not isinstance(key, str) or not 0 < len(key) <= max_key:
            raise ValueError(f"memory keys are text of 1-{max_key} characters, got {key!r:.60}")
        text = json.dumps(value)
        if len(text.encode()) > max_bytes:
            raise ValueError(f"memory value for {key!r} is over {max_bytes} bytes: store ids, not documents")
        data[key] = changed[key] = json.loads(text)
        removed.discard(key)

    def memory_delete(key):
        """Forget `key`."""
        data.pop(key, None)
        changed.pop(key, None)
        removed.add(key)

    def changes():
        return {"set": changed, "removed": sorted(removed)}

    return memory_get, memory_set, memory_delete, changes

memory_get, memory_set, memory_delete, __codemem_memory_changes = __codemem_memory(__SNAPSHOT__, __MAX_KEY__, __MAX_BYTES__)
del __codemem_memory
'''


@dataclass(frozen=True)
class PreparedRun:
    """A run the store allowed: which version, typed arguments, and whose account its tools act for."""

    skill: Skill
    version: SkillVersion
    arguments: dict[str, Any]
    actor: Owner
    triggered_by: str
    trigger: str


@dataclass
class RunOutcome:
    """Every attempt of a run (newest last) and, after a failure, why no further attempt was made."""

    attempts: list[SkillRun]
    transient: bool = False
    blocked_by: list[str] = field(default_factory=list)

    @property
    def run(self) -> SkillRun:
        """The last attempt: its status, result, logs and error are the run's."""
        return self.attempts[-1]

    @property
    def succeeded(self) -> bool:
        """True when the last attempt succeeded."""
        return self.run.status == RunStatus.SUCCEEDED

    @property
    def failure(self) -> str | None:
        """For the owner's alert (with a Retry button): the error, and why it was not retried. None on success."""
        if self.succeeded:
            return None
        error = self.run.error or "the run failed"
        if self.blocked_by:
            names = ", ".join(sorted(set(self.blocked_by)))
            why = f"not retried automatically: {names} already ran and could be duplicated by a retry"
        elif self.transient:
            why = f"failed {len(self.attempts)} times in a row"
        else:
            why = "not retried automatically: retrying would fail the same way"
        return f"{error}\n({why})"


@dataclass(frozen=True)
class Preview:
    """A dry run: what the skill returned and printed, and the writes it would have made."""

    result: Any
    logs: str
    error: str | None
    writes: list[dict[str, Any]]


class SkillRunner:
    """Executes skill versions with validated arguments, retries and memory, and records every attempt."""

    def __init__(
        self,
        store: SkillStore,
        bridge: ToolBridge,
        timeout: float = 600.0,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.bridge = bridge
        self.timeout = timeout
        self._sleep = sleep

    # ---------------------------------------------------------------------------------------- preparing

    def prepare(
        self,
        caller: Viewer,
        *,
        name: str | None = None,
        skill_id: int | None = None,
        version: int | None = None,
        arguments: str | dict[str, str] = "",
        trigger: str = RunTrigger.COMMAND.value,
    ) -> PreparedRun:
        """Authorize and type a run of the skill called ``name`` (or with id ``skill_id``, e.g. from a button).

        ``arguments`` is ``key=value`` text or a dict of texts. Raises ``SkillNotFound``,
        ``SkillNotRunnable``, ``VersionNotFound``, ``AmbiguousSkillName`` or ``ArgumentError``.
        """
        who = as_caller(caller)
        if (name is None) == (skill_id is None):
            raise ValueError("prepare needs exactly one of name= or skill_id=")
        if skill_id is not None:
            runnable = self.store.get_runnable(skill_id, who, version)
        else:
            found = self.store.find_runnable(who, name or "")
            if found is None:
                raise SkillNotFound(f"you have no skill named '{name}' that you can run; /skill list shows yours")
            runnable = found
        raw = parse_arguments(arguments) if isinstance(arguments, str) else dict(arguments)
        return _prepared(runnable, raw, who.user, who.user.user_ref, trigger)

    def prepare_retry(self, caller: Viewer, run_id: int) -> PreparedRun:
        """The same version and arguments as run ``run_id`` again (the Retry button), if the caller may."""
        who = as_caller(caller)
        previous = self.store.get_run(run_id, who)
        runnable = self.store.get_runnable(previous.skill_id, who, previous.version)
        raw = {key: argument_text(value) for key, value in previous.parameters.items()}
        return _prepared(runnable, raw, who.user, who.user.user_ref, RunTrigger.BUTTON.value)

    def prepare_scheduled(self, due: DueRun) -> PreparedRun:
        """A claimed schedule slot as a run of the skill's current version, as its owner."""
        owner = due.skill.owner
        runnable = self.store.get_runnable(due.skill.id, owner)
        return _prepared(
            runnable,
            dict(due.schedule.arguments),
            owner,
            f"{SCHEDULE_TRIGGER_PREFIX}{due.schedule.id}",
            RunTrigger.SCHEDULE.value,
        )

    # ------------------------------------------------------------------------------------------ running

    async def run(
        self, skill: Skill, version: SkillVersion, arguments: dict[str, Any], *, triggered_by: str, trigger: str
    ) -> SkillRun:
        """Run ``version`` of ``skill`` as its owner with ``arguments`` (already typed); the last attempt.

        The caller must have authorized the run (``prepare`` does both: prefer it).
        """
        prepared = PreparedRun(skill, version, arguments, skill.owner, triggered_by, trigger)
        return (await self.start(prepared)).run

    async def start(self, prepared: PreparedRun) -> RunOutcome:
        """Run it, retrying transient failures per the skill's policy; every attempt is recorded."""
        policy = self.store.run_policy(prepared.skill)
        outcome = RunOutcome(attempts=[])
        first_id: int | None = None
        for attempt in range(1, policy.max_attempts + 1):
            record, result = await self._attempt(prepared, attempt, first_id)
            outcome.attempts.append(record)
            first_id = first_id or record.id
            if record.status == RunStatus.SUCCEEDED:
                return outcome
            outcome.transient = _is_transient(result)
            outcome.blocked_by = self._unsafe_writes(result.tool_calls)
            if not outcome.transient or outcome.blocked_by or attempt == policy.max_attempts:
                return outcome
            await self._sleep(policy.delay_after(attempt))
        return outcome

    async def preview(self, prepared: PreparedRun) -> Preview:
        """A dry run (not recorded): write tools report what they would do; memory changes are not kept."""
        memory, opened = await asyncio.gather(self._memory(prepared), self._open(prepared, dry_run=True))
        result, _ = await self._execute(opened, prepared, memory, dry_run=True)
        writes = [
            {"name": call.name, "args": call.args, "ok": call.ok, "error": call.error}
            for call in result.tool_calls
            if self._effect(call.name) in WRITE_EFFECTS
        ]
        failed = result.error is not None or result.timed_out
        return Preview(None if failed else result.value, _logs([result]), _error(result), writes)

    async def _attempt(self, prepared: PreparedRun, attempt: int, first_id: int | None) -> tuple[SkillRun, ExecResult]:
        skill, version = prepared.skill, prepared.version
        # The run is recorded while the sandbox session opens and the code starts; its tool calls (the only
        # way it acts) wait for the record.
        recording = asyncio.ensure_future(asyncio.to_thread(
            self.store.start_run,
            skill.id,
            version.version,
            prepared.triggered_by,
            prepared.trigger,
            _jsonable(prepared.arguments),
            attempt=attempt,
            retry_of=first_id,
        ))
        try:
            memory, opened = await asyncio.gather(
                self._memory(prepared), self._open(prepared, dry_run=False, calls_wait_for=recording)
            )
            result, changes = await self._execute(opened, prepared, memory, dry_run=False)
        finally:
            run = await recording
        error = _error(result)
        if changes is not None and (changes["set"] or changes["removed"]):
            try:
                await asyncio.to_thread(self.store.memory.apply, skill.id, changes["set"], changes["removed"])
            except ValueError as problem:
                error = f"{error}\n" if error else ""
                error += f"the skill's memory was not saved: {problem}"
        record = await asyncio.to_thread(
            self.store.finish_run,
            run.id,
            RunStatus.FAILED.value if error else RunStatus.SUCCEEDED.value,
            None if error else result.value,
            _logs([result]),
            [self._call_record(call) for call in result.tool_calls],
            error,
        )
        return record, result

    async def _memory(self, prepared: PreparedRun) -> dict[str, Any] | None:
        """The skill's memory, or None when its code never names the memory functions (it gets none)."""
        if not _uses_memory(prepared.version.code):
            return None
        return await asyncio.to_thread(self.store.memory.snapshot, prepared.skill.id)

    async def _open(
        self, prepared: PreparedRun, *, dry_run: bool, calls_wait_for: Awaitable[Any] | None = None
    ) -> BridgedSession | ExecResult:
        """A sandbox session with the version's tools, or the result that says why there is none."""
        try:
            return await self.bridge.open(prepared.actor, prepared.version.tools, dry_run=dry_run,
                                          calls_wait_for=calls_wait_for,
                                          pinned=(prepared.skill.id, prepared.version.version))
        except (ToolError, ValueError) as problem:
            return _not_started(f"the skill's tools could not be loaded: {problem}")

    async def _execute(
        self, opened: BridgedSession | ExecResult, prepared: PreparedRun, memory: dict[str, Any] | None, *,
        dry_run: bool,
    ) -> tuple[ExecResult, dict[str, Any] | None]:
        """Run the code and its ``run`` in the fresh session (then close it); the result, and the memory changes
        (None when the skill has no memory)."""
        if isinstance(opened, ExecResult):
            return opened, None
        session = opened.session
        try:
            if memory is not None:
                prelude = await session.exec(_memory_prelude(memory), timeout=self.timeout)
                if prelude.error:
                    return prelude, None
            # One cell: the code, then the call of its `run` (the cell's value), in one round trip.
            cell = f"{prepared.version.code.rstrip()}\n\nawait run({_call_arguments(prepared.arguments)})\n"
            result = await session.exec(cell, timeout=self.timeout)
            changes = None
            if memory is not None and not dry_run and not result.restarted:
                saved = await session.exec("__codemem_memory_changes()", timeout=self.timeout)
                changes = saved.value if isinstance(saved.value, dict) else None
        finally:
            await opened.close()
        return result, changes

    # ----------------------------------------------------------------------------------------- tool calls

    def _effect(self, name: str) -> str | None:
        try:
            return self.bridge.registry.get(name).effect
        except ToolError:
            return None

    def _unsafe_writes(self, calls: list[ToolCallRecord]) -> list[str]:
        """Writes that were attempted and are not safe to repeat: a retry would do them again."""
        unsafe = []
        for call in calls:
            try:
                spec = self.bridge.registry.get(call.name)
            except ToolError:
                continue
            if spec.effect in WRITE_EFFECTS and not spec.retry_safe:
                unsafe.append(call.name)
        return unsafe

    def _call_record(self, call: ToolCallRecord) -> dict[str, Any]:
        """A tool call as the run record keeps it: its arguments as the sandbox's bounded preview, and their digest."""
        return {
            "name": call.name,
            "effect": self._effect(call.name),
            "ok": call.ok,
            "duration_ms": round(call.duration_ms, 2),
            "error": call.error,
            "args": call.args,
            "args_digest": call.args_digest,
        }


def _prepared(runnable: RunnableSkill, raw: dict[str, str], actor: Owner, triggered_by: str, trigger: str) -> PreparedRun:
    parameters = [SkillParameter.from_dict(p) for p in runnable.version.parameters]
    arguments = coerce_arguments(parameters, raw)
    return PreparedRun(runnable.skill, runnable.version, arguments, actor, triggered_by, trigger)


def _is_transient(result: ExecResult) -> bool:
    """Worth another attempt: a timeout, a lost worker, or a tool call that failed for a passing reason."""
    if result.timed_out or result.restarted:
        return True
    return any(
        not call.ok and any(marker in (call.error or "").lower() for marker in TRANSIENT_MARKERS)
        for call in result.tool_calls
    )


def _uses_memory(code: str) -> bool:
    """Whether the code names one of the memory functions (only then is the memory set up for it)."""
    return re.search(r"\bmemory_(get|set|delete)\b", code) is not None


def _memory_prelude(memory: dict[str, Any]) -> str:
    snapshot = json.dumps(json.dumps(memory, ensure_ascii=False))
    return (
        MEMORY_PRELUDE.replace("__SNAPSHOT__", snapshot)
        .replace("__MAX_KEY__", str(MAX_KEY_CHARS))
        .replace("__MAX_BYTES__", str(MAX_VALUE_BYTES))
    )


def _not_started(error: str) -> ExecResult:
    return ExecResult(stdout="", stderr="", value=None, value_repr=None, error=error, duration_ms=0.0, tool_calls=[])


def _error(result: ExecResult) -> str | None:
    if result.error:
        return result.error
    if result.timed_out:
        return "the run took longer than its time limit"
    return None


def _logs(results: list[ExecResult]) -> str:
    text = "".join(result.stdout for result in results)
    errors = "".join(result.stderr for result in results)
    return text + (f"[stderr]\n{errors}" if errors else "")


def _call_arguments(arguments: dict[str, Any]) -> str:
    """Keyword arguments as Python source: the sandbox rebuilds dates from their constructors."""
    return ", ".join(f"{name}={_literal(value)}" for name, value in arguments.items())


def _literal(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return f"__import__('datetime').datetime.fromisoformat({value.isoformat()!r})"
    if isinstance(value, dt.date):
        return f"__import__('datetime').date.fromisoformat({value.isoformat()!r})"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    return repr(value)


def _jsonable(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in arguments.items()}
