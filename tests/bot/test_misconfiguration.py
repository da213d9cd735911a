"""Each misconfiguration a newcomer makes, through `codemem chat`, `serve` and `doctor` as real processes:
one line naming the setting, what is wrong and the fix; exit status 2 (doctor: its [FIX] line and its
documented exit status 1); never a traceback."""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.test_cli import codemem

HAS_OPENAI = importlib.util.find_spec("langchain_openai") is not None
HAS_ANTHROPIC = importlib.util.find_spec("langchain_anthropic") is not None

# (settings, what the line must say); {dir} is the test's directory, {port} a loopback port nothing listens on.
CASES = {
    "replay file missing": ({"CODEMEM_MODEL": "replay:{dir}/missing.yaml"},
                            "CODEMEM_MODEL=replay:{dir}/missing.yaml: the replay file {dir}/missing.yaml does not exist"),
    "replay not YAML": ({"CODEMEM_MODEL": "replay:{dir}/broken.yaml"}, "broken.yaml is not YAML"),
    "replay not a replay": ({"CODEMEM_MODEL": "replay:{dir}/other.yaml"}, "other.yaml is not a replay"),
    "unknown provider": ({"CODEMEM_MODEL": "nosuchprovider:x"},
                         "CODEMEM_MODEL=nosuchprovider:x: LangChain knows no provider 'nosuchprovider'"),
    "provider package missing": pytest.param(
        {"CODEMEM_MODEL": "anthropic:claude-sonnet-4-5"},
        'CODEMEM_MODEL=anthropic:claude-sonnet-4-5 needs the anthropic provider\'s package: '
        'pip install "codemem[anthropic]".',
        marks=pytest.mark.skipif(HAS_ANTHROPIC, reason="langchain-anthropic is installed")),
    "provider key missing": pytest.param(
        {"CODEMEM_MODEL": "openai:gpt-4.1", "OPENAI_API_KEY": ""},
        "CODEMEM_MODEL=openai:gpt-4.1: the openai client cannot start: set OPENAI_API_KEY",
        marks=pytest.mark.skipif(not HAS_OPENAI, reason="the openai extra is not installed")),
    "log format": ({"CODEMEM_LOG_FORMAT": "txt"},
                   "CODEMEM_LOG_FORMAT='txt' is not valid: it should be one of 'json' or 'text'"),
    "sandbox": ({"CODEMEM_SANDBOX": "docker"},
                "CODEMEM_SANDBOX='docker' is not valid: it should be one of 'subprocess', 'pool', 'inprocess' or 'e2b'"),
    "database dialect": ({"CODEMEM_DATABASE_URL": "postgres://root:hunter2@127.0.0.1/test"},
                         "CODEMEM_DATABASE_URL='postgres://root:***@127.0.0.1/test' is not valid: it names the "
                         "database kind 'postgres', which SQLAlchemy does not know: write postgresql+psycopg://"),
    "database unreachable": ({"CODEMEM_DATABASE_URL": "postgresql+psycopg://root:hunter2@127.0.0.1:{port}/test"},
                             "CODEMEM_DATABASE_URL=postgresql+psycopg://root:***@127.0.0.1:{port}/test: cannot "
                             "connect (connection failed"),
}

# `serve` needs a chat platform before it gets as far as the model and the database: Slack over HTTP, whose
# API is never called before those fail.
SLACK_HTTP = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret", "CODEMEM_PORT": "0",
              "SLACK_API_URL": "http://127.0.0.1:{port}/api/"}


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound (so nobody else takes it) but not listening: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", ["chat", "serve", "doctor"])
@pytest.mark.parametrize(("settings", "expected"), list(CASES.values()), ids=list(CASES))
def test_a_misconfiguration_is_one_clear_line(command: str, settings: dict[str, str], expected: str,
                                              tmp_path: Path, closed_port: int) -> None:
    (tmp_path / "broken.yaml").write_text("turns: [\n")
    (tmp_path / "other.yaml").write_text("model: gpt\n")
    fill = {"dir": str(tmp_path), "port": str(closed_port)}
    env = {name: value.format(**fill) for name, value in
           {**(SLACK_HTTP if command == "serve" else {}), **settings}.items()}
    env.setdefault("CODEMEM_DATA_DIR", str(tmp_path / "data"))
    result = codemem([command], tmp_path, "", **env)
    output = result.stdout + result.stderr
    line = expected.format(**fill)
    assert "Traceback" not in output and "hunter2" not in output
    if command == "doctor":
        assert result.returncode == 1, output
        assert [found for found in result.stdout.splitlines() if found.startswith("[FIX ]") and line in found]
    else:
        assert result.returncode == 2, output
        told = [found for found in result.stderr.splitlines() if line in found]
        assert len(told) == 1, output
        assert output.count("pip install") <= 1
