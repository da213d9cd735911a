"""The MCP benchmarks still run (their quick modes): benchmarks that nothing runs rot."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.harness import REPO


@pytest.mark.parametrize("bench, expected", [
    ("bench_call.py", ["MCP call, median per call", "ratio bridge/direct:"]),
    ("bench_catalog.py", ["prompt tokens of the MCP conversation", "search with", "load with"]),
])
def test_the_quick_mode_runs(bench: str, expected: list[str]) -> None:
    result = subprocess.run([sys.executable, str(REPO / "bench" / "mcp" / bench), "--quick"], capture_output=True,
                            text=True, timeout=540, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    for text in expected:
        assert text in result.stdout
