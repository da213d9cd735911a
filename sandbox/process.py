"""One running worker process, seen from the host: start, frames in and out, interrupt, kill."""

from __future__ import annotations

import asyncio
import collections
import os
import secrets
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.cgroups import WorkerCgroup
from sandbox.isolation import UIDS
from sandbox.launch import WorkerLaunch
from sandbox.protocol import FrameError, FrameParser, encode_frame

READY_TIMEOUT_SECONDS = 20.0
EXIT_WAIT_SECONDS = 2.0
STDERR_TAIL_CHARS = 2_000
ANSWERED_KEPT = 64
SIGNAL_HINTS = {
    signal.SIGXCPU: "the CPU time limit was reached",
    signal.SIGXFSZ: "the file size limit was reached",
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "a crash in native code",
}


class WorkerExited(RuntimeError):
    """The worker process is gone; the message says how it ended."""


class WorkerStartError(RuntimeError):
    """A worker could not be started; the message carries its exit status and stderr."""


MessageHandler = Callable[["WorkerProcess", dict[str, Any], int], None]
"""Handles one message that is not a reply: ``(worker, message, its size on the wire in bytes)``."""


class WorkerProcess:
    """A worker subprocess in its own process group, talking frames over two private pipes.

    Frames are parsed as they arrive (``_FrameReceiver``) and handled at once: replies (frames of type
    ``reply``) are matched to ``request`` calls by id; every other frame goes to ``on_message``. The
    worker's real stdout/stderr are drained and never parsed; the tail of stderr is kept to explain an
    unexpected exit.
    """

    def __init__(self, process: asyncio.subprocess.Process, writer: asyncio.StreamWriter, on_message: MessageHandler) -> None:
        self._process = process
        self._writer = writer
        self._on_message = on_message
        loop = asyncio.get_running_loop()
        self._ready: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        self._stream_end: asyncio.Future[str] = loop.create_future()
        self.catalogue: dict[str, Any] | None = None
        """The tool catalogue defined in the worker's scope (None before the first)."""
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._stderr_tail = ""
        self._exit_reason: str | None = None
        self._drains = [
            asyncio.create_task(self._drain(process.stdout, keep_tail=False)),
            asyncio.create_task(self._drain(process.stderr, keep_tail=True)),
        ]
        self._launch: WorkerLaunch | None = None
        self._signal_pid = process.pid
        self._receiver = asyncio.create_task(self._receive())
        self._frames: _FrameReceiver | None = None
        self._cgroup: WorkerCgroup | None = None
        self._answered: collections.deque[int] = collections.deque(maxlen=ANSWERED_KEPT)
        """Ids of the requests answered last: a second reply to one of them means the first was forged."""

    @classmethod
    async def start(cls, launch: WorkerLaunch, on_message: MessageHandler) -> WorkerProcess:
        """Start a worker and wait for its ``ready`` frame."""
        loop = asyncio.get_running_loop()
        launch.prepare()
        cgroup = launch.make_cgroup()
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            with launch.jail_files() as files:
                process = await asyncio.create_subprocess_exec(
                    *launch.command(request_read, reply_write, files),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    pass_fds=(request_read, reply_write, *(files.fds if files else ())),
                    env=launch.environment(),
                    cwd=launch.workspace,
                    start_new_session=True,
                    preexec_fn=launch.preexec,
                )
        except BaseException:
            os.close(request_write)
            os.close(reply_read)
            if launch.uid is not None:
                UIDS.give_back(launch.uid)
            if cgroup is not None:
                cgroup.remove()
            raise
        finally:
            os.close(request_read)
            os.close(reply_write)
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(request_write, "wb", buffering=0)
        )
        worker = cls(process, asyncio.StreamWriter(transport, protocol, None, loop), on_message)
        worker._launch = launch
        worker._cgroup = cgroup
        worker._frames = _FrameReceiver(worker)
        await loop.connect_read_pipe(lambda: worker._frames, os.fdopen(reply_read, "rb", buffering=0))
        ready = await worker._wait_until_ready()
        if launch.jailed:  # signals go to the worker itself, not to bubblewrap around it
            worker._signal_pid = _find_in_namespace(process.pid, ready.get("pid")) or process.pid
        if cgroup is not None:  # before any code runs: what it starts is in the group too
            try:
                cgroup.add(worker._signal_pid)
            except OSError as exc:
                await worker.kill()
                raise WorkerStartError(f"the sandbox worker could not join its control group: {exc}") from None
        return worker

    @property
    def pid(self) -> int:
        """The host pid of the process started (bubblewrap, when jailed)."""
        return self._process.pid

    def host_pid(self, inner_pid: int) -> int | None:
        """The host pid of a process of this worker seen as ``inner_pid`` from inside (the same unjailed)."""
        if self._launch is None or not self._launch.jailed:
            return inner_pid
        return _find_in_namespace(self._process.pid, inner_pid)

    @property
    def worker_pid(self) -> int:
        """The host pid of the Python worker itself (inside the jail, when jailed)."""
        return self._signal_pid

    def attach(self, on_message: MessageHandler) -> None:
        """Route the worker's non-reply messages to ``on_message`` (a pre-started worker joining a session)."""
        self._on_message = on_message

    @property
    def alive(self) -> bool:
        """True while the worker runs and its frame pipe is open."""
        return self._exit_reason is None and self._process.returncode is None

    @property
    def exit_reason(self) -> str | None:
        """How the worker ended (exit code or signal, and its last stderr), or None while it runs."""
        return self._exit_reason

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a request and wait for its reply; ``WorkerExited`` if the worker ends first."""
        if self._exit_reason is not None:
            raise WorkerExited(self._exit_reason)
        request_id = secrets.randbits(62)   # not guessable by code in the sandbox (sequential ids were)
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = reply
        try:
            try:
                await self.send({**message, "id": request_id})
            except WorkerExited:
                pass  # the reply future is failed with the real exit reason once the receiver sees the end
            return await reply
        finally:
            self._replies.pop(request_id, None)

    async def define_tools(self, catalogue: dict[str, Any]) -> None:
        """Define the catalogue's tool stubs and types in the scope (nothing to do when they are the ones
        defined already); ``ValueError`` when the worker rejects it."""
        if catalogue == self.catalogue:
            return
        reply = await self.request({"type": "define_tools", "catalogue": catalogue})
        if reply.get("error"):
            raise ValueError(f"the sandbox rejected the tool catalogue: {reply['error']}")
        self.catalogue = catalogue

    async def send(self, message: dict[str, Any]) -> None:
        """Send one message; ``TypeError``/``FrameError`` if it cannot be encoded, ``WorkerExited`` if the pipe is gone."""
        await self.send_frame(encode_frame(message))

    async def send_frame(self, frame: bytes) -> None:
        """Send one already encoded frame; ``WorkerExited`` if the pipe is gone."""
        if self._writer.is_closing():
            raise WorkerExited(self._exit_reason or "the worker's request pipe is closed")
        self._writer.write(frame)
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise WorkerExited(self._exit_reason or f"the worker's request pipe broke: {exc}") from None

    async def end_turn(self) -> None:
        """Kill every process of the worker's jail but the worker itself (what code started and left running),
        and wait until they are gone. With a control group the list is exact; without, it is the processes
        under the one started."""
        deadline = asyncio.get_running_loop().time() + EXIT_WAIT_SECONDS
        while self.alive:
            others = self._others()
            if not others or asyncio.get_running_loop().time() > deadline:
                return
            for pid in others:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            await asyncio.sleep(0.002)   # killed processes that hit the CPU quota exit at its next period

    def _others(self) -> list[int]:
        """The live processes of the jail other than the worker (and, unjailed, its way there)."""
        if self._cgroup is not None:
            return [pid for pid in self._cgroup.pids() if pid != self._signal_pid and _is_live(pid)]
        keep = {self._process.pid, self._signal_pid, *_ancestors(self._signal_pid, self._process.pid)}
        return [pid for pid in _descendants(self._process.pid) if pid not in keep and _is_live(pid)]

    @property
    def peak_memory(self) -> int | None:
        """The most memory the worker and its processes have used together, in bytes (with a control group)."""
        return self._cgroup.peak_memory() if self._cgroup is not None else None

    def end_stream(self, problem: str) -> None:
        """Stop reading the worker's frames (it broke the protocol: ``problem`` says how); it is then killed."""
        if self._frames is not None:
            self._frames.stop(problem)

    def interrupt(self) -> None:
        """Send SIGINT to the worker (not its children): running user code gets a KeyboardInterrupt."""
        if self.alive:
            try:
                os.kill(self._signal_pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    async def kill(self) -> None:
        """Kill the worker's whole process group (jailed: bubblewrap, whose pid namespace takes the rest) and wait. Idempotent."""
        targets = [(os.killpg, self._process.pid)]
        if self._signal_pid != self._process.pid and self._process.returncode is None:  # not a recycled pid
            targets.insert(0, (os.kill, self._signal_pid))
        for kill, pid in targets:
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        await asyncio.shield(self._receiver)

    async def _wait_until_ready(self) -> dict[str, Any]:
        try:
            first = await asyncio.wait_for(asyncio.shield(self._ready), READY_TIMEOUT_SECONDS)
        except TimeoutError as exc:   # a malformed frame ends the stream: `first` is then None
            await self.kill()
            raise WorkerStartError(f"the sandbox worker did not start properly ({exc!r}); {self._exit_reason}") from None
        if first is None or first.get("type") != "ready":
            await self.kill()
            raise WorkerStartError(f"the sandbox worker did not start: {self._exit_reason or 'it did not say it was ready'}")
        return first

    def _deliver(self, message: dict[str, Any], size: int) -> None:
        """Handle one message from the worker: the first is its ``ready``; replies go to their request."""
        if not self._ready.done():
            self._ready.set_result(message)
        elif message.get("type") == "reply":
            request_id = message.get("id")   # any JSON in a forged frame: only our own ids match
            reply = self._replies.get(request_id) if isinstance(request_id, int) else None
            if isinstance(request_id, int) and request_id in self._answered:
                self.end_stream(f"it answered request {request_id} twice: code in the sandbox forged a reply")
            elif reply is not None and not reply.done():
                self._answered.append(request_id)
                reply.set_result(message)
        else:
            self._on_message(self, message, size)

    def _end_of_stream(self, problem: str) -> None:
        """The worker's frame pipe closed (``problem`` says what was wrong with it, if anything)."""
        if not self._ready.done():
            self._ready.set_result(None)
        if not self._stream_end.done():
            self._stream_end.set_result(problem)

    async def _receive(self) -> None:
        """Wait for the frame pipe to close, then record how the worker ended."""
        await self._finish(await self._stream_end)

    async def _finish(self, problem: str) -> None:
        """Record how the worker ended, make sure it is dead, and fail every waiting request."""
        if self._exit_reason is not None:
            return
        try:
            await asyncio.wait_for(self._process.wait(), EXIT_WAIT_SECONDS)
        except TimeoutError:
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            await self._process.wait()
        await asyncio.wait(self._drains, timeout=EXIT_WAIT_SECONDS)
        for drain in self._drains:
            drain.cancel()
        self._exit_reason = self._describe_exit(problem)
        self._writer.close()
        if self._cgroup is not None:
            await asyncio.to_thread(self._cgroup.remove)
        if self._launch is not None and self._launch.uid is not None:
            await _kill_uid(self._launch.uid, jailed=self._launch.jailed)
        if self._launch is not None and self._launch.owns_workspace:
            shutil.rmtree(self._launch.workspace, ignore_errors=True)
        for reply in self._replies.values():
            if not reply.done():
                reply.set_exception(WorkerExited(self._exit_reason))

    def _describe_exit(self, problem: str) -> str:
        code = self._process.returncode
        if code is not None and code > 128 and self._launch is not None and self._launch.jailed:
            code = 128 - code  # bubblewrap reports a worker killed by signal N as exit code 128 + N
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            hint = SIGNAL_HINTS.get(-code)
            status = f"killed by {name}" + (f": {hint}" if hint and -code != signal.SIGKILL else "")
        else:
            status = f"exit code {code}"
        parts = [status] + ([problem] if problem else [])
        stderr = self._stderr_tail.strip()
        if stderr:
            parts.append("its last stderr output:\n" + stderr)
        return "; ".join(parts)

    async def _drain(self, stream: asyncio.StreamReader | None, *, keep_tail: bool) -> None:
        if stream is None:
            return
        while chunk := await stream.read(65536):
            if keep_tail:
                text = self._stderr_tail + chunk.decode("utf-8", errors="replace")
                self._stderr_tail = text[-STDERR_TAIL_CHARS:]


class _FrameReceiver(asyncio.Protocol):
    """The read end of the worker's frame pipe: parses frames as the bytes arrive and delivers each message
    at once (no reader task in between), then reports the end of the stream."""

    def __init__(self, worker: WorkerProcess) -> None:
        self._worker = worker
        self._parser = FrameParser()
        self._transport: asyncio.ReadTransport | None = None
        self._problem = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._problem:
            return
        try:
            messages = self._parser.feed(data)
        except FrameError as exc:
            self.stop(f"it sent a malformed frame ({exc})")
            return
        for message, size in zip(messages, self._parser.last_sizes):
            if self._problem:
                return
            self._worker._deliver(message, size)

    def stop(self, problem: str) -> None:
        """Read no more: the stream ends here, for ``problem``."""
        if not self._problem:
            self._problem = problem
            assert self._transport is not None
            self._transport.close()

    def eof_received(self) -> None:
        if not self._problem and self._parser.inside_frame:
            self._problem = "it sent a malformed frame (the stream ended inside a frame)"

    def connection_lost(self, exc: Exception | None) -> None:
        self._worker._end_of_stream(self._problem)


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _is_live(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie (a dead process its parent has not waited for)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _descendants(root_pid: int) -> list[int]:
    """Every process under ``root_pid`` (not itself)."""
    found, pending = [], _children(root_pid)
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending += _children(pid)
    return found


def _ancestors(pid: int, root_pid: int) -> list[int]:
    """The processes from ``pid``'s parent up to ``root_pid``."""
    chain = []
    while pid not in (root_pid, 0, 1):
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        chain.append(pid)
    return chain


def _find_in_namespace(root_pid: int, inner_pid: object) -> int | None:
    """The host pid of the descendant of ``root_pid`` whose pid in its own namespace is ``inner_pid``."""
    for pid in _descendants(root_pid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:") and line.split()[-1] == str(inner_pid):
                return pid
    return None


async def _kill_uid(uid: int, *, jailed: bool) -> None:
    """Kill every process left by a dedicated uid, then give the uid back.

    In a jail the pid namespace already took them all; unjailed, a process that left the worker's
    process group (``setsid``) would survive, so ``kill -9 -1`` runs as that uid.
    """
    if not jailed:
        killer = await asyncio.create_subprocess_exec(
            "kill", "-9", "-1", preexec_fn=lambda: os.setresuid(uid, uid, uid),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        await killer.wait()
    UIDS.give_back(uid)
