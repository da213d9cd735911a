"""The embedded engine's job ledger: a live process's jobs are never taken; a killed process's are, once."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from bot.runtime.job_ledger import RUNNING, left_behind
from tests.e2e.harness import REPO

HOLDER = """
import sys, time
from pathlib import Path
from bot.runtime.job_ledger import JobLedger, LedgerEntry
ledger = JobLedger(Path(sys.argv[1]), "holder")
ledger.queued(LedgerEntry("skill_run", "k1", {"n": 1}))
ledger.started(ledger.queued(LedgerEntry("agent_turn", "k2", {"n": 2})))
ledger.finished(ledger.queued(LedgerEntry("skill_run", "k3", {"n": 3})))
print("ready", flush=True)
time.sleep(600)
"""


def test_a_live_process_keeps_its_jobs_and_a_killed_one_leaves_them_once(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert list(left_behind(tmp_path)) == [], "the holder is alive: its jobs are its own"
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        ((worker, entries),) = list(left_behind(tmp_path))
        assert worker == "holder"
        assert [(e.kind, e.key, e.payload, e.state) for e in entries] == [
            ("skill_run", "k1", {"n": 1}, "queued"), ("agent_turn", "k2", {"n": 2}, RUNNING)]
        assert entries[1].interrupted(worker)[0] == "holder" and entries[0].interrupted(worker) is None
        assert list(left_behind(tmp_path)) == [], "taken once"
    finally:
        holder.kill()
        holder.wait(10)
