"""Code execution for CodeMem: a persistent Python scope in a worker, with tools bridged to the host.

The sandbox knows nothing about chat or workspace APIs: it gets a catalogue of tool signatures and a
dispatcher. Backends share one interface (``SandboxSession``); pick one with ``open_session`` and
``backend_from_env`` (``CODEMEM_SANDBOX``). ``plan_isolation().report`` says how well this machine
isolates local workers.
"""

from sandbox.backends import BACKENDS, SandboxSession, backend_from_env, open_session
from sandbox.isolation import IsolationLevel, IsolationReport, plan_isolation
from sandbox.launch import ResourceLimits
from sandbox.pool import WorkerPool
from sandbox.result import ExecResult, ToolCallRecord
from sandbox.session import Dispatcher, SubprocessSession

__all__ = [
    "BACKENDS",
    "Dispatcher",
    "ExecResult",
    "IsolationLevel",
    "IsolationReport",
    "ResourceLimits",
    "SandboxSession",
    "SubprocessSession",
    "ToolCallRecord",
    "WorkerPool",
    "backend_from_env",
    "open_session",
    "plan_isolation",
]
