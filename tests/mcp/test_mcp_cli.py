"""`codemem mcp add|list|remove` and `codemem doctor`'s MCP lines, as real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bot.test_cli import codemem
from tests.mcp.conftest import tickets_url


def test_add_list_and_remove_a_server_and_doctor_says_whether_it_answers(tmp_path: Path, emulator) -> None:
    data = {"CODEMEM_DATA_DIR": str(tmp_path / "data")}
    added = codemem(["mcp", "add", "tickets", tickets_url(emulator), "--trusted"], tmp_path, **data)
    assert added.returncode == 0, added.stderr
    assert "Registered the MCP server tickets" in added.stdout
    codemem(["mcp", "add", "gone", "http://127.0.0.1:9/mcp"], tmp_path, **data)

    listed = codemem(["mcp", "list"], tmp_path, **data)
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()}
    assert "trusted" in lines["tickets"] and "answers (2026-07-28), 5 tools" in lines["tickets"]
    assert "untrusted" in lines["gone"] and "does not answer: could not reach the MCP server gone" in lines["gone"]

    doctor = codemem(["doctor"], tmp_path, **data)
    assert "[ok  ] mcp tickets: " in doctor.stdout and "5 tools" in doctor.stdout
    assert "[FIX ] mcp gone: http://127.0.0.1:9/mcp: does not answer" in doctor.stdout
    assert doctor.returncode == 1 and "Traceback" not in doctor.stdout + doctor.stderr

    removed = codemem(["mcp", "remove", "gone"], tmp_path, **data)
    assert removed.returncode == 0 and "Removed the MCP server gone." in removed.stdout
    again = codemem(["mcp", "list"], tmp_path, **data)
    assert [line.split()[0] for line in again.stdout.splitlines()] == ["tickets"]


def test_servers_from_the_configuration_are_listed_with_their_source(tmp_path: Path, emulator) -> None:
    config = tmp_path / "mcp.toml"
    config.write_text(f'[tickets]\nurl = "{tickets_url(emulator)}"\nauth = "none"\n')
    listed = codemem(["mcp", "list"], tmp_path, CODEMEM_DATA_DIR=str(tmp_path / "data"),
                     CODEMEM_MCP_SERVERS=str(config))
    assert listed.returncode == 0, listed.stderr
    assert "(configuration)" in listed.stdout and "5 tools" in listed.stdout


def test_bad_input_gets_one_clear_line_and_exit_code_2(tmp_path: Path) -> None:
    data = {"CODEMEM_DATA_DIR": str(tmp_path / "data")}
    cases = [
        (["mcp", "add", "Tickets", "http://x/mcp"], "MCP server name 'Tickets' is not allowed"),
        (["mcp", "add", "tickets", "ftp://x/mcp"], "must start with http:// or https://"),
        (["mcp", "add", "tickets", "http://x/mcp", "--auth", "magic"], "--auth must be one of none, bearer, oauth"),
        (["mcp", "add", "tickets", "http://x/mcp", "--auth", "bearer"], "--auth bearer needs the token"),
        (["mcp", "remove", "nothing"], "there is no registered MCP server named 'nothing'"),
    ]
    for args, message in cases:
        result = codemem(args, tmp_path, **data)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    broken = codemem(["mcp", "list"], tmp_path, CODEMEM_MCP_SERVERS=json.dumps({"x": {"uri": "http://x"}})[:-1],
                     **data)
    assert broken.returncode == 2 and "CODEMEM_MCP_SERVERS (inline JSON) is not valid" in broken.stderr
