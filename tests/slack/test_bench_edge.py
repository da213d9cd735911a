"""Smoke test: bench/slack/bench_edge.py --quick runs every attack against a real `codemem serve` and reports."""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.harness import REPO


def test_the_edge_bench_runs_in_quick_mode() -> None:
    done = subprocess.run([sys.executable, "bench/slack/bench_edge.py", "--quick"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = done.stdout
    for attack, answer in [("declared 200 MB body", "'413'"), ("non-numeric timestamp", "'400'"),
                           ("unsigned 1 MB non-JSON", "'401'"), ("signed 100,000-deep JSON", "'400'"),
                           ("signed 400,000-char /skill", "'200'")]:
        (row,) = [line for line in report.splitlines() if line.startswith(attack)]
        assert answer in row and "'500'" not in row, row
    assert "goal: p99" in report
