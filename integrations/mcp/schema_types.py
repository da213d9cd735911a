"""An MCP tool's JSON Schemas as Python types: a signature, pydantic models, and argument validation.

`tool_types(function_name, input_schema, output_schema)` turns a tool's schemas (JSON Schema 2020-12;
draft-07 schemas read the same way) into an `async def` signature and pydantic models that the registry
renders for the model and the sandbox (`integrations.type_source`), exactly like the native tools' types.
`validate_arguments` checks a call against the server's own schema, not against these types, and
`validate_result` a structured result against the server's output schema.

What becomes what:
- objects with `properties` -> models (rendered as @dataclass classes); `additionalProperties: X` maps ->
  `dict[str, X]`; objects with neither -> `dict[str, Any]`; an empty or absent schema -> `Any`;
- `enum` / `const` of strings, integers, booleans (and null) -> `Literal[...]`;
- `anyOf` / `oneOf` -> unions; `type: [X, "null"]` -> `X | None`; `allOf` of objects -> one merged model;
- `$ref` to the same document (`#/$defs/...`, `#/definitions/...`, `#`), recursive ones included;
- string formats `date-time` -> `datetime` and `date` -> `date` (the sandbox parses them with
  `fromisoformat`, which reads what servers send: `Z`, offsets, any fraction; only the rare lowercase `t`/`z`
  and leap seconds fail, and then the call says so). Other formats (email, uri, uuid, ...) stay `str`.
  A `datetime` sent as an argument must carry a time zone: RFC 3339 requires one, and the check says so;
- `integer` -> `int`; `number` -> `int | float` (ints stay ints: servers use "number" for ids); `boolean` -> `bool`;
- no output schema -> `dict[str, Any] | str`: the structured content, or the text content when there is none.
What cannot be typed (`patternProperties`, tuples via `prefixItems`, `not`, refs to other documents, `allOf`
that is not a merge of objects, enums of other values) becomes `Any` / `dict[str, Any]` and a note: the notes
go into the function's docstring. Validation still applies the whole schema.

Names. Models are named from their `title`, else from their `$defs` key, else from the function and the
property path (`tickets__create_ticket` + `assignee` -> `TicketsCreateTicketAssignee`; array items add `Item`,
map values `Value`, union branches their tag's value (`"type": {"const": "text"}` -> `Text`) or `Option1`...;
the result is `...Result`), in PascalCase. A `ModelNames`
shared by every tool of a catalogue keeps one name for one type: the same name with the same schema is the
same class, a different schema under a taken name gets the function's name in front (`GithubGetIssueIssue`).
Property names that are not Python names get one: characters other than letters, digits and `_` become `_`
(`user-id` -> `user_id`), a leading digit gets `field_` in front; names that are keywords, start with `_`,
are attributes of pydantic models (`schema`, `json`, `copy`, ...) or, inside a class, names the types source
uses (`date`, `str`, `list`, ...) get a `_` at the end (`from` -> `from_`, `_links` -> `links_`). Each renamed
field keeps the server's name as its alias; `McpToolTypes.python_to_wire` and `wire_to_python` translate.

Optional fields: a field that the schema does not require is `X | None = None` (or `X = <the schema's
default>` when that default can be written in a signature); `None` for such a field means "leave it out",
so `python_to_wire` drops it. A required field that allows null is `X | None` with no default and sends null.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import keyword
import math
import re
import threading
import types
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable, Literal, Union, get_args, get_origin

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.validators import validator_for
from pydantic import BaseModel, ConfigDict, Field, create_model
from referencing.exceptions import Unresolvable

from integrations.errors import ToolError
from integrations.type_source import ModelCollector, annotation_source, value_source

_NO_OUTPUT_SCHEMA_NOTE = (
    "the server publishes no output schema: the result is its structured content as a dict, "
    "or its text content as a str when it gives no structure"
)
_CLASS_RESERVED = frozenset(
    {"str", "int", "float", "bool", "datetime", "date", "timedelta", "timezone", "Any", "Literal", "list", "dict",
     "dataclass", "field"}
)  # names the types source evaluates in class bodies: a field named so would hide them from later fields
_MODEL_RESERVED = frozenset({"ToolError", "Optional", "Union", "BaseModel"})
_DOCUMENT_KEYS = ("$defs", "definitions", "$schema", "$id")
_LITERAL_TYPES = (str, int, bool, type(None))
_DESCRIPTION_LIMIT = 300
_SHOWN_LIMIT = 40
_PROBLEMS_LIMIT = 10
_PYTHON_TYPE_WORDS = {
    "string": "str", "integer": "int", "number": "a number", "boolean": "bool", "object": "a dict",
    "array": "a list", "null": "None",
}
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_FORMAT_HINTS = {
    "date-time": " (RFC 3339 with a time zone, e.g. 2026-05-01T09:00:00Z; a datetime needs tzinfo)",
    "date": " (YYYY-MM-DD)",
}


@dataclass(frozen=True)
class McpToolTypes:
    """The Python face of one MCP tool: what the model reads and the sandbox defines."""

    signature: str  # "async def tickets__create_ticket(title: str, priority: Literal['low', 'high'] = 'low') -> ..."
    models: tuple[type[BaseModel], ...]  # every object type used (parameters and result), dependencies first
    arguments: type[BaseModel]  # the parameters as a model (python names, aliases = the server's names)
    result: Any  # the return annotation (a model, list[...], dict[str, Any] | str, ...)
    notes: tuple[str, ...]  # what could not be typed, said plainly (goes into the docstring)

    def python_to_wire(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The JSON arguments of a stub call (python names, None for "left out") as the server names them."""
        return _to_wire(arguments, self.arguments)

    def wire_to_python(self, result: Any) -> Any:
        """A structured result with the server's keys renamed to the python names of `result`'s models."""
        return _to_python(result, self.result)


class ModelNames:
    """The model names of one catalogue: one name, one type. Share one among all the tools loaded together.

    It also keeps the types of each tool typed so far, so that typing an unchanged tool again (a refreshed
    `tools/list`) costs a lookup.
    """

    def __init__(self) -> None:
        self._models: dict[str, tuple[str, type[BaseModel] | None]] = {}
        self._tools: dict[str, McpToolTypes] = {}
        self._lock = threading.Lock()

    def reserve(self, wanted: str, qualifier: str, fingerprint: str) -> tuple[str, type[BaseModel] | None]:
        """A name for a model with this `fingerprint`, and the model already made under it, if any."""
        with self._lock:
            candidates = [wanted] if wanted.startswith(qualifier) else [wanted, qualifier + wanted]
            candidates += (f"{candidates[-1]}{n}" for n in range(2, 1000))
            for name in candidates:
                taken = self._models.get(name)
                if taken is None:
                    self._models[name] = (fingerprint, None)
                    return name, None
                if taken[0] == fingerprint:
                    return name, taken[1]
            raise ValueError(f"too many different models named {wanted!r}")

    def store(self, name: str, model: type[BaseModel]) -> None:
        """Record the model made under a reserved name."""
        with self._lock:
            self._models[name] = (self._models[name][0], model)

    def typed(self, key: str) -> McpToolTypes | None:
        """The types of a tool typed before, by `_tool_key`."""
        return self._tools.get(key)

    def remember(self, key: str, types: McpToolTypes) -> None:
        with self._lock:
            self._tools[key] = types


_SHARED_NAMES = ModelNames()


def tool_types(
    function_name: str,
    input_schema: dict,
    output_schema: dict | None,
    *,
    names: ModelNames | None = None,
) -> McpToolTypes:
    """The signature, models and notes for a tool; never fails on a schema (what it cannot type, it notes).

    `names` defaults to one process-wide `ModelNames`, so that tools loaded together never share a type name.
    """
    if not function_name.isidentifier() or keyword.iskeyword(function_name):
        raise ValueError(f"{function_name!r} is not a Python function name")
    names = names or _SHARED_NAMES
    key = hashlib.sha256(_canonical([function_name, input_schema, output_schema]).encode()).hexdigest()
    known = names.typed(key)
    if known is not None:
        return known
    typer = _Typer(function_name, names)
    parameters = typer.parameters(input_schema if isinstance(input_schema, dict) else {})
    if output_schema is None:
        result: Any = dict[str, Any] | str
        typer.notes.append(_NO_OUTPUT_SCHEMA_NOTE)
    else:
        result = typer.result(output_schema)
    arguments = create_model(  # type: ignore[call-overload]
        f"{function_name}_arguments",
        __config__=_model_config(),
        **{p.name: (p.annotation, p.field) for p in parameters},
    )
    typer.finish([arguments])
    collector = ModelCollector()
    rendered = []
    for parameter in parameters:
        text = f"{parameter.name}: {annotation_source(parameter.annotation, collector)}"
        if not parameter.field.is_required():
            text += f" = {value_source(parameter.field.default)}"
        rendered.append(text)
    returns = annotation_source(result, collector)
    typer.note_renames()
    types = McpToolTypes(
        signature=f"async def {function_name}({', '.join(rendered)}) -> {returns}",
        models=tuple(collector.models),
        arguments=arguments,
        result=result,
        notes=tuple(dict.fromkeys(typer.notes)),
    )
    names.remember(key, types)
    return types


# ---------------------------------------------------------------- schemas -> annotations


class _Step(str):
    """A step of a schema path that is no property (array items, map values, union branches, the result):
    it names models (`...Item`) but not places in notes."""

    ITEM: _Step
    VALUE: _Step
    RESULT: _Step


_Step.ITEM, _Step.VALUE, _Step.RESULT = _Step("Item"), _Step("Value"), _Step("Result")


@dataclass(frozen=True)
class _Parameter:
    name: str
    annotation: Any
    field: Any  # pydantic FieldInfo


class _Typer:
    """Turns the schemas of one tool into annotations, making its models and collecting its notes."""

    def __init__(self, function_name: str, names: ModelNames) -> None:
        self.qualifier = _pascal(function_name)
        self.names = names
        self.notes: list[str] = []
        self._renames: dict[str, str] = {}
        self._made: dict[str, type[BaseModel]] = {}
        self._building: set[str] = set()
        self._forward_references = False
        self._root: dict = {}
        self._where = ("", "")  # how notes name a place in this document, and the document itself
        self._refs: dict[str, Any] = {}
        self._pending_refs: dict[str, Any] = {}  # refs being typed: the name of their model (or Any)

    # -- documents

    def parameters(self, schema: dict) -> list[_Parameter]:
        """The parameters for an input schema's properties: required ones first, in the schema's order."""
        self._start(schema, ("argument", "the arguments"))
        schema = self._object_view(schema)
        fields = self._fields(schema, (), in_class=False)
        parameters = [_Parameter(name, annotation, info) for name, (annotation, info) in fields.items()]
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra or schema.get("patternProperties"):
            self.notes.append("arguments beyond the named parameters, which the server also accepts, cannot be passed")
        return sorted(parameters, key=lambda p: not p.field.is_required())

    def result(self, schema: Any) -> Any:
        """The annotation of an output schema."""
        path = (_Step.RESULT,)
        self._start(schema if isinstance(schema, dict) else {}, ("result field", "the result"))
        if _object_like(schema) and not _is_union(schema):
            return self._reference("#", path)  # so that a `$ref: "#"` inside is the same model
        return self.annotation(schema, path)

    def finish(self, extra_models: Iterable[type[BaseModel]]) -> None:
        """Resolve the forward references of recursive models, now that every model exists."""
        if not self._forward_references:
            return
        namespace = dict(self._made)
        for model in [*self._made.values(), *extra_models]:
            model.model_rebuild(force=True, _types_namespace=namespace)

    def note_renames(self) -> None:
        if self._renames:
            pairs = ", ".join(f"{python} = {wire!r}" for python, wire in self._renames.items())
            self.notes.append(f"names changed to be Python names (python = server's name): {pairs}")

    def _start(self, root: dict, where: tuple[str, str]) -> None:
        self._root, self._where = root, where
        self._refs, self._pending_refs = {}, {}

    # -- annotations

    def annotation(self, schema: Any, path: tuple[str, ...]) -> Any:
        """The Python annotation for `schema`; `path` names the place (for model names and notes)."""
        if schema is True or schema is None or schema == {}:
            return Any
        if not isinstance(schema, dict):
            self._note(path, "its schema accepts nothing" if schema is False else "its schema is not an object")
            return Any
        if "$ref" in schema:
            return self._reference(schema["$ref"], path)
        if "const" in schema:
            return self._literal([schema["const"]], schema, path)
        if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
            return self._literal(schema["enum"], schema, path)
        for combinator in ("anyOf", "oneOf"):
            branches = schema.get(combinator)
            if isinstance(branches, list) and branches and not all(_constraint_only(b) for b in branches):
                return self._union([self.annotation(_with_base(schema, b, combinator), (*path, *self._branch_step(b, i)))
                                    for i, b in enumerate(branches, 1)])
        if isinstance(schema.get("allOf"), list):
            return self._all_of(schema, path)
        if "not" in schema:
            self._note(path, "its `not` condition is checked only when called")
        kind = schema.get("type")
        if isinstance(kind, list):
            options = [self._typed(schema, k, path) for k in kind if k != "null"]
            return self._union(options + [type(None)]) if "null" in kind else self._union(options or [Any])
        return self._typed(schema, kind, path)

    def _branch_step(self, branch: Any, index: int) -> tuple[_Step, ...]:
        """How a union branch adds to the names of its models: by the value of its tag (a property with a
        `const` string, `"type": {"const": "text"}` -> `Text`), else by its place (`Option2`); a branch that is
        no object adds nothing (its own items or values name themselves)."""
        resolved = self._resolved(branch)
        if isinstance(resolved, dict):
            for prop in (resolved.get("properties") or {}).values():
                if isinstance(prop, dict) and isinstance(prop.get("const"), str) and prop["const"].strip():
                    return (_Step(_pascal(prop["const"])),)
            if not _object_like(resolved):
                return ()
        return (_Step(f"Option{index}"),)

    def _typed(self, schema: dict, kind: Any, path: tuple[str, ...]) -> Any:
        if kind is None:
            if "properties" in schema or "additionalProperties" in schema:
                kind = "object"
            elif "items" in schema or "prefixItems" in schema:
                kind = "array"
            else:
                return Any
        if kind == "string":
            return {"date-time": datetime, "date": date}.get(schema.get("format"), str)
        if kind == "integer":
            return int
        if kind == "number":
            return int | float
        if kind == "boolean":
            return bool
        if kind == "null":
            return type(None)
        if kind == "array":
            return self._array(schema, path)
        if kind == "object":
            return self._object(schema, path)
        self._note(path, f"its type {kind!r} is not a JSON Schema type")
        return Any

    def _array(self, schema: dict, path: tuple[str, ...]) -> Any:
        items = schema.get("items")
        if "prefixItems" in schema or isinstance(items, list):
            self._note(path, "it is a tuple (items by position), typed as list[Any]")
            return list[Any]
        return list[self.annotation(items, (*path, _Step.ITEM))]  # type: ignore[misc]

    def _object(self, schema: dict, path: tuple[str, ...]) -> Any:
        properties = schema.get("properties")
        if isinstance(properties, dict) and properties or _required(schema):
            return self._model(schema, path)
        if schema.get("patternProperties"):
            self._note(path, "its keys follow patterns (patternProperties), typed as dict[str, Any]")
            return dict[str, Any]
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return dict[str, self.annotation(extra, (*path, _Step.VALUE))]  # type: ignore[misc]
        return dict[str, Any]

    def _literal(self, values: list, schema: dict, path: tuple[str, ...]) -> Any:
        if all(isinstance(v, _LITERAL_TYPES) and not isinstance(v, float) for v in values):
            present = [v for v in dict.fromkeys(values) if v is not None]
            options: list[Any] = [Literal[tuple(present)]] if present else []  # type: ignore[misc]
            if None in values:
                options.append(type(None))
            return self._union(options)
        self._note(path, f"its allowed values ({_short(values)}) cannot be a Literal; checked when called")
        kind = schema.get("type")
        return self._typed({k: v for k, v in schema.items() if k not in ("enum", "const")}, kind if isinstance(kind, str) else None, path)

    def _union(self, options: list[Any]) -> Any:
        flat: list[Any] = []
        for option in options:
            parts = get_args(option) if get_origin(option) in (Union, types.UnionType) else (option,)
            flat += [p for p in parts if p not in flat]
        if Any in flat or not flat:
            return Any
        if len(flat) == 1:
            return flat[0]
        return Union[tuple(flat)]  # type: ignore[return-value]

    def _all_of(self, schema: dict, path: tuple[str, ...]) -> Any:
        merged = self._merged_all_of(schema)
        if merged is None:
            self._note(path, "it combines schemas (allOf) in a way that is not a merge of objects, typed as Any")
            return Any
        return self.annotation(merged, path)

    def _merged_all_of(self, schema: dict) -> dict | None:
        """`allOf` members merged into one schema (each member resolved), or None when they are not all objects."""
        parts = [{k: v for k, v in schema.items() if k != "allOf" and k not in _DOCUMENT_KEYS}]
        for member in schema["allOf"]:
            member = self._resolved(member)
            if not isinstance(member, dict):
                return None
            if "allOf" in member:
                member = self._merged_all_of(member)
                if member is None:
                    return None
            parts.append(member)
        if len(parts) == 2 and not _object_like(parts[0]):
            return {**parts[1], **{k: v for k, v in parts[0].items() if k in ("description", "title", "default")}}
        if not all(_object_like(p) or set(p) <= {"description", "title", "default", "type"} for p in parts):
            return None
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in parts:
            merged["properties"].update(part.get("properties") or {})
            merged["required"] += [r for r in _required(part) if r not in merged["required"]]
            for key in ("title", "description", "additionalProperties"):
                if key in part:
                    merged[key] = part[key]
        return merged

    # -- references

    def _reference(self, ref: Any, path: tuple[str, ...]) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            self._note(path, f"it refers to another document ({_short(ref)}), typed as Any")
            return Any
        if ref in self._refs:
            return self._refs[ref]
        if ref in self._pending_refs:
            self._forward_references = True
            return self._pending_refs[ref]  # a recursive reference: the model's name, resolved by finish()
        target = self._pointer(ref)
        if target is None:
            self._note(path, f"its reference {ref!r} points nowhere, typed as Any")
            return Any
        key = ref.rstrip("/").rsplit("/", 1)[-1] if ref not in ("#", "#/") else ""
        ref_path = (key,) if key and _object_like(target) and not target.get("title") else path
        if _object_like(target) and ("properties" in target or _required(target)):
            annotation = self._model(target, ref_path, pointer=ref, named_by_key=bool(key))
        else:
            self._pending_refs[ref] = Any  # a type that contains itself but is no object: not typeable
            annotation = self.annotation(target, ref_path)
        self._pending_refs.pop(ref, None)
        self._refs[ref] = annotation
        return annotation

    def _pointer(self, ref: str) -> Any:
        node: Any = self._root
        for part in ref[1:].split("/")[1:] if ref not in ("#", "#/") else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def _resolved(self, schema: Any) -> Any:
        seen = set()
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"] not in seen:
            seen.add(schema["$ref"])
            schema = self._pointer(schema["$ref"]) if schema["$ref"].startswith("#") else None
        return schema

    # -- models

    def _object_view(self, schema: dict) -> dict:
        """An input root as one object schema: refs resolved, allOf merged, anyOf/oneOf branches pooled."""
        schema = self._resolved(schema) or {}
        if isinstance(schema.get("allOf"), list):
            schema = self._merged_all_of(schema) or schema
        for combinator in ("anyOf", "oneOf"):
            branches = [self._resolved(b) for b in schema.get(combinator) or []]
            if branches and all(isinstance(b, dict) for b in branches) and not all(_constraint_only(b) for b in branches):
                pooled = dict(schema.get("properties") or {})
                for branch in branches:
                    for name, value in (branch.get("properties") or {}).items():
                        pooled.setdefault(name, value)
                self.notes.append(f"the server accepts one of {len(branches)} sets of arguments ({combinator}); "
                                  "which combinations are valid is checked when called")
                schema = {**schema, "properties": pooled}
        return schema

    def _model(self, schema: dict, path: tuple[str, ...], pointer: str | None = None, *, named_by_key: bool = False) -> Any:
        title = schema.get("title")
        if isinstance(title, str) and title.strip():
            wanted = _pascal(title)
        elif named_by_key:
            wanted = _pascal(path[-1])
        else:
            wanted = self.qualifier + "".join(_pascal(p) for p in path)
        if wanted in _MODEL_RESERVED or wanted in globals() or hasattr(builtins, wanted) or keyword.iskeyword(wanted):
            wanted += "Model"
        name, existing = self.names.reserve(wanted, self.qualifier, self._fingerprint(schema))
        if existing is not None:
            self._made[name] = existing
            return existing
        if name in self._building:
            self._forward_references = True
            return name  # the same type met again inside itself (an SDK's root repeated in $defs): resolved by finish()
        if pointer is not None:
            self._pending_refs[pointer] = name
        self._building.add(name)
        fields = self._fields(schema, path, in_class=True)
        doc = _docstring(schema.get("description"))
        model = create_model(name, __config__=_model_config(), __doc__=doc or None, **fields)  # type: ignore[call-overload]
        self.names.store(name, model)
        self._made[name] = model
        self._building.discard(name)
        return model

    def _fields(self, schema: dict, path: tuple[str, ...], *, in_class: bool) -> dict[str, tuple[Any, Any]]:
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = _required(schema)
        wire_names = list(properties) + [r for r in required if r not in properties]
        fields: dict[str, tuple[Any, Any]] = {}
        for wire in wire_names:
            python = _python_name(wire, fields, in_class=in_class)
            if python != wire:
                self._renames[python] = wire
            subschema = properties.get(wire, True)
            annotation = self.annotation(subschema, (*path, wire))
            description = _description(subschema)
            alias = wire if python != wire else None
            if wire in required:
                fields[python] = (annotation, Field(alias=alias, description=description))
                continue
            default = subschema.get("default") if isinstance(subschema, dict) else None
            if default is not None and _writable(default):
                fields[python] = (annotation, Field(default, alias=alias, description=description))
            else:
                if default is not None:
                    description = f"{description or ''} (default {_short(default)})".strip()
                fields[python] = (self._union([annotation, type(None)]), Field(None, alias=alias, description=description))
        return fields

    def _fingerprint(self, schema: dict) -> str:
        """What makes two object schemas the same type: the schema (without the document's definitions, which
        SDKs repeat the root in) and, when it refers to any, the definitions it may refer to."""
        text = _canonical({k: v for k, v in schema.items() if k not in _DOCUMENT_KEYS})
        if '"$ref": "#"' in text:
            text += _canonical(self._root)
        elif '"$ref"' in text:
            text += _canonical({k: self._root.get(k) for k in _DOCUMENT_KEYS})
        return hashlib.sha256(text.encode()).hexdigest()

    def _note(self, path: tuple[str, ...], problem: str) -> None:
        place = ""
        for step in path:
            if step == _Step.ITEM:
                place += "[]"
            elif step == _Step.VALUE:
                place += "[key]"
            elif not isinstance(step, _Step):
                place += f".{step}" if place else step
        self.notes.append(f"{self._where[0]} {place!r}: {problem}" if place else f"{self._where[1]}: {problem}")


def _required(schema: dict) -> list[str]:
    required = schema.get("required")
    return [r for r in required if isinstance(r, str)] if isinstance(required, list) else []


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _model_config() -> ConfigDict:
    return ConfigDict(populate_by_name=True, protected_namespaces=())


def _constraint_only(schema: Any) -> bool:
    """True for an anyOf/oneOf branch that only constrains (e.g. `{"required": ["a"]}`), adding no type."""
    typing_keys = {"type", "properties", "items", "$ref", "enum", "const", "anyOf", "oneOf", "allOf", "additionalProperties"}
    return isinstance(schema, dict) and bool(schema) and not typing_keys & set(schema)


def _with_base(schema: dict, branch: Any, combinator: str) -> Any:
    """A branch of anyOf/oneOf with the keywords of the schema around it (say `type`) that the branch lacks."""
    base = {k: v for k, v in schema.items() if k not in (combinator, "description", "title", "default")}
    if not base or not isinstance(branch, dict) or "$ref" in branch:
        return branch
    return {**base, **branch}


def _is_union(schema: dict) -> bool:
    kind = schema.get("type")
    return isinstance(kind, list) and len(kind) > 1 or any(k in schema for k in ("anyOf", "oneOf", "allOf", "$ref"))


def _object_like(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in schema


def _writable(value: Any) -> bool:
    """True for a default that can be written in a signature (`inf` and `nan` cannot)."""
    return isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value))


def _pascal(text: str) -> str:
    words = re.split(r"[^0-9A-Za-z]+", text)
    name = "".join(w[0].upper() + w[1:] for w in words if w)
    if not name:
        return "Model"
    return "T" + name if name[0].isdigit() else name


def _python_name(wire: str, taken: dict, *, in_class: bool) -> str:
    """A Python name for a property (see the module docstring), not yet in `taken`."""
    name = re.sub(r"\W", "_", wire, flags=re.ASCII).lstrip("_") or "field"
    if name[0].isdigit():
        name = "field_" + name
    if (keyword.iskeyword(name) or wire.startswith("_") or hasattr(BaseModel, name)
            or (in_class and name in _CLASS_RESERVED)):
        name += "_"
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}_{number}", number + 1
    return candidate


def _description(schema: Any) -> str | None:
    """A schema's description on one line, shortened: it is written as a `#` comment after a field."""
    if not isinstance(schema, dict) or not isinstance(schema.get("description"), str):
        return None
    text = " ".join(schema["description"].split())
    if len(text) > _DESCRIPTION_LIMIT:
        text = text[: _DESCRIPTION_LIMIT - 3] + "..."
    return text or None


def _docstring(text: Any) -> str:
    """A description made safe to write inside a triple-quoted docstring."""
    if not isinstance(text, str):
        return ""
    return text.strip().replace("\\", "\\\\").replace('"', '\\"')


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= _SHOWN_LIMIT else shown[: _SHOWN_LIMIT - 3] + "..."


# ---------------------------------------------------------------- python names <-> the server's names


def _to_wire(value: Any, annotation: Any) -> Any:
    if isinstance(value, dict):
        model = _model_for(value, annotation, by_alias=False)
        if model is not None:
            wired = {}
            for key, item in value.items():
                field = model.model_fields.get(key)
                if field is None:
                    wired[key] = item
                elif item is not None or field.is_required():
                    wired[field.alias or key] = _to_wire(item, field.annotation)
            return wired
        return {key: _to_wire(item, _mapping_value(annotation)) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_wire(item, _list_item(annotation)) for item in value]
    return value


def _to_python(value: Any, annotation: Any) -> Any:
    if isinstance(value, dict):
        model = _model_for(value, annotation, by_alias=True)
        if model is not None:
            by_wire = {field.alias or name: (name, field) for name, field in model.model_fields.items()}
            renamed = {}
            for key, item in value.items():
                name, field = by_wire.get(key, (key, None))
                renamed[name] = _to_python(item, field.annotation) if field is not None else item
            return renamed
        return {key: _to_python(item, _mapping_value(annotation)) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_python(item, _list_item(annotation)) for item in value]
    return value


def _options(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _model_for(value: dict, annotation: Any, *, by_alias: bool) -> type[BaseModel] | None:
    """The model among `annotation`'s options that `value`'s keys fit best (all of them, else the most)."""
    best, best_overlap = None, 0
    for option in _options(annotation):
        if isinstance(option, type) and issubclass(option, BaseModel):
            keys = {(f.alias or n) if by_alias else n for n, f in option.model_fields.items()}
            overlap = len(keys & value.keys())
            if overlap == len(value):
                return option
            if overlap > best_overlap:
                best, best_overlap = option, overlap
    return best


def _list_item(annotation: Any) -> Any:
    for option in _options(annotation):
        if get_origin(option) is list:
            return get_args(option)[0]
    return Any


def _mapping_value(annotation: Any) -> Any:
    for option in _options(annotation):
        if get_origin(option) is dict:
            return get_args(option)[1]
    return Any


# ---------------------------------------------------------------- validation


_validators: dict[tuple[str, str], tuple[dict, Any]] = {}


def validate_arguments(function_name: str, input_schema: dict, arguments: dict) -> None:
    """Raise ToolError naming each wrong field and what is wrong with it, or return when the call is valid.

    Checks `arguments` (the server's names, as `python_to_wire` gives them) against the server's exact
    schema, formats included; the validator is compiled once per tool and schema.
    """
    if not isinstance(arguments, dict):
        raise ToolError(f"{function_name}: arguments must be given by name, got {type(arguments).__name__}")
    shown = _check(function_name, "input", input_schema, arguments, ("argument", "arguments"))
    if shown:
        raise ToolError(f"{function_name}: {shown}")


def validate_result(function_name: str, output_schema: dict, structured: Any) -> None:
    """Raise ToolError when a server's structured result does not match its own output schema (the MCP spec
    asks clients to check), naming each wrong field; return when it matches."""
    shown = _check(function_name, "output", output_schema, structured, ("result field", "the result"))
    if shown:
        raise ToolError(f"{function_name}: the server's result does not match its output schema: {shown}; "
                        "the server is at fault, retrying will not help")


def _check(function_name: str, which: str, schema: dict, instance: Any, place: tuple[str, str]) -> str:
    """What is wrong with `instance` under `schema`, one problem per field in path order ("" when nothing)."""
    validator = _validator(function_name, which, schema)
    try:
        errors = list(validator.iter_errors(instance))
    except Unresolvable as error:
        raise ToolError(f"{function_name}: the server's {which} schema refers to {error.ref!r}, which cannot be "
                        "resolved here; the tool cannot be called until the server fixes its schema") from None
    problems = sorted({problem for error in errors for problem in _problems(error)})
    shown = [f"{place[0]} {path!r}: {message}" if path else f"{place[1]}: {message}" for path, message in problems]
    if len(shown) > _PROBLEMS_LIMIT:
        shown = shown[:_PROBLEMS_LIMIT] + [f"and {len(shown) - _PROBLEMS_LIMIT} more"]
    return "; ".join(shown)


def _validator(function_name: str, which: str, schema: dict) -> Any:
    cached = _validators.get((function_name, which))
    if cached is not None and (cached[0] is schema or cached[0] == schema):
        return cached[1]
    if not isinstance(schema, dict):
        raise ToolError(f"{function_name}: the server's {which} schema is not a JSON object; the tool cannot be called")
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as error:
        raise ToolError(f"{function_name}: the server's {which} schema is not valid JSON Schema "
                        f"({_clip(error.message)}); the tool cannot be called until the server fixes it") from None
    validator = cls(schema, format_checker=_format_checker())
    _validators[(function_name, which)] = (schema, validator)
    return validator


def _format_checker() -> FormatChecker:
    """jsonschema's format checks, with `date-time` checked too (jsonschema leaves it to an optional package)."""
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _RFC3339.match(value):
            return False
        datetime.fromisoformat(value.upper().replace(":60", ":59"))
        return True

    return checker


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    """(the JSON path of the field, what is wrong) for one validation error."""
    path = list(error.absolute_path)
    kind, expected, got = error.validator, error.validator_value, error.instance
    if kind == "required" and isinstance(got, dict):
        return [(_json_path([*path, name]), "missing (required)") for name in expected if name not in got]
    if kind in ("additionalProperties", "unevaluatedProperties") and isinstance(got, dict) and expected is False:
        known = error.schema.get("properties") or {}
        patterns = error.schema.get("patternProperties") or {}
        extras = [k for k in got if k not in known and not any(re.search(p, k) for p in patterns)]
        accepted = f" (accepted: {', '.join(sorted(known))})" if known else ""
        return [(_json_path([*path, k]), f"not accepted{accepted}") for k in extras] or [(_json_path(path), _clip(error.message))]
    if kind == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        words = " or ".join(_PYTHON_TYPE_WORDS.get(k, str(k)) for k in kinds)
        return [(_json_path(path), f"expected {words}, got {_short(got)}")]
    if kind == "enum":
        return [(_json_path(path), f"{_short(got)} is not one of {', '.join(_short(v) for v in expected)}")]
    if kind == "const":
        return [(_json_path(path), f"expected {_short(expected)}, got {_short(got)}")]
    if kind == "format":
        return [(_json_path(path), f"{_short(got)} is not a valid {expected}{_FORMAT_HINTS.get(expected, '')}")]
    if kind in ("anyOf", "oneOf") and error.context:
        return [problem for e in _closest_branch(error) for problem in _problems(e)]
    if kind == "oneOf":
        return [(_json_path(path), "matches more than one of the allowed shapes (oneOf): make it match exactly one")]
    return [(_json_path(path), _clip(error.message))]


def _closest_branch(error: ValidationError) -> list[ValidationError]:
    """The errors of the anyOf/oneOf branch that came closest: the value was of its kind (no type, const or enum
    mismatch on the value itself, then on its fields), with the fewest problems."""
    depth = len(error.absolute_path)
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(sub.relative_schema_path[0] if sub.relative_schema_path else None, []).append(sub)

    def distance(errors: list[ValidationError]) -> tuple[int, int, int]:
        kind_errors = [e for e in errors if e.validator in ("type", "const", "enum")]
        return (sum(len(e.absolute_path) == depth for e in kind_errors),
                sum(len(e.absolute_path) == depth + 1 for e in kind_errors), len(errors))

    return min(branches.values(), key=distance) if branches else [best_match([error])]


def _json_path(parts: list) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
