"""A lean install (`pip install codemem`, no extras): everything else works, and a feature whose extra is missing
says which to install, in one line, from `serve`, `worker`, `chat` and `doctor`.

The extras are hidden from a real `codemem` process by an import blocker in its `sitecustomize`, so these tests
see exactly what a venv without them would."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot import extras
from tests.e2e.harness import REPO

POSTGRES_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"

BLOCKER = '''
import importlib.abc, os, sys

HIDDEN = tuple(os.environ["HIDE_MODULES"].split(","))

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith(HIDDEN):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Hide())
'''


def hidden(*names: str) -> str:
    return ",".join(module for name in names for module in extras.EXTRAS[name][0])


def codemem_without(hide: str, args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CODEMEM_", "TEAMS_", "OTEL_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL,
                          env={**clean, "PYTHONPATH": f"{site}{os.pathsep}{REPO}", "HIDE_MODULES": hide,
                               "CODEMEM_DATA_DIR": str(tmp_path / "data"), **env})


def test_every_extra_of_the_package_is_known_to_the_checks() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(declared) - {"all", "dev"} == set(extras.EXTRAS)
    assert declared["all"] == [f"codemem[{','.join(extras.EXTRAS)}]"]
    assert "codemem[all]" in declared["dev"]


def test_the_development_install_has_every_extra() -> None:
    assert all(extras.installed(name) for name in extras.EXTRAS)


def test_the_application_imports_without_any_extra(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    code = ("import bot.cli, bot.server, bot.app, bot.runtime.worker, bot.runtime.doctor, bot.agent.checkpoints; "
            "from bot import extras; print([extras.installed(name) for name in extras.EXTRAS])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO}",
                                 "HIDE_MODULES": hidden(*extras.EXTRAS)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([False] * len(extras.EXTRAS))


@pytest.mark.parametrize(("command", "hide", "env", "extra"), [
    (["serve"], "teams", {"TEAMS_APP_ID": "app", "TEAMS_APP_PASSWORD": "secret"}, "teams"),
    (["chat"], "postgres", {"CODEMEM_DATABASE_URL": POSTGRES_URL}, "postgres"),
    (["worker"], "postgres", {"CODEMEM_DATABASE_URL": POSTGRES_URL, "CODEMEM_JOBS": "procrastinate"}, "postgres"),
], ids=["serve-teams", "chat-postgres", "worker-postgres"])
def test_a_feature_without_its_extra_names_the_pip_line(tmp_path: Path, command: list[str], hide: str,
                                                        env: dict[str, str], extra: str) -> None:
    result = codemem_without(hidden(hide), command, tmp_path, **env)
    assert result.returncode == 2, result.stderr
    assert f'pip install "codemem[{extra}]"' in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_doctor_reports_each_missing_extra_as_a_line_to_fix(tmp_path: Path) -> None:
    result = codemem_without(hidden(*extras.EXTRAS), ["doctor"], tmp_path, TEAMS_APP_ID="app",
                             TEAMS_APP_PASSWORD="secret", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1")
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("[FIX ] install:")]
    assert [line.split("codemem[")[1] for line in lines] == ['teams]"', 'otlp]"']
    assert result.returncode == 1
    # A PostgreSQL URL without its driver is a settings problem that names the extra to install.
    result = codemem_without(hidden(*extras.EXTRAS), ["doctor"], tmp_path, CODEMEM_DATABASE_URL=POSTGRES_URL)
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("[FIX ] settings: CODEMEM_DATABASE_URL")]
    assert 'pip install "codemem[postgres]"' in line and result.returncode == 1
