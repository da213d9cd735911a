"""`codemem serve`'s log as an operator sees it: readable lines on a terminal, JSON lines otherwise, one format
for CodeMem, uvicorn and the libraries, a one-line banner, and none of the libraries' misleading chatter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.bot.terminal import Terminal
from tests.e2e.harness import REPO
from bot.demo import SCENARIO

NOISE = ("token` will be unused", "ExperimentalWarning", "Context impl", "Running upgrade", "setup plugin")


def serve_env(tmp_path: Path) -> dict[str, str]:
    """Slack over HTTP (its API is never called at start), Teams off, the replay model, port 0."""
    return {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret", "CODEMEM_PORT": "0",
            "CODEMEM_HOST": "127.0.0.1", "SLACK_API_URL": "http://127.0.0.1:9/api/",
            "CODEMEM_MODEL": f"replay:{SCENARIO}", "CODEMEM_DATA_DIR": str(tmp_path / "data"),
            "CODEMEM_PUBLIC_URL": "https://bot.example.com"}


def test_on_a_terminal_the_log_is_readable_lines_with_a_banner(tmp_path: Path) -> None:
    terminal = Terminal(["serve"], tmp_path, serve_env(tmp_path), columns=250)
    try:
        shown = terminal.expect("Uvicorn running on")
        shown += terminal.expect("\n")
    finally:
        terminal.close()
    banner = [line for line in shown.splitlines() if "CodeMem serving on" in line]
    assert len(banner) == 1, shown
    assert ("Slack: HTTP, POST https://bot.example.com/slack/events; Teams: off; "
            "model: replay of save_attachments.yaml (scripted turns, not a real model); sandbox: pool, isolation"
            in banner[0]), banner
    assert "database: sqlite:///" in banner[0] and "tracing: off" in banner[0]
    uvicorn = next(line for line in shown.splitlines() if "Uvicorn running on" in line)
    assert "[info" in uvicorn and "[uvicorn.error]" in uvicorn and "[bot.server]" in banner[0]
    assert '{"' not in shown and "Traceback" not in shown
    assert not [noise for noise in NOISE if noise in shown], shown


def test_when_not_a_terminal_every_line_is_json(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CODEMEM_"))}
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, stdout=sink, stderr=sink,
                                   env={**clean, "PYTHONPATH": str(REPO), **serve_env(tmp_path)})
    try:
        deadline = time.monotonic() + 90
        while "Uvicorn running on" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(30)
    lines = log.read_text().splitlines()
    records = [json.loads(line) for line in lines]   # every line, uvicorn's included, is one JSON object
    loggers = {record["logger"] for record in records}
    assert {"bot.server", "uvicorn.error"} <= loggers, lines
    assert any(record["event"].startswith("CodeMem serving on") for record in records)
    assert not [noise for noise in NOISE if noise in log.read_text()], lines
