"""Code execution for CodeMem: a persistent Python scope in a worker subprocess, with tools bridged to the host.

The sandbox knows nothing about chat or workspace APIs: it gets a catalogue of tool signatures and a
dispatcher. See ``session.SubprocessSession``.
"""

from sandbox.launch import ResourceLimits
from sandbox.result import ExecResult, ToolCallRecord
from sandbox.session import Dispatcher, SubprocessSession

__all__ = ["Dispatcher", "ExecResult", "ResourceLimits", "SubprocessSession", "ToolCallRecord"]
