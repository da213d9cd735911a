"""One interface over the four sandbox backends, and the factory that picks one from a setting.

``CODEMEM_SANDBOX`` = ``subprocess`` (default: a local worker, jailed when bubblewrap is there),
``pool`` (pre-warmed local workers, sticky per conversation), ``inprocess`` (tests and development
only) or ``e2b`` (a hosted microVM; needs ``E2B_API_KEY`` and the template of ``e2b_template``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from sandbox.isolation import IsolationReport
from sandbox.result import ExecResult
from sandbox.session import Dispatcher, SubprocessSession

SETTING = "CODEMEM_SANDBOX"
BACKENDS = ("subprocess", "pool", "inprocess", "e2b")
DEFAULT_BACKEND = "subprocess"


@runtime_checkable
class SandboxSession(Protocol):
    """What every backend offers: a persistent scope with tools, run one block at a time."""

    @property
    def alive(self) -> bool: ...

    @property
    def isolation(self) -> IsolationReport: ...

    async def start(self) -> None: ...

    async def define_tools(self, catalogue: dict) -> None: ...

    async def exec(self, code: str, timeout: float = 60.0) -> ExecResult: ...

    async def close(self) -> None: ...


def backend_from_env(environ: Mapping[str, str] = os.environ) -> str:
    """The backend named by ``CODEMEM_SANDBOX`` (default ``subprocess``); ``ValueError`` for an unknown name."""
    name = environ.get(SETTING, "").strip().lower() or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise ValueError(f"{SETTING}={name!r} is not a sandbox backend: use one of {', '.join(BACKENDS)}")
    return name


def open_session(
    backend: str,
    dispatcher: Dispatcher,
    *,
    key: str | None = None,
    pool: Any = None,
    output_limit: int = 20_000,
    **options: Any,
) -> SandboxSession:
    """A new (not yet started) session of ``backend``.

    ``key`` names the conversation: the pool backend returns the same live session for the same key
    (from ``pool``, a ``WorkerPool`` the caller keeps for the life of the app); without a key it gives a
    one-off session on a warm worker. ``options`` go to the
    backend's class (e.g. ``limits=`` for subprocess, ``resume=``/``api_key=`` for e2b).
    """
    if backend == "subprocess":
        return SubprocessSession(dispatcher, output_limit=output_limit, **options)
    if backend == "pool":
        if pool is None:
            raise ValueError("the pool backend needs pool= (a WorkerPool kept by the app)")
        return pool.session(key, dispatcher)   # key=None: a one-off session, ended by close()
    if backend == "inprocess":
        from sandbox.inprocess import InProcessSession

        return InProcessSession(dispatcher, output_limit=output_limit)
    if backend == "e2b":
        from sandbox.e2b_backend import E2BSession

        return E2BSession(dispatcher, output_limit=output_limit, **options)
    raise ValueError(f"unknown sandbox backend {backend!r}: use one of {', '.join(BACKENDS)}")
