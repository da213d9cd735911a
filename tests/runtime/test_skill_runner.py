"""The skill runner with a real sandbox, bridge, registry and database: authorization, typing, retries, memory, preview."""

from __future__ import annotations

import time
from datetime import date

import pytest

from bot.runtime.skill_runner import SkillRunner
from skills_db import (
    ArgumentError, Caller, RunPolicy, ShareScope, SkillNotFound, SkillNotRunnable, SkillStore, VersionNotFound,
)

from .conftest import ALICE, BOB, Ledger

COUNTER = '''
from datetime import date

async def run(source: str = "abc", times: int = 1, since: date | None = None, tags: list[str] = []) -> dict:
    total = 0
    for _ in range(times):
        total += await fetch_count(source)
    print(f"counted {total}")
    return {"total": total, "since": since.isoformat() if since else None, "tags": tags}
'''

APPENDER = '''
async def run(items: list[str] = ["a", "b", "c"]) -> dict:
    written = []
    for item in items:
        await append_row(item)
        written.append(item)
        await fetch_count(item)
    return {"written": written}
'''

REMEMBERING = '''
async def run(items: list[str] = ["a", "b", "c"]) -> dict:
    seen = set(memory_get("seen", []))
    new = [item for item in items if item not in seen]
    for item in new:
        await append_row(item)
        seen.add(item)
        memory_set("seen", sorted(seen))
    memory_set("runs", memory_get("runs", 0) + 1)
    return {"new": new}
'''


def saved(store: SkillStore, code: str, tools: list[str], name: str = "skill") -> int:
    skill = store.create_draft(ALICE, name, "", code, tools)
    store.approve(skill.id, ALICE, 1)
    return skill.id


async def test_a_run_types_its_arguments_and_is_recorded(store: SkillStore, runner: SkillRunner, ledger: Ledger) -> None:
    saved(store, COUNTER, ["fetch_count"], "counter")
    prepared = runner.prepare(ALICE, name="counter", arguments='source=hello times="2" since=2026-11-01 tags=x,y')
    assert prepared.arguments == {"source": "hello", "times": 2, "since": date(2026, 11, 1), "tags": ["x", "y"]}

    outcome = await runner.start(prepared)

    assert outcome.succeeded and outcome.failure is None, outcome.run.error
    run = outcome.run
    assert run.result == {"total": 10, "since": "2026-11-01", "tags": ["x", "y"]}
    assert (run.status, run.trigger, run.triggered_by, run.attempt) == ("succeeded", "command", "slack:U456", 1)
    assert run.logs == "counted 10\n"
    assert run.parameters == {"source": "hello", "times": 2, "since": "2026-11-01", "tags": ["x", "y"]}
    assert [(c["name"], c["effect"], c["ok"], c["args"]) for c in run.tool_calls] == [
        ("fetch_count", "read", True, {"source": "hello"})
    ] * 2


async def test_bad_arguments_are_refused_before_anything_runs(store: SkillStore, runner: SkillRunner) -> None:
    skill_id = saved(store, COUNTER, ["fetch_count"], "counter")
    with pytest.raises(ArgumentError, match="times must be a whole number, got 'many'"):
        runner.prepare(ALICE, name="counter", arguments="times=many")
    assert store.runs(skill_id) == []


async def test_only_declared_tools_are_callable(store: SkillStore, runner: SkillRunner, ledger: Ledger) -> None:
    saved(store, APPENDER, ["fetch_count"], "sneaky")  # append_row is used but not declared
    outcome = await runner.start(runner.prepare(ALICE, name="sneaky"))
    assert not outcome.succeeded
    assert "NameError: name 'append_row' is not defined" in outcome.run.error
    assert ledger.rows == []


async def test_nobody_else_can_run_a_private_skill(store: SkillStore, runner: SkillRunner) -> None:
    skill_id = saved(store, COUNTER, ["fetch_count"], "counter")
    run = (await runner.start(runner.prepare(ALICE, name="counter"))).run
    with pytest.raises(SkillNotFound):
        runner.prepare(BOB, name="counter")
    with pytest.raises(SkillNotFound):
        runner.prepare(Caller(BOB, "C1"), skill_id=skill_id)  # a forged button value
    from skills_db import RunNotFound

    with pytest.raises(RunNotFound):
        runner.prepare_retry(BOB, run.id)
    draft = store.create_draft(ALICE, "draft", "", COUNTER, ["fetch_count"])
    with pytest.raises(SkillNotRunnable):
        runner.prepare(ALICE, skill_id=draft.id)


async def test_a_member_runs_the_approved_version_with_their_own_account(store: SkillStore, runner: SkillRunner) -> None:
    skill_id = saved(store, COUNTER, ["fetch_count"], "counter")
    scope = ShareScope.of_channel("slack", "T123", "C-FIN")
    store.sharing.add_approver(scope, "U-CAROL", added_by="admin")
    share = store.sharing.share(skill_id, ALICE, scope)
    from skills_db import Owner

    store.sharing.approve(share.id, Owner("slack", "T123", "U-CAROL"), 1)

    prepared = runner.prepare(Caller(BOB, "C-FIN"), name="counter")
    assert (prepared.actor, prepared.triggered_by) == (BOB, "slack:U789")
    outcome = await runner.start(prepared)
    assert outcome.succeeded
    assert [run.id for run in store.history(skill_id, Caller(BOB, "C-FIN"))] == [outcome.run.id]
    assert store.history(skill_id, ALICE) == []


async def test_transient_failures_are_retried_with_backoff(
    store: SkillStore, runner: SkillRunner, ledger: Ledger, sleeps: list[float]
) -> None:
    skill_id = saved(store, COUNTER, ["fetch_count"], "counter")
    store.set_run_policy(skill_id, ALICE, RunPolicy(max_attempts=4, backoff_seconds=1.5, backoff_factor=2))
    ledger.fail("fetch_count", 2, "reading failed: Microsoft Graph answered 503; wait a minute and try again")

    outcome = await runner.start(runner.prepare(ALICE, name="counter"))

    assert outcome.succeeded
    assert [(run.attempt, run.status) for run in outcome.attempts] == [(1, "failed"), (2, "failed"), (3, "succeeded")]
    assert {run.retry_of for run in outcome.attempts[1:]} == {outcome.attempts[0].id}
    assert sleeps == [1.5, 3.0]
    assert len(store.runs(skill_id)) == 3


async def test_after_the_last_attempt_the_outcome_says_so(
    store: SkillStore, runner: SkillRunner, ledger: Ledger, sleeps: list[float]
) -> None:
    skill_id = saved(store, COUNTER, ["fetch_count"], "counter")
    store.set_run_policy(skill_id, ALICE, RunPolicy(max_attempts=2, backoff_seconds=0))
    ledger.fail("fetch_count", 2, "Microsoft Graph is throttling requests: wait a minute and try again")

    outcome = await runner.start(runner.prepare(ALICE, name="counter"))

    assert not outcome.succeeded and outcome.transient
    assert len(outcome.attempts) == 2
    assert "throttling" in outcome.failure and "(failed 2 times in a row)" in outcome.failure
    retry = runner.prepare_retry(ALICE, outcome.run.id)  # the Retry button
    assert (retry.version.version, retry.arguments["source"], retry.trigger) == (1, "abc", "button")
    assert (await runner.start(retry)).succeeded


async def test_a_permanent_failure_is_not_retried(store: SkillStore, runner: SkillRunner, ledger: Ledger, sleeps: list[float]) -> None:
    saved(store, COUNTER, ["fetch_count"], "counter")
    ledger.fail("fetch_count", 1, "reading failed: Microsoft Graph answered 404; check the id or path")
    outcome = await runner.start(runner.prepare(ALICE, name="counter"))
    assert (len(outcome.attempts), outcome.transient, sleeps) == (1, False, [])
    assert "retrying would fail the same way" in outcome.failure


async def test_a_write_that_is_not_safe_to_repeat_is_never_repeated(
    store: SkillStore, runner: SkillRunner, ledger: Ledger, sleeps: list[float]
) -> None:
    saved(store, APPENDER, ["append_row", "fetch_count"], "appender")
    ledger.fail("fetch_count", 1, "could not reach Microsoft Graph (ConnectError); check the network and try again")

    outcome = await runner.start(runner.prepare(ALICE, name="appender"))

    assert ledger.rows == ["a"]  # written once, and not again
    assert len(outcome.attempts) == 1 and outcome.transient
    assert outcome.blocked_by == ["append_row"]
    assert "append_row already ran and could be duplicated by a retry" in outcome.failure
    calls = outcome.run.tool_calls
    assert [(c["name"], c["effect"], c["ok"]) for c in calls] == [("append_row", "write", True), ("fetch_count", "read", False)]


async def test_retry_safe_writes_do_not_block_a_retry(store: SkillStore, runner: SkillRunner, ledger: Ledger) -> None:
    code = "async def run() -> bool:\n    await set_flag('x')\n    return await fetch_count('abc') == 3\n"
    saved(store, code, ["set_flag", "fetch_count"], "flagger")
    ledger.fail("fetch_count", 1, "Microsoft Graph timed out: wait a minute and try again")
    outcome = await runner.start(runner.prepare(ALICE, name="flagger"))
    assert outcome.succeeded and len(outcome.attempts) == 2


async def test_memory_prevents_duplicate_work_across_runs(store: SkillStore, runner: SkillRunner, ledger: Ledger) -> None:
    skill_id = saved(store, REMEMBERING, ["append_row"], "rolling")
    first = await runner.start(runner.prepare(ALICE, name="rolling"))
    second = await runner.start(runner.prepare(ALICE, name="rolling", arguments="items=b,c,d"))

    assert (first.run.result, second.run.result) == ({"new": ["a", "b", "c"]}, {"new": ["d"]})
    assert ledger.rows == ["a", "b", "c", "d"]
    assert store.memory.items(skill_id, ALICE) == {"seen": ["a", "b", "c", "d"], "runs": 2}


async def test_memory_written_before_a_failure_is_kept(store: SkillStore, runner: SkillRunner, ledger: Ledger) -> None:
    fails_after_b = REMEMBERING.replace("memory_set(\"seen\", sorted(seen))", "memory_set(\"seen\", sorted(seen))\n        assert item != 'b', 'b is broken'")
    skill_id = saved(store, fails_after_b, ["append_row"], "rolling")

    outcome = await runner.start(runner.prepare(ALICE, name="rolling"))

    assert not outcome.succeeded and "b is broken" in outcome.run.error
    assert ledger.rows == ["a", "b"]
    assert store.memory.snapshot(skill_id) == {"seen": ["a", "b"]}  # done before the failure: a rerun skips them


async def test_a_memory_limit_inside_the_run_fails_it_with_the_reason(store: SkillStore, runner: SkillRunner) -> None:
    code = "async def run() -> None:\n    memory_set('big', 'x' * 100_000)\n"
    saved(store, code, [], "hoarder")
    outcome = await runner.start(runner.prepare(ALICE, name="hoarder"))
    assert "memory value for 'big' is over 64000 bytes" in outcome.run.error


async def test_memory_is_reached_from_helpers_and_a_skill_without_it_runs_without_it(store: SkillStore, runner: SkillRunner) -> None:
    helper = ("def last_count():\n    return memory_get('count', 0)\n\n"
              "async def run() -> int:\n    count = last_count() + 1\n    memory_set('count', count)\n    return count\n")
    counting = saved(store, helper, [], "counter")
    assert [(await runner.start(runner.prepare(ALICE, name="counter"))).run.result for _ in range(2)] == [1, 2]
    assert store.memory.snapshot(counting) == {"count": 2}

    plain = saved(store, "async def run() -> str:\n    return 'no memory ' + str('memory' + '_get' in globals())\n", [], "plain")
    outcome = await runner.start(runner.prepare(ALICE, name="plain"))
    assert outcome.succeeded and outcome.run.result == "no memory False"
    assert store.memory.snapshot(plain) == {}


async def test_preview_lists_the_writes_without_making_them(store: SkillStore, runner: SkillRunner, ledger: Ledger) -> None:
    skill_id = saved(store, REMEMBERING, ["append_row"], "rolling")
    store.memory.apply(skill_id, {"seen": ["a"]})

    preview = await runner.preview(runner.prepare(ALICE, name="rolling"))

    assert preview.error is None and preview.result == {"new": ["b", "c"]}
    assert [(w["name"], w["args"]) for w in preview.writes] == [("append_row", {"text": "b"}), ("append_row", {"text": "c"})]
    assert ledger.rows == []
    assert store.memory.snapshot(skill_id) == {"seen": ["a"]}  # a preview remembers nothing
    assert store.runs(skill_id) == []


async def test_a_draft_can_be_previewed_by_its_owner_before_approval(store: SkillStore, runner: SkillRunner, ledger: Ledger) -> None:
    from bot.runtime.skill_runner import PreparedRun

    draft = store.create_draft(ALICE, "draft", "", APPENDER, ["append_row", "fetch_count"])
    version = store.get_version(draft.id, ALICE)
    preview = await runner.preview(PreparedRun(draft, version, {"items": ["x"]}, ALICE, ALICE.user_ref, "command"))
    assert [w["args"] for w in preview.writes] == [{"text": "x"}]
    assert ledger.rows == []


async def test_the_compatible_run_method_still_returns_the_run(store: SkillStore, runner: SkillRunner) -> None:
    skill_id = saved(store, COUNTER, ["fetch_count"], "counter")
    found = store.find_active(ALICE, "counter")
    assert found is not None
    run = await runner.run(found[0], found[1], {"source": "xy"}, triggered_by="slack:U456", trigger="command")
    assert (run.status, run.result["total"], run.skill_id) == ("succeeded", 2, skill_id)


async def test_a_run_acts_only_once_it_is_recorded(
    store: SkillStore, runner: SkillRunner, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved(store, APPENDER, ["append_row", "fetch_count"], "appender")
    record = store.start_run
    done_when_recorded: list[list[str]] = []

    def slow_start_run(*args: object, **kwargs: object) -> object:
        time.sleep(0.3)   # the code is compiled and `run` started meanwhile
        run = record(*args, **kwargs)
        done_when_recorded.append(list(ledger.rows))
        return run

    monkeypatch.setattr(store, "start_run", slow_start_run)
    outcome = await runner.start(runner.prepare(ALICE, name="appender"))
    assert outcome.succeeded, outcome.run.error
    assert done_when_recorded == [[]] and ledger.rows == ["a", "b", "c"]

    def failing_start_run(*args: object, **kwargs: object) -> object:
        raise VersionNotFound("that version is gone")

    monkeypatch.setattr(store, "start_run", failing_start_run)
    with pytest.raises(VersionNotFound):
        await runner.start(runner.prepare(ALICE, name="appender"))
    assert ledger.rows == ["a", "b", "c"]   # nothing more was written
