"""The catalogue of workspace tools: register, search (BM25), describe to the model, and call with validation."""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

from integrations.context import ToolContext, use_context
from integrations.declaration import Effect, declaration_of
from integrations.errors import ToolError
from integrations.tool_search import ToolDocument, ToolIndex
from integrations.type_source import ModelCollector, annotation_source, dataclasses_source, value_source

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolSpec:
    """A registered tool: what it is, what it needs, and how it looks to the model and the sandbox."""

    name: str
    provider: str
    scopes: tuple[str, ...]
    effect: Literal["read", "write", "send", "destructive"]
    retry_safe: bool
    summary: str
    doc: str
    signature: str
    fn: Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class DynamicTool:
    """A tool known only at run time (an MCP server's): its description, how its arguments are checked (raise a
    ToolError naming the field), and the call itself, which returns JSON-ready data."""

    name: str
    provider: str
    effect: Effect
    retry_safe: bool
    doc: str
    signature: str
    parameters: tuple[str, ...]
    models: tuple[type[BaseModel], ...]
    validate: Callable[[dict[str, Any]], None]
    call: Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class _Binding:
    spec: ToolSpec
    parameters: tuple[str, ...]
    models: tuple[type[BaseModel], ...]
    bind: Callable[[dict[str, Any]], dict[str, Any]]   # checked keyword arguments, or a ToolError
    dump: Callable[[Any], Any]                          # the result as JSON-ready data


class Registry:
    """Tools by name. Tools are typed async functions that read their clients from the ToolContext."""

    def __init__(self) -> None:
        self._bindings: dict[str, _Binding] = {}
        self._index: ToolIndex | None = None
        self._specs: list[ToolSpec] | None = None

    def register(
        self,
        fn: Callable[..., Awaitable[Any]],
        *,
        provider: str,
        scopes: tuple[str, ...] | list[str],
        effect: Effect,
        retry_safe: bool,
    ) -> ToolSpec:
        """Add `fn` (an annotated, documented async function) and return its spec."""
        name = fn.__name__
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"tool {name!r} must be an `async def` function")
        if name in self._bindings:
            raise ValueError(f"a tool named {name!r} is already registered")
        doc = inspect.getdoc(fn) or ""
        if not doc:
            raise ValueError(f"tool {name!r} needs a docstring: the model reads it to decide when to call the tool")
        if effect not in ("read", "write", "send", "destructive"):
            raise ValueError(f"tool {name!r}: effect must be read, write, send or destructive, not {effect!r}")
        hints = get_type_hints(fn)
        if "return" not in hints:
            raise TypeError(f"tool {name!r} needs a return annotation")
        collector = ModelCollector()
        rendered: list[str] = []
        fields: dict[str, Any] = {}
        for parameter in inspect.signature(fn).parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.POSITIONAL_ONLY):
                raise TypeError(f"tool {name!r}: parameter {parameter.name!r} must be a plain named parameter")
            if parameter.name not in hints:
                raise TypeError(f"tool {name!r}: parameter {parameter.name!r} needs a type annotation")
            text = f"{parameter.name}: {annotation_source(hints[parameter.name], collector)}"
            if parameter.default is parameter.empty:
                fields[parameter.name] = (hints[parameter.name], ...)
            else:
                text += f" = {value_source(parameter.default)}"
                fields[parameter.name] = (hints[parameter.name], parameter.default)
            rendered.append(text)
        returns = annotation_source(hints["return"], collector)
        spec = ToolSpec(
            name=name,
            provider=provider,
            scopes=tuple(scopes),
            effect=effect,
            retry_safe=retry_safe,
            summary=doc.splitlines()[0].strip(),
            doc=doc,
            signature=f"async def {name}({', '.join(rendered)}) -> {returns}",
            fn=fn,
        )
        arguments = create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
        result = TypeAdapter(hints["return"])

        def bind(args: dict[str, Any]) -> dict[str, Any]:
            try:
                validated = arguments.model_validate(args)
            except ValidationError as error:
                raise ToolError(f"{name}: {_argument_problems(error)}; expected {spec.signature}") from None
            return {p: getattr(validated, p) for p in fields}

        self._add(_Binding(spec, tuple(fields), tuple(collector.models), bind,
                           lambda value: result.dump_python(value, mode="json")))
        return spec

    def register_dynamic(self, tool: DynamicTool) -> ToolSpec:
        """Add a tool described at run time (see DynamicTool); its name must be new."""
        if tool.effect not in ("read", "write", "send", "destructive"):
            raise ValueError(f"tool {tool.name!r}: effect must be read, write, send or destructive, not {tool.effect!r}")
        spec = ToolSpec(name=tool.name, provider=tool.provider, scopes=(), effect=tool.effect,
                        retry_safe=tool.retry_safe, summary=(tool.doc.splitlines() or [""])[0].strip(), doc=tool.doc,
                        signature=tool.signature, fn=lambda **arguments: tool.call(arguments))

        def bind(args: dict[str, Any]) -> dict[str, Any]:
            tool.validate(args)
            return args

        self._add(_Binding(spec, tool.parameters, tool.models, bind, lambda value: value))
        return spec

    def replace_provider(self, provider: str, tools: list[DynamicTool]) -> None:
        """Make `tools` the whole set of `provider`'s tools (e.g. an MCP server's new listing); the search index
        is rebuilt only when the set of names or descriptions changed."""
        kept = {name: b for name, b in self._bindings.items() if b.spec.provider != provider}
        before = {name: (b.spec.signature, b.spec.doc, b.spec.effect)
                  for name, b in self._bindings.items() if b.spec.provider == provider}
        after = {t.name: (t.signature, t.doc, t.effect) for t in tools}
        clash = sorted(set(after) & set(kept))
        if clash:
            raise ValueError(f"{provider}: tool names already taken by other providers: {', '.join(clash)}")
        if before == after:
            return
        self._bindings = kept
        for tool in tools:
            self.register_dynamic(tool)
        self._index = None

    def _add(self, binding: _Binding) -> None:
        name = binding.spec.name
        if name in self._bindings:
            raise ValueError(f"a tool named {name!r} is already registered")
        self._bindings[name] = binding
        self._index = None
        self._specs = None

    def register_declared(self, fn: Callable[..., Awaitable[Any]]) -> ToolSpec:
        """Register a function decorated with `@tool(...)`, using its declaration."""
        declaration = declaration_of(fn)
        return self.register(
            fn,
            provider=declaration.provider,
            scopes=declaration.scopes,
            effect=declaration.effect,
            retry_safe=declaration.retry_safe,
        )

    def specs(self) -> list[ToolSpec]:
        """Every registered tool, in registration order."""
        if self._specs is None:
            self._specs = [b.spec for b in self._bindings.values()]
        return list(self._specs)

    def get(self, name: str) -> ToolSpec:
        """The tool called `name`; ToolError when there is none."""
        return self._binding(name).spec

    def search(self, query: str, limit: int = 8) -> list[ToolSpec]:
        """Tools matching a natural-language query, best first, with related functions (integrations.tool_search)."""
        if self._index is None:
            self._index = ToolIndex([_search_document(b) for b in self._bindings.values()])
            self._specs = [b.spec for b in self._bindings.values()]
        specs = self._specs or []
        return [specs[i] for i in self._index.rank(query, limit)]

    def describe(self, names: list[str]) -> str:
        """For the model: the types used (as @dataclass source), then each signature with its docstring."""
        bindings = self._bindings_for(names)
        parts = []
        types_source = dataclasses_source(_models_of(bindings))
        if types_source:
            parts.append("# Types\n" + types_source)
        functions = [f'{b.spec.signature}:\n    """\n{_indent(b.spec.doc)}\n    """' for b in bindings]
        parts.append("# Functions (await them)\n" + "\n\n".join(functions))
        return "\n\n".join(parts) + "\n"

    def catalogue(self, names: list[str]) -> dict[str, Any]:
        """For the sandbox: `{"types": <@dataclass source>, "functions": [{"name", "signature", "doc"}]}`."""
        bindings = self._bindings_for(names)
        return {
            "types": dataclasses_source(_models_of(bindings)),
            "functions": [{"name": b.spec.name, "signature": b.spec.signature, "doc": b.spec.doc} for b in bindings],
        }

    async def call(self, name: str, args: dict[str, Any], ctx: ToolContext) -> Any:
        """Validate `args` against the tool's signature, run it with `ctx`, and return JSON-ready data."""
        binding = self._binding(name)
        if not isinstance(args, dict):
            raise ToolError(f"{name}: arguments must be given by name as a dict, got {type(args).__name__}; expected {binding.spec.signature}")
        kwargs = binding.bind(args)
        with use_context(ctx):
            try:
                result = await binding.spec.fn(**kwargs)
            except ToolError:
                raise
            except Exception as error:
                _log.exception("tool %s failed unexpectedly", name)
                raise ToolError(f"{name} failed unexpectedly ({type(error).__name__}: {error}); report this, retrying will not help") from error
        return binding.dump(result)

    def _binding(self, name: str) -> _Binding:
        binding = self._bindings.get(name)
        if binding is None:
            raise ToolError(f"no function named {name!r}; use search_functions to find one")
        return binding

    def _bindings_for(self, names: list[str]) -> list[_Binding]:
        unique = list(dict.fromkeys(names))
        unknown = [n for n in unique if n not in self._bindings]
        if unknown:
            raise ToolError(f"no function named {', '.join(repr(n) for n in unknown)}; use search_functions to find one")
        return [self._bindings[n] for n in unique]


def default_registry() -> Registry:
    """A registry holding the Outlook, OneDrive, Gmail and Sheets tools."""
    from integrations.google import gmail, sheets
    from integrations.microsoft import onedrive, outlook

    registry = Registry()
    for module in (outlook, onedrive, gmail, sheets):
        for fn in module.TOOLS:
            registry.register_declared(fn)
    return registry


def _search_document(binding: _Binding) -> ToolDocument:
    spec = binding.spec
    return ToolDocument(name=spec.name, summary=spec.summary, doc=spec.doc, signature=spec.signature)


def _models_of(bindings: list[_Binding]) -> list[type[BaseModel]]:
    """The models the tools use, once each: two tools of one server may each carry an identical copy of a type
    (made from each tool's schema); only the first copy is kept."""
    collector = ModelCollector()
    for binding in bindings:
        for model in binding.models:
            collector.add(model)
    seen: set[str] = set()
    unique = []
    for model in collector.models:
        source = dataclasses_source([model])
        if source not in seen:
            seen.add(source)
            unique.append(model)
    return unique


def _indent(text: str) -> str:
    return "\n".join(("    " + line) if line else "" for line in text.splitlines())


def _argument_problems(error: ValidationError) -> str:
    problems: dict[str, str] = {}
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        if where in problems:
            continue
        if item["type"] == "missing":
            problems[where] = f"missing required argument {where!r}"
        elif item["type"] == "extra_forbidden":
            problems[where] = f"unknown argument {where!r}"
        else:
            shown = repr(item.get("input"))
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            problems[where] = f"argument {where!r}: {item['msg']} (got {shown})"
    return "; ".join(problems.values())
