"""The MCP server benchmark's quick mode runs and reports its three measures (benchmarks nothing runs rot)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "mcp" / "bench_server.py"


def test_the_mcp_server_benchmark_runs_in_quick_mode() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "tools/list, 100 skills", "tools/call of a trivial skill", "10 concurrent calls"]
