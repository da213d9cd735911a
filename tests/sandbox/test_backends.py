"""The backend-neutral interface: factory, in-process, pool, E2B (offline, over a local stdio worker), blobs."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox import backends
from sandbox.backends import SandboxSession, backend_from_env, open_session
from sandbox.e2b_backend import E2BSession
from sandbox.inprocess import InProcessSession
from sandbox.isolation import IsolationLevel
from sandbox.pool import PoolFull, WorkerPool

from .conftest import CATALOGUE, RecordingDispatcher, host_pid, process_is_running, wait_until

WORKER = Path(__file__).resolve().parents[2] / "sandbox" / "worker.py"
BYTES_CATALOGUE = {
    "types": "",
    "functions": [
        {"name": "file_read", "signature": "async def file_read(handle: str) -> bytes", "doc": "The bytes of a file."},
        {"name": "file_write", "signature": "async def file_write(name: str, data: bytes) -> int", "doc": "Store bytes."},
    ],
}


def test_the_setting_picks_the_backend() -> None:
    assert backend_from_env({}) == "subprocess"
    assert backend_from_env({"CODEMEM_SANDBOX": " Pool "}) == "pool"
    with pytest.raises(ValueError, match="use one of subprocess, pool, inprocess, e2b"):
        backend_from_env({"CODEMEM_SANDBOX": "docker"})


async def test_every_local_backend_offers_the_same_interface(dispatcher: RecordingDispatcher) -> None:
    pool = WorkerPool(warm=1)
    await pool.start()
    try:
        for name in ("subprocess", "pool", "inprocess"):
            session = open_session(name, dispatcher, key="slack:T:C:1", pool=pool)
            assert isinstance(session, SandboxSession)
            await session.start()
            await session.define_tools(CATALOGUE)
            result = await session.exec("x = await outlook_list_messages(limit=1)\nx[0].subject")
            assert result.value == "Invoice March", name
            assert session.isolation.backend == name
            await session.close()
    finally:
        await pool.close()
    assert InProcessSession(dispatcher).isolation.level == IsolationLevel.NONE


async def test_binary_values_cross_the_bridge_both_ways_as_raw_bytes(dispatcher: RecordingDispatcher) -> None:
    payload = os.urandom(5 * 1024 * 1024)
    stored: dict[str, bytes] = {}

    async def file_read(args: dict) -> Any:
        return payload

    async def file_write(args: dict) -> Any:
        stored[args["name"]] = args["data"]
        return len(args["data"])

    dispatcher.handlers.update(file_read=file_read, file_write=file_write)
    for name in ("subprocess", "inprocess"):
        async with open_session(name, dispatcher) as session:  # type: ignore[attr-defined]
            await session.define_tools(BYTES_CATALOGUE)
            result = await session.exec(
                "import hashlib\ndata = await file_read('blob_1')\n"
                "[type(data).__name__, len(data), hashlib.sha256(data).hexdigest(), await file_write('copy.bin', data[::-1])]"
            )
            import hashlib

            assert result.value == ["bytes", len(payload), hashlib.sha256(payload).hexdigest(), len(payload)], name
            assert stored["copy.bin"] == payload[::-1]


async def test_the_pool_is_sticky_per_conversation_bounded_and_evicts_idle_sessions(dispatcher: RecordingDispatcher) -> None:
    pool = WorkerPool(warm=1, max_sessions=2, idle_seconds=0.3)
    await pool.start()
    try:
        first = pool.session("thread-1", dispatcher)
        await first.exec("kept = 'turn one'")
        await first.close()  # released, not killed
        again = pool.session("thread-1", dispatcher)
        assert again is first and (await again.exec("kept")).value == "turn one"
        second = pool.session("thread-2", dispatcher)
        await second.exec("1")
        with pytest.raises(PoolFull, match="raise max_sessions or wait"):
            pool.session("thread-3", dispatcher)
        await first.close()
        await second.close()
        assert await wait_until(lambda: len(pool) == 0)  # idle for longer than idle_seconds
        fresh = pool.session("thread-1", dispatcher)
        assert (await fresh.exec("'kept' in globals()")).value is False
    finally:
        await pool.close()


async def test_a_one_off_pooled_session_starts_warm_and_really_ends_on_close(dispatcher: RecordingDispatcher) -> None:
    pool = WorkerPool(warm=1, max_sessions=1)
    await pool.start()
    try:
        kept = pool.session("thread-1", dispatcher)   # fills the pool's only conversation place
        await kept.exec("1")
        one_off = pool.session(None, dispatcher)      # a skill run: no conversation, takes no place
        assert (await one_off.exec("6 * 7")).value == 42
        pid = host_pid(one_off, (await one_off.exec("import os; os.getpid()")).value)
        await one_off.close()
        assert not one_off.alive and len(pool) == 1, "it is closed at once; the conversation's session stays"
        with pytest.raises(RuntimeError, match="session is closed"):
            await one_off.exec("1")
        assert await wait_until(lambda: not process_is_running(pid)), "its worker process is killed"
        assert (await kept.exec("2")).value == 2
    finally:
        await pool.close()


async def test_the_pool_starts_replacements_when_sessions_end_not_while_they_run(dispatcher: RecordingDispatcher) -> None:
    pool = WorkerPool(warm=2)
    await pool.start()
    try:
        run = pool.session(None, dispatcher)
        assert (await run.exec("1 + 1")).value == 2   # took one of the two warm workers
        await asyncio.sleep(0.3)
        assert pool.warm_workers == 1, "no worker is started while the run goes on"
        await run.close()
        assert await wait_until(lambda: pool.warm_workers == 2), "the run ended: its replacement is started"

        first, second = pool.session(None, dispatcher), pool.session(None, dispatcher)
        await first.exec("1")
        await second.exec("1")                       # the last warm worker taken: one is started at once
        assert await wait_until(lambda: pool.warm_workers >= 1), "the next session does not wait for a start"
        await asyncio.gather(first.close(), second.close())
        assert await wait_until(lambda: pool.warm_workers == 2)
    finally:
        await pool.close()


async def test_replacements_come_with_the_last_catalogue_so_a_rerun_skips_defining_it(dispatcher: RecordingDispatcher) -> None:
    pool = WorkerPool(warm=2)
    await pool.start()
    try:
        first = pool.session(None, dispatcher)
        await first.define_tools(CATALOGUE)
        await first.close()
        assert await wait_until(lambda: any(w.catalogue == CATALOGUE for w in pool._spares))
        primed = next(w for w in pool._spares if w.catalogue == CATALOGUE)

        again = pool.session(None, dispatcher)
        await again.define_tools(CATALOGUE)
        assert again._worker is primed, "the warm worker that has the catalogue is the one given"
        assert (await again.exec("len(await outlook_list_messages(limit=1))")).error is None

        other = pool.session(None, dispatcher)     # a different catalogue on a primed worker: defined anew
        await other.define_tools(BYTES_CATALOGUE)
        assert (await other.exec("'outlook_list_messages' in globals(), callable(file_read)")).value == [False, True]
        await asyncio.gather(again.close(), other.close())
    finally:
        await pool.close()


# -- E2B, offline: the real E2BSession over a local stand-in for e2b.AsyncSandbox that runs worker.py --stdio


class _Handle:
    def __init__(self, pid: int) -> None:
        self.pid = pid


class _Input:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    async def send(self, data: str | bytes) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(data.encode() if isinstance(data, str) else data)
        await self._process.stdin.drain()


class _Commands:
    def __init__(self) -> None:
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self.pumps: dict[int, asyncio.Task[None]] = {}

    async def run(self, cmd: str, *, background: bool, stdin: bool, timeout: float, envs: dict, on_stdout: Any, on_stderr: Any) -> _Handle:
        assert background and stdin and envs == {} and cmd.endswith("--stdio")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", str(WORKER), "--stdio", env={},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        self.processes[process.pid] = process
        await self.connect(process.pid, timeout=0, on_stdout=on_stdout, on_stderr=on_stderr)
        return _Handle(process.pid)

    async def connect(self, pid: int, *, timeout: float, on_stdout: Any, on_stderr: Any) -> _Handle:
        if pid in self.pumps:
            self.pumps[pid].cancel()
        process = self.processes[pid]

        async def pump() -> None:
            assert process.stdout is not None
            while chunk := await process.stdout.read(7919):  # odd chunks: lines arrive cut anywhere
                on_stdout(chunk.decode())

        self.pumps[pid] = asyncio.create_task(pump())
        return _Handle(pid)

    def stream_input(self, pid: int, *, timeout: float) -> _Input:
        return _Input(self.processes[pid])

    async def kill(self, pid: int) -> bool:
        self.processes[pid].kill()
        await self.processes[pid].wait()
        return True


class LocalSandbox:
    """The subset of ``e2b.AsyncSandbox`` the backend uses; paused sandboxes keep their processes, like E2B's."""

    live: dict[str, LocalSandbox] = {}
    created: list[dict] = []

    def __init__(self, sandbox_id: str) -> None:
        self.sandbox_id = sandbox_id
        self.commands = _Commands()
        self.paused = False

    @classmethod
    async def create(cls, template: str, **options: Any) -> LocalSandbox:
        cls.created.append({"template": template, **options})
        sandbox = cls(f"sbx-{len(cls.live) + 1}")
        cls.live[sandbox.sandbox_id] = sandbox
        return sandbox

    @classmethod
    async def connect(cls, sandbox_id: str, **options: Any) -> LocalSandbox:
        sandbox = cls.live[sandbox_id]
        sandbox.paused = False
        return sandbox

    async def pause(self) -> bool:
        self.paused = True
        for pump in self.commands.pumps.values():
            pump.cancel()
        return True

    async def kill(self) -> bool:
        for pid in list(self.commands.processes):
            await self.commands.kill(pid)
        self.live.pop(self.sandbox_id, None)
        return True


async def test_e2b_session_runs_tools_over_stdio_and_resumes_after_a_pause(dispatcher: RecordingDispatcher) -> None:
    session = E2BSession(dispatcher, sandbox_class=LocalSandbox, api_key="host-only")
    await session.define_tools(CATALOGUE)
    assert LocalSandbox.created[-1] == {
        "template": "codemem-worker", "timeout": 3600, "envs": {}, "allow_internet_access": False,
        "metadata": {"app": "codemem"}, "api_key": "host-only",
    }
    result = await session.exec("import os\nmessages = await outlook_list_messages(limit=2)\nprint('x' * 10)\n[m.id for m in messages], sorted(os.environ)")
    assert result.value == [["m1", "m2"], ["LC_CTYPE"]] and result.stdout == "xxxxxxxxxx\n"  # Python's own locale coercion
    assert [call.name for call in result.tool_calls] == ["outlook_list_messages"]
    token = await session.pause()
    assert token is not None

    resumed = E2BSession(dispatcher, sandbox_class=LocalSandbox, resume=token)
    await resumed.start()
    resumed._tool_names = frozenset(entry["name"] for entry in CATALOGUE["functions"])  # the host keeps the catalogue
    again = await resumed.exec("[m.subject for m in messages], len(await outlook_list_messages(limit=1))")
    assert again.value == [["Invoice March", "Hello"], 1]
    interrupted = await resumed.exec("import time\nwhile True:\n    time.sleep(0.01)", timeout=0.5)
    assert interrupted.timed_out and not interrupted.restarted and "KeyboardInterrupt" in interrupted.error
    assert (await resumed.exec("len(messages)")).value == 2
    await resumed.close()
    assert token.split(":")[0] not in LocalSandbox.live


@pytest.mark.skipif(not os.environ.get("E2B_API_KEY"), reason="set E2B_API_KEY (and build the template: python -m sandbox.e2b_template) for the live E2B test")
async def test_e2b_live(dispatcher: RecordingDispatcher) -> None:
    session = open_session("e2b", dispatcher)
    try:
        await session.define_tools(CATALOGUE)
        result = await session.exec("import os, socket\nx = await outlook_list_messages(limit=1)\n[x[0].id, 'E2B_API_KEY' in os.environ]")
        assert result.value == ["m1", False]
    finally:
        await session.close()


def test_backends_module_lists_what_the_factory_accepts() -> None:
    assert backends.BACKENDS == ("subprocess", "pool", "inprocess", "e2b")


async def test_closing_the_pool_leaves_no_worker_running_even_when_taken_while_one_starts(dispatcher: RecordingDispatcher) -> None:
    pool = WorkerPool(warm=2)
    await pool.start()
    try:
        for pause in (0.0, 0.03, 0.06, 0.09, 0.12):
            first, second = pool.session(None, dispatcher), pool.session(None, dispatcher)
            await first.exec("1")
            await second.exec("1")          # the last warm worker: a replacement starts shortly
            await asyncio.sleep(pause)
            third = pool.session(None, dispatcher)
            await third.exec("1")           # taken while that replacement may be starting
            await asyncio.gather(first.close(), second.close(), third.close())
    finally:
        await pool.close()
    assert await wait_until(lambda: not _worker_children()), "every worker the pool started was killed"


def _worker_children() -> list[int]:
    """Processes this test process started that run the sandbox worker (directly or under bubblewrap)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid() \
                    and b"worker.py" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found
