"""Builds the sandbox's seccomp filters (``<arch>.bpf`` beside this file) with libseccomp; the jail loads them.

Run ``python -m sandbox.seccomp.build`` after changing ``DENIED`` (needs libseccomp's Python binding: pip
``pyseccomp``, or Debian's ``python3-seccomp``). The filters are checked in, so that a machine running
CodeMem needs neither; a test checks that they are what this script builds.

The filter allows everything but what a Python worker never needs: new namespaces (user namespaces above
all), mounts, tracing other processes, the kernel keyring, BPF, perf events, userfaultfd, loading kernels
or modules, and a few more. Those fail with EPERM; ``clone3``, whose flags a filter cannot read, fails with
ENOSYS so that the C library falls back to ``clone``, whose flags it can.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

try:
    import seccomp
except ImportError:  # the ctypes binding has the same interface
    try:
        import pyseccomp as seccomp
    except RuntimeError as exc:  # it raises this when libseccomp itself is missing
        raise ImportError(f"{exc}: apt-get install libseccomp2") from None

HERE = Path(__file__).parent
ARCHITECTURES = {"x86_64": "X86_64", "aarch64": "AARCH64"}
NAMESPACE_FLAGS = (0x10000000, 0x00020000, 0x20000000, 0x40000000, 0x04000000, 0x08000000, 0x02000000, 0x00000080)
"""CLONE_NEWUSER, NEWNS, NEWPID, NEWNET, NEWUTS, NEWIPC, NEWCGROUP, NEWTIME: a ``clone`` with any is denied."""
DENIED = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "mount_setattr", "ptrace", "process_vm_readv", "process_vm_writev", "keyctl", "add_key",
    "request_key", "bpf", "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog", "open_by_handle_at",
    "name_to_handle_at", "lookup_dcookie", "iopl", "ioperm", "vhangup", "uselib", "nfsservctl",
)


def build(arch: str) -> bytes:
    """The filter for ``arch`` (``x86_64`` or ``aarch64``) as BPF bytes, ready for ``bwrap --seccomp``."""
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    rules.remove_arch(seccomp.Arch.NATIVE)
    rules.add_arch(getattr(seccomp.Arch, ARCHITECTURES[arch]))
    deny = seccomp.ERRNO(errno.EPERM)
    for name in DENIED:
        try:
            rules.add_rule_exactly(deny, name)
        except (OSError, RuntimeError, ValueError):
            pass  # not a system call on this architecture
    for flag in NAMESPACE_FLAGS:   # the flags are clone's first argument on both architectures
        rules.add_rule_exactly(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    rules.add_rule_exactly(seccomp.ERRNO(errno.ENOSYS), "clone3")
    path = HERE / f"{arch}.build.tmp"
    with open(path, "wb") as out:
        rules.export_bpf(out)
    data = path.read_bytes()
    path.unlink()
    return data


def main() -> None:
    for arch in ARCHITECTURES:
        (HERE / f"{arch}.bpf").write_bytes(build(arch))
        print(f"wrote {HERE / f'{arch}.bpf'}", file=sys.stderr)


if __name__ == "__main__":
    main()
