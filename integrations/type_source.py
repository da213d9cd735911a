"""Render tool types as Python source that a sandbox can exec: annotations and @dataclass classes.

Allowed: str, int, float, bool, datetime, date, Any, `X | None`, `list[X]`, `dict[str, X]`,
`Literal[...]` and pydantic models built from those (rendered as @dataclass classes), also models that
refer to themselves or to each other (a field that names a class defined later is written as a string
annotation in parentheses, `'(list[Node] | None)'`: a string that starts with a name makes `dataclasses` look
the class's module up in `sys.modules`, where the sandbox's types module is not yet when they are defined). The source assumes `dataclass`, `field`, `datetime`, `date`, `Any` and `Literal` are
already imported.
"""

from __future__ import annotations

import json
import types
from datetime import date, datetime
from inspect import isclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

_SIMPLE_TYPES: tuple[type, ...] = (str, int, float, bool, datetime, date)


class ModelCollector:
    """Pydantic models met while rendering annotations, in an order where each comes after the models it uses."""

    def __init__(self) -> None:
        self.models: list[type[BaseModel]] = []
        self._visiting: set[type[BaseModel]] = set()

    def add(self, model: type[BaseModel]) -> None:
        if model in self.models or model in self._visiting:
            return  # known, or a model that refers back to one being added (recursive types)
        self._visiting.add(model)
        for field in model.model_fields.values():
            annotation_source(field.annotation, self)
        self._visiting.discard(model)
        self.models.append(model)


def annotation_source(annotation: Any, collector: ModelCollector) -> str:
    """Python source for a type annotation; TypeError if the sandbox cannot represent it."""
    if annotation is None or annotation is type(None):
        return "None"
    if annotation is Any:
        return "Any"
    origin = get_origin(annotation)
    arguments = get_args(annotation)
    if origin in (Union, types.UnionType):
        return " | ".join(annotation_source(a, collector) for a in arguments)
    if origin is list and len(arguments) == 1:
        return f"list[{annotation_source(arguments[0], collector)}]"
    if origin is dict and len(arguments) == 2 and arguments[0] is str:
        return f"dict[str, {annotation_source(arguments[1], collector)}]"
    if origin is Literal:
        return f"Literal[{', '.join(value_source(v) for v in arguments)}]"
    if annotation in _SIMPLE_TYPES:
        return annotation.__name__
    if isclass(annotation) and issubclass(annotation, BaseModel):
        collector.add(annotation)
        return annotation.__name__
    raise TypeError(
        f"type {annotation!r} cannot be described to the sandbox: use str, int, float, bool, datetime, date, "
        "X | None, list[X], dict[str, X], Literal[...] or a pydantic model of those"
    )


def value_source(value: Any) -> str:
    """Python source for a default or Literal value (None, bool, int, float or str)."""
    if isinstance(value, str):
        return json.dumps(value)
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    raise TypeError(f"value {value!r} cannot be written in a signature: use None, a bool, a number or a string")


def dataclasses_source(models: list[type[BaseModel]]) -> str:
    """@dataclass classes mirroring `models` (in the given order), with docstrings and field descriptions."""
    blocks = []
    defined: set[type[BaseModel]] = set()
    for model in models:
        lines = ["@dataclass", f"class {model.__name__}:"]
        doc = (model.__doc__ or "").strip()
        if doc:
            lines.append(f'    """{doc}"""')
        fields = sorted(model.model_fields.items(), key=lambda item: not item[1].is_required())
        for name, field in fields:
            used = ModelCollector()
            annotation = annotation_source(field.annotation, used)
            if any(m not in defined for m in used.models):  # this class itself, or one defined later
                annotation = repr(f"({annotation})")  # in parentheses: see the module docstring
            line = f"    {name}: {annotation}"
            if not field.is_required():
                if field.default_factory is not None:
                    line += f" = field(default_factory={field.default_factory.__name__})"
                else:
                    line += f" = {value_source(field.default)}"
            if field.description:
                line += f"  # {field.description}"
            lines.append(line)
        if len(lines) == 2:
            lines.append("    pass")
        blocks.append("\n".join(lines))
        defined.add(model)
    return "\n\n\n".join(blocks) + ("\n" if blocks else "")
