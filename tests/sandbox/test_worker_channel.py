"""The worker's request channel, byte by byte: its frame parser, and the worker process driven here as the host,
over two pipes (read by the worker's loop) and over stdio (base64 lines, read by a thread, as for E2B)."""

from __future__ import annotations

import array
import base64
import fcntl
import os
import select
import signal
import subprocess
import sys
import termios
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import protocol
from sandbox import worker as worker_side

from .conftest import process_is_running

REPO = Path(__file__).resolve().parents[2]
WORKER = REPO / "sandbox" / "worker.py"
PING = {"types": "", "functions": [{"name": "ping", "signature": "async def ping(n: int = 0, data: str = '') -> dict", "doc": ""}]}
WITH_BLOBS = {"type": "tool_result", "call_id": 2, "ok": True, "value": {"file": b"\x00\xff" * 40_000, "parts": [b"", b"x"]}}


# -- the parser


@pytest.mark.parametrize("chunk_size", [1, 3, 4, 5, 4096, 1 << 20])
def test_the_parser_takes_frames_cut_anywhere(chunk_size: int) -> None:
    messages = [{"type": "tool_result", "call_id": 1, "ok": True, "value": "é" * 3000}, WITH_BLOBS, {"type": "interrupt"}]
    data = b"".join(protocol.encode_frame(m) for m in messages)
    parser = worker_side.FrameParser()
    received, inside = [], []
    for start in range(0, len(data), chunk_size):
        received += parser.feed(data[start:start + chunk_size])
        inside.append(parser.inside_frame)
    assert received == messages
    assert inside[-1] is False
    assert any(inside) == (chunk_size < len(data))


def test_the_parser_returns_every_message_of_one_chunk_in_order() -> None:
    messages = [{"type": "tool_result", "call_id": n, "ok": True, "value": n} for n in range(50)]
    assert worker_side.FrameParser().feed(b"".join(protocol.encode_frame(m) for m in messages)) == messages


def test_the_parser_knows_a_stream_that_stops_inside_a_frame_or_before_its_blobs() -> None:
    frame = protocol.encode_frame(WITH_BLOBS)
    message_only = protocol.HEADER.size + protocol.HEADER.unpack_from(frame)[0]
    for cut in (2, protocol.HEADER.size, message_only, len(frame) - 1):
        parser = worker_side.FrameParser()
        assert parser.feed(frame[:cut]) == []
        assert parser.inside_frame, cut


@pytest.mark.parametrize(("data", "problem"), [
    (protocol.HEADER.pack(protocol.BLOB_FLAG | 2) + b"ab", "a blob frame out of place"),
    (protocol.encode_frame({"$blobs": 1}) + protocol.encode_frame({"type": "exec"}), "a blob frame out of place"),
    (protocol.HEADER.pack(protocol.MAX_FRAME_BYTES + 1), "exceeds the limit"),
    (protocol.HEADER.pack(6) + b"[1, 2]", "JSON object"),
    (protocol.HEADER.pack(2) + b"{]", "Expecting"),
    (protocol.encode_frame({"$blobs": "2"}), "bad blob count"),
])
def test_the_parser_rejects_a_malformed_stream(data: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        worker_side.FrameParser().feed(data)


# -- the worker process, driven byte by byte


class DrivenWorker:
    """``worker.py`` on pipes (``stdio=False``) or on its stdio, with this test as the host."""

    def __init__(self, *, stdio: bool) -> None:
        self.stdio = stdio
        if stdio:
            self.process = subprocess.Popen([sys.executable, "-I", "-S", str(WORKER), "--stdio"], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert self.process.stdin is not None and self.process.stdout is not None
            self.requests, self.replies = self.process.stdin.fileno(), self.process.stdout.fileno()
        else:
            request_read, self.requests = os.pipe()
            self.replies, reply_write = os.pipe()
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(WORKER), str(request_read), str(reply_write)],
                pass_fds=(request_read, reply_write), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            os.close(request_read)
            os.close(reply_write)
        self._parser = worker_side.FrameParser()
        self._lines = b""
        self._received: list[dict] = []
        assert self.receive()["type"] == "ready"

    def send_bytes(self, data: bytes) -> None:
        """Send raw frame bytes (on stdio: as one base64 line, which may hold any part of a frame)."""
        if self.stdio:
            data = base64.b64encode(data) + b"\n"
        view = memoryview(data)
        while view:
            view = view[os.write(self.requests, view):]

    def send(self, *messages: dict) -> None:
        self.send_bytes(b"".join(protocol.encode_frame(message) for message in messages))

    def receive(self, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while not self._received:
            ready, _, _ = select.select([self.replies], [], [], max(deadline - time.monotonic(), 0))
            assert ready, "no whole frame from the worker in time"
            chunk = os.read(self.replies, 1 << 16)
            assert chunk, "the worker closed its replies"
            self._received += self._parser.feed(self._decode(chunk))
        return self._received.pop(0)

    def request(self, message: dict) -> dict:
        self.send(message)
        reply = self.receive()
        assert reply["type"] == "reply" and reply["id"] == message["id"], reply
        return reply

    def bytes_waiting(self) -> int:
        """How many bytes of replies wait in the pipe, unread."""
        count = array.array("i", [0])
        fcntl.ioctl(self.replies, termios.FIONREAD, count)
        return count[0]

    def close_requests(self) -> None:
        if self.stdio:
            assert self.process.stdin is not None
            self.process.stdin.close()
        else:
            os.close(self.requests)
        self.requests = -1

    def exit(self) -> tuple[int, str]:
        """Wait for the worker to end: its exit code and stderr."""
        assert self.process.stderr is not None
        code = self.process.wait(timeout=10)
        return code, self.process.stderr.read().decode()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        if not self.stdio:
            for fd in (self.requests, self.replies):
                if fd != -1:
                    os.close(fd)

    def _decode(self, chunk: bytes) -> bytes:
        if not self.stdio:
            return chunk
        *lines, self._lines = (self._lines + chunk).split(b"\n")
        return b"".join(base64.b64decode(line) for line in lines)


@pytest.fixture(params=["pipes", "stdio"])
def driven(request: pytest.FixtureRequest) -> Iterator[DrivenWorker]:
    worker = DrivenWorker(stdio=request.param == "stdio")
    yield worker
    worker.kill()


def test_requests_sent_together_are_all_answered_in_order(driven: DrivenWorker) -> None:
    driven.send(*({"type": "exec", "id": n, "code": f"{n} * 2"} for n in range(1, 31)))
    replies = [driven.receive() for _ in range(30)]
    assert [(reply["id"], reply["value"]) for reply in replies] == [(n, n * 2) for n in range(1, 31)]


def test_a_request_that_comes_in_many_pieces_is_read_whole(driven: DrivenWorker) -> None:
    frame = protocol.encode_frame({"type": "exec", "id": 1, "code": f"len({'é' * 300_000!r})"})
    pieces = [frame[:2], frame[2:5]] + [frame[start:start + 4093] for start in range(5, len(frame), 4093)]
    for piece in pieces:  # with pauses, so that the worker reads them one by one
        driven.send_bytes(piece)
        time.sleep(0.0005)
    assert driven.receive()["value"] == 300_000


def test_tool_results_that_come_together_or_in_pieces_reach_their_calls(driven: DrivenWorker) -> None:
    assert driven.request({"type": "define_tools", "id": 1, "catalogue": PING})["error"] is None
    driven.send({"type": "exec", "id": 2, "code": "import asyncio\n"
                 "results = await asyncio.gather(*(ping(n) for n in range(5)))\n[(r['n'], len(r['file'])) for r in results]"})
    calls = [driven.receive() for _ in range(5)]
    assert sorted(call["args"]["n"] for call in calls) == [0, 1, 2, 3, 4]
    results = b"".join(protocol.encode_frame({"type": "tool_result", "call_id": call["call_id"], "ok": True,
                                              "value": {"n": call["args"]["n"] * 10, "file": b"\x00" * 100_000}})
                       for call in reversed(calls))
    driven.send_bytes(results[:3])
    time.sleep(0.01)
    driven.send_bytes(results[3:])
    assert driven.receive()["value"] == [[n * 10, 100_000] for n in range(5)]


def test_the_worker_ends_when_the_host_closes_its_requests(driven: DrivenWorker) -> None:
    driven.close_requests()
    assert driven.exit() == (0, "")


def test_requests_that_stop_inside_a_frame_end_the_worker_with_a_note(driven: DrivenWorker) -> None:
    driven.send_bytes(protocol.encode_frame({"type": "exec", "id": 1, "code": "1"})[:3])
    driven.close_requests()
    code, stderr = driven.exit()
    assert code == 0 and "the requests ended inside a frame" in stderr


def test_a_malformed_request_ends_the_worker_with_a_note(driven: DrivenWorker) -> None:
    driven.send_bytes(protocol.HEADER.pack(protocol.BLOB_FLAG | 1) + b"x")
    code, stderr = driven.exit()
    assert code == 0 and "a blob frame out of place" in stderr


def test_an_interrupt_while_a_frame_is_written_waits_for_its_end_then_stops_the_cell(driven: DrivenWorker) -> None:
    assert driven.request({"type": "define_tools", "id": 1, "catalogue": PING})["error"] is None
    driven.send({"type": "exec", "id": 2, "code": "await ping(data='x' * 1_000_000)"})
    capacity = fcntl.fcntl(driven.replies, fcntl.F_GETPIPE_SZ)
    deadline = time.monotonic() + 10
    while driven.bytes_waiting() < capacity:  # the pipe is full: the worker is stuck inside the tool call's frame
        assert time.monotonic() < deadline, "the worker did not start writing the tool call"
        time.sleep(0.005)
    os.kill(driven.process.pid, signal.SIGINT)
    time.sleep(0.2)  # the signal is handled while the rest of the frame waits to be written
    call = driven.receive()
    assert call["type"] == "tool_call" and call["args"] == {"n": 0, "data": "x" * 1_000_000}
    reply = driven.receive()
    assert reply["id"] == 2 and reply["interrupted"]
    assert 'File "<cell-1>", line 1' in reply["error"] and "KeyboardInterrupt" in reply["error"]
    assert driven.request({"type": "exec", "id": 3, "code": "6 * 7"})["value"] == 42


def test_tool_calls_and_interrupts_work_while_a_cell_runs_threads(driven: DrivenWorker) -> None:
    assert driven.request({"type": "define_tools", "id": 1, "catalogue": PING})["error"] is None
    driven.send({"type": "exec", "id": 2, "code": (
        "import asyncio, threading, time\n"
        "def busy():\n    while True:\n        time.sleep(0.0001)\n"
        "for _ in range(3):\n    threading.Thread(target=busy, daemon=True).start()\n"
        "got = [(await ping(n))['n'] for n in range(3)]\n"
        "await asyncio.sleep(3600)\n")})
    for _ in range(3):
        call = driven.receive()
        driven.send({"type": "tool_result", "call_id": call["call_id"], "ok": True, "value": {"n": call["args"]["n"]}})
    time.sleep(0.1)
    if driven.stdio:
        driven.send({"type": "interrupt"})
    else:
        os.kill(driven.process.pid, signal.SIGINT)
    reply = driven.receive()
    assert reply["interrupted"] and "KeyboardInterrupt" in reply["error"]
    assert driven.request({"type": "exec", "id": 3, "code": "got"})["value"] == [0, 1, 2]


def test_a_worker_busy_in_a_cell_ends_with_the_process_that_started_it(tmp_path: Path) -> None:
    """The host's pipe closing is noticed between cells only: a cell that never yields must not outlive the host."""
    parent = tmp_path / "parent.py"
    parent.write_text(textwrap.dedent(f"""
        import os, subprocess, sys
        sys.path.insert(0, {str(REPO)!r})
        from sandbox import protocol
        request_read, requests = os.pipe()
        replies, reply_write = os.pipe()
        worker = subprocess.Popen([sys.executable, "-I", "-S", {str(WORKER)!r}, str(request_read), str(reply_write)],
                                  pass_fds=(request_read, reply_write), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        os.read(replies, 65536)   # ready
        os.write(requests, protocol.encode_frame({{"type": "exec", "id": 1, "code": "while True: pass"}}))
        print(worker.pid, flush=True)
        os._exit(0)
    """))
    started = subprocess.run([sys.executable, str(parent)], capture_output=True, text=True, timeout=30, check=True)
    worker_pid = int(started.stdout)
    deadline = time.monotonic() + 10
    while process_is_running(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    orphaned = process_is_running(worker_pid)
    if orphaned:
        os.kill(worker_pid, signal.SIGKILL)   # not left spinning after a failure
    assert not orphaned, "the worker kept running its cell after the process that started it ended"

