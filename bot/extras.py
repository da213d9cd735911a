"""The optional parts of the install (`pip install "codemem[EXTRA]"`): a feature that needs one checks it here
first, so a missing package is one line naming the extra to install, not an ImportError traceback."""

from __future__ import annotations

import importlib.util

# extra -> the modules it brings that CodeMem imports, and what it is for (the README's "Install" table)
EXTRAS: dict[str, tuple[tuple[str, ...], str]] = {
    "teams": (("microsoft_teams.apps", "microsoft_teams.cards"), "Microsoft Teams"),
    "postgres": (("psycopg", "procrastinate", "langgraph.checkpoint.postgres"), "PostgreSQL"),
    "otlp": (("opentelemetry.exporter.otlp.proto.http",), "OpenTelemetry export"),
    "anthropic": (("langchain_anthropic",), "Anthropic models"),
    "openai": (("langchain_openai",), "OpenAI models"),
}


class MissingExtra(ValueError):
    """A feature was asked for whose packages are not installed; the message is the pip line."""


def installed(extra: str) -> bool:
    """True when every module `extra` brings can be imported."""
    modules, _ = EXTRAS[extra]
    return all(_findable(module) for module in modules)


def missing_message(extra: str, needed_by: str) -> str:
    """The one line that says `needed_by` wants `extra` and how to install it."""
    _, purpose = EXTRAS[extra]
    return f'{needed_by} needs the {purpose} packages, which are not installed: pip install "codemem[{extra}]"'


def require(extra: str, needed_by: str) -> None:
    """Raise MissingExtra (the pip line) unless `extra` is installed; `needed_by` names the setting or command."""
    if not installed(extra):
        raise MissingExtra(missing_message(extra, needed_by))


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:   # a parent package is missing
        return False
