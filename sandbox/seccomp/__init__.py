"""The seccomp filter of the jail: BPF built by ``build.py`` with libseccomp, one file per architecture."""

from __future__ import annotations

import platform
from pathlib import Path

HERE = Path(__file__).parent


def filter_path(machine: str | None = None) -> Path | None:
    """The filter for this machine's architecture (or ``machine``), or None when none was built for it."""
    path = HERE / f"{machine or platform.machine()}.bpf"
    return path if path.exists() else None
