"""Turning a trial code block into the source of a skill."""

from __future__ import annotations

import ast

_KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def defines_run(code: str) -> bool:
    """True when `code` parses and defines a top-level `async def run`."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return any(isinstance(node, ast.AsyncFunctionDef) and node.name == "run" for node in tree.body)


def skill_source(code: str) -> str:
    """Keep what defines the skill (imports, functions, classes, constants); drop the trial's calls.

    `result = await run()` and `submit(result)` belong to the trial, not to the skill: a rerun
    calls `run` itself with the user's parameters.
    """
    tree = ast.parse(code)
    kept = [node for node in tree.body if isinstance(node, _KEPT) or _is_constant(node)]
    return "\n\n".join(ast.get_source_segment(code, node) or ast.unparse(node) for node in kept) + "\n"


def _is_constant(node: ast.stmt) -> bool:
    if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
        return False
    try:
        ast.literal_eval(node.value)
    except (ValueError, TypeError, SyntaxError):
        return False
    return True
