"""Issue 18, the sandbox half: code in the sandbox cannot exhaust the host or outlive its turn.

Each case is an attack run by real code in a real worker, at the best isolation this machine offers
(cases that need control groups skip with the reason where the machine has none).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.cgroups import CgroupUnavailable, probe
from sandbox.isolation import IsolationLevel, plan_isolation
from sandbox.launch import ResourceLimits
from sandbox.pool import WorkerPool
from sandbox.protocol import MAX_MESSAGE_BYTES
from sandbox.result import ARGS_PREVIEW_CHARS
from sandbox.session import LATE_CALL, SubprocessSession

from .conftest import CATALOGUE, RecordingDispatcher, wait_until

PLAN = plan_isolation()
LIMITS = ResourceLimits(address_space_bytes=512 * 1024**2, processes=32, workspace_bytes=64 * 1024**2,
                        memory_bytes=256 * 1024**2, cpus=0.25)


def _cgroups_problem() -> str | None:
    try:
        probe()
    except CgroupUnavailable as exc:
        return str(exc)
    return None


needs_cgroups = pytest.mark.skipif(PLAN.cgroups is None, reason=f"needs control groups: {_cgroups_problem()}")


@pytest.fixture
async def hostile(dispatcher: RecordingDispatcher) -> AsyncIterator[SubprocessSession]:
    async with SubprocessSession(dispatcher, limits=LIMITS, tool_call_budget=100) as session:
        await session.define_tools(CATALOGUE)
        yield session


def _reset_peak_memory() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # the host's peak RSS starts again from its RSS now


def _peak_memory_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _write_to_host(frames: str, repeat: str = "b''", times: int = 0) -> str:
    """Code that writes raw bytes to the worker's reply pipe as forged frames: ``frames``, then ``repeat``
    ``times`` times (Python expressions)."""
    return (f"import os, sys, struct, json\nfd = int(sys.argv[2])\n"
            "def send(data):\n    view = memoryview(data)\n    while view:\n        view = view[os.write(fd, view):]\n"
            f"send({frames})\nagain = {repeat}\nfor _ in range({times}):\n    send(again)\n"
            "import time\ntime.sleep(5)\n'not cut off'")


# ------------------------------------------------------------------------------------------ memory


async def test_forged_blob_frames_end_the_stream_before_they_fill_the_host(hostile: SubprocessSession) -> None:
    blob = "struct.pack('>I', (64 << 20) | 0x80000000) + bytes(64 << 20)"
    body = "json.dumps({'type': 'tool_call', 'call_id': 1, 'name': 'x', 'args': {}, '$blobs': 1000}).encode()"
    baseline = _rss_bytes()
    _reset_peak_memory()
    result = await hostile.exec(_write_to_host(f"struct.pack('>I', len({body})) + {body}", blob, 4), timeout=60)
    growth = _peak_memory_bytes() - baseline
    assert result.restarted and not result.timed_out
    assert f"more than {MAX_MESSAGE_BYTES:,} bytes" in result.error
    assert growth <= 1.2 * MAX_MESSAGE_BYTES, f"the host grew by {growth / 2**20:.0f} MB"
    assert (await hostile.exec("'recovered'")).value == "recovered"


async def test_a_message_that_declares_ten_thousand_blobs_is_refused_at_once(hostile: SubprocessSession) -> None:
    body = "json.dumps({'type': 'tool_call', 'call_id': 1, 'name': 'x', 'args': {}, '$blobs': 10000}).encode()"
    result = await hostile.exec(_write_to_host(f"struct.pack('>I', len({body})) + {body}"), timeout=60)
    assert result.restarted and not result.timed_out and "bad blob count 10000" in result.error


async def test_deeply_nested_json_is_a_protocol_error_without_tracebacks(
    hostile: SubprocessSession, caplog: pytest.LogCaptureFixture
) -> None:
    body = "(b'{\"type\": \"reply\", \"id\": 1, \"v\": ' + b'[' * 100_000 + b']' * 100_000 + b'}')"
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        result = await hostile.exec(_write_to_host(f"struct.pack('>I', len({body})) + {body}"), timeout=60)
    assert result.restarted and not result.timed_out and "nests deeper than 64 levels" in result.error
    assert not [record for record in caplog.records if "Exception in callback" in record.getMessage()]
    assert (await hostile.exec("1 + 1")).value == 2


async def test_tool_call_records_keep_a_bounded_preview_and_a_digest(
    hostile: SubprocessSession, dispatcher: RecordingDispatcher
) -> None:
    code = ("import datetime\nbig = 'x' * (1 << 20)\nfailures = 0\nfor _ in range(300):\n    try:\n"
            "        await sheets_append_row(big, Row(datetime.date(2026, 1, 1), 1.0))\n    except ToolError:\n        failures += 1\n"
            "failures")
    result = await hostile.exec(code, timeout=120)
    assert result.value == 200                      # the budget of 100 served, the rest refused
    assert len(result.tool_calls) == 200             # 100 served + 100 refusals recorded, the rest counted
    assert "100 more tool calls were refused and not recorded" in result.observation()
    kept = sum(len(json.dumps(record.args)) for record in result.tool_calls)
    assert kept <= 200 * (ARGS_PREVIEW_CHARS + 100)
    served = result.tool_calls[0]
    assert served.ok and served.args["$chars"] > 1 << 20 and len(served.args["$preview"]) == ARGS_PREVIEW_CHARS
    full = json.dumps(dispatcher.calls[0][1], ensure_ascii=False, sort_keys=True)
    assert served.args_digest == hashlib.sha256(full.encode()).hexdigest()


async def test_small_arguments_are_recorded_as_they_were(hostile: SubprocessSession) -> None:
    result = await hostile.exec("await outlook_list_messages(limit=1)")
    (record,) = result.tool_calls
    assert record.args == {"received_after": None, "limit": 1} and len(record.args_digest) == 64


@needs_cgroups
async def test_forked_children_shared_memory_and_memfd_count_against_one_memory_limit(hostile: SubprocessSession) -> None:
    result = await hostile.exec(
        "import os, mmap\nfds = []\nfor _ in range(6):\n    fd = os.memfd_create('hog')\n    os.ftruncate(fd, 100 << 20)\n"
        "    with mmap.mmap(fd, 100 << 20) as m:\n        m.write(b'x' * (100 << 20))\n    fds.append(fd)\n'all six'",
        timeout=60,
    )
    assert result.value != "all six" and result.restarted   # 600 MB of memfd in a 256 MB group: killed
    assert hostile._worker is not None
    forks = await hostile.exec(
        "import os, time\npids = []\nfor _ in range(5):\n    pid = os.fork()\n    if pid == 0:\n"
        "        b = bytearray(200 << 20)\n        for i in range(0, len(b), 4096):\n            b[i] = 1\n"
        "        os._exit(0)\n    pids.append(pid)\n[os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]",
        timeout=60,
    )
    assert forks.value is not None and any(code != 0 for code in forks.value)   # not 5 x 200 MB
    peak = hostile._worker.peak_memory if hostile._worker is not None else None
    assert peak is None or peak <= 1.2 * LIMITS.memory_bytes


@needs_cgroups
async def test_sysv_shared_memory_counts_against_the_memory_limit(hostile: SubprocessSession) -> None:
    result = await hostile.exec(
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"
        "made = 0\nfor _ in range(3):\n    segment = libc.shmget(0, 200 << 20, 0o1600)\n"
        "    address = libc.shmat(segment, None, 0)\n    ctypes.memset(address, 1, 200 << 20)\n    made += 1\nmade",
        timeout=60,
    )
    assert result.value != 3 and result.restarted   # 600 MB of SysV shared memory in a 256 MB group
    assert (await hostile.exec("'recovered'")).value == "recovered"


# ------------------------------------------------------------------------------------------ turn ends


async def test_tool_calls_after_the_exec_ended_are_refused_and_noted(
    hostile: SubprocessSession, dispatcher: RecordingDispatcher
) -> None:
    started = await hostile.exec(
        "import asyncio\nlog = []\nasync def pester():\n    while True:\n        try:\n"
        "            await outlook_list_messages(limit=1)\n            log.append('served')\n"
        "        except ToolError as exc:\n            log.append(str(exc))\n        await asyncio.sleep(0.02)\n"
        "task = asyncio.ensure_future(pester())\nawait asyncio.sleep(0.1)\n'left running'"
    )
    assert started.value == "left running"
    served = len(dispatcher.calls)
    assert await wait_until(lambda: hostile._late_calls >= 3)
    assert len(dispatcher.calls) == served           # nothing reached the dispatcher after the exec
    after = await hostile.exec("task.cancel()\nsum(entry == " + repr(LATE_CALL) + " for entry in log)")
    assert after.value >= 3
    assert any("made after the previous run had ended were refused" in note for note in after.notes)


async def test_processes_left_running_are_killed_when_the_exec_ends(hostile: SubprocessSession) -> None:
    listing = ("import os\nsorted(int(p) for p in os.listdir('/proc') if p.isdigit()\n"
               "       and open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[0] != 'Z')")   # zombies are dead
    before = (await hostile.exec(listing)).value
    await hostile.exec(
        "import os, subprocess, time\nfor _ in range(4):\n    if os.fork() == 0:\n        while True:\n            pass\n"
        "subprocess.Popen(['setsid', 'sleep', '3600'])\nsubprocess.Popen(['sh', '-c', 'sleep 3600 &'])\ntime.sleep(0.2)"
    )
    after = (await hostile.exec(listing)).value
    assert after == before


@needs_cgroups
async def test_threads_left_spinning_get_no_more_than_the_cpu_quota(hostile: SubprocessSession) -> None:
    result = await hostile.exec(
        "import threading, time\ndef spin():\n    while True:\n        pass\n"
        "for _ in range(2):\n    threading.Thread(target=spin, daemon=True).start()\n"
        "start_cpu, start = time.process_time(), time.monotonic()\ntime.sleep(1.0)\n"
        "(time.process_time() - start_cpu) / (time.monotonic() - start)"
    )
    assert result.value <= LIMITS.cpus * 1.5 + 0.1, f"{result.value:.2f} cores used"


async def test_a_forged_exec_reply_opens_no_gate_and_the_real_one_ends_the_worker(
    hostile: SubprocessSession, dispatcher: RecordingDispatcher
) -> None:
    code = (
        "import asyncio, gc, json, os, struct, sys\n"
        "frames = [t.get_coro().cr_frame for t in asyncio.all_tasks()]\n"
        "request = next(f.f_locals['request'] for f in frames if f and isinstance(f.f_locals.get('request'), dict)\n"
        "               and f.f_locals['request'].get('type') == 'exec')\n"
        "body = json.dumps({'type': 'reply', 'id': request['id'], 'value': 'forged'}).encode()\n"
        "os.write(int(sys.argv[2]), struct.pack('>I', len(body)) + body)\n"
        "await asyncio.sleep(0.3)\nfor _ in range(5):\n    try:\n        await outlook_list_messages(limit=1)\n"
        "    except ToolError:\n        pass\n'real'"
    )
    forged = await hostile.exec(code, timeout=30)
    assert forged.value == "forged"              # code that can read the worker's memory can say what it likes
    assert await wait_until(lambda: hostile._late_calls >= 5)
    assert dispatcher.calls == []                 # but no call it made after that was served
    assert await wait_until(lambda: not hostile.alive or hostile._worker is None or not hostile._worker.alive)
    after = await hostile.exec("'fresh'")         # its real reply gave it away: a new worker
    assert after.value == "fresh" and after.restarted


@needs_cgroups
async def test_each_worker_is_alone_in_its_own_group_with_the_limits(hostile: SubprocessSession) -> None:
    assert hostile._worker is not None and hostile._worker._cgroup is not None
    group = hostile._worker._cgroup
    assert group.pids() == [hostile._worker.worker_pid]
    folders = {folder.parent.parent.name if PLAN.cgroups.version == 1 else "": folder for folder in group._folders}
    worker = hostile._worker
    await hostile.close()
    assert not any(folder.exists() for folder in group._folders) and not worker.alive
    assert folders


async def test_a_pooled_session_serves_no_call_between_turns(dispatcher: RecordingDispatcher) -> None:
    pool = WorkerPool(warm=1, limits=LIMITS)
    await pool.start()
    try:
        first = pool.session("conversation", dispatcher)
        await first.define_tools(CATALOGUE)
        await first.exec("import asyncio\nasync def pester():\n    while True:\n        try:\n"
                         "            await outlook_list_messages(limit=1)\n        except ToolError:\n            pass\n"
                         "        await asyncio.sleep(0.02)\ntask = asyncio.ensure_future(pester())")
        await first.close()   # released: the worker stays warm for the next turn, with the task in it
        next_turn = RecordingDispatcher()
        second = pool.session("conversation", next_turn)
        assert second is first
        assert await wait_until(lambda: second._late_calls >= 3)
        assert next_turn.calls == []   # the next turn's dispatcher got nothing between the turns
        await second.exec("task.cancel()")
    finally:
        await pool.close()


def test_the_report_says_whether_workers_get_control_groups_and_the_seccomp_filter() -> None:
    summary = PLAN.report.summary()
    if PLAN.cgroups is not None:
        assert f"control group per worker (cgroup v{PLAN.cgroups.version}" in summary
    else:
        assert "MISSING: control groups" in summary and PLAN.report.fix
    if PLAN.report.level == IsolationLevel.JAIL:
        assert ("seccomp filter: no mount, ptrace" in summary) != ("MISSING: seccomp filter" in summary)
