"""What one CodeMem process shares with the others on a machine: sandbox uids (leased machine-wide, so two
processes never hand one to two live sandboxes) and the temporary folder (folders of dead processes go)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from sandbox import launch
from sandbox.isolation import UidAllocator

HOLDER = """
import json, sys
from pathlib import Path
from sandbox.isolation import UidAllocator
uids = UidAllocator(base=950_000, count=8, lock_dir=Path(sys.argv[1]))
print(json.dumps([uids.take() for _ in range(5)]), flush=True)
sys.stdin.read()   # hold the leases until the test lets go
"""


def test_two_processes_never_lease_the_same_uid_and_a_dead_ones_come_back(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert other.stdout is not None
        theirs = set(json.loads(other.stdout.readline()))
        ours = UidAllocator(base=950_000, count=8, lock_dir=tmp_path)
        mine = {ours.take(), ours.take(), ours.take()}
        assert len(theirs) == 5 and len(mine) == 3 and not theirs & mine
        try:
            ours.take()
            raise AssertionError("a ninth uid out of eight")
        except RuntimeError as exc:
            assert "all 8 sandbox uids are in use" in str(exc)
    finally:
        assert other.stdin is not None
        other.stdin.close()
        other.wait()
    assert ours.take() in theirs   # the kernel ended the leases of the process that exited


def test_a_uid_given_back_can_be_leased_again(tmp_path: Path) -> None:
    uids = UidAllocator(base=960_000, count=1, lock_dir=tmp_path)
    uid = uids.take()
    uids.give_back(uid)
    assert uids.take() == uid


def test_workspaces_left_by_dead_processes_are_removed_at_start() -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = Path(tempfile.gettempdir()) / f"codemem-pool-{dead.stdout.strip()}-abc"
    (stale / "data").mkdir(parents=True)
    live = launch.new_workspace("pool")
    launch.remove_stale_workspaces.cache_clear()
    assert launch.remove_stale_workspaces() >= 1
    assert not stale.exists() and live.exists()
    live.rmdir()
