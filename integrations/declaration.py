"""What a tool declares about itself: provider, permission scopes, effect and retry safety."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, TypeVar

Effect = Literal["read", "write", "send", "destructive"]

_ATTRIBUTE = "__codemem_tool__"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ToolDeclaration:
    """provider: e.g. "microsoft"; scopes: OAuth scopes the call needs; effect: what it changes;
    retry_safe: whether repeating the call after a failure cannot duplicate its effect."""

    provider: str
    scopes: tuple[str, ...]
    effect: Effect
    retry_safe: bool


def tool(*, provider: str, scopes: tuple[str, ...], effect: Effect, retry_safe: bool) -> Callable[[F], F]:
    """Decorator that attaches a ToolDeclaration to an async tool function."""

    def attach(fn: F) -> F:
        setattr(fn, _ATTRIBUTE, ToolDeclaration(provider, tuple(scopes), effect, retry_safe))
        return fn

    return attach


def declaration_of(fn: Callable[..., Any]) -> ToolDeclaration:
    """The declaration attached by @tool; ValueError if the function has none."""
    declaration = getattr(fn, _ATTRIBUTE, None)
    if not isinstance(declaration, ToolDeclaration):
        raise ValueError(f"{getattr(fn, '__name__', fn)!r} has no @tool(...) declaration")
    return declaration
