"""A skill's typed parameters: read from its ``async def run(...)``, then filled from ``key=value`` text."""

from __future__ import annotations

import ast
import difflib
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

# Annotation text -> the Python type used to validate values of that parameter.
SUPPORTED_TYPES: dict[str, Any] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "date": date,
    "datetime": datetime,
    "list[str]": list[str],
    "list[int]": list[int],
}

# How each type is described to a user ("days_back must be a whole number").
TYPE_LABELS: dict[str, str] = {
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "bool": "yes or no (true/false)",
    "date": "a date like 2026-11-01",
    "datetime": "a date and time like 2026-11-01T09:30",
    "list[str]": "a list like a,b,c",
    "list[int]": "a list of whole numbers like 1,2,3",
}

OPTIONAL_SUFFIX = " | None"
NONE_WORDS = frozenset({"", "none", "null"})
# Chat clients turn straight quotes into typographic ones; shell-style parsing needs them straight.
SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2018": "'", "\u2019": "'"})
SUPPORTED_TYPES_TEXT = ", ".join(SUPPORTED_TYPES) + " (each optionally `| None`)"


class SkillCodeError(ValueError):
    """The skill's code does not have a usable ``async def run(...)``; ``.problems`` has one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class ArgumentError(ValueError):
    """Unusable arguments: ``.problems`` has one readable line each, ``.missing`` the absent required names."""

    def __init__(self, problems: list[str], missing: list[str] | None = None) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        self.missing = missing or []


@dataclass
class SkillParameter:
    """One parameter of a skill's ``run``: ``type`` is annotation text such as ``"int"`` or ``"date | None"``."""

    name: str
    type: str
    default: Any
    required: bool
    description: str = ""

    @property
    def optional(self) -> bool:
        """True when ``None`` is an accepted value (``X | None``)."""
        return self.type.endswith(OPTIONAL_SUFFIX)

    @property
    def base_type(self) -> str:
        """The type without ``| None``."""
        return self.type.removesuffix(OPTIONAL_SUFFIX)

    @property
    def label(self) -> str:
        """What a value looks like, for people: ``"a whole number"``."""
        label = TYPE_LABELS[self.base_type]
        return f"{label}, or none" if self.optional else label

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (stored in ``SkillVersion.parameters``)."""
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "required": self.required,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SkillParameter:
        """The inverse of ``to_dict``."""
        return cls(
            name=data["name"],
            type=data["type"],
            default=data.get("default"),
            required=data["required"],
            description=data.get("description", ""),
        )


# ---------------------------------------------------------------------------------------------------------
# Reading parameters from code


def extract_parameters(code: str) -> list[SkillParameter]:
    """The parameters of the one top-level ``async def run(...)`` in ``code``; ``SkillCodeError`` otherwise."""
    try:
        module = ast.parse(code)
    except SyntaxError as error:
        raise SkillCodeError(
            [f"the skill's code does not parse: {error.msg} (line {error.lineno}); fix the syntax error"]
        ) from None

    run = _find_run(module)
    arguments = run.args
    problems: list[str] = []
    if arguments.posonlyargs:
        names = ", ".join(arg.arg for arg in arguments.posonlyargs)
        problems.append(
            f"parameters {names} are positional-only (before `/`); skills are called with named "
            "arguments, so remove the `/`"
        )
    if arguments.vararg:
        problems.append(
            f"`*{arguments.vararg.arg}` is not allowed: skills are called with named arguments only; "
            "declare each parameter with its type instead"
        )
    if arguments.kwarg:
        problems.append(f"`**{arguments.kwarg.arg}` is not allowed: declare each parameter with its type instead")

    positional = arguments.posonlyargs + arguments.args
    positional_defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
    positional_defaults += list(arguments.defaults)
    declared = list(zip(positional, positional_defaults, strict=True))
    declared += zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
    descriptions = _docstring_descriptions(ast.get_docstring(run) or "")
    parameters: list[SkillParameter] = []
    for arg, default_node in declared:
        parameter = _read_parameter(arg, default_node, descriptions.get(arg.arg, ""), problems)
        if parameter is not None:
            parameters.append(parameter)
    if problems:
        raise SkillCodeError(problems)
    return parameters


def _find_run(module: ast.Module) -> ast.AsyncFunctionDef:
    async_runs = [node for node in module.body if isinstance(node, ast.AsyncFunctionDef) and node.name == "run"]
    if len(async_runs) == 1:
        return async_runs[0]
    if len(async_runs) > 1:
        lines = ", ".join(str(node.lineno) for node in async_runs)
        raise SkillCodeError([f"`async def run` is defined {len(async_runs)} times (lines {lines}); keep exactly one"])
    if any(isinstance(node, ast.FunctionDef) and node.name == "run" for node in module.body):
        raise SkillCodeError(["`run` must be a coroutine: write `async def run(...)`, not `def run(...)`"])
    raise SkillCodeError(
        [
            "no top-level `async def run(...)` found; a skill's code must define one, "
            "e.g. `async def run(days_back: int = 15) -> dict:`"
        ]
    )


def _read_parameter(
    arg: ast.arg, default_node: ast.expr | None, description: str, problems: list[str]
) -> SkillParameter | None:
    name = arg.arg
    if arg.annotation is None:
        problems.append(f"parameter '{name}' has no type annotation; annotate it, e.g. `{name}: str`")
        return None
    type_text = _annotation_type(arg.annotation)
    if type_text is None:
        problems.append(
            f"parameter '{name}' has type `{ast.unparse(arg.annotation)}`, which a skill cannot take; "
            f"use one of {SUPPORTED_TYPES_TEXT}"
        )
        return None
    if default_node is None:
        return SkillParameter(name=name, type=type_text, default=None, required=True, description=description)

    try:
        default = ast.literal_eval(default_node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        problems.append(
            f"parameter '{name}' has default `{ast.unparse(default_node)}`, which is not a literal; "
            'use a constant such as 15, "text", True, None or ["a", "b"]'
        )
        return None
    problem = _default_problem(name, type_text, default)
    if problem:
        problems.append(problem)
        return None
    return SkillParameter(name=name, type=type_text, default=default, required=False, description=description)


def _annotation_type(node: ast.expr) -> str | None:
    """Normalised annotation text (a key of SUPPORTED_TYPES, maybe with ``| None``), or None if unsupported."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a string annotation: "int"
        try:
            return _annotation_type(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        sides = [node.left, node.right]
        nones = [side for side in sides if isinstance(side, ast.Constant) and side.value is None]
        others = [side for side in sides if side not in nones]
        if len(nones) == 1 and len(others) == 1:
            inner = _annotation_type(others[0])
            if inner is not None and not inner.endswith(OPTIONAL_SUFFIX):
                return inner + OPTIONAL_SUFFIX
        return None
    if isinstance(node, ast.Subscript) and _dotted_name(node.value) in ("Optional", "typing.Optional"):
        inner = _annotation_type(node.slice)
        if inner is not None and not inner.endswith(OPTIONAL_SUFFIX):
            return inner + OPTIONAL_SUFFIX
        return None
    if isinstance(node, ast.Subscript) and _dotted_name(node.value) in ("list", "List", "typing.List"):
        element = _dotted_name(node.slice)
        text = f"list[{element}]"
        return text if text in SUPPORTED_TYPES else None
    name = _dotted_name(node)
    if name in ("datetime.date", "datetime.datetime"):
        name = name.removeprefix("datetime.")
    if name in SUPPORTED_TYPES and not name.startswith("list"):
        return name
    return None


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        prefix = _dotted_name(node.value)
        return f"{prefix}.{node.attr}" if prefix else None
    return None


def _default_problem(name: str, type_text: str, default: Any) -> str | None:
    """Why ``default`` cannot be the default of a ``type_text`` parameter, or None when it can."""
    base = type_text.removesuffix(OPTIONAL_SUFFIX)
    if default is None:
        if type_text.endswith(OPTIONAL_SUFFIX):
            return None
        return f"parameter '{name}' defaults to None but its type is `{base}`; write `{name}: {base} | None = None`"
    checks: dict[str, Callable[[Any], bool]] = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "date": lambda v: isinstance(v, str) and _parses(date, v),
        "datetime": lambda v: isinstance(v, str) and _parses(datetime, v),
        "list[str]": lambda v: isinstance(v, list) and all(isinstance(item, str) for item in v),
        "list[int]": lambda v: (
            isinstance(v, list) and all(isinstance(item, int) and not isinstance(item, bool) for item in v)
        ),
    }
    if checks[base](default):
        return None
    hint = ' (an ISO string such as "2026-11-01")' if base in ("date", "datetime") else ""
    return f"parameter '{name}' has default {default!r}, which is not {TYPE_LABELS[base]}{hint}; fix the default"


def _parses(python_type: Any, value: str) -> bool:
    try:
        _adapter(python_type).validate_python(value)
    except ValidationError:
        return False
    return True


_DOC_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params)\s*:\s*$")
_DOC_ENTRY = re.compile(r"^(\s*)(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _docstring_descriptions(docstring: str) -> dict[str, str]:
    """Parameter descriptions from a Google-style ``Args:`` section of ``run``'s docstring."""
    descriptions: dict[str, str] = {}
    lines = docstring.splitlines()
    start = next((index for index, line in enumerate(lines) if _DOC_SECTION.match(line)), None)
    if start is None:
        return descriptions
    header_indent = len(lines[start]) - len(lines[start].lstrip())
    entry_indent: int | None = None
    current: str | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= header_indent:
            break
        entry = _DOC_ENTRY.match(line)
        if entry and (entry_indent is None or indent == entry_indent):
            entry_indent = indent
            current = entry.group(2)
            descriptions[current] = entry.group(3).strip()
        elif current is not None:
            descriptions[current] = f"{descriptions[current]} {line.strip()}".strip()
    return descriptions


# ---------------------------------------------------------------------------------------------------------
# Reading and checking arguments


def parse_arguments(text: str) -> dict[str, str]:
    """``key=value`` pairs split like a shell command line (quotes group words): ``a=1 b="x y"``."""
    try:
        tokens = shlex.split(text.translate(SMART_QUOTES))
    except ValueError:
        raise ArgumentError(
            [f'unbalanced quotes in {text!r}; close every quote you open, e.g. root_folder="Email Attachments"']
        ) from None
    arguments: dict[str, str] = {}
    problems: list[str] = []
    for token in tokens:
        key, separator, value = token.partition("=")
        if not separator:
            problems.append(
                f"'{token}' is not of the form key=value; write arguments as key=value, e.g. days_back=7 "
                '(quote values with spaces: root_folder="Email Attachments")'
            )
        elif not key.isidentifier():
            problems.append(f"'{key}' in '{token}' is not a parameter name; names look like days_back")
        elif key in arguments:
            problems.append(f"{key} is given twice; give each parameter once")
        else:
            arguments[key] = value
    if problems:
        raise ArgumentError(problems)
    return arguments


def argument_text(value: Any) -> str:
    """A typed (or stored JSON) argument back as the text `coerce_arguments` reads: the way typed arguments
    travel in job payloads and run records, and come back for a retry."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):   # datetime too
        return value.isoformat()
    if isinstance(value, list):
        return json.dumps(value, default=str)
    return str(value)


def coerce_arguments(params: list[SkillParameter], raw: dict[str, str]) -> dict[str, Any]:
    """Typed values for every parameter: given ones converted, absent ones defaulted; ``ArgumentError`` otherwise."""
    by_name = {parameter.name: parameter for parameter in params}
    problems: list[str] = []
    for key in raw:
        if key not in by_name:
            problems.append(_unknown_parameter_message(key, list(by_name)))

    values: dict[str, Any] = {}
    missing: list[str] = []
    for parameter in params:
        if parameter.name in raw:
            try:
                values[parameter.name] = _convert(parameter, raw[parameter.name])
            except ValueError:
                problems.append(f"{parameter.name} must be {parameter.label}, got {raw[parameter.name]!r}")
        elif parameter.required:
            missing.append(parameter.name)
            problems.append(f"{parameter.name} is required ({parameter.label}); add {parameter.name}=...")
        else:
            values[parameter.name] = _typed_default(parameter)
    if problems:
        raise ArgumentError(problems, missing)
    return values


def _unknown_parameter_message(key: str, known: list[str]) -> str:
    if not known:
        return f"unknown parameter '{key}'; this skill takes no parameters"
    close = difflib.get_close_matches(key, known, n=1)
    suggestion = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown parameter '{key}'{suggestion}; this skill takes: {', '.join(known)}"


def _convert(parameter: SkillParameter, text: str) -> Any:
    """The value of ``text`` for ``parameter``; ValueError when it is not one."""
    if parameter.optional and text.strip().lower() in NONE_WORDS:
        return None
    base = parameter.base_type
    value: Any = text
    if base.startswith("list["):
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except json.JSONDecodeError:
                raise ValueError(text) from None
        else:
            value = [item.strip() for item in stripped.split(",") if item.strip()]
    elif base != "str":
        value = text.strip()
    try:
        return _adapter(SUPPORTED_TYPES[base]).validate_python(value)
    except ValidationError:
        raise ValueError(text) from None


def _typed_default(parameter: SkillParameter) -> Any:
    if parameter.default is None:
        return None
    # Validation builds a fresh value, so a list default is never shared between runs.
    return _adapter(SUPPORTED_TYPES[parameter.base_type]).validate_python(parameter.default)


@cache
def _adapter(python_type: Any) -> TypeAdapter[Any]:
    return TypeAdapter(python_type)
