"""What a person reads in the chat when the model cannot answer: the scripted demo is over, or the provider
cannot be reached. One line that says what happened and what to do; no traceback, no log line, no offer
that cannot work."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.bot.test_cli import codemem


def test_a_replay_that_ran_out_says_the_demo_is_over_in_one_line(tmp_path: Path) -> None:
    replay = tmp_path / "one.yaml"
    replay.write_text('turns:\n  - content: "Hello from the script."\n')
    result = codemem(["chat"], tmp_path, "hi\nand now?\none more\n", CODEMEM_MODEL=f"replay:{replay}",
                     CODEMEM_DATA_DIR=str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    assert "Hello from the script." in result.stdout
    over = [line for line in result.stdout.splitlines() if "scripted demo is over" in line]
    assert len(over) == 2 and all("CODEMEM_MODEL=provider:model" in line for line in over)
    assert "try again" not in result.stdout and "ReplayExhausted" not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr and "{" not in result.stderr


def test_a_provider_that_cannot_be_reached_is_named_with_how_to_check(tmp_path: Path) -> None:
    pytest.importorskip("langchain_openai", reason="the openai extra is not installed")
    with socket.socket() as closed:   # bound, never listening: connections to it are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        result = codemem(["chat"], tmp_path, "hi\n", CODEMEM_MODEL="openai:gpt-4.1", OPENAI_API_KEY="sk-test",
                         OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1", CODEMEM_DATA_DIR=str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    told = [line for line in result.stdout.splitlines() if "model provider" in line]
    assert told == [f"! The model provider openai at http://127.0.0.1:{port} cannot be reached. Check this "
                    "machine's network and proxy settings and the provider's status page, then reply here to "
                    "try again."]
    assert "Connection error" not in result.stdout and "Traceback" not in result.stdout + result.stderr
