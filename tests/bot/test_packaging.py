"""What an operator reaches for besides the journeys: `--version`, shell completion, `serve --host/--port`,
`codemem db upgrade` (and Alembic by hand with the repository's alembic.ini), and a `.env.example` that lists
every setting."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import pkgutil
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
from pydantic_settings import BaseSettings

import bot
from tests.bot.test_cli import codemem
from tests.e2e.harness import REPO

# Read straight from the environment rather than by a Settings class (the SDKs' own, or read where used).
ENVIRONMENT_ONLY = {"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "E2B_API_KEY", "CODEMEM_SECRET_KEYS", "LANGSMITH_TRACING",
                    "LANGSMITH_API_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME"}


def settings_classes() -> list[type[BaseSettings]]:
    """Every Settings class in the bot package (each module imported, as a running bot would)."""
    for module in pkgutil.walk_packages(bot.__path__, "bot."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found, todo = [], list(BaseSettings.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("bot."):
            found.append(cls)
    return found


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.MULTILINE))
    settings = {field.alias for cls in settings_classes() for field in cls.model_fields.values()}
    assert len(settings) > 40
    assert settings - listed == set(), "add these to .env.example"
    assert listed - settings - ENVIRONMENT_ONLY == set(), "not settings: remove them from .env.example"


def test_version_and_completion(tmp_path: Path) -> None:
    result = codemem(["--version"], tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"codemem {importlib.metadata.version('codemem')}"
    script = Path(sys.executable).with_name("codemem")   # the installed command, as a shell runs it
    completion = subprocess.run([str(script), "--show-completion", "bash"], capture_output=True, text=True)
    assert completion.returncode == 0, completion.stderr
    assert "complete -o default -F _codemem_completion codemem" in completion.stdout


def test_db_upgrade_migrates_once_then_says_it_is_current(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    first = codemem(["db", "upgrade"], tmp_path, CODEMEM_DATA_DIR=data)
    assert first.returncode == 0, first.stderr
    assert re.fullmatch(r"Migrated sqlite:///\S+codemem\.db from an empty database to \d{4}\.\n", first.stdout)
    again = codemem(["db", "upgrade"], tmp_path, CODEMEM_DATA_DIR=data)
    assert again.returncode == 0 and "already at the newest schema" in again.stdout
    tables = {row[0] for row in sqlite3.connect(tmp_path / "data" / "codemem.db").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"skills", "skill_versions", "alembic_version"} <= tables


def test_db_upgrade_of_an_unreachable_database_says_what_to_check(tmp_path: Path) -> None:
    result = codemem(["db", "upgrade"], tmp_path,
                     CODEMEM_DATABASE_URL="postgresql+psycopg://user:hunter2@127.0.0.1:1/codemem")
    assert result.returncode == 2
    assert "Cannot migrate postgresql+psycopg://user:***@127.0.0.1:1/codemem" in result.stderr
    assert "CODEMEM_DATABASE_URL" in result.stderr and "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_alembic_by_hand_with_the_repository_config(tmp_path: Path) -> None:
    database = tmp_path / "by-hand.db"
    alembic = [sys.executable, "-m", "alembic", "-c", str(REPO / "alembic.ini"), "-x", f"url=sqlite:///{database}"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    upgrade = subprocess.run([*alembic, "upgrade", "head"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert upgrade.returncode == 0, upgrade.stderr
    current = subprocess.run([*alembic, "current"], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert "(head)" in current.stdout
    # and codemem agrees that this database is current
    result = codemem(["db", "upgrade"], tmp_path, CODEMEM_DATABASE_URL=f"sqlite:///{database}")
    assert "already at the newest schema" in result.stdout


def test_serve_listens_where_host_and_port_say_with_the_teams_pages(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CODEMEM_", "TEAMS_"))}
    env = {**clean, "PYTHONPATH": str(REPO), "CODEMEM_DATA_DIR": str(tmp_path / "data"), "CODEMEM_PORT": "9",
           "CODEMEM_SANDBOX": "subprocess", "TEAMS_ALLOW_UNAUTHENTICATED": "true", "CODEMEM_LOG_FORMAT": "text"}
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", "0"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        for line in process.stdout:   # uvicorn names the port the system picked for port 0
            seen.append(line)
            found = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)
            if found:
                break
        assert found, "".join(seen)
        base = f"http://127.0.0.1:{found.group(1)}"
        assert httpx.get(f"{base}/healthz", trust_env=False).json() == {"ok": True}
        # with Teams on, the pages its app package links to (no TEAMS_PRIVACY_URL / TEAMS_TERMS_URL set)
        privacy, terms = (httpx.get(f"{base}{path}", trust_env=False) for path in ("/privacy", "/terms"))
        assert privacy.status_code == 200 and "<h1>Privacy</h1>" in privacy.text and "encrypted" in privacy.text
        assert terms.status_code == 200 and "<h1>Terms of use</h1>" in terms.text
    finally:
        process.terminate()
        process.wait(timeout=60)
