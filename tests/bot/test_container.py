"""The Docker files as an operator meets them: a small build context, `docker compose config` without a .env,
an image that can run the demo, and a bot without chat settings that waits (not ready) instead of exiting
into its restart policy's loop. No container runs here (no image can be pulled): what each file promises is
checked against the repository, and `docker-compose config` runs when it is installed."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from bot import demo
from tests.e2e.harness import REPO


def test_the_build_context_leaves_out_the_venv_databases_and_secrets() -> None:
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        parts = path.split("/")
        return any(fnmatch.fnmatch(path, p.removeprefix("**/")) or fnmatch.fnmatch(parts[0], p)
                   or fnmatch.fnmatch(parts[-1], p.removeprefix("**/")) for p in patterns)

    for unwanted in (".venv/bin/python", ".git/HEAD", ".codemem/codemem.db", "data/other.db", ".env",
                     "bot/__pycache__/cli.cpython-311.pyc", "codemem.egg-info/PKG-INFO", "tests/bot/test_cli.py"):
        assert ignored(unwanted), unwanted
    copied = re.findall(r"^COPY (.+) \S+$", (REPO / "Dockerfile").read_text(), re.MULTILINE)
    for source in " ".join(copied).split():
        assert (REPO / source).exists() and not ignored(source), f"the Dockerfile copies {source}"


def test_the_image_installs_every_extra_and_ships_the_demo() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'pip install --no-cache-dir ".[all]"' in dockerfile
    assert 'CMD ["codemem", "serve", "--keep-running"]' in dockerfile
    # the demo's replay lives in the package (COPY bot ./bot; WORKDIR /app), as the Dockerfile's example says
    assert demo.SCENARIO.is_relative_to(REPO / "bot") and demo.SCENARIO.exists()
    assert f"CODEMEM_MODEL=replay:{demo.SCENARIO.relative_to(REPO)}" in dockerfile


def test_compose_needs_no_env_file_and_passes_only_settings() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert all("env_file" not in service for service in services.values())
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.MULTILINE))
    environment = services["bot"]["environment"]
    assert set(environment) <= listed, "every variable passed is a setting of .env.example"
    for value in map(str, environment.values()):
        for reference in re.findall(r"\$\{[^}]*\}", value):
            assert ":-" in reference, f"{reference} needs a default so that compose works without a .env"
    assert services["bot"]["command"] == ["codemem", "serve", "--keep-running"]


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_docker_compose_config_works_without_a_dot_env(tmp_path: Path) -> None:
    shutil.copy(REPO / "docker-compose.yml", tmp_path)
    result = subprocess.run(["docker-compose", "config", "--quiet"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_bot_without_chat_settings_keeps_running_and_is_not_ready(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CODEMEM_", "TEAMS_"))}
    env = {**clean, "PYTHONPATH": str(REPO), "CODEMEM_DATA_DIR": str(tmp_path / "data"), "CODEMEM_LOG_FORMAT": "text"}
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--keep-running", "--host", "127.0.0.1",
                                "--port", "0"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        for line in process.stdout:
            seen.append(line)
            found = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)
            if found:
                break
        assert found, "".join(seen)
        assert "CodeMem cannot connect to Slack or Teams yet" in "".join(seen)
        base = f"http://127.0.0.1:{found.group(1)}"
        assert httpx.get(f"{base}/healthz", trust_env=False).status_code == 200
        ready = httpx.get(f"{base}/readyz", trust_env=False)
        assert ready.status_code == 503 and not ready.json()["ready"]
        assert "SLACK_BOT_TOKEN" in ready.json()["problems"][0]
        assert process.poll() is None, "it keeps running"
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert "Traceback" not in "".join(seen) + process.stdout.read()
