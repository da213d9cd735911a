"""TEMP stub of the mcp-types helper's module (dropped at merge): simple JSON Schemas to Python types.

Handles objects of strings, integers, numbers, booleans, enums, arrays of those and optional fields;
`$ref` to `$defs` objects become models. Everything else is `Any`.
"""

from __future__ import annotations

import json
import keyword
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, create_model

from integrations.errors import ToolError
from integrations.type_source import ModelCollector, annotation_source, value_source


@dataclass(frozen=True)
class McpToolTypes:
    """A tool's Python face: its signature, the models it uses, a model of its parameters, its result type."""

    signature: str
    models: tuple[type[BaseModel], ...]
    arguments: type[BaseModel]
    result: Any
    notes: tuple[str, ...]
    wire_names: tuple[tuple[str, str], ...] = ()

    def python_to_wire(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Arguments keyed by the server's names (a Python keyword `from` is the parameter `from_`)."""
        names = dict(self.wire_names)
        return {names.get(k, k): v for k, v in arguments.items()}


def _python_name(name: str) -> str:
    return name + "_" if keyword.iskeyword(name) else name


def _annotation(schema: dict[str, Any], defs: dict[str, Any], models: dict[str, type[BaseModel]]) -> Any:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in models:
            models[name] = _model(name, defs.get(name, {}), defs, models)
        return models[name]
    if "enum" in schema:
        return Literal[tuple(schema["enum"])]
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        inner = _annotation(options[0], defs, models) if len(options) == 1 else Any
        return inner | None if len(options) < len(schema["anyOf"]) else inner
    kind = schema.get("type")
    if kind == "array":
        return list[_annotation(schema.get("items", {}), defs, models)]
    if kind == "object" and "properties" in schema:
        return _model(schema.get("title", "Object").replace(" ", ""), schema, defs, models)
    if kind == "object":
        return dict[str, Any]
    return {"string": str, "integer": int, "number": float, "boolean": bool}.get(kind, Any)


def _model(name: str, schema: dict[str, Any], defs: dict[str, Any], models: dict[str, type[BaseModel]]) -> type[BaseModel]:
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {}
    for prop, sub in schema.get("properties", {}).items():
        annotation = _annotation(sub, defs, models)
        if prop in required:
            fields[_python_name(prop)] = (annotation, Field(..., alias=prop))
        else:
            fields[_python_name(prop)] = (annotation | None, Field(sub.get("default"), alias=prop))
    model = create_model(name, __config__=ConfigDict(populate_by_name=True), **fields)
    if schema.get("description"):
        model.__doc__ = schema["description"]
    return model


def tool_types(function_name: str, input_schema: dict[str, Any], output_schema: dict[str, Any] | None) -> McpToolTypes:
    """The Python types of a tool with these schemas."""
    models: dict[str, type[BaseModel]] = {}
    arguments = _model(f"{function_name}_arguments", input_schema, input_schema.get("$defs", {}), models)
    collector = ModelCollector()
    rendered, wire = [], []
    for python, field in sorted(arguments.model_fields.items(), key=lambda item: not item[1].is_required()):
        text = f"{python}: {annotation_source(field.annotation, collector)}"
        if not field.is_required():
            text += f" = {value_source(field.default)}"
        rendered.append(text)
        if field.alias and field.alias != python:
            wire.append((python, field.alias))
    notes: list[str] = []
    if output_schema is None:
        result: Any = dict[str, Any]
        notes.append("The server gives no output schema: the result is its structured content, or its text.")
    else:
        properties = output_schema.get("properties", {})
        defs = output_schema.get("$defs", {})
        if set(properties) == {"result"} and output_schema.get("required") == ["result"]:
            result = _annotation(properties["result"], defs, models)
        else:
            result = _annotation({**output_schema, "type": "object"}, defs, models)
    returns = annotation_source(result, collector)
    return McpToolTypes(f"async def {function_name}({', '.join(rendered)}) -> {returns}", tuple(collector.models),
                        arguments, result, tuple(notes), tuple(wire))


_VALIDATORS: dict[tuple[str, str], jsonschema.Draft202012Validator] = {}


def validate_arguments(function_name: str, input_schema: dict[str, Any], arguments: dict[str, Any]) -> None:
    """ToolError naming the field when `arguments` do not fit the schema."""
    key = (function_name, json.dumps(input_schema, sort_keys=True))
    validator = _VALIDATORS.get(key)
    if validator is None:
        validator = _VALIDATORS[key] = jsonschema.Draft202012Validator(input_schema)
    problems = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))
    if problems:
        text = "; ".join(f"argument {'.'.join(str(p) for p in e.path) or 'arguments'!r}: {e.message}" for e in problems)
        raise ToolError(f"{function_name}: {text}")
