"""Timeouts, code that will not stop, workers that die, callers that give up."""

from __future__ import annotations

import asyncio
import os
import re
import signal

import pytest

from sandbox.launch import ResourceLimits
from sandbox.process import _descendants
from sandbox.session import SubprocessSession

from .conftest import RecordingDispatcher, host_pid, process_is_running, wait_until


async def test_an_endless_loop_is_interrupted_and_the_scope_kept(session: SubprocessSession) -> None:
    await session.exec("kept = 'still here'")
    result = await session.exec("n = 0\nwhile True:\n    n += 1", timeout=0.5)
    assert result.timed_out
    assert not result.restarted
    assert re.search(r'File "<cell-2>", line [23], in <module>', result.error)  # the loop's lines
    assert "KeyboardInterrupt" in result.error
    assert "variables are kept" in result.observation()
    after = await session.exec("kept, n > 0")
    assert after.value == ["still here", True]


async def test_an_await_that_never_ends_is_interrupted_and_the_scope_kept(session: SubprocessSession) -> None:
    await session.exec("import asyncio\nkept = 1")
    result = await session.exec("await asyncio.sleep(3600)", timeout=0.5)
    assert result.timed_out
    assert not result.restarted
    assert 'File "<cell-2>", line 1, in <module>' in result.error
    assert "KeyboardInterrupt" in result.error
    assert (await session.exec("kept + 1")).value == 2
    later = await session.exec(
        "try:\n    async with asyncio.timeout(0.01):\n        await asyncio.sleep(3600)\nexcept TimeoutError:\n    outcome = 'timeout'\noutcome"
    )
    assert later.value == "timeout"  # the loop and task are healthy after the interrupt


async def test_user_code_can_catch_the_interrupt_and_finish(session: SubprocessSession) -> None:
    result = await session.exec(
        "import time\ntry:\n    time.sleep(3600)\nexcept KeyboardInterrupt:\n    print('cleaned up')\n'partial'",
        timeout=0.5,
    )
    assert result.timed_out
    assert not result.restarted
    assert result.error is None
    assert (result.stdout, result.value) == ("cleaned up\n", "partial")


async def test_code_that_ignores_the_interrupt_is_killed_and_the_session_restarts_with_tools(
    tool_session: SubprocessSession, dispatcher: RecordingDispatcher
) -> None:
    await tool_session.exec("kept = 1")
    result = await tool_session.exec(
        "import time\nwhile True:\n    try:\n        time.sleep(3600)\n    except BaseException:\n        pass",
        timeout=0.5,
    )
    assert result.timed_out
    assert result.restarted
    assert "did not stop when interrupted" in result.error
    assert "variables are lost; re-run your setup" in result.observation()
    assert tool_session.alive
    lost = await tool_session.exec("kept")
    assert "NameError: name 'kept' is not defined" in lost.error
    again = await tool_session.exec("(await outlook_list_messages(limit=1))[0].subject")
    assert again.value == "Invoice March"


async def test_a_worker_that_dies_gives_a_clear_result_and_a_usable_session(tool_session: SubprocessSession) -> None:
    await tool_session.exec("kept = 1")
    result = await tool_session.exec("import os, sys\nprint('bye', file=sys.__stderr__, flush=True)\nos._exit(3)")
    assert result.restarted
    assert not result.timed_out
    assert "The sandbox worker stopped while running this code (exit code 3" in result.error
    assert "bye" in result.error  # the worker's own stderr, to explain the exit
    assert "variables are lost" in result.observation()
    assert (await tool_session.exec("1 + 1")).value == 2
    assert "NameError" in (await tool_session.exec("kept")).error


async def test_a_worker_killed_between_execs_is_replaced_on_the_next_exec(session: SubprocessSession) -> None:
    pid = host_pid(session, (await session.exec("import os\nkept = 1\nos.getpid()")).value)
    os.kill(pid, signal.SIGKILL)
    assert await wait_until(lambda: not session.alive)
    result = await session.exec("'fresh'")
    assert result.value == "fresh"
    assert result.restarted
    assert "variables are lost" in result.observation()


async def test_a_caller_that_gives_up_leaves_a_usable_session(session: SubprocessSession) -> None:
    await session.exec("import asyncio\nkept = 'yes'")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(session.exec("await asyncio.sleep(3600)", timeout=600), 0.5)
    result = await session.exec("kept")
    assert result.value == "yes"
    assert not result.restarted


async def test_close_kills_processes_started_by_user_code(dispatcher: RecordingDispatcher) -> None:
    session = SubprocessSession(dispatcher)
    await session.start()
    task = asyncio.ensure_future(session.exec("import subprocess\nsubprocess.Popen(['sleep', '3600']).wait()"))
    assert await wait_until(lambda: session._worker is not None and len(_jail_processes(session)) > 0)
    children = _jail_processes(session)
    await session.close()
    assert await wait_until(lambda: not any(process_is_running(child) for child in children))
    assert (await task).error is not None


def _jail_processes(session: SubprocessSession) -> list[int]:
    """The host pids of the processes under the session's worker."""
    assert session._worker is not None
    return _descendants(session._worker.worker_pid)


async def test_exec_after_close_is_refused_clearly(dispatcher: RecordingDispatcher) -> None:
    session = SubprocessSession(dispatcher)
    await session.close()
    with pytest.raises(RuntimeError, match="closed"):
        await session.exec("1")


async def test_the_cpu_limit_ends_a_runaway_worker_with_an_explanation(dispatcher: RecordingDispatcher) -> None:
    async with SubprocessSession(dispatcher, limits=ResourceLimits(cpu_seconds=1)) as session:
        result = await session.exec("while True:\n    pass", timeout=120)
        assert result.restarted
        assert not result.timed_out
        assert "SIGXCPU: the CPU time limit was reached" in result.error
        assert (await session.exec("'back'")).value == "back"


async def test_interrupting_code_in_the_middle_of_sending_tool_calls_leaves_the_channel_whole(
    tool_session: SubprocessSession, dispatcher: RecordingDispatcher
) -> None:
    note = "x" * 300_000   # each call's frame is larger than a pipe buffer: its write is often under way at the interrupt
    code = ("import datetime\nsent = 0\nwhile True:\n"
            f"    await sheets_append_row('s', Row(datetime.date(2026, 1, 1), 1.0, {note!r}))\n    sent += 1")
    for _ in range(3):
        result = await tool_session.exec(code, timeout=0.3)
        assert result.timed_out and not result.restarted, result.error
        assert "KeyboardInterrupt" in result.error
    assert (await tool_session.exec("sent > 0, 6 * 7")).value == [True, 42]   # no half frame was left behind
    assert all(args["row"]["note"] == note for name, args in dispatcher.calls)
