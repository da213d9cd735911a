"""Running code in a real worker subprocess: scope, values, output, errors, isolation."""

from __future__ import annotations

import struct
from pathlib import Path

from sandbox.isolation import IsolationLevel
from sandbox.session import SubprocessSession

from .conftest import RecordingDispatcher, host_pid, process_is_running, wait_until


async def test_scope_persists_across_execs(session: SubprocessSession) -> None:
    await session.exec("import math\ncounter = 41\ndef bump(n):\n    return n + 1")
    result = await session.exec("counter = bump(counter)\ncounter, math.floor(2.7)")
    assert result.error is None
    assert result.value == [42, 2]
    assert result.value_repr == "(42, 2)"


async def test_top_level_await_runs_and_returns_the_last_expression(session: SubprocessSession) -> None:
    result = await session.exec(
        "import asyncio\nasync def double(x):\n    await asyncio.sleep(0)\n    return 2 * x\nawait double(21)"
    )
    assert result.error is None
    assert result.value == 42


async def test_last_expression_only_when_the_cell_ends_with_one(session: SubprocessSession) -> None:
    assert (await session.exec("x = 5")).value_repr is None
    assert (await session.exec("None")).value_repr is None
    result = await session.exec("x * 2")
    assert (result.value, result.value_repr) == (10, "10")


async def test_a_value_that_is_not_json_keeps_only_its_repr(session: SubprocessSession) -> None:
    result = await session.exec("class Thing:\n    def __repr__(self):\n        return '<a thing>'\nThing()")
    assert result.value is None
    assert result.value_repr == "<a thing>"


async def test_dataclass_and_date_values_come_back_as_json(session: SubprocessSession) -> None:
    result = await session.exec(
        "from dataclasses import dataclass\nfrom datetime import date\n"
        "@dataclass\nclass P:\n    name: str\n    born: date\nP('Ada', date(1815, 12, 10))"
    )
    assert result.value == {"name": "Ada", "born": "1815-12-10"}
    assert result.value_repr == "P(name='Ada', born=datetime.date(1815, 12, 10))"


async def test_print_and_stderr_are_captured_per_exec(session: SubprocessSession) -> None:
    first = await session.exec("import sys\nprint('hello', 1)\nprint('oops', file=sys.stderr)")
    second = await session.exec("print('again')")
    assert (first.stdout, first.stderr) == ("hello 1\n", "oops\n")
    assert (second.stdout, second.stderr) == ("again\n", "")


async def test_long_output_keeps_head_and_tail() -> None:
    async with SubprocessSession(RecordingDispatcher(), output_limit=1000) as session:
        result = await session.exec("print('START' + 'x' * 50_000 + 'END')")
    assert result.stdout.startswith("STARTxxx")
    assert result.stdout.endswith("xxxEND\n")
    assert "... [49,009 characters cut] ..." in result.stdout
    assert len(result.stdout) < 1100


async def test_an_exception_gives_a_traceback_of_the_users_lines_only(session: SubprocessSession) -> None:
    await session.exec("def parse(text):\n    return int(text)")
    result = await session.exec("values = []\nvalues.append(parse('12'))\nvalues.append(parse('twelve'))")
    assert result.error is not None
    assert 'File "<cell-2>", line 3, in <module>' in result.error
    assert 'File "<cell-1>", line 2, in parse' in result.error
    assert "values.append(parse('twelve'))" in result.error
    assert result.error.rstrip().endswith("ValueError: invalid literal for int() with base 10: 'twelve'")
    assert "worker.py" not in result.error
    assert (await session.exec("values")).value == [12]


async def test_a_syntax_error_points_at_the_cell_line(session: SubprocessSession) -> None:
    result = await session.exec("x = 1\ny = (")
    assert 'File "<cell-1>", line 2' in result.error
    assert "SyntaxError" in result.error
    assert "worker.py" not in result.error


async def test_sys_exit_is_an_error_not_the_end_of_the_session(session: SubprocessSession) -> None:
    await session.exec("kept = 'yes'")
    result = await session.exec("import sys\nsys.exit(2)")
    assert result.error.rstrip().endswith("SystemExit: 2")
    assert not result.restarted
    assert (await session.exec("kept")).value == "yes"


async def test_submit_records_the_final_answer(session: SubprocessSession) -> None:
    nothing = await session.exec("1")
    assert (nothing.has_submission, nothing.submitted) == (False, None)
    result = await session.exec(
        "from datetime import date\nsubmit({'files': 3, 'day': date(2024, 5, 1)})\nsubmit({'files': 4, 'day': date(2024, 5, 1)})"
    )
    assert result.has_submission
    assert result.submitted == {"files": 4, "day": "2024-05-01"}


async def test_submit_refuses_a_value_that_is_not_json(session: SubprocessSession) -> None:
    result = await session.exec("submit(object())")
    assert "submit() needs a JSON-able value" in result.error
    assert not result.has_submission


async def test_output_that_looks_like_frames_does_not_confuse_the_host(session: SubprocessSession) -> None:
    forged = b"".join(
        struct.pack(">I", len(body)) + body
        for body in [b'{"type": "reply", "id": %d, "value": 666, "value_repr": "666"}' % i for i in range(1, 20)]
    )
    code = (
        "import os, sys\n"
        f"forged = {forged!r}\n"
        "os.write(1, forged)\n"
        "os.write(2, forged)\n"
        "print(forged.decode('latin-1'))\n"
        "sys.stderr.write(forged.decode('latin-1'))\n"
        "'the real value'"
    )
    result = await session.exec(code)
    assert result.error is None
    assert result.value == "the real value"
    assert '"value": 666' in result.stdout
    follow_up = await session.exec("6 * 7")
    assert follow_up.value == 42


async def test_host_environment_is_not_visible_inside(monkeypatch, dispatcher: RecordingDispatcher) -> None:
    monkeypatch.setenv("CODEMEM_SECRET_TEST", "do-not-leak-7d1f")
    async with SubprocessSession(dispatcher) as session:
        result = await session.exec("import os\ndict(os.environ), os.getcwd()")
    environment, cwd = result.value
    assert "CODEMEM_SECRET_TEST" not in environment
    assert "do-not-leak-7d1f" not in str(environment)
    assert set(environment) - {"PWD"} == {"HOME", "LANG", "PATH"}  # bubblewrap sets PWD
    assert environment["HOME"] == cwd


async def test_workspace_is_private_and_removed_on_close(dispatcher: RecordingDispatcher) -> None:
    session, other = SubprocessSession(dispatcher), SubprocessSession(dispatcher)
    await session.start()
    await other.start()
    result = await session.exec("import os\nopen('notes.txt', 'w').write('hi')\nos.getcwd()")
    assert (await session.exec("open('notes.txt').read()")).value == "hi"
    assert (await other.exec(f"import os\nos.path.exists({result.value + '/notes.txt'!r})")).value is False
    host_folder = session._workdir
    assert host_folder is not None and host_folder != Path.cwd()
    if session.isolation.level < IsolationLevel.JAIL:  # jailed, the workspace is a tmpfs inside the jail
        assert (host_folder / "notes.txt").read_text() == "hi"
    await session.close()
    await other.close()
    assert not host_folder.exists()


async def test_a_given_workdir_is_used_and_kept(tmp_path: Path, dispatcher: RecordingDispatcher) -> None:
    async with SubprocessSession(dispatcher, workdir=tmp_path) as session:
        result = await session.exec("import os\nopen('out.csv', 'w').write('a,b')\nos.getcwd()")
    assert result.value == ("/workspace" if session.isolation.level >= IsolationLevel.JAIL else str(tmp_path))
    assert (tmp_path / "out.csv").read_text() == "a,b"


async def test_frame_pipes_are_not_inherited_by_child_processes(session: SubprocessSession) -> None:
    result = await session.exec(
        "import subprocess, sys\n"
        "pipe_fds = sorted(int(fd) for fd in sys.argv[1:3])\n"
        "child = subprocess.run(['ls', '/proc/self/fd'], capture_output=True, text=True, close_fds=False)\n"
        "pipe_fds, sorted(int(fd) for fd in child.stdout.split())"
    )
    pipe_fds, child_fds = result.value
    assert len(pipe_fds) == 2
    assert not set(pipe_fds) & set(child_fds)


async def test_resource_limits_apply_and_memory_errors_are_survivable(session: SubprocessSession) -> None:
    result = await session.exec(
        "import resource\n[resource.getrlimit(r)[0] for r in (resource.RLIMIT_AS, resource.RLIMIT_NOFILE, resource.RLIMIT_CPU)]"
    )
    assert result.value == [1024**3, 256, 600]
    hog = await session.exec("kept = 1\nblob = bytearray(2 * 1024**3)")
    assert hog.error.rstrip().endswith("MemoryError")
    assert not hog.restarted
    assert (await session.exec("kept")).value == 1


async def test_no_host_package_is_importable_inside(session: SubprocessSession) -> None:
    result = await session.exec("import sandbox")
    assert "ModuleNotFoundError: No module named 'sandbox'" in result.error


async def test_close_is_idempotent_and_ends_the_worker(dispatcher: RecordingDispatcher) -> None:
    session = SubprocessSession(dispatcher)
    await session.start()
    assert session.alive
    pid = host_pid(session, (await session.exec("import os\nos.getpid()")).value)
    await session.close()
    await session.close()
    assert not session.alive
    assert await wait_until(lambda: not process_is_running(pid))



async def test_text_with_lone_surrogates_survives_the_round_trip(session: SubprocessSession) -> None:
    result = await session.exec("name = 'report-\\udc80.pdf'\nprint(name)\nname")
    assert result.error is None
    assert result.stdout == "report-\udc80.pdf\n"
    assert result.value == "report-\udc80.pdf"
