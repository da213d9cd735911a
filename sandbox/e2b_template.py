"""The E2B template that holds the sandbox worker: a Python image with ``worker.py`` at /opt/codemem.

Build it once per E2B team (needs ``E2B_API_KEY``): ``python -m sandbox.e2b_template``. The worker is
stdlib-only, so the template needs nothing but Python; add ``pip_install`` lines for libraries that
code in the sandbox should have.
"""

from __future__ import annotations

from pathlib import Path

from sandbox.e2b_backend import TEMPLATE

WORKER_DESTINATION = "/opt/codemem/worker.py"


def worker_template():  # -> e2b.TemplateBuilder
    """The template definition (e2b's template-as-code builder)."""
    from e2b import Template

    return (
        Template(file_context_path=Path(__file__).parent)
        .from_python_image("3.11")
        .copy("worker.py", WORKER_DESTINATION, mode=0o644)
    )


def build(alias: str = TEMPLATE) -> None:
    """Build and register the template under ``alias`` (the name ``E2BSession`` uses by default)."""
    from e2b import Template

    info = Template.build(worker_template(), alias=alias, cpu_count=1, memory_mb=512)
    print(f"built E2B template {alias!r}: {info}")


if __name__ == "__main__":
    build()
