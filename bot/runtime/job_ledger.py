"""The embedded engine's record of its jobs on disk, so that a process killed mid-run leaves a trace.

Each process appends to its own journal under the ledger root (`CODEMEM_DATA_DIR/jobs/<worker>.jobs`), one
JSON line per step of a job: queued, started, finished — one small write each, cheap enough for the ack
path. While it lives, the process holds an exclusive lock on its journal: a lease the kernel ends when the
process dies, however it dies. So another process that can take the lock knows its owner is gone, and takes
over the jobs it left unfinished: `left_behind`. A journal is emptied whenever none of its jobs is left.

Nothing is synced to disk: a killed process loses nothing the kernel has not written (a power cut may).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

QUEUED, RUNNING = "queued", "running"
JOURNAL = ".jobs"
COMPACT_BYTES = 1 << 20   # an empty journal (no job left) larger than this is truncated


@dataclass(frozen=True)
class LedgerEntry:
    """One job as the ledger keeps it: `started_at` is set once it runs; `cut_short` says where and when an
    earlier delivery of it began and died (a job taken over from a dead process, not yet recovered)."""

    kind: str
    key: str
    payload: dict[str, Any]
    state: str = QUEUED
    started_at: str | None = None
    cut_short: tuple[str, str] | None = None   # (worker, started_at)

    def interrupted(self, worker: str) -> tuple[str, datetime] | None:
        """Where and when the first delivery cut short began, when this entry was left by the dead `worker`."""
        if self.cut_short:
            return self.cut_short[0], datetime.fromisoformat(self.cut_short[1])
        if self.state == RUNNING and self.started_at:
            return worker, datetime.fromisoformat(self.started_at)
        return None


class JobLedger:
    """The journal of the process called `worker`, under `root`."""

    def __init__(self, root: Path, worker: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._fd = _lease(root / f"{worker}{JOURNAL}", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        if self._fd is None:
            raise RuntimeError(f"another process holds the job journal of {worker} in {root}")
        self._live: set[str] = set()

    def queued(self, entry: LedgerEntry) -> str:
        """Record a job just queued; its id in the ledger."""
        entry_id = uuid.uuid4().hex
        self._live.add(entry_id)
        self._append({"op": QUEUED, "id": entry_id, **asdict(entry)})
        return entry_id

    def started(self, entry_id: str) -> None:
        self._append({"op": RUNNING, "id": entry_id, "at": datetime.now(UTC).isoformat()})

    def finished(self, entry_id: str) -> None:
        self._live.discard(entry_id)
        if not self._live and os.fstat(self._fd).st_size > COMPACT_BYTES:
            os.ftruncate(self._fd, 0)   # nothing in it is needed any more
        else:
            self._append({"op": "finished", "id": entry_id})

    def _append(self, record: dict[str, Any]) -> None:
        os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())   # one write: one line


def left_behind(root: Path) -> Iterator[tuple[str, list[LedgerEntry]]]:
    """For each process whose lease under `root` has ended (it died): its name and the jobs it left unfinished,
    in the order they were queued. Its journal is removed once the caller has taken them (the next item is
    asked for); a process still alive is left alone."""
    if not root.is_dir():
        return
    for path in sorted(root.glob(f"*{JOURNAL}")):
        fd = _lease(path, os.O_RDONLY)
        if fd is None:
            continue   # alive
        try:
            worker = path.name.removesuffix(JOURNAL)
            with os.fdopen(os.dup(fd), encoding="utf-8", errors="replace") as journal:
                entries = _unfinished(worker, journal)
            yield worker, entries
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def _unfinished(worker: str, lines: Iterator[str]) -> list[LedgerEntry]:
    entries: dict[str, LedgerEntry] = {}
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
            op, entry_id = record.pop("op"), record.pop("id")
            if op == QUEUED:
                record["cut_short"] = tuple(record["cut_short"]) if record.get("cut_short") else None
                entries[entry_id] = LedgerEntry(**record)
            elif op == RUNNING and entry_id in entries:
                entries[entry_id] = replace(entries[entry_id], state=RUNNING, started_at=record["at"])
            else:
                entries.pop(entry_id, None)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("line %d of the job journal of %s is unreadable and is skipped (%s)", number, worker, error)
    return list(entries.values())   # dicts keep the order the jobs were queued in


def _lease(path: Path, flags: int) -> int | None:
    """A descriptor of `path`, locked by this process; None when another process holds the lock."""
    fd = os.open(path, flags)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
