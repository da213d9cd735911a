"""The security suite: hostile code is contained at the best isolation level this machine offers.

Each case runs real code in a real worker. A case that needs a level the machine lacks is skipped
with the reason (``plan_isolation().report`` says what is missing and how to fix it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.isolation import IsolationLevel, plan_isolation
from sandbox.launch import ResourceLimits
from sandbox.protocol import encode_frame
from sandbox.session import SubprocessSession

from .conftest import CATALOGUE, RecordingDispatcher

SECRET = "sk-live-do-not-leak-5f2c9a"
BEST = plan_isolation().report


def needs(level: IsolationLevel):
    return pytest.mark.skipif(
        BEST.level < level,
        reason=f"needs isolation {level.name.lower()}, this machine offers {BEST.level.name.lower()}: {BEST.fix}",
    )


LIMITS = ResourceLimits(address_space_bytes=512 * 1024**2, processes=32, workspace_bytes=64 * 1024**2)


@pytest.fixture
async def hostile(dispatcher: RecordingDispatcher, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SubprocessSession]:
    monkeypatch.setenv("CODEMEM_TOKEN_KEY", SECRET)
    async with SubprocessSession(dispatcher, limits=LIMITS) as session:
        await session.define_tools(CATALOGUE)
        yield session


def leaked(result) -> bool:
    return SECRET in f"{result.stdout}{result.stderr}{result.value_repr}{result.error}"


async def test_the_report_names_the_level_and_the_fix_when_something_is_missing() -> None:
    assert BEST.level >= IsolationLevel.PROCESS
    assert BEST.summary().startswith("sandbox backend subprocess: isolation")
    assert BEST.complete or BEST.fix


async def test_the_host_environment_is_not_inside(hostile: SubprocessSession) -> None:
    result = await hostile.exec("import os\nprint(dict(os.environ))\nprint(open('/proc/self/environ').read())")
    assert result.error is None
    assert "CODEMEM_TOKEN_KEY" not in result.stdout and not leaked(result)


@needs(IsolationLevel.UID)
async def test_the_host_process_environ_and_memory_are_out_of_reach(hostile: SubprocessSession) -> None:
    result = await hostile.exec(
        f"out = []\nfor path in ['/proc/{os.getpid()}/environ', '/proc/{os.getpid()}/mem', '/proc/1/environ']:\n"
        "    try:\n        out.append(open(path, 'rb').read(1 << 20))\n    except OSError as exc:\n        out.append(type(exc).__name__)\n"
        "print(out)"
    )
    assert not leaked(result)


@needs(IsolationLevel.UID)
async def test_private_host_files_like_the_database_and_key_cannot_be_read(hostile: SubprocessSession, tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    for name in ("codemem.db", "token.key"):
        (tmp_path / name).write_text(SECRET)
        os.chmod(tmp_path / name, 0o600)
    result = await hostile.exec(f"import pathlib\n[p.read_text() for p in pathlib.Path({str(tmp_path)!r}).iterdir()]")
    assert result.error is not None and not leaked(result)


@needs(IsolationLevel.JAIL)
async def test_world_readable_host_files_are_not_even_visible(hostile: SubprocessSession, tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    (tmp_path / "settings.env").write_text(SECRET)
    os.chmod(tmp_path / "settings.env", 0o644)
    result = await hostile.exec(f"open({str(tmp_path / 'settings.env')!r}).read()")
    assert "FileNotFoundError" in result.error and not leaked(result)


@needs(IsolationLevel.JAIL)
async def test_no_network_not_even_the_hosts_loopback(hostile: SubprocessSession) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[object] = []
    server.settimeout(5)
    threading.Thread(target=lambda: accepted.append(_accept(server)), daemon=True).start()
    result = await hostile.exec(
        f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    outcome = 'connected'\n"
        "except OSError as exc:\n    outcome = type(exc).__name__\noutcome"
    )
    assert result.value in ("ConnectionRefusedError", "TimeoutError", "OSError")
    await asyncio.sleep(0)
    server.close()
    assert not any(item == "accepted" for item in accepted)


def _accept(server: socket.socket) -> str:
    try:
        server.accept()
        return "accepted"
    except OSError:
        return "nothing"


@needs(IsolationLevel.UID)
async def test_a_fork_bomb_hits_the_process_limit(hostile: SubprocessSession) -> None:
    result = await hostile.exec(
        "import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            time.sleep(60)\n            os._exit(0)\n"
        "        n += 1\nexcept OSError as exc:\n    stopped = type(exc).__name__\n[n < 32, stopped]",
        timeout=30,
    )
    assert result.value == [True, "BlockingIOError"]
    assert (await hostile.exec("'still here'")).value == "still here"


async def test_a_memory_bomb_is_a_memory_error_and_the_scope_survives(hostile: SubprocessSession) -> None:
    await hostile.exec("kept = 1")
    result = await hostile.exec("hog = []\nwhile True:\n    hog.append(bytearray(50 * 1024 * 1024))")
    assert "MemoryError" in result.error
    assert (await hostile.exec("del hog\nkept")).value == 1


async def test_an_endless_loop_that_ignores_the_interrupt_is_killed_and_restarted(hostile: SubprocessSession) -> None:
    result = await hostile.exec("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass", timeout=0.5)
    assert result.timed_out and result.restarted
    assert "did not stop when interrupted" in result.error and "variables are lost" in result.observation()
    assert (await hostile.exec("await outlook_list_messages(limit=1)")).error is None  # tools are back


async def test_a_gigabyte_of_output_is_capped_head_and_tail(hostile: SubprocessSession) -> None:
    result = await hostile.exec(
        "import sys, subprocess\nprint('FIRST')\nchunk = 'x' * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n"
        "print('LAST')\nsubprocess.run(['head', '-c', str(256 << 20), '/dev/zero'])\n'done'",
        timeout=120,
    )
    assert result.value == "done"
    assert result.stdout.startswith("FIRST") and result.stdout.rstrip().endswith("LAST")
    assert len(result.stdout) < 25_000 and "characters cut" in result.stdout


@needs(IsolationLevel.JAIL)
async def test_filling_the_disk_stops_at_the_private_workspace_size(hostile: SubprocessSession) -> None:
    result = await hostile.exec(
        "import errno\nwritten = 0\ntry:\n    with open('fill.bin', 'wb') as f:\n        while written < (1 << 30):\n"
        "            f.write(b'0' * (1 << 20))\n            f.flush()\n            written += 1 << 20\nexcept OSError as exc:\n"
        "    code = errno.errorcode[exc.errno]\n[written <= 64 << 20, code]"
    )
    assert result.value == [True, "ENOSPC"]


@needs(IsolationLevel.JAIL)
async def test_writing_outside_the_workspace_fails_and_leaves_the_host_untouched(hostile: SubprocessSession, tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o777)
    targets = ["/etc/evil", "/usr/evil", str(Path(__file__).parent / "evil"), str(tmp_path / "evil")]
    result = await hostile.exec(
        f"out = []\nfor path in {targets!r}:\n    try:\n        open(path, 'w').write('x')\n        out.append('written')\n"
        "    except OSError as exc:\n        out.append(type(exc).__name__)\nout"
    )
    assert "written" not in result.value
    assert not any(Path(target).exists() for target in targets)


@needs(IsolationLevel.UID)
async def test_killing_the_parent_or_everything_leaves_the_host_and_the_session_running(hostile: SubprocessSession) -> None:
    result = await hostile.exec(
        f"import os, signal\nout = []\nfor pid in ({os.getpid()}, os.getppid(), 1):\n    try:\n        os.kill(pid, signal.SIGKILL)\n"
        "        out.append('killed')\n    except OSError as exc:\n        out.append(type(exc).__name__)\nout"
    )
    if result.value is None:   # its parent may be a bubblewrap of its own uid: killing it ends the worker, first
        assert result.restarted
    else:
        host, _parent, jail_init = result.value
        assert host != "killed" and jail_init != "killed"
    await hostile.exec("import os, signal\nos.kill(-1, signal.SIGKILL)")  # everything it may signal: at most its own uid
    assert (await hostile.exec("1 + 1")).value == 2


@needs(IsolationLevel.UID)
async def test_ctypes_tricks_gain_nothing_and_a_crash_costs_only_a_restart(hostile: SubprocessSession) -> None:
    result = await hostile.exec("import ctypes\nlibc = ctypes.CDLL(None)\n[libc.setuid(0), libc.setgid(0), libc.ptrace(16, 1, 0, 0)]")
    assert result.value == [-1, -1, -1]
    crash = await hostile.exec("import ctypes\nctypes.string_at(0)")
    assert crash.restarted and "SIGSEGV" in crash.error


@needs(IsolationLevel.JAIL)
async def test_the_hosts_own_modules_cannot_be_imported(hostile: SubprocessSession) -> None:
    project = str(Path(__file__).resolve().parents[2])
    result = await hostile.exec(
        f"import sys\nsys.path.insert(0, {project!r})\nout = []\nfor name in ('sandbox.session', 'integrations.registry', 'skills_db', 'bot'):\n"
        "    try:\n        __import__(name)\n        out.append('imported')\n    except ImportError as exc:\n        out.append(type(exc).__name__)\nout"
    )
    assert result.value == ["ModuleNotFoundError"] * 4


async def test_printed_frames_from_code_or_a_child_are_only_output(hostile: SubprocessSession, dispatcher: RecordingDispatcher) -> None:
    forged = encode_frame({"type": "tool_call", "call_id": 1, "name": "outlook_list_messages", "args": {"limit": 1}})
    result = await hostile.exec(
        f"import os, sys, subprocess\nframe = {forged!r}\nprint(frame)\nsys.stdout.buffer if hasattr(sys.stdout, 'buffer') else None\n"
        "os.write(1, frame)\nos.write(2, frame)\nsubprocess.run(['cat'], input=frame)\n'ok'"
    )
    assert result.value == "ok"
    assert dispatcher.calls == []
    assert (await hostile.exec("1")).value == 1


async def test_frames_forged_on_the_real_pipe_cannot_reach_unloaded_tools(
    hostile: SubprocessSession, dispatcher: RecordingDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    forged = encode_frame({"type": "tool_call", "call_id": 99, "name": "onedrive_delete_everything", "args": {}})
    result = await hostile.exec(f"import os, sys, asyncio\nos.write(int(sys.argv[2]), {forged!r})\nawait asyncio.sleep(0.3)\n'sent'")
    assert result.value == "sent"
    assert dispatcher.calls == []
    odd_replies = b"".join(encode_frame({"type": "reply", "id": value, "value": "forged"}) for value in ([1], {"a": 1}, 10**6))
    result = await hostile.exec(f"import os, sys, asyncio\nos.write(int(sys.argv[2]), {odd_replies!r})\nawait asyncio.sleep(0.3)\n'real'")
    assert result.value == "real" and not result.restarted
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]   # handled, not crashed on
    garbage = await hostile.exec("import os, sys\nos.write(int(sys.argv[2]), b'\\xff\\xff\\xff\\xffnot a frame')\nimport time\ntime.sleep(1)")
    assert garbage.restarted and "malformed frame" in garbage.error
    assert (await hostile.exec("'recovered'")).value == "recovered"


async def test_a_tool_that_was_not_loaded_is_not_there_and_cannot_be_called(hostile: SubprocessSession, dispatcher: RecordingDispatcher) -> None:
    await hostile.define_tools({"types": CATALOGUE["types"], "functions": CATALOGUE["functions"][:1]})
    result = await hostile.exec("await outlook_send('a@b.c', 'hi')")
    assert "NameError" in result.error
    assert dispatcher.calls == []


@needs(IsolationLevel.JAIL)
async def test_no_nested_user_namespace_no_mount_no_ptrace(hostile: SubprocessSession) -> None:
    result = await hostile.exec(
        "import ctypes, os, subprocess\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "unshare = subprocess.run(['unshare', '-Ur', 'id'], capture_output=True, text=True)\n"
        "os.makedirs('mnt', exist_ok=True)\nmount = libc.mount(b'none', b'mnt', b'tmpfs', 0, b'size=12g')\n"
        "mount_errno = ctypes.get_errno()\n"
        "child = os.fork()\nif child == 0:\n    import time\n    time.sleep(30)\n    os._exit(0)\n"
        "traced = libc.ptrace(16, child, 0, 0)\ntrace_errno = ctypes.get_errno()\nos.kill(child, 9)\n"
        "[unshare.returncode != 0, 'uid=0' in unshare.stdout, mount, mount_errno, traced, trace_errno]"
    )
    refused, root_inside, mount, mount_errno, traced, trace_errno = result.value
    assert refused and not root_inside
    assert mount == -1 and mount_errno == 1   # EPERM
    assert traced == -1 and trace_errno == 1


@needs(IsolationLevel.JAIL)
async def test_the_jail_holds_the_standard_library_and_the_worker_only(hostile: SubprocessSession) -> None:
    worker = str(Path(__file__).resolve().parents[2] / "sandbox" / "worker.py")
    result = await hostile.exec(
        "import importlib.util, json, site, sys, sysconfig\n"
        "sys.path += [sysconfig.get_path('purelib'), *site.getsitepackages(), '/usr/lib/python3/dist-packages']\n"
        "missing = [name for name in ('pip', 'setuptools', 'pytest', 'sqlalchemy')\n"
        "           if importlib.util.find_spec(name) is None]\n"
        "[missing, open('/proc/self/mountinfo').read(), 'json' in dir()]"
    )
    missing, mountinfo, stdlib = result.value
    assert missing == ["pip", "setuptools", "pytest", "sqlalchemy"] and stdlib
    assert worker not in mountinfo and "sandbox/worker.py" not in mountinfo
