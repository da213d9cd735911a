"""Every benchmark under bench/ still runs: each is started as its own process in `--quick` mode and must
finish and print its figures (their values are not judged here; benchmarks report them as ratios).

Benchmarks are found by walking bench/: any file with a `__main__` block is one, so a new benchmark is
covered as soon as it exists, and one without a `--quick` mode fails here until it has one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAIN_BLOCK = re.compile(r"^if __name__ == [\"']__main__[\"']:", re.MULTILINE)
QUICK_TIMEOUT = 240   # seconds; a quick run takes a few seconds to a minute


def benchmarks() -> list[Path]:
    return sorted(path for path in (REPO / "bench").rglob("*.py") if MAIN_BLOCK.search(path.read_text()))


def test_benchmarks_are_found() -> None:
    assert REPO / "bench" / "tools" / "bench_registry.py" in benchmarks()
    assert REPO / "bench" / "agent" / "context_bench.py" in benchmarks()


@pytest.mark.timeout(QUICK_TIMEOUT + 30)
@pytest.mark.parametrize("bench", benchmarks(), ids=lambda path: str(path.relative_to(REPO)))
def test_benchmark_runs_in_quick_mode(bench: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(bench), "--quick"], cwd=REPO, env=environment, capture_output=True,
                          text=True, timeout=QUICK_TIMEOUT, stdin=subprocess.DEVNULL)
    output = f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, output
    assert "Traceback" not in done.stdout + done.stderr, output
    figures = [line for line in done.stdout.splitlines() if re.search(r"\d", line)]
    assert len(figures) >= 2, f"no figures printed\n{output}"
