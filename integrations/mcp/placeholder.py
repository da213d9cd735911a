"""A minimal value that fits a JSON Schema: what an MCP write tool returns in a dry run (nothing is sent to the
server), so the code around it runs on as it would, like the native tools' dry-run results."""

from __future__ import annotations

from typing import Any

_EMPTY = {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [], "null": None}


def placeholder(schema: dict[str, Any] | None, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """The smallest value of `schema` (required fields only, first enum value, empty strings and lists)."""
    if not schema or depth > 20:
        return None
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return placeholder((root.get("$defs") or root.get("definitions") or {}).get(name), root, depth + 1)
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for union in ("anyOf", "oneOf"):
        if schema.get(union):
            options = schema[union]
            if any(o.get("type") == "null" for o in options):
                return None
            return placeholder(options[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = "null" if "null" in kind else kind[0]
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {name: placeholder(properties.get(name), root, depth + 1) for name in schema.get("required") or []}
    return _EMPTY.get(kind)
