"""The checked-in seccomp filters are what ``sandbox/seccomp/build.py`` builds with libseccomp."""

from __future__ import annotations

import pytest

from sandbox.seccomp import HERE, filter_path


def test_the_checked_in_filters_are_the_ones_the_script_builds() -> None:
    build = pytest.importorskip("sandbox.seccomp.build", reason="needs libseccomp's Python binding (pip install pyseccomp)")
    for arch in build.ARCHITECTURES:
        assert (HERE / f"{arch}.bpf").read_bytes() == build.build(arch), f"run python -m sandbox.seccomp.build ({arch})"


def test_there_is_a_filter_for_the_usual_architectures() -> None:
    assert filter_path("x86_64") is not None and filter_path("aarch64") is not None
    assert filter_path("sparc64") is None
